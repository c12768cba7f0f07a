/*
 * QiQConcat (lib/quant/README.md): n uint8 tensors of one rank joined
 * along `axis` of the stored layout (negative counts from the end); any
 * axis. With rows = the product of the dims before the axis and inner =
 * the product of those after it, output row r is the concatenation of each
 * input's row r, a chunk of dim[axis] * inner contiguous bytes.
 *
 * Each input with another quantization than the output (or a narrowed
 * qmin/qmax clamp) goes through its 256-entry requantization table
 * (qi_u8_requant_table: y = the output rule on (float)(x - zx) * (sx/sy),
 * the bytes a fused epilogue would give); the others are copied.
 *
 * Threads: output rows are split across the pool; with fewer rows than
 * tasks (axis 0 or 1 of a batch-1 tensor) each row's chunks are cut into
 * segments instead, since both copy and lookup work byte by byte.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/qop_util.h"

/* Shortest segment of a chunk worth a task of its own. */
#define QCAT_MIN_SEGMENT 4096

typedef struct qcat_input {
  size_t chunk;  /* bytes of this input in one output row */
  size_t offset; /* where they start in the output row */
  int copy;      /* same quantization: no table */
  uint8_t table[256];
} qcat_input;

typedef struct qcat_state {
  qi_u8_concat_fn fn;
  size_t rows, row_bytes; /* output rows and their length */
  int nin;
  qcat_input in[];
} qcat_state;

/* The node's axis normalised against `rank`. */
static qi_status qcat_axis(const qi_node *n, int rank, int *axis,
                           qi_error *err) {
  const qi_attr *a = qi_attr_find(n, "axis");
  if (!a || a->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): int attribute axis "
                   "missing", n->name, n->op_type);
  *axis = qi_norm_axis(a->i, rank);
  if (rank < 1 || *axis < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): axis %lld out of range for rank %d",
                   n->name, n->op_type, (long long)a->i, rank);
  return QI_OK;
}

static qi_status qcat_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  if (n->nin < 1)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): no inputs", n->name,
                   n->op_type);
  for (int k = 0; k < n->nin; k++)
    if (n->in[k] < 0)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): input %d is absent",
                     n->name, n->op_type, k);
  if (!qi_attr_find(n, "axis"))
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): attribute axis "
                   "missing", n->name, n->op_type);
  QI_TRY(qi_qop_check_one_output(n, err));
  return qi_qop_clamp_attrs(n, &qmin, &qmax, err);
}

/* Output shape and axis from the graph's input shapes. */
static qi_status qcat_shape(const qi_graph *g, const qi_node *n, qi_shape *out,
                            int *axis, qi_error *err) {
  QI_TRY(qcat_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  const qi_shape *s0 = qi_in_shape(g, n, 0);
  QI_TRY(qcat_axis(n, s0->rank, axis, err));
  *out = *s0;
  for (int k = 1; k < n->nin; k++) {
    const qi_shape *s = qi_in_shape(g, n, k);
    int same = s->rank == s0->rank;
    for (int i = 0; same && i < s->rank; i++)
      same = i == *axis || s->d[i] == s0->d[i];
    if (!same) {
      char a[96], b[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): input %d '%s' of shape %s does not "
                     "match input 0 %s outside axis %d",
                     n->name, n->op_type, k, g->tensors[n->in[k]].name,
                     qi_shape_str(s, a, sizeof a),
                     qi_shape_str(s0, b, sizeof b), *axis);
    }
    out->d[*axis] += s->d[*axis]; /* each <= 2^46: no overflow */
  }
  if (qi_qop_numel(out) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): output too large",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status qcat_infer(qi_graph *g, qi_node *n, qi_error *err) {
  qi_shape out;
  int axis;
  QI_TRY(qcat_shape(g, n, &out, &axis, err));
  qi_set_output(g, n, 0, QI_UINT8, &out);
  return QI_OK;
}

static void qcat_free_state(void *state) { free(state); }

static qi_status qcat_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  qi_shape out;
  int axis;
  QI_TRY(qcat_shape(g, n, &out, &axis, err));
  qi_u8_quant qy;
  int32_t qmin, qmax;
  QI_TRY(qi_qop_out_quant(g, n, &qy, err));
  QI_TRY(qi_qop_clamp_attrs(n, &qmin, &qmax, err));
  qcat_state *s =
      calloc(1, sizeof *s + (size_t)n->nin * sizeof(qcat_input));
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  size_t rows = 1, inner = 1;
  for (int i = 0; i < axis; i++) rows *= (size_t)out.d[i];
  for (int i = axis + 1; i < out.rank; i++) inner *= (size_t)out.d[i];
  s->fn = qi_qop_qelt_config()->concat;
  s->rows = rows;
  s->row_bytes = (size_t)out.d[axis] * inner;
  s->nin = n->nin;
  size_t offset = 0;
  for (int k = 0; k < n->nin; k++) {
    qi_u8_quant qx;
    qi_status st = qi_qop_in_quant(g, n, k, &qx, err);
    if (st != QI_OK) {
      free(s);
      return st;
    }
    qcat_input *in = &s->in[k];
    in->chunk = (size_t)qi_in_shape(g, n, k)->d[axis] * inner;
    in->offset = offset;
    offset += in->chunk;
    in->copy = !qi_qop_requant_table(qx, qy, qmin, qmax, in->table);
  }
  qcat_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qcat_job {
  const qcat_state *s;
  const qi_buf *in;
  uint8_t *y;
  size_t nseg;  /* segments per row */
  size_t units, per_task;
} qcat_job;

static void qcat_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qcat_job *j = arg;
  const qcat_state *s = j->s;
  size_t u0, u1;
  qi_qop_task_range(task, j->per_task, j->units, &u0, &u1);
  if (u0 >= u1) return;
  if (j->nseg == 1) { /* units are rows: one kernel call per input */
    for (int k = 0; k < s->nin; k++) {
      const qcat_input *in = &s->in[k];
      if (!in->chunk) continue;
      const uint8_t *x = (const uint8_t *)j->in[k].data + u0 * in->chunk;
      s->fn(u1 - u0, in->chunk, x, in->chunk,
            j->y + u0 * s->row_bytes + in->offset, s->row_bytes,
            in->copy ? NULL : in->table);
    }
    return;
  }
  for (size_t u = u0; u < u1; u++) {
    size_t row = u / j->nseg, seg = u % j->nseg;
    for (int k = 0; k < s->nin; k++) {
      const qcat_input *in = &s->in[k];
      size_t len = (in->chunk + j->nseg - 1) / j->nseg;
      size_t a = seg * len, b = a + len < in->chunk ? a + len : in->chunk;
      if (a >= b) continue;
      const uint8_t *x = (const uint8_t *)j->in[k].data + row * in->chunk + a;
      s->fn(1, b - a, x, b - a, j->y + row * s->row_bytes + in->offset + a,
            b - a, in->copy ? NULL : in->table);
    }
  }
}

static qi_status qcat_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qcat_state *s = n->state;
  for (int k = 0; k < s->nin; k++)
    QI_TRY(qi_qop_run_buf(ctx, n, &in[k], "input", k,
                           (int64_t)(s->rows * s->in[k].chunk)));
  QI_TRY(qi_qop_run_buf(ctx, n, &out[0], "output", 0,
                         (int64_t)(s->rows * s->row_bytes)));
  if (s->rows == 0 || s->row_bytes == 0) return QI_OK;
  qcat_job j = {.s = s, .in = in, .y = out[0].data, .nseg = 1};
  int nthreads = ctx->nthreads > 1 ? ctx->nthreads : 1;
  size_t want = (size_t)nthreads * QI_QOP_TASKS_PER_THREAD;
  if (nthreads > 1 && s->rows < want) {
    size_t max_chunk = 0;
    for (int k = 0; k < s->nin; k++)
      if (s->in[k].chunk > max_chunk) max_chunk = s->in[k].chunk;
    size_t nseg = (want + s->rows - 1) / s->rows;
    size_t cap = max_chunk / QCAT_MIN_SEGMENT;
    j.nseg = nseg < cap ? nseg : (cap > 1 ? cap : 1);
  }
  j.units = s->rows * j.nseg;
  size_t ntasks = qi_qop_split(
      j.units, (double)s->row_bytes / (double)j.nseg, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, qcat_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_qconcat = {.op_type = "QiQConcat",
                                 .check = qcat_check,
                                 .infer = qcat_infer,
                                 .prepare = qcat_prepare,
                                 .free_state = qcat_free_state,
                                 .run = qcat_run};
