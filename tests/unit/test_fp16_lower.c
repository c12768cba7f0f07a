/*
 * FP16 lowering (lib/quant/lower_fp16.c) and the FP16 ops
 * (lib/ops/op_fp16.c) end to end, through the public API.
 *  - Small CNNs, a classifier head and an MLP built by hand, every node
 *    asked for FP16, loaded through qi_model_from_graph(LOWER_INT8): the
 *    outputs against the FP32 model (relative L2 below FP16_REL_L2_TOL and,
 *    for models that really run in FP16, above FP16_MIN_REL_L2), and the
 *    lowered graph (QiH* ops, conversions, out_f32, twins, fallbacks).
 *  - Mixed FP16 / INT8 / FP32 through the calibrator API (a .qnf FP32
 *    model, samples, per-node precision patterns), then .qnf save and
 *    reload: identical output bytes and precisions.
 *  - Threads and ISA: 2 threads give the bytes of 1; QINFER_ISA=scalar
 *    stays within tolerance.
 *  - Hostile Qi nodes: non-constant weights, unsupported activation,
 *    wrong dtypes and shapes are refused at load with a message.
 */
#include <math.h>
#include <stdarg.h>
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

/* FP16 against FP32 over 2-4 layers: each value is rounded to fp16 once
 * per layer (relative 2^-11 at most, ~2.8e-4 RMS), weights once; the
 * outputs land around 3e-4 to 6e-4 in relative L2. */
#define FP16_REL_L2_TOL 1e-3
/* Below this the "FP16" output is a float32 computation in disguise. */
#define FP16_MIN_REL_L2 1e-5
/* A mixed model with INT8 layers (8-bit activations): as test_calibrator. */
#define INT8_REL_L2_TOL 0.05
#define NSEEDS 2

/* ---- graph building ----------------------------------------------------- */

static qi_shape shp(int rank, ...) {
  qi_shape s = {.rank = rank};
  va_list ap;
  va_start(ap, rank);
  for (int i = 0; i < rank; i++) s.d[i] = va_arg(ap, int);
  va_end(ap);
  return s;
}

/* Uniform in [-a, a], a = gain * sqrt(3 / fan_in), fan_in = numel / d0
 * (for [K, N] MatMul weights pass the shape as [N, K]-like fan_in). */
static int t_weights(qi_graph *g, const char *name, qi_shape s, float gain) {
  int t = act(g, name);
  int64_t n = qi_shape_numel(&s), fan_in = n / s.d[0];
  float *v = malloc(sizeof(float) * (size_t)n),
        a = gain * sqrtf(3.0f / (float)fan_in);
  for (int64_t i = 0; i < n; i++) v[i] = urand(-a, a);
  g->tensors[t].shape = s;
  qi_tensor_set_const(&g->tensors[t], v, sizeof(float) * (size_t)n);
  return t;
}

static int t_bias(qi_graph *g, const char *name, int n, float a) {
  return t_weights(g, name, shp(1, n), a * sqrtf(1.0f / 3.0f));
}

static int n_node(qi_graph *g, const char *name, const char *op, int y, int nin,
                  ...) {
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  va_list ap;
  va_start(ap, nin);
  for (int k = 0; k < nin; k++) g->nodes[n].in[k] = va_arg(ap, int);
  va_end(ap);
  g->nodes[n].out[0] = y;
  return n;
}

static void a_int(qi_graph *g, int n, const char *name, int64_t v) {
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_INT)->i = v;
}
static void a_float(qi_graph *g, int n, const char *name, float v) {
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_FLOAT)->f = v;
}
static void a_ints(qi_graph *g, int n, const char *name, int cnt, ...) {
  qi_attr *a = qi_node_add_attr(&g->nodes[n], name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)cnt);
  va_list ap;
  va_start(ap, cnt);
  for (int i = 0; i < cnt; i++) a->ints[i] = va_arg(ap, int);
  va_end(ap);
}

/* Conv(x, w[co, ci/group, k, k], b) named `name`, output tensor `name`. */
static int b_conv(qi_graph *g, const char *name, int x, int ci, int co, int k,
                  int stride, int pad, int group) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  int w = t_weights(g, wn, shp(4, co, ci / group, k, k), 1.4f);
  int y = act(g, name);
  int n = n_node(g, name, "Conv", y, 3, x, w, t_bias(g, bn, co, 0.2f));
  a_ints(g, n, "strides", 2, stride, stride);
  a_ints(g, n, "pads", 4, pad, pad, pad, pad);
  if (group > 1) a_int(g, n, "group", group);
  return y;
}

static int b_unary(qi_graph *g, const char *name, const char *op, int x) {
  int y = act(g, name);
  n_node(g, name, op, y, 1, x);
  return y;
}

static int b_clip(qi_graph *g, const char *name, int x, float lo, float hi) {
  char a[64], b[64];
  snprintf(a, sizeof a, "%s.min", name);
  snprintf(b, sizeof b, "%s.max", name);
  int tl = act(g, a), th = act(g, b);
  float *vl = malloc(sizeof(float)), *vh = malloc(sizeof(float));
  *vl = lo;
  *vh = hi;
  g->tensors[tl].shape = g->tensors[th].shape = (qi_shape){.rank = 0};
  qi_tensor_set_const(&g->tensors[tl], vl, sizeof(float));
  qi_tensor_set_const(&g->tensors[th], vh, sizeof(float));
  int y = act(g, name);
  n_node(g, name, "Clip", y, 3, x, tl, th);
  return y;
}


static qi_graph *new_graph(uint64_t seed) {
  g_rng = seed;
  return qi_graph_create();
}

/* Conv/Relu s2, MaxPool, Conv/Relu, Conv + residual Add + Relu: a
 * ResNet stem and basic block. */
static qi_graph *build_resnet(void) {
  qi_graph *g = new_graph(31);
  int x = input(g, "x", shp(4, 1, 3, 20, 20));
  int r1 = b_unary(g, "r1", "Relu", b_conv(g, "c1", x, 3, 8, 3, 2, 1, 1));
  int p1 = act(g, "p1");
  int mp = n_node(g, "pool", "MaxPool", p1, 1, r1);
  a_ints(g, mp, "kernel_shape", 2, 3, 3);
  a_ints(g, mp, "strides", 2, 2, 2);
  a_ints(g, mp, "pads", 4, 1, 1, 1, 1);
  int r2 = b_unary(g, "r2", "Relu", b_conv(g, "c2", p1, 8, 8, 3, 1, 1, 1));
  int c3 = b_conv(g, "c3", r2, 8, 8, 3, 1, 1, 1);
  int sum = act(g, "sum");
  n_node(g, "sum", "Add", sum, 2, c3, p1);
  output(g, b_unary(g, "y", "Relu", sum));
  return g;
}

/* Batch 2: 1x1 expand + Clip(0, 6), depthwise 3x3 s2 + Clip(0, 6), 1x1 project,
 * and a depthwise 5x5 with channel multiplier 2 on the side. */
static qi_graph *build_mobilenet(void) {
  qi_graph *g = new_graph(32);
  int x = input(g, "x", shp(4, 2, 8, 13, 13));
  int e = b_clip(g, "e6", b_conv(g, "expand", x, 8, 24, 1, 1, 0, 1), 0, 6);
  int d = b_clip(g, "d6", b_conv(g, "dw", e, 24, 24, 3, 2, 1, 24), 0, 6);
  output(g, b_conv(g, "y", d, 24, 8, 1, 1, 0, 1));
  output(g, b_conv(g, "dwm", x, 8, 16, 5, 1, 2, 8));
  return g;
}

/* Conv/Relu, GlobalAveragePool, Flatten, Gemm (transB), Softmax; batch 2. */
static qi_graph *build_head(void) {
  qi_graph *g = new_graph(33);
  int x = input(g, "x", shp(4, 2, 16, 5, 5));
  int c = b_unary(g, "r", "Relu", b_conv(g, "c", x, 16, 16, 3, 1, 1, 1));
  int fl =
      b_unary(g, "flat", "Flatten", b_unary(g, "gap", "GlobalAveragePool", c));
  int fc = act(g, "fc");
  int n = n_node(g, "fc", "Gemm", fc, 3, fl,
                 t_weights(g, "fc.w", shp(2, 10, 16), 3.0f),
                 t_bias(g, "fc.b", 10, 0.5f));
  a_int(g, n, "transB", 1);
  output(g, b_unary(g, "softmax", "Softmax", fc));
  return g;
}

/* MLP on [2, 5, 12]: MatMul + bias + Relu (fused into one MatMul), MatMul;
 * a Gemm with transB = 0, alpha, beta and a [1, N] C on a second input. */
static qi_graph *build_mlp(void) {
  qi_graph *g = new_graph(34);
  int x = input(g, "x", shp(3, 2, 5, 12));
  int z = input(g, "z", shp(2, 3, 12));
  int m1 = act(g, "m1"), b1 = act(g, "b1");
  n_node(g, "m1", "MatMul", m1, 2, x, t_weights(g, "w1", shp(2, 12, 16), 1.4f));
  n_node(g, "b1", "Add", b1, 2, m1, t_bias(g, "b1.v", 16, 0.3f));
  int h = b_unary(g, "h", "Relu", b1);
  int y = act(g, "y");
  n_node(g, "y", "MatMul", y, 2, h, t_weights(g, "w2", shp(2, 16, 12), 1.0f));
  output(g, y);
  int gm = act(g, "gemm"), gc = act(g, "gc");
  float *cv = malloc(6 * sizeof(float));
  for (int i = 0; i < 6; i++) cv[i] = 0.1f * (float)(i - 2);
  g->tensors[gc].shape = shp(2, 1, 6);
  qi_tensor_set_const(&g->tensors[gc], cv, 6 * sizeof(float));
  int n = n_node(g, "gemm", "Gemm", gm, 3, z,
                 t_weights(g, "gw", shp(2, 12, 6), 1.0f), gc);
  a_float(g, n, "alpha", 0.5f);
  a_float(g, n, "beta", 2.0f);
  output(g, gm);
  return g;
}

/* What has no FP16 form stays FP32 next to FP16 convs: a 1-D Conv, a
 * ReduceMean, a Sub; two convs on one weight tensor share its fp16 copy;
 * ra is read by an FP16 conv and is a graph output too. */
static qi_graph *build_mixed_forms(void) {
  qi_graph *g = new_graph(35);
  int x = input(g, "x", shp(4, 1, 5, 6, 6));
  int w = t_weights(g, "w", shp(4, 5, 5, 3, 3), 1.4f);
  int a = act(g, "a"), b = act(g, "b");
  a_ints(g, n_node(g, "ca", "Conv", a, 2, x, w), "pads", 4, 1, 1, 1, 1);
  int ra = b_unary(g, "ra", "Relu", a);
  a_ints(g, n_node(g, "cb", "Conv", b, 2, ra, w), "pads", 4, 1, 1, 1, 1);
  output(g, ra);
  int rm = b_unary(g, "rm", "ReduceMean", b);
  a_ints(g, g->nnodes - 1, "axes", 1, 1);
  int d = act(g, "d");
  n_node(g, "d", "Sub", d, 2, b, rm);
  output(g, d);
  int v = input(g, "v", shp(3, 1, 4, 9));
  int y1 = act(g, "c1d");
  n_node(g, "c1d", "Conv", y1, 2, v,
         t_weights(g, "c1d.w", shp(3, 4, 4, 3), 1.0f));
  output(g, y1);
  return g;
}

/* ---- loading and running ---------------------------------------------------
 */

static void all_fp16(qi_graph *g) {
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].precision = QI_PREC_FP16;
}

static qi_model *load(qt_state *st, build_fn build, qi_load_mode mode,
                      tweak_fn tweak) {
  qi_graph *g = build();
  if (tweak) tweak(g);
  qi_model *m = NULL;
  qi_error e = {0};
  qi_status s = qi_model_from_graph(g, NULL, mode, &m, &e);
  QT_CHECKF(st, s == QI_OK, "load: %s", e.message);
  return s == QI_OK ? m : NULL;
}

/* Every output of m against the FP32 model of `build` within tol; with
 * `changed`, at least one output differs by FP16_MIN_REL_L2 or more. */
static void check_accuracy(qt_state *st, build_fn build, const qi_model *m,
                           double tol, int changed) {
  qi_model *ref = load(st, build, QI_LOAD_FP32, NULL);
  qi_error e = {0};
  double worst = 0;
  for (uint64_t seed = 1; ref && seed <= NSEEDS; seed++) {
    outputs a, b;
    QT_CHECKF(st, run_model(m, seed, 1, &a, &e) == QI_OK, "run: %s", e.message);
    QT_CHECKF(st, run_model(ref, seed, 1, &b, &e) == QI_OK, "FP32 run: %s",
              e.message);
    for (int i = 0; i < a.n && i < b.n; i++) {
      double err = rel_l2(a.data[i], b.data[i], a.count[i]);
      if (err > worst) worst = err;
      QT_CHECKF(st, err < tol, "output %d: rel L2 %.3g (tolerance %.3g)", i,
                err, tol);
    }
    outputs_free(&a);
    outputs_free(&b);
  }
  if (changed)
    QT_CHECKF(st, worst >= FP16_MIN_REL_L2, "worst rel L2 %.3g: no FP16 effect",
              worst);
  printf("     worst rel L2 vs FP32: %.3g\n", worst);
  qi_model_free(ref);
}

/* ---- inspecting the lowered graph
 * --------------------------------------------- */

/* Tensor `name` exists with dtype dt (and rank 4 dims when d0 >= 0). */
static int tensor_is(const qi_model *m, const char *name, qi_dtype dt,
                     int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  qi_tensor_info ti;
  if (qi_model_tensor_info(m, name, &ti, NULL) != QI_OK || ti.dtype != dt)
    return 0;
  return d0 < 0 || (ti.rank == 4 && ti.shape[0] == d0 && ti.shape[1] == d1 &&
                    ti.shape[2] == d2 && ti.shape[3] == d3);
}

/* Every node is FP16 (QiH*), a conversion, or one of the listed ops in
 * FP32 (NULL-terminated). */
static int only_fp16_except(const qi_model *m, ...) {
  for (int i = 0; i < m->g->nnodes; i++) {
    const qi_node *n = &m->g->nodes[i];
    if (!strncmp(n->op_type, "QiH", 3)) {
      if (n->precision != QI_PREC_FP16) return 0;
      continue;
    }
    if (!strcmp(n->op_type, "QiToHalf") || !strcmp(n->op_type, "QiFromHalf"))
      continue;
    int listed = 0;
    va_list ap;
    va_start(ap, m);
    for (const char *s; (s = va_arg(ap, const char *));)
      listed |= !strcmp(s, n->op_type);
    va_end(ap);
    if (!listed || n->precision != QI_PREC_FP32) return 0;
  }
  return 1;
}

/* ---- cases ------------------------------------------------------------------
 */

static void test_resnet(qt_state *st) {
  qi_model *m = load(st, build_resnet, QI_LOAD_LOWER_INT8, all_fp16);
  if (!m) return;
  check_accuracy(st, build_resnet, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st,
           count_op(m, "QiHConv") == 3 && only_fp16_except(m, "MaxPool", NULL));
  /* x and p1 are made fp16; r1 (read by the float MaxPool) and y are
   * written as float directly. */
  QT_CHECK(st, count_op(m, "QiToHalf") == 2 && count_op(m, "QiFromHalf") == 0);
  QT_CHECK(st, attr_of(m, "c1", "out_f32") == 1 &&
                   attr_of(m, "c2", "out_f32") == 0 &&
                   attr_of(m, "c3", "out_f32") == 1);
  const qi_node *c3 = find_node(m, "c3"); /* Add and Relu fused into it */
  QT_CHECK(st, c3 && c3->nin == 4 && attr_of(m, "c3", "qi_act") == 1);
  QT_CHECK(st, tensor_is(m, "p1:f16", QI_FLOAT16, 1, 8, 5, 5) &&
                   tensor_is(m, "r2:f16", QI_FLOAT16, 1, 8, 5, 5) &&
                   tensor_is(m, "c1.w:f16", QI_FLOAT16, 8, 3, 3, 3) &&
                   !tensor_is(m, "r1:f16", QI_FLOAT16, -1, 0, 0, 0));
  qi_tensor_info ti;
  QT_CHECK(st, qi_model_input_info(m, 0, &ti, NULL) == QI_OK &&
                   !strcmp(ti.name, "x") && ti.dtype == QI_FLOAT32);
  QT_CHECK(st, qi_model_output_info(m, 0, &ti, NULL) == QI_OK &&
                   !strcmp(ti.name, "y") && ti.dtype == QI_FLOAT32);
  /* Tasks write disjoint outputs with the same arithmetic. */
  QT_CHECK(st, same_outputs(m, m, 1, 2));
  qi_model_free(m);
}

/* The scalar kernel set (no FMA, no F16C): within the same tolerance, and
 * on a model without depthwise layers the very same bytes. */
static void test_resnet_scalar_isa(qt_state *st) {
  const char *old = getenv("QINFER_ISA");
  char *saved = old ? strdup(old) : NULL;
  setenv("QINFER_ISA", "scalar", 1);
  qi_model *m = load(st, build_resnet, QI_LOAD_LOWER_INT8, all_fp16);
  if (m) check_accuracy(st, build_resnet, m, FP16_REL_L2_TOL, 1);
  /* fp16 x fp16 products are exact in float32, so FMA or not, the GEMM
   * paths of both sets sum the same values in the same order: the same
   * bytes (the variable is read at run time). */
  outputs a = {0}, b = {0};
  qi_error e;
  QT_CHECK(st, m && run_model(m, 1, 1, &a, &e) == QI_OK);
  unsetenv("QINFER_ISA");
  QT_CHECK(st, m && run_model(m, 1, 1, &b, &e) == QI_OK);
  QT_CHECK(st, a.n == 1 && b.n == 1 && a.count[0] == b.count[0] &&
                   !memcmp(a.data[0], b.data[0],
                           sizeof(float) * (size_t)a.count[0]));
  outputs_free(&a);
  outputs_free(&b);
  qi_model_free(m);
  if (saved)
    setenv("QINFER_ISA", saved, 1);
  else
    unsetenv("QINFER_ISA");
  free(saved);
}

static void test_mobilenet(qt_state *st) {
  qi_model *m = load(st, build_mobilenet, QI_LOAD_LOWER_INT8, all_fp16);
  if (!m) return;
  check_accuracy(st, build_mobilenet, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st, count_op(m, "QiHConv") == 4 && only_fp16_except(m, NULL));
  QT_CHECK(st, count_op(m, "QiToHalf") == 1 && count_op(m, "QiFromHalf") == 0);
  QT_CHECK(st, attr_of(m, "dw", "group") == 24 &&
                   attr_of(m, "dw", "qi_act") == 2 &&
                   attr_of(m, "dwm", "group") == 8 &&
                   attr_of(m, "expand", "out_f32") == 0);
  const qi_node *dw = find_node(m, "dw");
  QT_CHECK(st, dw && qi_attr_float(dw, "qi_act_beta", 0) == 6.0f);
  QT_CHECK(st, same_outputs(m, m, 1, 2));
  qi_model_free(m);
}

static void test_head(qt_state *st) {
  qi_model *m = load(st, build_head, QI_LOAD_LOWER_INT8, all_fp16);
  if (!m) return;
  check_accuracy(st, build_head, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st, node_is(m, "fc", "QiHMatMul", QI_PREC_FP16) &&
                   node_is(m, "c", "QiHConv", QI_PREC_FP16));
  QT_CHECK(
      st, only_fp16_except(m, "GlobalAveragePool", "Flatten", "Softmax", NULL));
  QT_CHECK(st,
           attr_of(m, "fc", "out_f32") == 1 && attr_of(m, "c", "out_f32") == 1);
  QT_CHECK(st, tensor_is(m, "fc.w:f16", QI_FLOAT16, -1, 0, 0, 0));
  QT_CHECK(st, same_outputs(m, m, 1, 2));
  qi_model_free(m);
}

static void test_mlp(qt_state *st) {
  qi_model *m = load(st, build_mlp, QI_LOAD_LOWER_INT8, all_fp16);
  if (!m) return;
  check_accuracy(st, build_mlp, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st, count_op(m, "QiHMatMul") == 3 && only_fp16_except(m, NULL));
  /* m1 feeds y: fp16 between them; alpha and beta are folded. */
  QT_CHECK(st, attr_of(m, "m1", "out_f32") == 0 &&
                   attr_of(m, "m1", "qi_act") == 1 &&
                   attr_of(m, "y", "out_f32") == 1 &&
                   attr_of(m, "gemm", "out_f32") == 1);
  const qi_node *gm = find_node(m, "gemm");
  QT_CHECK(st, gm && gm->nin == 3 && gm->in[2] >= 0 &&
                   m->g->tensors[gm->in[1]].shape.d[0] == 6 &&
                   m->g->tensors[gm->in[1]].shape.d[1] == 12);
  qi_model_free(m);
}

static void test_mixed_forms(qt_state *st) {
  qi_model *m = load(st, build_mixed_forms, QI_LOAD_LOWER_INT8, all_fp16);
  if (!m) return;
  check_accuracy(st, build_mixed_forms, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st, node_is(m, "ca", "QiHConv", QI_PREC_FP16) &&
                   node_is(m, "cb", "QiHConv", QI_PREC_FP16) &&
                   node_is(m, "c1d", "Conv", QI_PREC_FP32) &&
                   node_is(m, "rm", "ReduceMean", QI_PREC_FP32) &&
                   node_is(m, "d", "Sub", QI_PREC_FP32));
  /* cb's readers are all float: it writes float itself. ca writes the
   * fp16 twin for cb, and one QiFromHalf right after it gives the graph
   * output ra. */
  QT_CHECK(st, attr_of(m, "cb", "out_f32") == 1 &&
                   attr_of(m, "ca", "out_f32") == 0 &&
                   count_op(m, "QiFromHalf") == 1);
  const qi_node *fh = find_node(m, "ra:from_half");
  QT_CHECK(st, fh && fh - find_node(m, "ca") == 1 &&
                   fh->precision == QI_PREC_FP32 &&
                   tensor_is(m, "ra:f16", QI_FLOAT16, 1, 5, 6, 6));
  /* One fp16 copy of the shared weights. */
  QT_CHECK(st, tensor_is(m, "w:f16", QI_FLOAT16, 5, 5, 3, 3) &&
                   !tensor_is(m, "w:f16_2", QI_FLOAT16, -1, 0, 0, 0));
  qi_model_free(m);
}

/* A conv whose weights overflow fp16 (7e4 > 65504) stays FP32; the rest
 * is FP16. */
static void big_weight(qi_graph *g) {
  all_fp16(g);
  float *w = g->tensors[qi_graph_find_tensor(g, "c3.w")].data;
  w[5] = 7e4f;
}
static qi_graph *build_resnet_big(void) {
  qi_graph *g = build_resnet();
  big_weight(g);
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].precision = QI_PREC_FP32;
  return g;
}

static void test_fp16_overflow_stays_fp32(qt_state *st) {
  qi_model *m = load(st, build_resnet, QI_LOAD_LOWER_INT8, big_weight);
  if (!m) return;
  check_accuracy(st, build_resnet_big, m, FP16_REL_L2_TOL, 1);
  QT_CHECK(st, node_is(m, "c3", "Conv", QI_PREC_FP32) &&
                   node_is(m, "c1", "QiHConv", QI_PREC_FP16) &&
                   node_is(m, "c2", "QiHConv", QI_PREC_FP16));
  /* c2's only reader is the float c3 now: it writes float. */
  QT_CHECK(st,
           count_op(m, "QiToHalf") == 2 && attr_of(m, "c2", "out_f32") == 1);
  qi_model_free(m);
}

/* Nothing FP16: the graph is the FP32 one. */
static void test_nothing_fp16(qt_state *st) {
  qi_model *m = load(st, build_resnet, QI_LOAD_LOWER_INT8, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "QiHConv") + count_op(m, "QiToHalf") == 0 &&
                   count_op(m, "Conv") == 3);
  qi_model *ref = load(st, build_resnet, QI_LOAD_FP32, NULL);
  QT_CHECK(st, ref && same_outputs(m, ref, 1, 1));
  qi_model_free(ref);
  qi_model_free(m);
}

/* ---- mixed precision through the calibrator
 * ----------------------------------- */

static char qnf_fp32[64], qnf_out[80];

static qi_calibrator *calibrated(qt_state *st) {
  qi_model *f = load(st, build_resnet, QI_LOAD_FOR_INT8, NULL);
  qi_error e = {0};
  QT_CHECKF(st, f && qi_model_save(f, qnf_fp32, &e) == QI_OK, "save: %s",
            e.message);
  qi_model_free(f);
  qi_calibrator *c = NULL;
  QT_CHECKF(st, qi_calibrator_create(qnf_fp32, NULL, NULL, &c, &e) == QI_OK,
            "calibrator: %s", e.message);
  float x[3 * 20 * 20];
  const int64_t xs[4] = {1, 3, 20, 20};
  for (int k = 0; c && k < 6; k++) {
    g_rng = (uint64_t)k * 1000; /* seeds 0..5: run_model's seeds among them */
    for (int i = 0; i < 3 * 20 * 20; i++) x[i] = urand(-1.0f, 1.0f);
    qi_binding b = {"x", QI_FLOAT32, 4, xs, x, sizeof x};
    QT_CHECKF(st, qi_calibrator_add_sample(c, &b, 1, &e) == QI_OK, "sample: %s",
              e.message);
  }
  return c;
}

/* Builds, checks accuracy, saves and reloads: same bytes, same
 * precisions. Returns the built model. */
static qi_model *build_and_reload(qt_state *st, qi_calibrator *c, double tol) {
  qi_model *q = NULL;
  qi_error e = {0};
  QT_CHECKF(st, qi_calibrator_build(c, &q, &e) == QI_OK, "build: %s",
            e.message);
  if (!q) return NULL;
  check_accuracy(st, build_resnet, q, tol, 1);
  QT_CHECKF(st, qi_model_save(q, qnf_out, &e) == QI_OK, "save: %s", e.message);
  qi_model *r = NULL;
  QT_CHECKF(st, qi_model_load_file(qnf_out, NULL, &r, &e) == QI_OK,
            "reload: %s", e.message);
  if (r) {
    QT_CHECK(st, same_outputs(q, r, 1, 1));
    int same = qi_model_num_nodes(q) == qi_model_num_nodes(r);
    for (int i = 0; same && i < qi_model_num_nodes(q); i++) {
      qi_node_info a, b;
      qi_model_node_info(q, i, &a, NULL);
      qi_model_node_info(r, i, &b, NULL);
      same = !strcmp(a.op_type, b.op_type) && a.precision == b.precision;
    }
    QT_CHECK(st, same);
  }
  qi_model_free(r);
  return q;
}

static void test_calibrator_mixed(qt_state *st) {
  qi_calibrator *c = calibrated(st);
  if (!c) return;
  qi_error e = {0};
  /* Default INT8; c2 FP16; c3 (with the fused residual) FP32. */
  QT_CHECK(st, qi_calibrator_set_precision(c, "c2", QI_PREC_FP16, &e) == QI_OK);
  QT_CHECK(st, qi_calibrator_set_precision(c, "c3", QI_PREC_FP32, &e) == QI_OK);
  qi_model *q = build_and_reload(st, c, INT8_REL_L2_TOL);
  if (q) {
    QT_CHECK(st, node_is(q, "c1", "QiQConv", QI_PREC_INT8) &&
                     node_is(q, "c2", "QiHConv", QI_PREC_FP16) &&
                     node_is(q, "c3", "Conv", QI_PREC_FP32) &&
                     node_is(q, "pool", "QiQMaxPool", QI_PREC_INT8));
    /* p1 is read by c2 (FP16) and c3 (FP32): dequantized once, made
     * fp16 once. */
    QT_CHECK(st,
             count_op(q, "QiToHalf") == 1 && count_op(q, "QiDequantize") == 1);
  }
  qi_model_free(q);
  /* Everything FP16: close to FP32, no INT8 op left. */
  qi_calibrator_clear_precision(c);
  QT_CHECK(st, qi_calibrator_set_precision(c, "*", QI_PREC_FP16, &e) == QI_OK);
  q = build_and_reload(st, c, FP16_REL_L2_TOL);
  if (q) {
    QT_CHECK(st, count_op(q, "QiHConv") == 3 && count_op(q, "QiQConv") == 0 &&
                     count_op(q, "QiQuantize") == 0);
    QT_CHECK(st, only_fp16_except(q, "MaxPool", NULL));
  }
  qi_model_free(q);
  /* FP16 -> INT8 -> FP16: the pool alone in INT8. */
  QT_CHECK(st,
           qi_calibrator_set_precision(c, "pool", QI_PREC_INT8, &e) == QI_OK);
  q = build_and_reload(st, c, INT8_REL_L2_TOL);
  if (q) {
    QT_CHECK(st, node_is(q, "c1", "QiHConv", QI_PREC_FP16) &&
                     node_is(q, "pool", "QiQMaxPool", QI_PREC_INT8) &&
                     node_is(q, "c2", "QiHConv", QI_PREC_FP16) &&
                     node_is(q, "c3", "QiHConv", QI_PREC_FP16));
    QT_CHECK(st, count_op(q, "QiQuantize") == 1 &&
                     count_op(q, "QiDequantize") == 1 &&
                     count_op(q, "QiToHalf") == 2 &&
                     attr_of(q, "c1", "out_f32") == 1);
  }
  qi_model_free(q);
  qi_calibrator_free(c);
}

/* ---- hostile FP16 nodes
 * ------------------------------------------------------- */

/* x f16 [1, 4, 5, 5] -> QiHConv (W f16 [6, 4, 3, 3], `wconst`) -> y. */
static qi_graph *build_raw_hconv(int wconst, qi_dtype xdt, int act_kind,
                                 int wk) {
  qi_graph *g = new_graph(36);
  int x = input(g, "x", shp(4, 1, 4, 5, 5));
  g->tensors[x].dtype = xdt;
  int w = act(g, "w");
  g->tensors[w].dtype = QI_FLOAT16;
  g->tensors[w].shape = shp(4, 6, wk, 3, 3);
  if (wconst) {
    size_t n = (size_t)(6 * wk * 9);
    qi_tensor_set_const(&g->tensors[w], calloc(n, 2), n * 2);
  } else {
    g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->ninputs + 1));
    g->inputs[g->ninputs++] = w;
  }
  int y = act(g, "y");
  int n = qi_graph_add_node(g, "hc", "QiHConv", "qinfer", 3, 1);
  g->nodes[n].in[0] = x;
  g->nodes[n].in[1] = w;
  g->nodes[n].out[0] = y;
  g->nodes[n].precision = QI_PREC_FP16;
  a_ints(g, n, "pads", 4, 1, 1, 1, 1);
  a_int(g, n, "out_f32", 1);
  if (act_kind) a_int(g, n, "qi_act", act_kind);
  output(g, y);
  return g;
}

static qi_status load_raw(qi_graph *g, qi_error *e) {
  qi_model *m = NULL;
  qi_status s = qi_model_from_graph(g, NULL, QI_LOAD_AS_IS, &m, e);
  qi_model_free(m);
  return s;
}

static void test_hostile_nodes(qt_state *st) {
  qi_error e = {0};
  QT_CHECKF(st, load_raw(build_raw_hconv(1, QI_FLOAT16, 0, 4), &e) == QI_OK,
            "valid node: %s", e.message);
  QT_CHECK(st, load_raw(build_raw_hconv(0, QI_FLOAT16, 0, 4), &e) ==
                       QI_ERR_UNSUPPORTED &&
                   strstr(e.message, "constant"));
  QT_CHECK(st, load_raw(build_raw_hconv(1, QI_FLOAT32, 0, 4), &e) ==
                       QI_ERR_UNSUPPORTED &&
                   strstr(e.message, "'hc'"));
  QT_CHECK(st, load_raw(build_raw_hconv(1, QI_FLOAT16, 4, 4), &e) ==
                       QI_ERR_UNSUPPORTED &&
                   strstr(e.message, "Relu and Clip"));
  QT_CHECK(st, load_raw(build_raw_hconv(1, QI_FLOAT16, 0, 3), &e) != QI_OK &&
                   strstr(e.message, "hc"));
  /* QiHMatMul weights [N, K] that do not fit the input's K. */
  qi_graph *g = new_graph(37);
  int a = input(g, "a", shp(2, 3, 8));
  g->tensors[a].dtype = QI_FLOAT16;
  int w = act(g, "w");
  g->tensors[w].dtype = QI_FLOAT16;
  g->tensors[w].shape = shp(2, 5, 7);
  qi_tensor_set_const(&g->tensors[w], calloc(35, 2), 70);
  int y = act(g, "y");
  int n = qi_graph_add_node(g, "hm", "QiHMatMul", "qinfer", 2, 1);
  g->nodes[n].in[0] = a;
  g->nodes[n].in[1] = w;
  g->nodes[n].out[0] = y;
  output(g, y);
  QT_CHECK(st, load_raw(g, &e) == QI_ERR_SHAPE && strstr(e.message, "hm"));
}

int main(void) {
  qt_state st = {0};
  snprintf(qnf_fp32, sizeof qnf_fp32, "/tmp/qi_fp16_lower_%d.qnf",
           (int)getpid());
  snprintf(qnf_out, sizeof qnf_out, "/tmp/qi_fp16_lower_%d_q.qnf",
           (int)getpid());
  QT_RUN(&st, test_resnet);
  QT_RUN(&st, test_resnet_scalar_isa);
  QT_RUN(&st, test_mobilenet);
  QT_RUN(&st, test_head);
  QT_RUN(&st, test_mlp);
  QT_RUN(&st, test_mixed_forms);
  QT_RUN(&st, test_fp16_overflow_stays_fp32);
  QT_RUN(&st, test_nothing_fp16);
  QT_RUN(&st, test_calibrator_mixed);
  QT_RUN(&st, test_hostile_nodes);
  unlink(qnf_fp32);
  unlink(qnf_out);
  return qt_summary(&st);
}
