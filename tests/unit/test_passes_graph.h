/*
 * Helpers for test_passes.c: building graphs by hand, a scalar interpreter
 * for the ops the fusion passes touch, and a checker that runs a pass
 * between two evaluations. Fused nodes are evaluated with qi_act_apply, the
 * runtime's definition of the qi_act attributes, while unfused activations
 * use the formulas written out here. Static functions: include once.
 */
#ifndef TEST_PASSES_GRAPH_H
#define TEST_PASSES_GRAPH_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph_build_util.h"
#include "ops/op.h"
#include "qtest.h"

/* Rewrites only reassociate float32 arithmetic (folded weights, erf form). */
#define REWRITE_REL_L2_TOL 1e-5

/* ---------- graph building ---------- */

typedef struct rng {
  uint64_t s;
} rng;

static float rnd(rng *r, float lo, float hi) {
  r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (float)((r->s >> 40) & 0xffffff) / 16777216.0f;
}

#define SCALAR ((qi_shape){.rank = 0})

static int act_t(qi_graph *g, const char *name, qi_shape s) {
  int t = qi_graph_add_tensor(g, name, QI_FLOAT32);
  g->tensors[t].shape = s;
  return t;
}

static int const_rand(qi_graph *g, const char *name, qi_shape s, rng *r,
                      float lo, float hi) {
  float v[4096];
  int64_t n = qi_shape_numel(&s);
  for (int64_t i = 0; i < n; i++) v[i] = rnd(r, lo, hi);
  return const_f32(g, name, s, v);
}

static int scalar_t(qi_graph *g, const char *name, float v) {
  return const_f32(g, name, SH(1), &v);
}

static int node(qi_graph *g, const char *op, const int *in, int nin,
                const int *out, int nout) {
  char name[64];
  snprintf(name, sizeof name, "%s_%d", op, g->nnodes);
  int n = qi_graph_add_node(g, name, op, "", nin, nout);
  for (int k = 0; k < nin; k++) g->nodes[n].in[k] = in[k];
  for (int k = 0; k < nout; k++) g->nodes[n].out[k] = out[k];
  return n;
}

static void set_io(qi_graph *g, const int *in, int nin, const int *out,
                   int nout) {
  g->inputs = malloc(sizeof(int) * (size_t)nin);
  g->outputs = malloc(sizeof(int) * (size_t)nout);
  memcpy(g->inputs, in, sizeof(int) * (size_t)nin);
  memcpy(g->outputs, out, sizeof(int) * (size_t)nout);
  g->ninputs = nin;
  g->noutputs = nout;
}

/* ---------- scalar interpreter ---------- */

typedef struct vals {
  int n;
  float **v; /* per tensor; NULL when not computed */
} vals;

static void vals_free(vals *vs) {
  for (int i = 0; i < vs->n; i++) free(vs->v[i]);
  free(vs->v);
}

static int64_t numel_of(const qi_graph *g, int t) {
  return qi_shape_numel(&g->tensors[t].shape);
}

/* Offset into input shape `in` of the element at linear index `lin` of the
 * broadcast output shape `out`. */
static int64_t bcast_off(const qi_shape *out, const qi_shape *in, int64_t lin) {
  int64_t off = 0, stride = 1;
  for (int i = out->rank - 1; i >= 0; i--) {
    int64_t c = lin % out->d[i];
    lin /= out->d[i];
    int j = i - (out->rank - in->rank);
    if (j < 0) continue;
    if (in->d[j] != 1) off += c * stride;
    stride *= in->d[j];
  }
  return off;
}

static float unary(const qi_node *n, float x, float lo, float hi) {
  const char *op = n->op_type;
  if (!strcmp(op, "Relu")) return x > 0 ? x : 0;
  if (!strcmp(op, "Sigmoid")) return 1.0f / (1.0f + expf(-x));
  if (!strcmp(op, "Tanh")) return tanhf(x);
  if (!strcmp(op, "Erf")) return erff(x);
  if (!strcmp(op, "Sqrt")) return sqrtf(x);
  if (!strcmp(op, "Reciprocal")) return 1.0f / x;
  if (!strcmp(op, "Identity") || !strcmp(op, "Dropout")) return x;
  if (!strcmp(op, "LeakyRelu"))
    return x >= 0 ? x : x * qi_attr_float(n, "alpha", 0.01f);
  if (!strcmp(op, "Clip")) return x < lo ? lo : (x > hi ? hi : x);
  if (!strcmp(op, "HardSigmoid")) {
    float h = qi_attr_float(n, "alpha", 0.2f) * x + qi_attr_float(n, "beta", 0.5f);
    return h < 0 ? 0 : (h > 1 ? 1 : h);
  }
  if (!strcmp(op, "HardSwish")) {
    float h = x / 6.0f + 0.5f;
    return x * (h < 0 ? 0 : (h > 1 ? 1 : h));
  }
  if (!strcmp(op, "QiSilu")) return x / (1.0f + expf(-x));
  if (!strcmp(op, "Gelu")) return 0.5f * x * (1.0f + erff(x / sqrtf(2.0f)));
  return NAN;
}

static float binary(const char *op, float a, float b) {
  if (!strcmp(op, "Add")) return a + b;
  if (!strcmp(op, "Sub")) return a - b;
  if (!strcmp(op, "Mul")) return a * b;
  if (!strcmp(op, "Div")) return a / b;
  if (!strcmp(op, "Pow")) return powf(a, b);
  return NAN;
}

/* Conv and ConvTranspose over NCHW with group, strides, pads, dilations;
 * input 3 (qi_sum) is added before the fused activation. */
static void conv2d(const qi_graph *g, const qi_node *n, float **v, float *y) {
  const qi_shape *xs = &g->tensors[n->in[0]].shape;
  const qi_shape *ws = &g->tensors[n->in[1]].shape;
  const qi_shape *ys = &g->tensors[n->out[0]].shape;
  const float *x = v[n->in[0]], *w = v[n->in[1]];
  const float *b = n->nin > 2 && n->in[2] >= 0 ? v[n->in[2]] : NULL;
  const float *sum = n->nin > 3 && n->in[3] >= 0 ? v[n->in[3]] : NULL;
  int transpose = !strcmp(n->op_type, "ConvTranspose");
  int64_t grp = qi_attr_int(n, "group", 1), st[2] = {1, 1}, pd[4] = {0},
          dl[2] = {1, 1};
  const int64_t *a;
  if (qi_attr_ints(n, "strides", &a) == 2) memcpy(st, a, sizeof st);
  if (qi_attr_ints(n, "pads", &a) == 4) memcpy(pd, a, sizeof pd);
  if (qi_attr_ints(n, "dilations", &a) == 2) memcpy(dl, a, sizeof dl);
  int64_t N = xs->d[0], C = xs->d[1], H = xs->d[2], W = xs->d[3];
  int64_t M = ys->d[1], OH = ys->d[2], OW = ys->d[3], KH = ws->d[2],
          KW = ws->d[3];
  int64_t cg = C / grp, mg = M / grp;
  for (int64_t i = 0; i < numel_of(g, n->out[0]); i++) y[i] = 0;
  for (int64_t nn = 0; nn < N; nn++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t h = 0; h < (transpose ? H : OH); h++)
        for (int64_t ww = 0; ww < (transpose ? W : OW); ww++)
          for (int64_t j = 0; j < mg; j++)
            for (int64_t kh = 0; kh < KH; kh++)
              for (int64_t kw = 0; kw < KW; kw++) {
                int64_t m = (c / cg) * mg + j;
                int64_t ih, iw, oh, ow;
                float wv;
                if (transpose) {
                  ih = h, iw = ww;
                  oh = h * st[0] - pd[0] + kh * dl[0];
                  ow = ww * st[1] - pd[1] + kw * dl[1];
                  wv = w[((c * mg + j) * KH + kh) * KW + kw];
                } else {
                  oh = h, ow = ww;
                  ih = h * st[0] - pd[0] + kh * dl[0];
                  iw = ww * st[1] - pd[1] + kw * dl[1];
                  wv = w[((m * cg + c % cg) * KH + kh) * KW + kw];
                }
                if (ih < 0 || ih >= H || iw < 0 || iw >= W || oh < 0 ||
                    oh >= OH || ow < 0 || ow >= OW)
                  continue;
                y[((nn * M + m) * OH + oh) * OW + ow] +=
                    x[((nn * C + c) * H + ih) * W + iw] * wv;
              }
  qi_act_params p = qi_node_act(n);
  for (int64_t i = 0; i < numel_of(g, n->out[0]); i++) {
    int64_t m = (i / (OH * OW)) % M;
    float s = y[i] + (b ? b[m] : 0.0f) + (sum ? sum[i] : 0.0f);
    y[i] = qi_act_apply(&p, s);
  }
}

/* Runs node `ni`; 0 if the interpreter does not know the op. */
static int eval_node(const qi_graph *g, const qi_node *n, float **v) {
  const char *op = n->op_type;
  int yt = n->out[0];
  int64_t cnt = numel_of(g, yt);
  float *y = calloc((size_t)(cnt > 0 ? cnt : 1), sizeof(float));
  const qi_shape *ys = &g->tensors[yt].shape;
  qi_act_params p = qi_node_act(n);
  if (!strcmp(op, "Conv") || !strcmp(op, "ConvTranspose")) {
    conv2d(g, n, v, y);
  } else if (!strcmp(op, "BatchNormalization")) {
    const float *x = v[n->in[0]];
    int64_t C = ys->d[1], inner = cnt / (ys->d[0] * C);
    float eps = qi_attr_float(n, "epsilon", 1e-5f);
    for (int64_t i = 0; i < cnt; i++) {
      int64_t c = (i / inner) % C;
      y[i] = (x[i] - v[n->in[3]][c]) / sqrtf(v[n->in[4]][c] + eps) *
                 v[n->in[1]][c] + v[n->in[2]][c];
    }
  } else if (!strcmp(op, "MatMul")) {
    const qi_shape *as = &g->tensors[n->in[0]].shape;
    int64_t M = as->d[0], K = as->d[1], N = ys->d[1];
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        float s = 0;
        for (int64_t k = 0; k < K; k++)
          s += v[n->in[0]][i * K + k] * v[n->in[1]][k * N + j];
        y[i * N + j] = qi_act_apply(&p, s);
      }
  } else if (!strcmp(op, "ReduceMean")) {
    const qi_shape *xs = &g->tensors[n->in[0]].shape;
    const int64_t *ax;
    int64_t axis;
    if (qi_attr_ints(n, "axes", &ax) == 1)
      axis = ax[0];
    else
      axis = ((const int64_t *)g->tensors[n->in[1]].data)[0];
    axis = axis < 0 ? axis + xs->rank : axis;
    int64_t len = xs->d[axis], inner = 1;
    for (int i = (int)axis + 1; i < xs->rank; i++) inner *= xs->d[i];
    for (int64_t i = 0; i < cnt; i++) {
      int64_t o = i / inner, in = i % inner;
      double s = 0;
      for (int64_t k = 0; k < len; k++)
        s += v[n->in[0]][(o * len + k) * inner + in];
      y[i] = (float)(s / (double)len);
    }
  } else if (!strcmp(op, "LayerNormalization")) {
    int64_t C = ys->d[ys->rank - 1];
    float eps = qi_attr_float(n, "epsilon", 1e-5f);
    for (int64_t r = 0; r < cnt / C; r++) {
      const float *x = v[n->in[0]] + r * C;
      double mean = 0, var = 0;
      for (int64_t c = 0; c < C; c++) mean += x[c];
      mean /= (double)C;
      for (int64_t c = 0; c < C; c++) var += (x[c] - mean) * (x[c] - mean);
      var /= (double)C;
      for (int64_t c = 0; c < C; c++)
        y[r * C + c] = (float)((x[c] - mean) / sqrt(var + eps)) *
                           v[n->in[1]][c] + v[n->in[2]][c];
    }
  } else if (n->nin == 2 && !isnan(binary(op, 1.0f, 1.0f))) {
    const qi_shape *as = &g->tensors[n->in[0]].shape;
    const qi_shape *bs = &g->tensors[n->in[1]].shape;
    for (int64_t i = 0; i < cnt; i++)
      y[i] = qi_act_apply(&p, binary(op, v[n->in[0]][bcast_off(ys, as, i)],
                                     v[n->in[1]][bcast_off(ys, bs, i)]));
  } else {
    float lo = qi_attr_float(n, "min", -INFINITY);
    float hi = qi_attr_float(n, "max", INFINITY);
    if (!strcmp(op, "Clip") && n->nin > 1 && n->in[1] >= 0)
      lo = v[n->in[1]][0];
    if (!strcmp(op, "Clip") && n->nin > 2 && n->in[2] >= 0)
      hi = v[n->in[2]][0];
    if (isnan(unary(n, 0.5f, lo, hi))) {
      free(y);
      return 0;
    }
    for (int64_t i = 0; i < cnt; i++) y[i] = unary(n, v[n->in[0]][i], lo, hi);
  }
  free(v[yt]);
  v[yt] = y;
  return 1;
}

/* Evaluates every live node; graph inputs get values from the seed. */
static int eval_graph(const qi_graph *g, uint64_t seed, vals *vs) {
  rng r = {seed};
  vs->n = g->ntensors;
  vs->v = calloc((size_t)g->ntensors, sizeof(float *));
  for (int t = 0; t < g->ntensors; t++) {
    const qi_tensor *ts = &g->tensors[t];
    if (ts->kind == QI_TK_CONST && ts->dtype == QI_FLOAT32) {
      vs->v[t] = malloc(ts->nbytes ? ts->nbytes : 1);
      memcpy(vs->v[t], ts->data, ts->nbytes);
    }
  }
  for (int i = 0; i < g->ninputs; i++) {
    int t = g->inputs[i];
    int64_t n = numel_of(g, t);
    vs->v[t] = malloc(sizeof(float) * (size_t)n);
    for (int64_t k = 0; k < n; k++) vs->v[t][k] = rnd(&r, -3.0f, 3.0f);
  }
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && !eval_node(g, &g->nodes[i], vs->v)) return 0;
  return 1;
}

static double rel_l2(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)b[i] * b[i];
  }
  return sqrt(num / (den > 0 ? den : 1e-30));
}

/* 1 if live nodes are in topological order and producers are right. */
static int topo_ok(const qi_graph *g) {
  char *ready = calloc((size_t)g->ntensors, 1);
  int ok = 1;
  for (int t = 0; t < g->ntensors; t++)
    ready[t] = g->tensors[t].kind == QI_TK_CONST;
  for (int i = 0; i < g->ninputs; i++) ready[g->inputs[i]] = 1;
  for (int i = 0; i < g->nnodes && ok; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0 && !ready[n->in[k]]) ok = 0;
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] >= 0) {
        if (ready[n->out[k]] || g->tensors[n->out[k]].producer != i) ok = 0;
        ready[n->out[k]] = 1;
      }
  }
  for (int i = 0; i < g->noutputs; i++)
    if (!ready[g->outputs[i]]) ok = 0;
  free(ready);
  return ok;
}

typedef qi_status (*pass_fn)(qi_graph *, qi_error *);

/* Runs `pass` on g and checks that outputs, topological order and graph
 * output names survive. */
static void run_checked(qt_state *st, qi_graph *g, pass_fn pass) {
  qi_error err = {0};
  QT_CHECKF(st, qi_graph_toposort(g, &err) == QI_OK, "%s", err.message);
  vals before, after;
  QT_CHECK(st, eval_graph(g, 7, &before));
  char *names[8];
  for (int i = 0; i < g->noutputs && i < 8; i++)
    names[i] = strdup(g->tensors[g->outputs[i]].name);
  QT_CHECKF(st, pass(g, &err) == QI_OK, "%s", err.message);
  QT_CHECK(st, topo_ok(g));
  QT_CHECK(st, eval_graph(g, 7, &after));
  for (int i = 0; i < g->noutputs && i < 8; i++) {
    int t = g->outputs[i];
    QT_CHECK(st, !strcmp(names[i], g->tensors[t].name));
    free(names[i]);
    QT_CHECKF(st, before.v[t] && after.v[t], "output %s not computed",
              g->tensors[t].name);
    if (!before.v[t] || !after.v[t]) continue;
    double e = rel_l2(after.v[t], before.v[t], numel_of(g, t));
    QT_CHECKF(st, e <= REWRITE_REL_L2_TOL, "output %s rel L2 %g",
              g->tensors[t].name, e);
  }
  vals_free(&before);
  vals_free(&after);
}

static int live_count(const qi_graph *g, const char *op) {
  int c = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && (!op || !strcmp(g->nodes[i].op_type, op))) c++;
  return c;
}

static const qi_node *live_node(const qi_graph *g, const char *op) {
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, op))
      return &g->nodes[i];
  return NULL;
}

#endif
