/*
 * The FP32 row kernels of kernels/fp32/softmax.h, norm.h and pool.h, called
 * directly: every variant the CPU runs against float64 references, and the
 * variants against each other (same bytes where the headers promise it).
 * Inputs, outputs and scratch sit against PROT_NONE guard pages, so a read
 * or write past either end faults.
 *
 *  - exp: within QI_F32_EXP_MAX_ULP ulp of exp in double over a sweep of
 *    every 509th float bit pattern (all finite floats, both signs), dense
 *    random points in [-88, 88] and in the denormal-result range
 *    [-104, -87.3], and exactly at the overflow / underflow edges; +-inf,
 *    NaN, +-0 and denormal inputs by value; lengths that leave every tail.
 *  - softmax exp-sum: the stored terms are the same bytes as the exp kernel
 *    of x - m, the sum within TOL_SUM of the sum in double of those terms,
 *    with or without y; scale and sub_f64 against their formulas; the
 *    multi-row kernel byte-equal to the one-row ones, in place too.
 *  - rowmax (NaN at every position), sums, squared deviations, normalize,
 *    affine: exact formulas / double references, variants byte-equal.
 *  - pool2d: random geometries (kernels 1..5, strides 1..4, pads, ceil-style
 *    extra windows, bands of rows) against a brute-force reference; max
 *    exact, average within TOL_SUM; variants byte-equal; rows outside the
 *    band untouched.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "fp32/norm.h"
#include "fp32/pool.h"
#include "fp32/softmax.h"
#include "guard.h"
#include "qtest.h"

/* Relative error allowed on sums against their double references: the
 * kernels' float lane sums stay within 2e-6 (softmax.h). */
#define TOL_SUM 1e-5

typedef struct variant {
  const char *name;
  qi_f32_softmax_rows_fn softmax_rows;
  qi_f32_exp_fn exp;
  qi_f32_softmax_exp_sum_fn exp_sum;
  qi_f32_scale_fn scale;
  qi_f32_sub_f64_fn sub_f64;
  qi_f32_rowmax_fn rowmax;
  qi_f32_sum_f64_fn sum_f64;
  qi_f32_sqdev_sum_f64_fn sqdev;
  qi_f32_normalize_fn normalize;
  qi_f32_normalize_s_fn normalize_s;
  qi_f32_affine_fn affine;
  qi_f32_pool2d_fn maxpool, avgpool;
} variant;

static const variant variants[2] = {
    {"scalar", qi_f32_softmax_rows__scalar, qi_f32_exp__scalar,
     qi_f32_softmax_exp_sum__scalar, qi_f32_scale__scalar,
     qi_f32_sub_f64__scalar, qi_f32_rowmax__scalar, qi_f32_sum_f64__scalar,
     qi_f32_sqdev_sum_f64__scalar, qi_f32_normalize__scalar,
     qi_f32_normalize_s__scalar, qi_f32_affine__scalar,
     qi_f32_maxpool2d__scalar, qi_f32_avgpool2d__scalar},
    {"avx2", qi_f32_softmax_rows__avx2, qi_f32_exp__avx2,
     qi_f32_softmax_exp_sum__avx2, qi_f32_scale__avx2, qi_f32_sub_f64__avx2,
     qi_f32_rowmax__avx2, qi_f32_sum_f64__avx2, qi_f32_sqdev_sum_f64__avx2,
     qi_f32_normalize__avx2, qi_f32_normalize_s__avx2, qi_f32_affine__avx2,
     qi_f32_maxpool2d__avx2, qi_f32_avgpool2d__avx2}};

/* Variants this CPU runs: scalar always, AVX2 (with FMA) when present. */
static int num_variants(void) {
  return qi_cpu_features_have(qi_cpu_features_get(), QI_ISA_AVX2) ? 2 : 1;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(rng_state >> 32);
}
static float uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)(rnd() >> 8) * (1.0f / 16777216.0f);
}
static float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
static int same_bits(const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0 && !(isnan(a[i]) && isnan(b[i])))
      return 0;
  return 1;
}

/* n floats ending against a guard page (the kernels must not read past
 * the end), or with `before`, starting right after one. */
static float *guarded(qt_guard *g, size_t n, int before) {
  size_t bytes = n * sizeof(float);
  return before ? qt_guard_before(g, bytes ? bytes : 1) : qt_guard_after(g, bytes);
}

/* ---- exp ---------------------------------------------------------------- */

/* Error of got against ref in ulps of the float nearest ref (denormal ulp
 * below FLT_MIN); results that overflow must be +inf, or FLT_MAX if ref
 * rounds there. */
static double exp_ulp_err(float got, double ref) {
  if (ref >= 3.4028235677973366e38) return isinf(got) && got > 0 ? 0.0 : INFINITY;
  if (ref > 3.4028234663852886e38)
    return (isinf(got) && got > 0) || got == 3.4028234663852886e38f ? 0.0 : INFINITY;
  if (!isfinite(got)) return INFINITY;
  float near = (float)ref;
  double ulp;
  if (fabsf(near) < 1.17549435e-38f) {
    ulp = ldexp(1.0, -149);
  } else {
    int e;
    frexp(near, &e);
    ulp = ldexp(1.0, e - 24);
  }
  return fabs((double)got - ref) / ulp;
}

/* Runs v->exp over x[0..n) in chunks of varying length (every tail), each
 * chunk placed against a guard page (after its end, or for odd lengths
 * before its start); returns the worst error, counts bound violations. */
static double exp_check(qt_state *st, const variant *v, const float *x,
                        size_t n, int *bad) {
  enum { MAX_CHUNK = 23 };
  qt_guard ga = {0}, gb = {0}, gy = {0};
  float *xa = guarded(&ga, MAX_CHUNK, 0), *xb = guarded(&gb, MAX_CHUNK, 1);
  float *ya = guarded(&gy, MAX_CHUNK, 0);
  QT_CHECK(st, xa && xb && ya);
  double worst = xa && xb && ya ? 0.0 : INFINITY;
  size_t i = 0, chunk = 1;
  while (i < n && worst < INFINITY) {
    size_t len = n - i < chunk ? n - i : chunk;
    float *xc = chunk & 1 ? xb : xa + (MAX_CHUNK - len), *yc = ya + (MAX_CHUNK - len);
    memcpy(xc, x + i, len * sizeof(float));
    v->exp(xc, yc, len);
    for (size_t k = 0; k < len; k++) {
      double e = isnan(xc[k]) ? (isnan(yc[k]) ? 0.0 : INFINITY)
                              : exp_ulp_err(yc[k], exp((double)xc[k]));
      if (e > worst) worst = e;
      if (e > QI_F32_EXP_MAX_ULP && (*bad)++ < 5)
        fprintf(stderr, "  %s exp(%.9g) = %.9g, exact %.17g: %.3f ulp\n", v->name,
                xc[k], yc[k], exp((double)xc[k]), e);
    }
    i += len;
    chunk = chunk % MAX_CHUNK + 1;
  }
  qt_guard_free(&ga);
  qt_guard_free(&gb);
  qt_guard_free(&gy);
  return worst;
}

static void test_exp_ulp(qt_state *st) {
  enum { DENSE = 200000 };
  size_t cap = (size_t)(0x100000000ull / 509) + 3 * DENSE + 64;
  float *x = malloc(cap * sizeof(float));
  size_t n = 0;
  for (uint64_t u = 0; u < 0x100000000ull; u += 509) x[n++] = float_of((uint32_t)u);
  for (int i = 0; i < DENSE; i++) x[n++] = uniform(-88.0f, 88.0f);
  for (int i = 0; i < DENSE; i++) x[n++] = uniform(-104.0f, -87.3f);
  for (int i = 0; i < DENSE; i++) x[n++] = uniform(-1e-3f, 1e-3f);
  /* Edges: exp(88.72284) overflows, exp(-87.33655) is FLT_MIN, exp(-103.972)
   * half the smallest denormal; each with its float neighbours. */
  static const float edges[] = {88.72283f, 88.722839f, 88.72284f, -87.33654f,
                                -87.33655f, -87.336548f, -103.97207f,
                                -103.97208f, -103.278931f, -0.34657359f,
                                0.34657359f, 89.0f, -110.0f};
  for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
    x[n++] = edges[i];
    x[n++] = nextafterf(edges[i], INFINITY);
    x[n++] = nextafterf(edges[i], -INFINITY);
  }
  int bad = 0;
  for (int vi = 0; vi < num_variants(); vi++) {
    double worst = exp_check(st, &variants[vi], x, n, &bad);
    QT_CHECKF(st, worst <= QI_F32_EXP_MAX_ULP, "%s: worst %.4f ulp > %.2f",
              variants[vi].name, worst, QI_F32_EXP_MAX_ULP);
    printf("  %s exp: worst %.4f ulp over %zu inputs\n", variants[vi].name, worst, n);
  }
  free(x);
  QT_CHECK(st, bad == 0);
}

static void test_exp_specials(qt_state *st) {
  const float in[] = {INFINITY, -INFINITY, NAN, -NAN, 0.0f, -0.0f,
                      1e-45f, -1e-45f, 1e-40f, 3.4028235e38f, -3.4028235e38f,
                      200.0f, -200.0f};
  const size_t n = sizeof in / sizeof in[0];
  for (int vi = 0; vi < num_variants(); vi++) {
    float y[sizeof in / sizeof in[0]];
    variants[vi].exp(in, y, n);
    QT_CHECKF(st, isinf(y[0]) && y[0] > 0, "%s exp(inf) = %g", variants[vi].name, y[0]);
    QT_CHECKF(st, y[1] == 0.0f && !signbit(y[1]), "%s exp(-inf) = %g",
              variants[vi].name, y[1]);
    QT_CHECK(st, isnan(y[2]) && isnan(y[3]));
    for (int k = 4; k < 9; k++)
      QT_CHECKF(st, y[k] == 1.0f, "%s exp(%g) = %.9g", variants[vi].name, in[k], y[k]);
    QT_CHECK(st, isinf(y[9]) && y[10] == 0.0f && isinf(y[11]) && y[12] == 0.0f);
    variants[vi].exp(in, y, 0); /* n = 0 touches nothing */
  }
}

/* ---- softmax row kernels ----------------------------------------------- */

static const size_t row_lens[] = {0, 1, 5, 7, 8, 9, 15, 16, 17, 255,
                                  256, 257, 511, 513, 1000, 5003};

static void test_softmax_exp_sum(qt_state *st) {
  for (size_t li = 0; li < sizeof row_lens / sizeof row_lens[0]; li++)
    for (int spread = 0; spread < 2; spread++) {
      size_t n = row_lens[li];
      qt_guard gx = {0}, gy = {0}, ge = {0}, gd = {0};
      float *x = guarded(&gx, n, spread), *y = guarded(&gy, n, 0);
      float *e = guarded(&ge, n, 0), *d = guarded(&gd, n, 0);
      QT_CHECK(st, x && y && e && d);
      if (!x || !y || !e || !d) return;
      float m = -INFINITY;
      for (size_t i = 0; i < n; i++) {
        x[i] = spread ? uniform(-120.0f, 10.0f) : uniform(-5.0f, 5.0f);
        if (x[i] > m) m = x[i];
      }
      for (size_t i = 0; i < n; i++) d[i] = x[i] - m;
      double sums[2];
      for (int vi = 0; vi < num_variants(); vi++) {
        const variant *v = &variants[vi];
        double s = v->exp_sum(x, m, y, n), s_null = v->exp_sum(x, m, NULL, n);
        v->exp(d, e, n);
        QT_CHECKF(st, same_bits(y, e, n), "%s n %zu: terms differ from exp(x - m)",
                  v->name, n);
        double ref = 0.0;
        for (size_t i = 0; i < n; i++) ref += (double)e[i];
        QT_CHECKF(st, fabs(s - ref) <= TOL_SUM * ref, "%s n %zu: sum %.17g, ref %.17g",
                  v->name, n, s, ref);
        QT_CHECK(st, memcmp(&s, &s_null, sizeof s) == 0);
        sums[vi] = s;
        if (vi == 1) QT_CHECK(st, fabs(sums[1] - sums[0]) <= TOL_SUM * sums[0]);
        /* y[i] *= 1/s in float, and the log-softmax subtraction in double */
        float inv = n ? (float)(1.0 / s) : 1.0f;
        v->scale(y, inv, n);
        int ok = 1;
        for (size_t i = 0; i < n; i++) ok &= y[i] == e[i] * inv;
        QT_CHECKF(st, ok, "%s n %zu: scale", v->name, n);
        double c = (double)m + (n ? log(s) : 0.0);
        v->sub_f64(x, c, y, n);
        for (size_t i = 0; i < n; i++) ok &= y[i] == (float)((double)x[i] - c);
        QT_CHECKF(st, ok, "%s n %zu: sub_f64", v->name, n);
      }
      qt_guard_free(&gx);
      qt_guard_free(&gy);
      qt_guard_free(&ge);
      qt_guard_free(&gd);
    }
}

/* softmax_rows (rows in pairs in the AVX2 variant) gives every row the
 * bytes of the one-row kernels of the same variant, also in place. */
static void test_softmax_rows(qt_state *st) {
  static const size_t lens[] = {1, 7, 8, 49, 197, 300};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (size_t rows = 1; rows <= 5; rows++)
      for (int log_out = 0; log_out < 2; log_out++)
        for (int vi = 0; vi < num_variants(); vi++) {
          const variant *v = &variants[vi];
          size_t n = lens[li], total = rows * n;
          qt_guard gx = {0}, gy = {0};
          float *x = guarded(&gx, total, (int)rows & 1), *y = guarded(&gy, total, 0);
          float *ref = malloc(sizeof(float) * total);
          QT_CHECK(st, x && y && ref);
          if (!x || !y || !ref) return;
          for (size_t i = 0; i < total; i++) x[i] = uniform(-20.0f, 5.0f);
          for (size_t r = 0; r < rows; r++) {
            const float *xr = x + r * n;
            float *rr = ref + r * n;
            float m = v->rowmax(xr, n);
            if (log_out) {
              double s = v->exp_sum(xr, m, NULL, n);
              v->sub_f64(xr, (double)m + log(s), rr, n);
            } else {
              double s = v->exp_sum(xr, m, rr, n);
              v->scale(rr, (float)(1.0 / s), n);
            }
          }
          v->softmax_rows(x, y, rows, n, log_out);
          QT_CHECKF(st, same_bits(y, ref, total), "%s rows %zu n %zu log %d", v->name,
                    rows, n, log_out);
          v->softmax_rows(x, x, rows, n, log_out); /* in place */
          QT_CHECKF(st, same_bits(x, ref, total), "%s rows %zu n %zu log %d in place",
                    v->name, rows, n, log_out);
          free(ref);
          qt_guard_free(&gx);
          qt_guard_free(&gy);
        }
}

/* ---- norm row kernels -------------------------------------------------- */

static void test_rowmax(qt_state *st) {
  for (size_t n = 0; n <= 40; n++)
    for (int nan_at = -1; nan_at < (int)n; nan_at++)
      for (int vi = 0; vi < num_variants(); vi++) {
        qt_guard g = {0};
        float *x = guarded(&g, n, nan_at & 1);
        QT_CHECK(st, x != NULL);
        if (!x) return;
        double ref = -INFINITY;
        for (size_t i = 0; i < n; i++) {
          x[i] = (i % 5 == 3) ? -INFINITY : uniform(-3.0f, 3.0f);
          ref = fmax(ref, x[i]);
        }
        if (nan_at >= 0) x[nan_at] = NAN;
        float got = variants[vi].rowmax(x, n);
        QT_CHECKF(st, nan_at >= 0 ? isnan(got) : (double)got == ref,
                  "%s n %zu NaN at %d: %g, ref %g", variants[vi].name, n, nan_at,
                  got, ref);
        qt_guard_free(&g);
      }
  const float zeros[3] = {-0.0f, 0.0f, -0.0f};
  float m[2];
  for (int vi = 0; vi < num_variants(); vi++) m[vi] = variants[vi].rowmax(zeros, 3);
  QT_CHECK(st, m[0] == 0.0f);
  if (num_variants() == 2) QT_CHECK(st, memcmp(&m[0], &m[1], sizeof(float)) == 0);
}

static void test_sums_and_normalize(qt_state *st) {
  for (size_t li = 0; li < sizeof row_lens / sizeof row_lens[0]; li++)
    for (int offset = 0; offset < 2; offset++) {
      size_t n = row_lens[li];
      qt_guard gx = {0}, gs = {0}, gb = {0}, gy = {0};
      float *x = guarded(&gx, n, offset), *sc = guarded(&gs, n, 1);
      float *bi = guarded(&gb, n, 0), *y = guarded(&gy, n, 0);
      QT_CHECK(st, x && sc && bi && y);
      if (!x || !sc || !bi || !y) return;
      for (size_t i = 0; i < n; i++) {
        x[i] = (offset ? 1000.0f : 0.0f) + uniform(-2.0f, 2.0f);
        sc[i] = uniform(-2.0f, 2.0f);
        bi[i] = uniform(-1.0f, 1.0f);
      }
      double ref_sum = 0.0;
      for (size_t i = 0; i < n; i++) ref_sum += x[i];
      double mean = n ? ref_sum / (double)n : 0.0, ref_sq = 0.0;
      for (size_t i = 0; i < n; i++) {
        double dev = (double)x[i] - mean;
        ref_sq += dev * dev;
      }
      double inv = 1.0 / sqrt(ref_sq / (double)(n ? n : 1) + 1e-5);
      double got_sum[2], got_sq[2];
      float *outs[2][3] = {{0}};
      for (int vi = 0; vi < num_variants(); vi++) {
        const variant *v = &variants[vi];
        got_sum[vi] = v->sum_f64(x, n);
        got_sq[vi] = v->sqdev(x, n, mean);
        QT_CHECKF(st, fabs(got_sum[vi] - ref_sum) <= 1e-10 * (fabs(ref_sum) + 1.0),
                  "%s n %zu: sum %.17g ref %.17g", v->name, n, got_sum[vi], ref_sum);
        QT_CHECKF(st, fabs(got_sq[vi] - ref_sq) <= 1e-10 * (ref_sq + 1.0),
                  "%s n %zu: sqdev %.17g ref %.17g", v->name, n, got_sq[vi], ref_sq);
        int ok = 1;
        v->normalize(x, n, mean, inv, sc, bi, y);
        for (size_t i = 0; i < n; i++)
          ok &= y[i] == (float)(((double)x[i] - mean) * inv) * sc[i] + bi[i];
        outs[vi][0] = malloc(sizeof(float) * (n ? n : 1));
        memcpy(outs[vi][0], y, sizeof(float) * n);
        v->normalize_s(x, n, mean, inv, 1.5f, -0.25f, y);
        for (size_t i = 0; i < n; i++)
          ok &= y[i] == (float)(((double)x[i] - mean) * inv) * 1.5f + -0.25f;
        outs[vi][1] = malloc(sizeof(float) * (n ? n : 1));
        memcpy(outs[vi][1], y, sizeof(float) * n);
        v->affine(x, n, 0.75f, 3.0f, y);
        for (size_t i = 0; i < n; i++) ok &= y[i] == x[i] * 0.75f + 3.0f;
        outs[vi][2] = malloc(sizeof(float) * (n ? n : 1));
        memcpy(outs[vi][2], y, sizeof(float) * n);
        memcpy(y, x, sizeof(float) * n); /* in place: y == x */
        v->affine(y, n, 0.75f, 3.0f, y);
        ok &= same_bits(y, outs[vi][2], n);
        QT_CHECKF(st, ok, "%s n %zu offset %d: normalize / affine formulas", v->name,
                  n, offset);
      }
      if (num_variants() == 2) {
        QT_CHECK(st, memcmp(&got_sum[0], &got_sum[1], sizeof(double)) == 0);
        QT_CHECK(st, memcmp(&got_sq[0], &got_sq[1], sizeof(double)) == 0);
        for (int k = 0; k < 3; k++) QT_CHECK(st, same_bits(outs[0][k], outs[1][k], n));
      }
      for (int vi = 0; vi < 2; vi++)
        for (int k = 0; k < 3; k++) free(outs[vi][k]);
      qt_guard_free(&gx);
      qt_guard_free(&gs);
      qt_guard_free(&gb);
      qt_guard_free(&gy);
    }
}

/* ---- pool2d ------------------------------------------------------------ */

/* Brute force over every tap of output (oh, ow); max ignores nothing
 * (no NaN in these inputs), average as pool.h defines it. */
static double pool_ref_at(const qi_f32_pool2d *p, int is_max, const float *x,
                          int64_t oh, int64_t ow) {
  double m = -INFINITY, sum = 0.0;
  int64_t valid = 0, padded = 0;
  for (int64_t a = 0; a < p->k_h; a++)
    for (int64_t b = 0; b < p->k_w; b++) {
      int64_t ih = oh * p->stride_h - p->pad_t + a, iw = ow * p->stride_w - p->pad_l + b;
      if (ih < p->in_h + p->pad_b && iw < p->in_w + p->pad_r) padded++;
      if (ih < 0 || iw < 0 || ih >= p->in_h || iw >= p->in_w) continue;
      double v = x[ih * p->in_w + iw];
      m = fmax(m, v);
      sum += v;
      valid++;
    }
  return is_max ? m : sum / (double)(p->count_pad ? padded : valid);
}

static int64_t rand_in(int64_t lo, int64_t hi) { /* [lo, hi] */
  return lo + (int64_t)(rnd() % (uint32_t)(hi - lo + 1));
}

/* Output size along one dim: floor formula, plus one ceil-style window
 * when it still starts inside the input or the left padding. */
static int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t pb,
                        int64_t pe, int extra) {
  int64_t out = (in + pb + pe - k) / s + 1;
  if (extra && out * s < in + pb) out++;
  return out;
}

static void check_pool_geom(qt_state *st, const qi_f32_pool2d *p, int is_max) {
  size_t nin = (size_t)(p->in_h * p->in_w), nout = (size_t)(p->out_h * p->out_w);
  size_t sbytes = qi_f32_pool2d_scratch(p, is_max);
  int64_t oh0 = rand_in(0, p->out_h - 1), oh1 = rand_in(oh0 + 1, p->out_h);
  if (rnd() % 2) {
    oh0 = 0;
    oh1 = p->out_h;
  }
  float *ys[2] = {0}, *data = malloc(sizeof(float) * (nin ? nin : 1));
  for (size_t i = 0; i < nin; i++) data[i] = uniform(-4.0f, 4.0f);
  for (int vi = 0; vi < num_variants(); vi++) {
    const variant *v = &variants[vi];
    qt_guard gx = {0}, gy = {0}, gs = {0};
    float *x = guarded(&gx, nin, vi), *y = guarded(&gy, nout, 0);
    void *scratch = qt_guard_after(&gs, sbytes);
    QT_CHECK(st, x && y && scratch);
    if (!x || !y || !scratch) break;
    memcpy(x, data, sizeof(float) * nin);
    for (size_t i = 0; i < nout; i++) y[i] = -12345.0f;
    (is_max ? v->maxpool : v->avgpool)(p, x, y, oh0, oh1, scratch);
    int bad = 0;
    for (int64_t oh = 0; oh < p->out_h; oh++)
      for (int64_t ow = 0; ow < p->out_w; ow++) {
        float got = y[oh * p->out_w + ow];
        if (oh < oh0 || oh >= oh1) {
          bad += got != -12345.0f;
          continue;
        }
        double ref = pool_ref_at(p, is_max, x, oh, ow);
        bad += is_max ? (double)got != ref
                      : !(fabs(got - ref) <= TOL_SUM * fmax(fabs(ref), 1e-2));
      }
    QT_CHECKF(st, bad == 0,
              "%s %s in %lldx%lld k %lldx%lld s %lldx%lld pads %lld,%lld,%lld,%lld "
              "cip %d rows [%lld, %lld): %d wrong",
              v->name, is_max ? "max" : "avg", (long long)p->in_h, (long long)p->in_w,
              (long long)p->k_h, (long long)p->k_w, (long long)p->stride_h,
              (long long)p->stride_w, (long long)p->pad_t, (long long)p->pad_l,
              (long long)p->pad_b, (long long)p->pad_r, p->count_pad,
              (long long)oh0, (long long)oh1, bad);
    ys[vi] = malloc(sizeof(float) * (nout ? nout : 1));
    memcpy(ys[vi], y, sizeof(float) * nout);
    qt_guard_free(&gx);
    qt_guard_free(&gy);
    qt_guard_free(&gs);
  }
  if (num_variants() == 2)
    QT_CHECKF(st, same_bits(ys[0], ys[1], nout), "variants differ (%s)",
              is_max ? "max" : "avg");
  free(ys[0]);
  free(ys[1]);
  free(data);
}

static void test_pool2d_kernels(qt_state *st) {
  for (int it = 0; it < 1500; it++) {
    qi_f32_pool2d p = {0};
    p.k_h = rand_in(1, 5);
    p.k_w = rand_in(1, 5);
    p.stride_h = rand_in(1, 4);
    p.stride_w = it % 3 ? rand_in(1, 2) : rand_in(1, 4);
    p.pad_t = rand_in(0, p.k_h - 1);
    p.pad_b = rand_in(0, p.k_h - 1);
    p.pad_l = rand_in(0, p.k_w - 1);
    p.pad_r = rand_in(0, p.k_w - 1);
    p.in_h = rand_in(1, 12);
    p.in_w = rand_in(1, it % 4 ? 40 : 130);
    if (p.in_h + p.pad_t + p.pad_b < p.k_h || p.in_w + p.pad_l + p.pad_r < p.k_w)
      continue;
    p.out_h = out_size(p.in_h, p.k_h, p.stride_h, p.pad_t, p.pad_b, it & 1);
    p.out_w = out_size(p.in_w, p.k_w, p.stride_w, p.pad_l, p.pad_r, it & 2);
    p.count_pad = (it >> 2) & 1;
    check_pool_geom(st, &p, 1);
    check_pool_geom(st, &p, 0);
  }
}

int main(void) {
  qt_state st = {0};
  if (num_variants() < 2) printf("  (no AVX2 on this CPU: scalar kernels only)\n");
  QT_RUN(&st, test_exp_ulp);
  QT_RUN(&st, test_exp_specials);
  QT_RUN(&st, test_softmax_exp_sum);
  QT_RUN(&st, test_softmax_rows);
  QT_RUN(&st, test_rowmax);
  QT_RUN(&st, test_sums_and_normalize);
  QT_RUN(&st, test_pool2d_kernels);
  return qt_summary(&st);
}
