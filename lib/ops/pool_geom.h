/*
 * Window geometry shared by the FP32 pools (op_pool.c, NCHW, 1 to 3
 * spatial dims) and the uint8 pools (op_qpool.c, NHWC, 2 spatial dims):
 * the window attributes, read and checked, and the output length per
 * spatial dim. With the dilated window dk = (k - 1) * d + 1 and pads pb
 * (before) and pe (after):
 *   explicit pads: out = floor((in + pb + pe - dk) / s) + 1, or with
 *     ceil_mode ceil(...) + 1, less one if that last window would start at
 *     or beyond in + pb (the ONNX / PyTorch rule: a window must start
 *     inside the input or the leading pad);
 *   SAME_UPPER / SAME_LOWER: out = ceil(in / s), total pad
 *     max(0, (out - 1) * s + dk - in), the odd element at the end (UPPER)
 *     or the beginning (LOWER).
 */
#ifndef QI_OPS_POOL_GEOM_H
#define QI_OPS_POOL_GEOM_H

#include <stdint.h>

#include "ops/op.h"

#define QI_POOL_MAX_SPATIAL 3
/* Bound on kernel, stride, dilation and pad values: products of a few of
 * them stay far from overflow. */
#define QI_POOL_ATTR_LIMIT ((int64_t)1 << 30)

/* The window attributes of a pool over `sr` spatial dims. */
typedef struct qi_pool_window {
  int64_t k[QI_POOL_MAX_SPATIAL];  /* kernel_shape: required, >= 1 */
  int64_t s[QI_POOL_MAX_SPATIAL];  /* strides: >= 1, default 1 */
  int64_t d[QI_POOL_MAX_SPATIAL];  /* dilations: >= 1, default 1 */
  int64_t pb[QI_POOL_MAX_SPATIAL]; /* pads before: >= 0, default 0 */
  int64_t pe[QI_POOL_MAX_SPATIAL]; /* pads after: >= 0, default 0 */
  int ceil_mode;
} qi_pool_window;

/* Reads kernel_shape, strides, dilations (sr INTS each) and pads (2 * sr
 * INTS, the befores then the afters), every value at most
 * QI_POOL_ATTR_LIMIT, and ceil_mode, of node n with 1 <= sr <=
 * QI_POOL_MAX_SPATIAL. QI_ERR_PARSE naming node and attribute otherwise. */
qi_status qi_pool_window_read(const qi_node *n, int sr, qi_pool_window *w,
                              qi_error *err);

/* Output length of one spatial dim with explicit pads (header comment); -1
 * when the dilated window does not fit the padded input. Arguments within
 * the bounds above. */
int64_t qi_pool_out_len(int64_t in, int64_t k, int64_t s, int64_t d,
                        int64_t pb, int64_t pe, int ceil_mode);

/* Output length and pads of one spatial dim under auto_pad SAME_UPPER
 * (upper = 1) or SAME_LOWER (header comment); in >= 0. */
void qi_pool_same_pads(int64_t in, int64_t k, int64_t s, int64_t d,
                       int upper, int64_t *out, int64_t *pb, int64_t *pe);

#endif
