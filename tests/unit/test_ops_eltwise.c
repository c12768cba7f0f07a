/*
 * Unary element-wise ops against double-precision libm references: every
 * float op over special values (signed zeros, infinities, NaN, denormals,
 * the overflow edges of exp), uniform values in the op's working range and
 * random bit patterns, at sizes 1, 7, 1023 and 4099 (vector tails);
 * the AVX2 and SSE2 kernels bit for bit; in place; threaded; int paths;
 * Clip's attribute and input forms; error reports. Binary ops are in
 * test_ops_eltwise_binary.c. QINFER_LONG_TESTS=1 sweeps 4M bit patterns per op.
 */
#include <float.h>
#include <math.h>

#include "eltwise_harness.h"
#include "ops/eltwise.h"
#include "qtest.h"

/* Tolerances, as relative error plus terms for where relative error is
 * meaningless. Measured maxima (exhaustive sweep over every 1021st float):
 * exp 0.9 ulp, log 0.8, tanh 1.2, softplus 1.6, elu 1.3, sigmoid 2.2,
 * silu 2.8, mish 3.0, erf 2.6, gelu 5.3 ulp. */
#define TOL_REL 4e-7      /* ~4-7 ulp: exp-based functions */
#define TOL_REL_GELU 8e-7 /* erfc tail through exp(-x^2/2 + Q) */
/* Results below FLT_MIN lose precision to denormal rounding in
 * intermediates (x*exp(x) at x = -100): an absolute floor. */
#define TOL_DENORMAL 1e-37
/* Hard sigmoid/swish round alpha*x + beta once, an absolute error of an
 * ulp of the O(1) bracket, times |x| for HardSwish. */
#define TOL_HARD_ABS 1.2e-7
/* Gelu's tanh form rounds y = c*(x + 0.044715x^3) before exp(-2y): the
 * error is x*sigmoid(2y)*2|y|*eps, at most about 0.37*|x|*eps. */
#define TOL_GELU_TANH_ABS_X 2e-7

typedef struct unary_spec {
  const char *op;
  int exact; /* bitwise equal to (float)ref */
  double rel, abs_x, abs;
  float lo, hi;      /* range of the uniform values */
  float alpha, beta; /* attributes set when has_attrs */
  int has_attrs;
  const char *approximate; /* Gelu */
} unary_spec;

static double ref_unary(const unary_spec *s, double x) {
  const char *op = s->op;
  double a = s->alpha, b = s->beta;
  if (!strcmp(op, "Relu")) return x < 0 ? 0.0 : x;
  if (!strcmp(op, "LeakyRelu"))
    return x < 0 ? x * (s->has_attrs ? a : (double)0.01f) : x;
  if (!strcmp(op, "Sigmoid")) return 1.0 / (1.0 + exp(-x));
  if (!strcmp(op, "HardSigmoid")) {
    double h = a * x + b;
    return h < 0 ? 0.0 : (h > 1 ? 1.0 : h);
  }
  if (!strcmp(op, "HardSwish")) {
    double h = x / 6.0 + 0.5;
    return x * (h < 0 ? 0.0 : (h > 1 ? 1.0 : h));
  }
  if (!strcmp(op, "Tanh")) return tanh(x);
  if (!strcmp(op, "Erf")) return erf(x);
  if (!strcmp(op, "Gelu")) {
    if (s->approximate && !strcmp(s->approximate, "tanh")) {
      /* 0.5x(1 + tanh(y)) = x/(1 + exp(-2y)): no cancellation. */
      double y = sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x);
      return x / (1.0 + exp(-2.0 * y));
    }
    return 0.5 * x * erfc(-x / sqrt(2.0));
  }
  if (!strcmp(op, "Exp")) return exp(x);
  if (!strcmp(op, "Log")) return log(x);
  if (!strcmp(op, "Sqrt")) return sqrt(x);
  if (!strcmp(op, "Neg")) return -x;
  if (!strcmp(op, "Abs")) return fabs(x);
  if (!strcmp(op, "Reciprocal")) return 1.0 / x;
  if (!strcmp(op, "Floor")) return floor(x);
  if (!strcmp(op, "Ceil")) return ceil(x);
  if (!strcmp(op, "Round")) return nearbyint(x);
  if (!strcmp(op, "Sign"))
    return x > 0 ? 1.0 : (x < 0 ? -1.0 : (isnan(x) ? x : 0.0));
  if (!strcmp(op, "Softplus"))
    return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
  if (!strcmp(op, "Softsign")) return x / (1.0 + fabs(x));
  if (!strcmp(op, "Elu")) return x > 0 ? x : a * expm1(x);
  if (!strcmp(op, "Selu")) {
    double al = 1.67326319217681884765625, ga = 1.05070102214813232421875;
    return ga * (x > 0 ? x : al * expm1(x));
  }
  if (!strcmp(op, "ThresholdedRelu")) return x > a ? x : 0.0;
  if (!strcmp(op, "QiSilu")) return x / (1.0 + exp(-x));
  if (!strcmp(op, "Mish")) {
    double sp = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
    return x * tanh(sp);
  }
  return NAN;
}

static const unary_spec unary_specs[] = {
    {"Relu", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"LeakyRelu", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"LeakyRelu", 1, 0, 0, 0, -10, 10, 0.3f, 0, 1, NULL},
    {"Sigmoid", 0, TOL_REL, 0, TOL_DENORMAL, -20, 20, 0, 0, 0, NULL},
    {"HardSigmoid", 0, TOL_HARD_ABS, 0, TOL_HARD_ABS, -8, 8, 0.2f, 0.5f, 0,
     NULL},
    {"HardSigmoid", 0, TOL_HARD_ABS, 0, TOL_HARD_ABS, -8, 8, 0.3f, 0.4f, 1,
     NULL},
    {"HardSwish", 0, TOL_HARD_ABS, TOL_HARD_ABS, TOL_DENORMAL, -8, 8, 0, 0, 0,
     NULL},
    {"Tanh", 0, TOL_REL, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Erf", 0, TOL_REL, 0, TOL_DENORMAL, -5, 5, 0, 0, 0, NULL},
    {"Gelu", 0, TOL_REL_GELU, 0, TOL_DENORMAL, -16, 8, 0, 0, 0, NULL},
    {"Gelu", 0, TOL_REL_GELU, 0, TOL_DENORMAL, -16, 8, 0, 0, 0, "none"},
    {"Gelu", 0, TOL_REL, TOL_GELU_TANH_ABS_X, TOL_DENORMAL, -12, 8, 0, 0, 0,
     "tanh"},
    {"Exp", 0, TOL_REL, 0, TOL_DENORMAL, -105, 90, 0, 0, 0, NULL},
    {"Log", 0, TOL_REL, 0, 0, 0, 100, 0, 0, 0, NULL},
    {"Sqrt", 1, 0, 0, 0, 0, 100, 0, 0, 0, NULL},
    {"Neg", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Abs", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Reciprocal", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Floor", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Ceil", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Round", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Sign", 1, 0, 0, 0, -10, 10, 0, 0, 0, NULL},
    {"Softplus", 0, TOL_REL, 0, TOL_DENORMAL, -30, 30, 0, 0, 0, NULL},
    {"Softsign", 0, TOL_REL, 0, 0, -30, 30, 0, 0, 0, NULL},
    {"Elu", 0, TOL_REL, 0, TOL_DENORMAL, -10, 10, 1.0f, 0, 0, NULL},
    {"Elu", 0, TOL_REL, 0, TOL_DENORMAL, -10, 10, 0.7f, 0, 1, NULL},
    {"Selu", 0, TOL_REL, 0, TOL_DENORMAL, -10, 10, 0, 0, 0, NULL},
    {"ThresholdedRelu", 1, 0, 0, 0, -3, 3, 1.0f, 0, 0, NULL},
    {"ThresholdedRelu", 1, 0, 0, 0, -3, 3, 0.5f, 0, 1, NULL},
    {"QiSilu", 0, TOL_REL, 0, TOL_DENORMAL, -20, 20, 0, 0, 0, NULL},
    {"Mish", 0, TOL_REL, 0, TOL_DENORMAL, -20, 20, 0, 0, 0, NULL},
};
#define N_UNARY_SPECS ((int)(sizeof unary_specs / sizeof unary_specs[0]))

static const float special_values[] = {
    0.0f,        -0.0f,        1.0f,     -1.0f,    0.5f,
    -0.5f,       1.5f,         -1.5f,    2.5f,     -2.5f,
    0.49999997f, -0.49999997f, 0.625f,   -0.625f,  8388607.5f,
    -8388607.5f, 16777216.0f,  1e-30f,   -1e-30f,  1.17549435e-38f,
    1e-40f,      -1e-40f,      1.4e-45f, 88.72f,   88.73f,
    -87.3f,      -88.8f,       -103.9f,  -104.0f,  -150.0f,
    89.0f,       -13.1f,       10.5f,    -10.5f,   14.9f,
    -14.9f,      3.4e38f,      -3.4e38f, INFINITY, -INFINITY,
    NAN,         -NAN};
#define N_SPECIAL ((int)(sizeof special_values / sizeof special_values[0]))

/* Fills x: the special values, then uniform values in [lo, hi), then
 * random bit patterns, in a blend that depends on n. */
static void fill_values(float *x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) {
    if (i < N_SPECIAL && n > 7)
      x[i] = special_values[i];
    else if (i % 3 == 2)
      x[i] = eh_bits_to_float(eh_rand());
    else
      x[i] = eh_uniform(lo, hi);
  }
}

/* Runs spec s over x[0..n) through the op; counts mismatches. */
static int check_unary(qt_state *st, const unary_spec *s, const float *x,
                       int64_t n, qi_pool *pool) {
  eh_case c;
  eh_begin(&c, s->op, 20, 1);
  eh_input(&c, 0, QI_FLOAT32, 1, &n, x);
  if (s->has_attrs) {
    if (strcmp(s->op, "HardSigmoid") == 0) eh_attr_float(&c, "beta", s->beta);
    eh_attr_float(&c, "alpha", s->alpha);
  }
  if (s->approximate) eh_attr_str(&c, "approximate", s->approximate);
  qi_status rs = eh_run(&c, pool);
  QT_CHECKF(st, rs == QI_OK, "%s: %s", s->op, c.err.message);
  int bad = 0;
  if (rs == QI_OK) {
    QT_CHECK(st, c.out.dtype == QI_FLOAT32 && eh_shape_is(&c.out, 1, &n));
    const float *y = c.out.data;
    for (int64_t i = 0; i < n; i++) {
      double r = ref_unary(s, x[i]);
      int ok = s->exact ? eh_same_float(y[i], (float)r)
                        : eh_close(y[i], r, x[i], s->rel, s->abs_x, s->abs);
      if (!ok && bad++ < 3)
        QT_CHECKF(st, ok, "%s(%s) x=%a (%.9g): got %.9g, want %.9g", s->op,
                  s->approximate ? s->approximate : "", x[i], x[i], y[i], r);
    }
  }
  eh_end(&c);
  return bad;
}

static void test_unary_f32_vs_reference(qt_state *st) {
  const int64_t sizes[] = {1, 7, 1023, 4099};
  int long_run = getenv("QINFER_LONG_TESTS") != NULL;
  for (int si = 0; si < N_UNARY_SPECS; si++) {
    const unary_spec *s = &unary_specs[si];
    for (int k = 0; k < 4; k++) {
      int64_t n = sizes[k];
      float *x = malloc(sizeof(float) * (size_t)n);
      fill_values(x, n, s->lo, s->hi);
      check_unary(st, s, x, n, NULL);
      free(x);
    }
    if (long_run) {
      int64_t n = 1 << 22;
      float *x = malloc(sizeof(float) * (size_t)n);
      for (int64_t i = 0; i < n; i++)
        x[i] = eh_bits_to_float((uint32_t)(i * 1021u + 7u));
      check_unary(st, s, x, n, NULL);
      free(x);
    }
  }
}

/* The AVX2 and SSE2 builds of the kernel run the same IEEE operations in
 * the same order: they must agree bit for bit (odd n: both tails). */
static void test_unary_isa_agree(qt_state *st) {
  if (!qi_unary_has_avx2()) {
    printf("     (no AVX2 on this CPU: generic kernel only)\n");
    return;
  }
  const size_t n = 100003;
  float *x = malloc(n * sizeof(float)), *y1 = malloc(n * sizeof(float)),
        *y2 = malloc(n * sizeof(float));
  fill_values(x, (int64_t)n, -20.0f, 20.0f);
  for (int k = 0; k < QI_UN_COUNT; k++) {
    qi_unary_params p = {(qi_unary_kind)k, 0.3f, 0.4f, 1.1f};
    qi_unary_f32_generic(&p, x, y1, n);
    qi_unary_f32_avx2(&p, x, y2, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !eh_same_float(y1[i], y2[i]);
    QT_CHECKF(st, bad == 0, "kind %d: %zu elements differ", k, bad);
  }
  free(x);
  free(y1);
  free(y2);
}

/* y == x is allowed (Add's fused activation runs in place). */
static void test_unary_in_place(qt_state *st) {
  const size_t n = 1029;
  float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
  for (int k = 0; k < QI_UN_COUNT; k++) {
    fill_values(x, (int64_t)n, -10.0f, 10.0f);
    qi_unary_params p = {(qi_unary_kind)k, 0.3f, 0.4f, 1.1f};
    qi_unary_f32(&p, x, y, n);
    qi_unary_f32(&p, x, x, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += !eh_same_float(x[i], y[i]);
    QT_CHECKF(st, bad == 0, "kind %d in place: %zu differ", k, bad);
  }
  free(x);
  free(y);
}

/* A tensor over the threading threshold on a 3-thread pool equals the
 * single-thread run exactly. */
static void test_unary_threads(qt_state *st) {
  qi_pool *pool = qi_pool_create(3);
  QT_CHECK(st, pool != NULL);
  int64_t d[4] = {2, 37, 61, 67}; /* 302 438 elements, odd */
  int64_t n = d[0] * d[1] * d[2] * d[3];
  float *x = malloc(sizeof(float) * (size_t)n);
  fill_values(x, n, -8.0f, 8.0f);
  const char *ops[] = {"Sigmoid", "Gelu", "Relu", "Tanh"};
  for (int k = 0; k < 4; k++) {
    eh_case c1, c2;
    eh_begin(&c1, ops[k], 20, 1);
    eh_input(&c1, 0, QI_FLOAT32, 4, d, x);
    eh_begin(&c2, ops[k], 20, 1);
    eh_input(&c2, 0, QI_FLOAT32, 4, d, x);
    QT_CHECK(st, eh_run(&c1, NULL) == QI_OK && eh_run(&c2, pool) == QI_OK);
    QT_CHECK(st, eh_shape_is(&c2.out, 4, d));
    QT_CHECKF(st,
              memcmp(c1.out.data, c2.out.data, sizeof(float) * (size_t)n) == 0,
              "%s: threaded result differs", ops[k]);
    eh_end(&c1);
    eh_end(&c2);
  }
  free(x);
  qi_pool_free(pool);
}

/* Zero-size and rank-0 tensors. */
static void test_unary_degenerate_shapes(qt_state *st) {
  int64_t d0[3] = {2, 0, 3};
  float dummy = 1.0f;
  eh_case c;
  eh_begin(&c, "Sigmoid", 13, 1);
  eh_input(&c, 0, QI_FLOAT32, 3, d0, &dummy);
  QT_CHECK(st, eh_run(&c, NULL) == QI_OK && eh_shape_is(&c.out, 3, d0));
  eh_end(&c);
  float v = -2.0f;
  eh_begin(&c, "Exp", 13, 1);
  eh_input(&c, 0, QI_FLOAT32, 0, NULL, &v);
  QT_CHECK(st, eh_run(&c, NULL) == QI_OK && c.out.shape.rank == 0);
  QT_CHECK(st, eh_close(*(float *)c.out.data, exp(-2.0), -2, TOL_REL, 0, 0));
  eh_end(&c);
}

/* Integer element i of a buffer of type dt, widened. */
static int64_t int_at(qi_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case QI_INT8: return ((const int8_t *)p)[i];
    case QI_UINT8: return ((const uint8_t *)p)[i];
    case QI_INT32: return ((const int32_t *)p)[i];
    default: return ((const int64_t *)p)[i];
  }
}
/* v wrapped into dt (two's complement), widened back. */
static int64_t int_wrap(qi_dtype dt, uint64_t v) {
  switch (dt) {
    case QI_INT8: return (int8_t)(uint8_t)v;
    case QI_UINT8: return (uint8_t)v;
    case QI_INT32: return (int32_t)(uint32_t)v;
    default: return (int64_t)v;
  }
}
static void int_put(qi_dtype dt, void *p, int64_t i, int64_t v) {
  switch (dt) {
    case QI_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case QI_UINT8: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case QI_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    default: ((int64_t *)p)[i] = v; break;
  }
}

/* Neg/Abs/Relu/Sign/Clip on int8, uint8, int32 and int64, wrapping at the
 * minimum (-INT_MIN is INT_MIN, as in numpy). */
static void test_unary_int(qt_state *st) {
  const int64_t raw[] = {0,    1,   -1,        5,         -7,        127,
                         -128, 255, INT32_MAX, INT32_MIN, INT64_MAX, INT64_MIN,
                         42,   -42, 40,        -5};
  const int64_t n = (int64_t)(sizeof raw / sizeof raw[0]);
  const qi_dtype dts[] = {QI_INT8, QI_UINT8, QI_INT32, QI_INT64};
  const char *ops[] = {"Neg", "Abs", "Relu", "Sign", "Clip", "Clip"};
  for (int t = 0; t < 4; t++) {
    qi_dtype dt = dts[t];
    int64_t x[16], lo_hi[2][2] = {{-5, 40}, {40, -5}};
    for (int64_t i = 0; i < n; i++)
      int_put(dt, x, i, int_wrap(dt, (uint64_t)raw[i]));
    for (int k = 0; k < 6; k++) {
      eh_case c;
      int64_t lo = int_wrap(dt, (uint64_t)lo_hi[k == 5][0]);
      int64_t hi = int_wrap(dt, (uint64_t)lo_hi[k == 5][1]);
      eh_begin(&c, ops[k], 13, k >= 4 ? 3 : 1);
      eh_input(&c, 0, dt, 1, &n, x);
      if (k >= 4) { /* Clip to [lo, hi]; the second form has lo > hi */
        int64_t blo, bhi;
        int_put(dt, &blo, 0, lo);
        int_put(dt, &bhi, 0, hi);
        eh_const(&c, 1, dt, 0, NULL, &blo);
        eh_input(&c, 2, dt, 0, NULL, &bhi);
      }
      QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "%s %s: %s", ops[k],
                qi_dtype_name(dt), c.err.message);
      QT_CHECK(st, c.out.dtype == dt);
      for (int64_t i = 0; i < n; i++) {
        int64_t v = int_at(dt, x, i), want;
        switch (k) {
          case 0: want = int_wrap(dt, 0 - (uint64_t)v); break;
          case 1: want = v < 0 ? int_wrap(dt, 0 - (uint64_t)v) : v; break;
          case 2: want = v < 0 ? 0 : v; break;
          case 3:
            want = int_wrap(dt, (uint64_t)(int64_t)((v > 0) - (v < 0)));
            break;
          default: { /* numpy.clip: min(max(v, lo), hi) */
            int64_t m = v < lo ? lo : v;
            want = m > hi ? hi : m;
          }
        }
        int64_t got = int_at(dt, c.out.data, i);
        QT_CHECKF(st, got == want, "%s %s x=%lld: got %lld want %lld", ops[k],
                  qi_dtype_name(dt), (long long)v, (long long)got,
                  (long long)want);
      }
      eh_end(&c);
    }
  }
}

/* Clip: attributes before opset 11, optional inputs after; either bound
 * may be missing (the type's limits then); min > max gives max. */
static void test_clip_forms(qt_state *st) {
  const float x[7] = {-3.0f, -1.0f, 0.0f, 0.5f, 2.0f, INFINITY, NAN};
  int64_t n = 7;
  struct {
    int opset, use_attr, has_lo, has_hi, lo_const;
    float lo, hi;
  } forms[] = {
      {6, 1, 1, 1, 0, -1.0f, 1.0f},  {6, 1, 1, 0, 0, 0.0f, 0},
      {6, 1, 0, 1, 0, 0, 0.5f},      {6, 1, 0, 0, 0, 0, 0},
      {13, 0, 1, 1, 1, -1.0f, 1.0f}, {13, 0, 1, 0, 1, -0.5f, 0},
      {13, 0, 0, 1, 1, 0, 0.25f},    {13, 0, 1, 1, 0, -2.0f, 6.0f},
      {13, 0, 0, 0, 1, 0, 0},        {13, 0, 1, 1, 1, 2.0f, 1.0f},
      {6, 1, 1, 1, 0, 3.0f, -1.0f},
  };
  for (size_t f = 0; f < sizeof forms / sizeof forms[0]; f++) {
    eh_case c;
    int nin = forms[f].use_attr
                  ? 1
                  : (forms[f].has_hi ? 3 : (forms[f].has_lo ? 2 : 1));
    eh_begin(&c, "Clip", forms[f].opset, nin);
    eh_input(&c, 0, QI_FLOAT32, 1, &n, x);
    if (forms[f].use_attr) {
      if (forms[f].has_lo) eh_attr_float(&c, "min", forms[f].lo);
      if (forms[f].has_hi) eh_attr_float(&c, "max", forms[f].hi);
    } else {
      /* A one-element [1] tensor for min, rank 0 for max. */
      int64_t one = 1;
      if (forms[f].has_lo) {
        if (forms[f].lo_const)
          eh_const(&c, 1, QI_FLOAT32, 1, &one, &forms[f].lo);
        else
          eh_input(&c, 1, QI_FLOAT32, 1, &one, &forms[f].lo);
      }
      if (forms[f].has_hi) {
        if (forms[f].lo_const)
          eh_const(&c, 2, QI_FLOAT32, 0, NULL, &forms[f].hi);
        else
          eh_input(&c, 2, QI_FLOAT32, 0, NULL, &forms[f].hi);
      }
    }
    QT_CHECKF(st, eh_run(&c, NULL) == QI_OK, "form %zu: %s", f, c.err.message);
    float lo = forms[f].has_lo ? forms[f].lo : -FLT_MAX;
    float hi = forms[f].has_hi ? forms[f].hi : FLT_MAX;
    for (int64_t i = 0; i < n; i++) {
      /* numpy.clip: min(max(x, lo), hi), so lo > hi gives hi. */
      float want = x[i] < lo ? lo : x[i];
      want = want > hi ? hi : want;
      float got = ((float *)c.out.data)[i];
      QT_CHECKF(st, eh_same_float(got, want), "form %zu x=%g: got %g want %g",
                f, x[i], got, want);
    }
    eh_end(&c);
  }
}

static void test_not(qt_state *st) {
  const uint8_t x[5] = {0, 1, 1, 0, 1};
  int64_t n = 5;
  eh_case c;
  eh_begin(&c, "Not", 13, 1);
  eh_input(&c, 0, QI_BOOL, 1, &n, x);
  QT_CHECK(st, eh_run(&c, NULL) == QI_OK && c.out.dtype == QI_BOOL);
  for (int i = 0; i < 5; i++) QT_CHECK(st, ((uint8_t *)c.out.data)[i] == !x[i]);
  eh_end(&c);
}

/* qi_act_f32 (what Add's fusion and conv epilogues call) agrees with the
 * op of the same activation bit for bit, and with qi_act_apply (scalar
 * libm) within tolerance. */
static void test_act_f32(qt_state *st) {
  const size_t n = 515;
  float x[515], y[515];
  fill_values(x, (int64_t)n, -9.0f, 9.0f);
  for (int a = QI_ACT_NONE; a <= QI_ACT_TANH; a++) {
    qi_act_params p = {(qi_act)a, -1.5f, 2.0f};
    if (a == QI_ACT_LEAKY) p.alpha = 0.1f;
    if (a == QI_ACT_HARDSIGMOID) p.alpha = 0.2f, p.beta = 0.5f;
    qi_act_f32(&p, x, y, n);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
      float r = qi_act_apply(&p, x[i]);
      /* Both round the hard forms differently (x/6 vs x*(1/6)). */
      if (!eh_close(y[i], r, x[i], 1e-6, TOL_HARD_ABS, TOL_DENORMAL) &&
          !(isinf(x[i]) || isnan(x[i])))
        bad++;
    }
    QT_CHECKF(st, bad == 0, "act %d: %zu differ from qi_act_apply", a, bad);
  }
}

static void test_unary_errors(qt_state *st) {
  int64_t n = 3;
  int64_t xi[3] = {1, 2, 3};
  eh_case c;
  eh_begin(&c, "Sigmoid", 13, 1);
  eh_input(&c, 0, QI_INT64, 1, &n, xi);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  QT_CHECKF(st, strstr(c.err.message, "n0") && strstr(c.err.message, "int64"),
            "message: %s", c.err.message);
  eh_end(&c);

  float xf[3] = {1, 2, 3}, lo[2] = {0, 1};
  int64_t two = 2;
  eh_begin(&c, "Clip", 13, 2);
  eh_input(&c, 0, QI_FLOAT32, 1, &n, xf);
  eh_const(&c, 1, QI_FLOAT32, 1, &two, lo);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_SHAPE);
  eh_end(&c);

  eh_begin(&c, "Gelu", 20, 1);
  eh_input(&c, 0, QI_FLOAT32, 1, &n, xf);
  eh_attr_str(&c, "approximate", "fast");
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(c.err.message, "fast") != NULL);
  eh_end(&c);

  eh_begin(&c, "Not", 13, 1);
  eh_input(&c, 0, QI_FLOAT32, 1, &n, xf);
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_UNSUPPORTED);
  eh_end(&c);

  qi_shape unknown = {.rank = -1};
  eh_begin(&c, "Relu", 13, 1);
  eh_input(&c, 0, QI_FLOAT32, 1, &n, xf);
  c.g->tensors[c.g->nodes[0].in[0]].shape = unknown;
  QT_CHECK(st, eh_run(&c, NULL) == QI_ERR_SHAPE);
  eh_end(&c);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_unary_f32_vs_reference);
  QT_RUN(&st, test_unary_isa_agree);
  QT_RUN(&st, test_unary_in_place);
  QT_RUN(&st, test_unary_threads);
  QT_RUN(&st, test_unary_degenerate_shapes);
  QT_RUN(&st, test_unary_int);
  QT_RUN(&st, test_clip_forms);
  QT_RUN(&st, test_not);
  QT_RUN(&st, test_act_f32);
  QT_RUN(&st, test_unary_errors);
  return qt_summary(&st);
}
