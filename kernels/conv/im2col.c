/* im2col for the u8s8 convolution (conv/conv.h): one row of K taps per
 * output pixel, channels innermost, padded taps filled with the input zero
 * point. Runs per tile inside the convolution driver, so it walks pixels
 * incrementally (no division per pixel) and copies whole kernel rows at once
 * when the taps of a kernel row are contiguous in the input. */
#include <string.h>

#include "conv/conv.h"

void qi_u8_conv_im2col(const qi_u8s8_conv_params *p, const uint8_t *x,
                       size_t x_stride, int64_t group, int64_t m0,
                       size_t rows, uint8_t *tile, size_t ldt) {
  const size_t cg = (size_t)(p->c_in / p->groups);
  const size_t kw = (size_t)p->kw, row_taps = kw * cg;
  const uint8_t za = (uint8_t)p->za;
  /* Kernel-row runs are one memcpy when the kx taps are adjacent pixels
   * whose group channels fill the whole pixel. */
  const int contiguous = p->dil_w == 1 && x_stride == cg;
  const int64_t ohw = p->out_h * p->out_w;
  int64_t b = m0 / ohw, oy = m0 % ohw / p->out_w, ox = m0 % p->out_w;
  const uint8_t *xg = x + (size_t)group * cg;

  for (size_t i = 0; i < rows; i++) {
    uint8_t *dst = tile + i * ldt;
    const int64_t iy0 = oy * p->stride_h - p->pad_t;
    const int64_t ix0 = ox * p->stride_w - p->pad_l;
    /* Taps kx in [kx_lo, kx_hi) fall inside the row; the rest are pads. */
    int64_t kx_lo = 0, kx_hi = p->kw;
    while (kx_lo < kx_hi && ix0 + kx_lo * p->dil_w < 0) kx_lo++;
    while (kx_hi > kx_lo && ix0 + (kx_hi - 1) * p->dil_w >= p->w) kx_hi--;
    for (int64_t ky = 0; ky < p->kh; ky++, dst += row_taps) {
      const int64_t iy = iy0 + ky * p->dil_h;
      if (iy < 0 || iy >= p->h || kx_lo == kx_hi) {
        memset(dst, za, row_taps);
        continue;
      }
      const uint8_t *src_row = xg + (size_t)((b * p->h + iy) * p->w) * x_stride;
      memset(dst, za, (size_t)kx_lo * cg);
      if (contiguous) {
        memcpy(dst + (size_t)kx_lo * cg,
               src_row + (size_t)(ix0 + kx_lo) * x_stride,
               (size_t)(kx_hi - kx_lo) * cg);
      } else {
        for (int64_t kx = kx_lo; kx < kx_hi; kx++)
          memcpy(dst + (size_t)kx * cg,
                 src_row + (size_t)(ix0 + kx * p->dil_w) * x_stride, cg);
      }
      memset(dst + (size_t)kx_hi * cg, za, (size_t)(p->kw - kx_hi) * cg);
    }
    if (++ox == p->out_w) {
      ox = 0;
      if (++oy == p->out_h) {
        oy = 0;
        b++;
      }
    }
  }
}
