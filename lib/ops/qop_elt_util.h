/*
 * Helpers shared by the uint8 element-wise, pooling, resize and table ops
 * of the INT8 graph (op_qbinary.c, op_qconcat.c, op_qpool.c, op_qresize.c,
 * op_qlut.c; lib/quant/README.md): reading and checking the quantization
 * of a node's tensors, the output clamp attributes, the kernel config, and
 * how a run is split into tasks for the session's thread pool.
 */
#ifndef QI_OPS_QOP_ELT_UTIL_H
#define QI_OPS_QOP_ELT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/qelt_dispatch.h"
#include "ops/op.h"

/* Bound on the element count of a uint8 tensor: shapes come from model
 * files, so every product below stays far from overflow. */
#define QI_QELT_OP_MAX_NUMEL ((int64_t)1 << 46)

/* Bytes (or taps) one task should handle at least, so that waking the
 * pool's threads pays for itself; a run is cut into at most 4 tasks per
 * thread so uneven tasks balance. */
#define QI_QELT_OP_TASK_WORK 16384.0
#define QI_QELT_OP_TASKS_PER_THREAD 4

/* Element count of a known shape, or -1 when unknown, negative or above
 * QI_QELT_OP_MAX_NUMEL. */
int64_t qi_qelt_op_numel(const qi_shape *s);

/* Checks that every present input of n is a uint8 tensor of known, bounded
 * shape (QI_ERR_UNSUPPORTED naming node and tensor otherwise). */
qi_status qi_qelt_op_check_u8_inputs(const qi_graph *g, const qi_node *n,
                                 qi_error *err);

/* One output only (MaxPool's optional indices are not produced). */
qi_status qi_qelt_op_check_one_output(const qi_node *n, qi_error *err);

/* The per-tensor uint8 quantization of tensor t (index into g->tensors),
 * read by node n in the role "input k" / "output k". Fails with a message
 * naming node and tensor when it is missing, per channel, or invalid
 * (scale not finite > 0, zero point outside 0..255). */
qi_status qi_qelt_op_tensor_quant(const qi_graph *g, const qi_node *n, int t,
                              const char *role, int k, qi_u8_quant *q,
                              qi_error *err);
qi_status qi_qelt_op_in_quant(const qi_graph *g, const qi_node *n, int k,
                          qi_u8_quant *q, qi_error *err);
qi_status qi_qelt_op_out_quant(const qi_graph *g, const qi_node *n, int k,
                           qi_u8_quant *q, qi_error *err);

/* The output clamp attributes qmin, qmax (defaults 0, 255), checked
 * 0 <= qmin <= qmax <= 255. */
qi_status qi_qelt_op_clamp(const qi_node *n, int32_t *qmin, int32_t *qmax,
                       qi_error *err);

/* The kernel config for this CPU and QINFER_ISA, chosen at prepare (an
 * unusable override falls back to the best ISA, as the other INT8 ops do). */
const qi_qelt_config *qi_qelt_op_config(void);

/* Splits `units` units of `work_per_unit` bytes each for `nthreads`
 * threads: returns the task count (0 when units == 0) and the units per
 * task in *per_task (the last task may get fewer). */
size_t qi_qelt_op_split(size_t units, double work_per_unit, int nthreads,
                    size_t *per_task);

/* Range [*u0, *u1) of units of task `task`. */
static inline void qi_qelt_op_task_range(size_t task, size_t per_task,
                                     size_t units, size_t *u0, size_t *u1) {
  size_t a = task * per_task, b = a + per_task;
  *u0 = a < units ? a : units;
  *u1 = b < units ? b : units;
}

/* Run-time checks of the buffers against what prepare planned for: n's
 * state exists, buffer `what` k is uint8 with `numel` elements and data. */
qi_status qi_qelt_op_run_prepared(const qi_run_ctx *ctx, const qi_node *n);
qi_status qi_qelt_op_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *b, const char *what, int k,
                         int64_t numel);

#endif
