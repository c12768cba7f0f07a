/* Helpers of the uint8 element-wise ops (qop_elt_util.h). */
#include "ops/qop_elt_util.h"

#include <math.h>

int64_t qi_qelt_op_numel(const qi_shape *s) {
  if (!s || s->rank < 0 || s->rank > QI_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n) ||
        n > QI_QELT_OP_MAX_NUMEL)
      return -1;
  return n;
}

qi_status qi_qelt_op_check_u8_inputs(const qi_graph *g, const qi_node *n,
                                 qi_error *err) {
  for (int k = 0; k < n->nin; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    if (t->dtype != QI_UINT8)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): input %d '%s' is %s, expected uint8",
                     n->name, n->op_type, k, t->name, qi_dtype_name(t->dtype));
    if (qi_qelt_op_numel(&t->shape) < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): input %d '%s' has an unknown or too "
                     "large shape",
                     n->name, n->op_type, k, t->name);
  }
  return QI_OK;
}

qi_status qi_qelt_op_check_one_output(const qi_node *n, qi_error *err) {
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): no output", n->name,
                   n->op_type);
  for (int k = 1; k < n->nout; k++)
    if (n->out[k] >= 0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): output %d is not produced (one output "
                     "only)",
                     n->name, n->op_type, k);
  return QI_OK;
}

qi_status qi_qelt_op_tensor_quant(const qi_graph *g, const qi_node *n, int t,
                              const char *role, int k, qi_u8_quant *q,
                              qi_error *err) {
  if (t < 0 || t >= g->ntensors)
    return qi_fail(err, QI_ERR_INTERNAL, "node '%s' (%s): %s %d is missing",
                   n->name, n->op_type, role, k);
  const qi_tensor *tt = &g->tensors[t];
  const qi_quant *qu = &tt->quant;
  if (!qu->has)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has no quantization "
                   "parameters (scale, zero point)",
                   n->name, n->op_type, role, k, tt->name);
  if (qu->axis >= 0 && qu->nscales > 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s %d '%s' is quantized per channel "
                   "(axis %d); uint8 activations take one scale",
                   n->name, n->op_type, role, k, tt->name, qu->axis);
  if (!isfinite(qu->scale) || !(qu->scale > 0.0f))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has scale %g (must be finite "
                   "and > 0)",
                   n->name, n->op_type, role, k, tt->name, (double)qu->scale);
  if (qu->zero_point < 0 || qu->zero_point > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has zero point %d (must be "
                   "0..255)",
                   n->name, n->op_type, role, k, tt->name,
                   (int)qu->zero_point);
  q->scale = (double)qu->scale;
  q->zero = qu->zero_point;
  return QI_OK;
}

qi_status qi_qelt_op_in_quant(const qi_graph *g, const qi_node *n, int k,
                          qi_u8_quant *q, qi_error *err) {
  return qi_qelt_op_tensor_quant(g, n, k < n->nin ? n->in[k] : -1, "input", k, q,
                             err);
}

qi_status qi_qelt_op_out_quant(const qi_graph *g, const qi_node *n, int k,
                           qi_u8_quant *q, qi_error *err) {
  return qi_qelt_op_tensor_quant(g, n, k < n->nout ? n->out[k] : -1, "output", k,
                             q, err);
}

qi_status qi_qelt_op_clamp(const qi_node *n, int32_t *qmin, int32_t *qmax,
                       qi_error *err) {
  int64_t lo = qi_attr_int(n, "qmin", 0), hi = qi_attr_int(n, "qmax", 255);
  if (lo < 0 || hi > 255 || lo > hi)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): output clamp qmin = %lld, qmax = %lld "
                   "(need 0 <= qmin <= qmax <= 255)",
                   n->name, n->op_type, (long long)lo, (long long)hi);
  *qmin = (int32_t)lo;
  *qmax = (int32_t)hi;
  return QI_OK;
}

const qi_qelt_config *qi_qelt_op_config(void) {
  const qi_qelt_config *cfg = NULL;
  /* A bad QINFER_ISA still yields a usable fallback config. */
  qi_qelt_config_default(&cfg, NULL);
  return cfg ? cfg : qi_qelt_config_of(QI_ISA_SCALAR);
}

size_t qi_qelt_op_split(size_t units, double work_per_unit, int nthreads,
                    size_t *per_task) {
  *per_task = units;
  if (units == 0) return 0;
  double want =
      nthreads > 1 ? (double)units * work_per_unit / QI_QELT_OP_TASK_WORK : 1.0;
  double cap = nthreads > 1 ? (double)nthreads * QI_QELT_OP_TASKS_PER_THREAD : 1.0;
  if (want > cap) want = cap;
  size_t ntasks = want < 1.0 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

qi_status qi_qelt_op_run_prepared(const qi_run_ctx *ctx, const qi_node *n) {
  if (!n->state)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run before prepare", n->name, n->op_type);
  return QI_OK;
}

qi_status qi_qelt_op_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *b, const char *what, int k,
                         int64_t numel) {
  if (b->dtype != QI_UINT8 || qi_qelt_op_numel(&b->shape) != numel ||
      (numel > 0 && !b->data))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): %s %d is not the uint8 buffer of %lld "
                   "elements prepared for",
                   n->name, n->op_type, what, k, (long long)numel);
  return QI_OK;
}
