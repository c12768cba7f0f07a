/* The baseline (SSE2) instantiation of the float32 unary kernel, the ISA
 * dispatch in front of it, and the helpers that map fused activations and
 * split element-wise work over the thread pool. */
#define QI_VEC_BYTES 16
#define QI_UNARY_FN qi_unary_f32_generic
#include "ops/eltwise_unary_body.h"

#include "core/cpu_features.h"

int qi_unary_has_avx2(void) {
  return qi_cpu_features_have(qi_cpu_features_get(), QI_ISA_AVX2);
}

void qi_unary_f32(const qi_unary_params *p, const float *x, float *y,
                  size_t n) {
  if (qi_unary_has_avx2())
    qi_unary_f32_avx2(p, x, y, n);
  else
    qi_unary_f32_generic(p, x, y, n);
}

qi_unary_params qi_unary_from_act(const qi_act_params *act) {
  qi_unary_params p = {QI_UN_IDENTITY, act->alpha, act->beta, 0.0f};
  switch (act->act) {
    case QI_ACT_NONE: p.kind = QI_UN_IDENTITY; break;
    case QI_ACT_RELU: p.kind = QI_UN_RELU; break;
    case QI_ACT_CLIP: p.kind = QI_UN_CLIP; break;
    case QI_ACT_LEAKY: p.kind = QI_UN_LEAKY_RELU; break;
    case QI_ACT_SIGMOID: p.kind = QI_UN_SIGMOID; break;
    case QI_ACT_HARDSWISH: p.kind = QI_UN_HARD_SWISH; break;
    case QI_ACT_SILU: p.kind = QI_UN_SILU; break;
    case QI_ACT_GELU: p.kind = QI_UN_GELU; break;
    case QI_ACT_HARDSIGMOID: p.kind = QI_UN_HARD_SIGMOID; break;
    case QI_ACT_TANH: p.kind = QI_UN_TANH; break;
  }
  return p;
}

void qi_act_f32(const qi_act_params *act, const float *x, float *y, size_t n) {
  qi_unary_params p = qi_unary_from_act(act);
  qi_unary_f32(&p, x, y, n);
}

/* Below this many elements a tensor is done on the calling thread: waking
 * workers costs more than the work. */
#define QI_ELTWISE_PAR_MIN 65536
/* Tasks per thread, so that uneven progress evens out. */
#define QI_ELTWISE_TASKS_PER_THREAD 4

size_t qi_eltwise_split(const qi_run_ctx *ctx, size_t n, size_t *chunk) {
  int nt = ctx && ctx->pool ? ctx->nthreads : 1;
  if (nt <= 1 || n < QI_ELTWISE_PAR_MIN) {
    *chunk = n ? n : 1;
    return n ? 1 : 0;
  }
  size_t ntasks = (size_t)nt * QI_ELTWISE_TASKS_PER_THREAD;
  size_t c = (n + ntasks - 1) / ntasks;
  if (c < QI_ELTWISE_PAR_MIN / 4) c = QI_ELTWISE_PAR_MIN / 4;
  c = (c + 63) / 64 * 64;
  *chunk = c;
  return (n + c - 1) / c;
}

void qi_eltwise_parallel(const qi_run_ctx *ctx, qi_pool_fn fn, void *arg,
                         size_t ntasks) {
  if (ntasks > 1 && ctx && ctx->pool) {
    qi_pool_run(ctx->pool, fn, arg, ntasks);
    return;
  }
  for (size_t t = 0; t < ntasks; t++) fn(arg, t, 0);
}

qi_status qi_eltwise_dtype_error(const qi_node *n, int k, qi_dtype dt,
                                 qi_error *err) {
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): input %d has data type %s, which this op "
                 "does not run",
                 n->name, n->op_type, k, qi_dtype_name(dt));
}
