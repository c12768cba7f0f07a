/*
 * FP16 lowering: nodes whose precision is FP16 and that have an FP16 form
 * become the ops of lib/ops/op_fp16.c, reading and writing the fp16 twin
 * of each FP32 activation they touch; every other FP16-flagged node is
 * set to FP32. Runs before INT8 lowering (lower.c), on a bound,
 * shape-inferred graph; the caller binds, infers and prepares afterwards.
 *
 *  - Conv, 2-D, constant weights and bias, fused Relu/Clip or none, fused
 *    residual (qi_sum) -> QiHConv (depthwise included);
 *  - Gemm (transA = 0, constant B and C, alpha and beta folded in) and
 *    MatMul with constant 2-D weights (fused bias and Relu/Clip) ->
 *    QiHMatMul with weights [N, K].
 * Weights become fp16 constants named w + ":f16" (shared by nodes reading
 * the same tensor the same way); a layer whose weights overflow fp16
 * (|w| > 65504) stays FP32. Biases stay float32.
 *
 * The fp16 twin of activation t is "t:f16", FLOAT16, same shape and
 * layout (NCHW). A QiToHalf makes it right after t's producer when an
 * FP16 node reads t and t is produced in float (or is a graph input); a
 * QiFromHalf writes t back right after the FP16 producer when something
 * float reads t or t is a graph output. An FP16 node none of whose
 * readers is FP16 writes float directly (out_f32 = 1): one rounding
 * fewer. Replacements keep their node's name and place, so the schedule
 * (and the memory plan) follows the FP32 graph's.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "fp16/fp16.h"
#include "ops/conv_geom.h"
#include "ops/op.h"
#include "quant/lower.h"
#include "quant/lower_internal.h"

typedef enum h_kind { H_NONE = 0, H_CONV, H_GEMM, H_MATMUL } h_kind;

/* One accepted node: its replacement's inputs, in original tensors
 * (activations) and new constants. */
typedef struct h_match {
  h_kind kind;
  int x, w16, bias, res; /* tensor indices; -1 absent */
} h_match;

typedef struct h_ctx {
  qi_graph *g;
  int n0, t0;       /* node and tensor counts before the pass */
  h_match *m;       /* per original node */
  int *wcache_rows; /* per original tensor: fp16 weights as they are */
  int *wcache_cols; /*   / transposed ([K, N] read as [N, K]) */
  int *h_reads, *f_reads, *twin, *h_prod; /* per tensor (t0 entries) */
  int64_t *key;                           /* per node: sort key */
  int cap_key;
} h_ctx;

static qi_status nomem(qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "FP16 lowering: out of memory");
}

/* ---- tensors ------------------------------------------------------------ */

/* A new tensor named base + suffix, made unique with _2, _3, ... */
static qi_status new_tensor(qi_graph *g, const char *base, const char *suffix,
                            qi_dtype dt, int *out, qi_error *err) {
  size_t len = strlen(base) + strlen(suffix) + 24;
  char *name = malloc(len);
  if (!name) return nomem(err);
  snprintf(name, len, "%s%s", base, suffix);
  for (int k = 2; qi_graph_find_tensor(g, name) >= 0; k++)
    snprintf(name, len, "%s%s_%d", base, suffix, k);
  *out = qi_graph_add_tensor(g, name, dt);
  free(name);
  return *out < 0 ? nomem(err) : QI_OK;
}

static qi_status new_const(qi_graph *g, const char *base, const char *suffix,
                           qi_dtype dt, const qi_shape *s, void *data,
                           size_t nbytes, int *out, qi_error *err) {
  qi_status st = new_tensor(g, base, suffix, dt, out, err);
  if (st != QI_OK) {
    free(data);
    return st;
  }
  g->tensors[*out].shape = *s;
  qi_tensor_set_const(&g->tensors[*out], data, nbytes);
  return QI_OK;
}

/* Float32 constant data of t with exactly `numel` elements, or NULL. */
static const float *const_f32(const qi_graph *g, int t, int64_t numel) {
  if (t < 0 || t >= g->ntensors) return NULL;
  const qi_tensor *x = &g->tensors[t];
  if (x->kind != QI_TK_CONST || x->dtype != QI_FLOAT32 || !x->data ||
      numel < 1 || qi_shape_numel(&x->shape) != numel ||
      x->nbytes != (size_t)numel * sizeof(float))
    return NULL;
  return x->data;
}

/* An FP32 activation of known, non-empty shape. */
static int act_f32(const qi_graph *g, int t) {
  if (t < 0 || t >= g->ntensors) return 0;
  const qi_tensor *x = &g->tensors[t];
  return x->kind == QI_TK_ACT && x->dtype == QI_FLOAT32 &&
         qi_shape_numel(&x->shape) > 0;
}

/* fp16 weights [rows, cols] from float w, element (r, c) at
 * w[r * rs + c * cs] times alpha; *out = -1 when a finite weight
 * overflows fp16 (the layer stays FP32). Cached per source tensor and
 * orientation when alpha is 1. */
static qi_status make_w16(h_ctx *c, int wt, const qi_shape *shape, int64_t rows,
                          int64_t cols, int64_t rs, int64_t cs, float alpha,
                          int transposed, int *out, qi_error *err) {
  qi_graph *g = c->g;
  int *cache = transposed ? c->wcache_cols : c->wcache_rows;
  *out = -1;
  if (alpha == 1.0f && cache[wt] >= 0) {
    *out = cache[wt];
    return QI_OK;
  }
  const float *w = const_f32(g, wt, rows * cols);
  if (!w) return QI_OK;
  uint16_t *h = malloc(sizeof(uint16_t) * (size_t)(rows * cols));
  if (!h) return nomem(err);
  for (int64_t r = 0; r < rows; r++)
    for (int64_t k = 0; k < cols; k++) {
      float v = w[r * rs + k * cs] * alpha;
      uint16_t q = qi_f16_from_f32_one(v);
      if ((q & 0x7fffu) == 0x7c00u && isfinite(v)) {
        free(h);
        return QI_OK;
      }
      h[r * cols + k] = q;
    }
  QI_TRY(new_const(g, g->tensors[wt].name, ":f16", QI_FLOAT16, shape, h,
                   sizeof(uint16_t) * (size_t)(rows * cols), out, err));
  if (alpha == 1.0f) cache[wt] = *out;
  return QI_OK;
}

/* ---- matching ------------------------------------------------------------ */

static int fused_act_ok(const qi_node *n) {
  qi_act a = qi_node_act(n).act;
  return a == QI_ACT_NONE || a == QI_ACT_RELU || a == QI_ACT_CLIP;
}

static int is_onnx(const qi_node *n, const char *op) {
  return (!n->domain[0] || !strcmp(n->domain, "ai.onnx")) &&
         !strcmp(n->op_type, op);
}

static qi_status match_conv(h_ctx *c, int ni, h_match *m, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 2 || n->nin > 4 || n->nout != 1 || !fused_act_ok(n))
    return QI_OK;
  int x = n->in[0], w = n->in[1], b = n->nin > 2 ? n->in[2] : -1;
  int res = n->nin > 3 ? n->in[3] : -1;
  if ((qi_attr_int(n, "qi_sum", 0) != 0) != (res >= 0) || !act_f32(g, x) ||
      w < 0 || (res >= 0 && !act_f32(g, res)))
    return QI_OK;
  const qi_shape *xs = &g->tensors[x].shape, *ws = &g->tensors[w].shape;
  qi_conv_geom geo;
  if (xs->rank != 4 || ws->rank != 4 ||
      qi_conv_geom_make(n, xs, ws, 0, &geo, NULL) != QI_OK)
    return QI_OK;
  qi_shape ys = qi_conv_geom_out_shape(&geo);
  if (!lower_same_shape(&ys, &g->tensors[n->out[0]].shape) ||
      (res >= 0 && !lower_same_shape(&ys, &g->tensors[res].shape)))
    return QI_OK;
  if (b >= 0 && (!const_f32(g, b, geo.cout) || g->tensors[b].shape.rank != 1))
    return QI_OK;
  int64_t size = ws->d[1] * ws->d[2] * ws->d[3];
  qi_shape wshape = *ws; /* adding tensors moves g->tensors */
  int w16;
  QI_TRY(make_w16(c, w, &wshape, geo.cout, size, size, 1, 1.0f, 0, &w16, err));
  if (w16 < 0) return QI_OK;
  *m = (h_match){H_CONV, x, w16, b, res};
  return QI_OK;
}

/* Bias for N columns from constant t (N values with leading dims 1, or
 * one value) times beta: the tensor itself when it already is float [N]
 * and beta is 1, else a new constant. *out = -1 without a bias, -2 when
 * the shape does not fit. */
static qi_status make_bias(h_ctx *c, int t, int64_t n, float beta, int *out,
                           qi_error *err) {
  qi_graph *g = c->g;
  *out = -1;
  if (t < 0 || beta == 0.0f) return QI_OK;
  *out = -2;
  const qi_shape *s = &g->tensors[t].shape;
  int64_t numel = qi_shape_numel(s);
  const float *v = const_f32(g, t, numel);
  int lead_one = 1;
  for (int d = 0; d + 1 < s->rank; d++) lead_one &= s->d[d] == 1;
  if (!v || !(numel == 1 || (numel == n && lead_one))) return QI_OK;
  if (numel == n && s->rank == 1 && beta == 1.0f) {
    *out = t;
    return QI_OK;
  }
  float *b = malloc(sizeof(float) * (size_t)n);
  if (!b) return nomem(err);
  for (int64_t j = 0; j < n; j++) b[j] = v[numel == 1 ? 0 : j] * beta;
  qi_shape bs = {.rank = 1, .d = {n}};
  return new_const(g, g->tensors[t].name, ":bias", QI_FLOAT32, &bs, b,
                   sizeof(float) * (size_t)n, out, err);
}

/* Weights of B [K, N] (transposed = 1) or [N, K], scaled by alpha; bias
 * from t_bias times beta. */
static qi_status match_weighted(h_ctx *c, h_kind kind, int a, int wt, int64_t k,
                                int64_t nn, int transposed, float alpha,
                                int t_bias, float beta, h_match *m,
                                qi_error *err) {
  qi_shape ws = {.rank = 2, .d = {nn, k}};
  int w16, bias;
  QI_TRY(make_bias(c, t_bias, nn, beta, &bias, err));
  if (bias == -2) return QI_OK;
  QI_TRY(make_w16(c, wt, &ws, nn, k, transposed ? 1 : k, transposed ? nn : 1,
                  alpha, transposed, &w16, err));
  if (w16 < 0) return QI_OK;
  *m = (h_match){kind, a, w16, bias, -1};
  return QI_OK;
}

static qi_status match_gemm(h_ctx *c, int ni, h_match *m, qi_error *err) {
  const qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 2 || n->nin > 3 || n->nout != 1 || !fused_act_ok(n))
    return QI_OK;
  int a = n->in[0], b = n->in[1], cb = n->nin > 2 ? n->in[2] : -1;
  float alpha = qi_attr_float(n, "alpha", 1.0f);
  float beta = qi_attr_float(n, "beta", 1.0f);
  int trans_b = qi_attr_int(n, "transB", 0) != 0;
  if (qi_attr_int(n, "transA", 0) != 0 || !isfinite(alpha) || !isfinite(beta) ||
      !act_f32(g, a) || b < 0)
    return QI_OK;
  const qi_shape *as = &g->tensors[a].shape, *bs = &g->tensors[b].shape;
  const qi_shape *ys = &g->tensors[n->out[0]].shape;
  if (as->rank != 2 || bs->rank != 2 || ys->rank != 2) return QI_OK;
  int64_t k = as->d[1], nn = trans_b ? bs->d[0] : bs->d[1];
  if ((trans_b ? bs->d[1] : bs->d[0]) != k || ys->d[0] != as->d[0] ||
      ys->d[1] != nn)
    return QI_OK;
  return match_weighted(c, H_GEMM, a, b, k, nn, !trans_b, alpha, cb, beta, m,
                        err);
}

static qi_status match_matmul(h_ctx *c, int ni, h_match *m, qi_error *err) {
  const qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 2 || n->nin > 3 || n->nout != 1 || !fused_act_ok(n))
    return QI_OK;
  int a = n->in[0], b = n->in[1];
  if (!act_f32(g, a) || b < 0) return QI_OK;
  const qi_shape *as = &g->tensors[a].shape, *bs = &g->tensors[b].shape;
  const qi_shape *ys = &g->tensors[n->out[0]].shape;
  if (as->rank < 2 || bs->rank != 2 || ys->rank != as->rank) return QI_OK;
  int64_t k = bs->d[0], nn = bs->d[1];
  if (as->d[as->rank - 1] != k || ys->d[ys->rank - 1] != nn) return QI_OK;
  for (int d = 0; d + 1 < as->rank; d++)
    if (ys->d[d] != as->d[d]) return QI_OK;
  return match_weighted(c, H_MATMUL, a, b, k, nn, 1, 1.0f,
                        n->nin > 2 ? n->in[2] : -1, 1.0f, m, err);
}

static qi_status match_all(h_ctx *c, int *nmatched, qi_error *err) {
  *nmatched = 0;
  for (int i = 0; i < c->n0; i++) {
    qi_node *n = &c->g->nodes[i];
    if (n->dead || n->precision != QI_PREC_FP16) continue;
    n->precision = QI_PREC_FP32; /* unless replaced */
    if (n->nout < 1 || n->out[0] < 0) continue;
    h_match m = {H_NONE, -1, -1, -1, -1};
    if (is_onnx(n, "Conv"))
      QI_TRY(match_conv(c, i, &m, err));
    else if (is_onnx(n, "Gemm"))
      QI_TRY(match_gemm(c, i, &m, err));
    else if (is_onnx(n, "MatMul"))
      QI_TRY(match_matmul(c, i, &m, err));
    c->m[i] = m;
    *nmatched += m.kind != H_NONE;
  }
  return QI_OK;
}

/* ---- wiring ----------------------------------------------------------------
 */

static qi_status set_key(h_ctx *c, int node, int64_t key, qi_error *err) {
  if (node >= c->cap_key) {
    int nc = c->cap_key * 2 > node + 1 ? c->cap_key * 2 : node + 1;
    int64_t *k = realloc(c->key, sizeof(int64_t) * (size_t)nc);
    if (!k) return nomem(err);
    c->key = k;
    c->cap_key = nc;
  }
  c->key[node] = key;
  return QI_OK;
}

static void count_readers(h_ctx *c) {
  qi_graph *g = c->g;
  for (int i = 0; i < c->n0; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (c->m[i].kind != H_NONE) {
      c->h_reads[c->m[i].x]++;
      if (c->m[i].res >= 0) c->h_reads[c->m[i].res]++;
      c->h_prod[n->out[0]] = i;
      continue;
    }
    for (int k = 0; k < n->nin; k++) {
      int t = n->in[k];
      if (t >= 0 && t < c->t0 && g->tensors[t].kind == QI_TK_ACT)
        c->f_reads[t]++;
    }
  }
  for (int i = 0; i < g->noutputs; i++) c->f_reads[g->outputs[i]]++;
}

static qi_status make_twin(h_ctx *c, int t, qi_error *err) {
  qi_graph *g = c->g;
  int tw;
  QI_TRY(new_tensor(g, g->tensors[t].name, ":f16", QI_FLOAT16, &tw, err));
  g->tensors[tw].kind = QI_TK_ACT;
  g->tensors[tw].shape = g->tensors[t].shape;
  c->twin[t] = tw;
  return QI_OK;
}

/* QiToHalf (t -> twin) or QiFromHalf (twin -> t). */
static qi_status add_convert(h_ctx *c, int t, int from_half, int64_t key,
                             qi_error *err) {
  qi_graph *g = c->g;
  size_t len = strlen(g->tensors[t].name) + 16;
  char *name = malloc(len);
  if (!name) return nomem(err);
  snprintf(name, len, "%s:%s", g->tensors[t].name,
           from_half ? "from_half" : "to_half");
  int ni = qi_graph_add_node(g, name, from_half ? "QiFromHalf" : "QiToHalf",
                             LOWER_DOMAIN, 1, 1);
  free(name);
  if (ni < 0) return nomem(err);
  qi_node *n = &g->nodes[ni];
  n->precision = QI_PREC_FP32;
  n->in[0] = from_half ? c->twin[t] : t;
  n->out[0] = from_half ? t : c->twin[t];
  return set_key(c, ni, key, err);
}

static qi_status copy_act_attrs(qi_graph *g, int from, int to, qi_error *err) {
  qi_act_params a = qi_node_act(&g->nodes[from]);
  if (a.act == QI_ACT_NONE) return QI_OK;
  QI_TRY(lower_attr_int(g, to, "qi_act", a.act, err));
  QI_TRY(lower_attr_float(g, to, "qi_act_alpha", a.alpha, err));
  return lower_attr_float(g, to, "qi_act_beta", a.beta, err);
}

/* The replacement of original node i, in i's place; i becomes dead. */
static qi_status add_replacement(h_ctx *c, int i, qi_error *err) {
  qi_graph *g = c->g;
  const h_match *m = &c->m[i];
  int conv = m->kind == H_CONV;
  int ni =
      qi_graph_add_node(g, g->nodes[i].name, conv ? "QiHConv" : "QiHMatMul",
                        LOWER_DOMAIN, conv && m->res >= 0 ? 4 : 3, 1);
  if (ni < 0) return nomem(err);
  qi_node *n = &g->nodes[ni];
  int y = g->nodes[i].out[0];
  n->precision = QI_PREC_FP16;
  n->in[0] = c->twin[m->x];
  n->in[1] = m->w16;
  n->in[2] = m->bias;
  if (conv && m->res >= 0) n->in[3] = c->twin[m->res];
  int f32 = c->h_reads[y] == 0;
  n->out[0] = f32 ? y : c->twin[y];
  g->nodes[i].dead = 1;
  QI_TRY(set_key(c, ni, 2 * (int64_t)i, err));
  if (conv) {
    qi_conv_geom geo;
    QI_TRY(qi_conv_geom_make(&g->nodes[i], &g->tensors[m->x].shape,
                             &g->tensors[m->w16].shape, 0, &geo, err));
    int64_t strides[2] = {geo.stride[1], geo.stride[2]};
    int64_t dil[2] = {geo.dil[1], geo.dil[2]};
    int64_t pads[4] = {geo.pad_b[1], geo.pad_b[2], geo.pad_e[1], geo.pad_e[2]};
    QI_TRY(lower_attr_ints(g, ni, "strides", strides, 2, err));
    QI_TRY(lower_attr_ints(g, ni, "pads", pads, 4, err));
    QI_TRY(lower_attr_ints(g, ni, "dilations", dil, 2, err));
    QI_TRY(lower_attr_int(g, ni, "group", geo.group, err));
  }
  QI_TRY(copy_act_attrs(g, i, ni, err));
  QI_TRY(lower_attr_int(g, ni, "out_f32", f32, err));
  if (!f32 && c->f_reads[y] > 0)
    QI_TRY(add_convert(c, y, 1, 2 * (int64_t)i + 1, err));
  return QI_OK;
}

static qi_status wire(h_ctx *c, qi_error *err) {
  qi_graph *g = c->g;
  size_t nt = (size_t)c->t0 + 1;
  c->h_reads = calloc(nt, sizeof(int));
  c->f_reads = calloc(nt, sizeof(int));
  c->twin = malloc(nt * sizeof(int));
  c->h_prod = malloc(nt * sizeof(int));
  c->cap_key = g->nnodes + 16;
  c->key = malloc(sizeof(int64_t) * (size_t)c->cap_key);
  if (!c->h_reads || !c->f_reads || !c->twin || !c->h_prod || !c->key)
    return nomem(err);
  for (int t = 0; t < c->t0; t++) c->twin[t] = c->h_prod[t] = -1;
  for (int i = 0; i < g->nnodes; i++) c->key[i] = 2 * (int64_t)i;
  count_readers(c);
  /* Twins: read by an FP16 node, or written by one that FP16 nodes read. */
  for (int t = 0; t < c->t0; t++)
    if (c->h_reads[t] > 0) QI_TRY(make_twin(c, t, err));
  /* Float-produced twins: QiToHalf after the producer (graph inputs and
   * producer-less tensors first). */
  int *prod = malloc(nt * sizeof(int));
  if (!prod) return nomem(err);
  for (int t = 0; t < c->t0; t++) prod[t] = -1;
  for (int i = 0; i < c->n0; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nout && !n->dead; k++)
      if (n->out[k] >= 0 && n->out[k] < c->t0) prod[n->out[k]] = i;
  }
  qi_status st = QI_OK;
  for (int t = 0; t < c->t0 && st == QI_OK; t++)
    if (c->twin[t] >= 0 && c->h_prod[t] < 0)
      st = add_convert(c, t, 0, 2 * (int64_t)prod[t] + 1, err);
  free(prod);
  QI_TRY(st);
  for (int i = 0; i < c->n0; i++)
    if (c->m[i].kind != H_NONE) QI_TRY(add_replacement(c, i, err));
  return lower_reorder_nodes(c->g, c->key, err);
}

/* ---- entry points -----------------------------------------------------------
 */

static void ctx_free(h_ctx *c) {
  free(c->m);
  free(c->wcache_rows);
  free(c->wcache_cols);
  free(c->h_reads);
  free(c->f_reads);
  free(c->twin);
  free(c->h_prod);
  free(c->key);
}

static qi_status fp16_run(h_ctx *c, qi_error *err) {
  qi_graph *g = c->g;
  c->n0 = g->nnodes;
  c->t0 = g->ntensors;
  c->m = calloc((size_t)c->n0 + 1, sizeof *c->m);
  c->wcache_rows = malloc(sizeof(int) * ((size_t)c->t0 + 1));
  c->wcache_cols = malloc(sizeof(int) * ((size_t)c->t0 + 1));
  if (!c->m || !c->wcache_rows || !c->wcache_cols) return nomem(err);
  for (int t = 0; t < c->t0; t++) c->wcache_rows[t] = c->wcache_cols[t] = -1;
  int matched;
  QI_TRY(match_all(c, &matched, err));
  if (matched == 0) return QI_OK;
  QI_TRY(wire(c, err));
  QI_TRY(qi_graph_compact(g, err));
  return qi_graph_toposort(g, err);
}

qi_status qi_fp16_lower(qi_graph *g, qi_error *err) {
  if (!g) return qi_fail(err, QI_ERR_INVALID_ARG, "FP16 lowering: no graph");
  h_ctx c;
  memset(&c, 0, sizeof c);
  c.g = g;
  qi_status st = fp16_run(&c, err);
  ctx_free(&c);
  return st;
}

void qi_fp16_mark_precisions(qi_graph *g) {
  for (int i = 0; g && i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    if (!strcmp(n->domain, LOWER_DOMAIN) &&
        (!strcmp(n->op_type, "QiHConv") || !strcmp(n->op_type, "QiHMatMul")))
      n->precision = QI_PREC_FP16;
  }
}
