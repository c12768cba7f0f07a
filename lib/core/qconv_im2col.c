/* im2col rows for the convolution driver's im2col path: the same bytes as
 * qi_u8_conv_im2col (conv/conv.h), written with inline fixed-size copies.
 * The driver's im2col layers with few input channels (stems: 3 channels,
 * 3x3 or 7x7 taps) copy kernel rows of 9 to 21 bytes; a libc memcpy and
 * two memset calls per kernel row cost more than the GEMM of the pixel. */
#include <string.h>

#include "core/qconv_internal.h"

static inline void copy8(uint8_t *d, const uint8_t *s) { memcpy(d, s, 8); }

/* n bytes from s to d: 8-byte moves, the last one overlapping (n >= 8). */
static inline void copy_small(uint8_t *d, const uint8_t *s, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
    return;
  }
  size_t o = 0;
  for (; o + 8 <= n; o += 8) copy8(d + o, s + o);
  if (o < n) copy8(d + n - 8, s + n - 8);
}

static inline void fill_small(uint8_t *d, const uint8_t *pat8, size_t n) {
  if (n < 8) {
    for (size_t i = 0; i < n; i++) d[i] = pat8[0];
    return;
  }
  size_t o = 0;
  for (; o + 8 <= n; o += 8) copy8(d + o, pat8);
  if (o < n) copy8(d + n - 8, pat8);
}

void qi_qconv_im2col_rows(const qi_u8s8_conv_params *p, const uint8_t *x,
                          size_t x_stride, int64_t group, int64_t m0,
                          size_t rows, uint8_t *tile, size_t ldt) {
  const size_t cg = (size_t)(p->c_in / p->groups);
  const size_t kw = (size_t)p->kw, row_taps = kw * cg;
  /* Only the contiguous case with short kernel rows is done here. */
  if (p->dil_w != 1 || x_stride != cg || row_taps > 64) {
    qi_u8_conv_im2col(p, x, x_stride, group, m0, rows, tile, ldt);
    return;
  }
  x += (size_t)group * cg;
  uint8_t pat[8];
  memset(pat, (uint8_t)p->za, sizeof pat);
  const int64_t ohw = p->out_h * p->out_w;
  int64_t b = m0 / ohw, oy = m0 % ohw / p->out_w, ox = m0 % p->out_w;
  for (size_t i = 0; i < rows; i++) {
    uint8_t *dst = tile + i * ldt;
    const int64_t iy0 = oy * p->stride_h - p->pad_t;
    const int64_t ix0 = ox * p->stride_w - p->pad_l;
    int64_t kx_lo = 0, kx_hi = p->kw;
    while (kx_lo < kx_hi && ix0 + kx_lo < 0) kx_lo++;
    while (kx_hi > kx_lo && ix0 + kx_hi - 1 >= p->w) kx_hi--;
    const size_t lo = (size_t)kx_lo * cg, hi = (size_t)kx_hi * cg;
    for (int64_t ky = 0; ky < p->kh; ky++, dst += row_taps) {
      const int64_t iy = iy0 + ky * p->dil_h;
      if (iy < 0 || iy >= p->h || kx_lo == kx_hi) {
        fill_small(dst, pat, row_taps);
        continue;
      }
      const uint8_t *src =
          x + (size_t)((b * p->h + iy) * p->w + ix0 + kx_lo) * cg;
      if (lo) fill_small(dst, pat, lo);
      copy_small(dst + lo, src, hi - lo);
      if (hi < row_taps) fill_small(dst + hi, pat, row_taps - hi);
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
