/* Scalar oracle of the u8s8 convolution (conv/conv.h), on unpacked OIHW
 * weights: seven plain loops, padded taps read as the input zero point, the
 * zero point folded into the bias as the kernels do, and the shared
 * reference epilogue (ref/requant.h). Slow and obvious on purpose. */
#ifndef QI_KERNELS_REF_CONV_REF_H
#define QI_KERNELS_REF_CONV_REF_H

#include <stddef.h>
#include <stdint.h>

#include "conv/conv.h"
#include "gemm/gemm.h"

/* y = epilogue(conv(x, w) + bias) for a derived p.
 *   x     NHWC input, pixel stride x_stride >= c_in elements
 *   w     int8 [c_out][c_in/groups][kh][kw]
 *   bias  c_out int32 or NULL; mult c_out floats
 *   r     residual with the output's shape, pixel stride r_stride, or NULL
 *   y     NHWC output, pixel stride y_stride >= c_out elements (uint8, or
 *         float if e->out_f32)
 *   acc   if not NULL receives the int32 accumulators, [pixels][c_out]
 * The caller keeps the accumulators inside int32. */
void qi_u8s8_conv_ref(const qi_u8s8_conv_params *p, const uint8_t *x,
                      size_t x_stride, const int8_t *w, const int32_t *bias,
                      const float *mult, const qi_u8s8_gemm_params *e,
                      const uint8_t *r, size_t r_stride, void *y,
                      size_t y_stride, int32_t *acc);

#endif
