/*
 * FP16 kernels (kernels/fp16/): conversions, epilogue, GEMM, convolution
 * and depthwise, for the scalar set and (where the CPU runs it) the F16C
 * set.
 *  - Conversions: every half widened, and a sweep of float32 inputs that
 *    covers every (sign, exponent, top-10-mantissa) cell at the rounding
 *    boundaries, against independent oracles (exact value by ldexp; RNE
 *    by search over the half grid); the scalar and F16C rows must agree
 *    bit for bit. QINFER_LONG_TESTS=1 adds all 2^32 float32 inputs.
 *  - GEMM / conv / depthwise against a float64 reference over the same
 *    fp16 inputs, within the bound of float32 accumulation plus one fp16
 *    rounding of the output (constants below); every buffer, the packed
 *    weights and the scratch against guard pages.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "fp16/conv.h"
#include "fp16/gemm.h"
#include "fp32/bias_act.h"
#include "guard.h"
#include "qtest.h"

/* Rounding a float to fp16 (RNE): |error| <= 2^-11 |v| for normal
 * results, <= 2^-25 absolute in the subnormal range. */
#define F16_REL_ROUND 0x1p-11
#define F16_ABS_ROUND 0x1p-25
/* Float32 accumulation of k products (any order, with or without FMA):
 * |error| <= (k + 2) * 2^-24 * sum |a_i b_i| (+ the bias and residual
 * adds, counted as two more terms). */
#define F32_UNIT 0x1p-24

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd32(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}
static float urand(float lo, float hi) {
  return lo + (hi - lo) * (float)(rnd32() & 0xffffff) / 16777216.0f;
}
static uint16_t h_rand(float a) { return qi_f16_from_f32_one(urand(-a, a)); }
static double hval(uint16_t h) { return (double)qi_f16_to_f32_one(h); }

static float f_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}
static uint32_t bits_f(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  return b;
}

/* The kernel sets this machine runs. */
static int nsets;
static qi_f16_kernels sets[2];
static const char *set_name[2];

static void sets_init(void) {
  sets[0] = qi_f16_kernels_scalar();
  set_name[0] = "scalar";
  nsets = 1;
  if (qi_cpu_features_have(qi_cpu_features_get(), QI_ISA_AVX2)) {
    sets[1] = qi_f16_kernels_f16c();
    set_name[1] = "f16c";
    nsets = 2;
  } else {
    printf("note: no AVX2/F16C here, only the scalar set is tested\n");
  }
}

/* ---- conversions ---------------------------------------------------- */

/* Oracle of the half's value, independent of the kernel's bit tricks. */
static double half_value(uint16_t h) {
  int s = h >> 15, e = (h >> 10) & 31, m = h & 0x3ff;
  double v = e == 0    ? ldexp(m, -24)
             : e == 31 ? INFINITY
                       : ldexp(1024 + m, e - 25);
  return s ? -v : v;
}

static void test_widen_all_halves(qt_state *st) {
  static uint16_t h[65536];
  static float f[2][65536];
  for (uint32_t i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  for (int s = 0; s < nsets; s++) sets[s].to_f32(h, f[s], 65536);
  int bad = 0;
  for (uint32_t i = 0; i < 65536 && bad < 5; i++) {
    int e = (i >> 10) & 31, m = i & 0x3ff;
    uint32_t b = bits_f(f[0][i]);
    int ok;
    if (e == 31 && m) /* NaN: sign and payload kept, quiet bit set */
      ok = b == (((i & 0x8000u) << 16) | 0x7fc00000u | ((uint32_t)m << 13));
    else
      ok = (double)f[0][i] == half_value((uint16_t)i) &&
           (signbit(f[0][i]) != 0) == (int)(i >> 15);
    if (nsets > 1) ok &= b == bits_f(f[1][i]);
    if (!ok) bad++;
    QT_CHECKF(st, ok, "half 0x%04x -> 0x%08x (f16c 0x%08x)", i, b,
              bits_f(f[nsets - 1][i]));
  }
}

/* RNE oracle by search: the largest grid point <= |x|, then the nearer
 * of it and the next one (ties to the even code; 0x7c00 stands for 2^16,
 * so 65520 rounds to Inf as IEEE requires). */
static uint16_t narrow_oracle(float x) {
  if (isnan(x)) return 0x7e00;
  uint16_t sign = signbit(x) ? 0x8000 : 0;
  double a = fabs((double)x);
  if (a >= 65536.0) return sign | 0x7c00;
  uint32_t lo = 0, hi = 0x7c00; /* value(lo) <= a < value(hi) */
  while (hi - lo > 1) {
    uint32_t mid = (lo + hi) / 2;
    if (half_value((uint16_t)mid) <= a)
      lo = mid;
    else
      hi = mid;
  }
  double vl = half_value((uint16_t)lo),
         vh = hi == 0x7c00 ? 65536.0 : half_value((uint16_t)hi);
  uint32_t r = a - vl < vh - a ? lo : a - vl > vh - a ? hi : (lo & 1 ? hi : lo);
  return (uint16_t)(sign | r);
}

/* Checks n floats: scalar == F16C bit for bit, and == the oracle (NaN:
 * quiet NaN of the same sign and payload bits 13..22). */
static int check_narrow(qt_state *st, const float *x, size_t n, int *bad) {
  static uint16_t y[2][1 << 16];
  for (int s = 0; s < nsets; s++) sets[s].from_f32(x, y[s], n);
  int ok_all = 1;
  for (size_t i = 0; i < n; i++) {
    uint16_t want = narrow_oracle(x[i]);
    uint32_t b = bits_f(x[i]);
    if (isnan(x[i]))
      want = (uint16_t)(((b >> 16) & 0x8000u) | 0x7e00u | ((b >> 13) & 0x3ffu));
    int ok = y[0][i] == want && (nsets < 2 || y[1][i] == want);
    if (!ok && (*bad)++ < 5)
      QT_CHECKF(st, ok, "float 0x%08x -> 0x%04x (f16c 0x%04x), want 0x%04x", b,
                y[0][i], y[nsets - 1][i], want);
    ok_all &= ok;
  }
  return ok_all;
}

static void test_narrow_sweep(qt_state *st) {
  static float x[1 << 16];
  const uint32_t low[] = {0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x17ff, 0};
  int bad = 0;
  size_t n = 0;
  /* Every (sign, exponent, top 10 mantissa bits): below, at, above the
   * halfway point of the 13 dropped bits, and one random pattern. */
  for (uint32_t hi = 0; hi < (1u << 19); hi++)
    for (int l = 0; l < 8; l++) {
      uint32_t lb = l == 7 ? rnd32() & 0x1fff : low[l];
      x[n++] = f_bits(hi << 13 | lb);
      if (n == sizeof x / sizeof *x) {
        check_narrow(st, x, n, &bad);
        n = 0;
      }
    }
  if (n) check_narrow(st, x, n, &bad);
  QT_CHECK(st, bad == 0);
}

/* Named cases with the codes worked out by hand. */
static void test_narrow_cases(qt_state *st) {
  const struct {
    uint32_t f;
    uint16_t h;
  } c[] = {
      {0x00000000, 0x0000}, {0x80000000, 0x8000},
      {0x3f800000, 0x3c00}, {0x477fe000, 0x7bff}, /* 65504, the largest half */
      {0x477fefff, 0x7bff},                       /* just below 65520 */
      {0x477ff000, 0x7c00}, /* 65520: tie, rounds to even = Inf */
      {0x7f800000, 0x7c00}, {0xff800000, 0xfc00},
      {0x33000000, 0x0000}, /* 2^-25: tie between 0 and 2^-24, to 0 */
      {0x33000001, 0x0001}, {0x33c00000, 0x0002}, /* 1.5 * 2^-24: tie -> 2 */
      {0x34200000, 0x0002},                       /* 2.5 * 2^-24: tie -> 2 */
      {0x387fc000, 0x03ff},                       /* largest subnormal */
      {0x387fe000, 0x0400}, /* tie between it and 2^-14: to even 0x400 */
      {0x3f801000, 0x3c00}, /* 1 + 2^-11: tie, to even */
      {0x3f803000, 0x3c02}, /* 1 + 3 * 2^-11: tie, to even */
      {0x00000001, 0x0000}, /* float32 subnormal */
      {0x80400000, 0x8000}, {0x7fc00001, 0x7e00},
      {0xffa00000, 0xff00}, /* sNaN quieted */
      {0x7f800001, 0x7e00}, {0x7fffffff, 0x7fff}};
  for (size_t i = 0; i < sizeof c / sizeof *c; i++)
    for (int s = 0; s < nsets; s++) {
      float x = f_bits(c[i].f);
      uint16_t y;
      sets[s].from_f32(&x, &y, 1);
      QT_CHECKF(st, y == c[i].h, "%s: 0x%08x -> 0x%04x, want 0x%04x",
                set_name[s], c[i].f, y, c[i].h);
    }
}

/* All 2^32 floats, scalar against F16C: only with QINFER_LONG_TESTS. */
static void test_narrow_exhaustive(qt_state *st) {
  if (nsets < 2 || !getenv("QINFER_LONG_TESTS")) return;
  static float x[1 << 16];
  static uint16_t y[2][1 << 16];
  uint64_t bad = 0;
  for (uint64_t base = 0; base < (1ull << 32); base += 1u << 16) {
    for (uint32_t i = 0; i < (1u << 16); i++) x[i] = f_bits((uint32_t)base + i);
    sets[0].from_f32(x, y[0], 1u << 16);
    sets[1].from_f32(x, y[1], 1u << 16);
    bad += memcmp(y[0], y[1], sizeof y[0]) != 0;
  }
  QT_CHECK(st, bad == 0);
}

/* Rows of every length up to 40 against guard pages on both sides. */
static void test_rows_guarded(qt_state *st) {
  for (int s = 0; s < nsets; s++)
    for (size_t n = 0; n <= 40; n++)
      for (int side = 0; side < 2; side++) {
        qt_guard ga, gb, gc;
        float *x =
            side ? qt_guard_before(&ga, n * 4) : qt_guard_after(&ga, n * 4);
        uint16_t *h =
            side ? qt_guard_before(&gb, n * 2) : qt_guard_after(&gb, n * 2);
        float *back =
            side ? qt_guard_before(&gc, n * 4) : qt_guard_after(&gc, n * 4);
        for (size_t i = 0; i < n; i++) x[i] = urand(-70000.0f, 70000.0f);
        sets[s].from_f32(x, h, n);
        sets[s].to_f32(h, back, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++)
          ok &= h[i] == qi_f16_from_f32_one(x[i]) &&
                bits_f(back[i]) == bits_f(qi_f16_to_f32_one(h[i]));
        QT_CHECKF(st, ok, "%s: row of %zu", set_name[s], n);
        qt_guard_free(&ga);
        qt_guard_free(&gb);
        qt_guard_free(&gc);
      }
}

/* ---- epilogue -------------------------------------------------------- */

static const qi_f16_act acts[] = {{QI_F32_ACT_NONE, 0, 0},
                                  {QI_F32_ACT_RELU, 0, 0},
                                  {QI_F32_ACT_CLIP, -0.25f, 0.5f},
                                  {QI_F32_ACT_CLIP, 0.5f, -0.25f}};
#define NACTS 4

static double act_ref(const qi_f16_act *a, double v) {
  if (a->kind == QI_F32_ACT_RELU) return v > 0 ? v : 0;
  if (a->kind == QI_F32_ACT_CLIP)
    return v < a->alpha ? a->alpha : v > a->beta ? a->beta : v;
  return v;
}

/* Variants agree bit for bit (same float operations in the same order),
 * including NaN, and match the formula computed here in float. */
static void test_epilogue(qt_state *st) {
  for (size_t n = 0; n <= 37; n += (n < 10 ? 1 : 9))
    for (int ai = 0; ai < NACTS; ai++)
      for (int mode = 0; mode < 8; mode++) {
        int f32 = mode & 1, use_res = mode >> 1 & 1, vec = mode >> 2 & 1;
        float src[40], bv[40], out[2][40];
        uint16_t res[40], outh[2][40];
        for (size_t i = 0; i < n; i++) {
          src[i] = i % 11 == 3 ? NAN : urand(-2, 2);
          bv[i] = urand(-1, 1);
          res[i] = h_rand(1.0f);
        }
        int ok = 1;
        for (int s = 0; s < nsets; s++) {
          qt_guard g;
          void *dst = qt_guard_after(&g, n * (f32 ? 4 : 2));
          sets[s].epilogue(&acts[ai], src, vec ? bv : NULL, 0.375f,
                           use_res ? res : NULL, dst, f32, n);
          memcpy(f32 ? (void *)out[s] : (void *)outh[s], dst,
                 n * (f32 ? 4 : 2));
          qt_guard_free(&g);
        }
        for (size_t i = 0; i < n; i++) {
          float v = src[i] + (vec ? bv[i] : 0.375f);
          if (use_res) v += qi_f16_to_f32_one(res[i]);
          v = (float)act_ref(&acts[ai], v);
          uint32_t want = f32 ? bits_f(v) : qi_f16_from_f32_one(v);
          for (int s = 0; s < nsets; s++) {
            uint32_t got = f32 ? bits_f(out[s][i]) : outh[s][i];
            ok &= got == want;
          }
        }
        QT_CHECKF(st, ok, "n %zu act %d mode %d", n, ai, mode);
      }
}

/* ---- GEMM ------------------------------------------------------------- */

/* |y - ref| within float32 accumulation of `terms` products of magnitude
 * sum `mag`, then one fp16 rounding unless y is float. */
static int close_enough(double y, double ref, double mag, int64_t terms,
                        int y_f32) {
  double acc = (double)(terms + 2) * F32_UNIT * mag;
  double tol =
      acc + (y_f32 ? 0 : F16_REL_ROUND * (fabs(ref) + acc) + F16_ABS_ROUND);
  return fabs(y - ref) <= tol;
}

typedef struct gemm_case {
  int64_t m, n, k;
  int cols; /* weights stored [K, N] (MatMul) instead of [N, K] */
} gemm_case;

static void run_gemm_case(qt_state *st, const qi_f16_kernels *kern,
                          const char *kname, const gemm_case *c, int ai,
                          int with_bias, int y_f32) {
  const int64_t m = c->m, n = c->n, k = c->k;
  qt_guard ga = {0}, gw = {0}, gp = {0}, gy = {0}, gs = {0}, gb = {0};
  size_t stride;
  uint16_t *a = qt_guard_rows(&ga, (size_t)m, (size_t)k * 2, &stride);
  int64_t lda = (int64_t)(stride / 2);
  uint16_t *w = qt_guard_after(&gw, (size_t)(n * k) * 2);
  size_t np = qi_f16_gemm_packed_halves(n, k);
  uint16_t *wp = qt_guard_after(&gp, np * 2);
  size_t esz = y_f32 ? 4 : 2;
  void *y = qt_guard_after(&gy, (size_t)(m * n) * esz);
  void *scratch = qt_guard_after(&gs, qi_f16_gemm_scratch_bytes());
  float *bias = with_bias ? qt_guard_after(&gb, (size_t)n * 4) : NULL;
  if (!a || !w || !wp || !y || !scratch || (with_bias && !bias)) {
    QT_CHECK(st, !"guard mapping failed");
    return;
  }
  for (int64_t i = 0; i < m; i++)
    for (int64_t p = 0; p < k; p++) a[i * lda + p] = h_rand(1.0f);
  for (int64_t i = 0; i < n * k; i++) w[i] = h_rand(1.0f);
  for (int64_t j = 0; with_bias && j < n; j++) bias[j] = urand(-0.5f, 0.5f);
  /* Element (j, p): [N, K] rows or [K, N] columns. */
  int64_t rs = c->cols ? 1 : k, cs = c->cols ? n : 1;
  qi_f16_gemm_pack(w, n, k, rs, cs, wp);
  qi_f16_gemm_args g = {m, n, k, a, lda, wp, bias, acts[ai], y, n, y_f32};
  for (int64_t b = 0; b < qi_f16_gemm_num_blocks(&g); b++)
    qi_f16_gemm_block(kern, &g, b, scratch);
  int bad = 0;
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < n; j++) {
      double ref = bias ? bias[j] : 0, mag = fabs(ref);
      for (int64_t p = 0; p < k; p++) {
        double t = hval(a[i * lda + p]) * hval(w[j * rs + p * cs]);
        ref += t;
        mag += fabs(t);
      }
      ref = act_ref(&acts[ai], ref);
      double got =
          y_f32 ? ((float *)y)[i * n + j] : hval(((uint16_t *)y)[i * n + j]);
      if (!close_enough(got, ref, mag, k, y_f32) && bad++ < 3)
        QT_CHECKF(st, 0,
                  "%s m%lld n%lld k%lld act %d: y[%lld][%lld] = %.8g, ref %.8g",
                  kname, (long long)m, (long long)n, (long long)k, ai,
                  (long long)i, (long long)j, got, ref);
    }
  qt_guard_free(&ga);
  qt_guard_free(&gw);
  qt_guard_free(&gp);
  qt_guard_free(&gy);
  qt_guard_free(&gs);
  qt_guard_free(&gb);
}

static void test_gemm(qt_state *st) {
  const gemm_case cases[] = {
      {1, 1, 1, 0},    {1, 17, 3, 1},     {7, 16, 1, 0},
      {5, 33, 300, 1}, {49, 130, 257, 0}, {13, 129, 17, 1},
      {6, 15, 512, 0}, {2, 1000, 64, 1},  {97, 40, 9, 0}};
  for (int s = 0; s < nsets; s++)
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
      for (int v = 0; v < 4; v++)
        run_gemm_case(st, &sets[s], set_name[s], &cases[i],
                      (int)(i + v) % NACTS, v & 1, v >> 1);
}

/* ---- convolution ----------------------------------------------------------
 */

typedef struct conv_case {
  int64_t cin, cout, group, h, w, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr;
} conv_case;

static int64_t out_ext(int64_t in, int64_t pb, int64_t pe, int64_t k, int64_t d,
                       int64_t s) {
  return (in + pb + pe - (k - 1) * d - 1) / s + 1;
}

/* Reference of one output element (batch item 0) and the magnitude sum of
 * its products. */
static double conv_ref(const conv_case *c, const uint16_t *x, const uint16_t *w,
                       int64_t co, int64_t oh, int64_t ow, double *mag) {
  int64_t cg = c->cin / c->group, g = co / (c->cout / c->group);
  double acc = 0;
  *mag = 0;
  for (int64_t ci = 0; ci < cg; ci++)
    for (int64_t a = 0; a < c->kh; a++)
      for (int64_t b = 0; b < c->kw; b++) {
        int64_t ih = oh * c->sh - c->pt + a * c->dh,
                iw = ow * c->sw - c->pl + b * c->dw;
        if (ih < 0 || ih >= c->h || iw < 0 || iw >= c->w) continue;
        double t = hval(x[((g * cg + ci) * c->h + ih) * c->w + iw]) *
                   hval(w[((co * cg + ci) * c->kh + a) * c->kw + b]);
        acc += t;
        *mag += fabs(t);
      }
  return acc;
}

static int conv_runs_prepacked, conv_runs_packing;

/* res_mode: 0 none, 1 separate buffer, 2 the output buffer itself. */
static void run_conv_case(qt_state *st, const qi_f16_kernels *kern,
                          const char *kname, const conv_case *c, int ai,
                          int res_mode, int y_f32, int64_t min_tasks) {
  qi_f16_conv_shape s = {c->cin, c->cout, c->group, c->h,  c->w,  0,
                         0,      c->kh,   c->kw,    c->sh, c->sw, c->dh,
                         c->dw,  c->pt,   c->pl,    c->pb, c->pr};
  s.out_h = out_ext(c->h, c->pt, c->pb, c->kh, c->dh, c->sh);
  s.out_w = out_ext(c->w, c->pl, c->pr, c->kw, c->dw, c->sw);
  qi_f16_conv_plan p;
  if (!qi_f16_conv_plan_make(&s, min_tasks, &p)) {
    QT_CHECKF(st, 0, "plan refused cin %lld cout %lld", (long long)c->cin,
              (long long)c->cout);
    return;
  }
  if (y_f32) res_mode = res_mode == 2 ? 1 : res_mode;
  const int64_t xn = c->cin * c->h * c->w, kk = p.kk;
  const int64_t yn = c->cout * s.out_h * s.out_w, plane = s.out_h * s.out_w;
  qt_guard gx = {0}, gw = {0}, gp = {0}, go = {0}, gi = {0}, gy = {0}, gr = {0},
           gs = {0}, gb = {0}, gk = {0};
  uint16_t *x = qt_guard_after(&gx, (size_t)xn * 2);
  uint16_t *w = qt_guard_after(&gw, (size_t)(c->cout * kk) * 2);
  uint16_t *wp = qt_guard_after(&gp, qi_f16_conv_packed_halves(&p) * 2);
  int64_t *boff = qt_guard_after(&go, (size_t)kk * 8);
  float *xp = qt_guard_after(&gi, qi_f16_conv_image_floats(&p) * 4);
  void *y = qt_guard_after(&gy, (size_t)yn * (y_f32 ? 4 : 2));
  uint16_t *res = res_mode == 1 ? qt_guard_after(&gr, (size_t)yn * 2) : NULL;
  void *scratch = qt_guard_after(&gs, qi_f16_conv_task_scratch(&p));
  float *bias = qt_guard_after(&gb, (size_t)c->cout * 4);
  float *bpk = p.prepack
                   ? qt_guard_after(&gk, qi_f16_conv_prepack_floats(&p) * 4)
                   : NULL;
  for (int64_t i = 0; i < xn; i++) x[i] = h_rand(1.0f);
  for (int64_t i = 0; i < c->cout * kk; i++) w[i] = h_rand(1.0f);
  for (int64_t i = 0; i < c->cout; i++) bias[i] = urand(-0.5f, 0.5f);
  uint16_t *res_copy = malloc((size_t)yn * 2 + 2);
  for (int64_t i = 0; i < yn; i++) res_copy[i] = h_rand(1.0f);
  if (res_mode == 1) memcpy(res, res_copy, (size_t)yn * 2);
  if (res_mode == 2) {
    memcpy(y, res_copy, (size_t)yn * 2);
    res = y;
  }
  qi_f16_conv_pack(&p, w, wp);
  qi_f16_conv_boff(&p, boff);
  for (int64_t ch = 0; ch < c->cin; ch++) qi_f16_conv_pad(kern, &p, x, ch, xp);
  qi_f16_conv_io io = {xp, bpk, wp, boff, bias, res, y, y_f32, acts[ai]};
  if (p.prepack)
    conv_runs_prepacked++;
  else
    conv_runs_packing++;
  for (int64_t t = 0; t < qi_f16_conv_num_prepack_tasks(&p); t++)
    qi_f16_conv_prepack(kern, &p, &io, t);
  for (int64_t t = 0; t < qi_f16_conv_num_tasks(&p); t++)
    qi_f16_conv_task(kern, &p, &io, t, scratch);
  int bad = 0;
  for (int64_t co = 0; co < c->cout; co++)
    for (int64_t oh = 0; oh < s.out_h; oh++)
      for (int64_t ow = 0; ow < s.out_w; ow++) {
        double mag, ref = conv_ref(c, x, w, co, oh, ow, &mag);
        int64_t at = co * plane + oh * s.out_w + ow;
        ref += bias[co];
        mag += fabs(bias[co]);
        if (res_mode) {
          ref += hval(res_copy[at]);
          mag += fabs(hval(res_copy[at]));
        }
        ref = act_ref(&acts[ai], ref);
        double got = y_f32 ? ((float *)y)[at] : hval(((uint16_t *)y)[at]);
        if (!close_enough(got, ref, mag, kk, y_f32) && bad++ < 3)
          QT_CHECKF(st, 0,
                    "%s conv %lldx%lld->%lld k%lldx%lld g%lld: "
                    "y[%lld][%lld][%lld] = %.8g, ref %.8g",
                    kname, (long long)c->cin, (long long)c->h,
                    (long long)c->cout, (long long)c->kh, (long long)c->kw,
                    (long long)c->group, (long long)co, (long long)oh,
                    (long long)ow, got, ref);
      }
  free(res_copy);
  qt_guard_free(&gx);
  qt_guard_free(&gw);
  qt_guard_free(&gp);
  qt_guard_free(&go);
  qt_guard_free(&gi);
  qt_guard_free(&gy);
  qt_guard_free(&gr);
  qt_guard_free(&gs);
  qt_guard_free(&gb);
  qt_guard_free(&gk);
}

static const conv_case conv_cases[] = {
    /* cin cout g  h  w kh kw sh sw dh dw pt pl pb pr */
    {3, 5, 1, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
    {16, 13, 1, 6, 7, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},  /* 1x1, panel tail */
    {3, 8, 1, 17, 15, 7, 7, 2, 2, 1, 1, 3, 2, 1, 3},  /* 7x7 s2 asymmetric */
    {5, 7, 1, 12, 10, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2},  /* dilation 2 */
    {6, 4, 2, 7, 9, 3, 2, 1, 2, 1, 1, 0, 1, 2, 0},    /* groups, 3x2 */
    {40, 9, 1, 5, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},   /* K = 360 > KC */
    {4, 6, 1, 3, 3, 3, 3, 3, 3, 1, 1, 0, 0, 0, 0},    /* 1x1 output */
    {7, 19, 1, 21, 23, 3, 3, 3, 2, 1, 1, 0, 1, 2, 0}, /* stride 3x2 */
    {8, 8, 4, 5, 5, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1},    /* padded 1x1, groups */
};

static void test_conv(qt_state *st) {
  for (int s = 0; s < nsets; s++)
    for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
      for (int v = 0; v < 6; v++)
        run_conv_case(st, &sets[s], set_name[s], &conv_cases[i],
                      (int)(i + v) % NACTS, v % 3, v >= 3, v & 1 ? 8 : 1);
  /* Both ways of getting B ran. */
  QT_CHECK(st, conv_runs_prepacked > 0 && conv_runs_packing > 0);
}

/* ---- depthwise ------------------------------------------------------------
 */

static void run_dw_case(qt_state *st, const qi_f16_kernels *kern,
                        const char *kname, const conv_case *c, int ai,
                        int res_mode, int y_f32) {
  conv_case one = *c;
  one.cin = one.cout = one.group = 1;
  qi_f32_dw2d d = {0};
  d.in_h = c->h;
  d.in_w = c->w;
  d.out_h = out_ext(c->h, c->pt, c->pb, c->kh, c->dh, c->sh);
  d.out_w = out_ext(c->w, c->pl, c->pr, c->kw, c->dw, c->sw);
  d.k_h = c->kh;
  d.k_w = c->kw;
  d.stride_h = c->sh;
  d.stride_w = c->sw;
  d.dil_h = c->dh;
  d.dil_w = c->dw;
  d.pad_t = c->pt;
  d.pad_l = c->pl;
  qi_f32_dw2d_derive(&d);
  const int64_t xn = c->h * c->w, yn = d.out_h * d.out_w, ks = c->kh * c->kw;
  if (y_f32 && res_mode == 2) res_mode = 1;
  qt_guard gx = {0}, gw = {0}, gy = {0}, gr = {0}, gs = {0};
  uint16_t *x = qt_guard_after(&gx, (size_t)xn * 2);
  uint16_t *w = qt_guard_after(&gw, (size_t)ks * 2);
  void *y = qt_guard_after(&gy, (size_t)yn * (y_f32 ? 4 : 2));
  uint16_t *res = res_mode == 1 ? qt_guard_after(&gr, (size_t)yn * 2) : NULL;
  float *scratch = qt_guard_after(&gs, qi_f16_dwconv_scratch_floats(&d) * 4);
  for (int64_t i = 0; i < xn; i++) x[i] = h_rand(1.0f);
  for (int64_t i = 0; i < ks; i++) w[i] = h_rand(1.0f);
  uint16_t *res_copy = malloc((size_t)yn * 2 + 2);
  for (int64_t i = 0; i < yn; i++) res_copy[i] = h_rand(1.0f);
  if (res_mode == 1) memcpy(res, res_copy, (size_t)yn * 2);
  if (res_mode == 2) {
    memcpy(y, res_copy, (size_t)yn * 2);
    res = y;
  }
  const float bias = 0.125f;
  qi_f16_dwconv_plane(kern, &d, x, w, bias, &acts[ai], res, y, y_f32, scratch);
  int bad = 0;
  for (int64_t oh = 0; oh < d.out_h; oh++)
    for (int64_t ow = 0; ow < d.out_w; ow++) {
      int64_t at = oh * d.out_w + ow;
      double mag, ref = conv_ref(&one, x, w, 0, oh, ow, &mag) + bias;
      mag += bias;
      if (res_mode) {
        ref += hval(res_copy[at]);
        mag += fabs(hval(res_copy[at]));
      }
      ref = act_ref(&acts[ai], ref);
      double got = y_f32 ? ((float *)y)[at] : hval(((uint16_t *)y)[at]);
      if (!close_enough(got, ref, mag, ks, y_f32) && bad++ < 3)
        QT_CHECKF(st, 0,
                  "%s dw %lldx%lld k%lldx%lld s%lld,%lld: y[%lld][%lld] = "
                  "%.8g, ref %.8g",
                  kname, (long long)c->h, (long long)c->w, (long long)c->kh,
                  (long long)c->kw, (long long)c->sh, (long long)c->sw,
                  (long long)oh, (long long)ow, got, ref);
    }
  free(res_copy);
  qt_guard_free(&gx);
  qt_guard_free(&gw);
  qt_guard_free(&gy);
  qt_guard_free(&gr);
  qt_guard_free(&gs);
}

static void test_depthwise(qt_state *st) {
  static const conv_case dw[] = {
      /* -  -  - h   w kh kw sh sw dh dw pt pl pb pr */
      {1, 1, 1, 9, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
      {1, 1, 1, 14, 15, 3, 3, 2, 2, 1, 1, 0, 1, 1, 0}, /* asymmetric */
      {1, 1, 1, 11, 12, 5, 5, 1, 1, 2, 2, 4, 4, 4, 4}, /* dilation 2 */
      {1, 1, 1, 10, 9, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3},
      {1, 1, 1, 13, 26, 3, 3, 2, 5, 1, 1, 1, 1, 1, 1}, /* stride_w 5: scalar */
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0},
      {1, 1, 1, 3, 40, 1, 35, 1, 1, 1, 1, 0, 2, 0, 2}, /* k_w > 32 */
      {1, 1, 1, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1},
  };
  for (int s = 0; s < nsets; s++)
    for (size_t i = 0; i < sizeof dw / sizeof *dw; i++)
      for (int v = 0; v < 6; v++)
        run_dw_case(st, &sets[s], set_name[s], &dw[i], (int)(i + v) % NACTS,
                    v % 3, v >= 3);
}

/* A plan with inconsistent output extents or groups is refused. */
static void test_plan_refusals(qt_state *st) {
  qi_f16_conv_shape s = {4, 6, 1, 8, 8, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1};
  qi_f16_conv_plan p;
  QT_CHECK(st, qi_f16_conv_plan_make(&s, 1, &p) == 1);
  s.out_w = 7;
  QT_CHECK(st, qi_f16_conv_plan_make(&s, 1, &p) == 0);
  s.out_w = 8;
  s.group = 4;
  QT_CHECK(st, qi_f16_conv_plan_make(&s, 1, &p) == 0); /* cout 6 % 4 */
  s.group = 1;
  s.pad_l = -1;
  QT_CHECK(st, qi_f16_conv_plan_make(&s, 1, &p) == 0);
  s.pad_l = 1;
  s.in_h = (int64_t)1 << 40;
  QT_CHECK(st, qi_f16_conv_plan_make(&s, 1, &p) == 0);
}

int main(void) {
  qt_state st = {0};
  sets_init();
  QT_RUN(&st, test_widen_all_halves);
  QT_RUN(&st, test_narrow_cases);
  QT_RUN(&st, test_narrow_sweep);
  QT_RUN(&st, test_narrow_exhaustive);
  QT_RUN(&st, test_rows_guarded);
  QT_RUN(&st, test_epilogue);
  QT_RUN(&st, test_gemm);
  QT_RUN(&st, test_conv);
  QT_RUN(&st, test_depthwise);
  QT_RUN(&st, test_plan_refusals);
  return qt_summary(&st);
}
