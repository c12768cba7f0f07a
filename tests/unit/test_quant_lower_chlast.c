/*
 * INT8 lowering of channels-last regions (lib/quant/lower_chlast.c) end to
 * end: small ConvNeXt-style graphs built by hand (Transpose(0,2,3,1),
 * LayerNorm over the last axis, MatMuls with bias, Gelu, Transpose back,
 * layer scale Mul and residual Add; LayerNorm2d alone) on awkward sizes
 * (6 channels, 5 x 7 pixels, 13 hidden), calibrated on their own FP32
 * activations, annotated INT8, loaded with QI_LOAD_LOWER_INT8 and run
 * through the session API. Each case checks
 *  - the INT8 output against the FP32 model: relative L2 below
 *    CHL_REL_L2_TOL, and above CHL_MIN_REL_L2 (INT8 really ran);
 *  - the lowered graph: both Transposes gone, QiQLayerNorm over axis 1,
 *    QiQMatMul on the NHWC twins, the layer scale folded into the last
 *    MatMul and the Add its residual input; and that a region which cannot
 *    be lowered whole (a Transpose read twice, a node asked for FP32) keeps
 *    its Transposes and still computes the same thing.
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

/* Relative L2 error of the output: about eight uint8 requantizations
 * (~0.5% each) along the longest path, added in quadrature, plus Gelu's
 * table. */
#define CHL_REL_L2_TOL 0.03
/* Below this the "INT8" output is a float computation in disguise. */
#define CHL_MIN_REL_L2 1e-5

enum { C = 6, H = 5, W = 7, HID = 13 };

/* ---- graph building ------------------------------------------------------ */


static int node_index(qi_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return i;
  return -1;
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

static void attr_ints(qi_graph *g, const char *node_name, const char *name,
                      int n, const int64_t *v) {
  qi_attr *a =
      qi_node_add_attr(&g->nodes[node_index(g, node_name)], name, QI_ATTR_INTS);
  a->n = n;
  a->ints = malloc(sizeof(int64_t) * (size_t)n);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static int transpose(qi_graph *g, const char *name, int x,
                     const int64_t *perm) {
  int y = node(g, name, "Transpose", 1, (int[]){x});
  attr_ints(g, name, "perm", 4, perm);
  return y;
}

static int to_last(qi_graph *g, const char *name, int x) {
  return transpose(g, name, x, (const int64_t[]){0, 2, 3, 1});
}

static int to_first(qi_graph *g, const char *name, int x) {
  return transpose(g, name, x, (const int64_t[]){0, 3, 1, 2});
}

static int layernorm(qi_graph *g, const char *name, int x, int64_t len) {
  char gn[64], bn[64];
  snprintf(gn, sizeof gn, "%s.g", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  int gm = const_urand(g, gn, shape_of(1, &len), 0.5f, 1.5f);
  int bt = const_urand(g, bn, shape_of(1, &len), -0.2f, 0.2f);
  int y = node(g, name, "LayerNormalization", 3, (int[]){x, gm, bt});
  qi_node_add_attr(&g->nodes[node_index(g, name)], "epsilon", QI_ATTR_FLOAT)
      ->f = 1e-5f;
  return y;
}

/* MatMul by [k, n] weights, then Add of a bias [n] (fused at load). */
static int linear(qi_graph *g, const char *name, int x, int64_t k,
                  int64_t n) {
  char wn[64], bn[64], mn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  snprintf(mn, sizeof mn, "%s.mm", name);
  float a = sqrtf(3.0f / (float)k);
  int w = const_urand(g, wn, shape_of(2, (const int64_t[]){k, n}), -a, a);
  int b = const_urand(g, bn, shape_of(1, &n), -0.3f, 0.3f);
  int m = node(g, mn, "MatMul", 2, (int[]){x, w});
  return node(g, name, "Add", 2, (int[]){m, b});
}

static qi_graph *graph_new(void) {
  qi_graph *g = qi_graph_create();
  g->opset = 20; /* Gelu */
  g_rng = 4242;
  return g;
}

static int depthwise(qi_graph *g, const char *name, int x) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  int w = const_urand(g, wn, shape_of(4, (const int64_t[]){C, 1, 3, 3}), -0.4f, 0.4f);
  int b = const_urand(g, bn, shape_of(1, (const int64_t[]){C}), -0.1f, 0.1f);
  int y = node(g, name, "Conv", 3, (int[]){x, w, b});
  attr_ints(g, name, "pads", 4, (const int64_t[]){1, 1, 1, 1});
  qi_node_add_attr(&g->nodes[node_index(g, name)], "group", QI_ATTR_INT)->i = C;
  return y;
}

/* ConvNeXt block: depthwise conv, then channels-last LayerNorm, Linear,
 * Gelu, Linear, back to NCHW, layer scale, residual. */
static qi_graph *build_block(void) {
  qi_graph *g = graph_new();
  int x = input(g, "x", shape_of(4, (const int64_t[]){1, C, H, W}));
  int dw = depthwise(g, "dw", x);
  int p1 = to_last(g, "p1", dw);
  int ln = layernorm(g, "ln", p1, C);
  int f1 = linear(g, "f1", ln, C, HID);
  int ge = node(g, "gelu", "Gelu", 1, (int[]){f1});
  int f2 = linear(g, "f2", ge, HID, C);
  int p2 = to_first(g, "p2", f2);
  int gm = const_urand(g, "gamma", shape_of(3, (const int64_t[]){C, 1, 1}), -0.8f,
                     0.9f);
  int ls = node(g, "ls", "Mul", 2, (int[]){gm, p2});
  int y = node(g, "y", "Add", 2, (int[]){x, ls});
  output(g, y);
  return g;
}

/* The same block whose channels-last LayerNorm input is also an output. */
static qi_graph *build_block_p1_read_twice(void) {
  qi_graph *g = build_block();
  output(g, qi_graph_find_tensor(g, "p1"));
  return g;
}

/* LayerNorm2d (ConvNeXt's stem and downsampling) before a convolution. */
static qi_graph *build_layernorm2d(void) {
  qi_graph *g = graph_new();
  int x = input(g, "x", shape_of(4, (const int64_t[]){1, C, H, W}));
  int p1 = to_last(g, "p1", x);
  int ln = layernorm(g, "ln", p1, C);
  int p2 = to_first(g, "p2", ln);
  int y = depthwise(g, "y", p2);
  output(g, y);
  return g;
}

/* Linear + Relu (a fused clamp), Linear, back to NCHW with no layer scale,
 * the result read by two nodes. */
static qi_graph *build_relu_mlp(void) {
  qi_graph *g = graph_new();
  int x = input(g, "x", shape_of(4, (const int64_t[]){1, C, H, W}));
  int p1 = to_last(g, "p1", x);
  int f1 = linear(g, "f1", p1, C, HID);
  int r = node(g, "relu", "Relu", 1, (int[]){f1});
  int f2 = linear(g, "f2", r, HID, C);
  int p2 = to_first(g, "p2", f2);
  int a = node(g, "a", "Add", 2, (int[]){x, p2});
  int y = node(g, "y", "Mul", 2, (int[]){a, p2});
  output(g, y);
  return g;
}

/* ---- calibration, runs, comparison -------------------------------------- */

static qi_model *lowered(qt_state *st, build_fn build, tweak_fn tweak) {
  return lowered_int8(st, build, tweak, CHL_REL_L2_TOL, CHL_MIN_REL_L2);
}

/* ---- inspecting the lowered graph ---------------------------------------- */

/* 1 if tensor t of m is uint8 with shape [1, d1, d2, d3]. */
static int u8_shape(const qi_model *m, int t, int64_t d1, int64_t d2,
                    int64_t d3) {
  if (t < 0) return 0;
  const qi_tensor *x = &m->g->tensors[t];
  return x->dtype == QI_UINT8 && x->shape.rank == 4 && x->shape.d[0] == 1 &&
         x->shape.d[1] == d1 && x->shape.d[2] == d2 && x->shape.d[3] == d3;
}

/* ---- cases ---------------------------------------------------------------- */

static void test_block(qt_state *st) {
  qi_model *m = lowered(st, build_block, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "Transpose") == 0 && count_op(m, "Mul") == 0 &&
                   count_op(m, "Add") == 0 && count_op(m, "QiQAdd") == 0);
  QT_CHECK(st, count_op(m, "QiQLayerNorm") == 1 &&
                   count_op(m, "QiQMatMul") == 2 && count_op(m, "QiQLut") == 1);
  QT_CHECK(st, attr_of(m, "ln", "axis") == 1 && attr_of(m, "ln", "out_f32") == 0);
  /* The LayerNorm reads the depthwise conv's NHWC twin as is. */
  const qi_node *ln = find_node(m, "ln");
  QT_CHECK(st, ln && u8_shape(m, ln->in[0], H, W, C) &&
                   u8_shape(m, ln->out[0], H, W, C));
  /* The second Linear writes the block's output with the residual. */
  const qi_node *f2 = find_node(m, "f2.mm");
  QT_CHECK(st, f2 && f2->nin == 4 && f2->in[3] >= 0 &&
                   !strcmp(m->g->tensors[f2->in[3]].name, "x:u8") &&
                   !strcmp(m->g->tensors[f2->out[0]].name, "y:u8"));
  const qi_node *f1 = find_node(m, "f1.mm");
  QT_CHECK(st, f1 && u8_shape(m, f1->out[0], H, W, HID));
  qi_model_free(m);
}

/* The lowered block saved as .qnf and loaded again runs to the same
 * bytes (QiQLayerNorm keeps its axis). */
static void test_qnf_round_trip(qt_state *st) {
  qi_model *m = lowered(st, build_block, NULL);
  if (!m) return;
  qi_model *back = qnf_round_trip(st, m);
  if (back) {
    QT_CHECK(st, attr_of(back, "ln", "axis") == 1);
    QT_CHECK(st, same_outputs(m, back, QLT_THREADS, QLT_THREADS));
  }
  qi_model_free(back);
  qi_model_free(m);
}

static void test_layernorm2d(qt_state *st) {
  qi_model *m = lowered(st, build_layernorm2d, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "Transpose") == 0 &&
                   count_op(m, "QiQLayerNorm") == 1 &&
                   attr_of(m, "ln", "axis") == 1);
  const qi_node *ln = find_node(m, "ln");
  QT_CHECK(st, ln && u8_shape(m, ln->in[0], H, W, C) &&
                   !strcmp(m->g->tensors[ln->out[0]].name, "p2:u8"));
  qi_model_free(m);
}

static void test_relu_mlp(qt_state *st) {
  qi_model *m = lowered(st, build_relu_mlp, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "Transpose") == 0 &&
                   count_op(m, "QiQMatMul") == 2 && count_op(m, "QiQLut") == 0);
  /* The Relu is f1's clamp (no QiQLut); p2 is read twice, so nothing
   * folds into f2. */
  const qi_node *f2 = find_node(m, "f2.mm");
  QT_CHECK(st, f2 && f2->nin == 3 &&
                   !strcmp(m->g->tensors[f2->out[0]].name, "p2:u8"));
  QT_CHECK(st, count_op(m, "QiQAdd") == 1 && count_op(m, "QiQMul") == 1);
  qi_model_free(m);
}

/* A Transpose read twice, or a node of the region asked for FP32: the
 * region stays as it was (its Transposes run in FP32). */
static void test_not_whole(qt_state *st) {
  qi_model *m = lowered(st, build_block_p1_read_twice, NULL);
  if (m) {
    QT_CHECK(st, count_op(m, "Transpose") == 2);
    QT_CHECK(st, attr_of(m, "ln", "axis") == -1);
    qi_model_free(m);
  }
}

static void fp32_gelu(qi_graph *g) {
  g->nodes[node_index(g, "gelu")].precision = QI_PREC_FP32;
}

static void test_fp32_node_inside(qt_state *st) {
  qi_model *m = lowered(st, build_block, fp32_gelu);
  if (!m) return;
  QT_CHECK(st, count_op(m, "Transpose") == 2 && count_op(m, "Gelu") == 1);
  qi_model_free(m);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_block);
  QT_RUN(&st, test_qnf_round_trip);
  QT_RUN(&st, test_layernorm2d);
  QT_RUN(&st, test_relu_mlp);
  QT_RUN(&st, test_not_whole);
  QT_RUN(&st, test_fp32_node_inside);
  return qt_summary(&st);
}
