/* AVX2 row kernels of QiQuantize / QiDequantize: the scalar operations of
 * qop_convert.h eight lanes at a time (divps, NaN -> 0, maxps, minps,
 * cvtps2dq, paddd; cvtdq2ps, mulps), the tail by the scalar kernel. */
#include <immintrin.h>

#include "ops/qop_convert.h"

void qi_qop_quantize_row__avx2(size_t n, const float *x, uint8_t *y,
                               size_t y_stride, float scale, int32_t zp) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256 lo = _mm256_set1_ps((float)(0 - zp));
  const __m256 hi = _mm256_set1_ps((float)(255 - zp));
  const __m256i vz = _mm256_set1_epi32(zp);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), vs);
    v = _mm256_and_ps(v, _mm256_cmp_ps(v, v, _CMP_ORD_Q));
    v = _mm256_max_ps(v, lo);
    v = _mm256_min_ps(v, hi);
    __m256i q = _mm256_add_epi32(_mm256_cvtps_epi32(v), vz);
    /* 0..255 in every lane: the saturating packs are exact. */
    __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q),
                                _mm256_extracti128_si256(q, 1));
    __m128i b = _mm_packus_epi16(w, w);
    if (y_stride == 1) {
      _mm_storel_epi64((__m128i *)(void *)(y + i), b);
    } else {
      uint8_t t[16];
      _mm_storeu_si128((__m128i *)(void *)t, b);
      for (int k = 0; k < 8; k++) y[(i + (size_t)k) * y_stride] = t[k];
    }
  }
  if (i < n)
    qi_qop_quantize_row__scalar(n - i, x + i, y + i * y_stride, y_stride,
                                scale, zp);
}

void qi_qop_dequantize_row__avx2(size_t n, const uint8_t *q, size_t q_stride,
                                 float *y, float scale, int32_t zp) {
  const __m256 vs = _mm256_set1_ps(scale);
  const __m256i vz = _mm256_set1_epi32(zp);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i b;
    if (q_stride == 1) {
      b = _mm_loadl_epi64((const __m128i *)(const void *)(q + i));
    } else {
      uint8_t t[16] = {0};
      for (int k = 0; k < 8; k++) t[k] = q[(i + (size_t)k) * q_stride];
      b = _mm_loadu_si128((const __m128i *)(const void *)t);
    }
    __m256i v = _mm256_sub_epi32(_mm256_cvtepu8_epi32(b), vz);
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), vs));
  }
  if (i < n)
    qi_qop_dequantize_row__scalar(n - i, q + i * q_stride, q_stride, y + i,
                                  scale, zp);
}
