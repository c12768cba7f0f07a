/*
 * Row kernels of QiQuantize / QiDequantize (op_qconvert.c): one contiguous
 * float row against a uint8 row with a byte stride (1, or C when the op
 * also moves between NCHW and NHWC).
 *   quantize    y = sat_0..255(rne(x / scale) + zp), NaN -> zp
 *               (float division; clamped to [-zp, 255 - zp] before the
 *               rounding, which gives the same bytes and keeps cvtps2dq in
 *               range; rounding in the current mode, half-even by default)
 *   dequantize  y = (float)(q - zp) * scale
 * Every path performs the same float operations, so they give the same
 * bytes (the tests compare them).
 */
#ifndef QI_OPS_QOP_CONVERT_H
#define QI_OPS_QOP_CONVERT_H

#include <stddef.h>
#include <stdint.h>

typedef void (*qi_qop_quantize_fn)(size_t n, const float *x, uint8_t *y,
                                   size_t y_stride, float scale, int32_t zp);
typedef void (*qi_qop_dequantize_fn)(size_t n, const uint8_t *q,
                                     size_t q_stride, float *y, float scale,
                                     int32_t zp);

void qi_qop_quantize_row__scalar(size_t n, const float *x, uint8_t *y,
                                 size_t y_stride, float scale, int32_t zp);
void qi_qop_dequantize_row__scalar(size_t n, const uint8_t *q,
                                   size_t q_stride, float *y, float scale,
                                   int32_t zp);
void qi_qop_quantize_row__avx2(size_t n, const float *x, uint8_t *y,
                               size_t y_stride, float scale, int32_t zp);
void qi_qop_dequantize_row__avx2(size_t n, const uint8_t *q, size_t q_stride,
                                 float *y, float scale, int32_t zp);

/* The kernels for this CPU (QINFER_ISA=scalar forces the scalar ones). */
void qi_qop_convert_kernels(qi_qop_quantize_fn *quantize,
                            qi_qop_dequantize_fn *dequantize);

#endif
