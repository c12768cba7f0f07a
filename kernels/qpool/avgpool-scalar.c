/* Portable uint8 AveragePool and GlobalAveragePool (qpool/qpool.h). Both
 * sum tap by tap into a block of int32 channel accumulators, so the input
 * is read in order; integer sums do not depend on the order, and the
 * multiplier and output rule are the reference's, so the bytes are
 * qi_u8_avgpool_pixel_ref's and qi_u8_gap_channel_ref's. */
#include "qpool/qpool.h"
#include "ref/qpool_ref.h"

/* Channels summed at once, in int32 on the stack. */
enum { BLOCK = 64 };

void qi_u8_avgpool__scalar(const qi_u8_pool_geom *g,
                           const qi_u8_avgpool_params *p, const uint8_t *x,
                           uint8_t *y, size_t oh0, size_t oh1) {
  size_t c = g->c, rs = g->d_h * g->in_w * g->x_pix, cs = g->d_w * g->x_pix;
  for (size_t oh = oh0; oh < oh1; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++) {
      qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
      float m = qi_u8_avgpool_mult(g, p, &w);
      int32_t bias = (int32_t)((w.h1 - w.h0) * (w.w1 - w.w0)) * p->zx;
      const uint8_t *p0 =
          w.h0 < w.h1 && w.w0 < w.w1 ? qi_u8_pool_tap(g, x, &w, w.h0, w.w0) : x;
      uint8_t *yp = y + (oh * g->out_w + ow) * g->y_pix;
      for (size_t c0 = 0; c0 < c; c0 += BLOCK) {
        size_t nc = c - c0 < BLOCK ? c - c0 : BLOCK;
        int32_t acc[BLOCK] = {0};
        const uint8_t *pr = p0 + c0;
        for (size_t i = w.h0; i < w.h1; i++, pr += rs) {
          const uint8_t *q = pr;
          for (size_t j = w.w0; j < w.w1; j++, q += cs)
            for (size_t k = 0; k < nc; k++) acc[k] += q[k];
        }
        for (size_t k = 0; k < nc; k++)
          yp[c0 + k] = qi_u8_out_finish((float)(acc[k] - bias) * m, &p->out);
      }
    }
}

void qi_u8_gap__scalar(size_t npix, size_t c, const uint8_t *x, size_t x_pix,
                       uint8_t *y, const qi_u8_avgpool_params *p) {
  float m = p->mult / (float)npix;
  int32_t bias = (int32_t)npix * p->zx;
  for (size_t c0 = 0; c0 < c; c0 += BLOCK) {
    size_t nc = c - c0 < BLOCK ? c - c0 : BLOCK;
    int32_t acc[BLOCK] = {0};
    for (size_t i = 0; i < npix; i++) {
      const uint8_t *px = x + i * x_pix + c0;
      for (size_t j = 0; j < nc; j++) acc[j] += px[j];
    }
    for (size_t j = 0; j < nc; j++)
      y[c0 + j] = qi_u8_out_finish((float)(acc[j] - bias) * m, &p->out);
  }
}
