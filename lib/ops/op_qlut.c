/*
 * QiQLut (lib/quant/README.md): any function of one uint8 tensor into a
 * uint8 tensor of the same shape and layout is a 256-entry table, built at
 * prepare by qi_u8_lut_build (kernels/qlut/qlut.h) from the input and
 * output quantization, in double:
 *   table[q] = saturate_[qmin,qmax](rint(f((q - zx) * sx) / sy) + zy)
 * and applied byte by byte. Attributes: act (qi_u8_act_kind), alpha, beta
 * (floats; their meaning per act in qlut.h; absent: ONNX's defaults, 0.01
 * for LeakyRelu, 0.2 / 0.5 for HardSigmoid, -inf / +inf for Clip), qmin,
 * qmax.
 *
 * Threads: blocks of bytes are split across the session's pool.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/op.h"
#include "ops/qop_util.h"
#include "qlut/qlut.h"

/* Bytes per task unit: whole cache lines per task. */
#define QLUT_BLOCK 64

typedef struct qlut_state {
  qi_u8_lut_fn fn;
  int64_t n;
  uint8_t table[256];
} qlut_state;

static qi_status qlut_act(const qi_node *n, qi_u8_act *act, qi_error *err) {
  const qi_attr *a = qi_attr_find(n, "act");
  if (!a || a->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): int attribute act "
                   "missing", n->name, n->op_type);
  if (a->i < 0 || a->i >= QI_U8_ACT_COUNT)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): act %lld is not a qi_u8_act_kind "
                   "(0..%d)",
                   n->name, n->op_type, (long long)a->i, QI_U8_ACT_COUNT - 1);
  act->kind = (qi_u8_act_kind)a->i;
  float da = 0.0f, db = 0.0f;
  switch (act->kind) {
    case QI_U8_ACT_LEAKY_RELU: da = 0.01f; break;
    case QI_U8_ACT_HARD_SIGMOID: da = 0.2f; db = 0.5f; break;
    case QI_U8_ACT_CLIP: da = -INFINITY; db = INFINITY; break;
    case QI_U8_ACT_AFFINE: da = 1.0f; break;
    default: break;
  }
  float fa = qi_attr_float(n, "alpha", da), fb = qi_attr_float(n, "beta", db);
  if (isnan(fa) || isnan(fb))
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): alpha or beta is NaN",
                   n->name, n->op_type);
  act->alpha = fa;
  act->beta = fb;
  return QI_OK;
}

static qi_status qlut_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  qi_u8_act act;
  QI_TRY(qi_qop_check_unary(n, err));
  return qlut_act(n, &act, err);
}

static qi_status qlut_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qlut_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  qi_set_output(g, n, 0, QI_UINT8, qi_in_shape(g, n, 0));
  return QI_OK;
}

static void qlut_free_state(void *state) { free(state); }

static qi_status qlut_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qlut_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  qi_u8_act act;
  qi_qop_unary_quant q;
  QI_TRY(qlut_act(n, &act, err));
  QI_TRY(qi_qop_unary_quant_of(g, n, &q, err));
  qlut_state *s = malloc(sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  s->fn = qi_qop_qelt_config()->lut;
  s->n = qi_qop_numel(qi_in_shape(g, n, 0));
  qi_u8_lut_build(&act, q.x, q.y, q.qmin, q.qmax, s->table);
  qlut_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qlut_job {
  const qlut_state *s;
  const uint8_t *x;
  uint8_t *y;
  size_t units, per_task;
} qlut_job;

static void qlut_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qlut_job *j = arg;
  size_t u0, u1;
  qi_qop_task_range(task, j->per_task, j->units, &u0, &u1);
  size_t n = (size_t)j->s->n, e0 = u0 * QLUT_BLOCK, e1 = u1 * QLUT_BLOCK;
  if (e1 > n) e1 = n;
  if (e0 >= e1) return;
  j->s->fn(1, e1 - e0, j->x + e0, e1 - e0, j->y + e0, e1 - e0, j->s->table);
}

static qi_status qlut_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qlut_state *s = n->state;
  QI_TRY(qi_qop_run_buf(ctx, n, &in[0], "input", 0, s->n));
  QI_TRY(qi_qop_run_buf(ctx, n, &out[0], "output", 0, s->n));
  if (s->n == 0) return QI_OK;
  qlut_job j = {.s = s, .x = in[0].data, .y = out[0].data};
  j.units = ((size_t)s->n + QLUT_BLOCK - 1) / QLUT_BLOCK;
  size_t ntasks =
      qi_qop_split(j.units, QLUT_BLOCK, ctx->nthreads, &j.per_task);
  qi_pool_run(ctx->pool, qlut_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_qlut = {.op_type = "QiQLut",
                              .check = qlut_check,
                              .infer = qlut_infer,
                              .prepare = qlut_prepare,
                              .free_state = qlut_free_state,
                              .run = qlut_run};
