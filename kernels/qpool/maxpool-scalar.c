/* Portable uint8 MaxPool (qpool/qpool.h). Per output pixel the window's
 * taps (from the reference's window) are walked with pointer steps, each
 * tap maxed into the pixel's c output bytes; max is exact in any order,
 * so the bytes are qi_u8_maxpool_pixel_ref's. */
#include <string.h>

#include "qpool/qpool.h"
#include "ref/qpool_ref.h"

void qi_u8_maxpool__scalar(const qi_u8_pool_geom *g, const uint8_t *x,
                           uint8_t *y, size_t oh0, size_t oh1) {
  size_t c = g->c, rs = g->d_h * g->in_w * g->x_pix, cs = g->d_w * g->x_pix;
  for (size_t oh = oh0; oh < oh1; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++) {
      qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
      uint8_t *yp = y + (oh * g->out_w + ow) * g->y_pix;
      if (w.h0 == w.h1 || w.w0 == w.w1) { /* no input taps */
        memset(yp, 0, c);
        continue;
      }
      const uint8_t *pr = qi_u8_pool_tap(g, x, &w, w.h0, w.w0);
      memcpy(yp, pr, c);
      for (size_t i = w.h0; i < w.h1; i++, pr += rs) {
        const uint8_t *p = pr;
        for (size_t j = w.w0; j < w.w1; j++, p += cs)
          for (size_t ch = 0; ch < c; ch++)
            yp[ch] = p[ch] > yp[ch] ? p[ch] : yp[ch];
      }
    }
}
