/*
 * Binary, variadic and ternary element-wise ops against plain references
 * that index every output through numpy's broadcasting rule (not through
 * the merged plan under test): every broadcast pattern (trailing dim,
 * per-channel [1,C,1,1], interleaved [2,1,4,1], rank-0 scalars, rank
 * growth, both operands broadcast, zero-size), odd sizes, float32 exactly
 * (IEEE + - * / are correctly rounded, so a double reference rounded to
 * float is exact), int8/uint8/int32/int64 with wrapping, truncating
 * division and both Mod forms, comparisons, logic, Where, PRelu, Pow's
 * fast paths, fused activations on Add, threads and error reports.
 */
#include <float.h>
#include <math.h>

#include "eltwise_harness.h"
#include "ops/eltwise.h"
#include "ops/eltwise_binary.h"
#include "qtest.h"

/* powf against pow in double: glibc's powf is within 1 ulp. */
#define TOL_POW_REL 1.2e-7
/* Activations fused into Add: the exp-based kernels' bound (see
 * test_ops_eltwise.c). */
#define TOL_ACT_REL 8e-7
#define TOL_DENORMAL 1e-37

typedef struct shape_pair {
  int ra;
  int64_t da[4];
  int rb;
  int64_t db[4];
  int ro;
  int64_t dout[4];
} shape_pair;

static const shape_pair pairs[] = {
    {4, {2, 3, 4, 5}, 1, {5}, 4, {2, 3, 4, 5}},
    {4, {2, 3, 4, 5}, 4, {1, 3, 1, 1}, 4, {2, 3, 4, 5}},
    {4, {2, 3, 4, 5}, 4, {2, 1, 4, 1}, 4, {2, 3, 4, 5}},
    {4, {2, 3, 4, 5}, 0, {0}, 4, {2, 3, 4, 5}},
    {3, {3, 1, 5}, 4, {4, 1, 1, 1}, 4, {4, 3, 1, 5}},
    {1, {1}, 1, {0}, 1, {0}},
    {2, {0, 3}, 2, {1, 3}, 2, {0, 3}},
    {1, {7}, 1, {7}, 1, {7}},
    {1, {1023}, 1, {1023}, 1, {1023}},
    {1, {1}, 1, {1}, 1, {1}},
    {0, {0}, 0, {0}, 0, {0}},
    {4, {1, 3, 1, 1}, 4, {2, 3, 4, 5}, 4, {2, 3, 4, 5}},
    {4, {2, 1, 4, 1}, 4, {1, 3, 1, 5}, 4, {2, 3, 4, 5}},
    {4, {2, 3, 7, 7}, 3, {3, 1, 1}, 4, {2, 3, 7, 7}},
    {2, {1, 1}, 1, {1023}, 2, {1, 1023}},
    {2, {5, 1}, 2, {1, 1023}, 2, {5, 1023}},
    {3, {3, 1, 1}, 1, {1}, 3, {3, 1, 1}},
};
#define N_PAIRS ((int)(sizeof pairs / sizeof pairs[0]))

static int64_t numel(int rank, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= d[i];
  return n;
}

/* Output element i reads element ia of a and ib of b. */
static void bcast_pair(const shape_pair *p, int64_t i, int64_t *ia,
                       int64_t *ib) {
  int64_t c[4];
  eh_unravel(i, p->ro, p->dout, c);
  *ia = eh_bcast_index(c, p->ro, p->ra, p->da);
  *ib = eh_bcast_index(c, p->ro, p->rb, p->db);
}

static float ref_f32(const char *op, float a, float b) {
  double x = a, y = b;
  if (!strcmp(op, "Add")) return (float)(x + y);
  if (!strcmp(op, "Sub")) return (float)(x - y);
  if (!strcmp(op, "Mul")) return (float)(x * y);
  if (!strcmp(op, "Div")) return (float)(x / y);
  if (!strcmp(op, "Max")) return isnan(a) || isnan(b) ? NAN : (a > b ? a : b);
  if (!strcmp(op, "Min")) return isnan(a) || isnan(b) ? NAN : (a < b ? a : b);
  if (!strcmp(op, "PRelu")) return a < 0 ? (float)(x * y) : a;
  if (!strcmp(op, "Mod")) return (float)fmod(x, y); /* fmod = 1 */
  if (!strcmp(op, "ModPy")) { /* fmod = 0: numpy.mod */
    double r = fmod(x, y);
    if (r == 0) return (float)copysign(0.0, y);
    return (float)((r < 0) != (y < 0) ? r + y : r);
  }
  return NAN;
}

/* Random values with a sprinkling of zeros, infinities and NaN. */
static void fill_f32(float *v, int64_t n, int specials) {
  static const float sp[] = {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-40f};
  for (int64_t i = 0; i < n; i++)
    v[i] = specials && eh_rand() % 11 == 0 ? sp[eh_rand() % 6]
                                           : eh_uniform(-4.0f, 4.0f);
}

/* Runs op over pair p with float data; exact comparison. */
static void check_f32_pair(qt_state *st, const char *op, const shape_pair *p,
                           int specials, qi_pool *pool) {
  int64_t na = numel(p->ra, p->da), nb = numel(p->rb, p->db);
  int64_t no = numel(p->ro, p->dout);
  float *a = malloc(sizeof(float) * (size_t)(na + 1));
  float *b = malloc(sizeof(float) * (size_t)(nb + 1));
  fill_f32(a, na, specials);
  fill_f32(b, nb, specials);
  eh_case c;
  int py_mod = !strcmp(op, "ModPy");
  eh_begin(&c, py_mod ? "Mod" : op, 13, 2);
  eh_input(&c, 0, QI_FLOAT32, p->ra, p->da, a);
  eh_input(&c, 1, QI_FLOAT32, p->rb, p->db, b);
  if (!strcmp(op, "Mod")) eh_attr_int(&c, "fmod", 1);
  qi_status rs = eh_run(&c, pool);
  QT_CHECKF(st, rs == QI_OK, "%s: %s", op, c.err.message);
  if (rs == QI_OK) {
    QT_CHECKF(st, eh_shape_is(&c.out, p->ro, p->dout), "%s: output shape", op);
    int bad = 0;
    for (int64_t i = 0; i < no; i++) {
      int64_t ia, ib;
      bcast_pair(p, i, &ia, &ib);
      float want = ref_f32(op, a[ia], b[ib]), got = ((float *)c.out.data)[i];
      if (!eh_same_float(got, want) && bad++ < 3)
        QT_CHECKF(st, 0, "%s pair %d out %lld: %a op %a = %a, want %a", op,
                  (int)(p - pairs), (long long)i, a[ia], b[ib], got, want);
    }
  }
  eh_end(&c);
  free(a);
  free(b);
}

static void test_f32_broadcast_patterns(qt_state *st) {
  const char *ops[] = {"Add", "Sub", "Mul", "Div",
                       "Max", "Min", "Mod", "ModPy"};
  for (int k = 0; k < 8; k++)
    for (int i = 0; i < N_PAIRS; i++)
      check_f32_pair(st, ops[k], &pairs[i], k >= 3, NULL);
}

/* PRelu broadcasts the slope to X only. */
static void test_prelu(qt_state *st) {
  for (int i = 0; i < N_PAIRS; i++) {
    const shape_pair *p = &pairs[i];
    int to_x = p->ro == p->ra;
    for (int d = 0; to_x && d < p->ro; d++) to_x = p->dout[d] == p->da[d];
    if (to_x) {
      check_f32_pair(st, "PRelu", p, 1, NULL);
      continue;
    }
    eh_case c;
    float dummy[2048] = {0};
    eh_begin(&c, "PRelu", 13, 2);
    eh_input(&c, 0, QI_FLOAT32, p->ra, p->da, dummy);
    eh_input(&c, 1, QI_FLOAT32, p->rb, p->db, dummy);
    QT_CHECKF(st, eh_run(&c, NULL) == QI_ERR_SHAPE, "pair %d", i);
    eh_end(&c);
  }
}

/* Exponent 2 is x*x and 0.5 is sqrtf exactly; others within powf's ulp;
 * integer exponents are converted to float. */
static void test_pow(qt_state *st) {
  int64_t dx[2] = {3, 341}, d5[1] = {341};
  int64_t n = dx[0] * dx[1];
  float *x = malloc(sizeof(float) * (size_t)n);
  fill_f32(x, n, 1);
  const float scal[] = {2.0f, 0.5f, 3.0f, -1.5f};
  for (int e = 0; e < 5; e++) {
    eh_case c;
    eh_begin(&c, "Pow", 13, 2);
    eh_input(&c, 0, QI_FLOAT32, 2, dx, x);
    int64_t ei64 = 3;
    if (e < 4) {
      eh_const(&c, 1, QI_FLOAT32, 0, NULL, &scal[e]);
    } else if (e == 4) {
      eh_const(&c, 1, QI_INT64, 0, NULL, &ei64);
    }
    QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s", c.err.message);
    float ex = e < 4 ? scal[e] : 3.0f;
    for (int64_t i = 0; i < n; i++) {
      float got = ((float *)c.out.data)[i];
      int ok = ex == 2.0f   ? eh_same_float(got, x[i] * x[i])
               : ex == 0.5f ? eh_same_float(got, sqrtf(x[i]))
                            : eh_close(got, pow(x[i], ex), 0, TOL_POW_REL, 0,
                                       TOL_DENORMAL);
      QT_CHECKF(st, ok, "x=%a ^ %g: got %a", x[i], ex, got);
      if (!ok) break;
    }
    eh_end(&c);
  }
  /* Per-element exponents, float and int32, broadcast along rows. */
  for (int w = 0; w < 2; w++) {
    float ef[341];
    int32_t ei[341];
    for (int i = 0; i < 341; i++) {
      ei[i] = (int32_t)(eh_rand() % 7) - 3;
      ef[i] = w ? (float)ei[i] : eh_uniform(-3.0f, 3.0f);
    }
    eh_case c;
    eh_begin(&c, "Pow", 13, 2);
    eh_input(&c, 0, QI_FLOAT32, 2, dx, x);
    eh_input(&c, 1, w ? QI_INT32 : QI_FLOAT32, 1, d5,
             w ? (void *)ei : (void *)ef);
    QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s", c.err.message);
    for (int64_t i = 0; i < n; i++) {
      float got = ((float *)c.out.data)[i];
      double want = pow(x[i], ef[i % 341]);
      QT_CHECKF(st, eh_close(got, want, 0, TOL_POW_REL, 0, TOL_DENORMAL),
                "x=%a ^ %a: got %a", x[i], ef[i % 341], got);
      if (!eh_close(got, want, 0, TOL_POW_REL, 0, TOL_DENORMAL)) break;
    }
    eh_end(&c);
  }
  free(x);
}

/* ---- integers ---- */

static int64_t wrap_to(qi_dtype dt, uint64_t v) {
  switch (dt) {
    case QI_INT8: return (int8_t)(uint8_t)v;
    case QI_UINT8: return (uint8_t)v;
    case QI_INT32: return (int32_t)(uint32_t)v;
    default: return (int64_t)v;
  }
}
static int64_t load_int(qi_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case QI_INT8: return ((const int8_t *)p)[i];
    case QI_UINT8: return ((const uint8_t *)p)[i];
    case QI_INT32: return ((const int32_t *)p)[i];
    default: return ((const int64_t *)p)[i];
  }
}
static void store_int(qi_dtype dt, void *p, int64_t i, int64_t v) {
  switch (dt) {
    case QI_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case QI_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case QI_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    default: ((int64_t *)p)[i] = v; break;
  }
}

/* numpy semantics: wrap around; // truncates toward zero in ONNX Div; Mod
 * with fmod = 0 takes the divisor's sign; a zero divisor gives 0. */
static int64_t ref_int(qi_dtype dt, const char *op, int fmod, int64_t a,
                       int64_t b) {
  uint64_t ua = (uint64_t)a, ub = (uint64_t)b;
  if (!strcmp(op, "Add")) return wrap_to(dt, ua + ub);
  if (!strcmp(op, "Sub")) return wrap_to(dt, ua - ub);
  if (!strcmp(op, "Mul")) return wrap_to(dt, ua * ub);
  if (!strcmp(op, "Max")) return a > b ? a : b;
  if (!strcmp(op, "Min")) return a < b ? a : b;
  if (b == 0) return 0;
  if (b == -1) return !strcmp(op, "Div") ? wrap_to(dt, 0 - ua) : 0;
  if (!strcmp(op, "Div")) return wrap_to(dt, (uint64_t)(a / b));
  int64_t r = a % b;
  if (!fmod && r != 0 && ((r < 0) != (b < 0))) r += b;
  return r;
}

static void test_int_arith(qt_state *st) {
  const qi_dtype dts[] = {QI_INT8, QI_UINT8, QI_INT32, QI_INT64};
  const int64_t raw[] = {0,         1,         -1,        7,         -7,  2,
                         -2,        3,         100,       -100,      127, -128,
                         INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN, 255, 5};
  const char *ops[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Mod", "Mod"};
  shape_pair p = {2, {18, 1}, 1, {18}, 2, {18, 18}};
  for (int t = 0; t < 4; t++) {
    qi_dtype dt = dts[t];
    unsigned char a[18 * 8], b[18 * 8];
    for (int i = 0; i < 18; i++) {
      store_int(dt, a, i, wrap_to(dt, (uint64_t)raw[i]));
      store_int(dt, b, i, wrap_to(dt, (uint64_t)raw[17 - i]));
    }
    for (int k = 0; k < 8; k++) {
      eh_case c;
      eh_begin(&c, ops[k], 13, 2);
      eh_input(&c, 0, dt, p.ra, p.da, a);
      eh_input(&c, 1, dt, p.rb, p.db, b);
      if (k == 7) eh_attr_int(&c, "fmod", 1);
      QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s: %s", ops[k], c.err.message);
      QT_CHECK(st, c.out.dtype == dt && eh_shape_is(&c.out, p.ro, p.dout));
      int bad = 0;
      for (int64_t i = 0; i < 18 * 18; i++) {
        int64_t ia, ib;
        bcast_pair(&p, i, &ia, &ib);
        int64_t x = load_int(dt, a, ia), y = load_int(dt, b, ib);
        int64_t want = ref_int(dt, ops[k], k == 7, x, y);
        int64_t got = load_int(dt, c.out.data, i);
        if (got != want && bad++ < 2)
          QT_CHECKF(st, 0, "%s%s %s: %lld, %lld -> %lld, want %lld", ops[k],
                    k == 7 ? "(fmod)" : "", qi_dtype_name(dt), (long long)x,
                    (long long)y, (long long)got, (long long)want);
      }
      eh_end(&c);
    }
  }
}

/* Integer bases: exact wrapping powers for integer exponents (negative
 * ones truncate 1/x^e), pow in double truncated for float exponents. */
static void test_pow_int_base(qt_state *st) {
  const int64_t base[9] = {-3, -2, -1, 0, 1, 2, 3, 7, 1000003};
  const int64_t expo[9] = {0, 1, 2, 3, 5, -1, -2, 13, 40};
  int64_t d9[1] = {9}, d91[2] = {9, 1}, dout[2] = {9, 9};
  for (int w = 0; w < 3; w++) {
    qi_dtype bt = w == 1 ? QI_INT32 : QI_INT64;
    int32_t b32[9];
    float ef[9];
    for (int i = 0; i < 9; i++) {
      b32[i] = (int32_t)base[i];
      ef[i] = (float)expo[i] * 0.5f;
    }
    eh_case c;
    eh_begin(&c, "Pow", 13, 2);
    eh_input(&c, 0, bt, 2, d91, bt == QI_INT32 ? (void *)b32 : (void *)base);
    eh_input(&c, 1, w == 2 ? QI_FLOAT32 : QI_INT64, 1, d9,
             w == 2 ? (void *)ef : (void *)expo);
    QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s", c.err.message);
    QT_CHECK(st, c.out.dtype == bt && eh_shape_is(&c.out, 2, dout));
    for (int i = 0; i < 9; i++)
      for (int j = 0; j < 9; j++) {
        int64_t x = base[i], e = expo[j], want;
        if (w == 2) {
          /* Saturating where numpy's cast would give INT64_MIN. */
          double r = trunc(pow((double)x, (double)ef[j]));
          want = r != r                        ? 0
                 : r >= 9223372036854775807.0  ? INT64_MAX
                 : r <= -9223372036854775808.0 ? INT64_MIN
                                               : (int64_t)r;
        } else if (e < 0) {
          want = x == 1 ? 1 : (x == -1 ? ((e & 1) ? -1 : 1) : 0);
        } else {
          uint64_t r = 1;
          for (int64_t q = 0; q < e; q++) r *= (uint64_t)x;
          want = (int64_t)r;
        }
        if (bt == QI_INT32) want = wrap_to(QI_INT32, (uint64_t)want);
        int64_t got = load_int(bt, c.out.data, i * 9 + j);
        QT_CHECKF(st, got == want, "%s %lld ^ %g: got %lld want %lld",
                  qi_dtype_name(bt), (long long)x, w == 2 ? ef[j] : (double)e,
                  (long long)got, (long long)want);
      }
    eh_end(&c);
  }
}

/* ---- comparisons, logic ---- */

static int ref_cmp(const char *op, double a, double b) {
  if (!strcmp(op, "Equal")) return a == b;
  if (!strcmp(op, "Less")) return a < b;
  if (!strcmp(op, "Greater")) return a > b;
  if (!strcmp(op, "LessOrEqual")) return a <= b;
  if (!strcmp(op, "GreaterOrEqual")) return a >= b;
  if (!strcmp(op, "And")) return a != 0 && b != 0;
  if (!strcmp(op, "Or")) return a != 0 || b != 0;
  if (!strcmp(op, "Xor")) return (a != 0) != (b != 0);
  return -1;
}

static void test_compare_logic(qt_state *st) {
  const char *ops[] = {"Equal",          "Less", "Greater", "LessOrEqual",
                       "GreaterOrEqual", "And",  "Or",      "Xor"};
  const qi_dtype dts[] = {QI_FLOAT32, QI_INT64, QI_INT32, QI_UINT8, QI_BOOL};
  shape_pair p = {3, {2, 3, 1}, 2, {3, 4}, 3, {2, 3, 4}};
  for (int k = 0; k < 8; k++) {
    for (int t = 0; t < 5; t++) {
      qi_dtype dt = dts[t];
      int logic = k >= 5,
          want_ok = logic ? dt == QI_BOOL : (dt != QI_BOOL || k == 0);
      unsigned char a[6 * 8], b[12 * 8];
      for (int i = 0; i < 12; i++) {
        int v = (int)(eh_rand() % 3);
        if (dt == QI_FLOAT32) {
          float f = i % 5 == 4 ? NAN : (float)v - 0.5f;
          if (i < 6) memcpy(a + i * 4, &f, 4);
          f = (float)(eh_rand() % 3) - 0.5f;
          memcpy(b + i * 4, &f, 4);
        } else {
          if (dt == QI_BOOL) v &= 1;
          if (i < 6) store_int(dt == QI_BOOL ? QI_UINT8 : dt, a, i, v);
          store_int(dt == QI_BOOL ? QI_UINT8 : dt, b, i,
                    (eh_rand() % 3) & (dt == QI_BOOL ? 1 : 3));
        }
      }
      eh_case c;
      eh_begin(&c, ops[k], 13, 2);
      eh_input(&c, 0, dt, p.ra, p.da, a);
      eh_input(&c, 1, dt, p.rb, p.db, b);
      qi_status rs = eh_run(&c, NULL);
      QT_CHECKF(st, (rs == QI_OK) == want_ok, "%s on %s: %d %s", ops[k],
                qi_dtype_name(dt), rs, c.err.message);
      if (rs == QI_OK) {
        QT_CHECK(st, c.out.dtype == QI_BOOL && eh_shape_is(&c.out, 3, p.dout));
        for (int64_t i = 0; i < 24; i++) {
          int64_t ia, ib;
          bcast_pair(&p, i, &ia, &ib);
          double x, y;
          if (dt == QI_FLOAT32) {
            x = ((float *)a)[ia];
            y = ((float *)b)[ib];
          } else {
            qi_dtype lt = dt == QI_BOOL ? QI_UINT8 : dt;
            x = (double)load_int(lt, a, ia);
            y = (double)load_int(lt, b, ib);
          }
          QT_CHECKF(st, ((uint8_t *)c.out.data)[i] == ref_cmp(ops[k], x, y),
                    "%s %s: %g %g", ops[k], qi_dtype_name(dt), x, y);
        }
      }
      eh_end(&c);
    }
  }
}

/* ---- Where ---- */

static void test_where(qt_state *st) {
  struct {
    int rc, rx, ry, ro;
    int64_t dc[3], dx[3], dy[3], dout[3];
  } cases[] = {
      {3, 2, 0, 3, {2, 1, 4}, {3, 1}, {0}, {2, 3, 4}},
      {0, 2, 2, 2, {0}, {2, 3}, {1, 3}, {2, 3}},
      {1, 3, 1, 3, {5}, {3, 1, 1}, {1}, {3, 1, 5}},
      {2, 2, 2, 2, {0, 3}, {1, 3}, {0, 1}, {0, 3}},
      {1, 1, 1, 1, {1023}, {1023}, {1023}, {1023}},
  };
  const qi_dtype dts[] = {QI_FLOAT32, QI_INT64, QI_BOOL, QI_FLOAT16};
  for (size_t w = 0; w < sizeof cases / sizeof cases[0]; w++) {
    for (int t = 0; t < 4; t++) {
      qi_dtype dt = dts[t];
      size_t es = qi_dtype_size(dt);
      int64_t nc = numel(cases[w].rc, cases[w].dc);
      int64_t nx = numel(cases[w].rx, cases[w].dx);
      int64_t ny = numel(cases[w].ry, cases[w].dy);
      uint8_t cond[1024], x[1024 * 8], y[1024 * 8];
      for (int64_t i = 0; i < nc; i++) cond[i] = eh_rand() & 1;
      for (size_t i = 0; i < (size_t)nx * es; i++) x[i] = (uint8_t)eh_rand();
      for (size_t i = 0; i < (size_t)ny * es; i++) y[i] = (uint8_t)eh_rand();
      eh_case c;
      eh_begin(&c, "Where", 13, 3);
      eh_input(&c, 0, QI_BOOL, cases[w].rc, cases[w].dc, cond);
      eh_input(&c, 1, dt, cases[w].rx, cases[w].dx, x);
      eh_input(&c, 2, dt, cases[w].ry, cases[w].dy, y);
      QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s", c.err.message);
      QT_CHECK(st, c.out.dtype == dt &&
                       eh_shape_is(&c.out, cases[w].ro, cases[w].dout));
      int64_t no = numel(cases[w].ro, cases[w].dout);
      for (int64_t i = 0; i < no; i++) {
        int64_t co[3];
        eh_unravel(i, cases[w].ro, cases[w].dout, co);
        int64_t ic = eh_bcast_index(co, cases[w].ro, cases[w].rc, cases[w].dc);
        int64_t ix = eh_bcast_index(co, cases[w].ro, cases[w].rx, cases[w].dx);
        int64_t iy = eh_bcast_index(co, cases[w].ro, cases[w].ry, cases[w].dy);
        const uint8_t *want = cond[ic] ? x + ix * es : y + iy * es;
        QT_CHECKF(st,
                  !memcmp((uint8_t *)c.out.data + i * (int64_t)es, want, es),
                  "case %zu %s out %lld", w, qi_dtype_name(dt), (long long)i);
      }
      eh_end(&c);
    }
  }
}

/* ---- variadic ---- */

static void test_variadic(qt_state *st) {
  int64_t d0[3] = {2, 3, 1}, d1[2] = {3, 4}, d2[1] = {1}, d3[3] = {2, 1, 4};
  int64_t dout[3] = {2, 3, 4};
  const int64_t *ds[4] = {d0, d1, d2, d3};
  const int rs[4] = {3, 2, 1, 3};
  float v[4][24];
  for (int k = 0; k < 4; k++) fill_f32(v[k], 24, k == 1);
  const char *ops[] = {"Max", "Min", "Sum", "Mean"};
  for (int k = 0; k < 4; k++) {
    for (int nin = 1; nin <= 4; nin++) {
      eh_case c;
      eh_begin(&c, ops[k], 13, nin);
      for (int i = 0; i < nin; i++)
        eh_input(&c, i, QI_FLOAT32, nin == 1 ? 2 : rs[i], nin == 1 ? d1 : ds[i],
                 v[i == 0 && nin == 1 ? 1 : i]);
      QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s: %s", ops[k], c.err.message);
      int ro = nin == 1 ? 2 : 3;
      const int64_t *dd = nin == 1 ? d1 : dout;
      QT_CHECK(st, eh_shape_is(&c.out, ro, dd));
      for (int64_t i = 0; i < numel(ro, dd); i++) {
        int64_t co[3];
        eh_unravel(i, ro, dd, co);
        float acc = 0;
        for (int j = 0; j < nin; j++) {
          int64_t ij = nin == 1 ? i : eh_bcast_index(co, 3, rs[j], ds[j]);
          float e = v[nin == 1 ? 1 : j][ij];
          if (j == 0)
            acc = e;
          else
            acc = ref_f32(k == 0 ? "Max" : k == 1 ? "Min" : "Add", acc, e);
        }
        if (k == 3) acc = acc / (float)nin;
        QT_CHECKF(st, eh_same_float(((float *)c.out.data)[i], acc),
                  "%s nin %d out %lld", ops[k], nin, (long long)i);
      }
      eh_end(&c);
    }
  }
}

/* ---- fused activation on Add ---- */

static double ref_act(const qi_act_params *p, double x) {
  switch (p->act) {
    case QI_ACT_RELU: return x < 0 ? 0 : x;
    case QI_ACT_CLIP:
      return x < p->alpha ? p->alpha : (x > p->beta ? p->beta : x);
    case QI_ACT_LEAKY: return x < 0 ? x * p->alpha : x;
    case QI_ACT_SIGMOID: return 1 / (1 + exp(-x));
    case QI_ACT_SILU: return x / (1 + exp(-x));
    case QI_ACT_GELU: return 0.5 * x * erfc(-x / sqrt(2.0));
    case QI_ACT_TANH: return tanh(x);
    default: return x;
  }
}

static void test_add_fused_act(qt_state *st, qi_pool *pool) {
  const qi_act acts[] = {QI_ACT_RELU, QI_ACT_CLIP, QI_ACT_LEAKY, QI_ACT_SIGMOID,
                         QI_ACT_SILU, QI_ACT_GELU, QI_ACT_TANH};
  shape_pair ps[] = {
      {4, {2, 3, 33, 35}, 3, {3, 1, 1}, 4, {2, 3, 33, 35}},
      {1, {4099}, 1, {4099}, 1, {4099}},
      {4, {2, 64, 33, 33}, 4, {1, 64, 1, 1}, 4, {2, 64, 33, 33}}};
  for (int s = 0; s < 3; s++) {
    const shape_pair *p = &ps[s];
    int64_t na = numel(p->ra, p->da), nb = numel(p->rb, p->db);
    float *a = malloc(sizeof(float) * (size_t)na),
          *b = malloc(sizeof(float) * (size_t)nb);
    fill_f32(a, na, 0);
    fill_f32(b, nb, 0);
    for (int k = 0; k < 7; k++) {
      qi_act_params ap = {acts[k], acts[k] == QI_ACT_LEAKY ? 0.1f : -0.5f,
                          3.0f};
      eh_case c;
      eh_begin(&c, "Add", 13, 2);
      eh_input(&c, 0, QI_FLOAT32, p->ra, p->da, a);
      eh_input(&c, 1, QI_FLOAT32, p->rb, p->db, b);
      eh_attr_int(&c, "qi_act", acts[k]);
      eh_attr_float(&c, "qi_act_alpha", ap.alpha);
      eh_attr_float(&c, "qi_act_beta", ap.beta);
      QT_CHECKF(st, eh_run(&c, pool) == QI_OK, "%s", c.err.message);
      int exact = k < 3, bad = 0;
      for (int64_t i = 0; i < numel(p->ro, p->dout); i++) {
        int64_t ia, ib;
        bcast_pair(p, i, &ia, &ib);
        float sum = a[ia] + b[ib];
        double want = ref_act(&ap, sum);
        float got = ((float *)c.out.data)[i];
        int ok = exact ? eh_same_float(got, (float)want)
                       : eh_close(got, want, sum, TOL_ACT_REL, 0, TOL_DENORMAL);
        if (!ok && bad++ < 2)
          QT_CHECKF(st, 0, "act %d shape %d out %lld: %a, want %a", acts[k], s,
                    (long long)i, got, want);
      }
      eh_end(&c);
    }
    free(a);
    free(b);
  }
}

static void test_add_fused_act_single(qt_state *st) {
  test_add_fused_act(st, NULL);
}

/* Threaded runs (a tensor over the threading threshold) equal the
 * single-thread results bit for bit, for every op family. */
static void test_threads(qt_state *st) {
  qi_pool *pool = qi_pool_create(3);
  QT_CHECK(st, pool != NULL);
  test_add_fused_act(st, pool);
  shape_pair p = {4, {3, 64, 33, 35}, 4, {3, 1, 33, 1}, 4, {3, 64, 33, 35}};
  const char *ops[] = {"Sub", "Div", "Max", "PRelu", "Less"};
  int64_t na = numel(p.ra, p.da), nb = numel(p.rb, p.db);
  float *a = malloc(sizeof(float) * (size_t)na),
        *b = malloc(sizeof(float) * (size_t)nb);
  fill_f32(a, na, 1);
  fill_f32(b, nb, 1);
  for (int k = 0; k < 5; k++) {
    eh_case c1, c2;
    eh_begin(&c1, ops[k], 13, 2);
    eh_begin(&c2, ops[k], 13, 2);
    eh_input(&c1, 0, QI_FLOAT32, p.ra, p.da, a);
    eh_input(&c1, 1, QI_FLOAT32, p.rb, p.db, b);
    eh_input(&c2, 0, QI_FLOAT32, p.ra, p.da, a);
    eh_input(&c2, 1, QI_FLOAT32, p.rb, p.db, b);
    QT_CHECK(st, eh_run(&c1, NULL) == QI_OK && eh_run(&c2, pool) == QI_OK);
    size_t bytes = (size_t)na * qi_dtype_size(c1.out.dtype);
    QT_CHECKF(st, !memcmp(c1.out.data, c2.out.data, bytes), "%s differs",
              ops[k]);
    eh_end(&c1);
    eh_end(&c2);
  }
  free(a);
  free(b);
  qi_pool_free(pool);
}

/* The row kernels may write over an input of the same index. */
static void test_row_in_place(qt_state *st) {
  float a[37], b[37], want[37];
  fill_f32(a, 37, 1);
  fill_f32(b, 37, 1);
  const qi_bin_op ops[] = {QI_BIN_ADD, QI_BIN_DIV, QI_BIN_MAX, QI_BIN_PRELU};
  for (int k = 0; k < 4; k++) {
    float x[37];
    memcpy(x, a, sizeof x);
    qi_binary_row_f32(ops[k], a, 1, b, 1, want, 37);
    qi_binary_row_f32(ops[k], x, 1, b, 1, x, 37);
    QT_CHECK(st, !memcmp(x, want, sizeof x));
  }
}

static void test_errors(qt_state *st) {
  float f[8] = {0};
  int64_t i64[8] = {0};
  double f64[8] = {0};
  int64_t d3[1] = {3}, d4[1] = {4};
  eh_case c;
  eh_begin(&c, "Add", 13, 2);
  eh_input(&c, 0, QI_FLOAT32, 1, d3, f);
  eh_input(&c, 1, QI_FLOAT32, 1, d4, f);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_SHAPE);
  QT_CHECKF(st, strstr(c.err.message, "n0") != NULL, "%s", c.err.message);
  eh_end(&c);

  eh_begin(&c, "Mul", 13, 2);
  eh_input(&c, 0, QI_FLOAT32, 1, d3, f);
  eh_input(&c, 1, QI_INT64, 1, d3, i64);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  eh_end(&c);

  eh_begin(&c, "Sub", 13, 2);
  eh_input(&c, 0, QI_FLOAT64, 1, d3, f64);
  eh_input(&c, 1, QI_FLOAT64, 1, d3, f64);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  QT_CHECKF(st, strstr(c.err.message, "float64") && strstr(c.err.message, "n0"),
            "%s", c.err.message);
  eh_end(&c);

  eh_begin(&c, "Mod", 13, 2);
  eh_input(&c, 0, QI_FLOAT32, 1, d3, f);
  eh_input(&c, 1, QI_FLOAT32, 1, d3, f);
  eh_attr_int(&c, "fmod", 2);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  eh_end(&c);

  eh_begin(&c, "Add", 13, 2);
  eh_input(&c, 0, QI_INT64, 1, d3, i64);
  eh_input(&c, 1, QI_INT64, 1, d3, i64);
  eh_attr_int(&c, "qi_act", QI_ACT_RELU);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  eh_end(&c);

  eh_begin(&c, "Where", 13, 3);
  eh_input(&c, 0, QI_FLOAT32, 1, d3, f);
  eh_input(&c, 1, QI_FLOAT32, 1, d3, f);
  eh_input(&c, 2, QI_FLOAT32, 1, d3, f);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  eh_end(&c);

  /* [2^40, 1] x [1, 2^40]: 2^80 elements. */
  int64_t big_a[2] = {(int64_t)1 << 40, 1}, big_b[2] = {1, (int64_t)1 << 40};
  eh_begin(&c, "Add", 13, 2);
  int ta = qi_graph_add_tensor(c.g, "a", QI_FLOAT32);
  int tb = qi_graph_add_tensor(c.g, "b", QI_FLOAT32);
  c.g->tensors[ta].shape = eh_shape(2, big_a);
  c.g->tensors[tb].shape = eh_shape(2, big_b);
  c.g->nodes[0].in[0] = ta;
  c.g->nodes[0].in[1] = tb;
  QT_CHECK(st, qi_op_lookup("", "Add")->infer(c.g, &c.g->nodes[0], &c.err) ==
                   QI_ERR_NOMEM);
  eh_end(&c);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_f32_broadcast_patterns);
  QT_RUN(&st, test_prelu);
  QT_RUN(&st, test_pow);
  QT_RUN(&st, test_pow_int_base);
  QT_RUN(&st, test_int_arith);
  QT_RUN(&st, test_compare_logic);
  QT_RUN(&st, test_where);
  QT_RUN(&st, test_variadic);
  QT_RUN(&st, test_add_fused_act_single);
  QT_RUN(&st, test_threads);
  QT_RUN(&st, test_row_in_place);
  QT_RUN(&st, test_errors);
  return qt_summary(&st);
}
