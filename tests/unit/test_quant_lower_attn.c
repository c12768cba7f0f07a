/*
 * INT8 lowering of attention (lib/quant/lower_attn.c) end to end: a small
 * pre-norm transformer block built by hand (LayerNorm, Q/K/V projections,
 * heads split by Reshape + Transpose into [heads, tokens, dims], Q K^T,
 * scaling, Softmax, P V, output projection, residual, LayerNorm, MLP,
 * residual) is calibrated on its own FP32 activations (min/max ->
 * qi_uint8_qparams), annotated INT8, loaded through
 * qi_model_from_graph(QI_LOAD_LOWER_INT8) and run through the session
 * API. Each case checks
 *  - the INT8 output against the FP32 model: relative L2 below
 *    ATTN_REL_L2_TOL on calibration inputs, and above ATTN_MIN_REL_L2 (the
 *    INT8 path really ran);
 *  - the lowered graph: QiQMatMulAct (Q K^T reading K with trans_b = 1 and
 *    its Transpose gone, P V), QiQSoftmax on the 1/256 grid, QiQLayerNorm,
 *    out_f32 where only float nodes read, rank-4 attention on NHWC twins,
 *    what stays FP32 (nodes asked for FP32, probabilities read elsewhere).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graph/graph.h"
#include "qinfer.h"
#include "qtest.h"
#include "quant_lower_test_util.h"
#include "runtime/model.h"

/* Relative L2 error of the block's output: a dozen uint8 requantizations
 * (~0.5% each) along the longest path, added in quadrature. */
#define ATTN_REL_L2_TOL 0.03
/* The same with only Q K^T, Softmax and P V in INT8 (measured ~1%: the
 * uint8 Q, K, V, scores and 1/256 probabilities). */
#define ATTN_ONLY_REL_L2_TOL 0.015
/* Below this the "INT8" output is a float computation in disguise. */
#define ATTN_MIN_REL_L2 1e-5

/* Block sizes: odd token count, 3 heads. */
enum { T = 17, H = 3, DH = 16, D = H * DH, DFF = 2 * D };

/* ---- graph building ------------------------------------------------------ */


static int const_i64(qi_graph *g, const char *name, int n, const int64_t *v) {
  int t = qi_graph_add_tensor(g, name, QI_INT64);
  int64_t nn = n;
  g->tensors[t].shape = shape_of(1, &nn);
  int64_t *d = malloc(sizeof(int64_t) * (size_t)n);
  memcpy(d, v, sizeof(int64_t) * (size_t)n);
  qi_tensor_set_const(&g->tensors[t], d, sizeof(int64_t) * (size_t)n);
  return t;
}

/* Node `name` of op over inputs in[0..nin), writing a new tensor `name`. */
static int node(qi_graph *g, const char *name, const char *op, int nin,
                const int *in) {
  int y = act(g, name);
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  for (int k = 0; k < nin; k++) g->nodes[n].in[k] = in[k];
  g->nodes[n].out[0] = y;
  return y;
}

static int node_index(qi_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return i;
  return -1;
}

static int matmul_w(qi_graph *g, const char *name, int x, int64_t k,
                    int64_t n) {
  char wn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  const int64_t d[] = {k, n};
  float a = sqrtf(3.0f / (float)k);
  int w = const_urand(g, wn, shape_of(2, d), -a, a);
  return node(g, name, "MatMul", 2, (int[]){x, w});
}

static int layernorm(qi_graph *g, const char *name, int x) {
  char gn[64], bn[64];
  snprintf(gn, sizeof gn, "%s.g", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  const int64_t d = D;
  int gm = const_urand(g, gn, shape_of(1, &d), 0.5f, 1.5f);
  int bt = const_urand(g, bn, shape_of(1, &d), -0.2f, 0.2f);
  int y = node(g, name, "LayerNormalization", 3, (int[]){x, gm, bt});
  qi_node_add_attr(&g->nodes[node_index(g, name)], "epsilon", QI_ATTR_FLOAT)
      ->f = 1e-5f;
  return y;
}

static int transpose(qi_graph *g, const char *name, int x, int rank,
                     const int64_t *perm) {
  int y = node(g, name, "Transpose", 1, (int[]){x});
  qi_attr *a =
      qi_node_add_attr(&g->nodes[node_index(g, name)], "perm", QI_ATTR_INTS);
  a->n = rank;
  a->ints = malloc(sizeof(int64_t) * (size_t)rank);
  memcpy(a->ints, perm, sizeof(int64_t) * (size_t)rank);
  return y;
}

static int reshape(qi_graph *g, const char *name, int x, int rank,
                   const int64_t *dims) {
  char sn[64];
  snprintf(sn, sizeof sn, "%s.shape", name);
  int s = const_i64(g, sn, rank, dims);
  return node(g, name, "Reshape", 2, (int[]){x, s});
}

/* [1, T, D] -> heads: [H, T, DH] (rank 3) or [1, H, T, DH] (rank 4). */
static int split_heads(qi_graph *g, const char *name, int x, int rank4) {
  char rn[64];
  snprintf(rn, sizeof rn, "%s.r", name);
  if (rank4) {
    int r = reshape(g, rn, x, 4, (const int64_t[]){1, T, H, DH});
    return transpose(g, name, r, 4, (const int64_t[]){0, 2, 1, 3});
  }
  int r = reshape(g, rn, x, 3, (const int64_t[]){T, H, DH});
  return transpose(g, name, r, 3, (const int64_t[]){1, 0, 2});
}

/* The block; rank4: attention over [1, H, T, DH] tensors instead. */
static qi_graph *build_block_rank(int rank4) {
  qi_graph *g = qi_graph_create();
  g->opset = 17;
  g_rng = 12345;
  const int64_t xd[] = {1, T, D};
  int x = input(g, "x", shape_of(3, xd));
  int ln1 = layernorm(g, "ln1", x);
  int q = matmul_w(g, "q", ln1, D, D), k = matmul_w(g, "k", ln1, D, D);
  int v = matmul_w(g, "v", ln1, D, D);
  int qh = split_heads(g, "qh", q, rank4), kh = split_heads(g, "kh", k, rank4);
  int vh = split_heads(g, "vh", v, rank4);
  int kt = rank4 ? transpose(g, "kt", kh, 4, (const int64_t[]){0, 1, 3, 2})
                 : transpose(g, "kt", kh, 3, (const int64_t[]){0, 2, 1});
  int s = node(g, "s", "MatMul", 2, (int[]){qh, kt});
  const int64_t one = 1;
  int c = act(g, "inv_sqrt_dh");
  g->tensors[c].shape = shape_of(0, &one);
  float *cv = malloc(sizeof(float));
  *cv = 1.0f / sqrtf((float)DH);
  qi_tensor_set_const(&g->tensors[c], cv, sizeof(float));
  int ss = node(g, "ss", "Mul", 2, (int[]){s, c});
  int p = node(g, "p", "Softmax", 1, (int[]){ss});
  qi_node_add_attr(&g->nodes[node_index(g, "p")], "axis", QI_ATTR_INT)->i = -1;
  int o = node(g, "o", "MatMul", 2, (int[]){p, vh});
  int oc;
  if (rank4) {
    int ot = transpose(g, "ot", o, 4, (const int64_t[]){0, 2, 1, 3});
    oc = reshape(g, "oc", ot, 3, xd);
  } else {
    int ot = transpose(g, "ot", o, 3, (const int64_t[]){1, 0, 2});
    oc = reshape(g, "oc", ot, 3, xd);
  }
  int proj = matmul_w(g, "proj", oc, D, D);
  int r1 = node(g, "r1", "Add", 2, (int[]){x, proj});
  int ln2 = layernorm(g, "ln2", r1);
  int f1 = matmul_w(g, "f1", ln2, D, DFF);
  int f1r = node(g, "f1r", "Relu", 1, (int[]){f1});
  int f2 = matmul_w(g, "f2", f1r, DFF, D);
  int y = node(g, "y", "Add", 2, (int[]){r1, f2});
  output(g, y);
  return g;
}

static qi_graph *build_block(void) { return build_block_rank(0); }
static qi_graph *build_block4(void) { return build_block_rank(1); }

/* ---- calibration, runs, comparison -------------------------------------- */

static qi_model *lowered_tol(qt_state *st, build_fn build, tweak_fn tweak,
                             double tol) {
  return lowered_int8(st, build, tweak, tol, ATTN_MIN_REL_L2);
}

static qi_model *lowered(qt_state *st, build_fn build, tweak_fn tweak) {
  return lowered_tol(st, build, tweak, ATTN_REL_L2_TOL);
}

/* ---- inspecting the lowered graph ---------------------------------------- */

/* The tensor input k of node `name` reads. */
static const qi_tensor *input_of(const qi_model *m, const char *name, int k) {
  const qi_node *n = find_node(m, name);
  return n && k < n->nin && n->in[k] >= 0 ? &m->g->tensors[n->in[k]] : NULL;
}

/* ---- cases ----------------------------------------------------------------
 */

static void test_block(qt_state *st) {
  qi_model *m = lowered(st, build_block, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "s", "QiQMatMulAct", QI_PREC_INT8) &&
                   node_is(m, "o", "QiQMatMulAct", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "p", "QiQSoftmax", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "ln1", "QiQLayerNorm", QI_PREC_INT8) &&
                   node_is(m, "ln2", "QiQLayerNorm", QI_PREC_INT8));
  QT_CHECK(st, count_op(m, "QiQMatMul") == 6);
  /* Q K^T reads K's heads through trans_b; its Transpose is gone. */
  QT_CHECK(st,
           attr_of(m, "s", "trans_b") == 1 && attr_of(m, "o", "trans_b") == 0);
  QT_CHECK(st, find_node(m, "kt") == NULL);
  const qi_tensor *kin = input_of(m, "s", 1), *pin = input_of(m, "o", 0);
  QT_CHECK(st, kin && !strcmp(kin->name, "kh:u8") && kin->dtype == QI_UINT8);
  /* P is the Softmax twin on the 1/256 grid. */
  QT_CHECK(st, pin && !strcmp(pin->name, "p:u8") && pin->dtype == QI_UINT8 &&
                   pin->quant.scale == 1.0f / 256.0f &&
                   pin->quant.zero_point == 0);
  QT_CHECK(st,
           attr_of(m, "p", "out_f32") == 0 && attr_of(m, "o", "out_f32") == 1);
  /* The twins are rank 3 in the FP32 layout. */
  QT_CHECK(st, kin && kin->shape.rank == 3 && kin->shape.d[0] == H &&
                   kin->shape.d[1] == T && kin->shape.d[2] == DH);
  qi_model_free(m);
}

static void fp32_softmax(qi_graph *g) {
  g->nodes[node_index(g, "p")].precision = QI_PREC_FP32;
}

/* Softmax asked for FP32: Q K^T writes float (only float nodes read it),
 * P V reads the quantized P. */
static void test_block_fp32_softmax(qt_state *st) {
  qi_model *m = lowered(st, build_block, fp32_softmax);
  if (!m) return;
  QT_CHECK(st, node_is(m, "p", "Softmax", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "s", "QiQMatMulAct", QI_PREC_INT8) &&
                   attr_of(m, "s", "out_f32") == 1);
  const qi_node *s = find_node(m, "s");
  QT_CHECK(st, s && m->g->tensors[s->out[0]].dtype == QI_FLOAT32);
  QT_CHECK(st, node_is(m, "o", "QiQMatMulAct", QI_PREC_INT8));
  qi_model_free(m);
}

static void fp32_ln2_no_ranges(qi_graph *g) {
  g->nodes[node_index(g, "ss")].precision = QI_PREC_FP32;
  /* No range on the scores: Q K^T must write float. */
  g->tensors[qi_graph_find_tensor(g, "s")].quant.has = 0;
  g->nodes[node_index(g, "f1")].precision = QI_PREC_FP32;
}

/* A MatMul output without range writes float; LayerNorm read only by a
 * float node writes float. */
static void test_block_float_outputs(qt_state *st) {
  qi_model *m = lowered(st, build_block, fp32_ln2_no_ranges);
  if (!m) return;
  QT_CHECK(st, node_is(m, "s", "QiQMatMulAct", QI_PREC_INT8) &&
                   attr_of(m, "s", "out_f32") == 1);
  QT_CHECK(st, node_is(m, "ln2", "QiQLayerNorm", QI_PREC_INT8) &&
                   attr_of(m, "ln2", "out_f32") == 1);
  QT_CHECK(st, node_is(m, "f1", "MatMul", QI_PREC_FP32));
  qi_model_free(m);
}

/* Rank-4 attention ([1, heads, tokens, dims], as exporters write it):
 * the twins are NHWC [1, tokens, dims, heads] and the Qi ops read them so;
 * P V writes its float output NCHW for the FP32 Transpose after it. */
static void test_block_rank4(qt_state *st) {
  qi_model *m = lowered(st, build_block4, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "s", "QiQMatMulAct", QI_PREC_INT8) &&
                   node_is(m, "o", "QiQMatMulAct", QI_PREC_INT8) &&
                   node_is(m, "p", "QiQSoftmax", QI_PREC_INT8));
  QT_CHECK(st, attr_of(m, "s", "trans_b") == 1 && find_node(m, "kt") == NULL);
  QT_CHECK(st,
           count_op(m, "QiQLayerNorm") == 2 && count_op(m, "QiQMatMul") == 6);
  const qi_tensor *kin = input_of(m, "s", 1), *pin = input_of(m, "o", 0);
  QT_CHECK(st, kin && !strcmp(kin->name, "kh:u8") && kin->shape.rank == 4 &&
                   kin->shape.d[0] == 1 && kin->shape.d[1] == T &&
                   kin->shape.d[2] == DH && kin->shape.d[3] == H);
  QT_CHECK(st, pin && !strcmp(pin->name, "p:u8") && pin->shape.rank == 4 &&
                   pin->shape.d[1] == T && pin->shape.d[2] == T &&
                   pin->shape.d[3] == H);
  const qi_node *o = find_node(m, "o");
  const qi_tensor *ot = o ? &m->g->tensors[o->out[0]] : NULL;
  QT_CHECK(st, ot && ot->dtype == QI_FLOAT32 && ot->shape.d[1] == H &&
                   ot->shape.d[2] == T && ot->shape.d[3] == DH);
  qi_model_free(m);
}

static void only_attention(qi_graph *g) {
  for (int i = 0; i < g->nnodes; i++) {
    const char *nm = g->nodes[i].name;
    if (strcmp(nm, "s") && strcmp(nm, "p") && strcmp(nm, "o"))
      g->nodes[i].precision = QI_PREC_FP32;
  }
}

/* Only the attention core in INT8, at rank 3 and rank 4: its own error. */
static void test_attention_only(qt_state *st) {
  build_fn builds[2] = {build_block, build_block4};
  for (int i = 0; i < 2; i++) {
    qi_model *m =
        lowered_tol(st, builds[i], only_attention, ATTN_ONLY_REL_L2_TOL);
    if (!m) continue;
    QT_CHECK(st, count_op(m, "QiQMatMulAct") == 2 &&
                     count_op(m, "QiQSoftmax") == 1 &&
                     count_op(m, "QiQMatMul") == 0);
    qi_model_free(m);
  }
}

/* The lowered rank-4 block saved as .qnf and loaded again runs the same
 * ops (prepared from the file's quantization) to the same bytes. */
static void test_qnf_round_trip(qt_state *st) {
  qi_model *m = lowered(st, build_block4, NULL);
  if (!m) return;
  qi_model *back = qnf_round_trip(st, m);
  if (back) {
    QT_CHECK(st, count_op(back, "QiQMatMulAct") == 2 &&
                     count_op(back, "QiQSoftmax") == 1 &&
                     count_op(back, "QiQLayerNorm") == 2);
    QT_CHECK(st, same_outputs(m, back, QLT_THREADS, QLT_THREADS));
  }
  qi_model_free(back);
  qi_model_free(m);
}

static qi_graph *build_block_probs(void) {
  qi_graph *g = build_block();
  output(g, qi_graph_find_tensor(g, "p"));
  return g;
}

/* Probabilities that are also a graph output (or read by anything but a
 * MatMul) keep the FP32 Softmax: INT8 would only quantize its input. */
static void test_softmax_output_stays_fp32(qt_state *st) {
  qi_model *m = lowered(st, build_block_probs, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "p", "Softmax", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "o", "QiQMatMulAct", QI_PREC_INT8) &&
                   node_is(m, "s", "QiQMatMulAct", QI_PREC_INT8) &&
                   attr_of(m, "s", "out_f32") == 1);
  qi_model_free(m);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_block);
  QT_RUN(&st, test_block_fp32_softmax);
  QT_RUN(&st, test_block_float_outputs);
  QT_RUN(&st, test_block_rank4);
  QT_RUN(&st, test_attention_only);
  QT_RUN(&st, test_qnf_round_trip);
  QT_RUN(&st, test_softmax_output_stays_fp32);
  return qt_summary(&st);
}
