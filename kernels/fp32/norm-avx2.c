/* AVX2 row kernels; see norm.h. Eight floats per step in lanes 0..7; the
 * last n % 8 elements are done one at a time into lane i % 8, exactly as
 * the scalar twin does them. No FMA (the twin rounds every operation). */
#include <immintrin.h>
#include <math.h>

#include "fp32/norm.h"

#define INLINE static inline __attribute__((always_inline))

INLINE float max_nan(float m, float v) {
  if (v != v) return v;
  return v > m ? v : m;
}

/* max with NaN sticking from either side: vmaxps returns its second operand
 * (m) on NaN or equal values; a NaN v makes the lane all-ones, a NaN. */
INLINE __m256 vmax_nan(__m256 m, __m256 v) {
  return _mm256_or_ps(_mm256_max_ps(v, m), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

/* The first rem (< 8) floats at x, -inf past them. */
INLINE __m256 load_head(const float *x, size_t rem) {
  __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                                  _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  return _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(x, mk),
                          _mm256_castsi256_ps(mk));
}

float qi_f32_rowmax__avx2(const float *x, size_t n) {
  __m256 a = _mm256_set1_ps(-INFINITY), b = a; /* lanes 0..7, 8..15 */
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    a = vmax_nan(a, _mm256_loadu_ps(x + i));
    b = vmax_nan(b, _mm256_loadu_ps(x + i + 8));
  }
  if (i + 8 <= n) {
    a = vmax_nan(a, _mm256_loadu_ps(x + i));
    i += 8;
    if (i < n) b = vmax_nan(b, load_head(x + i, n - i));
  } else if (i < n) {
    a = vmax_nan(a, load_head(x + i, n - i));
  }
  float l[8];
  _mm256_storeu_ps(l, vmax_nan(a, b));
  return max_nan(max_nan(max_nan(l[0], l[1]), max_nan(l[2], l[3])),
                 max_nan(max_nan(l[4], l[5]), max_nan(l[6], l[7])));
}

INLINE double combine8(__m256d lo, __m256d hi, const float *x, size_t i,
                       size_t n, int sq, double mean) {
  double l[8];
  _mm256_storeu_pd(l, lo);
  _mm256_storeu_pd(l + 4, hi);
  for (; i < n; i++) {
    double d = (double)x[i] - mean;
    l[i % 8] += sq ? d * d : (double)x[i];
  }
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

double qi_f32_sum_f64__avx2(const float *x, size_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
    hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
  }
  return combine8(lo, hi, x, i, n, 0, 0.0);
}

double qi_f32_sqdev_sum_f64__avx2(const float *x, size_t n, double mean) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  __m256d mv = _mm256_set1_pd(mean);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256d a = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), mv);
    __m256d b = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), mv);
    lo = _mm256_add_pd(lo, _mm256_mul_pd(a, a));
    hi = _mm256_add_pd(hi, _mm256_mul_pd(b, b));
  }
  return combine8(lo, hi, x, i, n, 1, mean);
}

/* (float)(((double)x - mean) * inv) for 8 floats. */
INLINE __m256 standardize(const float *x, __m256d mean, __m256d inv) {
  __m128 lo = _mm256_cvtpd_ps(_mm256_mul_pd(
      _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x)), mean), inv));
  __m128 hi = _mm256_cvtpd_ps(_mm256_mul_pd(
      _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + 4)), mean), inv));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

void qi_f32_normalize__avx2(const float *x, size_t n, double mean, double inv,
                            const float *scale, const float *bias, float *y) {
  __m256d mv = _mm256_set1_pd(mean), iv = _mm256_set1_pd(inv);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 z = standardize(x + i, mv, iv);
    z = _mm256_add_ps(_mm256_mul_ps(z, _mm256_loadu_ps(scale + i)),
                      _mm256_loadu_ps(bias + i));
    _mm256_storeu_ps(y + i, z);
  }
  for (; i < n; i++)
    y[i] = (float)(((double)x[i] - mean) * inv) * scale[i] + bias[i];
}

void qi_f32_normalize_s__avx2(const float *x, size_t n, double mean,
                              double inv, float scale, float bias, float *y) {
  __m256d mv = _mm256_set1_pd(mean), iv = _mm256_set1_pd(inv);
  __m256 sv = _mm256_set1_ps(scale), bv = _mm256_set1_ps(bias);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 z = standardize(x + i, mv, iv);
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_mul_ps(z, sv), bv));
  }
  for (; i < n; i++)
    y[i] = (float)(((double)x[i] - mean) * inv) * scale + bias;
}

void qi_f32_affine__avx2(const float *x, size_t n, float a, float b,
                         float *y) {
  __m256 av = _mm256_set1_ps(a), bv = _mm256_set1_ps(b);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), av), bv));
  for (; i < n; i++) y[i] = x[i] * a + b;
}
