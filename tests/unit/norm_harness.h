/*
 * Harness of the normalization / pooling / softmax / reduction op tests:
 * one-node graphs run through infer and run the way the session does, a
 * deterministic generator, error measures, and the float64 pooling
 * reference (brute force over every kernel tap). Header-only (static
 * inline), shared by tests/unit/test_ops_norm.c and test_ops_pool_fast.c.
 *
 * tc_run runs a case twice and fails it unless the two agree bit for bit:
 * single-threaded without scratch (ops fall back to their own buffers), and
 * on a TEST_THREADS pool with exactly op->scratch_bytes of scratch placed
 * against a guard page.
 */
#ifndef NORM_HARNESS_H
#define NORM_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "guard.h"
#include "ops/op.h"
#include "qtest.h"

/* Relative error of one element: |got - ref| / max(|ref|, REL_FLOOR * max|ref|);
 * the floor keeps results that cancel to near zero from dividing by ~0. */
#define TOL_MAX_REL 1e-5
#define REL_FLOOR 1e-2
#define TEST_THREADS 3

#define QI_OP(sym) extern const qi_op_def sym;
#include "ops/op_list_norm.h"
#undef QI_OP
static const qi_op_def *const norm_ops[] = {
#define QI_OP(sym) &sym,
#include "ops/op_list_norm.h"
#undef QI_OP
};

static inline const qi_op_def *find_op(const char *type) {
  for (size_t i = 0; i < sizeof norm_ops / sizeof norm_ops[0]; i++)
    if (strcmp(norm_ops[i]->op_type, type) == 0) return norm_ops[i];
  return NULL;
}

/* ---- small deterministic generator -------------------------------------- */

typedef struct rng {
  uint64_t s;
} rng;

static inline double rng_u(rng *r) {
  r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
  return (double)(r->s >> 11) / 9007199254740992.0;
}

static inline float *rand_f(rng *r, int64_t n, double lo, double hi) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = (float)(lo + (hi - lo) * rng_u(r));
  return p;
}

static inline int64_t numel_of(int rank, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= d[i];
  return n;
}

static inline qi_shape mk_shape(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

/* ---- one-node graph harness --------------------------------------------- */

typedef struct tcase {
  qi_graph *g;
  int node;
  const qi_op_def *op;
  qi_buf in[6];
  qi_buf out[3];
  qi_error err;
} tcase;

static inline qi_node *tc_node(tcase *t) { return &t->g->nodes[t->node]; }

static inline void tc_init(tcase *t, const char *op, int nin, int nout,
                    int64_t opset) {
  memset(t, 0, sizeof *t);
  t->g = qi_graph_create();
  t->g->opset = opset;
  t->node = qi_graph_add_node(t->g, "node_under_test", op, "", nin, nout);
  t->op = find_op(op);
  for (int k = 0; k < nout; k++) {
    char name[16];
    snprintf(name, sizeof name, "out%d", k);
    tc_node(t)->out[k] = qi_graph_add_tensor(t->g, name, QI_FLOAT32);
  }
}

/* Binds input k; constant inputs get a copy of `data` in the graph. */
static inline void tc_input(tcase *t, int k, qi_dtype dt, int rank, const int64_t *d,
                     void *data, int is_const) {
  char name[16];
  snprintf(name, sizeof name, "in%d", k);
  int ti = qi_graph_add_tensor(t->g, name, dt);
  qi_tensor *tt = &t->g->tensors[ti];
  tt->shape = mk_shape(rank, d);
  if (is_const) {
    size_t nb = (size_t)numel_of(rank, d) * qi_dtype_size(dt);
    void *copy = malloc(nb ? nb : 1);
    memcpy(copy, data, nb);
    qi_tensor_set_const(tt, copy, nb);
  }
  tc_node(t)->in[k] = ti;
  t->in[k].dtype = dt;
  t->in[k].shape = tt->shape;
  t->in[k].data = data;
}

static inline void tc_drop_output(tcase *t, int k) { tc_node(t)->out[k] = -1; }

static inline void attr_i(tcase *t, const char *name, int64_t v) {
  qi_node_add_attr(tc_node(t), name, QI_ATTR_INT)->i = v;
}

static inline void attr_f(tcase *t, const char *name, float v) {
  qi_node_add_attr(tc_node(t), name, QI_ATTR_FLOAT)->f = v;
}

static inline void attr_s(tcase *t, const char *name, const char *v) {
  qi_attr *a = qi_node_add_attr(tc_node(t), name, QI_ATTR_STRING);
  a->s = strdup(v);
}

static inline void attr_ints(tcase *t, const char *name, const int64_t *v, int n) {
  qi_attr *a = qi_node_add_attr(tc_node(t), name, QI_ATTR_INTS);
  a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  a->n = n;
}

static inline qi_status tc_infer(tcase *t) {
  return t->op->infer(t->g, tc_node(t), &t->err);
}

/* Runs infer, then run once on `pool` (may be NULL), allocating outputs;
 * with `scratch`, passes exactly op->scratch_bytes of scratch that ends
 * against a guard page (without, ops that want scratch use their own). */
static inline qi_status tc_run_on(tcase *t, qi_pool *pool, int scratch) {
  qi_node *n = tc_node(t);
  qi_status st = tc_infer(t);
  if (st != QI_OK) return st;
  for (int k = 0; k < n->nout; k++) {
    free(t->out[k].data);
    t->out[k].data = NULL;
    t->out[k].dtype = QI_UNDEFINED;
    if (n->out[k] < 0) continue;
    qi_tensor *o = &t->g->tensors[n->out[k]];
    int64_t cnt = qi_shape_numel(&o->shape);
    t->out[k].dtype = o->dtype;
    t->out[k].shape = o->shape;
    t->out[k].data = malloc(sizeof(float) * (size_t)(cnt > 0 ? cnt : 1));
    for (int64_t i = 0; i < cnt; i++) ((float *)t->out[k].data)[i] = -12345.0f;
  }
  qi_run_ctx ctx = {.pool = pool, .nthreads = qi_pool_size(pool), .err = &t->err};
  qt_guard guard = {0};
  if (scratch && t->op->scratch_bytes) {
    ctx.scratch_bytes = t->op->scratch_bytes(t->g, n, ctx.nthreads);
    ctx.scratch = ctx.scratch_bytes ? qt_guard_after(&guard, ctx.scratch_bytes) : NULL;
    if (ctx.scratch_bytes && !ctx.scratch) return QI_ERR_NOMEM;
  }
  qi_status s = t->op->run(&ctx, n, t->in, t->out);
  qt_guard_free(&guard);
  return s;
}

/* Runs single-threaded without scratch and on a pool with scratch; fails
 * the case if they differ. */
static inline qi_status tc_run(qt_state *st, tcase *t) {
  qi_node *n = tc_node(t);
  qi_status s = tc_run_on(t, NULL, 0);
  if (s != QI_OK) return s;
  float *first[3] = {0};
  for (int k = 0; k < n->nout; k++) {
    first[k] = t->out[k].data;
    t->out[k].data = NULL;
  }
  qi_pool *pool = qi_pool_create(TEST_THREADS);
  s = tc_run_on(t, pool, 1);
  qi_pool_free(pool);
  for (int k = 0; k < n->nout && s == QI_OK; k++) {
    if (!first[k]) continue;
    int64_t cnt = qi_shape_numel(&t->out[k].shape);
    QT_CHECKF(st, memcmp(first[k], t->out[k].data, sizeof(float) * (size_t)cnt) == 0,
              "output %d differs between 1 and %d threads", k, TEST_THREADS);
  }
  for (int k = 0; k < 3; k++) free(first[k]);
  return s;
}

static inline void tc_free(tcase *t) {
  for (int k = 0; k < 3; k++) free(t->out[k].data);
  qi_graph_free(t->g);
}

static inline const float *tc_out(const tcase *t, int k) { return t->out[k].data; }

/* Max relative error (see TOL_MAX_REL); NaN and inf must match exactly. */
static inline double max_rel_err(const float *got, const double *ref, int64_t n) {
  double scale = 0.0, worst = 0.0;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(ref[i]) && fabs(ref[i]) > scale) scale = fabs(ref[i]);
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(ref[i]) || !isfinite(got[i])) {
      int same = (isnan(ref[i]) && isnan(got[i])) || (double)got[i] == ref[i];
      if (!same) return INFINITY;
      continue;
    }
    double den = fabs(ref[i]) > REL_FLOOR * scale ? fabs(ref[i]) : REL_FLOOR * scale;
    double e = den > 0 ? fabs(got[i] - ref[i]) / den : fabs(got[i] - ref[i]);
    if (e > worst) worst = e;
  }
  return worst;
}

static inline int exact_equal(const float *got, const double *ref, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!((double)got[i] == ref[i] || (isnan(got[i]) && isnan(ref[i])))) return 0;
  return 1;
}

static inline int shape_is(const qi_shape *s, int rank, const int64_t *d) {
  if (s->rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (s->d[i] != d[i]) return 0;
  return 1;
}

static inline const qi_shape *out_shape(const tcase *t, int k) {
  return &t->g->tensors[t->g->nodes[t->node].out[k]].shape;
}

/* Unravels a linear index into idx[0..rank). */
static inline void unravel(int64_t lin, int rank, const int64_t *d, int64_t *idx) {
  for (int i = rank - 1; i >= 0; i--) {
    idx[i] = lin % d[i];
    lin /= d[i];
  }
}


/* ======================================================================== */
/* Pooling                                                                  */

typedef struct pool_cfg {
  int sr;
  int64_t k[3], s[3], dil[3], pads[6];
  const char *auto_pad; /* NULL: attribute absent (NOTSET) */
  int ceil_mode, count_pad, set_strides, set_dil, set_pads;
} pool_cfg;

/* Output size and pads per dim from the ONNX formulas, as the spec words
 * them; windows that would start past input + left pad are dropped. */
static inline void pool_ref_geom(const pool_cfg *c, const int64_t *in, int64_t *out,
                          int64_t *pb, int64_t *pe) {
  for (int i = 0; i < c->sr; i++) {
    int64_t dk = (c->k[i] - 1) * c->dil[i] + 1, s = c->s[i];
    const char *ap = c->auto_pad ? c->auto_pad : "NOTSET";
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
      out[i] = (int64_t)ceil((double)in[i] / (double)s);
      int64_t tot = (out[i] - 1) * s + dk - in[i];
      if (tot < 0) tot = 0;
      pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
      pe[i] = tot - pb[i];
      continue;
    }
    int valid = !strcmp(ap, "VALID");
    pb[i] = valid ? 0 : c->pads[i];
    pe[i] = valid ? 0 : c->pads[c->sr + i];
    double o = (double)(in[i] + pb[i] + pe[i] - dk) / (double)s + 1.0;
    out[i] = (int64_t)(c->ceil_mode ? ceil(o) : floor(o));
    if (c->ceil_mode && (out[i] - 1) * s >= in[i] + pb[i]) out[i]--;
  }
}

/* Brute force: visits every kernel tap of every window. */
static inline void pool_ref(const pool_cfg *c, int is_max, const float *x,
                     const int64_t *xd, double *y) {
  int sr = c->sr;
  int64_t out[3], pb[3], pe[3];
  pool_ref_geom(c, xd + 2, out, pb, pe);
  int64_t planes = xd[0] * xd[1], ip = numel_of(sr, xd + 2), op = numel_of(sr, out);
  int64_t ktot = numel_of(sr, c->k), oi[3], ki[3];
  for (int64_t p = 0; p < planes; p++)
    for (int64_t o = 0; o < op; o++) {
      unravel(o, sr, out, oi);
      double m = -INFINITY, sum = 0;
      int64_t nvalid = 0, npad = 0;
      for (int64_t kk = 0; kk < ktot; kk++) {
        unravel(kk, sr, c->k, ki);
        int inside = 1, in_pad = 1;
        int64_t off = 0;
        for (int i = 0; i < sr; i++) {
          int64_t pos = oi[i] * c->s[i] - pb[i] + ki[i] * c->dil[i];
          if (pos < 0 || pos >= xd[2 + i]) inside = 0;
          if (pos < -pb[i] || pos >= xd[2 + i] + pe[i]) in_pad = 0;
          off = off * xd[2 + i] + pos;
        }
        npad += in_pad;
        if (!inside) continue;
        double v = x[p * ip + off];
        m = fmax(m, v);
        sum += v;
        nvalid++;
      }
      y[p * op + o] = is_max ? m : sum / (double)(c->count_pad ? npad : nvalid);
    }
}

/* Runs one pool config; returns the output dims through od (may be NULL). */
static inline void check_pool(qt_state *st, const char *op, const pool_cfg *c,
                       const int64_t *xd, int64_t *od) {
  int rank = c->sr + 2;
  rng r = {(uint64_t)(xd[2] * 97 + c->k[0] * 13 + c->s[0] * 5 + c->ceil_mode)};
  int64_t n = numel_of(rank, xd);
  float *x = rand_f(&r, n, -4, 4);
  tcase t;
  tc_init(&t, op, 1, 1, 19);
  tc_input(&t, 0, QI_FLOAT32, rank, xd, x, 0);
  attr_ints(&t, "kernel_shape", c->k, c->sr);
  if (c->set_strides) attr_ints(&t, "strides", c->s, c->sr);
  if (c->set_dil) attr_ints(&t, "dilations", c->dil, c->sr);
  if (c->set_pads) attr_ints(&t, "pads", c->pads, 2 * c->sr);
  if (c->auto_pad) attr_s(&t, "auto_pad", c->auto_pad);
  if (c->ceil_mode) attr_i(&t, "ceil_mode", 1);
  if (c->count_pad) attr_i(&t, "count_include_pad", 1);
  if (!strcmp(op, "MaxPool")) attr_i(&t, "storage_order", 0);
  qi_status s = tc_run(st, &t);
  QT_CHECKF(st, s == QI_OK, "%s", t.err.message);
  int64_t out[3], pb[3], pe[3], want[5] = {xd[0], xd[1]};
  pool_ref_geom(c, xd + 2, out, pb, pe);
  for (int i = 0; i < c->sr; i++) want[2 + i] = out[i];
  if (od)
    for (int i = 0; i < rank; i++) od[i] = out_shape(&t, 0)->d[i];
  if (s == QI_OK) {
    QT_CHECKF(st, shape_is(out_shape(&t, 0), rank, want),
              "%s k%lld s%lld ceil %d: output shape", op, (long long)c->k[0],
              (long long)c->s[0], c->ceil_mode);
    int64_t nout = numel_of(rank, want);
    double *ref = malloc(sizeof(double) * (size_t)nout);
    int is_max = !strcmp(op, "MaxPool");
    pool_ref(c, is_max, x, xd, ref);
    if (shape_is(out_shape(&t, 0), rank, want)) {
      if (is_max) {
        QT_CHECKF(st, exact_equal(tc_out(&t, 0), ref, nout),
                  "MaxPool k%lld s%lld d%lld: not exact", (long long)c->k[0],
                  (long long)c->s[0], (long long)c->dil[0]);
      } else {
        double e = max_rel_err(tc_out(&t, 0), ref, nout);
        QT_CHECKF(st, e <= TOL_MAX_REL,
                  "AveragePool k%lld s%lld d%lld cip %d: max rel err %g",
                  (long long)c->k[0], (long long)c->s[0], (long long)c->dil[0],
                  c->count_pad, e);
      }
    }
    free(ref);
  }
  free(x);
  tc_free(&t);
}

static inline pool_cfg cfg2d(int64_t k, int64_t s, int64_t dil, const int64_t *pads) {
  pool_cfg c = {.sr = 2, .k = {k, k}, .s = {s, s}, .dil = {dil, dil},
                .set_strides = s != 1, .set_dil = dil != 1, .set_pads = pads != NULL};
  if (pads) memcpy(c.pads, pads, sizeof(int64_t) * 4);
  return c;
}


#endif
