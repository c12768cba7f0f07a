/* AVX2 2-D pooling passes; see pool.h.
 *
 * Stride 2 along the row: for 8 outputs o..o+7 and tap j the 16 floats at
 * t + 2o + j hold the wanted ones at even positions; vshufps picks them as
 * [o0 o1 o4 o5 | o2 o3 o6 o7] and, since every tap comes out in the same
 * order, one vpermpd after the last tap restores it. Doubles the same way
 * with vunpcklpd, 4 outputs at a time. */
#include <immintrin.h>
#include <math.h>

#include "fp32/pool.h"

#define INLINE static inline __attribute__((always_inline))

/* All-ones in the first `rem` lanes (rem < 8). */
INLINE __m256i head_mask(size_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* max with NaN sticking from either side: vmaxps returns its second operand
 * (m) on NaN or equal values; a NaN v makes the lane all-ones, a NaN. */
INLINE __m256 max_nan(__m256 m, __m256 v) {
  return _mm256_or_ps(_mm256_max_ps(v, m), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

INLINE __m256 vmax_block(const float *x, size_t stride, size_t nrows) {
  __m256 m = _mm256_loadu_ps(x);
  for (size_t r = 1; r < nrows; r++) m = max_nan(m, _mm256_loadu_ps(x + r * stride));
  return m;
}

void qi_f32_pool_vmax__avx2(const float *x, size_t stride, size_t nrows,
                            size_t w, float *t) {
  if (nrows == 0) {
    for (size_t i = 0; i < w; i++) t[i] = -INFINITY;
    return;
  }
  size_t i = 0;
  for (; i + 8 <= w; i += 8) _mm256_storeu_ps(t + i, vmax_block(x + i, stride, nrows));
  if (i < w) {
    __m256i mk = head_mask(w - i);
    __m256 m = _mm256_maskload_ps(x + i, mk);
    for (size_t r = 1; r < nrows; r++)
      m = max_nan(m, _mm256_maskload_ps(x + r * stride + i, mk));
    _mm256_maskstore_ps(t + i, mk, m);
  }
}

void qi_f32_pool_vsum__avx2(const float *x, size_t stride, size_t nrows,
                            size_t w, double *t) {
  if (nrows == 0) {
    for (size_t i = 0; i < w; i++) t[i] = 0.0;
    return;
  }
  size_t i = 0;
  for (; i + 4 <= w; i += 4) {
    __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    for (size_t r = 1; r < nrows; r++)
      a = _mm256_add_pd(a, _mm256_cvtps_pd(_mm_loadu_ps(x + r * stride + i)));
    _mm256_storeu_pd(t + i, a);
  }
  for (; i < w; i++) {
    double a = (double)x[i];
    for (size_t r = 1; r < nrows; r++) a += (double)x[r * stride + i];
    t[i] = a;
  }
}

/* Taps of 8 stride-2 outputs at t, in the order [o0 o1 o4 o5 o2 o3 o6 o7]. */
INLINE __m256 even8(const float *t) {
  return _mm256_shuffle_ps(_mm256_loadu_ps(t), _mm256_loadu_ps(t + 8),
                           _MM_SHUFFLE(2, 0, 2, 0));
}

INLINE __m256 hmax_block(const float *t, size_t k, size_t s) {
  if (s == 1) {
    __m256 m = _mm256_loadu_ps(t);
    for (size_t j = 1; j < k; j++) m = max_nan(m, _mm256_loadu_ps(t + j));
    return m;
  }
  __m256 m = even8(t);
  for (size_t j = 1; j < k; j++) m = max_nan(m, even8(t + j));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(m), _MM_SHUFFLE(3, 1, 2, 0)));
}

void qi_f32_pool_hmax__avx2(const float *t, size_t n, size_t k, size_t s,
                            float *y) {
  if (s > 2) {
    qi_f32_pool_hmax__scalar(t, n, k, s, y);
    return;
  }
  size_t o = 0;
  for (; o + 8 <= n; o += 8) _mm256_storeu_ps(y + o, hmax_block(t + o * s, k, s));
  if (o < n) _mm256_maskstore_ps(y + o, head_mask(n - o), hmax_block(t + o * s, k, s));
}

/* Taps of 4 stride-2 outputs at t, in the order [o0 o2 o1 o3]. */
INLINE __m256d even4(const double *t) {
  return _mm256_unpacklo_pd(_mm256_loadu_pd(t), _mm256_loadu_pd(t + 4));
}

void qi_f32_pool_havg__avx2(const double *t, size_t n, size_t k, size_t s,
                            const double *div, float *y) {
  if (s > 2) {
    qi_f32_pool_havg__scalar(t, n, k, s, div, y);
    return;
  }
  size_t o = 0;
  for (; o + 4 <= n; o += 4) {
    const double *w = t + o * s;
    __m256d a;
    if (s == 1) {
      a = _mm256_loadu_pd(w);
      for (size_t j = 1; j < k; j++) a = _mm256_add_pd(a, _mm256_loadu_pd(w + j));
    } else {
      a = even4(w);
      for (size_t j = 1; j < k; j++) a = _mm256_add_pd(a, even4(w + j));
      a = _mm256_permute4x64_pd(a, _MM_SHUFFLE(3, 1, 2, 0));
    }
    _mm_storeu_ps(y + o, _mm256_cvtpd_ps(_mm256_div_pd(a, _mm256_loadu_pd(div + o))));
  }
  if (o < n) qi_f32_pool_havg__scalar(t + o * s, n - o, k, s, div + o, y + o);
}
