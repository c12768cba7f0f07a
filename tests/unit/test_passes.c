/*
 * Tests of the fusion passes (lib/passes). Each case builds a small graph by
 * hand, evaluates it with the scalar interpreter of test_passes_graph.h,
 * runs a pass, checks the rewritten structure (node types, attributes,
 * wiring, topological order) and evaluates again: every graph output must
 * match the original within REWRITE_REL_L2_TOL. Negative cases check that
 * nothing changes. The last case runs the whole sequence on PP-OCRv4's
 * recogniser and counts what it fused.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "passes/passes.h"
#include "passes/pattern.h"
#include "qtest.h"
#include "runtime/model.h"
#include "test_passes_graph.h"

/* Folded weights are rounded once from a double product. */
#define FOLD_MAX_REL_ERR 1e-6
/* Run from the repo root with ../shared beside it, like the other tests. */
#define PPOCR_MODEL "../shared/assets/models/ppocrv4_rec.onnx"

/* ---------- BatchNorm and affine folding ---------- */

/* Max relative error of conv node `cn`'s weights and bias against
 * W0[c] * a[c] and B0[c] * a[c] + b[c]. */
/* The FP32 form of the pass (every activation fuses). */
static qi_status fuse_activation_fp32(qi_graph *g, qi_error *err) {
  return qi_pass_fuse_activation(g, 0, err);
}

static double fold_error(const qi_graph *g, const qi_node *cn, const float *w0,
                         const float *b0, const double *a, const double *b,
                         int64_t cout) {
  int64_t wn = numel_of(g, cn->in[1]), k = wn / cout;
  const float *w = g->tensors[cn->in[1]].data;
  const float *bias = g->tensors[cn->in[2]].data;
  double e = 0;
  for (int64_t i = 0; i < wn; i++) {
    double want = (double)w0[i] * a[i / k];
    e = fmax(e, fabs(w[i] - want) / fmax(fabs(want), 1e-6));
  }
  for (int64_t c = 0; c < cout; c++) {
    double want = (b0 ? (double)b0[c] * a[c] : 0.0) + b[c];
    e = fmax(e, fabs(bias[c] - want) / fmax(fabs(want), 1e-6));
  }
  return e;
}

static void build_conv_bn(qi_graph *g, rng *r, int with_bias, int *conv,
                          int *bn) {
  int x = act_t(g, "x", SH(1, 3, 7, 6));
  int w = const_rand(g, "w", SH(5, 3, 3, 3), r, -1, 1);
  int b = with_bias ? const_rand(g, "b", SH(5), r, -1, 1) : -1;
  int y = act_t(g, "y", SH(1, 5, 4, 3)), z = act_t(g, "z", SH(1, 5, 4, 3));
  int p[4];
  p[0] = const_rand(g, "gamma", SH(5), r, 0.5f, 2.0f);
  p[1] = const_rand(g, "beta", SH(5), r, -1, 1);
  p[2] = const_rand(g, "mean", SH(5), r, -1, 1);
  p[3] = const_rand(g, "var", SH(5), r, 0.1f, 2.0f);
  *conv = with_bias ? node(g, "Conv", IDX(x, w, b), IDX(y))
                    : node(g, "Conv", IDX(x, w), IDX(y));
  attr_ints(g, *conv, "strides", 2, 2, 2);
  attr_ints(g, *conv, "pads", 4, 1, 1, 1, 1);
  *bn = node(g, "BatchNormalization", IDX(y, p[0], p[1], p[2], p[3]), IDX(z));
  attr_f(g, *bn, "epsilon", 1e-3f);
  set_io(g, IDX(x), IDX(z));
}

static void test_fold_bn_conv(qt_state *st) {
  for (int with_bias = 0; with_bias < 2; with_bias++) {
    rng r = {11u + (unsigned)with_bias};
    qi_graph *g = qi_graph_create();
    int c, bn;
    build_conv_bn(g, &r, with_bias, &c, &bn);
    float w0[135], b0[5];
    memcpy(w0, g->tensors[g->nodes[c].in[1]].data, sizeof w0);
    if (with_bias) memcpy(b0, g->tensors[g->nodes[c].in[2]].data, sizeof b0);
    double a[5], sh[5];
    const float *const *pv = (const float *const[]){
        g->tensors[g->nodes[bn].in[1]].data, g->tensors[g->nodes[bn].in[2]].data,
        g->tensors[g->nodes[bn].in[3]].data, g->tensors[g->nodes[bn].in[4]].data};
    for (int k = 0; k < 5; k++) {
      a[k] = pv[0][k] / sqrt((double)pv[3][k] + (double)1e-3f);
      sh[k] = pv[1][k] - pv[2][k] * a[k];
    }
    int z = g->nodes[bn].out[0];
    run_checked(st, g, qi_pass_fold_batchnorm);
    QT_CHECK(st, live_count(g, "BatchNormalization") == 0);
    const qi_node *cn = live_node(g, "Conv");
    QT_CHECK(st, cn && cn->out[0] == z && cn->nin == 3 && cn->in[2] >= 0);
    if (cn && cn->nin == 3 && cn->in[2] >= 0) {
      double e = fold_error(g, cn, w0, with_bias ? b0 : NULL, a, sh, 5);
      QT_CHECKF(st, e <= FOLD_MAX_REL_ERR, "folded weights rel err %g", e);
    }
    qi_graph_free(g);
  }
}

static void test_fold_bn_conv_transpose(qt_state *st) {
  rng r = {12};
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(1, 4, 3, 3));
  int w = const_rand(g, "w", SH(4, 3, 2, 2), &r, -1, 1);
  int y = act_t(g, "y", SH(1, 6, 6, 6)), z = act_t(g, "z", SH(1, 6, 6, 6));
  int p[4];
  p[0] = const_rand(g, "gamma", SH(6), &r, 0.5f, 2.0f);
  p[1] = const_rand(g, "beta", SH(6), &r, -1, 1);
  p[2] = const_rand(g, "mean", SH(6), &r, -1, 1);
  p[3] = const_rand(g, "var", SH(6), &r, 0.1f, 2.0f);
  int c = node(g, "ConvTranspose", IDX(x, w), IDX(y));
  attr_i(g, c, "group", 2);
  attr_ints(g, c, "strides", 2, 2, 2);
  node(g, "BatchNormalization", IDX(y, p[0], p[1], p[2], p[3]), IDX(z));
  set_io(g, IDX(x), IDX(z));
  run_checked(st, g, qi_pass_fold_batchnorm);
  QT_CHECK(st, live_count(g, "BatchNormalization") == 0);
  QT_CHECK(st, g->nodes[c].out[0] == z && g->nodes[c].nin == 3);
  qi_graph_free(g);
}

/* A weight shared by two convs is copied, not scaled under the other. */
static void test_fold_bn_shared_weight(qt_state *st) {
  rng r = {13};
  qi_graph *g = qi_graph_create();
  int c, bn;
  build_conv_bn(g, &r, 1, &c, &bn);
  int w = g->nodes[c].in[1], x = g->nodes[c].in[0];
  int y2 = act_t(g, "y2", SH(1, 5, 5, 4));
  node(g, "Conv", IDX(x, w), IDX(y2));
  g->outputs = realloc(g->outputs, 2 * sizeof(int));
  g->outputs[g->noutputs++] = y2;
  float w0[135];
  memcpy(w0, g->tensors[w].data, sizeof w0);
  run_checked(st, g, qi_pass_fold_batchnorm);
  QT_CHECK(st, live_count(g, "BatchNormalization") == 0);
  QT_CHECK(st, g->nodes[c].in[1] != w);
  QT_CHECK(st, !memcmp(g->tensors[w].data, w0, sizeof w0));
  qi_graph_free(g);
}

static void test_fold_bn_negative(qt_state *st) {
  for (int variant = 0; variant < 3; variant++) {
    rng r = {14};
    qi_graph *g = qi_graph_create();
    int c, bn;
    build_conv_bn(g, &r, 1, &c, &bn);
    int y = g->nodes[c].out[0];
    if (variant == 0) { /* conv output read twice */
      int q = act_t(g, "q", SH(1, 5, 4, 3));
      node(g, "Relu", IDX(y), IDX(q));
      g->outputs = realloc(g->outputs, 2 * sizeof(int));
      g->outputs[g->noutputs++] = q;
    } else if (variant == 1) { /* conv output is a graph output */
      g->outputs = realloc(g->outputs, 2 * sizeof(int));
      g->outputs[g->noutputs++] = y;
    } else { /* BN after something that is not a conv */
      int q = act_t(g, "q", SH(1, 5, 4, 3));
      node(g, "Relu", IDX(y), IDX(q));
      g->nodes[bn].in[0] = q;
    }
    run_checked(st, g, qi_pass_fold_batchnorm);
    QT_CHECKF(st, live_count(g, "BatchNormalization") == 1, "variant %d",
              variant);
    qi_graph_free(g);
  }
}

static void test_fold_conv_affine(qt_state *st) {
  rng r = {15};
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(1, 2, 5, 5));
  int w = const_rand(g, "w", SH(3, 2, 3, 3), &r, -1, 1);
  int t[6];
  for (int i = 0; i < 6; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "t%d", i);
    t[i] = act_t(g, nm, SH(1, 3, 3, 3));
  }
  node(g, "Conv", IDX(x, w), IDX(t[0]));
  node(g, "Mul", IDX(scalar_t(g, "s", 1.5f), t[0]), IDX(t[1]));
  node(g, "Add", IDX(t[1], const_rand(g, "b", SH(1, 3, 1, 1), &r, -1, 1)),
       IDX(t[2]));
  node(g, "Div", IDX(t[2], const_rand(g, "d", SH(3, 1, 1), &r, 0.5f, 2)),
       IDX(t[3]));
  node(g, "Sub", IDX(const_rand(g, "e", SH(3, 1, 1), &r, -1, 1), t[3]),
       IDX(t[4]));
  node(g, "Sub", IDX(t[4], const_rand(g, "h", SH(3, 1, 1), &r, -1, 1)),
       IDX(t[5]));
  set_io(g, IDX(x), IDX(t[5]));
  run_checked(st, g, qi_pass_fold_conv_affine);
  QT_CHECK(st, live_count(g, NULL) == 1 && g->nodes[0].out[0] == t[5]);
  QT_CHECK(st, g->nodes[0].nin == 3 && g->nodes[0].in[2] >= 0);
  qi_graph_free(g);

  /* A full-shape constant, one along the width and c / y are not
   * per-channel affine maps. */
  for (int variant = 0; variant < 3; variant++) {
    g = qi_graph_create();
    x = act_t(g, "x", SH(1, 2, 5, 5));
    w = const_rand(g, "w", SH(3, 2, 3, 3), &r, -1, 1);
    int y = act_t(g, "y", SH(1, 3, 3, 3)), z = act_t(g, "z", SH(1, 3, 3, 3));
    node(g, "Conv", IDX(x, w), IDX(y));
    if (variant == 0)
      node(g, "Mul", IDX(y, const_rand(g, "f", SH(1, 3, 3, 3), &r, 1, 2)),
           IDX(z));
    else if (variant == 1)
      node(g, "Div", IDX(scalar_t(g, "s", 2.0f), y), IDX(z));
    else
      node(g, "Mul", IDX(y, const_rand(g, "f", SH(1, 1, 1, 3), &r, 1, 2)),
           IDX(z));
    set_io(g, IDX(x), IDX(z));
    run_checked(st, g, qi_pass_fold_conv_affine);
    QT_CHECKF(st, live_count(g, NULL) == 2, "variant %d", variant);
    qi_graph_free(g);
  }
}

/* ---------- activation fusion ---------- */

typedef struct act_case {
  const char *op;
  int variant; /* op-specific attributes / inputs, see build_act */
  qi_act act;
  float alpha, beta;
} act_case;

/* Conv(x) -> activation -> z; returns the conv node. */
static int build_conv_act(qi_graph *g, rng *r, const act_case *ac, int *z) {
  int x = act_t(g, "x", SH(1, 3, 4, 5));
  int w = const_rand(g, "w", SH(3, 3, 1, 1), r, -1, 1);
  int y = act_t(g, "y", SH(1, 3, 4, 5));
  *z = act_t(g, "z", SH(1, 3, 4, 5));
  int c = node(g, "Conv", IDX(x, w), IDX(y));
  int a;
  if (!strcmp(ac->op, "Clip") && ac->variant == 1) {
    a = node(g, "Clip", IDX(y, -1, scalar_t(g, "hi", 6.0f)), IDX(*z));
  } else if (!strcmp(ac->op, "Clip") && ac->variant == 2) {
    a = node(g, "Clip", IDX(y, scalar_t(g, "lo", 0.0f)), IDX(*z));
  } else {
    a = node(g, ac->op, IDX(y), IDX(*z));
  }
  if (!strcmp(ac->op, "Clip") && ac->variant == 0) {
    attr_f(g, a, "min", -1.0f);
    attr_f(g, a, "max", 2.0f);
  }
  if (!strcmp(ac->op, "LeakyRelu")) attr_f(g, a, "alpha", 0.1f);
  set_io(g, IDX(x), IDX(*z));
  return c;
}

static void test_fuse_activation_kinds(qt_state *st) {
  const act_case cases[] = {
      {"Relu", 0, QI_ACT_RELU, 0, 0},
      {"Clip", 0, QI_ACT_CLIP, -1.0f, 2.0f},
      {"Clip", 1, QI_ACT_CLIP, -INFINITY, 6.0f},
      {"Clip", 2, QI_ACT_CLIP, 0.0f, INFINITY},
      {"LeakyRelu", 0, QI_ACT_LEAKY, 0.1f, 0},
      {"Sigmoid", 0, QI_ACT_SIGMOID, 0, 0},
      {"HardSigmoid", 0, QI_ACT_HARDSIGMOID, 0.2f, 0.5f},
      {"Tanh", 0, QI_ACT_TANH, 0, 0},
      {"HardSwish", 0, QI_ACT_HARDSWISH, 0, 0},
      {"Gelu", 0, QI_ACT_GELU, 0, 0},
      {"QiSilu", 0, QI_ACT_SILU, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    rng r = {20 + i};
    qi_graph *g = qi_graph_create();
    int z, c = build_conv_act(g, &r, &cases[i], &z);
    run_checked(st, g, fuse_activation_fp32);
    qi_act_params p = qi_node_act(&g->nodes[c]);
    QT_CHECKF(st, live_count(g, NULL) == 1 && g->nodes[c].out[0] == z,
              "%s", cases[i].op);
    QT_CHECKF(st, p.act == cases[i].act && p.alpha == cases[i].alpha &&
                      p.beta == cases[i].beta,
              "%s: act %d alpha %g beta %g", cases[i].op, p.act, p.alpha,
              p.beta);
    qi_graph_free(g);
  }
}

static void test_fuse_activation_producers(qt_state *st) {
  rng r = {30};
  /* MatMul and Add, evaluated. */
  for (int variant = 0; variant < 2; variant++) {
    qi_graph *g = qi_graph_create();
    int a = act_t(g, "a", SH(3, 4)), y = act_t(g, "y", SH(3, 5));
    int z = act_t(g, "z", SH(3, 5));
    int p = variant == 0
                ? node(g, "MatMul", IDX(a, const_rand(g, "w", SH(4, 5), &r, -1, 1)),
                       IDX(y))
                : node(g, "Add", IDX(const_rand(g, "w", SH(5), &r, -1, 1),
                                     act_t(g, "b", SH(3, 5))),
                       IDX(y));
    node(g, "Relu", IDX(y), IDX(z));
    if (variant == 0)
      set_io(g, IDX(a), IDX(z));
    else
      set_io(g, IDX(g->nodes[p].in[1]), IDX(z));
    run_checked(st, g, fuse_activation_fp32);
    QT_CHECK(st, live_count(g, NULL) == 1 &&
                     qi_node_act(&g->nodes[p]).act == QI_ACT_RELU);
    qi_graph_free(g);
  }
  /* Gemm: structure only (the interpreter has no Gemm). */
  qi_graph *g = qi_graph_create();
  int a = act_t(g, "a", SH(3, 4)), y = act_t(g, "y", SH(3, 5));
  int z = act_t(g, "z", SH(3, 5));
  int p = node(g, "Gemm", IDX(a, const_rand(g, "w", SH(4, 5), &r, -1, 1)),
               IDX(y));
  node(g, "Tanh", IDX(y), IDX(z));
  set_io(g, IDX(a), IDX(z));
  qi_error err = {0};
  QT_CHECK(st, qi_graph_toposort(g, &err) == QI_OK);
  QT_CHECK(st, qi_pass_fuse_activation(g, 0, &err) == QI_OK);
  QT_CHECK(st, qi_node_act(&g->nodes[p]).act == QI_ACT_TANH &&
                   g->nodes[p].out[0] == z && topo_ok(g));
  qi_graph_free(g);
}

static void test_fuse_activation_negative(qt_state *st) {
  for (int variant = 0; variant < 6; variant++) {
    rng r = {40};
    act_case ac = {variant == 3 ? "Gelu" : "Relu", 0, QI_ACT_RELU, 0, 0};
    qi_graph *g = qi_graph_create();
    int z, c = build_conv_act(g, &r, &ac, &z);
    int y = g->nodes[c].out[0], a = c + 1;
    if (variant == 0) { /* conv output read twice */
      int q = act_t(g, "q", SH(1, 3, 4, 5));
      node(g, "Sigmoid", IDX(y), IDX(q));
      g->outputs = realloc(g->outputs, 2 * sizeof(int));
      g->outputs[g->noutputs++] = q;
    } else if (variant == 1) { /* conv output is a graph output */
      g->outputs = realloc(g->outputs, 2 * sizeof(int));
      g->outputs[g->noutputs++] = y;
    } else if (variant == 2) { /* conv already has an activation */
      attr_i(g, c, "qi_act", QI_ACT_SIGMOID);
    } else if (variant == 3) { /* tanh-approximated GELU */
      attr_s(g, a, "approximate", "tanh");
    } else if (variant == 4) { /* Clip bound known only at run time */
      free(g->nodes[a].op_type);
      g->nodes[a].op_type = strdup("Clip");
      qi_pat_resize_inputs(&g->nodes[a], 2, NULL);
      g->nodes[a].in[1] = g->inputs[0];
    } else { /* producer we do not fuse into */
      free(g->nodes[c].op_type);
      g->nodes[c].op_type = strdup("Sigmoid");
      g->nodes[c].nin = 1;
    }
    run_checked(st, g, fuse_activation_fp32);
    QT_CHECKF(st, live_count(g, NULL) == (variant == 0 ? 3 : 2), "variant %d",
              variant);
    QT_CHECKF(st, !qi_attr_find(&g->nodes[c], "qi_act") || variant == 2,
              "variant %d", variant);
    qi_graph_free(g);
  }
}

/* ---------- residual Add ---------- */

/* x -> Relu -> o (the residual), Conv(x) -> y, Add -> s, Relu -> out.
 * `late_other` puts the residual's node after the conv. */
static qi_graph *build_residual(rng *r, int late_other, int bias,
                                qi_shape other_shape, int swap, int *conv) {
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(1, 4, 5, 5)), o = act_t(g, "o", other_shape);
  int w = const_rand(g, "w", SH(4, 4, 3, 3), r, -1, 1);
  int b = bias ? const_rand(g, "b", SH(4), r, -1, 1) : -1;
  int y = act_t(g, "y", SH(1, 4, 5, 5)), s = act_t(g, "s", SH(1, 4, 5, 5));
  int out = act_t(g, "out", SH(1, 4, 5, 5));
  int x2 = act_t(g, "x2", other_shape);
  if (!late_other) node(g, "Relu", IDX(x2), IDX(o));
  *conv = bias ? node(g, "Conv", IDX(x, w, b), IDX(y))
               : node(g, "Conv", IDX(x, w), IDX(y));
  attr_ints(g, *conv, "pads", 4, 1, 1, 1, 1);
  if (late_other) node(g, "Relu", IDX(x2), IDX(o));
  if (swap)
    node(g, "Add", IDX(o, y), IDX(s));
  else
    node(g, "Add", IDX(y, o), IDX(s));
  node(g, "Relu", IDX(s), IDX(out));
  set_io(g, IDX(x, x2), IDX(out));
  return g;
}

static qi_status residual_then_act(qi_graph *g, qi_error *err) {
  QI_TRY(qi_pass_fuse_residual_add(g, err));
  return qi_pass_fuse_activation(g, 0, err);
}

static void test_fuse_residual_add(qt_state *st) {
  for (int variant = 0; variant < 4; variant++) {
    rng r = {50u + (unsigned)variant};
    int bias = variant & 1, swap = variant >> 1, c;
    qi_graph *g = build_residual(&r, 0, bias, SH(1, 4, 5, 5), swap, &c);
    int o = qi_graph_find_tensor(g, "o"), out = qi_graph_find_tensor(g, "out");
    run_checked(st, g, residual_then_act);
    /* toposort moved nothing: the residual's Relu came first */
    c = g->tensors[out].producer;
    const qi_node *cn = c >= 0 ? &g->nodes[c] : NULL;
    QT_CHECKF(st, live_count(g, NULL) == 2 && cn && cn->nin == 4 &&
                      cn->in[3] == o && (cn->in[2] >= 0) == bias &&
                      qi_attr_int(cn, "qi_sum", 0) == 1 &&
                      qi_node_act(cn).act == QI_ACT_RELU,
              "variant %d", variant);
    qi_graph_free(g);
  }
}

static void test_fuse_residual_negative(qt_state *st) {
  for (int variant = 0; variant < 3; variant++) {
    rng r = {60};
    int c;
    qi_graph *g = build_residual(&r, variant == 0, 1,
                                 variant == 1 ? SH(1, 4, 1, 1) : SH(1, 4, 5, 5),
                                 0, &c);
    if (variant == 2) { /* conv output also read by the Sigmoid */
      int y = qi_graph_find_tensor(g, "y"), q = act_t(g, "q", SH(1, 4, 5, 5));
      node(g, "Sigmoid", IDX(y), IDX(q));
      g->outputs = realloc(g->outputs, 2 * sizeof(int));
      g->outputs[g->noutputs++] = q;
    }
    run_checked(st, g, qi_pass_fuse_residual_add);
    QT_CHECKF(st, live_count(g, "Add") == 1, "variant %d", variant);
    const qi_node *cn = live_node(g, "Conv");
    QT_CHECKF(st, cn && cn->nin == 3 && !qi_attr_find(cn, "qi_sum"),
              "variant %d", variant);
    qi_graph_free(g);
  }
}

/* Add(conv1, conv2): the later conv reads the earlier one's output. */
static void test_fuse_residual_two_convs(qt_state *st) {
  rng r = {70};
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(1, 3, 4, 4));
  int y1 = act_t(g, "y1", SH(1, 2, 4, 4)), y2 = act_t(g, "y2", SH(1, 2, 4, 4));
  int s = act_t(g, "s", SH(1, 2, 4, 4));
  node(g, "Conv", IDX(x, const_rand(g, "w1", SH(2, 3, 1, 1), &r, -1, 1)),
       IDX(y1));
  int c2 = node(g, "Conv",
                IDX(x, const_rand(g, "w2", SH(2, 3, 1, 1), &r, -1, 1)),
                IDX(y2));
  node(g, "Add", IDX(y2, y1), IDX(s));
  set_io(g, IDX(x), IDX(s));
  run_checked(st, g, qi_pass_fuse_residual_add);
  QT_CHECK(st, live_count(g, NULL) == 2 && g->nodes[c2].nin == 4 &&
                   g->nodes[c2].in[3] == y1 && g->nodes[c2].out[0] == s);
  qi_graph_free(g);
}

/* ---------- GELU ---------- */

/* The three placements of 0.5, with x / sqrt(2) as Div or Mul. `broken`:
 * 1 divides by 2 instead, 2 makes (1 + erf) a graph output, 3 halves with
 * 0.25. */
static qi_graph *build_gelu(int form, int use_mul, int broken, int *x,
                            int *y) {
  qi_graph *g = qi_graph_create();
  *x = act_t(g, "x", SH(2, 7));
  *y = act_t(g, "y", SH(2, 7));
  int u = act_t(g, "u", SH(2, 7)), e = act_t(g, "e", SH(2, 7));
  int a = act_t(g, "a", SH(2, 7)), m = act_t(g, "m", SH(2, 7));
  if (use_mul)
    node(g, "Mul", IDX(scalar_t(g, "k", 0.70710677f), *x), IDX(u));
  else
    node(g, "Div", IDX(*x, scalar_t(g, "k", broken == 1 ? 2.0f : 1.4142135f)),
         IDX(u));
  node(g, "Erf", IDX(u), IDX(e));
  node(g, "Add", IDX(scalar_t(g, "one", 1.0f), e), IDX(a));
  int half = scalar_t(g, "half", broken == 3 ? 0.25f : 0.5f);
  if (form == 0) {
    node(g, "Mul", IDX(*x, a), IDX(m));
    node(g, "Mul", IDX(m, half), IDX(*y));
  } else if (form == 1) {
    node(g, "Mul", IDX(half, *x), IDX(m));
    node(g, "Mul", IDX(m, a), IDX(*y));
  } else {
    node(g, "Mul", IDX(a, half), IDX(m));
    node(g, "Mul", IDX(*x, m), IDX(*y));
  }
  if (broken == 2)
    set_io(g, IDX(*x), IDX(*y, a));
  else
    set_io(g, IDX(*x), IDX(*y));
  return g;
}

static void test_match_gelu(qt_state *st) {
  for (int variant = 0; variant < 6; variant++) {
    int x, y;
    qi_graph *g = build_gelu(variant % 3, variant / 3, 0, &x, &y);
    run_checked(st, g, qi_pass_match_gelu);
    const qi_node *n = live_node(g, "Gelu");
    QT_CHECKF(st, live_count(g, NULL) == 1 && n && n->nin == 1 &&
                      n->in[0] == x && n->out[0] == y &&
                      !strcmp(qi_attr_str(n, "approximate", ""), "none"),
              "variant %d", variant);
    qi_graph_free(g);
  }
  for (int broken = 1; broken <= 3; broken++) {
    int x, y;
    qi_graph *g = build_gelu(0, 0, broken, &x, &y);
    run_checked(st, g, qi_pass_match_gelu);
    QT_CHECKF(st, live_count(g, "Gelu") == 0 && live_count(g, NULL) == 5,
              "broken %d", broken);
    qi_graph_free(g);
  }
}

/* ---------- LayerNorm ---------- */

/* variant 0: axes attribute -1, Pow, Div, Mul gamma [C], Add beta [C].
 * variant 1: axes input [2], Mul(d, d), Reciprocal, no gamma / beta.
 * variant 2: gamma [1,1,C] first in its Mul, no beta.
 * broken 1: reduces axis 1; 2: d = mean - x (negated LayerNorm);
 * 3: d is also a graph output. */
static qi_graph *build_layernorm(int variant, int broken, int *x, int *y,
                                 rng *r) {
  const int64_t C = 8;
  qi_graph *g = qi_graph_create();
  *x = act_t(g, "x", SH(2, 3, C));
  qi_shape red = broken == 1 ? SH(2, 1, C) : SH(2, 3, 1);
  int mean = act_t(g, "mean", red), d = act_t(g, "d", SH(2, 3, C));
  int sq = act_t(g, "sq", SH(2, 3, C));
  qi_shape vs = red;
  int var = act_t(g, "var", vs), ve = act_t(g, "ve", vs);
  int sd = act_t(g, "sd", vs), nrm = act_t(g, "nrm", SH(2, 3, C));
  int axes = -1;
  if (variant == 1) {
    axes = qi_graph_add_tensor(g, "axes", QI_INT64);
    g->tensors[axes].shape = SH(1);
    int64_t *av = malloc(sizeof(int64_t));
    av[0] = broken == 1 ? 1 : 2;
    qi_tensor_set_const(&g->tensors[axes], av, sizeof(int64_t));
  }
  int r1 = variant == 1 ? node(g, "ReduceMean", IDX(*x, axes), IDX(mean))
                        : node(g, "ReduceMean", IDX(*x), IDX(mean));
  if (broken == 2)
    node(g, "Sub", IDX(mean, *x), IDX(d));
  else
    node(g, "Sub", IDX(*x, mean), IDX(d));
  if (variant == 1)
    node(g, "Mul", IDX(d, d), IDX(sq));
  else
    node(g, "Pow", IDX(d, scalar_t(g, "two", 2.0f)), IDX(sq));
  int r2 = variant == 1 ? node(g, "ReduceMean", IDX(sq, axes), IDX(var))
                        : node(g, "ReduceMean", IDX(sq), IDX(var));
  if (variant != 1) {
    attr_ints(g, r1, "axes", 1, broken == 1 ? 1 : -1);
    attr_ints(g, r2, "axes", 1, broken == 1 ? 1 : -1);
  }
  node(g, "Add", IDX(var, scalar_t(g, "eps", 1e-3f)), IDX(ve));
  node(g, "Sqrt", IDX(ve), IDX(sd));
  if (variant == 1) {
    int rc = act_t(g, "rc", vs);
    node(g, "Reciprocal", IDX(sd), IDX(rc));
    node(g, "Mul", IDX(rc, d), IDX(nrm));
    *y = nrm;
  } else if (variant == 0) {
    node(g, "Div", IDX(d, sd), IDX(nrm));
    int sc = act_t(g, "sc", SH(2, 3, C));
    *y = act_t(g, "y", SH(2, 3, C));
    node(g, "Mul", IDX(nrm, const_rand(g, "gamma", SH(C), r, 0.5f, 2)),
         IDX(sc));
    node(g, "Add", IDX(sc, const_rand(g, "beta", SH(C), r, -1, 1)), IDX(*y));
  } else {
    node(g, "Div", IDX(d, sd), IDX(nrm));
    *y = act_t(g, "y", SH(2, 3, C));
    node(g, "Mul", IDX(const_rand(g, "gamma", SH(1, 1, C), r, 0.5f, 2), nrm),
         IDX(*y));
  }
  if (broken == 3)
    set_io(g, IDX(*x), IDX(*y, d));
  else
    set_io(g, IDX(*x), IDX(*y));
  return g;
}

static void test_match_layernorm(qt_state *st) {
  for (int variant = 0; variant < 3; variant++) {
    rng r = {80u + (unsigned)variant};
    int x, y;
    qi_graph *g = build_layernorm(variant, 0, &x, &y, &r);
    int gamma = qi_graph_find_tensor(g, "gamma");
    run_checked(st, g, qi_pass_match_layernorm);
    const qi_node *n = live_node(g, "LayerNormalization");
    QT_CHECKF(st, live_count(g, NULL) == 1 && n && n->nin == 3 &&
                      n->in[0] == x && n->out[0] == y &&
                      qi_attr_int(n, "axis", 0) == -1 &&
                      qi_attr_float(n, "epsilon", 0) == 1e-3f,
              "variant %d", variant);
    if (!n || n->nin != 3) {
      qi_graph_free(g);
      continue;
    }
    /* scale / bias are [C] constants; ones / zeros where absent */
    for (int k = 1; k < 3; k++) {
      const qi_tensor *t = &g->tensors[n->in[k]];
      QT_CHECKF(st, t->kind == QI_TK_CONST && t->shape.rank == 1 &&
                        t->shape.d[0] == 8, "variant %d input %d", variant, k);
    }
    const float *sc = g->tensors[n->in[1]].data;
    const float *bi = g->tensors[n->in[2]].data;
    if (variant == 0) QT_CHECK(st, n->in[1] == gamma);
    for (int c = 0; c < 8; c++) {
      if (variant == 1) QT_CHECK(st, sc[c] == 1.0f);
      if (variant == 2)
        QT_CHECK(st, sc[c] == ((const float *)g->tensors[gamma].data)[c]);
      if (variant != 0) QT_CHECK(st, bi[c] == 0.0f);
    }
    qi_graph_free(g);
  }
  for (int broken = 1; broken <= 3; broken++) {
    rng r = {90};
    int x, y;
    qi_graph *g = build_layernorm(broken == 1 ? 1 : 0, broken, &x, &y, &r);
    int before = live_count(g, NULL);
    run_checked(st, g, qi_pass_match_layernorm);
    QT_CHECKF(st, live_count(g, "LayerNormalization") == 0 &&
                      live_count(g, NULL) == before,
              "broken %d", broken);
    qi_graph_free(g);
  }
}

/* ---------- HardSwish and SiLU ---------- */

/* variant 0: x * HardSigmoid(x; 1/6, 0.5); 1: Mul(x, Clip(x+3)) / 6 with
 * Clip attributes; 2: x * (Clip(3+x) * (1/6)) with Clip inputs;
 * 3: Sigmoid(x) * x; 4: x * Sigmoid(x).
 * broken 1: Clip max 5; 2: HardSigmoid alpha 0.2; 3: the gate reads z. */
static qi_graph *build_gate(int variant, int broken, int *x, int *y) {
  qi_graph *g = qi_graph_create();
  *x = act_t(g, "x", SH(1, 3, 2, 5));
  *y = act_t(g, "y", SH(1, 3, 2, 5));
  int z = act_t(g, "z", SH(1, 3, 2, 5)), gin = broken == 3 ? z : *x;
  int a = act_t(g, "a", SH(1, 3, 2, 5)), c = act_t(g, "c", SH(1, 3, 2, 5));
  int m = act_t(g, "m", SH(1, 3, 2, 5));
  if (variant == 0) {
    int h = node(g, "HardSigmoid", IDX(gin), IDX(a));
    attr_f(g, h, "alpha", broken == 2 ? 0.2f : 0.16666667f);
    attr_f(g, h, "beta", 0.5f);
    node(g, "Mul", IDX(*x, a), IDX(*y));
  } else if (variant <= 2) {
    int three = scalar_t(g, "three", 3.0f);
    if (variant == 1)
      node(g, "Add", IDX(gin, three), IDX(a));
    else
      node(g, "Add", IDX(three, gin), IDX(a));
    float hi = broken == 1 ? 5.0f : 6.0f;
    if (variant == 1) {
      int cl = node(g, "Clip", IDX(a), IDX(c));
      attr_f(g, cl, "min", 0.0f);
      attr_f(g, cl, "max", hi);
      node(g, "Mul", IDX(*x, c), IDX(m));
      node(g, "Div", IDX(m, scalar_t(g, "six", 6.0f)), IDX(*y));
    } else {
      node(g, "Clip", IDX(a, scalar_t(g, "lo", 0.0f), scalar_t(g, "hi", hi)),
           IDX(c));
      node(g, "Mul", IDX(c, scalar_t(g, "sixth", 1.0f / 6.0f)), IDX(m));
      node(g, "Mul", IDX(*x, m), IDX(*y));
    }
  } else {
    node(g, "Sigmoid", IDX(gin), IDX(a));
    if (variant == 3)
      node(g, "Mul", IDX(a, *x), IDX(*y));
    else
      node(g, "Mul", IDX(*x, a), IDX(*y));
  }
  set_io(g, IDX(*x, z), IDX(*y));
  return g;
}

static void test_match_hardswish_silu(qt_state *st) {
  for (int variant = 0; variant < 5; variant++) {
    int x, y;
    qi_graph *g = build_gate(variant, 0, &x, &y);
    run_checked(st, g, qi_pass_match_hardswish_silu);
    const qi_node *n = live_node(g, variant < 3 ? "HardSwish" : "QiSilu");
    QT_CHECKF(st, live_count(g, NULL) == 1 && n && n->nin == 1 &&
                      n->in[0] == x && n->out[0] == y && !n->domain[0],
              "variant %d", variant);
    qi_graph_free(g);
  }
  const int broken_cases[][2] = {{1, 1}, {2, 1}, {0, 2}, {0, 3}, {1, 3},
                                 {3, 3}};
  for (size_t i = 0; i < sizeof broken_cases / sizeof broken_cases[0]; i++) {
    int x, y;
    qi_graph *g = build_gate(broken_cases[i][0], broken_cases[i][1], &x, &y);
    int before = live_count(g, NULL);
    run_checked(st, g, qi_pass_match_hardswish_silu);
    QT_CHECKF(st, live_count(g, NULL) == before, "case %zu", i);
    qi_graph_free(g);
  }
}

/* ---------- remove_dead ---------- */

static void test_remove_dead(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(2, 3)), x2 = act_t(g, "x2", SH(2, 3));
  int t[8];
  for (int i = 0; i < 8; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "t%d", i);
    t[i] = act_t(g, nm, SH(2, 3));
  }
  int mask = qi_graph_add_tensor(g, "mask", QI_BOOL);
  int wide = act_t(g, "wide", SH(4, 2, 3)), out3 = act_t(g, "out3", SH(2, 3));
  node(g, "Identity", IDX(x), IDX(t[0]));
  node(g, "Dropout", IDX(t[0]), IDX(t[1], mask));
  node(g, "Mul", IDX(scalar_t(g, "one", 1.0f), t[1]), IDX(t[2]));
  node(g, "Sub", IDX(t[2], scalar_t(g, "zero", 0.0f)), IDX(t[3]));
  int relu = node(g, "Relu", IDX(t[3]), IDX(t[4]));   /* output 0 */
  node(g, "Sigmoid", IDX(x), IDX(t[5]));              /* unread */
  int tanh_n = node(g, "Tanh", IDX(x), IDX(t[6]));
  node(g, "Identity", IDX(t[6]), IDX(t[7]));          /* output 1 */
  node(g, "Identity", IDX(x2), IDX(out3));            /* input to output */
  /* broadcasts, so it changes the shape and stays */
  /* training_mode = true: Dropout is not a pass-through */
  int train = qi_graph_add_tensor(g, "train", QI_BOOL);
  g->tensors[train].shape = SCALAR;
  uint8_t *tv = malloc(1);
  tv[0] = 1;
  qi_tensor_set_const(&g->tensors[train], tv, 1);
  int t8 = act_t(g, "t8", SH(2, 3)), t9 = act_t(g, "t9", SH(2, 3));
  int drop = node(g, "Dropout", IDX(x, -1, train), IDX(t8));
  node(g, "Relu", IDX(t8), IDX(t9));
  int keep = node(g, "Mul",
                  IDX(x, const_f32(g, "ones", SH(4, 1, 1),
                                   (const float[]){1, 1, 1, 1})),
                  IDX(wide));
  set_io(g, IDX(x, x2), IDX(t[4], t[7], out3, wide, t9));
  run_checked(st, g, qi_pass_remove_dead);
  QT_CHECK(st, live_count(g, NULL) == 6 && !g->nodes[drop].dead);
  QT_CHECK(st, g->nodes[relu].in[0] == x && !g->nodes[relu].dead);
  QT_CHECK(st, g->nodes[tanh_n].out[0] == t[7] && !g->nodes[keep].dead);
  QT_CHECK(st, live_count(g, "Identity") == 1 && live_count(g, "Sigmoid") == 0);
  qi_graph_free(g);
}

/* ---------- the whole sequence ---------- */

static void test_run_fusions(qt_state *st) {
  rng r = {100};
  qi_graph *g = qi_graph_create();
  int x = act_t(g, "x", SH(1, 4, 6, 6)), t[10];
  for (int i = 0; i < 10; i++) {
    char nm[16];
    snprintf(nm, sizeof nm, "t%d", i);
    t[i] = act_t(g, nm, SH(1, 4, 6, 6));
  }
  node(g, "Relu", IDX(x), IDX(t[0]));
  node(g, "Conv", IDX(x, const_rand(g, "w", SH(4, 4, 3, 3), &r, -1, 1)),
       IDX(t[1]));
  attr_ints(g, 1, "pads", 4, 1, 1, 1, 1);
  node(g, "BatchNormalization",
       IDX(t[1], const_rand(g, "g", SH(4), &r, 0.5f, 2),
           const_rand(g, "b", SH(4), &r, -1, 1),
           const_rand(g, "m", SH(4), &r, -1, 1),
           const_rand(g, "v", SH(4), &r, 0.5f, 2)),
       IDX(t[2]));
  node(g, "Add", IDX(t[2], t[0]), IDX(t[3]));
  node(g, "Relu", IDX(t[3]), IDX(t[4]));
  node(g, "Conv", IDX(t[4], const_rand(g, "w2", SH(4, 4, 1, 1), &r, -1, 1),
                      const_rand(g, "b2", SH(4), &r, -1, 1)),
       IDX(t[5]));
  node(g, "Mul", IDX(t[5], scalar_t(g, "one", 1.0f)), IDX(t[6]));
  node(g, "Sigmoid", IDX(t[6]), IDX(t[7]));
  node(g, "Mul", IDX(t[5], t[7]), IDX(t[8]));
  node(g, "Identity", IDX(t[8]), IDX(t[9]));
  set_io(g, IDX(x), IDX(t[9]));
  run_checked(st, g, qi_passes_run_fusions);
  QT_CHECK(st, g->nnodes == 3 && live_count(g, "Conv") == 2);
  if (g->nnodes == 3) {
    QT_CHECK(st, qi_attr_int(&g->nodes[1], "qi_sum", 0) == 1 &&
                     qi_node_act(&g->nodes[1]).act == QI_ACT_RELU);
    QT_CHECK(st, qi_node_act(&g->nodes[2]).act == QI_ACT_SILU &&
                     g->nodes[2].out[0] == t[9]);
  }
  qi_graph_free(g);
}


/* ---------- a real model ---------- */

/* Counts live nodes of `op` and nodes carrying qi_act == act. */
static int count_fused(const qi_graph *g, const char *op, qi_act act) {
  int c = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    if (!strcmp(n->op_type, op) || qi_node_act(n).act == act) c++;
  }
  return c;
}

/* PP-OCRv4's recogniser (opset 9) writes LayerNorm, HardSwish and SiLU out
 * element by element, and scales every conv by a Mul / Add pair. Through
 * the load pipeline (shapes, binding, folding, fusion, re-inference):
 * 5 LayerNorms, 28 HardSwish (all fused into their convs once the Mul /
 * Add pairs are folded), 7 SiLU (4 after conv + BN, 3 after MatMul + Add). */
static void test_ppocr_fusions(qt_state *st) {
  FILE *f = fopen(PPOCR_MODEL, "rb");
  QT_CHECKF(st, f != NULL, "cannot open %s", PPOCR_MODEL);
  if (!f) return;
  uint8_t *buf = NULL;
  long len = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) > 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len)) != NULL &&
      fread(buf, 1, (size_t)len, f) != (size_t)len) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  QT_CHECK(st, buf != NULL);
  if (!buf) return;
  qi_graph *g = NULL;
  qi_error err = {0};
  qi_input_shape shape = {.name = "x", .rank = 4, .dims = {1, 3, 48, 320}};
  qi_model_options opts = qi_model_options_default();
  opts.input_shapes = &shape;
  opts.num_input_shapes = 1;
  qi_status s = qi_onnx_import(buf, (size_t)len, NULL, &g, &err);
  free(buf);
  if (s == QI_OK) s = qi_graph_set_input_shapes(g, &opts, &err);
  if (s == QI_OK) s = qi_graph_bind_ops(g, &err);
  if (s == QI_OK) s = qi_graph_infer_and_fold(g, 1, &err);
  QT_CHECKF(st, s == QI_OK, "loading before the passes: %s", err.message);
  if (s == QI_OK) {
    int nodes = live_count(g, NULL);
    s = qi_passes_run_fusions(g, &err);
    QT_CHECKF(st, s == QI_OK, "fusions: %s", err.message);
    QT_CHECK(st, topo_ok(g));
    int ln = live_count(g, "LayerNormalization");
    int hswish = count_fused(g, "HardSwish", QI_ACT_HARDSWISH);
    int silu = count_fused(g, "QiSilu", QI_ACT_SILU);
    printf("     ppocrv4_rec: %d -> %d nodes; LayerNormalization %d, "
           "HardSwish %d (%d fused), SiLU %d, BatchNormalization %d\n",
           nodes, g->nnodes, ln, hswish,
           hswish - live_count(g, "HardSwish"), silu,
           live_count(g, "BatchNormalization"));
    QT_CHECK(st, ln == 5 && hswish == 28 && silu == 7);
    QT_CHECK(st, live_count(g, "BatchNormalization") == 0 &&
                     live_count(g, "ReduceMean") == 0 &&
                     live_count(g, "Clip") == 0);
    /* The lead's pipeline binds and infers again after the passes. */
    if (s == QI_OK) s = qi_graph_bind_ops(g, &err);
    if (s == QI_OK) s = qi_graph_infer_and_fold(g, 1, &err);
    QT_CHECKF(st, s == QI_OK, "re-inference after the passes: %s",
              err.message);
  }
  qi_graph_free(g);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_fold_bn_conv);
  QT_RUN(&st, test_fold_bn_conv_transpose);
  QT_RUN(&st, test_fold_bn_shared_weight);
  QT_RUN(&st, test_fold_bn_negative);
  QT_RUN(&st, test_fold_conv_affine);
  QT_RUN(&st, test_fuse_activation_kinds);
  QT_RUN(&st, test_fuse_activation_producers);
  QT_RUN(&st, test_fuse_activation_negative);
  QT_RUN(&st, test_fuse_residual_add);
  QT_RUN(&st, test_fuse_residual_negative);
  QT_RUN(&st, test_fuse_residual_two_convs);
  QT_RUN(&st, test_match_gelu);
  QT_RUN(&st, test_match_layernorm);
  QT_RUN(&st, test_match_hardswish_silu);
  QT_RUN(&st, test_remove_dead);
  QT_RUN(&st, test_run_fusions);
  QT_RUN(&st, test_ppocr_fusions);
  return qt_summary(&st);
}
