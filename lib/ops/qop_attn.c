/* Helpers shared by the INT8 attention and row ops (op_qattn.c,
 * op_qnorm.c): see qop_attn.h. */
#include "ops/qop_attn.h"

#include <math.h>
#include <stdlib.h>

#include "ops/qop_util.h"

/* The element bound of the other INT8 ops (qop_util.h): the same. */
int64_t qi_qattn_numel(const qi_shape *s) { return qi_qop_numel(s); }

qi_status qi_qattn_nomem(const qi_node *n, qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory", n->name,
                 n->op_type);
}

/* Input k of n: present, of dtype `want`, of known bounded shape. */
qi_status qi_qattn_input(const qi_graph *g, const qi_node *n, int k,
                         qi_dtype want, const char *what, qi_error *err) {
  if (k >= n->nin || n->in[k] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): input %s is missing",
                   n->name, n->op_type, what);
  const qi_tensor *t = &g->tensors[n->in[k]];
  if (t->dtype != want)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input %s '%s' is %s, %s expected", n->name,
                   n->op_type, what, t->name, qi_dtype_name(t->dtype),
                   qi_dtype_name(want));
  if (qi_qattn_numel(&t->shape) < 0 || t->shape.rank < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input %s '%s' has an unknown, empty-rank "
                   "or too large shape",
                   n->name, n->op_type, what, t->name);
  return QI_OK;
}

/* The per-tensor uint8 quantization of tensor t (role `what` of n). */
qi_status qi_qattn_tensor_quant(const qi_graph *g, const qi_node *n, int t,
                                const char *what, qi_qattn_quant *q,
                                qi_error *err) {
  const qi_tensor *x = &g->tensors[t];
  const qi_quant *qq = &x->quant;
  if (!qq->has || qq->axis >= 0 || !isfinite(qq->scale) ||
      !(qq->scale > 0.0f) || qq->zero_point < 0 || qq->zero_point > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s '%s' needs a per-tensor uint8 "
                   "quantization (finite scale > 0, zero point 0..255)",
                   n->name, n->op_type, what, x->name);
  q->scale = qq->scale;
  q->zero = qq->zero_point;
  return QI_OK;
}

/* INT attribute `name` in [lo, hi] (default def). */
qi_status qi_qattn_int_attr(const qi_node *n, const char *name, int64_t def,
                            int64_t lo, int64_t hi, int64_t *v, qi_error *err) {
  const qi_attr *a = qi_attr_find(n, name);
  *v = def;
  if (!a) return QI_OK;
  if (a->type != QI_ATTR_INT || a->i < lo || a->i > hi)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): attribute %s must be an int in "
                   "[%lld, %lld]",
                   n->name, n->op_type, name, (long long)lo, (long long)hi);
  *v = a->i;
  return QI_OK;
}

/* One output, and the attributes every op here has: qmin, qmax,
 * out_f32. */
qi_status qi_qattn_common_check(const qi_node *n, int nin_min, int nin_max,
                                int32_t *qmin, int32_t *qmax, int *out_f32,
                                qi_error *err) {
  QI_TRY(qi_check_inputs(n, nin_min, nin_max, err));
  if (n->nout != 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): needs one output",
                   n->name, n->op_type);
  int64_t lo, hi, f;
  QI_TRY(qi_qattn_int_attr(n, "qmin", 0, 0, 255, &lo, err));
  QI_TRY(qi_qattn_int_attr(n, "qmax", 255, 0, 255, &hi, err));
  if (lo > hi)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): qmin %lld > qmax %lld",
                   n->name, n->op_type, (long long)lo, (long long)hi);
  QI_TRY(qi_qattn_int_attr(n, "out_f32", 0, 0, 1, &f, err));
  *qmin = (int32_t)lo;
  *qmax = (int32_t)hi;
  *out_f32 = (int)f;
  return QI_OK;
}

const qi_qattn_config *qi_qattn_op_config(void) {
  const qi_qattn_config *cfg = NULL;
  /* A bad QINFER_ISA leaves the CPU's best config in cfg: run it. */
  (void)qi_qattn_config_default(&cfg, NULL);
  return cfg;
}

/* Tasks for `units` units of `work` each (see QI_QATTN_TASK_WORK). */
size_t qi_qattn_split(size_t units, double work, int nthreads,
                      size_t *per_task) {
  if (units == 0) {
    *per_task = 1;
    return 0;
  }
  double want = nthreads > 1 ? (double)units * work / QI_QATTN_TASK_WORK : 1.0;
  double cap = (double)nthreads * QI_QATTN_TASKS_PER_THREAD;
  if (want > cap) want = cap;
  size_t ntasks = want < 1.0 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

/* Run-time check of buffer b against the prepared dtype and count. */
qi_status qi_qattn_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *b, qi_dtype dt, int64_t numel,
                           const char *what) {
  if (b->dtype != dt || qi_qattn_numel(&b->shape) != numel ||
      (numel > 0 && !b->data))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): %s is not the %s buffer of %lld elements "
                   "prepared for",
                   n->name, n->op_type, what, qi_dtype_name(dt),
                   (long long)numel);
  return QI_OK;
}

void qi_qattn_free_state(void *state) { free(state); }

/* Rank-4 shapes: stored NHWC [B, H, W, C] <-> FP32 NCHW [B, C, H, W]. */
/* r.d[i] = s->d[perm[i]]. */
static qi_shape permute4(const qi_shape *s, const int perm[4]) {
  qi_shape r = *s;
  for (int i = 0; i < 4; i++) r.d[i] = s->d[perm[i]];
  return r;
}
qi_shape qi_qattn_nhwc_to_nchw(const qi_shape *s) {
  static const int perm[4] = {0, 3, 1, 2};
  return permute4(s, perm);
}
qi_shape qi_qattn_nchw_to_nhwc(const qi_shape *s) {
  static const int perm[4] = {0, 2, 3, 1};
  return permute4(s, perm);
}

/* dst[r][q] = src[(r * nq + q) * nc + c]: channel c of an NHWC block of
 * nr x nq pixels, gathered into a contiguous matrix. */
void qi_qattn_gather_channel(const uint8_t *src, size_t nr, size_t nq,
                             size_t nc, size_t c, uint8_t *dst) {
  const uint8_t *p = src + c;
  for (size_t i = 0; i < nr * nq; i++, p += nc) dst[i] = *p;
}

/* The reverse: dst[(r * nq + q) * nc + c] = src[r][q]. */
void qi_qattn_scatter_channel(const uint8_t *src, size_t nr, size_t nq,
                              size_t nc, size_t c, uint8_t *dst) {
  uint8_t *p = dst + c;
  for (size_t i = 0; i < nr * nq; i++, p += nc) *p = src[i];
}
