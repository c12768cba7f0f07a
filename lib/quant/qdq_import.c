/* QDQ import (qdq_import.h): Q/DQ pairs to quant annotations and INT8
 * precisions, on the graph as the ONNX importer leaves it.
 *
 * The pass works on tensor indices of the imported graph. A removed
 * DequantizeLinear's output y is not rewritten at once: repl[y] names the
 * tensor its readers read instead, resolved (through chains such as
 * DQ -> Q -> DQ) when a later node is looked at and applied to every node
 * input at the end, so rewiring costs O(nodes) in all. */
#include "quant/qdq_import.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "passes/pattern.h"

/* The quantization parameters of one Q or DQ node. */
typedef struct qdq_params {
  qi_dtype qtype;        /* QI_UINT8, QI_INT8 or QI_INT32 */
  int64_t n;             /* scale entries: 1 per tensor */
  int axis;              /* channel axis of x when n > 1, else -1 */
  const float *scale;    /* n entries, borrowed from the constant */
  const qi_tensor *zp;   /* n entries of qtype; NULL: all zero */
} qdq_params;

typedef struct qdq_ctx {
  qi_graph *g;
  qi_qdq_report rep;
  int nt;          /* tensors before the pass: the arrays below */
  int *repl;       /* tensor -> the tensor read in its place, or -1 */
  char *dq_out;    /* 1: the output of a DequantizeLinear */
  char *is_out;    /* 1: a graph output */
  int *cstart;     /* nodes reading tensor t: cons[cstart[t]..cstart[t+1]) */
  int *cons;
} qdq_ctx;

static int is_op(const qi_graph *g, int n, const char *op_type) {
  const qi_node *nd = &g->nodes[n];
  if (nd->dead || nd->nout < 1 || nd->out[0] < 0) return 0;
  if (nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0) return 0;
  return strcmp(nd->op_type, op_type) == 0;
}

static int is_q(const qi_graph *g, int n) {
  return is_op(g, n, "QuantizeLinear");
}

static int is_dq(const qi_graph *g, int n) {
  return is_op(g, n, "DequantizeLinear");
}

static int resolve(const qdq_ctx *c, int t) {
  /* Chains are acyclic (a DQ output maps to a tensor made earlier in
   * topological order); the bound only guards against a bug. */
  for (int hops = 0; t >= 0 && t < c->nt && c->repl[t] >= 0 && hops < c->nt;
       hops++)
    t = c->repl[t];
  return t;
}

static int32_t zp_at(const qdq_params *p, int64_t i) {
  if (!p->zp) return 0;
  switch (p->zp->dtype) {
    case QI_UINT8: return ((const uint8_t *)p->zp->data)[i];
    case QI_INT8: return ((const int8_t *)p->zp->data)[i];
    default: return ((const int32_t *)p->zp->data)[i];
  }
}

static void qtype_range(qi_dtype t, int32_t *qmin, int32_t *qmax) {
  *qmin = t == QI_UINT8 ? 0 : -128;
  *qmax = t == QI_UINT8 ? 255 : 127;
}

/* A constant of `dt` whose byte size agrees with its shape; numel or -1. */
static int64_t const_numel(const qi_graph *g, int t, qi_dtype dt) {
  if (t < 0 || t >= g->ntensors) return -1;
  const qi_tensor *x = &g->tensors[t];
  int64_t n = qi_shape_numel(&x->shape);
  if (x->kind != QI_TK_CONST || x->dtype != dt || !x->data || n < 0 ||
      x->nbytes != (size_t)n * qi_dtype_size(dt))
    return -1;
  return n;
}

/* Reads the constant parameters of Q/DQ node `ni`. xs: the shape of the
 * node's x when known (per-axis parameters need it), xdt: x's type when
 * known (a DQ without zero point has x's type). 0 when they are not
 * constants, are blocked, or do not fit x. */
static int read_params(const qi_graph *g, int ni, int quantize,
                       const qi_shape *xs, qi_dtype xdt, qdq_params *p) {
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 2 || n->in[1] < 0 || qi_attr_int(n, "block_size", 0) != 0)
    return 0;
  const qi_tensor *st = &g->tensors[n->in[1]];
  int64_t ns = const_numel(g, n->in[1], QI_FLOAT32);
  if (ns < 1) return 0;
  p->n = ns;
  p->scale = st->data;
  p->zp = NULL;
  int64_t odt = quantize ? qi_attr_int(n, "output_dtype", 0) : 0;
  p->qtype = quantize ? (odt ? (qi_dtype)odt : QI_UINT8) : xdt;
  if (n->nin > 2 && n->in[2] >= 0) {
    const qi_tensor *zt = &g->tensors[n->in[2]];
    if (const_numel(g, n->in[2], zt->dtype) != ns ||
        (zt->dtype != QI_UINT8 && zt->dtype != QI_INT8 &&
         (quantize || zt->dtype != QI_INT32)) ||
        (odt && odt != zt->dtype))
      return 0;
    p->zp = zt;
    p->qtype = zt->dtype;
  }
  if (p->qtype != QI_UINT8 && p->qtype != QI_INT8 &&
      (quantize || p->qtype != QI_INT32))
    return 0;
  p->axis = -1;
  if (ns == 1 && st->shape.rank <= 1) return 1;
  if (st->shape.rank != 1 || !xs || xs->rank < 1) return 0;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 1), xs->rank);
  if (axis < 0 || xs->d[axis] != ns) return 0;
  p->axis = axis;
  return 1;
}

static int same_params(const qdq_params *a, const qdq_params *b) {
  if (a->n != b->n || a->axis != b->axis || a->qtype != b->qtype) return 0;
  for (int64_t i = 0; i < a->n; i++)
    if (!(a->scale[i] == b->scale[i]) || zp_at(a, i) != zp_at(b, i)) return 0;
  return 1;
}

/* Per-tensor uint8/int8 parameters that make an activation quantization;
 * the uint8-grid zero point in *zg. */
static int act_grid(const qdq_params *p, int32_t *zg) {
  if (p->n != 1 || (p->qtype != QI_UINT8 && p->qtype != QI_INT8) ||
      !isfinite(p->scale[0]) || !(p->scale[0] > 0.0f))
    return 0;
  *zg = zp_at(p, 0) + (p->qtype == QI_INT8 ? 128 : 0);
  return 1;
}

static void set_act_quant(qi_tensor *t, float s, int32_t zg) {
  free(t->quant.scales);
  t->quant = (qi_quant){.has = 1, .scale = s, .zero_point = zg, .axis = -1};
}

/* Symmetric int8 weights: int8 with zero point 0, or uint8 with 128. */
static int symmetric(const qdq_params *p) {
  int32_t want = p->qtype == QI_INT8 ? 0 : p->qtype == QI_UINT8 ? 128 : -1;
  if (want < 0) return 0;
  for (int64_t i = 0; i < p->n; i++)
    if (zp_at(p, i) != want || !isfinite(p->scale[i]) || !(p->scale[i] > 0.0f))
      return 0;
  return 1;
}

/* x seen as [outer, channels, inner] for parameters p. */
static void geometry(const qi_shape *xs, const qdq_params *p, int64_t *outer,
                     int64_t *inner) {
  *outer = qi_shape_numel(xs);
  *inner = 1;
  if (p->axis < 0) return;
  *outer = 1;
  for (int d = 0; d < p->axis; d++) *outer *= xs->d[d];
  for (int d = p->axis + 1; d < xs->rank; d++) *inner *= xs->d[d];
}

static int64_t load_int(const qi_tensor *t, int64_t i) {
  switch (t->dtype) {
    case QI_UINT8: return ((const uint8_t *)t->data)[i];
    case QI_INT8: return ((const int8_t *)t->data)[i];
    default: return ((const int32_t *)t->data)[i];
  }
}

/* The values of constant x through DequantizeLinear (quantize = 0) or
 * QuantizeLinear then DequantizeLinear (quantize = 1, x float32), with the
 * arithmetic of op_qdq.c. */
static float *fold_values(const qi_tensor *x, const qdq_params *p,
                          int quantize) {
  int64_t outer, inner, numel = qi_shape_numel(&x->shape);
  geometry(&x->shape, p, &outer, &inner);
  float *y = malloc(sizeof(float) * (size_t)(numel > 0 ? numel : 1));
  if (!y) return NULL;
  int64_t ch = p->axis < 0 ? 1 : p->n;
  int32_t qmin, qmax;
  qtype_range(p->qtype, &qmin, &qmax);
  for (int64_t o = 0, i = 0; o < outer; o++)
    for (int64_t cc = 0; cc < ch; cc++) {
      float s = p->scale[cc];
      int32_t z = zp_at(p, cc);
      for (int64_t k = 0; k < inner; k++, i++) {
        if (!quantize) {
          y[i] = (float)(load_int(x, i) - z) * s;
          continue;
        }
        float v = ((const float *)x->data)[i] / s;
        float lo = (float)(qmin - z), hi = (float)(qmax - z);
        v = isnan(v) ? 0.0f : v < lo ? lo : v > hi ? hi : v;
        y[i] = (float)((int32_t)nearbyintf(v)) * s;
      }
    }
  return y;
}

/* Makes tensor y the FP32 constant `data` of shape xs, with weight quant
 * (scales of p) when p is symmetric. Takes ownership of data. */
static qi_status set_weight(qi_graph *g, int y, const qi_shape *xs,
                            float *data, const qdq_params *p, qi_error *err) {
  qi_tensor *t = &g->tensors[y];
  int64_t numel = qi_shape_numel(xs);
  t->dtype = QI_FLOAT32;
  t->shape = *xs;
  t->producer = -1;
  qi_tensor_set_const(t, data, (size_t)numel * sizeof(float));
  free(t->quant.scales);
  t->quant = (qi_quant){.axis = -1};
  if (!symmetric(p)) return QI_OK;
  t->quant.has = 1;
  t->quant.scale = p->scale[0];
  if (p->axis < 0 || p->n == 1) return QI_OK;
  t->quant.scales = malloc(sizeof(float) * (size_t)p->n);
  if (!t->quant.scales) {
    t->quant.has = 0;
    return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
  }
  memcpy(t->quant.scales, p->scale, sizeof(float) * (size_t)p->n);
  t->quant.nscales = (int)p->n;
  t->quant.axis = p->axis;
  return QI_OK;
}

/* DequantizeLinear of a constant: its output becomes the FP32 constant. */
static qi_status fold_weight_dq(qdq_ctx *c, int di, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *d = &g->nodes[di];
  if (d->nin < 2) return QI_OK;
  int x = d->in[0], y = d->out[0];
  if (x < 0 || g->tensors[x].kind != QI_TK_CONST || c->is_out[y]) return QI_OK;
  const qi_tensor *xt = &g->tensors[x];
  qdq_params p;
  if (const_numel(g, x, xt->dtype) < 0 ||
      !read_params(g, di, 0, &xt->shape, xt->dtype, &p) ||
      p.qtype != xt->dtype)
    return QI_OK; /* left to constant folding, which runs the op */
  float *v = fold_values(xt, &p, 0);
  if (!v) return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
  qi_shape xs = xt->shape;
  QI_TRY(set_weight(g, y, &xs, v, &p, err));
  g->nodes[di].dead = 1;
  c->rep.weights++;
  return QI_OK;
}

/* Whether DQ node r reads qout as x with parameters equal to pq's. */
static int dq_matches(const qdq_ctx *c, int r, int qout, const qdq_params *pq,
                      const qi_shape *xs) {
  const qi_graph *g = c->g;
  qdq_params pd;
  return is_dq(g, r) && g->nodes[r].in[0] == qout &&
         read_params(g, r, 0, xs, pq->qtype, &pd) && same_params(pq, &pd);
}

/* Q -> DQ(s) of a float constant (fake-quantized weights): every DQ output
 * becomes the constant's quantized-dequantized values. */
static qi_status fold_weight_q(qdq_ctx *c, int qi, int x,
                               const qdq_params *pq, qi_error *err) {
  qi_graph *g = c->g;
  int qout = g->nodes[qi].out[0];
  const qi_shape *xs = &g->tensors[x].shape;
  if (const_numel(g, x, QI_FLOAT32) < 0 || c->is_out[qout]) return QI_OK;
  for (int e = c->cstart[qout]; e < c->cstart[qout + 1]; e++)
    if (!dq_matches(c, c->cons[e], qout, pq, xs) ||
        c->is_out[g->nodes[c->cons[e]].out[0]])
      return QI_OK;
  for (int e = c->cstart[qout]; e < c->cstart[qout + 1]; e++) {
    int r = c->cons[e];
    float *v = fold_values(&g->tensors[x], pq, 1);
    if (!v) return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
    qi_shape shape = g->tensors[x].shape;
    QI_TRY(set_weight(g, g->nodes[r].out[0], &shape, v, pq, err));
    g->nodes[r].dead = 1;
    c->rep.weights++;
  }
  g->nodes[qi].dead = 1;
  return QI_OK;
}

/* Ops whose output values are a selection, rearrangement or convex
 * combination of input 0's (all inputs' for Concat): >= 0 when those are. */
static const char *const sign_keeping_ops[] = {
    "MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool",
    "ReduceMean", "ReduceMax", "ReduceMin", "Reshape", "Flatten",
    "Transpose", "Squeeze", "Unsqueeze", "Identity", "Slice", "Split",
    "Gather", "Expand", "Tile", "DepthToSpace", "SpaceToDepth", "Concat",
    "Resize", "Upsample", "Pad"};

/* 1 if tensor t is known to hold no negative value: made by Relu, a Clip
 * with a lower bound >= 0, or a sign-keeping op of such tensors. *budget
 * bounds the nodes visited (0 when it runs out, so a Clip is kept). */
static int nonneg(const qdq_ctx *c, int t, int *budget) {
  const qi_graph *g = c->g;
  t = resolve(c, t);
  if (t < 0 || --*budget < 0) return 0;
  int p = g->tensors[t].producer;
  if (p < 0 || p >= g->nnodes) return 0;
  const qi_node *n = &g->nodes[p];
  float lo, hi;
  if (qi_pat_is(g, p, "Relu")) return 1;
  if (qi_pat_is(g, p, "Clip"))
    return qi_pat_clip_bounds(g, p, &lo, &hi) && lo >= 0.0f;
  int keeps = 0;
  for (size_t k = 0; k < sizeof sign_keeping_ops / sizeof *sign_keeping_ops;
       k++)
    keeps |= qi_pat_is(g, p, sign_keeping_ops[k]);
  if (!keeps || n->nin < 1) return 0;
  const char *mode = qi_attr_str(n, "mode", "");
  if (strcmp(mode, "cubic") == 0) return 0; /* Resize: overshoots */
  if (qi_pat_is(g, p, "Pad") && n->nin > 2 && n->in[2] >= 0 &&
      !(qi_pat_const_scalar(g, n->in[2], &lo) && lo >= 0.0f))
    return 0;
  int nin = qi_pat_is(g, p, "Concat") ? n->nin : 1;
  for (int k = 0; k < nin; k++)
    if (!nonneg(c, n->in[k], budget)) return 0;
  return 1;
}

/* Q node qi becomes Clip(x, lo, hi) -> y: the saturation of the pair. */
static qi_status make_clip(qdq_ctx *c, int qi, int x, int y, float lo,
                           float hi, qi_error *err) {
  qi_graph *g = c->g;
  float *vlo = malloc(sizeof(float)), *vhi = malloc(sizeof(float));
  if (!vlo || !vhi) {
    free(vlo);
    free(vhi);
    return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
  }
  *vlo = lo;
  *vhi = hi;
  qi_shape scalar = {.rank = 0};
  int in[3] = {x, -1, -1};
  qi_status st = qi_pat_add_const_f32(g, g->tensors[y].name, ":qdq_min",
                                      &scalar, vlo, &in[1], err);
  if (st != QI_OK) {
    free(vhi);
    return st;
  }
  QI_TRY(qi_pat_add_const_f32(g, g->tensors[y].name, ":qdq_max", &scalar,
                              vhi, &in[2], err));
  QI_TRY(qi_pat_rewrite_node(g, qi, "Clip", in, 3, err));
  qi_pat_set_output(g, qi, 0, y);
  g->nodes[qi].precision = QI_PREC_INT8;
  return QI_OK;
}

/* One QuantizeLinear and the DequantizeLinears reading its output. */
static qi_status handle_q(qdq_ctx *c, int qi, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *q = &g->nodes[qi];
  if (q->nin < 2 || q->in[0] < 0) return QI_OK;
  int x = resolve(c, q->in[0]), qout = q->out[0];
  const qi_tensor *xt = &g->tensors[x];
  qdq_params pq;
  if (xt->kind == QI_TK_CONST) {
    if (xt->dtype == QI_FLOAT32 &&
        read_params(g, qi, 1, &xt->shape, QI_FLOAT32, &pq))
      return fold_weight_q(c, qi, x, &pq, err);
    return QI_OK;
  }
  int32_t zg;
  if (!read_params(g, qi, 1, NULL, QI_UNDEFINED, &pq) || !act_grid(&pq, &zg))
    return QI_OK;
  float s = pq.scale[0];
  qi_quant *xq = &g->tensors[x].quant;
  if (xq->has && (xq->axis >= 0 || !(xq->scale == s) || xq->zero_point != zg))
    return QI_OK; /* x already quantized otherwise: keep this pair in FP32 */
  set_act_quant(&g->tensors[x], s, zg);
  /* Readers of qout: DQs with equal parameters (nout_y of them writing a
   * graph output) and the others, which keep the Q alive. */
  int nmatch = 0, nout_y = 0, other = c->is_out[qout];
  for (int e = c->cstart[qout]; e < c->cstart[qout + 1]; e++) {
    int r = c->cons[e];
    if (!dq_matches(c, r, qout, &pq, NULL)) {
      other++;
    } else {
      nmatch++;
      nout_y += c->is_out[g->nodes[r].out[0]];
    }
  }
  /* A removed DQ writing a graph output needs the Q's slot for its Clip. */
  int keep_outputs = other > 0 || nout_y > 1;
  if (keep_outputs) {
    nmatch -= nout_y;
    other += nout_y;
    nout_y = 0;
  }
  if (nmatch == 0) return QI_OK;
  /* The pair's saturation is kept as a Clip where it changes results by
   * more than rounding: when the grid starts at 0 (a Relu or ReLU6 the
   * quantizer dropped, relying on it) after a node that can go negative
   * (not a graph input: its INT8 readers saturate when they quantize it),
   * and at a graph output, whose name the Clip keeps. A Clip after
   * Conv/Gemm/MatMul/Add fuses into it. Elsewhere the bounds are the
   * calibrated extremes: dropping them lets Conv + Add and MatMul + bias
   * fuse. */
  int32_t qmin, qmax;
  qtype_range(pq.qtype, &qmin, &qmax);
  int32_t z = zp_at(&pq, 0);
  int budget = 64;
  int relu_like = z == qmin && g->tensors[x].producer >= 0 &&
                  !nonneg(c, x, &budget);
  if (relu_like && other > 0) return QI_OK; /* no slot for the Clip */
  int clip = other == 0 && (nout_y == 1 || relu_like);
  /* With a Clip every reader of qout is a matched DQ (other == 0): the
   * Clip writes the graph output among their outputs, else the first. */
  int target = x;
  for (int e = c->cstart[qout]; clip && e < c->cstart[qout + 1]; e++) {
    int y = g->nodes[c->cons[e]].out[0];
    if (target == x || c->is_out[y]) target = y;
  }
  for (int e = c->cstart[qout]; e < c->cstart[qout + 1]; e++) {
    int r = c->cons[e];
    if (g->nodes[r].dead || !dq_matches(c, r, qout, &pq, NULL)) continue;
    int y = g->nodes[r].out[0];
    if (keep_outputs && c->is_out[y]) continue;
    g->nodes[r].dead = 1;
    if (y == target) continue;
    c->repl[y] = target;
  }
  c->rep.pairs_removed++;
  if (clip) {
    set_act_quant(&g->tensors[target], s, zg);
    c->rep.clips++;
    return make_clip(c, qi, x, target, (float)(qmin - z) * s,
                     (float)(qmax - z) * s, err);
  }
  if (other == 0) g->nodes[qi].dead = 1;
  return QI_OK;
}

/* A DequantizeLinear left in the graph (of a graph input, of a Q kept for
 * its other readers, or with parameters unlike its Q's): its output lies
 * on its grid, so it gets that quant and its readers may run in INT8. */
static void annotate_kept_dq(qdq_ctx *c, int di) {
  qi_graph *g = c->g;
  const qi_node *d = &g->nodes[di];
  if (d->nin < 2 || d->in[0] < 0) return;
  int x = d->in[0], y = d->out[0];
  qi_dtype xdt = g->tensors[x].dtype;
  int p = g->tensors[x].producer;
  qdq_params pq, pd;
  if (xdt == QI_UNDEFINED && p >= 0 && is_q(g, p) &&
      read_params(g, p, 1, NULL, QI_UNDEFINED, &pq))
    xdt = pq.qtype;
  int32_t zg;
  if (read_params(g, di, 0, NULL, xdt, &pd) && act_grid(&pd, &zg) &&
      !g->tensors[y].quant.has)
    set_act_quant(&g->tensors[y], pd.scale[0], zg);
}

static int has_weights(const qi_graph *g, int n) {
  return qi_pat_is(g, n, "Conv") || qi_pat_is(g, n, "ConvTranspose") ||
         qi_pat_is(g, n, "Gemm") || qi_pat_is(g, n, "MatMul");
}

/* INT8 for every reader of a DQ output whose constant weights, if any,
 * came from a DQ. Reads the node inputs before they are rewired. */
static void mark_precisions(qdq_ctx *c) {
  qi_graph *g = c->g;
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    if (n->dead || is_q(g, i) || is_dq(g, i)) continue;
    int reads_dq = 0;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0 && n->in[k] < c->nt && c->dq_out[n->in[k]])
        reads_dq = 1;
    if (reads_dq && has_weights(g, i) && n->nin > 1 && n->in[1] >= 0) {
      int w = n->in[1];
      if (g->tensors[w].kind == QI_TK_CONST && !(w < c->nt && c->dq_out[w]))
        reads_dq = 0;
    }
    if (reads_dq) n->precision = QI_PREC_INT8;
  }
}

static qi_status ctx_init(qdq_ctx *c, qi_graph *g, qi_error *err) {
  memset(c, 0, sizeof *c);
  c->g = g;
  c->nt = g->ntensors;
  size_t nt = (size_t)g->ntensors + 1, nedge = 1;
  for (int i = 0; i < g->nnodes; i++) nedge += (size_t)g->nodes[i].nin;
  c->repl = malloc(sizeof(int) * nt);
  c->dq_out = calloc(nt, 1);
  c->is_out = calloc(nt, 1);
  c->cstart = calloc(nt + 1, sizeof(int));
  c->cons = malloc(sizeof(int) * nedge);
  if (!c->repl || !c->dq_out || !c->is_out || !c->cstart ||
      !c->cons)
    return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
  for (int t = 0; t < c->nt; t++) c->repl[t] = -1;
  for (int i = 0; i < g->noutputs; i++) {
    int t = g->outputs[i];
    if (t < 0 || t >= c->nt) continue;
    c->is_out[t] = 1;
  }
  /* Consumer lists (CSR), one entry per read. */
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0 && n->in[k] < c->nt) c->cstart[n->in[k] + 1]++;
    if (is_q(g, i) || is_dq(g, i)) c->rep.found++;
    if (is_dq(g, i)) c->dq_out[n->out[0]] = 1;
  }
  for (int t = 0; t < c->nt; t++) c->cstart[t + 1] += c->cstart[t];
  int *fill = malloc(sizeof(int) * nt);
  if (!fill) return qi_fail(err, QI_ERR_NOMEM, "QDQ import: out of memory");
  memcpy(fill, c->cstart, sizeof(int) * (size_t)c->nt);
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0 && n->in[k] < c->nt) c->cons[fill[n->in[k]]++] = i;
  }
  free(fill);
  return QI_OK;
}

static void ctx_free(qdq_ctx *c) {
  free(c->repl);
  free(c->dq_out);
  free(c->is_out);
  free(c->cstart);
  free(c->cons);
}

static qi_status run(qdq_ctx *c, qi_error *err) {
  qi_graph *g = c->g;
  if (!c->rep.found) return QI_OK;
  for (int i = 0; i < g->nnodes; i++)
    if (is_dq(g, i)) QI_TRY(fold_weight_dq(c, i, err));
  for (int i = 0; i < g->nnodes; i++)
    if (is_q(g, i)) QI_TRY(handle_q(c, i, err));
  for (int i = 0; i < g->nnodes; i++) {
    if (is_dq(g, i)) annotate_kept_dq(c, i);
    if (is_q(g, i) || is_dq(g, i)) c->rep.kept++;
  }
  mark_precisions(c);
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++) n->in[k] = resolve(c, n->in[k]);
    if (n->precision == QI_PREC_INT8) c->rep.int8_nodes++;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (resolve(c, g->outputs[i]) != g->outputs[i])
      return qi_fail(err, QI_ERR_INTERNAL,
                     "QDQ import: graph output '%s' was rewired",
                     g->tensors[g->outputs[i]].name);
  return qi_graph_compact(g, err);
}

qi_status qi_qdq_import(qi_graph *g, qi_qdq_report *rep, qi_error *err) {
  if (rep) memset(rep, 0, sizeof *rep);
  if (!g) return qi_fail(err, QI_ERR_INVALID_ARG, "QDQ import: no graph");
  qdq_ctx c;
  qi_status st = ctx_init(&c, g, err);
  if (st == QI_OK) st = run(&c, err);
  if (rep) *rep = c.rep;
  ctx_free(&c);
  return st;
}
