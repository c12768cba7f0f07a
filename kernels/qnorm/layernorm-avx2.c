/* AVX2 uint8 LayerNorm (qnorm/qnorm.h). The sums: vpsadbw for sum q and
 * vpmaddwd of the widened bytes for sum q^2 (int32 lanes, moved to int64
 * before they could overflow), then s1 = sum q - n zx and
 * s2 = sum q^2 - 2 zx sum q + n zx^2: the same integers as the scalar
 * kernel's sums of differences. The per-element formula runs 8 lanes at a
 * time in the scalar kernel's order (cvtdq2ps, subps, mulps, mulps, addps
 * and the output rule). */
#include <immintrin.h>
#include <string.h>

#include "qelt/qelt-avx2.h"
#include "qnorm/qnorm.h"

/* 32-byte blocks between flushes of the int32 square sums: each lane adds
 * at most 4 * 255^2 = 260100 per block, and 4096 * 260100 < 2^31. */
#define SQ_FLUSH 4096

static inline void sums32(__m256i v, __m256i *s, __m256i *sq) {
  const __m256i z = _mm256_setzero_si256();
  *s = _mm256_add_epi64(*s, _mm256_sad_epu8(v, z));
  __m256i lo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(v));
  __m256i hi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(v, 1));
  *sq = _mm256_add_epi32(*sq, _mm256_add_epi32(_mm256_madd_epi16(lo, lo),
                                               _mm256_madd_epi16(hi, hi)));
}

static inline __m256i widen_add(__m256i acc64, __m256i sq32) {
  acc64 = _mm256_add_epi64(acc64,
                           _mm256_cvtepu32_epi64(_mm256_castsi256_si128(sq32)));
  return _mm256_add_epi64(
      acc64, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sq32, 1)));
}

static inline int64_t hsum64(__m256i v) {
  int64_t t[4];
  _mm256_storeu_si256((__m256i *)t, v);
  return (t[0] + t[1]) + (t[2] + t[3]);
}

/* Exact sum q and sum q^2 of a row. */
static void row_sums(const uint8_t *x, size_t n, int64_t *sum, int64_t *sumsq) {
  __m256i s = _mm256_setzero_si256(), sq64 = s, sq = s;
  size_t i = 0, blocks = 0;
  for (; i + 32 <= n; i += 32) {
    sums32(_mm256_loadu_si256((const __m256i *)(x + i)), &s, &sq);
    if (++blocks == SQ_FLUSH) {
      sq64 = widen_add(sq64, sq);
      sq = _mm256_setzero_si256();
      blocks = 0;
    }
  }
  if (i < n) { /* zero bytes add nothing to either sum */
    uint8_t t[32] = {0};
    memcpy(t, x + i, n - i);
    sums32(_mm256_loadu_si256((const __m256i *)t), &s, &sq);
  }
  *sum = hsum64(s);
  *sumsq = hsum64(widen_add(sq64, sq));
}

/* The formula on 8 lanes: xi zero-extended bytes, g and b 8 floats. */
static inline __m256 norm8(__m256i xi, __m256i zx, __m256 mq, __m256 a,
                           __m256 g, __m256 b) {
  __m256 t = _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(xi, zx)), mq);
  t = _mm256_mul_ps(t, a);
  t = _mm256_mul_ps(t, g);
  return _mm256_add_ps(t, b);
}

void qi_u8_layernorm__avx2(size_t rows, size_t n, const uint8_t *x, void *y,
                           const qi_u8_layernorm_params *p) {
  const qi_avx2_out o = qi_avx2_out_make(&p->out);
  const __m256i zx = _mm256_set1_epi32(p->zx);
  const size_t nfull = n & ~(size_t)7, tail = n - nfull;
  const int64_t z = p->zx, nn = (int64_t)n;
  for (size_t r = 0; r < rows; r++, x += n) {
    int64_t sum, sumsq;
    row_sums(x, n, &sum, &sumsq);
    int64_t s1 = sum - nn * z, s2 = sumsq - 2 * z * sum + nn * z * z;
    float mqf, af;
    qi_u8_layernorm_row_coeffs(s1, s2, n, p, &mqf, &af);
    const __m256 mq = _mm256_set1_ps(mqf), a = _mm256_set1_ps(af);
    float *yf = p->out_f32 ? (float *)y + r * n : NULL;
    uint8_t *yb = p->out_f32 ? NULL : (uint8_t *)y + r * n;
    for (size_t i = 0; i < nfull; i += 8) {
      __m256 t = norm8(qi_avx2_load8_u32(x + i), zx, mq, a,
                       _mm256_loadu_ps(p->g + i), _mm256_loadu_ps(p->b + i));
      if (yf)
        _mm256_storeu_ps(yf + i, t);
      else
        _mm_storel_epi64((__m128i *)(yb + i),
                         qi_avx2_pack8(qi_avx2_finish(t, &o)));
    }
    if (tail) {
      float g[8] = {0}, b[8] = {0};
      memcpy(g, p->g + nfull, tail * sizeof(float));
      memcpy(b, p->b + nfull, tail * sizeof(float));
      __m256 t = norm8(qi_avx2_load_partial8_u32(x + nfull, tail), zx, mq, a,
                       _mm256_loadu_ps(g), _mm256_loadu_ps(b));
      if (yf) {
        float tmp[8];
        _mm256_storeu_ps(tmp, t);
        memcpy(yf + nfull, tmp, tail * sizeof(float));
      } else {
        qi_avx2_store_partial8(yb + nfull, qi_avx2_pack8(qi_avx2_finish(t, &o)),
                               tail);
      }
    }
  }
}
