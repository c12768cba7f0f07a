/* AVX2 uint8 Add (qelt/qelt.h): 32 elements per block, each lane doing the
 * float operations of qi_u8_add_ref in its order. */
#include "qelt/qelt-avx2.h"
#include "qelt/qelt.h"
#include "ref/qelt_ref.h"

/* (float)(q - z) * m for the 8 bytes at p. */
QI_AVX2_INLINE __m256 term8(const uint8_t *p, __m256i z, __m256 m) {
  __m256i d = _mm256_sub_epi32(qi_avx2_load8_u32(p), z);
  return _mm256_mul_ps(_mm256_cvtepi32_ps(d), m);
}

/* 8 outputs; b8 is the b term (loaded, or the scalar's). */
QI_AVX2_INLINE __m256i add8(const uint8_t *a, __m256 b8,
                            const qi_avx2_binary *k) {
  return qi_avx2_finish(_mm256_add_ps(term8(a, k->za, k->ma), b8), &k->out);
}

QI_AVX2_INLINE void add_block(const uint8_t *a, const uint8_t *b, uint8_t *y,
                              const qi_avx2_binary *k) {
  __m256i r0 = add8(a, term8(b, k->zb, k->mb), k);
  __m256i r1 = add8(a + 8, term8(b + 8, k->zb, k->mb), k);
  __m256i r2 = add8(a + 16, term8(b + 16, k->zb, k->mb), k);
  __m256i r3 = add8(a + 24, term8(b + 24, k->zb, k->mb), k);
  _mm256_storeu_si256((__m256i *)y, qi_avx2_pack32(r0, r1, r2, r3));
}

QI_AVX2_INLINE void add_block_scalar_b(const uint8_t *a, const uint8_t *b,
                                       uint8_t *y, const qi_avx2_binary *k) {
  (void)b;
  __m256i r0 = add8(a, k->bconst, k), r1 = add8(a + 8, k->bconst, k);
  __m256i r2 = add8(a + 16, k->bconst, k), r3 = add8(a + 24, k->bconst, k);
  _mm256_storeu_si256((__m256i *)y, qi_avx2_pack32(r0, r1, r2, r3));
}

void qi_u8_add__avx2(size_t rows, size_t c, const uint8_t *a, const uint8_t *b,
                     qi_u8_bcast bcast, uint8_t *y,
                     const qi_u8_binary_params *p) {
  qi_avx2_binary k;
  k.za = _mm256_set1_epi32(p->za);
  k.zb = _mm256_set1_epi32(p->zb);
  k.ma = _mm256_set1_ps(p->ma);
  k.mb = _mm256_set1_ps(p->mb);
  k.bconst = _mm256_set1_ps(
      bcast == QI_U8_BCAST_SCALAR ? qi_u8_add_term(b[0], p->zb, p->mb) : 0.0f);
  k.out = qi_avx2_out_make(&p->out);
  qi_avx2_binary_drive(rows, c, a, b, bcast, y, &k, add_block,
                       add_block_scalar_b);
}
