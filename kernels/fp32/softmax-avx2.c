/* AVX2 softmax row kernels; see softmax.h. Eight floats per step; the last
 * n % 8 go through masked loads and stores so they get the same arithmetic
 * as the rest. No FMA: the scalar twin rounds every product and sum, and
 * so must this file to give the same bytes. */
#include <immintrin.h>
#include <stdint.h>

#include "fp32/expf_consts.h"
#include "fp32/softmax.h"

#define INLINE static inline __attribute__((always_inline))

/* All-ones in the first `rem` lanes (rem < 8). */
INLINE __m256i head_mask(size_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

INLINE __m256 exp_ps(__m256 x) {
  /* min/max return the second operand when one is NaN: NaN passes. */
  x = _mm256_min_ps(_mm256_set1_ps(QI_EXPF_HI), x);
  x = _mm256_max_ps(_mm256_set1_ps(QI_EXPF_LO), x);
  const __m256 magic = _mm256_set1_ps(QI_EXPF_ROUND_MAGIC);
  __m256 t = _mm256_add_ps(_mm256_mul_ps(x, _mm256_set1_ps(QI_EXPF_LOG2E)), magic);
  __m256 nf = _mm256_sub_ps(t, magic);
  __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
  __m256 r = _mm256_sub_ps(x, _mm256_mul_ps(nf, _mm256_set1_ps(QI_EXPF_LN2_HI)));
  r = _mm256_sub_ps(r, _mm256_mul_ps(nf, _mm256_set1_ps(QI_EXPF_LN2_LO)));
  __m256 p = _mm256_set1_ps(QI_EXPF_P0);
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(QI_EXPF_P1));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(QI_EXPF_P2));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(QI_EXPF_P3));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(QI_EXPF_P4));
  p = _mm256_add_ps(_mm256_mul_ps(p, r), _mm256_set1_ps(QI_EXPF_P5));
  __m256 y = _mm256_add_ps(_mm256_mul_ps(p, _mm256_mul_ps(r, r)), r);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

void qi_f32_exp__avx2(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_ps(_mm256_loadu_ps(x + i)));
  if (i < n) {
    __m256i m = head_mask(n - i);
    _mm256_maskstore_ps(y + i, m, exp_ps(_mm256_maskload_ps(x + i, m)));
  }
}

/* lo += e[0..4), hi += e[4..8), in double. */
INLINE void add_lanes(__m256d *lo, __m256d *hi, __m256 e) {
  *lo = _mm256_add_pd(*lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
  *hi = _mm256_add_pd(*hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
}

double qi_f32_softmax_exp_sum__avx2(const float *x, float m, float *y,
                                    size_t n) {
  __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
  __m256 mv = _mm256_set1_ps(m);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    if (y) _mm256_storeu_ps(y + i, e);
    add_lanes(&lo, &hi, e);
  }
  if (i < n) {
    __m256i mk = head_mask(n - i);
    __m256 e = exp_ps(_mm256_sub_ps(_mm256_maskload_ps(x + i, mk), mv));
    e = _mm256_and_ps(e, _mm256_castsi256_ps(mk)); /* adds +0 past the end */
    if (y) _mm256_maskstore_ps(y + i, mk, e);
    add_lanes(&lo, &hi, e);
  }
  double l[8];
  _mm256_storeu_pd(l, lo);
  _mm256_storeu_pd(l + 4, hi);
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

void qi_f32_scale__avx2(float *y, float s, size_t n) {
  __m256 sv = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), sv));
  if (i < n) {
    __m256i m = head_mask(n - i);
    _mm256_maskstore_ps(y + i, m, _mm256_mul_ps(_mm256_maskload_ps(y + i, m), sv));
  }
}

INLINE __m256 sub_f64_ps(__m256 x, __m256d c) {
  __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), c));
  __m128 hi = _mm256_cvtpd_ps(_mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), c));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

void qi_f32_sub_f64__avx2(const float *x, double c, float *y, size_t n) {
  __m256d cv = _mm256_set1_pd(c);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, sub_f64_ps(_mm256_loadu_ps(x + i), cv));
  if (i < n) {
    __m256i m = head_mask(n - i);
    _mm256_maskstore_ps(y + i, m, sub_f64_ps(_mm256_maskload_ps(x + i, m), cv));
  }
}
