/*
 * QiQAdd and QiQMul (lib/quant/README.md): y = a + b or a * b of two
 * uint8 tensors, each with its own scale and zero point, requantized to the
 * output's, clamped to [qmin, qmax]. The arithmetic is the kernels'
 * (kernels/qelt/qelt.h):
 *   Add  v = (float)(a - za) * (sa/sy) + (float)(b - zb) * (sb/sy)
 *   Mul  v = (float)((a - za) * (b - zb)) * (sa*sb/sy)
 *   y    = saturate_[qmin,qmax](round_half_even(v) + zy)
 * with the multipliers rounded to float once from double at prepare.
 *
 * Shapes: the output is the numpy broadcast of a and b, and one operand
 * must already have it. The other has the same element count, a single
 * element, or one row along the last (stored) dim: every other dim 1
 * (NHWC [1,H,W,C] op [1,1,1,C] or [C]). Both formulas are symmetric bit
 * for bit, so when a is the broadcast operand the operands are swapped.
 *
 * Threads: rows of the last dim (row broadcast) or blocks of elements are
 * split across the session's pool.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/qop_util.h"

/* Elements per task unit of the flat forms: whole cache lines per task. */
#define QBIN_BLOCK 64

/* How a and b combine, from their shapes. */
typedef struct qbin_form {
  qi_shape out;
  qi_u8_bcast bcast;
  int swap;         /* the full operand is input 1 */
  int64_t n;        /* output elements */
  int64_t c;        /* row length (last dim) for QI_U8_BCAST_ROW */
  int64_t n_small;  /* elements of the other operand */
} qbin_form;

typedef struct qbin_state {
  qbin_form f;
  qi_u8_binary_fn fn;
  qi_u8_binary_params p;
} qbin_state;

static int is_mul(const qi_node *n) { return strcmp(n->op_type, "QiQMul") == 0; }

static qi_status qbin_form_of(const qi_node *n, const qi_shape *a,
                              const qi_shape *b, qbin_form *f, qi_error *err) {
  memset(f, 0, sizeof *f);
  char sa[96], sb[96];
  if (qi_broadcast_shapes(a, b, &f->out, NULL) != QI_OK)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input shapes %s and %s do not broadcast",
                   n->name, n->op_type, qi_shape_str(a, sa, sizeof sa),
                   qi_shape_str(b, sb, sizeof sb));
  int64_t na = qi_qop_numel(a), nb = qi_qop_numel(b);
  f->n = qi_qop_numel(&f->out);
  if (na < 0 || nb < 0 || f->n < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): shapes unknown or too large", n->name,
                   n->op_type);
  if (na == f->n && nb == f->n) {
    f->bcast = QI_U8_BCAST_NONE;
    f->n_small = f->n;
    return QI_OK;
  }
  if (na != f->n && nb != f->n)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): both inputs broadcast (%s and %s); one "
                   "must have the output's shape",
                   n->name, n->op_type, qi_shape_str(a, sa, sizeof sa),
                   qi_shape_str(b, sb, sizeof sb));
  f->swap = na != f->n;
  const qi_shape *small = f->swap ? a : b;
  f->n_small = f->swap ? na : nb;
  if (f->n_small == 1) {
    f->bcast = QI_U8_BCAST_SCALAR;
    return QI_OK;
  }
  /* Broadcast compatibility already holds: the small operand is a row when
   * all its dims but the last are 1 (its last then equals the output's). */
  int row = small->rank >= 1;
  for (int i = 0; row && i + 1 < small->rank; i++) row = small->d[i] == 1;
  if (!row || small->d[small->rank - 1] != f->out.d[f->out.rank - 1])
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input %d of shape %s broadcasts over "
                   "more than the last dim of %s; only a per-last-dim row "
                   "or a single element is supported",
                   n->name, n->op_type, f->swap ? 0 : 1,
                   qi_shape_str(small, sa, sizeof sa),
                   qi_shape_str(&f->out, sb, sizeof sb));
  f->bcast = QI_U8_BCAST_ROW;
  f->c = f->out.d[f->out.rank - 1];
  return QI_OK;
}

static qi_status qbin_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  QI_TRY(qi_qop_check_one_output(n, err));
  return qi_qop_clamp_attrs(n, &qmin, &qmax, err);
}

static qi_status qbin_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qbin_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  qbin_form f;
  QI_TRY(qbin_form_of(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), &f, err));
  qi_set_output(g, n, 0, QI_UINT8, &f.out);
  return QI_OK;
}

static void qbin_free_state(void *state) { free(state); }

static qi_status qbin_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qbin_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  qbin_form f;
  QI_TRY(qbin_form_of(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), &f, err));
  qi_u8_quant qa, qb, qy;
  int32_t qmin, qmax;
  QI_TRY(qi_qop_in_quant(g, n, 0, &qa, err));
  QI_TRY(qi_qop_in_quant(g, n, 1, &qb, err));
  QI_TRY(qi_qop_out_quant(g, n, &qy, err));
  QI_TRY(qi_qop_clamp_attrs(n, &qmin, &qmax, err));
  if (f.swap) { /* the kernel's a is the full operand */
    qi_u8_quant t = qa;
    qa = qb;
    qb = t;
  }
  qbin_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  const qi_qelt_config *cfg = qi_qop_qelt_config();
  s->f = f;
  if (is_mul(n)) {
    s->fn = cfg->mul;
    s->p = qi_u8_mul_params_make(qa.scale, qa.zero, qb.scale, qb.zero,
                                 qy.scale, qy.zero, qmin, qmax);
  } else {
    s->fn = cfg->add;
    s->p = qi_u8_add_params_make(qa.scale, qa.zero, qb.scale, qb.zero,
                                 qy.scale, qy.zero, qmin, qmax);
  }
  qbin_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qbin_job {
  const qbin_state *s;
  const uint8_t *a, *b; /* a full, b as s->f.bcast says */
  uint8_t *y;
  size_t units, per_task;
} qbin_job;

static void qbin_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qbin_job *j = arg;
  const qbin_form *f = &j->s->f;
  size_t u0, u1;
  qi_qop_task_range(task, j->per_task, j->units, &u0, &u1);
  if (u0 >= u1) return;
  if (f->bcast == QI_U8_BCAST_ROW) { /* units are rows */
    size_t c = (size_t)f->c, off = u0 * c;
    j->s->fn(u1 - u0, c, j->a + off, j->b, f->bcast, j->y + off, &j->s->p);
    return;
  }
  size_t n = (size_t)f->n, e0 = u0 * QBIN_BLOCK, e1 = u1 * QBIN_BLOCK;
  if (e1 > n) e1 = n;
  const uint8_t *b = f->bcast == QI_U8_BCAST_NONE ? j->b + e0 : j->b;
  j->s->fn(1, e1 - e0, j->a + e0, b, f->bcast, j->y + e0, &j->s->p);
}

static qi_status qbin_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qbin_state *s = n->state;
  const qbin_form *f = &s->f;
  int full = f->swap ? 1 : 0;
  QI_TRY(qi_qop_run_buf(ctx, n, &in[full], "input", full, f->n));
  QI_TRY(qi_qop_run_buf(ctx, n, &in[1 - full], "input", 1 - full,
                         f->n_small));
  QI_TRY(qi_qop_run_buf(ctx, n, &out[0], "output", 0, f->n));
  if (f->n == 0) return QI_OK;
  qbin_job j = {.s = s, .a = in[full].data, .b = in[1 - full].data,
                .y = out[0].data};
  size_t ntasks;
  if (f->bcast == QI_U8_BCAST_ROW) {
    j.units = (size_t)(f->n / f->c);
    ntasks = qi_qop_split(j.units, (double)f->c, ctx->nthreads, &j.per_task);
  } else {
    j.units = ((size_t)f->n + QBIN_BLOCK - 1) / QBIN_BLOCK;
    ntasks = qi_qop_split(j.units, QBIN_BLOCK, ctx->nthreads, &j.per_task);
  }
  qi_pool_run(ctx->pool, qbin_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_qadd = {.op_type = "QiQAdd",
                              .check = qbin_check,
                              .infer = qbin_infer,
                              .prepare = qbin_prepare,
                              .free_state = qbin_free_state,
                              .run = qbin_run};
const qi_op_def qi_op_qmul = {.op_type = "QiQMul",
                              .check = qbin_check,
                              .infer = qbin_infer,
                              .prepare = qbin_prepare,
                              .free_state = qbin_free_state,
                              .run = qbin_run};
