/*
 * Shared by the lowering tests (test_quant_lower.c and its graphs in
 * test_quant_lower_graphs.h, test_quant_lower_attn.c,
 * test_quant_lower_chlast.c, test_fp16_lower.c):
 *  - building FP32 graphs by hand: seeded uniform values, activations,
 *    graph inputs and outputs;
 *  - running a model on seeded inputs through the session API;
 *  - the INT8 end-to-end check: min/max calibration on the graph's own
 *    FP32 activations (every activation made an output), the annotated
 *    graph loaded with QI_LOAD_LOWER_INT8, its outputs against the FP32
 *    model's (relative L2 below a tolerance and above a floor that proves
 *    the INT8 path ran);
 *  - inspecting the lowered graph.
 * Functions are static inline: each test uses a part of them.
 */
#ifndef TEST_QUANT_LOWER_TEST_UTIL_H
#define TEST_QUANT_LOWER_TEST_UTIL_H

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

#define QLT_MAX_IO 4     /* model inputs fed */
#define QLT_MAX_OUT 96   /* model outputs read (calibration: activations) */
#define QLT_CALIB_SEEDS 3 /* inputs 1..3 set the ranges; 1 and 3 are tested */

/* ---- graph building ----------------------------------------------------- */

static uint64_t g_rng;
static inline float urand(float lo, float hi) {
  g_rng = g_rng * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (float)((g_rng >> 40) & 0xffffff) / 16777216.0f;
}

static inline int act(qi_graph *g, const char *name) {
  return qi_graph_add_tensor(g, name, QI_FLOAT32);
}

static inline qi_shape shape_of(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

/* A float32 constant of shape s, uniform in [lo, hi). */
static inline int const_urand(qi_graph *g, const char *name, qi_shape s,
                              float lo, float hi) {
  int t = act(g, name);
  g->tensors[t].shape = s;
  size_t n = (size_t)qi_shape_numel(&s);
  float *v = malloc(sizeof(float) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) v[i] = urand(lo, hi);
  qi_tensor_set_const(&g->tensors[t], v, sizeof(float) * n);
  return t;
}

static inline int input(qi_graph *g, const char *name, qi_shape s) {
  int t = act(g, name);
  g->tensors[t].shape = s;
  g->inputs = realloc(g->inputs, sizeof(int) * (size_t)(g->ninputs + 1));
  g->inputs[g->ninputs++] = t;
  return t;
}

static inline void output(qi_graph *g, int t) {
  g->outputs = realloc(g->outputs, sizeof(int) * (size_t)(g->noutputs + 1));
  g->outputs[g->noutputs++] = t;
}

typedef qi_graph *(*build_fn)(void);
typedef void (*tweak_fn)(qi_graph *g);

/* ---- runs ----------------------------------------------------------------- */

typedef struct outputs {
  int n;
  char *name[QLT_MAX_OUT];
  float *data[QLT_MAX_OUT];
  int64_t count[QLT_MAX_OUT];
} outputs;

static inline void outputs_free(outputs *o) {
  for (int i = 0; i < o->n; i++) {
    free(o->name[i]);
    free(o->data[i]);
  }
  o->n = 0;
}

/* Runs m with `threads` threads on inputs uniform in [-1, 1] drawn from
 * `seed` (input i from seed * 1000 + i); every output, as float. */
static inline qi_status run_model(const qi_model *m, uint64_t seed,
                                  int threads, outputs *o, qi_error *e) {
  qi_binding in[QLT_MAX_IO], out[QLT_MAX_OUT];
  float *in_data[QLT_MAX_IO] = {0};
  qi_tensor_info info[QLT_MAX_IO + QLT_MAX_OUT];
  int nin = qi_model_num_inputs(m), nout = qi_model_num_outputs(m);
  memset(o, 0, sizeof *o);
  if (nin > QLT_MAX_IO) nin = QLT_MAX_IO;
  if (nout > QLT_MAX_OUT) nout = QLT_MAX_OUT;
  for (int i = 0; i < nin; i++) {
    qi_model_input_info(m, i, &info[i], e);
    int64_t cnt = 1;
    for (int d = 0; d < info[i].rank; d++) cnt *= info[i].shape[d];
    in_data[i] = malloc(sizeof(float) * (size_t)cnt);
    g_rng = seed * 1000 + (uint64_t)i;
    for (int64_t k = 0; k < cnt; k++) in_data[i][k] = urand(-1.0f, 1.0f);
    in[i] = (qi_binding){info[i].name,  QI_FLOAT32, info[i].rank,
                         info[i].shape, in_data[i], sizeof(float) * (size_t)cnt};
  }
  for (int i = 0; i < nout; i++) {
    qi_tensor_info *t = &info[QLT_MAX_IO + i];
    qi_model_output_info(m, i, t, e);
    int64_t cnt = 1;
    for (int d = 0; d < t->rank; d++) cnt *= t->shape[d];
    o->name[i] = strdup(t->name);
    o->data[i] = malloc(sizeof(float) * (size_t)cnt);
    o->count[i] = cnt;
    out[i] = (qi_binding){t->name,  QI_FLOAT32, t->rank,
                          t->shape, o->data[i], sizeof(float) * (size_t)cnt};
  }
  o->n = nout;
  qi_session_options so = qi_session_options_default();
  so.num_threads = threads;
  qi_session *s = NULL;
  qi_status st = qi_session_create(m, &so, &s, e);
  if (st == QI_OK) st = qi_session_run(s, in, nin, out, nout, e);
  qi_session_free(s);
  for (int i = 0; i < nin; i++) free(in_data[i]);
  return st;
}

static inline double rel_l2(const float *a, const float *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  return sqrt(num / (den > 0 ? den : 1e-30));
}

/* Outputs of a (ta threads) and b (tb threads) on the same inputs are the
 * same bytes. */
static inline int same_outputs(const qi_model *a, const qi_model *b, int ta,
                               int tb) {
  outputs x = {0}, y = {0};
  qi_error e;
  int ok = run_model(a, 1, ta, &x, &e) == QI_OK &&
           run_model(b, 1, tb, &y, &e) == QI_OK && x.n == y.n && x.n >= 1;
  for (int i = 0; ok && i < x.n; i++)
    ok = x.count[i] == y.count[i] &&
         !memcmp(x.data[i], y.data[i], sizeof(float) * (size_t)x.count[i]);
  outputs_free(&x);
  outputs_free(&y);
  return ok;
}

/* m saved as .qnf to a temporary file and loaded again (NULL, with a
 * failed check, if either fails). */
static inline qi_model *qnf_round_trip(qt_state *st, const qi_model *m) {
  char path[] = "/tmp/qi_test_lower_XXXXXX";
  int fd = mkstemp(path);
  QT_CHECK(st, fd >= 0);
  if (fd < 0) return NULL;
  close(fd);
  qi_error e = {0};
  qi_model *back = NULL;
  QT_CHECKF(st, qi_model_save(m, path, &e) == QI_OK, "save: %s", e.message);
  QT_CHECKF(st, qi_model_load_file(path, NULL, &back, &e) == QI_OK, "load: %s",
            e.message);
  unlink(path);
  return back;
}

/* ---- INT8: calibration, lowering, accuracy -------------------------------- */

/* Threads of the INT8 test runs: more than one, so splits are exercised. */
#define QLT_THREADS 2

typedef struct ranges {
  int n;
  char *name[QLT_MAX_OUT + QLT_MAX_IO];
  float lo[QLT_MAX_OUT + QLT_MAX_IO], hi[QLT_MAX_OUT + QLT_MAX_IO];
} ranges;

static inline void ranges_free(ranges *r) {
  for (int i = 0; i < r->n; i++) free(r->name[i]);
  r->n = 0;
}

/* min/max of every FP32 activation over the calibration inputs: the graph
 * loads unoptimised with every activation made a graph output; the
 * inputs' ranges are [-1, 1] (what run_model feeds). */
static inline int calibrate(qt_state *st, build_fn build, ranges *r) {
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
  QT_CHECKF(st, qi_model_num_outputs(m) <= QLT_MAX_OUT,
            "%d activations, at most %d calibrated", qi_model_num_outputs(m),
            QLT_MAX_OUT);
  for (int seed = 1; seed <= QLT_CALIB_SEEDS && s == QI_OK; seed++) {
    outputs out;
    s = run_model(m, (uint64_t)seed, QLT_THREADS, &out, &e);
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
  for (int i = 0; i < qi_model_num_inputs(m) && i < QLT_MAX_IO; i++) {
    qi_tensor_info ti;
    qi_model_input_info(m, i, &ti, &e);
    r->name[r->n] = strdup(ti.name);
    r->lo[r->n] = -1.0f;
    r->hi[r->n++] = 1.0f;
  }
  qi_model_free(m);
  return s == QI_OK;
}

/* The graph annotated (every range as a per-tensor quant, every node INT8,
 * then `tweak`), loaded and lowered. */
static inline qi_model *load_int8(qt_state *st, build_fn build,
                                  const ranges *r, tweak_fn tweak) {
  qi_graph *g = build();
  qi_error e = {0};
  for (int i = 0; i < r->n; i++) {
    int t = qi_graph_find_tensor(g, r->name[i]);
    if (t < 0) continue;
    qi_quant *q = &g->tensors[t].quant;
    QT_CHECK(st, qi_uint8_qparams(r->lo[i], r->hi[i], &q->scale,
                                  &q->zero_point, &e) == QI_OK);
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

/* Every output of m against the FP32 model of `build` on calibration
 * inputs 1 and 3: relative L2 in (min_rel, tol). */
static inline void check_int8_accuracy(qt_state *st, build_fn build,
                                       const qi_model *m, double tol,
                                       double min_rel) {
  qi_model *ref = NULL;
  qi_error e = {0};
  QT_CHECKF(st,
            qi_model_from_graph(build(), NULL, QI_LOAD_FP32, &ref, &e) == QI_OK,
            "FP32 load: %s", e.message);
  for (uint64_t seed = 1; ref && seed <= QLT_CALIB_SEEDS; seed += 2) {
    outputs a, b;
    QT_CHECKF(st, run_model(m, seed, QLT_THREADS, &a, &e) == QI_OK,
              "INT8 run: %s", e.message);
    QT_CHECKF(st, run_model(ref, seed, QLT_THREADS, &b, &e) == QI_OK,
              "FP32 run: %s", e.message);
    QT_CHECK(st, a.n == b.n && a.n >= 1);
    for (int i = 0; i < a.n && i < b.n; i++) {
      QT_CHECK(st, !strcmp(a.name[i], b.name[i]) && a.count[i] == b.count[i]);
      double err = rel_l2(a.data[i], b.data[i], a.count[i]);
      printf("     output %s: rel L2 %.4f vs FP32 (tolerance %.3g)\n",
             a.name[i], err, tol);
      QT_CHECKF(st, err < tol && err > min_rel, "output %s: rel L2 %.3g",
                a.name[i], err);
    }
    outputs_free(&a);
    outputs_free(&b);
  }
  qi_model_free(ref);
}

/* Calibrates, lowers with `tweak`, checks accuracy (check_int8_accuracy);
 * the caller inspects and frees the model. */
static inline qi_model *lowered_int8(qt_state *st, build_fn build,
                                     tweak_fn tweak, double tol,
                                     double min_rel) {
  ranges r;
  if (!calibrate(st, build, &r)) return NULL;
  qi_model *m = load_int8(st, build, &r, tweak);
  ranges_free(&r);
  if (m) check_int8_accuracy(st, build, m, tol, min_rel);
  return m;
}

/* ---- inspecting the lowered graph ------------------------------------------ */

static inline int count_op(const qi_model *m, const char *op) {
  int c = 0;
  for (int i = 0; i < m->g->nnodes; i++)
    c += !strcmp(m->g->nodes[i].op_type, op);
  return c;
}

/* The node named `name` (a lowered node keeps its FP32 node's name). */
static inline const qi_node *find_node(const qi_model *m, const char *name) {
  for (int i = 0; i < m->g->nnodes; i++)
    if (!strcmp(m->g->nodes[i].name, name)) return &m->g->nodes[i];
  return NULL;
}

static inline int node_is(const qi_model *m, const char *name, const char *op,
                          qi_precision p) {
  const qi_node *n = find_node(m, name);
  return n && !strcmp(n->op_type, op) && n->precision == p;
}

static inline int64_t attr_of(const qi_model *m, const char *node,
                              const char *attr) {
  const qi_node *n = find_node(m, node);
  return n ? qi_attr_int(n, attr, -1) : -2;
}

#endif
