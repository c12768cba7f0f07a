/* The default precision policy (lib/calib/precision_policy.c): which nodes
 * it keeps in FP32 on hand-made graphs, and that the calibrator applies it
 * by default, not with uniform_precision, and under the user's overrides. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "calib/precision_policy.h"
#include "graph_build_util.h"
#include "onnx_build.h"
#include "qinfer.h"
#include "qtest.h"

/* Adds node `op` named `name` reading tensors in[] and writing a new
 * tensor named after the node; returns that tensor. Every node starts
 * INT8, as the calibrator's default precision does. */
static int add(qi_graph *g, const char *op, const char *name, const int *in,
               int nin) {
  int t = qi_graph_add_tensor(g, name, QI_FLOAT32);
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  for (int i = 0; i < nin; i++) g->nodes[n].in[i] = in[i];
  g->nodes[n].out[0] = t;
  g->nodes[n].precision = QI_PREC_INT8;
  return t;
}

static qi_precision prec(const qi_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return g->nodes[i].precision;
  return (qi_precision)-1;
}

static void set_outputs(qi_graph *g, const int *t, int n) {
  g->outputs = malloc(sizeof(int) * (size_t)n);
  memcpy(g->outputs, t, sizeof(int) * (size_t)n);
  g->noutputs = n;
}

/* x -> conv -> relu -> gap -> flatten -> softmax -> y: the walk passes
 * Softmax and Flatten and stops at the first computing node, gap. */
static void test_classifier(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = qi_graph_add_tensor(g, "x", QI_FLOAT32);
  int c = add(g, "Conv", "conv", IDX(x));
  int r = add(g, "Relu", "relu", IDX(c));
  int p = add(g, "GlobalAveragePool", "gap", IDX(r));
  int f = add(g, "Flatten", "flatten", IDX(p));
  int y = add(g, "Softmax", "softmax", IDX(f));
  set_outputs(g, &y, 1);
  qi_error e;
  QT_CHECK(st, qi_precision_policy_outputs(g, &e) == QI_OK);
  QT_CHECK(st, prec(g, "softmax") == QI_PREC_FP32);
  QT_CHECK(st, prec(g, "flatten") == QI_PREC_FP32);
  QT_CHECK(st, prec(g, "gap") == QI_PREC_FP32);
  QT_CHECK(st, prec(g, "relu") == QI_PREC_INT8);
  QT_CHECK(st, prec(g, "conv") == QI_PREC_INT8);
  qi_graph_free(g);
}

/* A detection head: box conv and score sigmoid concatenated, reshaped and
 * transposed into the output; a second output read straight from a conv
 * that also feeds the rest of the network; a third that is a graph input.
 * Every branch into the Concat is followed; nodes upstream of the first
 * computing node stay INT8; a tensor read twice is visited once. */
static void test_detector(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = qi_graph_add_tensor(g, "x", QI_FLOAT32);
  int stem = add(g, "Conv", "stem", IDX(x));
  int feat = add(g, "Conv", "feat", IDX(stem));
  int box = add(g, "Conv", "box", IDX(feat));
  int logit = add(g, "Conv", "logit", IDX(feat));
  int score = add(g, "Sigmoid", "score", IDX(logit));
  int cat = add(g, "Concat", "cat", IDX(box, score, box));
  int rs = add(g, "Reshape", "reshape", IDX(cat));
  int tr = add(g, "Transpose", "transpose", IDX(rs));
  int outs[3] = {tr, stem, x};
  set_outputs(g, outs, 3);
  qi_error e;
  QT_CHECK(st, qi_precision_policy_outputs(g, &e) == QI_OK);
  const char *fp32[] = {"transpose", "reshape", "cat", "box", "score", "stem"};
  for (size_t i = 0; i < sizeof fp32 / sizeof *fp32; i++)
    QT_CHECKF(st, prec(g, fp32[i]) == QI_PREC_FP32, "%s should be FP32",
              fp32[i]);
  QT_CHECK(st, prec(g, "logit") == QI_PREC_INT8);
  QT_CHECK(st, prec(g, "feat") == QI_PREC_INT8);
  qi_graph_free(g);
}

/* ---- through the calibrator ------------------------------------------ */

#define C_IN 3
#define C_MID 4
#define HW 6

static void write_model(const char *path) {
  pbe g = {0};
  pbe_str(&g, 2, "policy");
  float w[C_MID * C_IN], b[C_MID];
  for (int i = 0; i < C_MID * C_IN; i++) w[i] = (float)((i * 7) % 5) - 2.0f;
  for (int i = 0; i < C_MID; i++) b[i] = 0.25f * (float)i;
  float_init(&g, "w", (int64_t[]){C_MID, C_IN, 1, 1}, 4, w, C_MID * C_IN);
  float_init(&g, "b", (int64_t[]){C_MID}, 1, b, C_MID);
  node(&g, "Conv", "conv", (const char *[]){"x", "w", "b"}, 3,
       (const char *[]){"c"}, 1, NULL, 0);
  node1(&g, "Relu", "relu", "c", "r");
  node1(&g, "GlobalAveragePool", "gap", "r", "p");
  node1(&g, "Flatten", "flatten", "p", "y");
  value_info(&g, 11, "x", QI_FLOAT32, (int64_t[]){1, C_IN, HW, HW}, 4);
  value_info(&g, 12, "y", QI_FLOAT32, (int64_t[]){1, C_MID}, 2);
  pbe m = model(13, &g);
  write_file(path, m.b, m.n);
  pbe_free(&m);
}

/* The precision of the built node called `name` (-1: absent). */
static int built_precision(const qi_model *m, const char *name) {
  for (int i = 0; i < qi_model_num_nodes(m); i++) {
    qi_node_info ni;
    if (qi_model_node_info(m, i, &ni, NULL) == QI_OK &&
        !strcmp(ni.name, name))
      return (int)ni.precision;
  }
  return -1;
}

/* Builds with `uniform` and an optional override of gap to INT8. */
static qi_model *build(const char *path, int uniform, int override,
                       qt_state *st) {
  qi_calib_options co = qi_calib_options_default();
  co.uniform_precision = uniform;
  qi_calibrator *c = NULL;
  qi_error e;
  qi_model *q = NULL;
  QT_CHECK(st, qi_calibrator_create(path, NULL, &co, &c, &e) == QI_OK);
  if (!c) return NULL;
  float x[C_IN * HW * HW];
  const int64_t shape[4] = {1, C_IN, HW, HW};
  for (int k = 0; k < 4; k++) {
    for (int i = 0; i < C_IN * HW * HW; i++)
      x[i] = (float)((i * 13 + k * 5) % 17) / 8.0f - 1.0f;
    qi_binding in = {.name = "x", .dtype = QI_FLOAT32, .rank = 4,
                     .shape = shape, .data = x, .size_bytes = sizeof x};
    QT_CHECK(st, qi_calibrator_add_sample(c, &in, 1, &e) == QI_OK);
  }
  if (override)
    QT_CHECK(st, qi_calibrator_set_precision(c, "gap", QI_PREC_INT8, &e) ==
                     QI_OK);
  QT_CHECKF(st, qi_calibrator_build(c, &q, &e) == QI_OK, "%s", e.message);
  qi_calibrator_free(c);
  return q;
}

static void test_calibrator(qt_state *st) {
  char path[] = "/tmp/qi_policy_XXXXXX";
  int fd = mkstemp(path);
  QT_CHECK(st, fd >= 0);
  if (fd < 0) return;
  close(fd);
  write_model(path);
  qi_model *def = build(path, 0, 0, st);
  qi_model *uni = build(path, 1, 0, st);
  qi_model *ovr = build(path, 0, 1, st);
  if (def && uni && ovr) {
    QT_CHECK(st, built_precision(def, "gap") == QI_PREC_FP32);
    QT_CHECK(st, built_precision(def, "conv") == QI_PREC_INT8);
    QT_CHECK(st, built_precision(uni, "gap") == QI_PREC_INT8);
    QT_CHECK(st, built_precision(uni, "conv") == QI_PREC_INT8);
    QT_CHECK(st, built_precision(ovr, "gap") == QI_PREC_INT8);
  }
  qi_model_free(def);
  qi_model_free(uni);
  qi_model_free(ovr);
  unlink(path);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_classifier);
  QT_RUN(&st, test_detector);
  QT_RUN(&st, test_calibrator);
  return qt_summary(&st);
}
