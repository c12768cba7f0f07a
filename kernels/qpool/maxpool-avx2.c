/* AVX2 uint8 MaxPool (qpool/qpool.h): per output pixel, channel blocks of
 * 32 (then 16) held in a register across the window's taps, which are
 * walked with pointer steps; the last c % 16 channels byte by byte. Max is
 * exact, so every split gives the reference's bytes. */
#include <immintrin.h>

#include "qpool/qpool.h"
#include "ref/qpool_ref.h"

/* The window's input taps: nh rows of nw, the first at p0, rows rs bytes
 * apart and taps in a row cs bytes apart. */
typedef struct taps {
  const uint8_t *p0;
  size_t nh, nw, rs, cs;
} taps;

static void max_pixel(size_t c, const taps *t, uint8_t *y) {
  size_t ch = 0;
  if (t->nh == 0 || t->nw == 0) { /* no input taps */
    for (; ch < c; ch++) y[ch] = 0;
    return;
  }
  for (; ch + 32 <= c; ch += 32) {
    __m256i m = _mm256_loadu_si256((const __m256i *)(t->p0 + ch));
    const uint8_t *pr = t->p0 + ch;
    for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
      const uint8_t *p = pr;
      for (size_t j = 0; j < t->nw; j++, p += t->cs)
        m = _mm256_max_epu8(m, _mm256_loadu_si256((const __m256i *)p));
    }
    _mm256_storeu_si256((__m256i *)(y + ch), m);
  }
  for (; ch + 16 <= c; ch += 16) {
    __m128i m = _mm_loadu_si128((const __m128i *)(t->p0 + ch));
    const uint8_t *pr = t->p0 + ch;
    for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
      const uint8_t *p = pr;
      for (size_t j = 0; j < t->nw; j++, p += t->cs)
        m = _mm_max_epu8(m, _mm_loadu_si128((const __m128i *)p));
    }
    _mm_storeu_si128((__m128i *)(y + ch), m);
  }
  for (; ch < c; ch++) {
    uint8_t m = t->p0[ch];
    const uint8_t *pr = t->p0 + ch;
    for (size_t i = 0; i < t->nh; i++, pr += t->rs) {
      const uint8_t *p = pr;
      for (size_t j = 0; j < t->nw; j++, p += t->cs) m = *p > m ? *p : m;
    }
    y[ch] = m;
  }
}

void qi_u8_maxpool__avx2(const qi_u8_pool_geom *g, const uint8_t *x, uint8_t *y,
                         size_t oh0, size_t oh1) {
  taps t;
  t.rs = g->d_h * g->in_w * g->x_pix;
  t.cs = g->d_w * g->x_pix;
  for (size_t oh = oh0; oh < oh1; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++) {
      qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
      t.nh = w.h1 - w.h0;
      t.nw = w.w1 - w.w0;
      t.p0 = t.nh && t.nw ? qi_u8_pool_tap(g, x, &w, w.h0, w.w0) : x;
      max_pixel(g->c, &t, y + (oh * g->out_w + ow) * g->y_pix);
    }
}
