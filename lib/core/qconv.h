/* The uint8 x int8 convolution driver (NHWC activations, OIHW int8 weights,
 * math in conv/conv.h, epilogue in gemm/gemm.h). Packing picks one of three
 * paths from the geometry, once:
 *   pointwise  1x1, stride 1, no padding: the u8s8 GEMM (core/qgemm.h) on
 *              the input tensor itself (M = n*h*w pixels, K = c_in), no copy;
 *   im2col     every other non-depthwise convolution: each task builds the
 *              im2col rows of a tile of output pixels in its thread's
 *              scratch (padded taps = input zero point) and runs the GEMM
 *              microkernel over them;
 *   depthwise  groups == c_in == c_out: the depthwise kernels
 *              (dwconv/dwconv.h) over per-row indirection pointers straight
 *              into the input (padded taps point at a row of za).
 * Grouped convolutions (groups > 1, not depthwise) run the first two paths
 * once per group, on strided slices of the input and output channels. */
#ifndef QI_CORE_QCONV_H
#define QI_CORE_QCONV_H

#include <stddef.h>
#include <stdint.h>

#include "conv/conv.h"
#include "core/dwconv_dispatch.h"
#include "core/gemm_dispatch.h"
#include "core/pool.h"
#include "core/qgemm.h"
#include "qinfer.h"

typedef struct qi_qconv_packed qi_qconv_packed;

typedef enum qi_qconv_path {
  QI_QCONV_POINTWISE,
  QI_QCONV_IM2COL,
  QI_QCONV_DEPTHWISE
} qi_qconv_path;

/* Packs a convolution.
 *   p      geometry and input zero point (conv/conv.h); copied and
 *          derived here (QI_ERR_SHAPE says what is wrong)
 *   w      int8 [c_out][c_in/groups][kh][kw] (ONNX OIHW), -127..127
 *   bias   int32 [c_out] in the accumulator scale (sx * sw[co]), or NULL
 *   mult   float [c_out]: sx * sw[co] / sy for uint8 output, sx * sw[co]
 *          for float output; finite
 *   gemm_cfg, dw_cfg  the kernels to pack for; NULL: this CPU's default
 *          (QINFER_ISA honoured; a value that is not an ISA name, or names
 *          one the CPU lacks, leaves the CPU's best)
 * Nothing passed in is read after the call. *out is owned by the caller
 * (qi_qconv_free) and immutable: any number of threads may run it at once.
 * QI_ERR_UNSUPPORTED names the output channel whose int32 accumulator could
 * overflow, or a K beyond QI_U8S8_GEMM_MAX_K. */
qi_status qi_qconv_pack(const qi_u8s8_conv_params *p, const int8_t *w,
                        const int32_t *bias, const float *mult,
                        const qi_qgemm_config *gemm_cfg,
                        const qi_dwconv_config *dw_cfg, qi_qconv_packed **out,
                        qi_error *err);

void qi_qconv_free(qi_qconv_packed *w); /* NULL is fine */

/* The derived parameters (out_h, out_w filled). */
const qi_u8s8_conv_params *qi_qconv_params(const qi_qconv_packed *w);
qi_qconv_path qi_qconv_path_of(const qi_qconv_packed *w);
/* The microkernel the convolution runs. */
const char *qi_qconv_kernel_name(const qi_qconv_packed *w);

/* Scratch bytes qi_qconv_run needs on a pool of `nthreads` threads (any
 * alignment is fine: the run aligns inside it). */
size_t qi_qconv_workspace_size(const qi_qconv_packed *w, int nthreads);

/* y = epilogue(conv(x, w)) over the packed geometry.
 *   x     uint8 NHWC, pixel (b, iy, ix) at x + ((b*h + iy)*w + ix) *
 *         x_stride, x_stride >= c_in; read only, no over-read
 *   rp    zy, qmin, qmax, out_f32 as for qi_qgemm; rp->residual, if set,
 *         is uint8 NHWC of the output's shape with pixel stride rp->ldr >=
 *         c_out (it may be y itself with ldr == y_stride: in-place add)
 *   y     NHWC output, pixel stride y_stride >= c_out elements (uint8 or
 *         float); only the c_out channels of each pixel are written; must
 *         not overlap x or scratch
 *   pool  NULL runs on the calling thread
 *   scratch  >= qi_qconv_workspace_size(w, pool size) bytes, caller-owned */
qi_status qi_qconv_run(const qi_qconv_packed *w, const uint8_t *x,
                       size_t x_stride, const qi_requant_params *rp, void *y,
                       size_t y_stride, qi_pool *pool, void *scratch,
                       size_t scratch_size, qi_error *err);

#endif
