/* Shared by the calibration tests: a fixed-seed generator, Gaussian and
 * Laplacian inverse CDFs for stratified samples, and an independent
 * round-half-to-even oracle. One generator state per test program. */
#ifndef CALIB_TEST_UTIL_H
#define CALIB_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* 1 + this bounds the relative float rounding of a handful of operations. */
#define REL_FLOAT_TOL 1e-6
/* Tolerance of double-precision identities (SQNR of exact inputs, ...). */
#define DOUBLE_TOL 1e-12

/* ---- distributions ------------------------------------------------- */

static uint64_t g_rng = 0x9E3779B97F4A7C15ull;
static inline void rng_seed(uint64_t s) { g_rng = s ? s : 1; }
static inline double rng_uniform(void) { /* (0, 1) */
  g_rng ^= g_rng << 13;
  g_rng ^= g_rng >> 7;
  g_rng ^= g_rng << 17;
  return ((double)(g_rng >> 11) + 0.5) / 9007199254740992.0;
}
static inline double rng_gauss(void) {
  double u1 = rng_uniform(), u2 = rng_uniform();
  return sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
}

static inline double norm_cdf(double x) { return 0.5 * erfc(-x / sqrt(2.0)); }
static inline double norm_pdf(double x) {
  return exp(-0.5 * x * x) / 2.5066282746310002;
}

/* Acklam's rational approximation (relative error 1.2e-9) polished by one
 * Halley step on erfc: full double precision. */
static inline double norm_ppf(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,
                             -2.759285104469687e+02, 1.383577518672690e+02,
                             -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02,
                             -1.556989798598866e+02, 6.680131188771972e+01,
                             -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01,
                             -2.400758277161838e+00, -2.549732539343734e+00,
                             4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01,
                             2.445134137142996e+00, 3.754408661907416e+00};
  double x;
  if (p < 0.02425) {
    double q = sqrt(-2 * log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    double q = sqrt(-2 * log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) *
        q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = norm_cdf(x) - p, u = e / norm_pdf(x);
  return x - u / (1 + x * u / 2);
}

static inline double laplace_ppf(double p, double b) {
  return p < 0.5 ? b * log(2 * p) : -b * log(2 * (1 - p));
}

static inline float *stratified_gauss(size_t n) {
  float *x = malloc(n * sizeof *x);
  for (size_t i = 0; i < n; i++) x[i] = (float)norm_ppf((i + 0.5) / n);
  return x;
}

static inline float *random_gauss(size_t n, uint64_t seed) {
  float *x = malloc(n * sizeof *x);
  rng_seed(seed);
  for (size_t i = 0; i < n; i++) x[i] = (float)rng_gauss();
  return x;
}

static inline int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* Round half to even written without nearbyint, as an independent oracle. */
static inline double round_half_even_ref(double x) {
  double f = floor(x), d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return fmod(f, 2.0) == 0 ? f : f + 1;
}

#endif
