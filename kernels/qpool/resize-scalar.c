/* Portable uint8 Resize (qpool/resize.h): nearest copies pixels (and whole
 * output rows when consecutive rows read the same source row and the
 * output rows are contiguous); bilinear is the reference per pixel. */
#include <string.h>

#include "qpool/resize.h"
#include "ref/resize_ref.h"

void qi_u8_resize_nearest__scalar(const qi_u8_resize_geom *g, const size_t *iy,
                                  const size_t *ix, const uint8_t *x,
                                  uint8_t *y, size_t oh0, size_t oh1) {
  size_t row_bytes = g->out_w * g->y_pix;
  for (size_t oh = oh0; oh < oh1; oh++) {
    uint8_t *yr = y + oh * row_bytes;
    if (oh > oh0 && iy[oh] == iy[oh - 1] && g->y_pix == g->c) {
      memcpy(yr, yr - row_bytes, row_bytes);
      continue;
    }
    const uint8_t *xr = x + iy[oh] * g->in_w * g->x_pix;
    for (size_t ow = 0; ow < g->out_w; ow++)
      memcpy(yr + ow * g->y_pix, xr + ix[ow] * g->x_pix, g->c);
  }
}

void qi_u8_resize_bilinear__scalar(const qi_u8_resize_geom *g,
                                   const qi_resize_linear_axis *ay,
                                   const qi_resize_linear_axis *ax,
                                   const qi_u8_resize_params *p,
                                   const uint8_t *x, uint8_t *y, size_t oh0,
                                   size_t oh1) {
  for (size_t oh = oh0; oh < oh1; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++)
      qi_u8_resize_bilinear_pixel_ref(g, ay, ax, p, x, oh, ow,
                                      y + (oh * g->out_w + ow) * g->y_pix);
}
