/*
 * QiQMaxPool, QiQAveragePool and QiQGlobalAveragePool (lib/quant/README.md)
 * on uint8 NHWC tensors [N, H, W, C], with the kernels of
 * kernels/qpool/qpool.h (their header writes the arithmetic down).
 *
 * Attributes as ONNX, with auto_pad already resolved by lowering: pads are
 * explicit [top, left, bottom, right]; output lengths as pool_geom.h writes
 * them down.
 * AveragePool's count_include_pad counts the taps inside [-pb, in + pe)
 * only, so ceil_mode overhang past the pads does not count.
 *
 * MaxPool: the max of the input bytes is the max of the values, so when
 * input and output share one quantization (and the clamp is the full
 * range) the bytes are copied. Otherwise the output goes through the
 * requantization table of Concat (qlut/qlut.h), which is monotonic, so
 * table[max(x)] = max(table[x]): the requantized max, exactly.
 *
 * Threads: batch x output rows (pools) or batch x channel blocks (global
 * pool) are split across the session's pool.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/pool_geom.h"
#include "ops/qop_util.h"
#include "qlut/qlut.h"

#define QPOOL_GAP_CBLOCK 64 /* channels per global task */

typedef enum qpool_kind { QPOOL_MAX, QPOOL_AVG, QPOOL_GLOBAL } qpool_kind;

typedef struct qpool_state {
  qpool_kind kind;
  size_t batch;
  qi_u8_pool_geom g; /* also in_h, in_w, c of the global pool */
  int64_t in_numel, out_numel;
  qi_u8_maxpool_fn maxpool;
  qi_u8_avgpool_fn avgpool;
  qi_u8_gap_fn gap;
  qi_u8_lut_fn lut;
  qi_u8_avgpool_params p; /* AVG, GLOBAL */
  int requant;            /* MAX: output through table */
  uint8_t table[256];
} qpool_state;

static qpool_kind kind_of(const qi_node *n) {
  if (strcmp(n->op_type, "QiQMaxPool") == 0) return QPOOL_MAX;
  if (strcmp(n->op_type, "QiQAveragePool") == 0) return QPOOL_AVG;
  return QPOOL_GLOBAL;
}

static qi_status qpool_check(const qi_graph *g, const qi_node *n,
                             qi_error *err) {
  (void)g;
  QI_TRY(qi_qop_check_unary(n, err));
  if (kind_of(n) == QPOOL_GLOBAL) return QI_OK;
  const char *auto_pad = qi_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(auto_pad, "NOTSET") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): auto_pad '%s' (lowering must resolve it "
                   "into explicit pads)",
                   n->name, n->op_type, auto_pad);
  qi_pool_window w;
  QI_TRY(qi_pool_window_read(n, 2, &w, err));
  if (w.k[0] * w.k[1] >= (int64_t)QI_U8_POOL_MAX_TAPS)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): kernel %lldx%lld has 2^23 taps or more",
                   n->name, n->op_type, (long long)w.k[0], (long long)w.k[1]);
  return QI_OK;
}

/* Geometry and output shape from the node and its input shape. */
static qi_status qpool_geom(const qi_graph *g, const qi_node *n,
                            qi_u8_pool_geom *geo, qi_shape *out,
                            qi_error *err) {
  QI_TRY(qpool_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  char sx[96];
  if (x->rank != 4)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input %s is not rank 4 NHWC", n->name,
                   n->op_type, qi_shape_str(x, sx, sizeof sx));
  memset(geo, 0, sizeof *geo);
  geo->in_h = (size_t)x->d[1];
  geo->in_w = (size_t)x->d[2];
  geo->c = geo->x_pix = geo->y_pix = (size_t)x->d[3];
  *out = *x;
  if (kind_of(n) == QPOOL_GLOBAL) {
    int64_t npix = x->d[1] * x->d[2];
    if (npix < 1 || npix > (int64_t)QI_U8_POOL_MAX_TAPS)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): %lld pixels per image (1..2^23 "
                     "supported)",
                     n->name, n->op_type, (long long)npix);
    out->d[1] = out->d[2] = 1;
    geo->out_h = geo->out_w = geo->k_h = geo->k_w = 1;
    geo->s_h = geo->s_w = geo->d_h = geo->d_w = 1;
    return QI_OK;
  }
  qi_pool_window w;
  QI_TRY(qi_pool_window_read(n, 2, &w, err));
  for (int i = 0; i < 2; i++) {
    int64_t o = qi_pool_out_len(x->d[1 + i], w.k[i], w.s[i], w.d[i], w.pb[i],
                                w.pe[i], w.ceil_mode);
    if (o < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): window %lld (dilated) exceeds the "
                     "padded input %lld along %s",
                     n->name, n->op_type,
                     (long long)((w.k[i] - 1) * w.d[i] + 1),
                     (long long)(x->d[1 + i] + w.pb[i] + w.pe[i]),
                     i ? "W" : "H");
    out->d[1 + i] = o;
  }
  if (qi_qop_numel(out) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): output too large",
                   n->name, n->op_type);
  geo->out_h = (size_t)out->d[1];
  geo->out_w = (size_t)out->d[2];
  geo->k_h = (size_t)w.k[0];
  geo->k_w = (size_t)w.k[1];
  geo->s_h = (size_t)w.s[0];
  geo->s_w = (size_t)w.s[1];
  geo->d_h = (size_t)w.d[0];
  geo->d_w = (size_t)w.d[1];
  geo->pad_t = (size_t)w.pb[0];
  geo->pad_l = (size_t)w.pb[1];
  geo->pad_b = (size_t)w.pe[0];
  geo->pad_r = (size_t)w.pe[1];
  return QI_OK;
}

static qi_status qpool_infer(qi_graph *g, qi_node *n, qi_error *err) {
  qi_u8_pool_geom geo;
  qi_shape out;
  QI_TRY(qpool_geom(g, n, &geo, &out, err));
  qi_set_output(g, n, 0, QI_UINT8, &out);
  return QI_OK;
}

static void qpool_free_state(void *state) { free(state); }

static qi_status qpool_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  qi_u8_pool_geom geo;
  qi_shape out;
  QI_TRY(qpool_geom(g, n, &geo, &out, err));
  qi_qop_unary_quant q;
  QI_TRY(qi_qop_unary_quant_of(g, n, &q, err));
  qpool_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  const qi_qelt_config *cfg = qi_qop_qelt_config();
  s->kind = kind_of(n);
  s->batch = (size_t)out.d[0];
  s->g = geo;
  s->in_numel = qi_qop_numel(qi_in_shape(g, n, 0));
  s->out_numel = qi_qop_numel(&out);
  s->maxpool = cfg->maxpool;
  s->avgpool = cfg->avgpool;
  s->gap = cfg->gap;
  s->lut = cfg->lut;
  s->p = qi_u8_avgpool_params_make(
      q.x.scale, q.x.zero, q.y.scale, q.y.zero, q.qmin, q.qmax,
      qi_attr_int(n, "count_include_pad", 0) != 0);
  if (s->kind == QPOOL_MAX)
    s->requant = qi_qop_requant_table(q.x, q.y, q.qmin, q.qmax, s->table);
  qpool_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qpool_job {
  const qpool_state *s;
  const uint8_t *x;
  uint8_t *y;
  size_t cblocks;         /* GLOBAL: channel blocks per image */
  size_t units, per_task; /* GLOBAL: units are (image, channel block) */
} qpool_job;

/* Output rows [r0, r1) of image b (qi_qop_run_rows). */
static void qpool_rows(const void *arg, size_t b, size_t r0, size_t r1) {
  const qpool_job *j = arg;
  const qpool_state *s = j->s;
  const qi_u8_pool_geom *g = &s->g;
  size_t in_img = g->in_h * g->in_w * g->c, row = g->out_w * g->c;
  const uint8_t *x = j->x + b * in_img;
  uint8_t *y = j->y + b * g->out_h * row;
  if (s->kind == QPOOL_AVG) {
    s->avgpool(g, &s->p, x, y, r0, r1);
  } else {
    s->maxpool(g, x, y, r0, r1);
    if (s->requant)
      s->lut(r1 - r0, row, y + r0 * row, row, y + r0 * row, row, s->table);
  }
}

/* Units are (image, block of QPOOL_GAP_CBLOCK channels). */
static void qpool_global_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qpool_job *j = arg;
  const qpool_state *s = j->s;
  size_t c = s->g.c, npix = s->g.in_h * s->g.in_w;
  size_t u0, u1;
  qi_qop_task_range(task, j->per_task, j->units, &u0, &u1);
  for (size_t u = u0; u < u1; u++) {
    size_t b = u / j->cblocks, c0 = (u % j->cblocks) * QPOOL_GAP_CBLOCK;
    size_t cn = c - c0 < QPOOL_GAP_CBLOCK ? c - c0 : QPOOL_GAP_CBLOCK;
    s->gap(npix, cn, j->x + b * npix * c + c0, c, j->y + b * c + c0, &s->p);
  }
}

static qi_status qpool_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qpool_state *s = n->state;
  QI_TRY(qi_qop_run_buf(ctx, n, &in[0], "input", 0, s->in_numel));
  QI_TRY(qi_qop_run_buf(ctx, n, &out[0], "output", 0, s->out_numel));
  if (s->out_numel == 0) return QI_OK;
  const qi_u8_pool_geom *g = &s->g;
  qpool_job j = {.s = s, .x = in[0].data, .y = out[0].data};
  if (s->kind == QPOOL_GLOBAL) {
    j.cblocks = (g->c + QPOOL_GAP_CBLOCK - 1) / QPOOL_GAP_CBLOCK;
    j.units = s->batch * j.cblocks;
    size_t ntasks =
        qi_qop_split(j.units, (double)(g->in_h * g->in_w) * QPOOL_GAP_CBLOCK,
                     ctx->nthreads, &j.per_task);
    qi_pool_run(ctx->pool, qpool_global_task, &j, ntasks);
    return QI_OK;
  }
  qi_qop_run_rows(ctx->pool, ctx->nthreads, s->batch, g->out_h,
                  (double)(g->out_w * g->c) * (double)(g->k_h * g->k_w),
                  qpool_rows, &j);
  return QI_OK;
}

const qi_op_def qi_op_qmax_pool = {.op_type = "QiQMaxPool",
                                   .check = qpool_check,
                                   .infer = qpool_infer,
                                   .prepare = qpool_prepare,
                                   .free_state = qpool_free_state,
                                   .run = qpool_run};
const qi_op_def qi_op_qaverage_pool = {.op_type = "QiQAveragePool",
                                       .check = qpool_check,
                                       .infer = qpool_infer,
                                       .prepare = qpool_prepare,
                                       .free_state = qpool_free_state,
                                       .run = qpool_run};
const qi_op_def qi_op_qglobal_average_pool = {
    .op_type = "QiQGlobalAveragePool",
    .check = qpool_check,
    .infer = qpool_infer,
    .prepare = qpool_prepare,
    .free_state = qpool_free_state,
    .run = qpool_run};
