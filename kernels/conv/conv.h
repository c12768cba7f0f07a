/*
 * uint8 x int8 2-D convolution, channels-last (NHWC): the parameters, the
 * geometry checks and the im2col kernel that turns a convolution into the
 * u8s8 GEMM of gemm/gemm.h.
 *
 * The math (DESIGN.md, "Quantization scheme"; gemm/gemm.h for the epilogue):
 *   x  uint8 [n][h][w][c_in], zero point za        (activations, NHWC)
 *   w  int8  [c_out][c_in/groups][kh][kw]          (ONNX OIHW, -127..127,
 *                                                    symmetric per c_out)
 *   acc[b][oy][ox][co] = bias[co]
 *       + sum_{ci,ky,kx} (x[b][iy][ix][g*cg_in + ci] - za) * w[co][ci][ky][kx]
 *   with g = co / cg_out, iy = oy*stride_h - pad_t + ky*dil_h,
 *                         ix = ox*stride_w - pad_l + kx*dil_w,
 * and a tap outside the input reading x = za (real value 0). So the padded
 * taps are simply rows of za in the im2col matrix, and the zero point folds
 * into the bias exactly as in the GEMM (bias - za * sum w). Output:
 *   y[b][oy][ox][co] = epilogue(acc, mult[co]), with an optional residual
 *   r of the output's shape (its own zero point / scale ratio), NHWC.
 *   oh = (h + pad_t + pad_b - dil_h*(kh-1) - 1) / stride_h + 1   (>= 1)
 *   ow = (w + pad_l + pad_r - dil_w*(kw-1) - 1) / stride_w + 1   (>= 1)
 *
 * As a GEMM: M = n*oh*ow output pixels, K = kh*kw*cg_in, N = cg_out, per
 * group. Row m of the im2col matrix holds, for pixel m, the taps in order
 * (ky, kx, ci): the weights are packed as B[co][(ky*kw + kx)*cg_in + ci].
 */
#ifndef QI_KERNELS_CONV_H
#define QI_KERNELS_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"

/* Largest value of any single dimension, stride, dilation or pad: keeps
 * every derived product comfortably inside int64 (checked anyway). */
#define QI_CONV_MAX_DIM ((int64_t)1 << 30)

typedef struct qi_u8s8_conv_params {
  int64_t n, h, w, c_in;              /* input, NHWC */
  int64_t c_out, groups;              /* c_in and c_out divisible by groups */
  int64_t kh, kw;                     /* kernel */
  int64_t stride_h, stride_w;         /* >= 1 */
  int64_t dil_h, dil_w;               /* >= 1 */
  int64_t pad_t, pad_l, pad_b, pad_r; /* >= 0, may differ */
  int32_t za;                         /* input zero point, 0..255 */
  /* Derived by qi_u8s8_conv_derive. */
  int64_t out_h, out_w;
} qi_u8s8_conv_params;

/* Checks the geometry and fills out_h and out_w. Returns NULL when valid,
 * else a constant message saying what is wrong. */
const char *qi_u8s8_conv_derive(qi_u8s8_conv_params *p);

/* Depthwise: one input channel per group and one output per channel
 * (groups == c_in == c_out), the case of kernels/dwconv. */
static inline int qi_u8s8_conv_is_depthwise(const qi_u8s8_conv_params *p) {
  return p->groups > 1 && p->groups == p->c_in && p->groups == p->c_out;
}

/* A 1x1, stride-1, unpadded convolution is the GEMM on the input itself. */
static inline int qi_u8s8_conv_is_pointwise(const qi_u8s8_conv_params *p) {
  return p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 &&
         p->pad_t == 0 && p->pad_l == 0 && p->pad_b == 0 && p->pad_r == 0;
}

/* K of the GEMM: kh * kw * c_in / groups. */
static inline int64_t qi_u8s8_conv_k(const qi_u8s8_conv_params *p) {
  return p->kh * p->kw * (p->c_in / p->groups);
}

/* Bytes of an im2col tile of `rows` output pixels with row stride K (the
 * workspace twin of qi_u8_conv_im2col). */
static inline size_t qi_u8_conv_im2col_bytes(const qi_u8s8_conv_params *p,
                                             size_t rows) {
  return rows * (size_t)qi_u8s8_conv_k(p);
}

/*
 * Writes rows [m0, m0 + rows) of the im2col matrix of group `group` into
 * `tile` (row stride ldt >= K bytes): row i holds the K taps of output pixel
 * m0 + i (pixels in NHW order), taps outside the input set to p->za.
 *   x         the input, pixel (b, iy, ix) at x + ((b*h + iy)*w + ix) *
 *             x_stride; x_stride >= c_in; reads exactly the c_in/groups
 *             channels of the group.
 * Requires a derived p and m0 + rows <= n*out_h*out_w.
 */
void qi_u8_conv_im2col(const qi_u8s8_conv_params *p, const uint8_t *x,
                       size_t x_stride, int64_t group, int64_t m0,
                       size_t rows, uint8_t *tile, size_t ldt);

#endif
