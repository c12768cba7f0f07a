/*
 * uint8 pooling kernels, NHWC (channels contiguous), one image per call:
 * MaxPool, AveragePool and GlobalAveragePool. Input pixel (h, w) starts at
 * x + (h * in_w + w) * x_pix, output pixel (oh, ow) at
 * y + (oh * out_w + ow) * y_pix; x_pix, y_pix >= c, so a slice of a wider
 * tensor (a Concat output) can be read or written in place. Exactly c
 * bytes of each pixel are touched (no over-read, gaps left alone).
 *
 * Window of output (oh, ow): input rows ih = oh * s_h - pad_t + kh * d_h
 * for kh < k_h, columns iw = ow * s_w - pad_l + kw * d_w for kw < k_w.
 * The caller works out out_h/out_w (kernel, strides, dilations, pads,
 * ceil_mode): taps outside the input are skipped, so a window hanging past
 * the input for any reason is fine.
 *
 * MaxPool: y = max of the window's input taps (pads never win; the input
 * and output share one quantization, so this is exact). A window without
 * input taps gives 0.
 *
 * AveragePool, with n = the window's input taps and, per window,
 *   count = n                                      (count_include_pad = 0)
 *   count = taps inside the padded input, rows in [-pad_t, in_h + pad_b)
 *           times columns in [-pad_l, in_w + pad_r)  (count_include_pad = 1;
 *           ceil_mode overhang beyond the pads does not count)
 *   acc   = sum of the n input taps - n * zx      (int32; pads are real 0)
 *   m     = mult / (float)max(count, 1)            (float32 division,
 *                                                   mult = (float)(sx/sy))
 *   v     = (float)acc * m                          (float32)
 * then the output rule of qelt/qelt.h. An empty window gives acc = 0, so
 * y = clamp(zy). k_h * k_w must be below 2^23 (acc and count stay exact).
 *
 * GlobalAveragePool over npix pixels (stride x_pix) of c channels, into c
 * contiguous bytes: AveragePool's formula with n = count = npix, which must
 * be 1..2^23.
 *
 * Threading: the pool kernels compute output rows [oh0, oh1), so callers
 * split rows across threads.
 *
 * The folder also holds the other NHWC spatial kernel, Resize
 * (qpool/resize.h).
 */
#ifndef QI_KERNELS_QPOOL_H
#define QI_KERNELS_QPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "qelt/qelt.h"

#define QI_U8_POOL_MAX_TAPS ((size_t)1 << 23)

typedef struct qi_u8_pool_geom {
  size_t in_h, in_w, c;
  size_t out_h, out_w;
  size_t k_h, k_w;     /* >= 1 */
  size_t s_h, s_w;     /* strides, >= 1 */
  size_t d_h, d_w;     /* dilations, >= 1 */
  size_t pad_t, pad_l; /* pads before */
  size_t pad_b, pad_r; /* pads after: only count_include_pad reads them */
  size_t x_pix, y_pix; /* bytes from one pixel to the next, >= c */
} qi_u8_pool_geom;

typedef struct qi_u8_avgpool_params {
  int32_t zx; /* input zero point */
  float mult; /* sx / sy */
  int32_t count_include_pad;
  qi_u8_out out;
} qi_u8_avgpool_params;

static inline qi_u8_avgpool_params qi_u8_avgpool_params_make(
    double sx, int32_t zx, double sy, int32_t zy, int32_t qmin, int32_t qmax,
    int count_include_pad) {
  qi_u8_avgpool_params p;
  p.zx = zx;
  p.mult = (float)(sx / sy);
  p.count_include_pad = count_include_pad ? 1 : 0;
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

typedef void (*qi_u8_maxpool_fn)(const qi_u8_pool_geom *g, const uint8_t *x,
                                 uint8_t *y, size_t oh0, size_t oh1);
typedef void (*qi_u8_avgpool_fn)(const qi_u8_pool_geom *g,
                                 const qi_u8_avgpool_params *p,
                                 const uint8_t *x, uint8_t *y, size_t oh0,
                                 size_t oh1);
typedef void (*qi_u8_gap_fn)(size_t npix, size_t c, const uint8_t *x,
                             size_t x_pix, uint8_t *y,
                             const qi_u8_avgpool_params *p);

void qi_u8_maxpool__scalar(const qi_u8_pool_geom *g, const uint8_t *x,
                           uint8_t *y, size_t oh0, size_t oh1);
void qi_u8_maxpool__avx2(const qi_u8_pool_geom *g, const uint8_t *x, uint8_t *y,
                         size_t oh0, size_t oh1);
void qi_u8_avgpool__scalar(const qi_u8_pool_geom *g,
                           const qi_u8_avgpool_params *p, const uint8_t *x,
                           uint8_t *y, size_t oh0, size_t oh1);
void qi_u8_avgpool__avx2(const qi_u8_pool_geom *g,
                         const qi_u8_avgpool_params *p, const uint8_t *x,
                         uint8_t *y, size_t oh0, size_t oh1);
void qi_u8_gap__scalar(size_t npix, size_t c, const uint8_t *x, size_t x_pix,
                       uint8_t *y, const qi_u8_avgpool_params *p);
void qi_u8_gap__avx2(size_t npix, size_t c, const uint8_t *x, size_t x_pix,
                     uint8_t *y, const qi_u8_avgpool_params *p);

#endif
