/* AVX2 + FMA + F16C 6x16 microkernel with fp16 weights: per k two
 * vcvtph2ps of the weight row (16 halves), six A broadcasts and twelve
 * FMAs into 12 ymm accumulators; see fp16.h. */
#include <immintrin.h>

#include "fp16/fp16.h"

#define ROW_FMA(r)                              \
  do {                                          \
    __m256 av = _mm256_broadcast_ss(a + (r));   \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0); \
    c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1); \
  } while (0)

static inline void store_row(float *ci, __m256 v0, __m256 v1, int accumulate) {
  if (accumulate) {
    v0 = _mm256_add_ps(_mm256_loadu_ps(ci), v0);
    v1 = _mm256_add_ps(_mm256_loadu_ps(ci + 8), v1);
  }
  _mm256_storeu_ps(ci, v0);
  _mm256_storeu_ps(ci + 8, v1);
}

void qi_f16_gemm_ukernel_6x16__f16c(size_t kc, const float *a,
                                    const uint16_t *b, float *c, size_t ldc,
                                    size_t mr, int accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m256 c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (size_t p = 0; p < kc; p++, a += 6, b += 16) {
    __m256 b0 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)b));
    __m256 b1 = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + 8)));
    ROW_FMA(0);
    ROW_FMA(1);
    ROW_FMA(2);
    ROW_FMA(3);
    ROW_FMA(4);
    ROW_FMA(5);
  }
  store_row(c, c00, c01, accumulate);
  if (mr > 1) store_row(c + ldc, c10, c11, accumulate);
  if (mr > 2) store_row(c + 2 * ldc, c20, c21, accumulate);
  if (mr > 3) store_row(c + 3 * ldc, c30, c31, accumulate);
  if (mr > 4) store_row(c + 4 * ldc, c40, c41, accumulate);
  if (mr > 5) store_row(c + 5 * ldc, c50, c51, accumulate);
}
