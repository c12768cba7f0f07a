/*
 * uint8 Resize of one NHWC image (channels contiguous): nearest and
 * bilinear, from per-axis plans computed once per node. Pixel addressing
 * as in qpool/qpool.h: input (h, w) at x + (h * in_w + w) * x_pix, output
 * (oh, ow) at y + (oh * out_w + ow) * y_pix; exactly c bytes of each pixel
 * are touched. Kernels compute output rows [oh0, oh1).
 *
 * Source coordinate of output index i on an axis of `in` -> `out`
 * elements (ONNX coordinate_transformation_mode; `scale` is the Resize
 * scale, out / in when the node gives sizes), in double:
 *   HALF_PIXEL          (i + 0.5) / scale - 0.5
 *   PYTORCH_HALF_PIXEL  out > 1 ? (i + 0.5) / scale - 0.5 : 0
 *   ALIGN_CORNERS       out > 1 ? i * (in - 1) / (out - 1) : 0
 *   ASYMMETRIC          i / scale
 *
 * Nearest: the source index is the coordinate rounded by nearest_mode,
 *   ROUND_PREFER_FLOOR  ceil(s - 0.5)       ROUND_PREFER_CEIL  floor(s + 0.5)
 *   FLOOR               floor(s)            CEIL               ceil(s)
 * then clamped to [0, in - 1]; the kernel copies pixels (exact).
 *
 * Bilinear (fixed-point weights, then the output rule):
 *   per axis: s = clamp(coordinate, 0, in - 1), i0 = floor(s),
 *             i1 = min(i0 + 1, in - 1), w = rint((s - i0) * 2048)  (0..2048,
 *             the weight of i1 in units of 2^-11; rint rounds half to even)
 *   per output pixel, with (wy, wx) and p_ab = x[y_a][x_b]:
 *     acc = p00 * (2048 - wx) * (2048 - wy) + p01 * wx * (2048 - wy)
 *         + p10 * (2048 - wx) * wy          + p11 * wx * wy          (int32,
 *           exact: the weights sum to 2^22, so |acc| < 2^30)
 *     v   = (float)(acc - zx * 2^22) * mult,   mult = (float)(sx / sy / 2^22)
 *   then the output rule of qelt/qelt.h (zy, qmin, qmax). With equal input
 *   and output quantization mult = 2^-22 exactly.
 */
#ifndef QI_KERNELS_QPOOL_RESIZE_H
#define QI_KERNELS_QPOOL_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "qelt/qelt.h"

#define QI_RESIZE_WBITS 11
#define QI_RESIZE_WONE (1 << QI_RESIZE_WBITS) /* weight 1.0 on one axis */

typedef enum qi_resize_coord {
  QI_RESIZE_HALF_PIXEL = 0,
  QI_RESIZE_PYTORCH_HALF_PIXEL,
  QI_RESIZE_ALIGN_CORNERS,
  QI_RESIZE_ASYMMETRIC
} qi_resize_coord;

typedef enum qi_resize_nearest_mode {
  QI_RESIZE_ROUND_PREFER_FLOOR = 0,
  QI_RESIZE_ROUND_PREFER_CEIL,
  QI_RESIZE_FLOOR,
  QI_RESIZE_CEIL
} qi_resize_nearest_mode;

typedef struct qi_u8_resize_geom {
  size_t in_h, in_w, c;
  size_t out_h, out_w;
  size_t x_pix, y_pix; /* bytes from one pixel to the next, >= c */
} qi_u8_resize_geom;

/* One axis of a bilinear plan: out entries each. */
typedef struct qi_resize_linear_axis {
  const size_t *i0, *i1;
  const int32_t *w; /* weight of i1, 0..QI_RESIZE_WONE */
} qi_resize_linear_axis;

typedef struct qi_u8_resize_params {
  int32_t zx;
  float mult; /* sx / sy / 2^22 */
  qi_u8_out out;
} qi_u8_resize_params;

static inline qi_u8_resize_params qi_u8_resize_params_make(
    double sx, int32_t zx, double sy, int32_t zy, int32_t qmin, int32_t qmax) {
  qi_u8_resize_params p;
  p.zx = zx;
  p.mult = (float)(sx / sy / (double)(1 << (2 * QI_RESIZE_WBITS)));
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

/* The source coordinate of output index i (header comment). */
double qi_resize_src_coord(qi_resize_coord mode, size_t i, size_t in,
                           size_t out, double scale);

/* Plans of one axis (in, out >= 1, scale > 0): out entries each. */
void qi_resize_nearest_plan(qi_resize_coord mode,
                            qi_resize_nearest_mode nearest, size_t in,
                            size_t out, double scale, size_t *idx);
void qi_resize_linear_plan(qi_resize_coord mode, size_t in, size_t out,
                           double scale, size_t *i0, size_t *i1, int32_t *w);

/* iy: out_h source rows, ix: out_w source columns. */
typedef void (*qi_u8_resize_nearest_fn)(const qi_u8_resize_geom *g,
                                        const size_t *iy, const size_t *ix,
                                        const uint8_t *x, uint8_t *y,
                                        size_t oh0, size_t oh1);
typedef void (*qi_u8_resize_bilinear_fn)(const qi_u8_resize_geom *g,
                                         const qi_resize_linear_axis *ay,
                                         const qi_resize_linear_axis *ax,
                                         const qi_u8_resize_params *p,
                                         const uint8_t *x, uint8_t *y,
                                         size_t oh0, size_t oh1);

/* Copies only, so one implementation serves every ISA (memcpy is
 * vectorised by the C library). */
void qi_u8_resize_nearest__scalar(const qi_u8_resize_geom *g, const size_t *iy,
                                  const size_t *ix, const uint8_t *x,
                                  uint8_t *y, size_t oh0, size_t oh1);
void qi_u8_resize_bilinear__scalar(const qi_u8_resize_geom *g,
                                   const qi_resize_linear_axis *ay,
                                   const qi_resize_linear_axis *ax,
                                   const qi_u8_resize_params *p,
                                   const uint8_t *x, uint8_t *y, size_t oh0,
                                   size_t oh1);
void qi_u8_resize_bilinear__avx2(const qi_u8_resize_geom *g,
                                 const qi_resize_linear_axis *ay,
                                 const qi_resize_linear_axis *ax,
                                 const qi_u8_resize_params *p, const uint8_t *x,
                                 uint8_t *y, size_t oh0, size_t oh1);

#endif
