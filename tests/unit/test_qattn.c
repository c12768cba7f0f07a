/* Attention kernels of the INT8 path: the uint8 x uint8 MatMul
 * (kernels/qattn) and the uint8 Softmax and LayerNorm (kernels/qnorm),
 * plus their dispatch table. Each case checks
 *  - every kernel config this CPU runs against the scalar kernel, byte for
 *    byte (float outputs bit for bit), with inputs and outputs placed
 *    against guard pages;
 *  - the scalar kernel against the float64 / int64 references of
 *    kernels/ref/qattn_ref.h: uint8 outputs within QA_U8_MAX_STEPS output
 *    steps, float outputs within the named relative bounds. The worst case
 *    seen is printed.
 * Sizes: K = 1, odd K and N, 197 tokens, 64 / 96 dims, one and several
 * rows; zero points 0 / 128 / 255 and others; saturating and centred
 * output grids; the largest K whose int32 sum is exact. */
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qattn_dispatch.h"
#include "guard.h"
#include "dispatch_cases.h"
#include "qtest.h"
#include "ref/qattn_ref.h"

/* uint8 outputs may differ from the float64 reference by one step where
 * the float64 value lies next to a rounding tie; never by more. */
#define QA_U8_MAX_STEPS 1
/* One float32 rounding. */
#define QA_F32_ULP (1.0 / 16777216.0)
/* MatMul float output: (float)acc, the rounded multiplier and the product:
 * three roundings; 4 ulps of the exact value. */
#define QA_MATMUL_F32_REL_TOL (4.0 * QA_F32_ULP)
/* Softmax float output, relative to p: the table entry, the lane sums (at
 * most n/8 additions per lane, plus the tree), the quotient and the
 * product, a rounding each. */
#define QA_SOFTMAX_F32_ULPS_FIXED 8.0
/* LayerNorm float output: the float formula's error on the normalized
 * value is a few ulps of the input's span (255 steps over the row's
 * standard deviation); bound per element, relative to
 * |gamma| * (|xhat| + 255 / std) + |beta|. */
#define QA_LN_F32_ULPS 64.0
/* Where the exact value is below float's normal range the table entry
 * (or the product) is a denormal or 0: an absolute error of up to two of
 * the smallest denormals, 2^-148. */
#define QA_F32_DENORM_ABS (1.0 / 3.5681192317649e44)
/* Failures printed per test before the rest are only counted. */
#define QA_MAX_PRINTED 10

/* ---- machinery ---------------------------------------------------------- */

static qt_state *g_crash_state;

static void on_fault(int sig) {
  static const char msg[] = "FAIL (guard page hit: out-of-bounds access) in ";
  ssize_t unused = write(2, msg, sizeof msg - 1);
  const char *name =
      g_crash_state && g_crash_state->current ? g_crash_state->current : "?";
  unused = write(2, name, strlen(name));
  unused = write(2, "\n", 1);
  (void)unused;
  signal(sig, SIG_DFL);
  raise(sig);
}

typedef struct rng {
  uint64_t s;
} rng;

static uint64_t next_u64(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unit(rng *r) {
  return (double)(next_u64(r) >> 11) / 9007199254740992.0;
}
static uint8_t byte(rng *r) { return (uint8_t)(next_u64(r) >> 56); }

/* Data patterns of the inputs. */
enum { FILL_RANDOM, FILL_NARROW, FILL_PEAK, FILL_CONST, FILL_MAX, FILL_COUNT };

static void fill(rng *r, uint8_t *p, size_t n, int kind, int32_t z) {
  uint8_t c = byte(r);
  for (size_t i = 0; i < n; i++) {
    switch (kind) {
      case FILL_NARROW: { /* a few steps around the zero point */
        int v = z + (int)(next_u64(r) % 9) - 4;
        p[i] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        break;
      }
      case FILL_PEAK:
        p[i] = i % 37 == 5 ? 255 : (uint8_t)z;
        break;
      case FILL_CONST:
        p[i] = c;
        break;
      case FILL_MAX:
        p[i] = z < 128 ? 255 : 0;
        break; /* farthest from z */
      default:
        p[i] = byte(r);
        break;
    }
  }
}

/* Configs this CPU runs, one per distinct kernel ISA, scalar first. */
static int cpu_configs(const qi_qattn_config **out) {
  int n = 0;
  const qi_cpu_features *f = qi_cpu_features_get();
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_qattn_config *c = qi_qattn_config_of((qi_isa)i);
    if (!qi_cpu_features_have(f, (qi_isa)i)) continue;
    int dup = 0;
    for (int j = 0; j < n; j++) dup |= out[j]->kernel_isa == c->kernel_isa;
    if (!dup) out[n++] = c;
  }
  return n;
}

static const int32_t k_zero_points[] = {0, 128, 255, 18, 231};
#define NZP ((int)(sizeof k_zero_points / sizeof k_zero_points[0]))

/* Worst float64 disagreement seen by a test, printed at its end. */
typedef struct worst {
  int steps;            /* uint8: largest |kernel - reference| */
  long long off_by_one; /* uint8 outputs one step away */
  long long outputs;
  double rel;  /* float: largest error / bound */
  int printed; /* failures printed so far */
} worst;

static void worst_print(const char *what, const worst *w) {
  printf(
      "     %s: %lld outputs, worst uint8 |kernel - float64| = %d step(s) "
      "(%lld off by one), worst float error %.3f of its bound\n",
      what, w->outputs, w->steps, w->off_by_one, w->rel);
}

/* Checks one uint8 output against the reference value v (output units). */
static void check_u8(qt_state *st, worst *w, uint8_t got, double v,
                     const qi_u8_out *o, const char *ctx, size_t idx) {
  int want = qi_qattn_ref_u8(v, o->zy, o->qmin, o->qmax);
  int d = abs((int)got - want);
  w->outputs++;
  if (d > w->steps) w->steps = d;
  if (d == 1) w->off_by_one++;
  if (d > QA_U8_MAX_STEPS && w->printed++ >= QA_MAX_PRINTED)
    st->case_failed = 1;
  else if (d > QA_U8_MAX_STEPS)
    QT_CHECKF(st, 0, "%s: output %zu is %d, float64 says %d (v = %.9g)", ctx,
              idx, got, want, v);
}

static void check_f32(qt_state *st, worst *w, float got, double want,
                      double bound, const char *ctx, size_t idx) {
  double e = fabs((double)got - want);
  double r = bound > 0 ? e / bound : (e > 0 ? INFINITY : 0.0);
  w->outputs++;
  if (r > w->rel) w->rel = r;
  if (!(e <= bound) && w->printed++ >= QA_MAX_PRINTED)
    st->case_failed = 1;
  else if (!(e <= bound))
    QT_CHECKF(st, 0, "%s: output %zu is %.9g, float64 says %.9g (bound %.3g)",
              ctx, idx, got, want, bound);
}

/* Guard-page buffers of one case, freed together. */
typedef struct bufs {
  qt_guard g[8];
  int n;
} bufs;

/* `bytes` against a guard page: after the data, or before it when
 * `before` (64-byte aligned when bytes is a multiple of 64). */
static void *guarded(bufs *b, size_t bytes, int before) {
  qt_guard *g = &b->g[b->n++];
  return before ? qt_guard_before(g, bytes) : qt_guard_after(g, bytes);
}

static void bufs_free(bufs *b) {
  for (int i = 0; i < b->n; i++) qt_guard_free(&b->g[i]);
  b->n = 0;
}

/* ---- dispatch ----------------------------------------------------------- */

static void test_dispatch(qt_state *st) {
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_qattn_config *c = qi_qattn_config_of((qi_isa)i);
    QT_CHECK(st, c && c->isa == (qi_isa)i);
    if (!c) continue;
    QT_CHECK(st, c->matmul && c->softmax && c->layernorm);
    QT_CHECK(st, c->kernel_isa <= c->isa);
  }
  QT_CHECK(st, qi_qattn_config_of(QI_ISA_COUNT) == NULL);
  QT_CHECK(st,
           qi_qattn_config_of(QI_ISA_SCALAR)->matmul == qi_u8u8_matmul__scalar);
  QT_CHECK(st, qi_qattn_config_of(QI_ISA_AVX2)->softmax == qi_u8_softmax__avx2);
  QT_CHECK(st, qi_qattn_config_of(QI_ISA_AVX512VNNI)->layernorm ==
                   qi_u8_layernorm__avx2);

  DISPATCH_CHOOSE_CHECKS(st, qi_qattn_config, qi_qattn_config_choose);
  DISPATCH_DEFAULT_CHECKS(st, qi_qattn_config, qi_qattn_config_default,
                          cfg->softmax == qi_u8_softmax__scalar);
}

/* ---- MatMul ------------------------------------------------------------- */

typedef struct mm_case {
  size_t m, n, k;
  size_t pad_a, pad_b, pad_c; /* extra elements per row (strides) */
} mm_case;

typedef struct mm_run {
  mm_case s;
  int b_trans, out_f32, fill;
  int32_t za, zb, zy, qmin, qmax;
  double sa, sb, sy;
} mm_run;

static size_t mm_lda(const mm_run *r) { return r->s.k + r->s.pad_a; }
static size_t mm_ldb(const mm_run *r) {
  return (r->b_trans ? r->s.k : r->s.n) + r->s.pad_b;
}
static size_t mm_ldc(const mm_run *r) { return r->s.n + r->s.pad_c; }
/* Bytes of a strided matrix: the last row ends at its last element. */
static size_t span(size_t rows, size_t cols, size_t ld, size_t esize) {
  return rows ? ((rows - 1) * ld + cols) * esize : 0;
}

static qi_u8u8_matmul_params mm_params(const mm_run *r) {
  return r->out_f32
             ? qi_u8u8_matmul_params_make_f32(r->sa, r->za, r->sb, r->zb)
             : qi_u8u8_matmul_params_make(r->sa, r->za, r->sb, r->zb, r->sy,
                                          r->zy, r->qmin, r->qmax);
}

/* Runs every config on one case and checks it; `w` collects the float64
 * comparison of the scalar kernel. */
static void mm_check(qt_state *st, const mm_run *r, rng *g, worst *w,
                     int before) {
  const qi_qattn_config *cfgs[QI_ISA_COUNT];
  int ncfg = cpu_configs(cfgs);
  const size_t m = r->s.m, n = r->s.n, k = r->s.k;
  const size_t lda = mm_lda(r), ldb = mm_ldb(r), ldc = mm_ldc(r);
  const size_t es = r->out_f32 ? sizeof(float) : 1;
  const size_t brows = r->b_trans ? n : k, bcols = r->b_trans ? k : n;
  const size_t ca = span(m, k, lda, 1), cb = span(brows, bcols, ldb, 1);
  const size_t cc = span(m, n, ldc, es);
  bufs b = {0};
  uint8_t *a = guarded(&b, ca, before), *bm = guarded(&b, cb, !before);
  unsigned char *ref = malloc(cc ? cc : 1);
  size_t wsb = qi_u8u8_matmul_workspace_size(n, k);
  void *ws = guarded(&b, wsb, 0);
  if (!a || !bm || !ref || (wsb && !ws)) {
    QT_CHECK(st, !"allocation");
    free(ref);
    bufs_free(&b);
    return;
  }
  fill(g, a, ca, r->fill, r->za);
  fill(g, bm, cb, r->fill == FILL_MAX ? FILL_MAX : FILL_RANDOM, r->zb);
  qi_u8u8_matmul_params p = mm_params(r);
  char ctx[160];
  snprintf(ctx, sizeof ctx,
           "m=%zu n=%zu k=%zu trans=%d f32=%d za=%d zb=%d zy=%d fill=%d", m, n,
           k, r->b_trans, r->out_f32, r->za, r->zb, r->zy, r->fill);
  for (int ci = 0; ci < ncfg; ci++) {
    unsigned char *c = guarded(&b, cc, 0);
    if (!c) {
      QT_CHECK(st, !"allocation");
      break;
    }
    memset(c, 0xA5, cc);
    cfgs[ci]->matmul(m, n, k, a, lda, bm, ldb, r->b_trans, c, ldc, &p, ws);
    if (ci == 0) {
      memcpy(ref, c, cc);
      continue;
    }
    for (size_t i = 0; i < m; i++)
      if (memcmp(c + i * ldc * es, ref + i * ldc * es, n * es) != 0) {
        QT_CHECKF(st, 0, "%s: %s differs from scalar in row %zu", ctx,
                  qi_isa_name(cfgs[ci]->kernel_isa), i);
        break;
      }
    /* Gaps between strided rows stay untouched. */
    for (size_t i = 0; i + 1 < m && r->s.pad_c; i++)
      QT_CHECK(st, c[(i * ldc + n) * es] == 0xA5);
  }
  const size_t bk = r->b_trans ? 1 : ldb, bn = r->b_trans ? ldb : 1;
  double mult = r->out_f32 ? r->sa * r->sb : r->sa * r->sb / r->sy;
  for (size_t i = 0; i < m; i++)
    for (size_t j = 0; j < n; j++) {
      int64_t acc =
          qi_u8u8_matmul_ref_acc(k, a + i * lda, bm + j * bn, bk, r->za, r->zb);
      double v = (double)acc * mult;
      if (r->out_f32) {
        float got;
        memcpy(&got, ref + (i * ldc + j) * es, sizeof got);
        check_f32(st, w, got, v, QA_MATMUL_F32_REL_TOL * fabs(v), ctx,
                  i * n + j);
      } else {
        check_u8(st, w, ref[i * ldc + j], v, &p.out, ctx, i * n + j);
      }
    }
  free(ref);
  bufs_free(&b);
}

static const mm_case k_mm_cases[] = {
    {1, 1, 1, 0, 0, 0},      {1, 17, 1, 0, 0, 0},   {5, 3, 2, 0, 0, 0},
    {7, 9, 3, 1, 2, 3},      {4, 16, 64, 0, 0, 0},  {197, 197, 64, 0, 0, 0},
    {197, 64, 197, 0, 0, 0}, {13, 96, 96, 5, 0, 1}, {3, 31, 33, 0, 7, 0},
    {33, 17, 96, 0, 0, 0},   {6, 48, 65, 2, 3, 16}, {50, 197, 1, 0, 0, 0},
};

static void test_matmul(qt_state *st) {
  rng g = {1};
  worst w = {0};
  int idx = 0;
  for (size_t ci = 0; ci < sizeof k_mm_cases / sizeof k_mm_cases[0]; ci++)
    for (int zi = 0; zi < NZP; zi++)
      for (int mode = 0; mode < 4; mode++, idx++) {
        mm_run r = {
            .s = k_mm_cases[ci], .b_trans = mode & 1, .out_f32 = mode >> 1};
        r.za = k_zero_points[zi];
        r.zb = k_zero_points[(zi + 1 + mode) % NZP];
        r.zy = k_zero_points[(zi + 2) % NZP];
        r.qmin = idx % 5 == 3 ? r.zy : 0; /* a fused Relu now and then */
        r.qmax = 255;
        r.sa = 0.01 + 0.05 * unit(&g);
        r.sb = 0.01 + 0.05 * unit(&g);
        /* About 60 output steps per standard deviation of the sum of
         * centred products (74^2 sqrt(k)); off-centre zero points
         * saturate part of the outputs. */
        r.sy = r.sa * r.sb * 5500.0 * sqrt((double)r.s.k) / 60.0;
        r.fill = idx % 7 == 6 ? FILL_NARROW : FILL_RANDOM;
        if (idx % 11 == 10) r.fill = FILL_MAX;
        mm_check(st, &r, &g, &w, idx & 1);
      }
  worst_print("matmul", &w);
}

/* The largest K: every product 255^2 with the same sign, so the int32 sum
 * reaches 2130739200 (and its negative) without wrapping. */
static void test_matmul_max_k(qt_state *st) {
  rng g = {2};
  worst w = {0};
  const int32_t zps[][2] = {{0, 0}, {255, 255}, {0, 255}};
  for (int i = 0; i < 3; i++)
    for (int f32 = 0; f32 < 2; f32++) {
      mm_run r = {.s = {2, 3, QI_U8U8_MATMUL_MAX_K, 0, 0, 0},
                  .b_trans = i & 1,
                  .out_f32 = f32,
                  .fill = FILL_MAX,
                  .za = zps[i][0],
                  .zb = zps[i][1],
                  .zy = 128,
                  .qmin = 0,
                  .qmax = 255,
                  .sa = 1e-3,
                  .sb = 1e-3};
      /* Output grid that holds the extreme sum: no saturation. */
      r.sy = 1e-6 * 2130739200.0 / 100.0;
      mm_check(st, &r, &g, &w, i & 1);
    }
  worst_print("matmul max K", &w);
}

/* ---- Softmax ------------------------------------------------------------ */

typedef struct rows_case {
  size_t rows, n;
} rows_case;

static const rows_case k_softmax_cases[] = {
    {1, 1},  {3, 2},  {2, 7},  {4, 8},         {3, 9},   {2, 31},
    {2, 33}, {5, 64}, {3, 96}, {3 * 197, 197}, {2, 300}, {1, 1000},
};

static void test_softmax(qt_state *st) {
  const qi_qattn_config *cfgs[QI_ISA_COUNT];
  int ncfg = cpu_configs(cfgs);
  const double sxs[] = {0.003, 0.05, 0.3, 2.0};
  rng g = {3};
  worst w = {0};
  int idx = 0;
  for (size_t ci = 0; ci < sizeof k_softmax_cases / sizeof k_softmax_cases[0];
       ci++)
    for (int zi = 0; zi < 3; zi++)
      for (int mode = 0; mode < 3; mode++, idx++) {
        const size_t rows = k_softmax_cases[ci].rows, n = k_softmax_cases[ci].n;
        const int32_t zx = k_zero_points[zi];
        const double sx = sxs[idx % 4];
        float table[256];
        qi_u8_softmax_table_make(sx, table);
        /* mode 0: the usual grid 1/256, 0; 1: another grid with a clamp;
         * 2: float. */
        qi_u8_softmax_params p =
            mode == 0 ? qi_u8_softmax_params_make(table, 1.0 / 256.0, 0, 0, 255)
            : mode == 1
                ? qi_u8_softmax_params_make(table, 1.0 / 200.0, 20, 25, 240)
                : qi_u8_softmax_params_make_f32(table);
        const size_t es = mode == 2 ? sizeof(float) : 1;
        bufs b = {0};
        uint8_t *x = guarded(&b, rows * n, idx & 1);
        unsigned char *ref = malloc(rows * n * es);
        double *pr = malloc(sizeof(double) * n);
        if (!x || !ref || !pr) {
          QT_CHECK(st, !"allocation");
          free(ref);
          free(pr);
          bufs_free(&b);
          return;
        }
        for (size_t r = 0; r < rows; r++)
          fill(&g, x + r * n, n, (int)((r + (size_t)idx) % FILL_MAX), zx);
        char ctx[128];
        snprintf(ctx, sizeof ctx, "softmax rows=%zu n=%zu zx=%d sx=%g mode=%d",
                 rows, n, zx, sx, mode);
        for (int c = 0; c < ncfg; c++) {
          unsigned char *y = guarded(&b, rows * n * es, !(idx & 1));
          if (!y) break;
          cfgs[c]->softmax(rows, n, x, y, &p);
          if (c == 0)
            memcpy(ref, y, rows * n * es);
          else
            QT_CHECKF(st, memcmp(y, ref, rows * n * es) == 0,
                      "%s: %s differs from scalar", ctx,
                      qi_isa_name(cfgs[c]->kernel_isa));
        }
        for (size_t r = 0; r < rows; r++) {
          qi_u8_softmax_ref_row(n, x + r * n, sx, pr);
          for (size_t i = 0; i < n; i++) {
            size_t e = r * n + i;
            if (mode == 2) {
              float got;
              memcpy(&got, ref + e * es, sizeof got);
              double ulps = QA_SOFTMAX_F32_ULPS_FIXED + (double)n / 8.0;
              check_f32(st, &w, got, pr[i],
                        ulps * QA_F32_ULP * pr[i] + QA_F32_DENORM_ABS, ctx, e);
            } else {
              check_u8(st, &w, ref[e],
                       pr[i] / (mode ? 1.0 / 200.0 : 1.0 / 256.0), &p.out, ctx,
                       e);
            }
          }
        }
        free(ref);
        free(pr);
        bufs_free(&b);
      }
  worst_print("softmax", &w);
}

/* ---- LayerNorm ---------------------------------------------------------- */

static const rows_case k_ln_cases[] = {
    {1, 1},  {2, 2},  {3, 7},    {2, 8},   {3, 9},    {2, 33},
    {4, 64}, {3, 96}, {197, 96}, {2, 768}, {1, 1001}, {5, 197},
};

static void test_layernorm(qt_state *st) {
  const qi_qattn_config *cfgs[QI_ISA_COUNT];
  int ncfg = cpu_configs(cfgs);
  const double sxs[] = {0.01, 0.1, 1.3};
  rng g = {4};
  worst w = {0};
  int idx = 0;
  for (size_t ci = 0; ci < sizeof k_ln_cases / sizeof k_ln_cases[0]; ci++)
    for (int zi = 0; zi < 3; zi++)
      for (int mode = 0; mode < 3; mode++, idx++) {
        const size_t rows = k_ln_cases[ci].rows, n = k_ln_cases[ci].n;
        const int32_t zx = k_zero_points[zi];
        const double sx = sxs[idx % 3], eps = idx % 2 ? 1e-5 : 1e-2;
        /* Outputs around gamma * xhat + beta in about [-4, 4]: mode 0
         * centred (zy 128), mode 1 zy 0 / 255 (half saturates), 2 float. */
        const double sy = 8.0 / 255.0;
        const int32_t zy = mode == 0 ? 128 : (idx & 4) ? 255 : 0;
        bufs b = {0};
        uint8_t *x = guarded(&b, rows * n, idx & 1);
        float *gam = guarded(&b, n * sizeof(float), 0);
        float *bet = guarded(&b, n * sizeof(float), 0);
        float *go = malloc(n * sizeof(float)), *bo = malloc(n * sizeof(float));
        const size_t es = mode == 2 ? sizeof(float) : 1;
        unsigned char *ref = malloc(rows * n * es);
        double *yr = malloc(sizeof(double) * n);
        if (!x || !gam || !bet || !go || !bo || !ref || !yr) {
          QT_CHECK(st, !"allocation");
          free(go), free(bo), free(ref), free(yr);
          bufs_free(&b);
          return;
        }
        for (size_t i = 0; i < n; i++) {
          gam[i] = (float)(-2.0 + 4.0 * unit(&g));
          bet[i] = (float)(-1.0 + 2.0 * unit(&g));
          /* The kernel's g, b in output units, rounded once from double. */
          go[i] = mode == 2 ? gam[i] : (float)((double)gam[i] / sy);
          bo[i] = mode == 2 ? bet[i] : (float)((double)bet[i] / sy);
        }
        for (size_t r = 0; r < rows; r++)
          fill(&g, x + r * n, n, (int)((r + (size_t)idx) % FILL_COUNT), zx);
        qi_u8_layernorm_params p = {.zx = zx,
                                    .sx = sx,
                                    .eps = eps,
                                    .g = go,
                                    .b = bo,
                                    .out_f32 = mode == 2,
                                    .out = qi_u8_out_make(zy, 0, 255)};
        char ctx[128];
        snprintf(ctx, sizeof ctx,
                 "layernorm rows=%zu n=%zu zx=%d sx=%g eps=%g mode=%d", rows, n,
                 zx, sx, eps, mode);
        for (int c = 0; c < ncfg; c++) {
          unsigned char *y = guarded(&b, rows * n * es, !(idx & 1));
          if (!y) break;
          cfgs[c]->layernorm(rows, n, x, y, &p);
          if (c == 0)
            memcpy(ref, y, rows * n * es);
          else
            QT_CHECKF(st, memcmp(y, ref, rows * n * es) == 0,
                      "%s: %s differs from scalar", ctx,
                      qi_isa_name(cfgs[c]->kernel_isa));
        }
        for (size_t r = 0; r < rows; r++) {
          const uint8_t *xr = x + r * n;
          qi_u8_layernorm_ref_row(n, xr, sx, zx, eps, gam, bet, yr);
          /* The row's spread in input steps, for the float bound. */
          double m = 0, v = 0;
          for (size_t i = 0; i < n; i++) m += xr[i];
          m /= (double)n;
          for (size_t i = 0; i < n; i++) v += (xr[i] - m) * (xr[i] - m);
          double sd = sqrt(v / (double)n + eps / (sx * sx));
          for (size_t i = 0; i < n; i++) {
            size_t e = r * n + i;
            if (mode == 2) {
              float got;
              memcpy(&got, ref + e * es, sizeof got);
              double xhat = (yr[i] - bet[i]) / (gam[i] ? gam[i] : 1.0);
              double bound =
                  QA_LN_F32_ULPS * QA_F32_ULP *
                  (fabs(gam[i]) * (fabs(xhat) + 255.0 / sd) + fabs(bet[i]));
              check_f32(st, &w, got, yr[i], bound, ctx, e);
            } else {
              check_u8(st, &w, ref[e], yr[i] / sy, &p.out, ctx, e);
            }
          }
        }
        free(go), free(bo), free(ref), free(yr);
        bufs_free(&b);
      }
  worst_print("layernorm", &w);
}

int main(void) {
  qt_state st = {0};
  g_crash_state = &st;
  signal(SIGSEGV, on_fault);
  signal(SIGBUS, on_fault);
  const qi_qattn_config *cfgs[QI_ISA_COUNT];
  int ncfg = cpu_configs(cfgs);
  printf("configs compared with scalar:");
  for (int i = 1; i < ncfg; i++)
    printf(" %s", qi_isa_name(cfgs[i]->kernel_isa));
  printf("%s\n", ncfg > 1 ? "" : " none (this CPU runs scalar only)");
  QT_RUN(&st, test_dispatch);
  QT_RUN(&st, test_matmul);
  QT_RUN(&st, test_matmul_max_k);
  QT_RUN(&st, test_softmax);
  QT_RUN(&st, test_layernorm);
  return qt_summary(&st);
}
