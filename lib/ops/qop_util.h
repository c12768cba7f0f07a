/*
 * Helpers shared by the INT8 internal ops (lib/quant/README.md): reading
 * the quantization of graph tensors (uint8 activations per tensor, int8
 * weights per output channel), checked attributes, the requantization
 * multipliers, and the NHWC -> NCHW float transpose of float outputs.
 * Every error names the node and the tensor's role.
 */
#ifndef QI_OPS_QOP_UTIL_H
#define QI_OPS_QOP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"

/* uint8 activation: real = scale * (q - zp). */
typedef struct qi_qop_act_quant {
  float scale;  /* finite, > 0 */
  int32_t zp;   /* 0..255 */
} qi_qop_act_quant;

/* The per-tensor quantization of tensor `t` (an input or output of `n`;
 * `what` names its role, e.g. "input x"). QI_ERR_INVALID_ARG when it has
 * none, or a scale that is not finite and > 0, or a zero point outside
 * 0..255. */
qi_status qi_qop_act_quant_of(const qi_graph *g, const qi_node *n, int t,
                              const char *what, qi_qop_act_quant *q,
                              qi_error *err);

/* Same for input k of `n` (which must be present). */
qi_status qi_qop_in_quant(const qi_graph *g, const qi_node *n, int k,
                          const char *what, qi_qop_act_quant *q,
                          qi_error *err);

/* Same for output 0 of `n`. */
qi_status qi_qop_out_quant(const qi_graph *g, const qi_node *n,
                           qi_qop_act_quant *q, qi_error *err);

/* The per-output-channel scales of int8 weights tensor `t` with `channels`
 * output channels along axis 0, copied to scales[channels]: quant.axis 0
 * with quant.nscales == channels, or a per-tensor quant (axis < 0, has set)
 * broadcast. Every scale finite and > 0. */
qi_status qi_qop_weight_scales(const qi_graph *g, const qi_node *n, int t,
                               int64_t channels, float *scales,
                               qi_error *err);

/* Integer attribute `name` of `n` (default `def`), which must be an INT
 * attribute with a value in [lo, hi]. */
qi_status qi_qop_int_attr(const qi_node *n, const char *name, int64_t def,
                          int64_t lo, int64_t hi, int64_t *val,
                          qi_error *err);

/* The output clamp attributes: 0 <= qmin <= qmax <= 255. */
qi_status qi_qop_clamp_attrs(const qi_node *n, int32_t *qmin, int32_t *qmax,
                             qi_error *err);

/* Fails naming the node and `what` unless input k is present with dtype
 * `want`. */
qi_status qi_qop_expect_dtype(const qi_graph *g, const qi_node *n, int k,
                              qi_dtype want, const char *what,
                              qi_error *err);

/* Input k as a constant of dtype `want` with `count` elements and data
 * (so a packing can read it) in *t; an error naming the node if not. */
qi_status qi_qop_const_input(const qi_graph *g, const qi_node *n, int k,
                             qi_dtype want, int64_t count, const char *what,
                             const qi_tensor **t, qi_error *err);

/* The requantization multiplier of channel c: (float)(sx * sw / sy)
 * computed in double and rounded once, or (float)(sx * sw) when sy == 0
 * (float output). Fails, naming the node and channel, if it is not a
 * finite float > 0. */
qi_status qi_qop_mult(const qi_node *n, double sx, double sw, double sy,
                      int64_t c, float *mult, qi_error *err);

/* The requantization multipliers of a GEMM or convolution with int8
 * weights at input k of `n` (`channels` output channels along axis 0):
 * mult[c] = qi_qop_mult(sx, sw[c], sy); sy = 0 for a float output. */
qi_status qi_qop_weight_mults(const qi_graph *g, const qi_node *n, int k,
                              int64_t channels, double sx, double sy,
                              float *mult, qi_error *err);

/* Fails naming the node, tensor and channel if the int8 weights `w` (count
 * elements, channel-major over `channels` channels) hold -128: the weights
 * are symmetric, -127..127, as the kernels require. */
qi_status qi_qop_check_symmetric(const qi_node *n, const qi_tensor *w,
                                 int64_t count, int64_t channels,
                                 qi_error *err);

/* The residual multiplier (float)(sr / sy), computed in double; fails if it
 * is not finite. */
qi_status qi_qop_residual_mult(const qi_node *n, double sr, double sy,
                               float *rmult, qi_error *err);

/* dst[b][c][p] = src[b][p][c] for b < n, p < hw, c < ch (float), split
 * over `pool` (NULL: the calling thread). */
void qi_qop_nhwc_to_nchw_f32(qi_pool *pool, const float *src, float *dst,
                             int64_t n, int64_t hw, int64_t ch);

/* Rounds a byte count up to the 64-byte alignment of scratch slices. */
static inline size_t qi_qop_align64(size_t bytes) {
  return (bytes + 63) & ~(size_t)63;
}

#endif
