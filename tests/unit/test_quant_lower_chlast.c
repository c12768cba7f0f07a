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

#include "calib/qparams.h"
#include "graph/graph.h"
#include "qinfer.h"
#include "qtest.h"
#include "runtime/model.h"

/* Relative L2 error of the output: about eight uint8 requantizations
 * (~0.5% each) along the longest path, added in quadrature, plus Gelu's
 * table. */
#define CHL_REL_L2_TOL 0.03
/* Below this the "INT8" output is a float computation in disguise. */
#define CHL_MIN_REL_L2 1e-5
#define CALIB_SEEDS 3 /* inputs 1..3 set the ranges; 1 and 3 are tested */
#define MAX_OUT 64

enum { C = 6, H = 5, W = 7, HID = 13 };

/* ---- graph building ------------------------------------------------------ */

static uint64_t g_rng;
static float urand(float lo, float hi) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (float)((g_rng >> 40) & 0xffffff) / 16777216.0f;
}

static qi_shape shp(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

static int act(qi_graph *g, const char *name) {
  return qi_graph_add_tensor(g, name, QI_FLOAT32);
}

static int input(qi_graph *g, const char *name, qi_shape s) {
  int t = act(g, name);
  g->tensors[t].shape = s;
  g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->ninputs + 1));
  g->inputs[g->ninputs++] = t;
  return t;
}

static void output(qi_graph *g, int t) {
  g->outputs = realloc(g->outputs, sizeof(int) * (size_t)(g->noutputs + 1));
  g->outputs[g->noutputs++] = t;
}

static int const_f32(qi_graph *g, const char *name, qi_shape s, float lo,
                     float hi) {
  int t = act(g, name);
  g->tensors[t].shape = s;
  size_t n = (size_t)qi_shape_numel(&s);
  float *v = malloc(sizeof(float) * n);
  for (size_t i = 0; i < n; i++) v[i] = urand(lo, hi);
  qi_tensor_set_const(&g->tensors[t], v, sizeof(float) * n);
  return t;
}

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
  int gm = const_f32(g, gn, shp(1, &len), 0.5f, 1.5f);
  int bt = const_f32(g, bn, shp(1, &len), -0.2f, 0.2f);
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
  int w = const_f32(g, wn, shp(2, (const int64_t[]){k, n}), -a, a);
  int b = const_f32(g, bn, shp(1, &n), -0.3f, 0.3f);
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
  int w = const_f32(g, wn, shp(4, (const int64_t[]){C, 1, 3, 3}), -0.4f, 0.4f);
  int b = const_f32(g, bn, shp(1, (const int64_t[]){C}), -0.1f, 0.1f);
  int y = node(g, name, "Conv", 3, (int[]){x, w, b});
  attr_ints(g, name, "pads", 4, (const int64_t[]){1, 1, 1, 1});
  qi_node_add_attr(&g->nodes[node_index(g, name)], "group", QI_ATTR_INT)->i = C;
  return y;
}

/* ConvNeXt block: depthwise conv, then channels-last LayerNorm, Linear,
 * Gelu, Linear, back to NCHW, layer scale, residual. */
static qi_graph *build_block(void) {
  qi_graph *g = graph_new();
  int x = input(g, "x", shp(4, (const int64_t[]){1, C, H, W}));
  int dw = depthwise(g, "dw", x);
  int p1 = to_last(g, "p1", dw);
  int ln = layernorm(g, "ln", p1, C);
  int f1 = linear(g, "f1", ln, C, HID);
  int ge = node(g, "gelu", "Gelu", 1, (int[]){f1});
  int f2 = linear(g, "f2", ge, HID, C);
  int p2 = to_first(g, "p2", f2);
  int gm = const_f32(g, "gamma", shp(3, (const int64_t[]){C, 1, 1}), -0.8f,
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
  int x = input(g, "x", shp(4, (const int64_t[]){1, C, H, W}));
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
  int x = input(g, "x", shp(4, (const int64_t[]){1, C, H, W}));
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

typedef qi_graph *(*build_fn)(void);
typedef void (*tweak_fn)(qi_graph *g);

/* ---- calibration, runs, comparison -------------------------------------- */

typedef struct outputs {
  int n;
  char *name[MAX_OUT];
  float *data[MAX_OUT];
  int64_t count[MAX_OUT];
} outputs;

static void outputs_free(outputs *o) {
  for (int i = 0; i < o->n; i++) {
    free(o->name[i]);
    free(o->data[i]);
  }
  o->n = 0;
}

/* Runs m on an input drawn from `seed` (uniform [-1, 1]); every output. */
static qi_status run_model(const qi_model *m, uint64_t seed, outputs *o,
                           qi_error *e) {
  qi_tensor_info ii, info[MAX_OUT];
  qi_binding in, out[MAX_OUT];
  memset(o, 0, sizeof *o);
  qi_model_input_info(m, 0, &ii, e);
  int64_t cnt = 1;
  for (int d = 0; d < ii.rank; d++) cnt *= ii.shape[d];
  float *x = malloc(sizeof(float) * (size_t)cnt);
  g_rng = seed * 1000;
  for (int64_t i = 0; i < cnt; i++) x[i] = urand(-1.0f, 1.0f);
  in = (qi_binding){ii.name,  QI_FLOAT32, ii.rank,
                    ii.shape, x,          sizeof(float) * (size_t)cnt};
  int nout = qi_model_num_outputs(m);
  for (int i = 0; i < nout && i < MAX_OUT; i++) {
    qi_model_output_info(m, i, &info[i], e);
    int64_t c = 1;
    for (int d = 0; d < info[i].rank; d++) c *= info[i].shape[d];
    o->name[i] = strdup(info[i].name);
    o->data[i] = malloc(sizeof(float) * (size_t)c);
    o->count[i] = c;
    out[i] = (qi_binding){info[i].name,  QI_FLOAT32, info[i].rank,
                          info[i].shape, o->data[i], sizeof(float) * (size_t)c};
  }
  o->n = nout < MAX_OUT ? nout : MAX_OUT;
  qi_session *s = NULL;
  qi_session_options so = qi_session_options_default();
  so.num_threads = 2;
  qi_status st = qi_session_create(m, &so, &s, e);
  if (st == QI_OK) st = qi_session_run(s, &in, 1, out, o->n, e);
  qi_session_free(s);
  free(x);
  return st;
}

typedef struct ranges {
  int n;
  char *name[MAX_OUT];
  float lo[MAX_OUT], hi[MAX_OUT];
} ranges;

/* min/max of every FP32 activation over the calibration inputs: the graph
 * loads unoptimised with every activation a graph output. */
static int calibrate(qt_state *st, build_fn build, ranges *r) {
  qi_graph *g = build();
  int nout0 = g->noutputs;
  for (int t = 0; t < g->ntensors; t++) {
    int skip =
        g->tensors[t].kind != QI_TK_ACT || g->tensors[t].dtype != QI_FLOAT32;
    for (int i = 0; i < nout0; i++) skip |= g->outputs[i] == t;
    for (int i = 0; i < g->ninputs; i++) skip |= g->inputs[i] == t;
    if (!skip) output(g, t);
  }
  qi_model_options o = qi_model_options_default();
  o.optimize = 0;
  qi_model *m = NULL;
  qi_error e = {0};
  memset(r, 0, sizeof *r);
  qi_status s = qi_model_from_graph(g, &o, QI_LOAD_FP32, &m, &e);
  QT_CHECKF(st, s == QI_OK, "calibration load: %s", e.message);
  if (s != QI_OK) return 0;
  for (int seed = 1; seed <= CALIB_SEEDS && s == QI_OK; seed++) {
    outputs out;
    s = run_model(m, (uint64_t)seed, &out, &e);
    QT_CHECKF(st, s == QI_OK, "calibration run: %s", e.message);
    for (int i = 0; i < out.n && s == QI_OK; i++) {
      if (seed == 1) {
        r->name[i] = strdup(out.name[i]);
        r->lo[i] = INFINITY;
        r->hi[i] = -INFINITY;
      }
      for (int64_t k = 0; k < out.count[i]; k++) {
        r->lo[i] = fminf(r->lo[i], out.data[i][k]);
        r->hi[i] = fmaxf(r->hi[i], out.data[i][k]);
      }
    }
    r->n = out.n;
    outputs_free(&out);
  }
  r->name[r->n] = strdup("x"); /* the input: uniform [-1, 1] */
  r->lo[r->n] = -1.0f;
  r->hi[r->n++] = 1.0f;
  qi_model_free(m);
  return s == QI_OK;
}

static void ranges_free(ranges *r) {
  for (int i = 0; i < r->n; i++) free(r->name[i]);
}

/* The graph annotated (every range, every node INT8, then `tweak`),
 * loaded and lowered. */
static qi_model *load_int8(qt_state *st, build_fn build, const ranges *r,
                           tweak_fn tweak) {
  qi_graph *g = build();
  qi_error e = {0};
  for (int i = 0; i < r->n; i++) {
    int t = qi_graph_find_tensor(g, r->name[i]);
    if (t < 0) continue;
    qi_quant *q = &g->tensors[t].quant;
    QT_CHECK(st, qi_uint8_qparams(r->lo[i], r->hi[i], &q->scale, &q->zero_point,
                                  &e) == QI_OK);
    q->has = 1;
    q->axis = -1;
  }
  for (int i = 0; i < g->nnodes; i++) g->nodes[i].precision = QI_PREC_INT8;
  if (tweak) tweak(g);
  qi_model *m = NULL;
  qi_status s = qi_model_from_graph(g, NULL, QI_LOAD_LOWER_INT8, &m, &e);
  QT_CHECKF(st, s == QI_OK, "INT8 load: %s", e.message);
  return s == QI_OK ? m : NULL;
}

static double rel_l2(const float *a, const float *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return sqrt(num / (den > 0 ? den : 1e-30));
}

/* Compares m with the FP32 model of `build` on two calibration inputs. */
static void check_accuracy(qt_state *st, build_fn build, const qi_model *m) {
  qi_model *ref = NULL;
  qi_error e = {0};
  QT_CHECKF(st,
            qi_model_from_graph(build(), NULL, QI_LOAD_FP32, &ref, &e) == QI_OK,
            "FP32 load: %s", e.message);
  for (uint64_t seed = 1; ref && seed <= CALIB_SEEDS; seed += 2) {
    outputs a, b;
    QT_CHECKF(st, run_model(m, seed, &a, &e) == QI_OK, "INT8 run: %s",
              e.message);
    QT_CHECKF(st, run_model(ref, seed, &b, &e) == QI_OK, "FP32 run: %s",
              e.message);
    QT_CHECK(st, a.n == b.n && a.n >= 1);
    for (int i = 0; i < a.n && i < b.n; i++) {
      QT_CHECK(st, !strcmp(a.name[i], b.name[i]) && a.count[i] == b.count[i]);
      double err = rel_l2(a.data[i], b.data[i], a.count[i]);
      printf("     output %s: rel L2 %.4f vs FP32 (tolerance %.3g)\n",
             a.name[i], err, CHL_REL_L2_TOL);
      QT_CHECKF(st, err < CHL_REL_L2_TOL && err > CHL_MIN_REL_L2,
                "output %s: rel L2 %.3g", a.name[i], err);
    }
    outputs_free(&a);
    outputs_free(&b);
  }
  qi_model_free(ref);
}

static qi_model *lowered(qt_state *st, build_fn build, tweak_fn tweak) {
  ranges r;
  if (!calibrate(st, build, &r)) return NULL;
  qi_model *m = load_int8(st, build, &r, tweak);
  ranges_free(&r);
  if (m) check_accuracy(st, build, m);
  return m;
}

/* ---- inspecting the lowered graph ---------------------------------------- */

static int count_op(const qi_model *m, const char *op) {
  int c = 0;
  for (int i = 0; i < m->g->nnodes; i++)
    c += !strcmp(m->g->nodes[i].op_type, op);
  return c;
}

static const qi_node *find_node(const qi_model *m, const char *name) {
  for (int i = 0; i < m->g->nnodes; i++)
    if (!strcmp(m->g->nodes[i].name, name)) return &m->g->nodes[i];
  return NULL;
}

static int64_t attr_of(const qi_model *m, const char *node, const char *attr) {
  const qi_node *n = find_node(m, node);
  return n ? qi_attr_int(n, attr, -1) : -2;
}

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
  char path[] = "/tmp/qi_test_chlast_XXXXXX";
  int fd = mkstemp(path);
  QT_CHECK(st, fd >= 0);
  if (fd < 0) {
    qi_model_free(m);
    return;
  }
  close(fd);
  qi_error e = {0};
  qi_model *back = NULL;
  QT_CHECKF(st, qi_model_save(m, path, &e) == QI_OK, "save: %s", e.message);
  QT_CHECKF(st, qi_model_load_file(path, NULL, &back, &e) == QI_OK, "load: %s",
            e.message);
  unlink(path);
  if (back) {
    QT_CHECK(st, attr_of(back, "ln", "axis") == 1);
    outputs a, b;
    QT_CHECK(st, run_model(m, 3, &a, &e) == QI_OK &&
                     run_model(back, 3, &b, &e) == QI_OK);
    QT_CHECK(st, a.n == 1 && b.n == 1 && a.count[0] == b.count[0] &&
                     !memcmp(a.data[0], b.data[0],
                             sizeof(float) * (size_t)a.count[0]));
    outputs_free(&a);
    outputs_free(&b);
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
