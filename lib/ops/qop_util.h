/*
 * Helpers shared by the INT8 internal ops (lib/quant/README.md): the
 * convolution/GEMM family (op_qconv.c, op_qmatmul.c, op_qconvert.c) and the
 * uint8 element-wise, pooling, resize and table family (op_qbinary.c,
 * op_qconcat.c, op_qpool.c, op_qresize.c, op_qlut.c). One function per job:
 * checking tensors, reading their quantization (uint8 activations per
 * tensor, int8 weights per output channel), checked attributes, the
 * requantization multipliers and tables, the kernel config, how a run is
 * split into tasks for the session's thread pool, and the NHWC -> NCHW
 * float transpose of float outputs. Every error names the node and the
 * tensor's role.
 */
#ifndef QI_OPS_QOP_UTIL_H
#define QI_OPS_QOP_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/qelt_dispatch.h"
#include "ops/op.h"

/* Bound on the element count of a uint8 tensor: shapes come from model
 * files, so every product below stays far from overflow. */
#define QI_QOP_MAX_NUMEL ((int64_t)1 << 46)

/* Bytes (or taps) one task should handle at least, so that waking the
 * pool's threads pays for itself; a run is cut into at most 4 tasks per
 * thread so uneven tasks balance. */
#define QI_QOP_TASK_WORK 16384.0
#define QI_QOP_TASKS_PER_THREAD 4

/* ---- tensors ---------------------------------------------------------- */

/* Element count of a known shape, or -1 when unknown, negative or above
 * QI_QOP_MAX_NUMEL. */
int64_t qi_qop_numel(const qi_shape *s);

/* Fails (QI_ERR_UNSUPPORTED) naming the node, `what` and the tensor unless
 * input k is present with dtype `want`. */
qi_status qi_qop_expect_dtype(const qi_graph *g, const qi_node *n, int k,
                              qi_dtype want, const char *what,
                              qi_error *err);

/* Every present input of n is a uint8 tensor (as qi_qop_expect_dtype) of
 * known shape within QI_QOP_MAX_NUMEL (QI_ERR_SHAPE otherwise). */
qi_status qi_qop_check_u8_inputs(const qi_graph *g, const qi_node *n,
                                 qi_error *err);

/* Output 0 is present (QI_ERR_PARSE) and no other output is
 * (QI_ERR_UNSUPPORTED: MaxPool's indices, for one, are not produced). */
qi_status qi_qop_check_one_output(const qi_node *n, qi_error *err);

/* Input k as a constant of dtype `want` with `count` elements and data
 * (so a packing can read it) in *t; an error naming the node if not. */
qi_status qi_qop_const_input(const qi_graph *g, const qi_node *n, int k,
                             qi_dtype want, int64_t count, const char *what,
                             const qi_tensor **t, qi_error *err);

/* ---- quantization ----------------------------------------------------- */

/* The per-tensor uint8 quantization of input k / output 0 of n: real =
 * scale * (q - zero). Fails naming node, role and tensor when the tensor
 * has none or an invalid one (scale not finite > 0, zero point outside
 * 0..255: QI_ERR_INVALID_ARG) or one per channel (QI_ERR_UNSUPPORTED). */
qi_status qi_qop_in_quant(const qi_graph *g, const qi_node *n, int k,
                          qi_u8_quant *q, qi_error *err);
qi_status qi_qop_out_quant(const qi_graph *g, const qi_node *n,
                           qi_u8_quant *q, qi_error *err);

/* The per-output-channel scales of int8 weights tensor `t` with `channels`
 * output channels along axis 0, copied to scales[channels]: quant.axis 0
 * with quant.nscales == channels, or a per-tensor quant (axis < 0, has set)
 * broadcast. Every scale finite and > 0. */
qi_status qi_qop_weight_scales(const qi_graph *g, const qi_node *n, int t,
                               int64_t channels, float *scales,
                               qi_error *err);

/* The quantization of input 0 and output 0 of a one-input uint8 op
 * (pools, Resize, the tables) and its output clamp attributes. */
typedef struct qi_qop_unary_quant {
  qi_u8_quant x, y;
  int32_t qmin, qmax;
} qi_qop_unary_quant;

/* qi_qop_in_quant(0), qi_qop_out_quant and qi_qop_clamp_attrs, in that
 * order. */
qi_status qi_qop_unary_quant_of(const qi_graph *g, const qi_node *n,
                                qi_qop_unary_quant *q, qi_error *err);

/* ---- attributes ------------------------------------------------------- */

/* Integer attribute `name` of `n` (default `def`), which must be an INT
 * attribute with a value in [lo, hi] (QI_ERR_UNSUPPORTED otherwise). */
qi_status qi_qop_int_attr(const qi_node *n, const char *name, int64_t def,
                          int64_t lo, int64_t hi, int64_t *val,
                          qi_error *err);

/* The output clamp attributes qmin, qmax (INT, defaults 0, 255), checked
 * 0 <= qmin <= qmax <= 255 (QI_ERR_PARSE). */
qi_status qi_qop_clamp_attrs(const qi_node *n, int32_t *qmin, int32_t *qmax,
                             qi_error *err);

/* The node checks of a one-input uint8 op: exactly one input
 * (qi_check_inputs), qi_qop_check_one_output and qi_qop_clamp_attrs. */
qi_status qi_qop_check_unary(const qi_node *n, qi_error *err);

/* ---- requantization --------------------------------------------------- */

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

/* For ops that move bytes (Concat inputs, MaxPool, nearest Resize): 0 when
 * bytes quantized as qx come out right under qy and [qmin, qmax] as they
 * are, else 1 with the requantization table (qlut/qlut.h, multiplier
 * (float)(sx / sy) rounded once from double) in table. */
int qi_qop_requant_table(qi_u8_quant qx, qi_u8_quant qy, int32_t qmin,
                         int32_t qmax, uint8_t table[256]);

/* ---- kernels and threads ---------------------------------------------- */

/* The uint8 kernel config for this CPU and QINFER_ISA, chosen at prepare
 * (an unusable override falls back to the best ISA, as the other INT8 ops
 * do). */
const qi_qelt_config *qi_qop_qelt_config(void);

/* Splits `units` units of `work_per_unit` bytes each for `nthreads`
 * threads: returns the task count (0 when units == 0) and the units per
 * task in *per_task (the last task may get fewer). */
size_t qi_qop_split(size_t units, double work_per_unit, int nthreads,
                    size_t *per_task);

/* Range [*u0, *u1) of units of task `task`. */
static inline void qi_qop_task_range(size_t task, size_t per_task,
                                     size_t units, size_t *u0, size_t *u1) {
  size_t a = task * per_task, b = a + per_task;
  *u0 = a < units ? a : units;
  *u1 = b < units ? b : units;
}

/* fn(arg, image, r0, r1) computes output rows [r0, r1) of one image. */
typedef void (*qi_qop_rows_fn)(const void *arg, size_t image, size_t r0,
                               size_t r1);

/* Runs fn over `images` images of `rows` output rows each, split by
 * qi_qop_split over units (image, row) of `work_per_row`; each task hands
 * its consecutive rows of one image to fn in one call. */
void qi_qop_run_rows(qi_pool *pool, int nthreads, size_t images, size_t rows,
                     double work_per_row, qi_qop_rows_fn fn, const void *arg);

/* Run-time checks of the buffers against what prepare planned for: n's
 * state exists; buffer `what` k is uint8 with `numel` elements and data. */
qi_status qi_qop_run_prepared(const qi_run_ctx *ctx, const qi_node *n);
qi_status qi_qop_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *b, const char *what, int k,
                         int64_t numel);

/* dst[b][c][p] = src[b][p][c] for b < n, p < hw, c < ch (float), split
 * over `pool` (NULL: the calling thread). */
void qi_qop_nhwc_to_nchw_f32(qi_pool *pool, const float *src, float *dst,
                             int64_t n, int64_t hw, int64_t ch);

/* Rounds a byte count up to the 64-byte alignment of scratch slices. */
static inline size_t qi_qop_align64(size_t bytes) {
  return (bytes + 63) & ~(size_t)63;
}

#endif
