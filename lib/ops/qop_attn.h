/*
 * Helpers shared by the INT8 attention op (op_qattn.c: QiQMatMulAct) and
 * the INT8 row ops (op_qnorm.c: QiQSoftmax, QiQLayerNorm): checked inputs,
 * attributes and per-tensor quantization, the kernel config, the task
 * split, and the NHWC <-> NCHW views of rank-4 uint8 tensors. Every error
 * names the node and the tensor's role.
 */
#ifndef QI_OPS_QOP_ATTN_H
#define QI_OPS_QOP_ATTN_H

#include <stddef.h>
#include <stdint.h>

#include "core/qattn_dispatch.h"
#include "ops/op.h"

/* Work (multiply-adds or elements) one task should cover at least; at
 * most QI_QATTN_TASKS_PER_THREAD tasks per thread. */
#define QI_QATTN_TASK_WORK 32768.0
#define QI_QATTN_TASKS_PER_THREAD 4

/* real = scale * (q - zero). */
typedef struct qi_qattn_quant {
  double scale;
  int32_t zero;
} qi_qattn_quant;

/* Element count of a known shape within QI_QOP_MAX_NUMEL (qop_util.h),
 * else -1. */
int64_t qi_qattn_numel(const qi_shape *s);

/* QI_ERR_NOMEM naming the node. */
qi_status qi_qattn_nomem(const qi_node *n, qi_error *err);

/* Input k of n: present, of dtype `want`, of known bounded shape. */
qi_status qi_qattn_input(const qi_graph *g, const qi_node *n, int k,
                         qi_dtype want, const char *what, qi_error *err);

/* The per-tensor uint8 quantization of tensor t (role `what` of n). */
qi_status qi_qattn_tensor_quant(const qi_graph *g, const qi_node *n, int t,
                                const char *what, qi_qattn_quant *q,
                                qi_error *err);

/* INT attribute `name` in [lo, hi] (default def). */
qi_status qi_qattn_int_attr(const qi_node *n, const char *name, int64_t def,
                            int64_t lo, int64_t hi, int64_t *v,
                            qi_error *err);

/* nin_min..nin_max inputs, one output, and the attributes every op here
 * has: qmin, qmax, out_f32. */
qi_status qi_qattn_common_check(const qi_node *n, int nin_min, int nin_max,
                                int32_t *qmin, int32_t *qmax, int *out_f32,
                                qi_error *err);

/* The kernels for this CPU and QINFER_ISA (a bad override: the best). */
const qi_qattn_config *qi_qattn_op_config(void);

/* Tasks for `units` units of `work` each (see QI_QATTN_TASK_WORK); the
 * units per task in *per_task. */
size_t qi_qattn_split(size_t units, double work, int nthreads,
                      size_t *per_task);

/* Run-time check of buffer b against the prepared dtype and count. */
qi_status qi_qattn_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *b, qi_dtype dt, int64_t numel,
                           const char *what);

/* free_state of the ops here: their states are one malloc each. */
void qi_qattn_free_state(void *state);

/* Rank-4 shapes: stored NHWC [B, H, W, C] <-> FP32 NCHW [B, C, H, W]. */
qi_shape qi_qattn_nhwc_to_nchw(const qi_shape *s);
qi_shape qi_qattn_nchw_to_nhwc(const qi_shape *s);

/* dst[r][q] = src[(r * nq + q) * nc + c]: channel c of an NHWC block of
 * nr x nq pixels, gathered into a contiguous matrix. */
void qi_qattn_gather_channel(const uint8_t *src, size_t nr, size_t nq,
                             size_t nc, size_t c, uint8_t *dst);

/* The reverse: dst[(r * nq + q) * nc + c] = src[r][q]. */
void qi_qattn_scatter_channel(const uint8_t *src, size_t nr, size_t nq,
                              size_t nc, size_t c, uint8_t *dst);

#endif
