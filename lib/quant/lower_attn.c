/*
 * Lowering of the attention ops (op_qattn.c): MatMul of two activations
 * -> QiQMatMulAct, Softmax over the last axis -> QiQSoftmax,
 * LayerNormalization over the last axis with constant scale and bias ->
 * QiQLayerNorm.
 *
 * Layout: a rank-4 twin is NHWC ([batch, heads, tokens, dims] stored as
 * [batch, tokens, dims, heads]); the Qi ops take that layout as such
 * (op_qattn.c gathers each head or row), so every rank >= 2 is lowered
 * (rank >= 1 for the row ops) and the shapes checked here are the FP32
 * ones.
 *
 * MatMul: A [..., M, K] x B [..., K, N] with equal leading dims (or all 1
 * on one side). When B is a Transpose of the last two axes of an
 * activation read by nothing else, the Transpose is dropped and
 * QiQMatMulAct reads its input with trans_b = 1 (Q K^T without moving K).
 * Softmax: only attention probabilities, i.e. an output read by MatMul
 * nodes alone: elsewhere (a classifier's last Softmax) INT8 would only
 * quantize logits the FP32 Softmax reads in float. The output grid is
 * fixed to scale 1/256, zero point 0 (set on the FP32 tensor, and so on
 * its twin): probabilities in [0, 1) at the finest uniform step, 1 itself
 * saturating to 255/256.
 * A missing output range makes the output float (LOWER_OUT_F32); with one,
 * the output is float when every reader is float (LOWER_OUT_EITHER).
 */
#include <math.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "passes/pattern.h"
#include "qattn/qattn.h"
#include "qnorm/qnorm.h"
#include "quant/lower_chlast.h"
#include "quant/lower_internal.h"

/* The Softmax output grid. */
#define LOWER_SOFTMAX_SCALE (1.0f / 256.0f)

static int rank_ok(const qi_shape *s) { return s->rank >= 2; }

/* Output mode and clamp for output y of node n (fused Relu / Clip only). */
static int out_mode_of(const qi_graph *g, const qi_node *n, int y,
                       int32_t *qmin, int32_t *qmax) {
  *qmin = 0;
  *qmax = 255;
  if (!lower_quant_ok(&g->tensors[y].quant))
    return qi_node_act(n).act == QI_ACT_NONE ? LOWER_OUT_F32 : -1;
  if (!lower_fused_clamp(n, &g->tensors[y].quant, qmin, qmax)) return -1;
  return qi_node_act(n).act == QI_ACT_NONE ? LOWER_OUT_EITHER : LOWER_OUT_U8;
}

/* 1 if node p is a Transpose swapping the last two of `rank` axes. */
static int swaps_last_two(const qi_graph *g, int p, int rank) {
  if (p < 0 || !qi_pat_is(g, p, "Transpose")) return 0;
  const int64_t *perm;
  int np = qi_attr_ints(&g->nodes[p], "perm", &perm);
  if (np != rank) return 0;
  for (int i = 0; i + 2 < rank; i++)
    if (perm[i] != i) return 0;
  return perm[rank - 2] == rank - 1 && perm[rank - 1] == rank - 2;
}

/* The batch dims of a and b agree, or one side has only ones. */
static int batch_ok(const qi_shape *a, const qi_shape *b) {
  int64_t ba = 1, bb = 1, same = 1;
  for (int i = 0; i + 2 < a->rank; i++) {
    ba *= a->d[i];
    bb *= b->d[i];
    same &= a->d[i] == b->d[i];
  }
  return same || ba == 1 || bb == 1;
}

static qi_status match_matmul_act(lower_ctx *c, int ni, int *done,
                                  qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  if (n->nin != 2 || n->nout != 1) return QI_OK;
  int a = n->in[0], b = n->in[1], y = n->out[0];
  if (!lower_act_ok(g, a) || !lower_act_ok(g, b)) return QI_OK;
  const qi_shape *as = &g->tensors[a].shape, *bs = &g->tensors[b].shape;
  const qi_shape *ys = &g->tensors[y].shape;
  int r = as->rank;
  if (!rank_ok(as) || bs->rank != r || ys->rank != r || !batch_ok(as, bs))
    return QI_OK;
  int64_t m = as->d[r - 2], k = as->d[r - 1], nn = bs->d[r - 1];
  if (bs->d[r - 2] != k || k > QI_U8U8_MATMUL_MAX_K || ys->d[r - 2] != m ||
      ys->d[r - 1] != nn)
    return QI_OK;
  for (int i = 0; i + 2 < r; i++)
    if (ys->d[i] != (as->d[i] > bs->d[i] ? as->d[i] : bs->d[i])) return QI_OK;
  int32_t qmin, qmax;
  int mode = out_mode_of(g, n, y, &qmin, &qmax);
  if (mode < 0) return QI_OK;
  /* B = Transpose(t) of the last two axes, read only here: read t. */
  int tp = qi_pat_producer(g, b), t = -1;
  if (swaps_last_two(g, tp, r) && qi_pat_sole_consumer(g, b) == ni &&
      lower_act_ok(g, g->nodes[tp].in[0]))
    t = g->nodes[tp].in[0];
  int q;
  QI_TRY(lower_replace(c, ni, "QiQMatMulAct", 2, (lower_out)mode, &q, err));
  g->nodes[q].in[0] = a;
  g->nodes[q].in[1] = t >= 0 ? t : b;
  if (t >= 0) g->nodes[tp].dead = 1;
  QI_TRY(lower_attr_int(g, q, "trans_b", t >= 0, err));
  QI_TRY(lower_attr_int(g, q, "qmin", qmin, err));
  QI_TRY(lower_attr_int(g, q, "qmax", qmax, err));
  *done = 1;
  return QI_OK;
}

qi_status lower_match_matmul_any(lower_ctx *c, int ni, int *done,
                                 qi_error *err) {
  QI_TRY(lower_chlast_match(c, ni, done, err));
  if (*done) return QI_OK;
  QI_TRY(lower_match_matmul(c, ni, done, err));
  if (*done) return QI_OK;
  return match_matmul_act(c, ni, done, err);
}

/* Input/output checks shared by Softmax and LayerNormalization: x and y
 * FP32 activations of one shape, x quantized, and the node's axis
 * (default `def_axis`) the last one. */
static int last_axis_ok(const qi_graph *g, const qi_node *n, int64_t def_axis) {
  if (n->nin < 1 || n->nout < 1) return 0;
  int x = n->in[0], y = n->out[0];
  if (!lower_act_ok(g, x) || !lower_act_f32(g, y)) return 0;
  const qi_shape *xs = &g->tensors[x].shape;
  if (xs->rank < 1 || !lower_same_shape(xs, &g->tensors[y].shape)) return 0;
  return qi_norm_axis(qi_attr_int(n, "axis", def_axis), xs->rank) ==
         xs->rank - 1;
}

/* 1 if tensor t is read, and read only by MatMul nodes, and is not a
 * graph output. */
static int read_by_matmuls_only(const qi_graph *g, int t) {
  if (qi_pat_is_graph_output(g, t)) return 0;
  int readers = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++) {
      if (n->in[k] != t) continue;
      if (!qi_pat_is(g, i, "MatMul")) return 0;
      readers++;
    }
  }
  return readers > 0;
}

qi_status lower_match_softmax(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  /* Before opset 13 the axis splits the tensor in two and normalizes the
   * whole tail; it is the last axis alone only when it is the last. */
  int legacy = qi_attr_int(n, "qi_softmax_2d", 0) != 0;
  if (n->nin != 1 || n->nout != 1 || !last_axis_ok(g, n, legacy ? 1 : -1))
    return QI_OK;
  if (g->tensors[n->in[0]].shape.d[g->tensors[n->in[0]].shape.rank - 1] < 1)
    return QI_OK;
  int y = n->out[0];
  if (!read_by_matmuls_only(g, y)) return QI_OK;
  qi_quant *yq = &g->tensors[y].quant;
  yq->has = 1;
  yq->scale = LOWER_SOFTMAX_SCALE;
  yq->zero_point = 0;
  yq->axis = -1;
  int q;
  QI_TRY(lower_replace(c, ni, "QiQSoftmax", 1, LOWER_OUT_EITHER, &q, err));
  g->nodes[q].in[0] = g->nodes[ni].in[0];
  QI_TRY(lower_attr_int(g, q, "qmin", 0, err));
  QI_TRY(lower_attr_int(g, q, "qmax", 255, err));
  *done = 1;
  return QI_OK;
}

/* 1 if t is a float32 constant of `len` values along the last dim. */
static int ln_param_ok(const qi_graph *g, int t, int64_t len) {
  int64_t numel;
  if (t < 0 || !qi_pat_const_f32(g, t, &numel) || numel != len) return 0;
  const qi_shape *s = &g->tensors[t].shape;
  if (s->rank < 1 || s->d[s->rank - 1] != len) return 0;
  const float *v = g->tensors[t].data;
  for (int64_t i = 0; i < len; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}

qi_status lower_match_layernorm(lower_ctx *c, int ni, int *done,
                                qi_error *err) {
  QI_TRY(lower_chlast_match(c, ni, done, err));
  if (*done) return QI_OK;
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  if (n->nin < 2 || n->nin > 3 || !last_axis_ok(g, n, -1)) return QI_OK;
  for (int k = 1; k < n->nout; k++) /* Mean / InvStdDev are not produced */
    if (n->out[k] >= 0) return QI_OK;
  const qi_shape *xs = &g->tensors[n->in[0]].shape;
  int64_t len = xs->d[xs->rank - 1];
  int bias = n->nin > 2 ? n->in[2] : -1;
  float eps = qi_attr_float(n, "epsilon", 1e-5f);
  if (len < 1 || (uint64_t)len > QI_U8_LAYERNORM_MAX_N ||
      !ln_param_ok(g, n->in[1], len) ||
      (bias >= 0 && !ln_param_ok(g, bias, len)) || !isfinite(eps) || eps < 0.0f)
    return QI_OK;
  int32_t qmin, qmax;
  int mode = out_mode_of(g, n, n->out[0], &qmin, &qmax);
  if (mode < 0) return QI_OK;
  int x = n->in[0], scale = n->in[1];
  int q;
  QI_TRY(lower_replace(c, ni, "QiQLayerNorm", bias >= 0 ? 3 : 2,
                       (lower_out)mode, &q, err));
  g->nodes[q].in[0] = x;
  g->nodes[q].in[1] = scale;
  if (bias >= 0) g->nodes[q].in[2] = bias;
  QI_TRY(lower_attr_float(g, q, "epsilon", eps, err));
  QI_TRY(lower_attr_int(g, q, "qmin", qmin, err));
  QI_TRY(lower_attr_int(g, q, "qmax", qmax, err));
  *done = 1;
  return QI_OK;
}

int lower_attn_has_out_f32(const qi_node *n) {
  return strcmp(n->op_type, "QiQMatMulAct") == 0 ||
         strcmp(n->op_type, "QiQSoftmax") == 0 ||
         strcmp(n->op_type, "QiQLayerNorm") == 0;
}
