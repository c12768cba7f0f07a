/* Helpers shared by the FP32 convolution tests: a seeded generator, the
 * normalised error measure and float64 activations. Header-only, static. */
#ifndef CONV_TEST_UTIL_H
#define CONV_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <string.h>

#include "ops/op.h"

/* max |ours - ref| / (max |ref| + REL_TOL_FLOOR) must not exceed this. */
#define REL_TOL 1e-5
#define REL_TOL_FLOOR 1e-6
/* Activation kernels, per element: |ours - ref| <= ACT_ABS_TOL +
 * REL_TOL * |ref| (the vector erf is within 1.5e-7 absolute). */
#define ACT_ABS_TOL 1e-6

typedef struct rng {
  uint64_t s;
} rng;

static inline float rnd(rng *r) {
  r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((r->s >> 40) & 0xFFFFFF) / (float)0x800000 - 1.0f;
}

static inline float *rnd_array(rng *r, int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = rnd(r);
  return p;
}

static inline double rel_err(const float *ours, const double *ref, int64_t n) {
  double md = 0.0, mr = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)ours[i] - ref[i]);
    if (!(d <= md)) md = d; /* NaN counts as infinitely wrong */
    if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
  }
  return md / (mr + REL_TOL_FLOOR);
}

static inline double act_ref(int act, double a, double b, double x) {
  switch (act) {
    case QI_ACT_RELU: return x > 0 ? x : 0;
    case QI_ACT_CLIP: return x < a ? a : (x > b ? b : x);
    case QI_ACT_LEAKY: return x >= 0 ? x : a * x;
    case QI_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case QI_ACT_HARDSWISH: {
      double h = x / 6.0 + 0.5;
      return x * (h < 0 ? 0 : (h > 1 ? 1 : h));
    }
    case QI_ACT_SILU: return x / (1.0 + exp(-x));
    case QI_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case QI_ACT_HARDSIGMOID: {
      double h = a * x + b;
      return h < 0 ? 0 : (h > 1 ? 1 : h);
    }
    case QI_ACT_TANH: return tanh(x);
    default: return x;
  }
}

/* Activation parameters used whenever a case asks for `act`. */
static inline void act_params(int act, float *a, float *b) {
  *a = act == QI_ACT_CLIP ? -0.5f : act == QI_ACT_LEAKY ? 0.1f
                                   : act == QI_ACT_HARDSIGMOID ? 0.2f : 0.0f;
  *b = act == QI_ACT_CLIP ? 0.7f : act == QI_ACT_HARDSIGMOID ? 0.5f : 0.0f;
}

/* ---- graph building ------------------------------------------------------ */

static inline int add_tensor(qi_graph *g, const char *name, int rank,
                      const int64_t *d, const float *cdata, qi_dtype dt) {
  int t = qi_graph_add_tensor(g, name, dt);
  g->tensors[t].shape.rank = rank;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= g->tensors[t].shape.d[i] = d[i];
  if (cdata) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    memcpy(p, cdata, sizeof(float) * (size_t)n);
    qi_tensor_set_const(&g->tensors[t], p, sizeof(float) * (size_t)n);
  }
  return t;
}

static inline void set_ints(qi_node *n, const char *name, int cnt, const int64_t *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static inline void set_int(qi_node *n, const char *name, int64_t v) {
  qi_node_add_attr(n, name, QI_ATTR_INT)->i = v;
}

static inline void set_float(qi_node *n, const char *name, float v) {
  qi_node_add_attr(n, name, QI_ATTR_FLOAT)->f = v;
}

static inline void set_str(qi_node *n, const char *name, const char *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_STRING);
  a->s = malloc(strlen(v) + 1);
  strcpy(a->s, v);
}

static inline void set_act(qi_node *n, int act) {
  if (!act) return;
  float a, b;
  act_params(act, &a, &b);
  set_int(n, "qi_act", act);
  set_float(n, "qi_act_alpha", a);
  set_float(n, "qi_act_beta", b);
}

/* Runs node 0 of g through infer, prepare, scratch_bytes and run. Inputs
 * that are not constant read act[k]. alias_in >= 0 makes that input share
 * the output buffer (as an in-place planner would). *out is malloc'd. */
static inline qi_status run_node(const qi_op_def *op, qi_graph *g, float *const *act,
                          qi_pool *pool, int alias_in, float **out,
                          qi_shape *oshape, qi_error *err) {
  qi_node *n = &g->nodes[0];
  n->op = op;
  *out = NULL;
  QI_TRY(op->infer(g, n, err));
  if (op->prepare) QI_TRY(op->prepare(g, n, err));
  int nth = qi_pool_size(pool);
  size_t sb = op->scratch_bytes ? op->scratch_bytes(g, n, nth) : 0;
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  qi_buf in[8], ob;
  memset(in, 0, sizeof in);
  for (int k = 0; k < n->nin && k < 8; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->kind == QI_TK_CONST ? t->data : act[k];
  }
  const qi_tensor *ot = &g->tensors[n->out[0]];
  ob.dtype = ot->dtype;
  ob.shape = ot->shape;
  *oshape = ot->shape;
  int64_t numel = qi_shape_numel(&ot->shape);
  ob.data = *out = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
  if (alias_in >= 0) {
    memcpy(*out, act[alias_in], sizeof(float) * (size_t)numel);
    in[alias_in].data = *out;
  }
  qi_run_ctx ctx = {pool, nth, scratch, sb, err};
  qi_status st = op->run(&ctx, n, in, &ob);
  free(scratch);
  return st;
}

#endif
