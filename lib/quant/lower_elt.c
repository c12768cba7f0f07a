/*
 * Lowering of the weightless ops: Add/Mul -> QiQAdd/QiQMul, pools,
 * Resize, Concat, and one-input activations -> QiQLut.
 *
 * Layout: a rank-4 twin is NHWC, so the attributes that name axes or
 * sizes are translated (Concat axis, Resize sizes) and a per-channel
 * operand [1, C, 1, 1] becomes a per-last-dim broadcast.
 *
 * MaxPool and nearest Resize only move values: their output takes the
 * input's quantization (set on the FP32 tensor, and so on its twin), which
 * keeps them exact; the calibrated range of their output is nearly the
 * same anyway.
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "passes/pattern.h"
#include "qlut/qlut.h"
#include "qpool/qpool.h"
#include "quant/lower_chlast.h"
#include "quant/lower_internal.h"

/* The window limit of the uint8 pools (qpool/qpool.h). */
#define QI_U8_POOL_MAX_TAPS_I64 ((int64_t)QI_U8_POOL_MAX_TAPS)

static const int nchw_to_nhwc_axis[4] = {0, 3, 1, 2};

/* Copies the per-tensor quantization of `from` onto `to`. */
static void share_quant(qi_graph *g, int from, int to) {
  qi_quant *q = &g->tensors[to].quant;
  const qi_quant *s = &g->tensors[from].quant;
  q->has = 1;
  q->scale = s->scale;
  q->zero_point = s->zero_point;
  q->axis = -1;
}

static qi_status clamp_attrs(qi_graph *g, int q, int32_t qmin, int32_t qmax,
                             qi_error *err) {
  QI_TRY(lower_attr_int(g, q, "qmin", qmin, err));
  return lower_attr_int(g, q, "qmax", qmax, err);
}

/* ---- Add / Mul -------------------------------------------------------- */

/* 1 if operand shape b broadcasts against output y in a form QiQAdd /
 * QiQMul take on the twins: one element, or one value per channel, which
 * is [1, C, 1, 1] for a rank-4 y (the last dim of the NHWC twins) and
 * [1, ..., 1, C] otherwise. A rank-4 operand of a y of another rank, or a
 * lower-rank operand of a rank-4 y, would not line up once the rank-4
 * twin is NHWC. */
static int bcast_ok(const qi_shape *b, const qi_shape *y) {
  if (b->rank > y->rank || b->rank < 0) return 0;
  if (qi_shape_numel(b) == 1) return 1;
  if (y->rank == 4)
    return b->rank == 4 && b->d[0] == 1 && b->d[1] == y->d[1] &&
           b->d[2] == 1 && b->d[3] == 1;
  if (b->rank == 4 || b->rank < 1 || b->d[b->rank - 1] != y->d[y->rank - 1])
    return 0;
  for (int d = 0; d + 1 < b->rank; d++)
    if (b->d[d] != 1) return 0;
  return 1;
}

/* The value of a float32 constant holding one value (any rank), or 0. */
static int const_scalar(const qi_graph *g, int t, double *v) {
  if (t < 0 || t >= g->ntensors) return 0;
  const qi_tensor *x = &g->tensors[t];
  if (x->kind != QI_TK_CONST || x->dtype != QI_FLOAT32 || !x->data ||
      qi_shape_numel(&x->shape) != 1 || x->nbytes != sizeof(float))
    return 0;
  float f;
  memcpy(&f, x->data, sizeof f);
  *v = f;
  return isfinite(f);
}

/* Whether an INT8 replacement reads tensor t: a table only pays when the
 * uint8 chain goes on (into a float reader, the float Mul/Add on the
 * dequantized input saves a rounding). */
static int read_by_int8(const lower_ctx *c, int t) {
  for (int i = 0; i < c->nrepl; i++) {
    const qi_node *r = &c->g->nodes[c->repl_list[i]];
    for (int k = 0; k < r->nin; k++)
      if (r->in[k] == t) return 1;
  }
  return 0;
}

qi_status lower_match_affine(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  if (n->nin != 2 || n->nout != 1) return QI_OK;
  int x = n->in[0], k = n->in[1], y = n->out[0];
  double v;
  if (!const_scalar(g, k, &v)) {
    x = n->in[1];
    k = n->in[0];
    if (!const_scalar(g, k, &v)) return QI_OK;
  }
  if (!lower_act_ok(g, x) || !lower_act_ok(g, y) ||
      !lower_same_shape(&g->tensors[x].shape, &g->tensors[y].shape) ||
      !read_by_int8(c, y))
    return QI_OK;
  int32_t qmin, qmax;
  if (!lower_fused_clamp(n, &g->tensors[y].quant, &qmin, &qmax)) return QI_OK;
  int is_add = strcmp(n->op_type, "Add") == 0, q;
  QI_TRY(lower_replace(c, ni, "QiQLut", 1, LOWER_OUT_U8, &q, err));
  g->nodes[q].in[0] = x;
  QI_TRY(lower_attr_int(g, q, "act", QI_U8_ACT_AFFINE, err));
  QI_TRY(lower_attr_float(g, q, "alpha", is_add ? 1.0f : (float)v, err));
  QI_TRY(lower_attr_float(g, q, "beta", is_add ? (float)v : 0.0f, err));
  QI_TRY(clamp_attrs(g, q, qmin, qmax, err));
  *done = 1;
  return QI_OK;
}

qi_status lower_match_binary(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  if (n->nin != 2 || n->nout != 1) return QI_OK;
  int a = n->in[0], b = n->in[1], y = n->out[0];
  if (!lower_act_ok(g, a) || !lower_act_ok(g, b) || !lower_act_ok(g, y))
    return QI_OK;
  const qi_shape *ys = &g->tensors[y].shape;
  if (!lower_same_shape(&g->tensors[a].shape, ys)) {
    int t = a; /* both ops commute: the full operand goes first */
    a = b;
    b = t;
  }
  if (!lower_same_shape(&g->tensors[a].shape, ys)) return QI_OK;
  if (!lower_same_shape(&g->tensors[b].shape, ys) &&
      !bcast_ok(&g->tensors[b].shape, ys))
    return QI_OK;
  int32_t qmin, qmax;
  if (!lower_fused_clamp(n, &g->tensors[y].quant, &qmin, &qmax)) return QI_OK;
  int is_add = strcmp(n->op_type, "Add") == 0, q;
  QI_TRY(lower_replace(c, ni, is_add ? "QiQAdd" : "QiQMul", 2, LOWER_OUT_U8,
                       &q, err));
  g->nodes[q].in[0] = a;
  g->nodes[q].in[1] = b;
  QI_TRY(clamp_attrs(g, q, qmin, qmax, err));
  *done = 1;
  return QI_OK;
}

/* ---- pools ------------------------------------------------------------ */

typedef struct pool2d {
  int64_t k[2], s[2], d[2], pads[4], out[2];
  int ceil_mode;
} pool2d;

/* 2 INTS of attribute `name` >= 1, or `def` when absent; 0 if malformed. */
static int two_ints(const qi_node *n, const char *name, int64_t def,
                    int64_t *v) {
  const int64_t *a;
  int cnt = qi_attr_ints(n, name, &a);
  v[0] = v[1] = def;
  if (cnt < 0) return def > 0;
  if (cnt != 2 || a[0] < 1 || a[1] < 1 || a[0] > INT32_MAX ||
      a[1] > INT32_MAX)
    return 0;
  v[0] = a[0];
  v[1] = a[1];
  return 1;
}

/* Geometry of a 2-D MaxPool/AveragePool over input [N, C, in[0], in[1]],
 * auto_pad resolved to explicit pads, as op_pool.c computes it; 0 if the
 * attributes are not understood. */
static int pool_geom(const qi_node *n, const int64_t *in, pool2d *p) {
  if (!two_ints(n, "kernel_shape", 0, p->k) || !two_ints(n, "strides", 1, p->s) ||
      !two_ints(n, "dilations", 1, p->d))
    return 0;
  const int64_t *pads;
  int np = qi_attr_ints(n, "pads", &pads);
  if (np >= 0 && np != 4) return 0;
  const char *ap = qi_attr_str(n, "auto_pad", "NOTSET");
  int same_upper = !strcmp(ap, "SAME_UPPER"), same = same_upper ||
                                                     !strcmp(ap, "SAME_LOWER");
  int valid = !strcmp(ap, "VALID");
  if (!same && !valid && strcmp(ap, "NOTSET") != 0 && ap[0]) return 0;
  p->ceil_mode = !same && qi_attr_int(n, "ceil_mode", 0) != 0;
  for (int i = 0; i < 2; i++) {
    int64_t dk = (p->k[i] - 1) * p->d[i] + 1, pb, pe;
    if (same) {
      p->out[i] = (in[i] + p->s[i] - 1) / p->s[i];
      int64_t total = (p->out[i] - 1) * p->s[i] + dk - in[i];
      if (total < 0) total = 0;
      pb = same_upper ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      pb = valid || np < 0 ? 0 : pads[i];
      pe = valid || np < 0 ? 0 : pads[2 + i];
      if (pb < 0 || pe < 0 || pb > INT32_MAX || pe > INT32_MAX) return 0;
      int64_t span = in[i] + pb + pe - dk;
      if (span < 0) return 0;
      p->out[i] = (p->ceil_mode ? (span + p->s[i] - 1) / p->s[i]
                                : span / p->s[i]) + 1;
      if (p->ceil_mode && (p->out[i] - 1) * p->s[i] >= in[i] + pb) p->out[i]--;
    }
    p->pads[i] = pb;
    p->pads[2 + i] = pe;
  }
  return 1;
}

qi_status lower_match_pool(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  int x = n->nin == 1 ? n->in[0] : -1, y = n->out[0];
  if (n->nout > 1 && n->out[1] >= 0) return QI_OK; /* MaxPool Indices */
  if (!lower_act_ok(g, x) || !lower_act_f32(g, y)) return QI_OK;
  const qi_shape *xs = &g->tensors[x].shape, *ys = &g->tensors[y].shape;
  if (xs->rank != 4 || ys->rank != 4) return QI_OK;
  int is_max = !strcmp(n->op_type, "MaxPool");
  int global = !strcmp(n->op_type, "GlobalAveragePool");
  if (!is_max && !lower_quant_ok(&g->tensors[y].quant)) return QI_OK;
  pool2d p;
  if (!global) {
    if (!pool_geom(n, xs->d + 2, &p) || ys->d[2] != p.out[0] ||
        ys->d[3] != p.out[1] || p.k[0] * p.k[1] >= QI_U8_POOL_MAX_TAPS_I64)
      return QI_OK;
  } else if (ys->d[2] != 1 || ys->d[3] != 1 ||
             xs->d[2] * xs->d[3] > QI_U8_POOL_MAX_TAPS_I64) {
    return QI_OK;
  }
  int count_pad = qi_attr_int(n, "count_include_pad", 0) != 0;
  if (is_max) share_quant(g, x, y);
  const char *op = is_max ? "QiQMaxPool"
                   : global ? "QiQGlobalAveragePool"
                            : "QiQAveragePool";
  int q;
  QI_TRY(lower_replace(c, ni, op, 1, LOWER_OUT_U8, &q, err));
  g->nodes[q].in[0] = x;
  if (!global) {
    QI_TRY(lower_attr_ints(g, q, "kernel_shape", p.k, 2, err));
    QI_TRY(lower_attr_ints(g, q, "strides", p.s, 2, err));
    QI_TRY(lower_attr_ints(g, q, "pads", p.pads, 4, err));
    QI_TRY(lower_attr_ints(g, q, "dilations", p.d, 2, err));
    QI_TRY(lower_attr_int(g, q, "ceil_mode", p.ceil_mode, err));
    if (!is_max)
      QI_TRY(lower_attr_int(g, q, "count_include_pad", count_pad, err));
  }
  *done = 1;
  return QI_OK;
}

/* ---- Resize ----------------------------------------------------------- */

static int one_of(const char *s, const char *const *names, int count) {
  for (int i = 0; i < count; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* Whether Resize node n (opset 11+) scales only H and W of a rank-4 input
 * [N, C, H, W] into y: sizes, or scales of 1 on N and C. Given scales are
 * kept (*have_scales, NHWC order in nhwc_scales): the coordinate
 * transforms use them rather than out / in. */
static int resize_sizes_ok(const qi_graph *g, const qi_node *n,
                           const qi_shape *xs, const qi_shape *ys,
                           int *have_scales, float *nhwc_scales) {
  *have_scales = 0;
  if (ys->d[0] != xs->d[0] || ys->d[1] != xs->d[1]) return 0;
  int64_t sizes[QI_MAX_RANK];
  int nz = n->nin > 3 ? qi_in_const_i64(g, n, 3, sizes, QI_MAX_RANK) : -1;
  if (nz == 4) {
    for (int i = 0; i < 4; i++)
      if (sizes[i] != ys->d[i]) return 0;
    return 1;
  }
  int st = n->in[2];
  if (nz > 0 || st < 0) return 0;
  const qi_tensor *s = &g->tensors[st];
  if (s->kind != QI_TK_CONST || s->dtype != QI_FLOAT32 || !s->data ||
      qi_shape_numel(&s->shape) != 4 || s->nbytes != 4 * sizeof(float))
    return 0;
  const float *sc = s->data;
  if (sc[0] != 1.0f || sc[1] != 1.0f) return 0;
  for (int i = 2; i < 4; i++)
    if (!isfinite(sc[i]) || !(sc[i] > 0.0f) ||
        floor((double)sc[i] * (double)xs->d[i]) != (double)ys->d[i])
      return 0;
  nhwc_scales[0] = sc[0];
  nhwc_scales[1] = sc[2];
  nhwc_scales[2] = sc[3];
  nhwc_scales[3] = sc[1];
  *have_scales = 1;
  return 1;
}

qi_status lower_match_resize(lower_ctx *c, int ni, int *done, qi_error *err) {
  static const char *const modes[] = {"nearest", "linear"};
  static const char *const coords[] = {"half_pixel", "pytorch_half_pixel",
                                       "align_corners", "asymmetric"};
  static const char *const nearests[] = {"round_prefer_floor",
                                         "round_prefer_ceil", "floor", "ceil"};
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  /* Opset 10 Resize (two inputs) rounds the legacy way: stays FP32. */
  if (n->nin < 3 || n->nin > 4 || n->nout != 1) return QI_OK;
  int x = n->in[0], y = n->out[0];
  if (!lower_act_ok(g, x) || !lower_act_f32(g, y)) return QI_OK;
  const qi_shape *xs = &g->tensors[x].shape, *ys = &g->tensors[y].shape;
  if (xs->rank != 4 || ys->rank != 4) return QI_OK;
  const char *coord = qi_attr_str(n, "coordinate_transformation_mode",
                                  "half_pixel");
  const char *nearest = qi_attr_str(n, "nearest_mode", "round_prefer_floor");
  int mode = one_of(qi_attr_str(n, "mode", "nearest"), modes, 2);
  int ct = one_of(coord, coords, 4), have_scales;
  float scales[4];
  if (mode < 0 || ct < 0 || one_of(nearest, nearests, 4) < 0 ||
      qi_attr_int(n, "antialias", 0) != 0 ||
      qi_attr_int(n, "exclude_outside", 0) != 0 || qi_attr_find(n, "axes") ||
      strcmp(qi_attr_str(n, "keep_aspect_ratio_policy", "stretch"),
             "stretch") != 0 ||
      !resize_sizes_ok(g, n, xs, ys, &have_scales, scales))
    return QI_OK;
  if (mode == 1 && !lower_quant_ok(&g->tensors[y].quant)) return QI_OK;
  int64_t sizes[4] = {ys->d[0], ys->d[2], ys->d[3], ys->d[1]};
  if (mode == 0) share_quant(g, x, y);
  int q;
  QI_TRY(lower_replace(c, ni, "QiQResize", 1, LOWER_OUT_U8, &q, err));
  g->nodes[q].in[0] = x;
  QI_TRY(lower_attr_int(g, q, "mode", mode, err));
  QI_TRY(lower_attr_str(g, q, "coordinate_transformation_mode", coord, err));
  QI_TRY(lower_attr_str(g, q, "nearest_mode", nearest, err));
  QI_TRY(lower_attr_ints(g, q, "sizes", sizes, 4, err));
  if (have_scales) QI_TRY(lower_attr_floats(g, q, "scales", scales, 4, err));
  *done = 1;
  return QI_OK;
}

/* ---- Concat ----------------------------------------------------------- */

qi_status lower_match_concat(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  int y = n->out[0];
  if (n->nin < 1 || n->nout != 1 || !lower_act_ok(g, y) ||
      !qi_attr_find(n, "axis"))
    return QI_OK;
  int rank = g->tensors[y].shape.rank;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), rank);
  if (axis < 0) return QI_OK;
  for (int k = 0; k < n->nin; k++)
    if (!lower_act_ok(g, n->in[k]) || g->tensors[n->in[k]].shape.rank != rank)
      return QI_OK;
  int nin = n->nin, q;
  QI_TRY(lower_replace(c, ni, "QiQConcat", nin, LOWER_OUT_U8, &q, err));
  for (int k = 0; k < nin; k++) g->nodes[q].in[k] = g->nodes[ni].in[k];
  QI_TRY(lower_attr_int(g, q, "axis",
                        rank == 4 ? nchw_to_nhwc_axis[axis] : axis, err));
  *done = 1;
  return QI_OK;
}

/* Inputs of an INT8 Concat that only the Concat reads, made by a node that
 * computes a fresh output grid, take the Concat's grid: the producer then
 * requantizes straight to it and the Concat copies bytes, instead of
 * rounding twice (producer grid, then Concat grid). Runs on the FP32
 * annotations before matching. */
void lower_share_concat_grids(qi_graph *g) {
  static const char *const fresh[] = {"Conv", "Gemm", "MatMul", "Add", "Mul",
                                      "AveragePool", "GlobalAveragePool"};
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead || n->precision != QI_PREC_INT8 ||
        strcmp(n->op_type, "Concat") != 0 || n->nout != 1 || n->out[0] < 0)
      continue;
    const qi_quant *yq = &g->tensors[n->out[0]].quant;
    if (!yq->has || yq->axis >= 0) continue;
    for (int k = 0; k < n->nin; k++) {
      int t = n->in[k];
      if (t < 0 || qi_graph_consumers(g, t) != 1) continue;
      qi_tensor *tt = &g->tensors[t];
      if (!tt->quant.has || tt->quant.axis >= 0) continue;
      const qi_node *p = NULL;
      for (int j = 0; j < g->nnodes && !p; j++)
        if (!g->nodes[j].dead && g->nodes[j].nout >= 1 &&
            g->nodes[j].out[0] == t)
          p = &g->nodes[j];
      if (!p || p->precision != QI_PREC_INT8) continue;
      int ok = 0;
      for (size_t f = 0; f < sizeof fresh / sizeof *fresh; f++)
        ok |= strcmp(p->op_type, fresh[f]) == 0;
      if (!ok) continue;
      tt->quant.scale = yq->scale;
      tt->quant.zero_point = yq->zero_point;
    }
  }
}

/* ---- table activations ------------------------------------------------ */

/* The table function of activation node n, or 0 if it has none. */
static int lut_act_of(const qi_graph *g, int ni, qi_u8_act *act) {
  const qi_node *n = &g->nodes[ni];
  const char *op = n->op_type;
  act->alpha = act->beta = 0.0;
  if (strcmp(op, "Clip") != 0 && n->nin != 1) return 0;
  if (!strcmp(op, "Relu")) {
    act->kind = QI_U8_ACT_RELU;
  } else if (!strcmp(op, "Clip")) {
    float lo, hi;
    if (n->nin > 3 || !qi_pat_clip_bounds(g, ni, &lo, &hi)) return 0;
    act->kind = QI_U8_ACT_CLIP;
    act->alpha = lo;
    act->beta = hi;
  } else if (!strcmp(op, "LeakyRelu")) {
    act->kind = QI_U8_ACT_LEAKY_RELU;
    act->alpha = qi_attr_float(n, "alpha", 0.01f);
  } else if (!strcmp(op, "Sigmoid")) {
    act->kind = QI_U8_ACT_SIGMOID;
  } else if (!strcmp(op, "HardSigmoid")) {
    act->kind = QI_U8_ACT_HARD_SIGMOID;
    act->alpha = qi_attr_float(n, "alpha", 0.2f);
    act->beta = qi_attr_float(n, "beta", 0.5f);
  } else if (!strcmp(op, "HardSwish")) {
    act->kind = QI_U8_ACT_HARD_SWISH;
  } else if (!strcmp(op, "QiSilu")) {
    act->kind = QI_U8_ACT_SILU;
  } else if (!strcmp(op, "Tanh")) {
    act->kind = QI_U8_ACT_TANH;
  } else if (!strcmp(op, "Gelu")) {
    const char *ap = qi_attr_str(n, "approximate", "none");
    if (!strcmp(ap, "none"))
      act->kind = QI_U8_ACT_GELU;
    else if (!strcmp(ap, "tanh"))
      act->kind = QI_U8_ACT_GELU_TANH;
    else
      return 0;
  } else {
    return 0;
  }
  return 1;
}

int lower_lut_ok(const qi_graph *g, int ni) {
  qi_u8_act act;
  return g->nodes[ni].nout == 1 && lut_act_of(g, ni, &act);
}

qi_status lower_match_lut(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  int x = n->nin >= 1 ? n->in[0] : -1, y = n->out[0];
  qi_u8_act act;
  if (n->nout != 1 || !lower_act_ok(g, x) || !lower_act_ok(g, y) ||
      !lower_same_shape(&g->tensors[x].shape, &g->tensors[y].shape) ||
      !lut_act_of(g, ni, &act))
    return QI_OK;
  int q;
  QI_TRY(lower_replace(c, ni, "QiQLut", 1, LOWER_OUT_U8, &q, err));
  g->nodes[q].in[0] = x;
  QI_TRY(lower_attr_int(g, q, "act", act.kind, err));
  QI_TRY(lower_attr_float(g, q, "alpha", (float)act.alpha, err));
  QI_TRY(lower_attr_float(g, q, "beta", (float)act.beta, err));
  QI_TRY(clamp_attrs(g, q, 0, 255, err));
  *done = 1;
  return QI_OK;
}
