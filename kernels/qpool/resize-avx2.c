/* AVX2 uint8 bilinear Resize (qpool/resize.h): per output pixel the four
 * corner weights are broadcast and 8 channels at a time are widened to
 * int32, weighted with vpmulld and summed (the reference's exact integer),
 * then converted and requantized lane by lane; the last c % 8 channels
 * through partial loads and stores. */
#include <immintrin.h>

#include "qelt/qelt-avx2.h"
#include "qpool/resize.h"
#include "ref/resize_ref.h"

typedef struct corners {
  const uint8_t *p[4];
  __m256i w[4];
} corners;

QI_AVX2_INLINE __m256i weigh8(__m256i v0, __m256i v1, __m256i v2, __m256i v3,
                              const corners *k, __m256i bias, __m256 m,
                              const qi_avx2_out *o) {
  __m256i acc = _mm256_add_epi32(_mm256_mullo_epi32(v0, k->w[0]),
                                 _mm256_mullo_epi32(v1, k->w[1]));
  acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v2, k->w[2]));
  acc = _mm256_add_epi32(acc, _mm256_mullo_epi32(v3, k->w[3]));
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, bias)), m);
  return qi_avx2_finish(v, o);
}

QI_AVX2_INLINE __m256i block8(const corners *k, size_t ch, __m256i bias,
                              __m256 m, const qi_avx2_out *o) {
  return weigh8(qi_avx2_load8_u32(k->p[0] + ch),
                qi_avx2_load8_u32(k->p[1] + ch),
                qi_avx2_load8_u32(k->p[2] + ch),
                qi_avx2_load8_u32(k->p[3] + ch), k, bias, m, o);
}

static void pixel(size_t c, const corners *k, __m256i bias, __m256 m,
                  const qi_avx2_out *o, uint8_t *y) {
  size_t ch = 0;
  for (; ch + 32 <= c; ch += 32)
    _mm256_storeu_si256(
        (__m256i *)(y + ch),
        qi_avx2_pack32(block8(k, ch, bias, m, o), block8(k, ch + 8, bias, m, o),
                       block8(k, ch + 16, bias, m, o),
                       block8(k, ch + 24, bias, m, o)));
  for (; ch + 8 <= c; ch += 8)
    _mm_storel_epi64((__m128i *)(y + ch),
                     qi_avx2_pack8(block8(k, ch, bias, m, o)));
  if (ch < c) {
    size_t n = c - ch;
    __m256i r =
        weigh8(qi_avx2_load_partial8_u32(k->p[0] + ch, n),
               qi_avx2_load_partial8_u32(k->p[1] + ch, n),
               qi_avx2_load_partial8_u32(k->p[2] + ch, n),
               qi_avx2_load_partial8_u32(k->p[3] + ch, n), k, bias, m, o);
    qi_avx2_store_partial8(y + ch, qi_avx2_pack8(r), n);
  }
}

void qi_u8_resize_bilinear__avx2(const qi_u8_resize_geom *g,
                                 const qi_resize_linear_axis *ay,
                                 const qi_resize_linear_axis *ax,
                                 const qi_u8_resize_params *p, const uint8_t *x,
                                 uint8_t *y, size_t oh0, size_t oh1) {
  qi_avx2_out o = qi_avx2_out_make(&p->out);
  __m256i bias = _mm256_set1_epi32(p->zx << (2 * QI_RESIZE_WBITS));
  __m256 m = _mm256_set1_ps(p->mult);
  for (size_t oh = oh0; oh < oh1; oh++) {
    const uint8_t *r0 = x + ay->i0[oh] * g->in_w * g->x_pix;
    const uint8_t *r1 = x + ay->i1[oh] * g->in_w * g->x_pix;
    for (size_t ow = 0; ow < g->out_w; ow++) {
      int32_t w[4];
      qi_resize_corner_weights(ay->w[oh], ax->w[ow], w);
      corners k;
      k.p[0] = r0 + ax->i0[ow] * g->x_pix;
      k.p[1] = r0 + ax->i1[ow] * g->x_pix;
      k.p[2] = r1 + ax->i0[ow] * g->x_pix;
      k.p[3] = r1 + ax->i1[ow] * g->x_pix;
      for (int i = 0; i < 4; i++) k.w[i] = _mm256_set1_epi32(w[i]);
      pixel(g->c, &k, bias, m, &o, y + (oh * g->out_w + ow) * g->y_pix);
    }
  }
}
