/* AVX2 uint8 AveragePool and GlobalAveragePool (qpool/qpool.h). Channel
 * blocks of 32 sum in uint16 lanes (vpmovzxbw, vpaddw), flushed into int32
 * every 257 taps (257 * 255 = 65535 cannot wrap); blocks of 8 and a partial
 * block of c % 8 (loaded and stored through memcpy) sum in int32. Integer
 * sums are exact in any order, then the reference's per-window multiplier
 * and the output rule run lane by lane. */
#include <immintrin.h>

#include "qelt/qelt-avx2.h"
#include "qpool/qpool.h"
#include "ref/qpool_ref.h"

/* Taps a uint16 lane can sum without wrapping. */
enum { U16_TAPS = 257 };

/* The window's input taps: nh rows of nw, the first at p0, rows rs bytes
 * apart and taps in a row cs bytes apart. */
typedef struct taps {
  const uint8_t *p0;
  size_t nh, nw, rs, cs;
} taps;

/* acc - bias, times m, through the output rule. */
QI_AVX2_INLINE __m256i finish8(__m256i acc, __m256i bias, __m256 m,
                               const qi_avx2_out *o) {
  __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(acc, bias)), m);
  return qi_avx2_finish(v, o);
}

QI_AVX2_INLINE void flush16(__m256i *lo, __m256i *hi, __m256i a[4]) {
  a[0] = _mm256_add_epi32(a[0],
                          _mm256_cvtepu16_epi32(_mm256_castsi256_si128(*lo)));
  a[1] = _mm256_add_epi32(
      a[1], _mm256_cvtepu16_epi32(_mm256_extracti128_si256(*lo, 1)));
  a[2] = _mm256_add_epi32(a[2],
                          _mm256_cvtepu16_epi32(_mm256_castsi256_si128(*hi)));
  a[3] = _mm256_add_epi32(
      a[3], _mm256_cvtepu16_epi32(_mm256_extracti128_si256(*hi, 1)));
  *lo = *hi = _mm256_setzero_si256();
}

/* Adds the 32 channels at p to the uint16 sums lo (channels 0-15) and hi
 * (16-31). */
QI_AVX2_INLINE void add32(const uint8_t *p, __m256i *lo, __m256i *hi) {
  *lo = _mm256_add_epi16(
      *lo, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p)));
  *hi = _mm256_add_epi16(
      *hi, _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(p + 16))));
}

/* Sums of 32 channels starting at byte offset ch of every tap. */
static void sum32(const taps *t, size_t ch, __m256i a[4]) {
  __m256i lo = _mm256_setzero_si256(), hi = lo;
  a[0] = a[1] = a[2] = a[3] = lo;
  const uint8_t *pr = t->p0 + ch;
  if (t->nh * t->nw <= U16_TAPS) { /* every pooling window in practice */
    for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
      const uint8_t *p = pr;
      for (size_t j = 0; j < t->nw; j++, p += t->cs) add32(p, &lo, &hi);
    }
  } else {
    size_t n = 0;
    for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
      const uint8_t *p = pr;
      for (size_t j = 0; j < t->nw; j++, p += t->cs) {
        add32(p, &lo, &hi);
        if (++n == U16_TAPS) {
          flush16(&lo, &hi, a);
          n = 0;
        }
      }
    }
  }
  flush16(&lo, &hi, a);
}

/* Sums of nc <= 8 channels at offset ch. */
static __m256i sum8(const taps *t, size_t ch, size_t nc) {
  __m256i a = _mm256_setzero_si256();
  const uint8_t *pr = t->p0 + ch;
  for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
    const uint8_t *p = pr;
    for (size_t j = 0; j < t->nw; j++, p += t->cs)
      a = _mm256_add_epi32(
          a, nc == 8 ? qi_avx2_load8_u32(p) : qi_avx2_load_partial8_u32(p, nc));
  }
  return a;
}

static void avg_pixel(size_t c, const taps *t, int32_t zx, float mult,
                      const qi_avx2_out *o, uint8_t *y) {
  int32_t n = (int32_t)(t->nh * t->nw);
  __m256i bias = _mm256_set1_epi32(n * zx);
  __m256 m = _mm256_set1_ps(mult);
  size_t ch = 0;
  for (; ch + 32 <= c; ch += 32) {
    __m256i a[4];
    sum32(t, ch, a);
    _mm256_storeu_si256(
        (__m256i *)(y + ch),
        qi_avx2_pack32(finish8(a[0], bias, m, o), finish8(a[1], bias, m, o),
                       finish8(a[2], bias, m, o), finish8(a[3], bias, m, o)));
  }
  for (; ch < c; ch += 8) {
    size_t nc = c - ch < 8 ? c - ch : 8;
    __m128i b = qi_avx2_pack8(finish8(sum8(t, ch, nc), bias, m, o));
    if (nc == 8)
      _mm_storel_epi64((__m128i *)(y + ch), b);
    else
      qi_avx2_store_partial8(y + ch, b, nc);
  }
}

void qi_u8_avgpool__avx2(const qi_u8_pool_geom *g,
                         const qi_u8_avgpool_params *p, const uint8_t *x,
                         uint8_t *y, size_t oh0, size_t oh1) {
  qi_avx2_out o = qi_avx2_out_make(&p->out);
  taps t;
  t.rs = g->d_h * g->in_w * g->x_pix;
  t.cs = g->d_w * g->x_pix;
  for (size_t oh = oh0; oh < oh1; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++) {
      qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
      t.nh = w.h1 - w.h0;
      t.nw = w.w1 - w.w0;
      t.p0 = t.nh && t.nw ? qi_u8_pool_tap(g, x, &w, w.h0, w.w0) : x;
      avg_pixel(g->c, &t, p->zx, qi_u8_avgpool_mult(g, p, &w), &o,
                y + (oh * g->out_w + ow) * g->y_pix);
    }
}

void qi_u8_gap__avx2(size_t npix, size_t c, const uint8_t *x, size_t x_pix,
                     uint8_t *y, const qi_u8_avgpool_params *p) {
  /* One window covering the image, walked as a single row of npix taps. */
  taps t = {x, 1, npix, 0, x_pix};
  qi_avx2_out o = qi_avx2_out_make(&p->out);
  avg_pixel(c, &t, p->zx, p->mult / (float)npix, &o, y);
}
