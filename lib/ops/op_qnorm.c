/*
 * The INT8 row ops of the lowered graph (lib/quant/README.md) over the
 * kernels of core/qattn_dispatch.h (helpers shared with op_qattn.c in
 * qop_attn.h):
 *
 * QiQSoftmax    x u8 [..., N]; attrs out_f32, qmin, qmax. Softmax over the
 *               last dim: exponentials from a 256-entry table made at
 *               prepare from the input scale, uint8 output on the output
 *               tensor's grid (lowering gives it 1/256, 0) or float.
 * QiQLayerNorm  x u8 [..., N], scale f32 const [N], B f32 const [N]
 *               (optional); attrs epsilon (default 1e-5), out_f32, qmin,
 *               qmax, axis (default -1). Normalizes over the last dim with
 *               exact integer statistics; scale and B are divided by the
 *               output scale at prepare (double, rounded once) for uint8
 *               output. axis = 1 at rank 4 (uint8 output only) normalizes
 *               over the channels C of FP32 [B, C, H, W], the contiguous
 *               last dim of the NHWC twin: ConvNeXt's channels-last
 *               LayerNorm once lib/quant/lower_chlast.c drops its
 *               Transposes.
 *
 * Quantization comes from the graph's tensors at prepare, never from
 * attributes. The kernels' arithmetic is written down in
 * kernels/qattn/qattn.h and kernels/qnorm/qnorm.h.
 *
 * Layout. Shapes above are the FP32 ones. A rank-4 uint8 tensor of the
 * INT8 graph is stored NHWC: FP32 [B, C, H, W] as [B, H, W, C], so a row
 * of the last FP32 axis (W) is strided by C. At rank 4 the ops transpose
 * each [W][C] pixel row into C contiguous rows and back (float outputs are
 * NCHW, the FP32 layout); other ranks keep the FP32 layout and run in
 * place.
 *
 * Threads: rows are split into tasks (rank 4: pixel rows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/qop_attn.h"

/* ---- QiQSoftmax and QiQLayerNorm: rows of the last dim ---------------- */

/* Where the rows of the last FP32 axis lie. */
typedef struct rows_geom {
  int64_t rows, n; /* rows of n elements */
  int nhwc;        /* rank 4: stored [B, H, W, C], rows along W */
  int64_t c;       /* rank 4: C */
  int64_t h;       /* rank 4: H */
} rows_geom;

/* chan: rank 4 normalized over FP32 axis 1 (C), the twin's contiguous
 * last dim: plain rows, as at other ranks. */
static void rows_geom_of(const qi_shape *x, int chan, rows_geom *r) {
  memset(r, 0, sizeof *r);
  r->nhwc = x->rank == 4 && !chan;
  r->n = r->nhwc ? x->d[2] : x->d[x->rank - 1];
  int64_t total = qi_qattn_numel(x);
  r->rows = r->n > 0 ? total / r->n : 0;
  if (r->nhwc) {
    r->c = x->d[3];
    r->h = x->d[1];
  }
}

/* The output shape: x's, or at rank 4 with float output the NCHW one. */
static qi_shape rows_out_shape(const qi_shape *x, int out_f32) {
  return x->rank == 4 && out_f32 ? qi_qattn_nhwc_to_nchw(x) : *x;
}

/* Rank 4: scratch per thread for one pixel row, in and out. */
static size_t rows_slice(const rows_geom *r, int out_f32) {
  if (!r->nhwc) return 0;
  size_t px = (size_t)(r->n * r->c);
  return ((px + 63) & ~(size_t)63) +
         ((px * (out_f32 ? sizeof(float) : 1) + 63) & ~(size_t)63);
}

/* fn(state, rows, n, x, y): the op's kernel on contiguous rows. */
typedef void (*rows_fn)(const void *s, size_t rows, size_t n, const uint8_t *x,
                        void *y);

/* The first member of both row ops' states: what running them needs. */
typedef struct rows_head {
  rows_geom geo;
  int out_f32;
  rows_fn rows;
} rows_head;

/* Row-wise ops share their job: rows of n elements of x into y. */
typedef struct rows_job {
  const void *s; /* the op's state */
  const uint8_t *x;
  unsigned char *y;
  rows_geom geo;
  size_t esize;
  rows_fn rows;
  unsigned char *scratch;
  size_t slice;
  size_t units, per_task; /* rows, or rank 4 pixel rows (b, h) */
} rows_job;

/* Rank 4, pixel row u = b * H + h: its [W][C] block transposed to C
 * rows of W, the op, and back to NHWC (uint8) or to the C rows
 * (b, c, h) of the NCHW float output. */
static void rows_pixel_row(const rows_job *j, size_t u, unsigned char *ws) {
  const size_t n = (size_t)j->geo.n, c = (size_t)j->geo.c;
  const size_t h = (size_t)j->geo.h, b = u / h, hh = u % h;
  uint8_t *tx = ws;
  unsigned char *ty = ws + ((n * c + 63) & ~(size_t)63);
  const uint8_t *x = j->x + u * n * c;
  for (size_t ch = 0; ch < c; ch++)
    qi_qattn_gather_channel(x, 1, n, c, ch, tx + ch * n);
  j->rows(j->s, c, n, tx, ty);
  if (j->esize == 1) {
    for (size_t ch = 0; ch < c; ch++)
      qi_qattn_scatter_channel(ty + ch * n, 1, n, c, ch, j->y + u * n * c);
    return;
  }
  for (size_t ch = 0; ch < c; ch++)
    memcpy(j->y + ((b * c + ch) * h + hh) * n * j->esize,
           ty + ch * n * j->esize, n * j->esize);
}

static void rows_task(void *arg, size_t task, int thread) {
  const rows_job *j = arg;
  size_t r0 = task * j->per_task, r1 = r0 + j->per_task;
  if (r1 > j->units) r1 = j->units;
  if (r0 >= r1) return;
  if (j->geo.nhwc) {
    unsigned char *ws = j->scratch + (size_t)thread * j->slice;
    for (size_t u = r0; u < r1; u++) rows_pixel_row(j, u, ws);
    return;
  }
  size_t n = (size_t)j->geo.n;
  j->rows(j->s, r1 - r0, n, j->x + r0 * n, j->y + r0 * n * j->esize);
}

static size_t rows_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  (void)g;
  const rows_head *h = n->state;
  return h ? rows_slice(&h->geo, h->out_f32) *
                 (size_t)(nthreads > 0 ? nthreads : 1)
           : 0;
}

static qi_status rows_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  const rows_head *h = n->state;
  if (!h)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run before prepare", n->name, n->op_type);
  const rows_geom *geo = &h->geo;
  int out_f32 = h->out_f32;
  int64_t numel = geo->rows * geo->n;
  QI_TRY(qi_qattn_run_buf(ctx, n, &in[0], QI_UINT8, numel, "input"));
  QI_TRY(qi_qattn_run_buf(ctx, n, &out[0], out_f32 ? QI_FLOAT32 : QI_UINT8,
                          numel, "output"));
  int nthreads = qi_pool_size(ctx->pool);
  size_t slice = rows_slice(geo, out_f32), need = slice * (size_t)nthreads;
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): scratch of %zu bytes given, %zu needed",
                   n->name, n->op_type, ctx->scratch_bytes, need);
  if (numel == 0) return QI_OK;
  rows_job j = {.s = h,
                .x = in[0].data,
                .y = out[0].data,
                .geo = *geo,
                .esize = out_f32 ? sizeof(float) : 1,
                .rows = h->rows,
                .scratch = ctx->scratch,
                .slice = slice};
  j.units = (size_t)(geo->nhwc ? geo->rows / geo->c : geo->rows);
  double work = 4.0 * (double)geo->n * (double)(geo->nhwc ? geo->c : 1);
  size_t ntasks = qi_qattn_split(j.units, work, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, rows_task, &j, ntasks);
  return QI_OK;
}

/* ---- QiQSoftmax -------------------------------------------------------- */

typedef struct qsm_state {
  rows_head h;
  qi_u8_softmax_fn fn;
  qi_u8_softmax_params p; /* p.table points into this state */
  float table[256];
} qsm_state;

static void qsm_rows(const void *state, size_t rows, size_t n, const uint8_t *x,
                     void *y) {
  const qsm_state *s = state;
  s->fn(rows, n, x, y, &s->p);
}

static qi_status qsm_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  int f;
  return qi_qattn_common_check(n, 1, 1, &qmin, &qmax, &f, err);
}

/* The optional axis attribute must name the last dim. */
static qi_status qsm_axis(const qi_node *n, int rank, qi_error *err) {
  const qi_attr *a = qi_attr_find(n, "axis");
  if (a && (a->type != QI_ATTR_INT || qi_norm_axis(a->i, rank) != rank - 1))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only the last axis is supported", n->name,
                   n->op_type);
  return QI_OK;
}

static qi_status qsm_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qsm_check(g, n, err));
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  QI_TRY(qsm_axis(n, x->rank, err));
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0;
  qi_shape y = rows_out_shape(x, out_f32);
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static qi_status qsm_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  int out_f32;
  QI_TRY(qi_qattn_common_check(n, 1, 1, &qmin, &qmax, &out_f32, err));
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  QI_TRY(qsm_axis(n, x->rank, err));
  qi_qattn_quant qx, qy;
  QI_TRY(qi_qattn_tensor_quant(g, n, n->in[0], "input x", &qx, err));
  if (!out_f32)
    QI_TRY(qi_qattn_tensor_quant(g, n, n->out[0], "output", &qy, err));
  qsm_state *s = malloc(sizeof *s);
  if (!s) return qi_qattn_nomem(n, err);
  qi_u8_softmax_table_make(qx.scale, s->table);
  s->p = out_f32 ? qi_u8_softmax_params_make_f32(s->table)
                 : qi_u8_softmax_params_make(s->table, qy.scale, qy.zero, qmin,
                                             qmax);
  s->fn = qi_qattn_op_config()->softmax;
  rows_geom_of(x, 0, &s->h.geo);
  s->h.out_f32 = out_f32;
  s->h.rows = qsm_rows;
  qi_qattn_free_state(n->state);
  n->state = s;
  return QI_OK;
}

const qi_op_def qi_op_qsoftmax = {.op_type = "QiQSoftmax",
                                  .check = qsm_check,
                                  .infer = qsm_infer,
                                  .prepare = qsm_prepare,
                                  .free_state = qi_qattn_free_state,
                                  .scratch_bytes = rows_scratch_bytes,
                                  .run = rows_run,
                                  .foldable = 0};

/* ---- QiQLayerNorm ------------------------------------------------------ */

typedef struct qln_state {
  rows_head h;
  qi_u8_layernorm_fn fn;
  qi_u8_layernorm_params p; /* p.g, p.b point at gb */
  float gb[];               /* g[n] then b[n], in output units */
} qln_state;

static void qln_rows(const void *state, size_t rows, size_t n, const uint8_t *x,
                     void *y) {
  const qln_state *s = state;
  s->fn(rows, n, x, y, &s->p);
}

static qi_status qln_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  int f;
  QI_TRY(qi_qattn_common_check(n, 2, 3, &qmin, &qmax, &f, err));
  const qi_attr *ax = qi_attr_find(n, "axis");
  if (ax && ax->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis must be an int", n->name, n->op_type);
  const qi_attr *e = qi_attr_find(n, "epsilon");
  if (e && (e->type != QI_ATTR_FLOAT || !isfinite(e->f) || e->f < 0.0f))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): epsilon must be a finite float >= 0",
                   n->name, n->op_type);
  return QI_OK;
}

/* Scale (k = 1) or B (k = 2): a float32 input of len elements whose dims
 * other than the last are 1; its data if constant (else NULL). */
static qi_status qln_param(const qi_graph *g, const qi_node *n, int k,
                           int64_t len, const float **data, qi_error *err) {
  const char *what = k == 1 ? "scale" : "B";
  *data = NULL;
  QI_TRY(qi_qattn_input(g, n, k, QI_FLOAT32, what, err));
  const qi_tensor *t = &g->tensors[n->in[k]];
  int ok =
      t->shape.d[t->shape.rank - 1] == len && qi_qattn_numel(&t->shape) == len;
  if (!ok) {
    char b1[96];
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): %s '%s' of shape %s must hold one value "
                   "per element of the last dim (%lld)",
                   n->name, n->op_type, what, t->name,
                   qi_shape_str(&t->shape, b1, sizeof b1), (long long)len);
  }
  if (t->kind == QI_TK_CONST && t->data &&
      t->nbytes == (size_t)len * sizeof(float))
    *data = t->data;
  return QI_OK;
}

/* The normalized axis (attribute axis, FP32 numbering, default the last):
 * the last, or at rank 4 the channel axis 1 (*chan = 1), which only a
 * uint8 output supports. */
static qi_status qln_axis(const qi_node *n, const qi_shape *x, int out_f32,
                          int *chan, qi_error *err) {
  int a = qi_norm_axis(qi_attr_int(n, "axis", -1), x->rank);
  *chan = x->rank == 4 && a == 1;
  if (a != x->rank - 1 && !*chan)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis must be the last (or 1 at rank 4)",
                   n->name, n->op_type);
  if (*chan && out_f32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis 1 needs uint8 output (out_f32 = 0)",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status qln_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qln_check(g, n, err));
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  const float *d;
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0, chan;
  QI_TRY(qln_axis(n, x, out_f32, &chan, err));
  rows_geom geo;
  rows_geom_of(x, chan, &geo);
  QI_TRY(qln_param(g, n, 1, geo.n, &d, err));
  if (n->nin > 2 && n->in[2] >= 0) QI_TRY(qln_param(g, n, 2, geo.n, &d, err));
  qi_shape y = rows_out_shape(x, out_f32);
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static qi_status qln_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  int out_f32;
  QI_TRY(qln_check(g, n, err));
  QI_TRY(qi_qattn_common_check(n, 2, 3, &qmin, &qmax, &out_f32, err));
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  int chan;
  QI_TRY(qln_axis(n, x, out_f32, &chan, err));
  rows_geom geo;
  rows_geom_of(x, chan, &geo);
  int64_t len = geo.n;
  if (len < 1 || (size_t)len > QI_U8_LAYERNORM_MAX_N)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): last dim %lld is outside 1..%zu", n->name,
                   n->op_type, (long long)len, QI_U8_LAYERNORM_MAX_N);
  const float *gamma, *beta = NULL;
  QI_TRY(qln_param(g, n, 1, len, &gamma, err));
  int has_b = n->nin > 2 && n->in[2] >= 0;
  if (has_b) QI_TRY(qln_param(g, n, 2, len, &beta, err));
  if (!gamma || (has_b && !beta))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): scale and B must be constants", n->name,
                   n->op_type);
  qi_qattn_quant qx, qy = {1.0, 0};
  QI_TRY(qi_qattn_tensor_quant(g, n, n->in[0], "input x", &qx, err));
  if (!out_f32)
    QI_TRY(qi_qattn_tensor_quant(g, n, n->out[0], "output", &qy, err));
  qln_state *s = malloc(sizeof *s + sizeof(float) * 2 * (size_t)len);
  if (!s) return qi_qattn_nomem(n, err);
  float *gs = s->gb, *bs = s->gb + len;
  /* In output units: one rounding from double (none for float output). */
  for (int64_t i = 0; i < len; i++) {
    gs[i] = out_f32 ? gamma[i] : (float)((double)gamma[i] / qy.scale);
    bs[i] = !beta     ? 0.0f
            : out_f32 ? beta[i]
                      : (float)((double)beta[i] / qy.scale);
    if (!isfinite(gs[i]) || !isfinite(bs[i])) {
      free(s);
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): scale or B at %lld is not finite in "
                     "output units",
                     n->name, n->op_type, (long long)i);
    }
  }
  s->fn = qi_qattn_op_config()->layernorm;
  s->h = (rows_head){geo, out_f32, qln_rows};
  s->p = (qi_u8_layernorm_params){
      .zx = qx.zero,
      .sx = qx.scale,
      .eps = (double)qi_attr_float(n, "epsilon", 1e-5f),
      .g = gs,
      .b = bs,
      .out_f32 = out_f32,
      .out = qi_u8_out_make(out_f32 ? 0 : qy.zero, qmin, qmax)};
  qi_qattn_free_state(n->state);
  n->state = s;
  return QI_OK;
}

const qi_op_def qi_op_qlayernorm = {.op_type = "QiQLayerNorm",
                                    .check = qln_check,
                                    .infer = qln_infer,
                                    .prepare = qln_prepare,
                                    .free_state = qi_qattn_free_state,
                                    .scratch_bytes = rows_scratch_bytes,
                                    .run = rows_run,
                                    .foldable = 0};
