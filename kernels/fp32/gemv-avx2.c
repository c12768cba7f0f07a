/* AVX2 matrix-vector products; see gemv.h. rows: four rows of W at a time,
 * each dotted with x in 8-wide partial sums, reduced at the end. cols:
 * 32 columns of B at a time in registers, one broadcast of x[p] per row of
 * B; narrower tails go 8 columns, then one at a time. */
#include <immintrin.h>

#include "fp32/gemv.h"

static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

static inline void put(float *y, float v, float alpha, int accumulate) {
  *y = accumulate ? *y + alpha * v : alpha * v;
}

void qi_f32_gemv_rows__avx2(int64_t n, int64_t k, float alpha,
                            const float *x, const float *w, int64_t ldw,
                            float *y, int accumulate) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    const float *w0 = w + j * ldw, *w1 = w0 + ldw, *w2 = w1 + ldw, *w3 = w2 + ldw;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    int64_t p = 0;
    for (; p + 8 <= k; p += 8) {
      __m256 xv = _mm256_loadu_ps(x + p);
      a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w0 + p), a0);
      a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w1 + p), a1);
      a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w2 + p), a2);
      a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(w3 + p), a3);
    }
    float s0 = hsum(a0), s1 = hsum(a1), s2 = hsum(a2), s3 = hsum(a3);
    for (; p < k; p++) {
      s0 += x[p] * w0[p];
      s1 += x[p] * w1[p];
      s2 += x[p] * w2[p];
      s3 += x[p] * w3[p];
    }
    put(y + j, s0, alpha, accumulate);
    put(y + j + 1, s1, alpha, accumulate);
    put(y + j + 2, s2, alpha, accumulate);
    put(y + j + 3, s3, alpha, accumulate);
  }
  for (; j < n; j++) {
    const float *wj = w + j * ldw;
    __m256 a0 = _mm256_setzero_ps();
    int64_t p = 0;
    for (; p + 8 <= k; p += 8)
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + p), _mm256_loadu_ps(wj + p), a0);
    float s = hsum(a0);
    for (; p < k; p++) s += x[p] * wj[p];
    put(y + j, s, alpha, accumulate);
  }
}

void qi_f32_gemv_cols__avx2(int64_t n, int64_t k, float alpha,
                            const float *x, const float *b, int64_t ldb,
                            float *y, int accumulate) {
  const __m256 av = _mm256_set1_ps(alpha);
  int64_t j = 0;
  for (; j + 32 <= n; j += 32) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t p = 0; p < k; p++) {
      const float *bp = b + p * ldb + j;
      __m256 xv = _mm256_broadcast_ss(x + p);
      a0 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp), a0);
      a1 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 8), a1);
      a2 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 16), a2);
      a3 = _mm256_fmadd_ps(xv, _mm256_loadu_ps(bp + 24), a3);
    }
    __m256 r[4] = {a0, a1, a2, a3};
    for (int q = 0; q < 4; q++) {
      __m256 v = _mm256_mul_ps(av, r[q]);
      if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(y + j + 8 * q), v);
      _mm256_storeu_ps(y + j + 8 * q, v);
    }
  }
  for (; j + 8 <= n; j += 8) {
    __m256 a0 = _mm256_setzero_ps();
    for (int64_t p = 0; p < k; p++)
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(x + p),
                           _mm256_loadu_ps(b + p * ldb + j), a0);
    __m256 v = _mm256_mul_ps(av, a0);
    if (accumulate) v = _mm256_add_ps(_mm256_loadu_ps(y + j), v);
    _mm256_storeu_ps(y + j, v);
  }
  for (; j < n; j++) {
    float s = 0.0f;
    for (int64_t p = 0; p < k; p++) s += x[p] * b[p * ldb + j];
    put(y + j, s, alpha, accumulate);
  }
}
