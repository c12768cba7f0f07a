/* 256-entry byte table lookup on 32 bytes with vpshufb, shared by the
 * AVX2 table and Concat kernels; include only from AVX2 files.
 *
 * vpshufb(t, i) gives t[i & 15] for i in 0..127 and 0 when bit 7 of i is
 * set. With T_k the k-th 16-byte slice of the table and x = 16h + l, step
 * k (0..15) shuffles s_k by an index i_k that is x - 16k while that is
 * in 0..255, formed with wrapping byte subtraction for k <= 8 and
 * saturating signed subtraction (from i_8) after:
 *   x < 128:  i_k is non-negative (as int8) exactly for k = 0..h; for k
 *             up to 8 it stays >= -128, and saturation keeps it negative.
 *   x >= 128: i_0 is negative; from k = h - 7 on the wrapped i_k lands in
 *             0..127 and stays there until k = h.
 * So y = XOR of s_k[l] over k in 0..h (x < 128) or h-7..h (x >= 128), and
 *   s_0 = T_0,  s_k = T_{k-1} ^ T_k (1 <= k <= 7),
 *   s_k = T_{k-1} ^ T_k ^ s_{k-8} (8 <= k <= 15)
 * makes both sums telescope to T_h. */
#ifndef QI_KERNELS_QLUT_LUT_AVX2_H
#define QI_KERNELS_QLUT_LUT_AVX2_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

typedef struct qi_avx2_lut {
  __m256i s[16];
} qi_avx2_lut;

static inline __attribute__((always_inline)) void qi_avx2_lut_make(
    const uint8_t table[256], qi_avx2_lut *t) {
  __m256i prev = _mm256_setzero_si256();
  for (int k = 0; k < 16; k++) {
    __m256i tk = _mm256_broadcastsi128_si256(
        _mm_loadu_si128((const __m128i *)(table + 16 * k)));
    __m256i s = _mm256_xor_si256(prev, tk);
    if (k >= 8) s = _mm256_xor_si256(s, t->s[k - 8]);
    t->s[k] = s;
    prev = tk;
  }
}

/* The 16 shuffle indices do not depend on each other: i_k = x - 16k
 * (wrapping) for k <= 8, and i_k = i_8 - 16(k - 8) saturating for k > 8
 * (two saturating steps of 16 equal one of 32), so the shuffles issue in
 * parallel and their XOR is a tree rather than a chain. */
#define QI_AVX2_LUT_W(k) \
  _mm256_shuffle_epi8(t->s[k], _mm256_sub_epi8(x, _mm256_set1_epi8(16 * (k))))
#define QI_AVX2_LUT_S(k)       \
  _mm256_shuffle_epi8(t->s[k], \
                      _mm256_subs_epi8(x8, _mm256_set1_epi8(16 * ((k)-8))))

static inline __attribute__((always_inline)) __m256i qi_avx2_lut32(
    __m256i x, const qi_avx2_lut *t) {
  __m256i x8 = _mm256_sub_epi8(x, _mm256_set1_epi8((char)128));
  __m256i a =
      _mm256_xor_si256(_mm256_shuffle_epi8(t->s[0], x), QI_AVX2_LUT_W(1));
  __m256i b = _mm256_xor_si256(QI_AVX2_LUT_W(2), QI_AVX2_LUT_W(3));
  __m256i c = _mm256_xor_si256(QI_AVX2_LUT_W(4), QI_AVX2_LUT_W(5));
  __m256i d = _mm256_xor_si256(QI_AVX2_LUT_W(6), QI_AVX2_LUT_W(7));
  __m256i e =
      _mm256_xor_si256(_mm256_shuffle_epi8(t->s[8], x8), QI_AVX2_LUT_S(9));
  __m256i f = _mm256_xor_si256(QI_AVX2_LUT_S(10), QI_AVX2_LUT_S(11));
  __m256i g = _mm256_xor_si256(QI_AVX2_LUT_S(12), QI_AVX2_LUT_S(13));
  __m256i h = _mm256_xor_si256(QI_AVX2_LUT_S(14), QI_AVX2_LUT_S(15));
  a = _mm256_xor_si256(a, b);
  c = _mm256_xor_si256(c, d);
  e = _mm256_xor_si256(e, f);
  g = _mm256_xor_si256(g, h);
  return _mm256_xor_si256(_mm256_xor_si256(a, c), _mm256_xor_si256(e, g));
}

/* One row of c bytes: blocks of 32, the tail through a stack buffer. */
static inline __attribute__((always_inline)) void qi_avx2_lut_row(
    size_t c, const uint8_t *x, uint8_t *y, const qi_avx2_lut *t) {
  size_t j = 0;
  for (; j + 64 <= c; j += 64) {
    __m256i v0 = qi_avx2_lut32(_mm256_loadu_si256((const __m256i *)(x + j)), t);
    __m256i v1 =
        qi_avx2_lut32(_mm256_loadu_si256((const __m256i *)(x + j + 32)), t);
    _mm256_storeu_si256((__m256i *)(y + j), v0);
    _mm256_storeu_si256((__m256i *)(y + j + 32), v1);
  }
  for (; j + 32 <= c; j += 32)
    _mm256_storeu_si256(
        (__m256i *)(y + j),
        qi_avx2_lut32(_mm256_loadu_si256((const __m256i *)(x + j)), t));
  if (j < c) {
    uint8_t buf[32] = {0};
    memcpy(buf, x + j, c - j);
    _mm256_storeu_si256(
        (__m256i *)buf,
        qi_avx2_lut32(_mm256_loadu_si256((const __m256i *)buf), t));
    memcpy(y + j, buf, c - j);
  }
}

#endif
