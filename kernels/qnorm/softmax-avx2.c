/* AVX2 uint8 Softmax (qnorm/qnorm.h). The row maximum with vpmaxub; the
 * exponentials by vgatherdps from the 256-entry table; the sum in 8 float
 * lanes, element i in lane i % 8 exactly as the scalar kernel orders it
 * (a short last group adds 0.0f to the lanes it lacks, which changes
 * nothing); then the scalar kernel's lane tree and r = my / s, and
 * y = e * r with the output rule. */
#include <immintrin.h>
#include <string.h>

#include "qelt/qelt-avx2.h"
#include "qnorm/qnorm.h"

static uint8_t row_max(const uint8_t *x, size_t n) {
  __m256i m = _mm256_setzero_si256();
  size_t i = 0;
  for (; i + 32 <= n; i += 32)
    m = _mm256_max_epu8(m, _mm256_loadu_si256((const __m256i *)(x + i)));
  if (i < n) { /* zero padding cannot raise a maximum of bytes */
    uint8_t t[32] = {0};
    memcpy(t, x + i, n - i);
    m = _mm256_max_epu8(m, _mm256_loadu_si256((const __m256i *)t));
  }
  __m128i h =
      _mm_max_epu8(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
  h = _mm_max_epu8(h, _mm_srli_si128(h, 8));
  h = _mm_max_epu8(h, _mm_srli_si128(h, 4));
  h = _mm_max_epu8(h, _mm_srli_si128(h, 2));
  h = _mm_max_epu8(h, _mm_srli_si128(h, 1));
  return (uint8_t)_mm_cvtsi128_si32(h);
}

/* Lane mask of the first `cnt` (< 8) lanes. */
static __m256 first_lanes(size_t cnt) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_castsi256_ps(
      _mm256_cmpgt_epi32(_mm256_set1_epi32((int)cnt), lane));
}

/* table[qm - x[i]] for the 8 bytes of xi (already zero-extended). */
static inline __m256 exps8(const float *t, __m256i qm, __m256i xi) {
  return _mm256_i32gather_ps(t, _mm256_sub_epi32(qm, xi), 4);
}

void qi_u8_softmax__avx2(size_t rows, size_t n, const uint8_t *x, void *y,
                         const qi_u8_softmax_params *p) {
  const float *t = p->table;
  const qi_avx2_out o = qi_avx2_out_make(&p->out);
  const size_t nfull = n & ~(size_t)7, tail = n - nfull;
  const __m256 tail_mask = first_lanes(tail);
  for (size_t r = 0; r < rows; r++, x += n) {
    const __m256i qm = _mm256_set1_epi32(row_max(x, n));
    __m256 acc = _mm256_setzero_ps();
    for (size_t i = 0; i < nfull; i += 8)
      acc = _mm256_add_ps(acc, exps8(t, qm, qi_avx2_load8_u32(x + i)));
    __m256 etail = _mm256_setzero_ps();
    if (tail) {
      /* Lanes past the row index table[qm] (valid) and are masked off. */
      __m256i xi = qi_avx2_load_partial8_u32(x + nfull, tail);
      etail = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), t,
                                       _mm256_sub_epi32(qm, xi), tail_mask, 4);
      acc = _mm256_add_ps(acc, etail);
    }
    float l[8];
    _mm256_storeu_ps(l, acc);
    const __m256 s = _mm256_set1_ps(p->my / qi_u8_softmax_lane_total(l));
    if (p->out_f32) {
      float *yr = (float *)y + r * n;
      for (size_t i = 0; i < nfull; i += 8)
        _mm256_storeu_ps(
            yr + i, _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i)), s));
      if (tail) {
        float tmp[8];
        _mm256_storeu_ps(tmp, _mm256_mul_ps(etail, s));
        memcpy(yr + nfull, tmp, tail * sizeof(float));
      }
      continue;
    }
    uint8_t *yr = (uint8_t *)y + r * n;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
      __m256i v0 = qi_avx2_finish(
          _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i)), s), &o);
      __m256i v1 = qi_avx2_finish(
          _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i + 8)), s), &o);
      __m256i v2 = qi_avx2_finish(
          _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i + 16)), s), &o);
      __m256i v3 = qi_avx2_finish(
          _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i + 24)), s), &o);
      _mm256_storeu_si256((__m256i *)(yr + i), qi_avx2_pack32(v0, v1, v2, v3));
    }
    for (; i < nfull; i += 8) {
      __m256i v = qi_avx2_finish(
          _mm256_mul_ps(exps8(t, qm, qi_avx2_load8_u32(x + i)), s), &o);
      _mm_storel_epi64((__m128i *)(yr + i), qi_avx2_pack8(v));
    }
    if (tail) {
      __m256i v = qi_avx2_finish(_mm256_mul_ps(etail, s), &o);
      qi_avx2_store_partial8(yr + nfull, qi_avx2_pack8(v), tail);
    }
  }
}
