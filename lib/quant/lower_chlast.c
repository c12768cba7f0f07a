/*
 * Lowering of channels-last regions, as ConvNeXt writes its blocks and its
 * LayerNorm2d:
 *
 *   X [B, C, H, W] -> Transpose(0,2,3,1) -> S_1 -> ... -> S_k
 *     -> Transpose(0,3,1,2) -> Z [B, C', H, W]
 *     [-> Mul(Z, gamma [C', 1, 1]) -> Add(., R)]
 *
 * where every S_i works along the last axis: LayerNormalization, MatMul
 * with constant weights [K, N] (fused bias, Relu or Clip), or a table
 * activation.
 *
 * The uint8 twin of an NCHW tensor is stored NHWC, so the bytes of X's
 * twin are the row-major bytes of Transpose(X): the region runs on twins
 * with no data movement. Its inner FP32 tensors (read only inside the
 * region) are relabeled [B, H, W, C] -> [B, C, H, W], so that their twins
 * are [B, H, W, C] too; LayerNorm becomes QiQLayerNorm over axis 1 (the
 * twin's contiguous last dim), a MatMul QiQMatMul (which multiplies the
 * twin's last dim), an activation QiQLut, and both Transposes go away.
 *
 * When S_k is a MatMul, a per-channel Mul by a constant after the region
 * (ConvNeXt's layer scale) folds into its weights and bias, which are
 * quantized per output channel, so the fold costs no precision:
 * (x W + b) * g = x (W g) + b g. An Add of another activation after that
 * becomes its residual input. Then a whole ConvNeXt block after its
 * depthwise convolution is QiQLayerNorm, QiQMatMul, QiQLut, QiQMatMul.
 *
 * The region is lowered whole or not at all: every check is made before
 * the graph changes.
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "passes/pattern.h"
#include "qnorm/qnorm.h"
#include "quant/lower_chlast.h"

#define CHL_MAX_STEPS 8

enum chl_kind { CHL_LAYERNORM, CHL_MATMUL, CHL_LUT };

typedef struct chl_region {
  int p1, p2; /* the Transposes into and out of channels-last */
  int x;      /* p1's NCHW input */
  int nsteps;
  int step[CHL_MAX_STEPS];
  enum chl_kind kind[CHL_MAX_STEPS];
  int mul, add;       /* layer scale and residual Add folded in, or -1 */
  const float *gamma; /* mul's constant, one value per channel */
  int residual;       /* add's other input, or -1 */
  int out;            /* the region's output: p2's, mul's or add's */
} chl_region;

static const int64_t to_last[4] = {0, 2, 3, 1}, to_first[4] = {0, 3, 1, 2};

static int is_perm(const qi_graph *g, int p, const int64_t *want) {
  if (p < 0 || !qi_pat_is(g, p, "Transpose") || g->nodes[p].nin != 1)
    return 0;
  const int64_t *perm;
  if (qi_attr_ints(&g->nodes[p], "perm", &perm) != 4) return 0;
  for (int i = 0; i < 4; i++)
    if (perm[i] != want[i]) return 0;
  return 1;
}

/* 1 if t is a finite float32 constant of len values along the last dim
 * (LayerNorm scale or bias). */
static int last_dim_param(const qi_graph *g, int t, int64_t len) {
  int64_t numel;
  const float *v = t >= 0 ? qi_pat_const_f32(g, t, &numel) : NULL;
  if (!v || numel != len) return 0;
  const qi_shape *s = &g->tensors[t].shape;
  if (s->rank < 1 || s->d[s->rank - 1] != len) return 0;
  for (int64_t i = 0; i < len; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

/* The values of t if it is a finite float32 constant of c values that
 * broadcasts along the channel axis of an NCHW tensor ([c, 1, 1] or
 * [1, c, 1, 1]); else NULL. */
static const float *channel_const(const qi_graph *g, int t, int64_t c) {
  int64_t numel;
  const float *v = t >= 0 ? qi_pat_const_f32(g, t, &numel) : NULL;
  if (!v || numel != c) return NULL;
  const qi_shape *s = &g->tensors[t].shape;
  if (s->rank < 3 || s->rank > 4 || s->d[s->rank - 3] != c ||
      s->d[s->rank - 2] != 1 || s->d[s->rank - 1] != 1)
    return NULL;
  for (int64_t i = 0; i < c; i++)
    if (!isfinite(v[i])) return NULL;
  return v;
}

static int no_act(const qi_node *n) {
  return qi_node_act(n).act == QI_ACT_NONE;
}

/* What step node s is, reading c_in channels; *c_out: its output's. */
static int step_kind(const qi_graph *g, int s, int64_t c_in, int64_t *c_out,
                     enum chl_kind *kind) {
  const qi_node *n = &g->nodes[s];
  *c_out = c_in;
  if (qi_pat_is(g, s, "LayerNormalization")) {
    for (int k = 1; k < n->nout; k++) /* Mean / InvStdDev are not made */
      if (n->out[k] >= 0) return 0;
    float eps = qi_attr_float(n, "epsilon", 1e-5f);
    *kind = CHL_LAYERNORM;
    return n->nin >= 2 && n->nin <= 3 && no_act(n) &&
           qi_norm_axis(qi_attr_int(n, "axis", -1), 4) == 3 &&
           isfinite(eps) && eps >= 0.0f &&
           (uint64_t)c_in <= QI_U8_LAYERNORM_MAX_N &&
           last_dim_param(g, n->in[1], c_in) &&
           (n->nin < 3 || n->in[2] < 0 || last_dim_param(g, n->in[2], c_in));
  }
  if (qi_pat_is(g, s, "MatMul")) {
    if (n->nout != 1 || n->nin < 2 || n->nin > 3 || n->in[1] < 0) return 0;
    int64_t numel;
    const qi_shape *ws = &g->tensors[n->in[1]].shape;
    if (ws->rank != 2 || ws->d[0] != c_in ||
        !qi_pat_const_f32(g, n->in[1], &numel))
      return 0;
    *c_out = ws->d[1];
    *kind = CHL_MATMUL;
    return 1;
  }
  *kind = CHL_LUT;
  return lower_lut_ok(g, s);
}

/* 1 if t has FP32 shape [b, c, h, w] (nchw) or [b, h, w, c]. */
static int shape_is(const qi_graph *g, int t, int nchw, int64_t b, int64_t c,
                    int64_t h, int64_t w) {
  const qi_shape *s = &g->tensors[t].shape;
  if (!lower_act_f32(g, t) || s->rank != 4 || s->d[0] != b) return 0;
  return nchw ? s->d[1] == c && s->d[2] == h && s->d[3] == w
              : s->d[1] == h && s->d[2] == w && s->d[3] == c;
}

/* After a MatMul-ended region: Mul by a channel constant, then Add. */
static void find_scale_and_residual(const qi_graph *g, int64_t c,
                                    chl_region *r) {
  int m = qi_pat_sole_consumer(g, r->out);
  if (m >= 0 && qi_pat_is(g, m, "Mul") && g->nodes[m].nin == 2 &&
      g->nodes[m].precision == QI_PREC_INT8 && no_act(&g->nodes[m])) {
    const float *gamma =
        channel_const(g, qi_pat_other_input(&g->nodes[m], r->out), c);
    int y = g->nodes[m].out[0];
    if (gamma && lower_same_shape(&g->tensors[y].shape,
                                  &g->tensors[r->out].shape)) {
      r->mul = m;
      r->gamma = gamma;
      r->out = y;
    }
  }
  int a = qi_pat_sole_consumer(g, r->out);
  if (a >= 0 && qi_pat_is(g, a, "Add") && g->nodes[a].nin == 2 &&
      g->nodes[a].precision == QI_PREC_INT8) {
    int o = qi_pat_other_input(&g->nodes[a], r->out), y = g->nodes[a].out[0];
    if (o >= 0 && o != r->out && lower_act_ok(g, o) &&
        lower_same_shape(&g->tensors[o].shape, &g->tensors[r->out].shape) &&
        lower_same_shape(&g->tensors[y].shape, &g->tensors[r->out].shape)) {
      r->add = a;
      r->residual = o;
      r->out = y;
    }
  }
}

/* The region node ni opens, if any: 1 and *r filled. */
static int find_region(const qi_graph *g, int ni, chl_region *r) {
  memset(r, 0, sizeof *r);
  r->mul = r->add = r->residual = -1;
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 1 || n->nout < 1) return 0;
  int t = n->in[0];
  r->p1 = qi_pat_producer(g, t);
  if (!is_perm(g, r->p1, to_last) || qi_pat_sole_consumer(g, t) != ni)
    return 0;
  r->x = g->nodes[r->p1].in[0];
  if (!lower_act_ok(g, r->x) || g->tensors[r->x].shape.rank != 4) return 0;
  const qi_shape *xs = &g->tensors[r->x].shape;
  int64_t b = xs->d[0], c = xs->d[1], h = xs->d[2], w = xs->d[3];
  for (int s = ni;;) {
    const qi_node *sn = &g->nodes[s];
    int64_t c_out;
    enum chl_kind kind;
    if (r->nsteps == CHL_MAX_STEPS || sn->in[0] != t ||
        (s != ni && sn->precision != QI_PREC_INT8) ||
        !step_kind(g, s, c, &c_out, &kind))
      return 0;
    t = sn->out[0];
    if (t < 0 || !shape_is(g, t, 0, b, c_out, h, w)) return 0;
    r->step[r->nsteps] = s;
    r->kind[r->nsteps++] = kind;
    c = c_out;
    s = qi_pat_sole_consumer(g, t);
    if (s < 0) return 0;
    if (is_perm(g, s, to_first)) {
      r->p2 = s;
      break;
    }
    if (!lower_quant_ok(&g->tensors[t].quant)) return 0; /* becomes a twin */
  }
  r->out = g->nodes[r->p2].out[0];
  if (r->out < 0 || !shape_is(g, r->out, 1, b, c, h, w)) return 0;
  int last = r->step[r->nsteps - 1];
  if (r->kind[r->nsteps - 1] == CHL_MATMUL && no_act(&g->nodes[last]))
    find_scale_and_residual(g, c, r);
  return lower_act_ok(g, r->out);
}

static void relabel_nchw(qi_graph *g, int t) {
  qi_shape *s = &g->tensors[t].shape; /* [b, h, w, c] -> [b, c, h, w] */
  int64_t h = s->d[1], w = s->d[2];
  s->d[1] = s->d[3];
  s->d[2] = h;
  s->d[3] = w;
}

static qi_status emit_layernorm(lower_ctx *c, int s, int x, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[s];
  int scale = n->in[1], bias = n->nin > 2 ? n->in[2] : -1;
  float eps = qi_attr_float(n, "epsilon", 1e-5f);
  int q;
  QI_TRY(lower_replace(c, s, "QiQLayerNorm", bias >= 0 ? 3 : 2, LOWER_OUT_U8,
                       &q, err));
  g->nodes[q].in[0] = x;
  g->nodes[q].in[1] = scale;
  if (bias >= 0) g->nodes[q].in[2] = bias;
  QI_TRY(lower_attr_float(g, q, "epsilon", eps, err));
  QI_TRY(lower_attr_int(g, q, "axis", 1, err));
  QI_TRY(lower_attr_int(g, q, "qmin", 0, err));
  return lower_attr_int(g, q, "qmax", 255, err);
}

static qi_status emit_matmul(lower_ctx *c, int s, int x, int wq, int bias_t,
                             int residual, int32_t qmin, int32_t qmax,
                             qi_error *err) {
  qi_graph *g = c->g;
  int q;
  QI_TRY(lower_replace(c, s, "QiQMatMul", residual >= 0 ? 4 : 3, LOWER_OUT_U8,
                       &q, err));
  g->nodes[q].in[0] = x;
  g->nodes[q].in[1] = wq;
  g->nodes[q].in[2] = bias_t;
  if (residual >= 0) g->nodes[q].in[3] = residual;
  QI_TRY(lower_attr_int(g, q, "qmin", qmin, err));
  return lower_attr_int(g, q, "qmax", qmax, err);
}

/* The input step i reads once the region is rewired. */
static int step_input(const qi_graph *g, const chl_region *r, int i) {
  return i == 0 ? r->x : g->nodes[r->step[i - 1]].out[0];
}

static qi_status emit_region(lower_ctx *c, const chl_region *r, int *done,
                             qi_error *err) {
  qi_graph *g = c->g;
  int last = r->nsteps - 1;
  int wq[CHL_MAX_STEPS], bias_t[CHL_MAX_STEPS];
  for (int i = 0; i < r->nsteps; i++) {
    if (r->kind[i] != CHL_MATMUL) continue;
    const float *scale = i == last && r->mul >= 0 ? r->gamma : NULL;
    QI_TRY(lower_matmul_consts(c, r->step[i], step_input(g, r, i), scale,
                               &wq[i], &bias_t[i], err));
    if (wq[i] < 0) return QI_OK;
  }
  /* Output clamps: a MatMul's fused Relu / Clip, the Add's at the end. */
  int32_t qmin[CHL_MAX_STEPS], qmax[CHL_MAX_STEPS];
  for (int i = 0; i < r->nsteps; i++) {
    int cn = i == last && r->add >= 0 ? r->add : r->step[i];
    int y = i == last ? r->out : g->nodes[r->step[i]].out[0];
    if (!lower_fused_clamp(&g->nodes[cn], &g->tensors[y].quant, &qmin[i],
                           &qmax[i]))
      return QI_OK;
  }
  /* Past this point the region is lowered. */
  for (int i = 0; i < last; i++) relabel_nchw(g, g->nodes[r->step[i]].out[0]);
  g->nodes[r->step[0]].in[0] = r->x;
  g->nodes[r->step[last]].out[0] = r->out;
  g->nodes[r->p1].dead = g->nodes[r->p2].dead = 1;
  if (r->mul >= 0) g->nodes[r->mul].dead = 1;
  if (r->add >= 0) g->nodes[r->add].dead = 1;
  for (int i = 0; i < r->nsteps; i++) {
    int s = r->step[i], x = step_input(g, r, i);
    if (r->kind[i] == CHL_LAYERNORM) {
      QI_TRY(emit_layernorm(c, s, x, err));
    } else if (r->kind[i] == CHL_MATMUL) {
      int res = i == last ? r->residual : -1;
      QI_TRY(emit_matmul(c, s, x, wq[i], bias_t[i], res, qmin[i], qmax[i],
                         err));
    } else {
      int ok = 0;
      QI_TRY(lower_match_lut(c, s, &ok, err));
      if (!ok)
        return qi_fail(err, QI_ERR_INTERNAL,
                       "INT8 lowering: activation '%s' of a channels-last "
                       "region was refused after the region was checked",
                       g->nodes[s].name);
    }
  }
  *done = 1;
  return QI_OK;
}

qi_status lower_chlast_match(lower_ctx *c, int ni, int *done, qi_error *err) {
  *done = 0;
  chl_region r;
  if (!find_region(c->g, ni, &r)) return QI_OK;
  return emit_region(c, &r, done, err);
}
