/*
 * QiQMaxPool, QiQAveragePool and QiQGlobalAveragePool (lib/quant/README.md)
 * on uint8 NHWC tensors [N, H, W, C], with the kernels of
 * kernels/qpool/qpool.h (their header writes the arithmetic down).
 *
 * Attributes as ONNX, with auto_pad already resolved by lowering: pads are
 * explicit [top, left, bottom, right]. Per spatial dim, with the dilated
 * window dk = (k - 1) * d + 1 and pads pb (before) and pe (after):
 *   out = floor((in + pb + pe - dk) / s) + 1, or with ceil_mode ceil(...) + 1
 *   less one if that last window would start at or beyond in + pb (the
 *   ONNX / PyTorch rule: a window must start inside the input or the
 *   leading pad).
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
#include "ops/qop_elt_util.h"
#include "qlut/qlut.h"

#define QPOOL_ATTR_LIMIT ((int64_t)1 << 30) /* kernel, stride, pad, dilation */
#define QPOOL_GAP_CBLOCK 64                   /* channels per global task */

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

/* An INTS attribute of exactly `want` values in [lo, hi], or `def` in every
 * entry when absent and not required. */
static qi_status ints_attr(const qi_node *n, const char *name, int want,
                           int64_t lo, int64_t hi, int64_t def, int required,
                           int64_t *vals, qi_error *err) {
  const int64_t *v;
  int cnt = qi_attr_ints(n, name, &v);
  if (cnt < 0) {
    if (required)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): attribute %s missing",
                     n->name, n->op_type, name);
    for (int i = 0; i < want; i++) vals[i] = def;
    return QI_OK;
  }
  if (cnt != want)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): attribute %s has %d values, expected %d",
                   n->name, n->op_type, name, cnt, want);
  for (int i = 0; i < want; i++) {
    if (v[i] < lo || v[i] > hi)
      return qi_fail(err, QI_ERR_PARSE,
                     "node '%s' (%s): attribute %s[%d] = %lld out of range "
                     "%lld..%lld",
                     n->name, n->op_type, name, i, (long long)v[i],
                     (long long)lo, (long long)hi);
    vals[i] = v[i];
  }
  return QI_OK;
}

static qi_status qpool_check(const qi_graph *g, const qi_node *n,
                             qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_qelt_op_check_one_output(n, err));
  QI_TRY(qi_qelt_op_clamp(n, &qmin, &qmax, err));
  if (kind_of(n) == QPOOL_GLOBAL) return QI_OK;
  const char *auto_pad = qi_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(auto_pad, "NOTSET") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): auto_pad '%s' (lowering must resolve it "
                   "into explicit pads)",
                   n->name, n->op_type, auto_pad);
  int64_t v[4];
  QI_TRY(ints_attr(n, "kernel_shape", 2, 1, QPOOL_ATTR_LIMIT, 1, 1, v, err));
  if (v[0] * v[1] >= (int64_t)QI_U8_POOL_MAX_TAPS)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): kernel %lldx%lld has 2^23 taps or more",
                   n->name, n->op_type, (long long)v[0], (long long)v[1]);
  QI_TRY(ints_attr(n, "strides", 2, 1, QPOOL_ATTR_LIMIT, 1, 0, v, err));
  QI_TRY(ints_attr(n, "dilations", 2, 1, QPOOL_ATTR_LIMIT, 1, 0, v, err));
  QI_TRY(ints_attr(n, "pads", 4, 0, QPOOL_ATTR_LIMIT, 0, 0, v, err));
  return QI_OK;
}

/* Output length of one spatial dim (file comment); -1 when the window does
 * not fit the padded input. */
static int64_t out_len(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pb,
                       int64_t pe, int ceil_mode) {
  int64_t span = in + pb + pe - ((k - 1) * d + 1);
  if (span < 0) return -1;
  int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
  if (ceil_mode && (out - 1) * s >= in + pb) out--;
  return out;
}

/* Geometry and output shape from the node and its input shape. */
static qi_status qpool_geom(const qi_graph *g, const qi_node *n,
                            qi_u8_pool_geom *geo, qi_shape *out,
                            qi_error *err) {
  QI_TRY(qpool_check(g, n, err));
  QI_TRY(qi_qelt_op_check_u8_inputs(g, n, err));
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
  int64_t k[2], s[2], d[2], p[4];
  QI_TRY(ints_attr(n, "kernel_shape", 2, 1, QPOOL_ATTR_LIMIT, 1, 1, k, err));
  QI_TRY(ints_attr(n, "strides", 2, 1, QPOOL_ATTR_LIMIT, 1, 0, s, err));
  QI_TRY(ints_attr(n, "dilations", 2, 1, QPOOL_ATTR_LIMIT, 1, 0, d, err));
  QI_TRY(ints_attr(n, "pads", 4, 0, QPOOL_ATTR_LIMIT, 0, 0, p, err));
  int ceil_mode = qi_attr_int(n, "ceil_mode", 0) != 0;
  for (int i = 0; i < 2; i++) {
    int64_t o = out_len(x->d[1 + i], k[i], s[i], d[i], p[i], p[2 + i],
                        ceil_mode);
    if (o < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): window %lld (dilated) exceeds the "
                     "padded input %lld along %s",
                     n->name, n->op_type, (long long)((k[i] - 1) * d[i] + 1),
                     (long long)(x->d[1 + i] + p[i] + p[2 + i]),
                     i ? "W" : "H");
    out->d[1 + i] = o;
  }
  if (qi_qelt_op_numel(out) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): output too large",
                   n->name, n->op_type);
  geo->out_h = (size_t)out->d[1];
  geo->out_w = (size_t)out->d[2];
  geo->k_h = (size_t)k[0];
  geo->k_w = (size_t)k[1];
  geo->s_h = (size_t)s[0];
  geo->s_w = (size_t)s[1];
  geo->d_h = (size_t)d[0];
  geo->d_w = (size_t)d[1];
  geo->pad_t = (size_t)p[0];
  geo->pad_l = (size_t)p[1];
  geo->pad_b = (size_t)p[2];
  geo->pad_r = (size_t)p[3];
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
  qi_u8_quant qx, qy;
  int32_t qmin, qmax;
  QI_TRY(qi_qelt_op_in_quant(g, n, 0, &qx, err));
  QI_TRY(qi_qelt_op_out_quant(g, n, 0, &qy, err));
  QI_TRY(qi_qelt_op_clamp(n, &qmin, &qmax, err));
  qpool_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  const qi_qelt_config *cfg = qi_qelt_op_config();
  s->kind = kind_of(n);
  s->batch = (size_t)out.d[0];
  s->g = geo;
  s->in_numel = qi_qelt_op_numel(qi_in_shape(g, n, 0));
  s->out_numel = qi_qelt_op_numel(&out);
  s->maxpool = cfg->maxpool;
  s->avgpool = cfg->avgpool;
  s->gap = cfg->gap;
  s->lut = cfg->lut;
  s->p = qi_u8_avgpool_params_make(qx.scale, qx.zero, qy.scale, qy.zero, qmin,
                                   qmax, qi_attr_int(n, "count_include_pad",
                                                     0) != 0);
  if (s->kind == QPOOL_MAX) {
    qi_u8_out o = qi_u8_out_make(qy.zero, qmin, qmax);
    float mxy = (float)(qx.scale / qy.scale);
    s->requant = !qi_u8_requant_is_identity(qx.zero, mxy, &o);
    if (s->requant) qi_u8_requant_table(qx.zero, mxy, &o, s->table);
  }
  qpool_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qpool_job {
  const qpool_state *s;
  const uint8_t *x;
  uint8_t *y;
  size_t cblocks; /* GLOBAL: channel blocks per image */
  size_t units, per_task;
} qpool_job;

/* Units are (image, output row); consecutive rows of one image go to the
 * kernel in one call. */
static void qpool_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qpool_job *j = arg;
  const qpool_state *s = j->s;
  const qi_u8_pool_geom *g = &s->g;
  size_t in_img = g->in_h * g->in_w * g->c, row = g->out_w * g->c;
  size_t u0, u1;
  qi_qelt_op_task_range(task, j->per_task, j->units, &u0, &u1);
  for (size_t u = u0; u < u1;) {
    size_t b = u / g->out_h, r0 = u % g->out_h;
    size_t r1 = r0 + (u1 - u) < g->out_h ? r0 + (u1 - u) : g->out_h;
    const uint8_t *x = j->x + b * in_img;
    uint8_t *y = j->y + b * g->out_h * row;
    if (s->kind == QPOOL_AVG) {
      s->avgpool(g, &s->p, x, y, r0, r1);
    } else {
      s->maxpool(g, x, y, r0, r1);
      if (s->requant)
        s->lut(r1 - r0, row, y + r0 * row, row, y + r0 * row, row, s->table);
    }
    u += r1 - r0;
  }
}

/* Units are (image, block of QPOOL_GAP_CBLOCK channels). */
static void qpool_global_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qpool_job *j = arg;
  const qpool_state *s = j->s;
  size_t c = s->g.c, npix = s->g.in_h * s->g.in_w;
  size_t u0, u1;
  qi_qelt_op_task_range(task, j->per_task, j->units, &u0, &u1);
  for (size_t u = u0; u < u1; u++) {
    size_t b = u / j->cblocks, c0 = (u % j->cblocks) * QPOOL_GAP_CBLOCK;
    size_t cn = c - c0 < QPOOL_GAP_CBLOCK ? c - c0 : QPOOL_GAP_CBLOCK;
    s->gap(npix, cn, j->x + b * npix * c + c0, c, j->y + b * c + c0, &s->p);
  }
}

static qi_status qpool_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qelt_op_run_prepared(ctx, n));
  const qpool_state *s = n->state;
  QI_TRY(qi_qelt_op_run_buf(ctx, n, &in[0], "input", 0, s->in_numel));
  QI_TRY(qi_qelt_op_run_buf(ctx, n, &out[0], "output", 0, s->out_numel));
  if (s->out_numel == 0) return QI_OK;
  const qi_u8_pool_geom *g = &s->g;
  qpool_job j = {.s = s, .x = in[0].data, .y = out[0].data};
  size_t ntasks;
  if (s->kind == QPOOL_GLOBAL) {
    j.cblocks = (g->c + QPOOL_GAP_CBLOCK - 1) / QPOOL_GAP_CBLOCK;
    j.units = s->batch * j.cblocks;
    ntasks = qi_qelt_op_split(j.units,
                              (double)(g->in_h * g->in_w) * QPOOL_GAP_CBLOCK,
                              ctx->nthreads, &j.per_task);
    qi_pool_run(ctx->pool, qpool_global_task, &j, ntasks);
    return QI_OK;
  }
  j.units = s->batch * g->out_h;
  ntasks = qi_qelt_op_split(
      j.units, (double)(g->out_w * g->c) * (double)(g->k_h * g->k_w),
      ctx->nthreads, &j.per_task);
  qi_pool_run(ctx->pool, qpool_task, &j, ntasks);
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
