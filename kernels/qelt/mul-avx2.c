/* AVX2 uint8 Mul (qelt/qelt.h): 32 elements per block. The integer product
 * (a - za) * (b - zb) is formed as the float product of the two exact
 * differences: its magnitude is at most 255 * 255 < 2^24, so the float
 * product is exact and equals the reference's (float)prod. */
#include "qelt/qelt-avx2.h"
#include "qelt/qelt.h"

/* (float)(q - z) for the 8 bytes at p. */
QI_AVX2_INLINE __m256 diff8(const uint8_t *p, __m256i z) {
  return _mm256_cvtepi32_ps(_mm256_sub_epi32(qi_avx2_load8_u32(p), z));
}

/* 8 outputs; fb is b's float difference (loaded, or the scalar's). */
QI_AVX2_INLINE __m256i mul8(const uint8_t *a, __m256 fb,
                            const qi_avx2_binary *k) {
  __m256 v = _mm256_mul_ps(_mm256_mul_ps(diff8(a, k->za), fb), k->ma);
  return qi_avx2_finish(v, &k->out);
}

QI_AVX2_INLINE void mul_block(const uint8_t *a, const uint8_t *b, uint8_t *y,
                              const qi_avx2_binary *k) {
  __m256i r0 = mul8(a, diff8(b, k->zb), k);
  __m256i r1 = mul8(a + 8, diff8(b + 8, k->zb), k);
  __m256i r2 = mul8(a + 16, diff8(b + 16, k->zb), k);
  __m256i r3 = mul8(a + 24, diff8(b + 24, k->zb), k);
  _mm256_storeu_si256((__m256i *)y, qi_avx2_pack32(r0, r1, r2, r3));
}

QI_AVX2_INLINE void mul_block_scalar_b(const uint8_t *a, const uint8_t *b,
                                       uint8_t *y, const qi_avx2_binary *k) {
  (void)b;
  __m256i r0 = mul8(a, k->bconst, k), r1 = mul8(a + 8, k->bconst, k);
  __m256i r2 = mul8(a + 16, k->bconst, k), r3 = mul8(a + 24, k->bconst, k);
  _mm256_storeu_si256((__m256i *)y, qi_avx2_pack32(r0, r1, r2, r3));
}

void qi_u8_mul__avx2(size_t rows, size_t c, const uint8_t *a, const uint8_t *b,
                     qi_u8_bcast bcast, uint8_t *y,
                     const qi_u8_binary_params *p) {
  qi_avx2_binary k;
  k.za = _mm256_set1_epi32(p->za);
  k.zb = _mm256_set1_epi32(p->zb);
  k.ma = _mm256_set1_ps(p->ma);
  k.mb = _mm256_set1_ps(p->mb);
  k.bconst = _mm256_set1_ps(
      bcast == QI_U8_BCAST_SCALAR ? (float)((int32_t)b[0] - p->zb) : 0.0f);
  k.out = qi_avx2_out_make(&p->out);
  qi_avx2_binary_drive(rows, c, a, b, bcast, y, &k, mul_block,
                       mul_block_scalar_b);
}
