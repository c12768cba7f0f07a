/*
 * INT8 lowering (lib/quant/lower.c) end to end: small FP32 graphs built by
 * hand (test_quant_lower_graphs.h: ResNet, MobileNet, SqueezeNet fire,
 * classifier head, SE, LUT activations, Resize, MLP blocks) are calibrated on
 * their own FP32 activations (min/max -> qi_uint8_qparams), annotated
 * INT8, loaded through qi_model_from_graph(QI_LOAD_LOWER_INT8) and run
 * through the public session API. Each case checks
 *  - the INT8 outputs against the FP32 model: relative L2 below
 *    INT8_REL_L2_TOL on calibration inputs (so the error is the lowering's
 *    rounding, not a range that missed an unseen peak), and above
 *    INT8_MIN_REL_L2 (the INT8 path really ran: not a float copy);
 *  - the lowered graph: which Qi ops, which FP32 nodes, boundary nodes,
 *    out_f32, clamps, NHWC twins, unchanged model inputs and outputs.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "qinfer.h"
#include "qtest.h"
#include "quant_lower_test_util.h"
#include "qlut/qlut.h"
#include "runtime/model.h"
#include "test_quant_lower_graphs.h"

/* Relative L2 error of an INT8 output against FP32 over a few layers of
 * uint8 activations and int8 weights (per-layer noise is ~0.3-1%). */
#define INT8_REL_L2_TOL 0.03
/* Below this the "INT8" output is a float computation in disguise. */
#define INT8_MIN_REL_L2 1e-5

/* ---- inspecting the lowered graph --------------------------------------- */

/* Every node of the lowered graph is a Qi op in INT8 or one of the listed
 * ops in FP32 (NULL-terminated). */
static int only_int8_except(const qi_model *m, ...) {
  for (int i = 0; i < m->g->nnodes; i++) {
    const qi_node *n = &m->g->nodes[i];
    int qi = !strncmp(n->op_type, "QiQ", 3) &&
             strcmp(n->op_type, "QiQuantize") != 0;
    if (qi) {
      if (n->precision != QI_PREC_INT8) return 0;
      continue;
    }
    if (!strcmp(n->op_type, "QiQuantize") || !strcmp(n->op_type, "QiDequantize"))
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

/* The model's inputs and outputs are the FP32 graph's, by name and type. */
static void check_io(qt_state *st, const qi_model *m, const char *in,
                     const char *out) {
  qi_tensor_info ti;
  QT_CHECK(st, qi_model_input_info(m, 0, &ti, NULL) == QI_OK &&
                   !strcmp(ti.name, in) && ti.dtype == QI_FLOAT32);
  QT_CHECK(st, qi_model_output_info(m, 0, &ti, NULL) == QI_OK &&
                   !strcmp(ti.name, out) && ti.dtype == QI_FLOAT32);
}

/* Twin `name` (":u8" added) is uint8 NHWC [d0, d1, d2, d3]. */
static int twin_is(const qi_model *m, const char *name, int64_t d0, int64_t d1,
                   int64_t d2, int64_t d3) {
  char tn[96];
  snprintf(tn, sizeof tn, "%s:u8", name);
  qi_tensor_info ti;
  if (qi_model_tensor_info(m, tn, &ti, NULL) != QI_OK) return 0;
  return ti.dtype == QI_UINT8 && ti.quantized == 1 && ti.rank == 4 &&
         ti.shape[0] == d0 && ti.shape[1] == d1 && ti.shape[2] == d2 &&
         ti.shape[3] == d3;
}

/* Calibrates, lowers with `tweak`, checks accuracy; the caller inspects
 * and frees the model. */
static qi_model *lowered(qt_state *st, build_fn build, tweak_fn tweak) {
  return lowered_int8(st, build, tweak, INT8_REL_L2_TOL, INT8_MIN_REL_L2);
}

/* ---- cases -------------------------------------------------------------- */

static qi_node *graph_node(qi_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
  return NULL;
}

static void drop_quant(qi_graph *g, const char *tensor) {
  g->tensors[qi_graph_find_tensor(g, tensor)].quant.has = 0;
}

/* qmin/qmax the lowering must give a clamp [lo, hi] on output grid
 * (scale, zp): the grid points of the bounds, saturated. */
static int32_t grid(double v, float scale, int32_t zp) {
  double q = nearbyint(v / scale) + zp;
  return q < 0 ? 0 : q > 255 ? 255 : (int32_t)q;
}

static void test_resnet_block(qt_state *st) {
  qi_model *m = lowered(st, build_resnet, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "QiQConv") == 3 && count_op(m, "QiQMaxPool") == 1);
  QT_CHECK(st, count_op(m, "QiQuantize") == 1 && count_op(m, "QiDequantize") == 1);
  QT_CHECK(st, only_int8_except(m, NULL));
  const qi_node *c3 = find_node(m, "c3"); /* Add and Relu fused into it */
  QT_CHECK(st, c3 && !strcmp(c3->op_type, "QiQConv") && c3->nin == 4 &&
                   attr_of(m, "c3", "out_f32") == 0);
  QT_CHECK(st, attr_of(m, "c1", "qmin") ==
                   m->g->tensors[qi_graph_find_tensor(m->g, "r1:u8")]
                       .quant.zero_point);
  QT_CHECK(st, twin_is(m, "p1", 1, 5, 5, 8) && twin_is(m, "r1", 1, 10, 10, 8));
  qi_tensor_info a, b;
  QT_CHECK(st, qi_model_tensor_info(m, "p1:u8", &a, NULL) == QI_OK &&
                   qi_model_tensor_info(m, "r1:u8", &b, NULL) == QI_OK &&
                   a.scale == b.scale && a.zero_point == b.zero_point);
  check_io(st, m, "x", "y");
  qi_model_free(m);
}

/* r1 and p1 on grids that include negative values (as a QDQ model may
 * have them): the fused Relu must clamp at the zero point, and the
 * MaxPool must still take its input's grid. */
static void widen_r1_p1(qi_graph *g) {
  qi_quant *q = &g->tensors[qi_graph_find_tensor(g, "r1")].quant;
  qi_uint8_qparams(-1.0f, 4.0f, &q->scale, &q->zero_point, NULL);
  q = &g->tensors[qi_graph_find_tensor(g, "p1")].quant;
  qi_uint8_qparams(-0.5f, 6.0f, &q->scale, &q->zero_point, NULL);
}

static void test_relu_clamp_and_pool_grid(qt_state *st) {
  qi_model *m = lowered(st, build_resnet, widen_r1_p1);
  if (!m) return;
  qi_tensor_info a, b;
  QT_CHECK(st, qi_model_tensor_info(m, "r1:u8", &a, NULL) == QI_OK &&
                   a.zero_point == 51);
  QT_CHECK(st, attr_of(m, "c1", "qmin") == 51 && attr_of(m, "c1", "qmax") == 255);
  QT_CHECK(st, qi_model_tensor_info(m, "p1:u8", &b, NULL) == QI_OK &&
                   b.scale == a.scale && b.zero_point == a.zero_point);
  qi_model_free(m);
}

static void keep_c2_fp32(qi_graph *g) {
  graph_node(g, "c2")->precision = QI_PREC_FP32;
}

/* A node asked for FP32 stays FP32, with boundaries on both sides. */
static void test_resnet_fp32_node(qt_state *st) {
  qi_model *m = lowered(st, build_resnet, keep_c2_fp32);
  if (!m) return;
  QT_CHECK(st, node_is(m, "c2", "Conv", QI_PREC_FP32));
  QT_CHECK(st, count_op(m, "QiQConv") == 2 && count_op(m, "QiQMaxPool") == 1);
  /* p1 goes to c2 (float) and c3's residual (uint8); r2 comes back. */
  QT_CHECK(st, count_op(m, "QiQuantize") == 2 && count_op(m, "QiDequantize") == 2);
  QT_CHECK(st, only_int8_except(m, "Conv", NULL));
  qi_model_free(m);
}

static void test_mobilenet_block(qt_state *st) {
  qi_model *m = lowered(st, build_mobilenet, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "QiQConv") == 3 && only_int8_except(m, NULL));
  QT_CHECK(st, attr_of(m, "dw", "group") == 24);
  /* The projection feeds only the graph output: float straight out. */
  QT_CHECK(st, attr_of(m, "y", "out_f32") == 1);
  QT_CHECK(st, count_op(m, "QiQuantize") == 1 && count_op(m, "QiDequantize") == 0);
  check_io(st, m, "x", "y");
  qi_model_free(m);
}

/* e6 on a grid wider than Clip(0, 6): [-2, 10] gives zp 42 (42.5 rounded
 * half to even), and the clamp [42, ~169] is a real restriction. */
static void widen_e6(qi_graph *g) {
  qi_quant *q = &g->tensors[qi_graph_find_tensor(g, "e6")].quant;
  qi_uint8_qparams(-2.0f, 10.0f, &q->scale, &q->zero_point, NULL);
}

static void test_clip_clamp(qt_state *st) {
  qi_model *m = lowered(st, build_mobilenet, widen_e6);
  if (!m) return;
  const qi_quant *q = &m->g->tensors[qi_graph_find_tensor(m->g, "e6:u8")].quant;
  QT_CHECK(st, q->zero_point == 42);
  QT_CHECK(st, attr_of(m, "expand", "qmin") == grid(0.0, q->scale, q->zero_point));
  QT_CHECK(st, attr_of(m, "expand", "qmax") == grid(6.0, q->scale, q->zero_point));
  QT_CHECK(st, attr_of(m, "expand", "qmax") < 255);
  qi_model_free(m);
}

static void drop_e6(qi_graph *g) {
  drop_quant(g, "e6");
  drop_quant(g, "y");
}

/* No range on e6: its producer (a clamp needs the output grid) and its
 * reader stay FP32. The projection has no output range either but needs
 * none: it writes float. */
static void test_missing_range(qt_state *st) {
  qi_model *m = lowered(st, build_mobilenet, drop_e6);
  if (!m) return;
  QT_CHECK(st, node_is(m, "expand", "Conv", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "dw", "Conv", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "y", "QiQConv", QI_PREC_INT8) &&
                   attr_of(m, "y", "out_f32") == 1);
  QT_CHECK(st, count_op(m, "QiQuantize") == 1 && count_op(m, "QiDequantize") == 0);
  qi_model_free(m);
}

static void test_fire(qt_state *st) {
  qi_model *m = lowered(st, build_fire, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "QiQConv") == 3 && count_op(m, "QiQConcat") == 1 &&
                   count_op(m, "QiQMaxPool") == 1 && only_int8_except(m, NULL));
  QT_CHECK(st, attr_of(m, "cat", "axis") == 3 && attr_of(m, "pool", "ceil_mode") == 1);
  QT_CHECK(st, twin_is(m, "y", 1, 7, 7, 15) && twin_is(m, "p", 1, 7, 7, 6));
  QT_CHECK(st, count_op(m, "QiQuantize") == 1 && count_op(m, "QiDequantize") == 1);
  qi_model_free(m);
}

static void drop_y(qi_graph *g) { drop_quant(g, "y"); }

/* The Concat has no output range: it stays FP32. The expand convs, read
 * only by it, still write uint8 (a fused Relu is a clamp on the uint8
 * grid; float output has none), dequantized for it. */
static void test_fire_concat_fp32(qt_state *st) {
  qi_model *m = lowered(st, build_fire, drop_y);
  if (!m) return;
  QT_CHECK(st, node_is(m, "cat", "Concat", QI_PREC_FP32));
  QT_CHECK(st, attr_of(m, "c1", "out_f32") == 0 && attr_of(m, "c3", "out_f32") == 0);
  QT_CHECK(st, count_op(m, "QiDequantize") == 2 && count_op(m, "QiQConcat") == 0);
  qi_model_free(m);
}

static void test_classifier_head(qt_state *st) {
  qi_model *m = lowered(st, build_head, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "softmax", "Softmax", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "flat", "Flatten", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "gap", "QiQGlobalAveragePool", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "fc", "QiQMatMul", QI_PREC_INT8) &&
                   attr_of(m, "fc", "out_f32") == 1);
  QT_CHECK(st, count_op(m, "QiQuantize") == 2 && count_op(m, "QiDequantize") == 1);
  QT_CHECK(st, only_int8_except(m, "Flatten", "Softmax", NULL));
  QT_CHECK(st, twin_is(m, "gap", 2, 1, 1, 16));
  check_io(st, m, "x", "softmax");
  qi_model_free(m);
}

static void test_lut(qt_state *st) {
  qi_model *m = lowered(st, build_lut, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "hswish", "QiQLut", QI_PREC_INT8) &&
                   attr_of(m, "hswish", "act") == 6);
  QT_CHECK(st, node_is(m, "sig", "QiQLut", QI_PREC_INT8) &&
                   attr_of(m, "sig", "act") == 4);
  QT_CHECK(st, count_op(m, "QiQConv") == 2 && only_int8_except(m, NULL));
  qi_model_free(m);
}

/* Mul/Add by a constant scalar read by INT8 nodes become affine tables (in
 * either operand order, a chain resolved back to front); one read only by
 * a float output, and a per-channel constant, stay FP32. */
static void test_affine(qt_state *st) {
  qi_model *m = lowered(st, build_affine, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "lab_mul", "QiQLut", QI_PREC_INT8) &&
                   attr_of(m, "lab_mul", "act") == QI_U8_ACT_AFFINE);
  QT_CHECK(st, node_is(m, "lab_add", "QiQLut", QI_PREC_INT8) &&
                   attr_of(m, "lab_add", "act") == QI_U8_ACT_AFFINE);
  const qi_node *mul = find_node(m, "lab_mul"), *add = find_node(m, "lab_add");
  if (mul && add) {
    QT_CHECK(st, qi_attr_float(mul, "alpha", 0) == 0.8f &&
                     qi_attr_float(mul, "beta", 1) == 0.0f);
    QT_CHECK(st, qi_attr_float(add, "alpha", 0) == 1.0f &&
                     qi_attr_float(add, "beta", 0) == -0.3f);
  }
  QT_CHECK(st, node_is(m, "chan_mul", "Mul", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "tail_mul", "Mul", QI_PREC_FP32));
  QT_CHECK(st, count_op(m, "QiQConv") == 2 && only_int8_except(m, "Mul", NULL));
  qi_model_free(m);
}

static void test_lut_zoo(qt_state *st) {
  qi_model *m = lowered(st, build_lut_zoo, NULL);
  if (!m) return;
  QT_CHECK(st, count_op(m, "QiQLut") == 8 && count_op(m, "QiQConv") == 6);
  QT_CHECK(st, attr_of(m, "gelu", "act") == 8 && attr_of(m, "gelut", "act") == 9);
  QT_CHECK(st, attr_of(m, "silu", "act") == 7 && attr_of(m, "hsig", "act") == 5);
  /* Clip(0.1, 0.9) fused into the Add: a clamp on the output grid. */
  const qi_quant *q = &m->g->tensors[qi_graph_find_tensor(m->g, "clip:u8")].quant;
  QT_CHECK(st, node_is(m, "mix", "QiQAdd", QI_PREC_INT8));
  QT_CHECK(st, attr_of(m, "mix", "qmin") == grid(0.1, q->scale, q->zero_point) &&
                   attr_of(m, "mix", "qmin") > 0);
  QT_CHECK(st, attr_of(m, "mix", "qmax") == grid(0.9, q->scale, q->zero_point));
  QT_CHECK(st, only_int8_except(m, NULL));
  qi_model_free(m);
}

/* A calibrated range on the nearest Resize's output that differs from its
 * input's: lowering gives it the input's grid anyway (exact copy). */
static void widen_up(qi_graph *g) {
  qi_quant *q = &g->tensors[qi_graph_find_tensor(g, "up")].quant;
  qi_uint8_qparams(-1.0f, 10.0f, &q->scale, &q->zero_point, NULL);
}

static void test_resize(qt_state *st) {
  qi_model *m = lowered(st, build_resize, widen_up);
  if (!m) return;
  QT_CHECK(st, node_is(m, "up", "QiQResize", QI_PREC_INT8) &&
                   attr_of(m, "up", "mode") == 0);
  QT_CHECK(st, node_is(m, "lin", "QiQResize", QI_PREC_INT8) &&
                   attr_of(m, "lin", "mode") == 1);
  const int64_t *sz;
  const qi_node *up = find_node(m, "up");
  QT_CHECK(st, up && qi_attr_ints(up, "sizes", &sz) == 4 && sz[0] == 1 &&
                   sz[1] == 10 && sz[2] == 12 && sz[3] == 5);
  qi_tensor_info a, b;
  QT_CHECK(st, qi_model_tensor_info(m, "up:u8", &a, NULL) == QI_OK &&
                   qi_model_tensor_info(m, "r:u8", &b, NULL) == QI_OK &&
                   a.scale == b.scale && a.zero_point == b.zero_point);
  QT_CHECK(st, node_is(m, "frac", "QiQResize", QI_PREC_INT8));
  QT_CHECK(st, attr_of(m, "y", "out_f32") == 1 && count_op(m, "QiDequantize") == 2);
  QT_CHECK(st, only_int8_except(m, NULL));
  qi_model_free(m);
}

static void test_se_block(qt_state *st) {
  qi_model *m = lowered(st, build_se, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "scaled", "QiQMul", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "y", "QiQAdd", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "gate", "QiQLut", QI_PREC_INT8));
  QT_CHECK(st, twin_is(m, "gate", 1, 1, 1, 8));
  QT_CHECK(st, count_op(m, "QiQConv") == 3 && only_int8_except(m, NULL));
  QT_CHECK(st, count_op(m, "QiQuantize") == 1 && count_op(m, "QiDequantize") == 1);
  qi_model_free(m);
}

static void test_mlp(qt_state *st) {
  qi_model *m = lowered(st, build_mlp, NULL);
  if (!m) return;
  const qi_node *m1 = find_node(m, "m1"); /* + bias + Relu */
  QT_CHECK(st, m1 && !strcmp(m1->op_type, "QiQMatMul") && m1->nin == 3 &&
                   m1->in[2] >= 0 && attr_of(m, "m1", "out_f32") == 0);
  QT_CHECK(st, node_is(m, "y", "QiQMatMul", QI_PREC_INT8) &&
                   attr_of(m, "y", "out_f32") == 1);
  QT_CHECK(st, node_is(m, "gemm", "QiQMatMul", QI_PREC_INT8) &&
                   attr_of(m, "gemm", "out_f32") == 1);
  QT_CHECK(st, only_int8_except(m, NULL));
  qi_model_free(m);
}

static void test_fallbacks(qt_state *st) {
  ranges r;
  if (!calibrate(st, build_fallbacks, &r)) return;
  qi_model *m = load_int8(st, build_fallbacks, &r, NULL);
  ranges_free(&r);
  if (!m) return;
  QT_CHECK(st, node_is(m, "y1", "Add", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "y2", "Resize", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "y3", "Sub", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "rm", "ReduceMean", QI_PREC_FP32));
  QT_CHECK(st, node_is(m, "c1d", "Conv", QI_PREC_FP32));
  /* Every reader of the conv is float: one QiDequantize serves them. */
  QT_CHECK(st, node_is(m, "c", "QiQConv", QI_PREC_INT8));
  QT_CHECK(st, count_op(m, "QiDequantize") == 1 && count_op(m, "QiQuantize") == 1);
  outputs a;
  qi_error e = {0};
  QT_CHECKF(st, run_model(m, 7, QLT_THREADS, &a, &e) == QI_OK, "%s", e.message);
  outputs_free(&a);
  qi_model_free(m);
}

static void all_fp32(qi_graph *g) {
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].precision = QI_PREC_FP32;
}

/* Nothing asked for INT8: the FP32 graph, bit for bit. */
static void test_nothing_int8(qt_state *st) {
  ranges r;
  if (!calibrate(st, build_se, &r)) return;
  qi_model *m = load_int8(st, build_se, &r, all_fp32), *ref = NULL;
  ranges_free(&r);
  qi_error e = {0};
  QT_CHECK(st, qi_model_from_graph(build_se(), NULL, QI_LOAD_FP32, &ref, &e) ==
                   QI_OK);
  if (!m || !ref) {
    qi_model_free(m);
    qi_model_free(ref);
    return;
  }
  for (int i = 0; i < qi_model_num_nodes(m); i++) {
    qi_node_info ni;
    qi_model_node_info(m, i, &ni, NULL);
    QT_CHECKF(st, strncmp(ni.op_type, "Qi", 2) != 0 || !strcmp(ni.op_type, "QiSilu"),
              "node %s is %s", ni.name, ni.op_type);
  }
  outputs a, b;
  QT_CHECK(st, run_model(m, 7, QLT_THREADS, &a, &e) == QI_OK && run_model(ref, 7, QLT_THREADS, &b, &e) == QI_OK);
  QT_CHECK(st, a.n == 1 && b.n == 1 && rel_l2(a.data[0], b.data[0], a.count[0]) < 1e-6);
  outputs_free(&a);
  outputs_free(&b);
  qi_model_free(m);
  qi_model_free(ref);
}

static void test_shared_weights(qt_state *st) {
  qi_model *m = lowered(st, build_shared, NULL);
  if (!m) return;
  qi_tensor_info ti;
  QT_CHECK(st, qi_model_tensor_info(m, "w:s8", &ti, NULL) == QI_OK &&
                   ti.dtype == QI_INT8 && ti.quantized == 2);
  QT_CHECK(st, qi_model_tensor_info(m, "w:s8_2", &ti, NULL) != QI_OK);
  QT_CHECK(st, find_node(m, "ca")->in[1] == find_node(m, "cb")->in[1]);
  qi_model_free(m);
}

static void test_dead_channel(qt_state *st) {
  qi_model *m = lowered(st, build_dead_channel, NULL);
  if (!m) return;
  QT_CHECK(st, node_is(m, "c", "QiQConv", QI_PREC_INT8));
  const qi_node *c = find_node(m, "c");
  if (c) {
    const qi_tensor *w = &m->g->tensors[c->in[1]];
    const qi_tensor *x = &m->g->tensors[c->in[0]];
    const int8_t *q = w->data;
    /* |1.5 / (sx * sw)| within half the int32 range; weights all zero. */
    QT_CHECK(st, 1.5 / ((double)x->quant.scale * w->quant.scales[2]) <=
                     1073741824.0);
    int nonzero = 0;
    for (int i = 0; i < 36; i++) nonzero |= q[2 * 36 + i] != 0;
    QT_CHECK(st, !nonzero && w->quant.scales[1] < 1.0f);
  }
  qi_model_free(m);
}

/* Per-channel weight scales from a QDQ import: max|w| / 127 times
 * factor[k] (coarser for c1, too fine for c2), or the computed ones. */
static const char *const qdq_weights[2] = {"c1.w", "c2.w"};
static const float qdq_factor[2] = {2.0f, 0.5f};

static float channel_scale(const qi_tensor *w, int64_t c, float factor) {
  int64_t per = qi_shape_numel(&w->shape) / w->shape.d[0];
  float mx = 0.0f;
  for (int64_t i = 0; i < per; i++)
    mx = fmaxf(mx, fabsf(((const float *)w->data)[c * per + i]));
  return factor * mx / 127.0f;
}

static void qdq_scales(qi_graph *g) {
  for (int k = 0; k < 2; k++) {
    qi_tensor *w = &g->tensors[qi_graph_find_tensor(g, qdq_weights[k])];
    qi_quant *q = &w->quant;
    q->has = 1;
    q->axis = 0;
    q->nscales = (int)w->shape.d[0];
    q->scales = malloc(sizeof(float) * (size_t)q->nscales);
    for (int c = 0; c < q->nscales; c++)
      q->scales[c] = channel_scale(w, c, qdq_factor[k]);
  }
}

/* QDQ weight scales are kept when the weights lie on their grid, and
 * recomputed when they do not. */
static void test_qdq_weight_scales(qt_state *st) {
  qi_model *m = lowered(st, build_resnet, qdq_scales);
  qi_graph *g = build_resnet();
  for (int k = 0; m && k < 2; k++) {
    char name[32];
    snprintf(name, sizeof name, "%s:s8", qdq_weights[k]);
    int t = qi_graph_find_tensor(m->g, name);
    const qi_tensor *w = &g->tensors[qi_graph_find_tensor(g, qdq_weights[k])];
    QT_CHECKF(st, t >= 0, "no %s", name);
    for (int64_t c = 0; t >= 0 && c < w->shape.d[0]; c++) {
      float want = channel_scale(w, c, k == 0 ? qdq_factor[0] : 1.0f);
      QT_CHECKF(st, m->g->tensors[t].quant.scales[c] == want,
                "%s channel %lld: scale %g, want %g", name, (long long)c,
                (double)m->g->tensors[t].quant.scales[c], (double)want);
    }
  }
  qi_graph_free(g);
  qi_model_free(m);
}

static void test_pools_auto_pad(qt_state *st) {
  qi_model *m = lowered(st, build_pools, NULL);
  if (!m) return;
  const int64_t *pads;
  const qi_node *c = find_node(m, "c"), *a1 = find_node(m, "a1");
  /* pads (top, left, bottom, right): SAME_UPPER puts the odd pixel at
   * the end, SAME_LOWER at the beginning. */
  QT_CHECK(st, node_is(m, "c", "QiQConv", QI_PREC_INT8) &&
                   qi_attr_ints(c, "pads", &pads) == 4 && pads[0] == 0 &&
                   pads[1] == 0 && pads[2] == 1 && pads[3] == 1 &&
                   !qi_attr_find(c, "auto_pad"));
  QT_CHECK(st, node_is(m, "a1", "QiQAveragePool", QI_PREC_INT8) &&
                   qi_attr_ints(a1, "pads", &pads) == 4 && pads[0] == 1 &&
                   pads[1] == 1 && pads[2] == 0 && pads[3] == 0 &&
                   !qi_attr_find(a1, "auto_pad"));
  QT_CHECK(st, node_is(m, "a2", "QiQAveragePool", QI_PREC_INT8) &&
                   attr_of(m, "a2", "count_include_pad") == 1);
  QT_CHECK(st, node_is(m, "m", "QiQMaxPool", QI_PREC_INT8));
  QT_CHECK(st, node_is(m, "fc", "Gemm", QI_PREC_FP32));
  qi_model_free(m);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_resnet_block);
  QT_RUN(&st, test_resnet_fp32_node);
  QT_RUN(&st, test_relu_clamp_and_pool_grid);
  QT_RUN(&st, test_mobilenet_block);
  QT_RUN(&st, test_clip_clamp);
  QT_RUN(&st, test_missing_range);
  QT_RUN(&st, test_fire);
  QT_RUN(&st, test_fire_concat_fp32);
  QT_RUN(&st, test_classifier_head);
  QT_RUN(&st, test_lut);
  QT_RUN(&st, test_affine);
  QT_RUN(&st, test_lut_zoo);
  QT_RUN(&st, test_resize);
  QT_RUN(&st, test_se_block);
  QT_RUN(&st, test_mlp);
  QT_RUN(&st, test_fallbacks);
  QT_RUN(&st, test_nothing_int8);
  QT_RUN(&st, test_shared_weights);
  QT_RUN(&st, test_dead_channel);
  QT_RUN(&st, test_qdq_weight_scales);
  QT_RUN(&st, test_pools_auto_pad);
  return qt_summary(&st);
}
