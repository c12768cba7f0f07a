/*
 * Test harness for the tensor-manipulation ops: builds a one-node qi_graph,
 * runs op->infer, then op->run on freshly allocated output buffers, the way
 * the session and the constant folder do. Ops are found through
 * ops/op_list_tensor.h, which checks that list as well. Header-only: each
 * tests/unit/test_*.c is its own program.
 */
#ifndef TENSOR_OP_HARNESS_H
#define TENSOR_OP_HARNESS_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "graph/graph.h"
#include "ops/op.h"

#define QI_OP(sym) extern const qi_op_def sym;
#include "ops/op_list_tensor.h"
#undef QI_OP

static const qi_op_def *const th_ops[] = {
#define QI_OP(sym) &sym,
#include "ops/op_list_tensor.h"
#undef QI_OP
    NULL};

static inline const qi_op_def *th_lookup(const char *op_type) {
  for (int i = 0; th_ops[i]; i++)
    if (strcmp(th_ops[i]->op_type, op_type) == 0) return th_ops[i];
  return NULL;
}

/* Deterministic generator for test data. */
static uint64_t th_rng_state = 0x9E3779B97F4A7C15ull;
static inline uint32_t th_rand(void) {
  th_rng_state = th_rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(th_rng_state >> 33);
}
static inline float th_randf(void) { /* [-1, 1) */
  return (float)th_rand() / 2147483648.0f - 1.0f;
}

static inline qi_graph *th_graph(int64_t opset) {
  qi_graph *g = qi_graph_create();
  if (g) g->opset = opset;
  return g;
}

static inline qi_shape th_shape(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

/* An activation (graph input) of known shape. */
static inline int th_act(qi_graph *g, const char *name, qi_dtype dt, int rank,
                         const int64_t *d) {
  int t = qi_graph_add_tensor(g, name, dt);
  if (t >= 0) g->tensors[t].shape = th_shape(rank, d);
  return t;
}

/* A constant; the data is copied. */
static inline int th_const(qi_graph *g, const char *name, qi_dtype dt, int rank,
                           const int64_t *d, const void *data) {
  int t = qi_graph_add_tensor(g, name, dt);
  if (t < 0) return t;
  g->tensors[t].shape = th_shape(rank, d);
  size_t bytes =
      (size_t)qi_shape_numel(&g->tensors[t].shape) * qi_dtype_size(dt);
  void *p = malloc(bytes ? bytes : 1);
  if (bytes && data) memcpy(p, data, bytes);
  qi_tensor_set_const(&g->tensors[t], p, bytes);
  return t;
}

static inline int th_const_i64(qi_graph *g, const char *name, int n,
                               const int64_t *v) {
  int64_t d[1] = {n};
  return th_const(g, name, QI_INT64, 1, d, v);
}

/* A node reading ins[0..nin) (-1: absent) and writing nout fresh tensors
 * named "<name>:<k>". Returns the node index. */
static inline int th_node(qi_graph *g, const char *op, int nin, const int *ins,
                          int nout) {
  int ni = qi_graph_add_node(g, op, op, "", nin, nout);
  if (ni < 0) return ni;
  for (int k = 0; k < nin; k++) g->nodes[ni].in[k] = ins[k];
  for (int k = 0; k < nout; k++) {
    char name[64];
    snprintf(name, sizeof name, "%s:%d", op, k);
    int t = qi_graph_add_tensor(g, name, QI_UNDEFINED);
    g->nodes[ni].out[k] = t;
  }
  return ni;
}

static inline void th_attr_int(qi_graph *g, int ni, const char *name,
                               int64_t v) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_INT);
  a->i = v;
}

static inline void th_attr_float(qi_graph *g, int ni, const char *name,
                                 float v) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_FLOAT);
  a->f = v;
}

static inline void th_attr_str(qi_graph *g, int ni, const char *name,
                               const char *v) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_STRING);
  a->s = malloc(strlen(v) + 1);
  strcpy(a->s, v);
}

static inline void th_attr_ints(qi_graph *g, int ni, const char *name, int n,
                                const int64_t *v) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_INTS);
  a->n = n;
  a->ints = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  if (n) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
}

static inline void th_attr_floats(qi_graph *g, int ni, const char *name, int n,
                                  const float *v) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_FLOATS);
  a->n = n;
  a->floats = malloc(sizeof(float) * (size_t)(n ? n : 1));
  if (n) memcpy(a->floats, v, sizeof(float) * (size_t)n);
}

/* A one-element tensor attribute (ConstantOfShape's value). */
static inline void th_attr_tensor(qi_graph *g, int ni, const char *name,
                                  qi_dtype dt, const void *value) {
  qi_attr *a = qi_node_add_attr(&g->nodes[ni], name, QI_ATTR_TENSOR);
  a->t = calloc(1, sizeof(qi_tensor));
  a->t->dtype = dt;
  a->t->shape.rank = 1;
  a->t->shape.d[0] = 1;
  a->t->nbytes = qi_dtype_size(dt);
  a->t->data = malloc(a->t->nbytes);
  memcpy(a->t->data, value, a->t->nbytes);
  a->t->kind = QI_TK_CONST;
  a->t->producer = -1;
}

/* Outputs of one run; buffers owned here, freed by th_done. */
typedef struct th_out {
  int n;
  qi_buf buf[8];
  qi_error err;
} th_out;

static inline void th_done(th_out *o) {
  for (int k = 0; k < o->n; k++) free(o->buf[k].data);
  o->n = 0;
}

/* Runs infer and run of node ni. act[k] holds the data of activation input
 * k (constants are read from the graph). */
static inline qi_status th_run_pool(qi_graph *g, int ni, void *const *act,
                                    th_out *o, qi_pool *pool) {
  memset(o, 0, sizeof *o);
  qi_node *n = &g->nodes[ni];
  const qi_op_def *op = th_lookup(n->op_type);
  if (!op) return qi_fail(&o->err, QI_ERR_UNSUPPORTED, "no op %s", n->op_type);
  n->op = op;
  if (op->check) {
    qi_status st = op->check(g, n, &o->err);
    if (st != QI_OK) return st;
  }
  qi_status st = op->infer(g, n, &o->err);
  if (st != QI_OK) return st;
  qi_buf in[16];
  memset(in, 0, sizeof in);
  for (int k = 0; k < n->nin && k < 16; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->kind == QI_TK_CONST ? t->data : act[k];
  }
  o->n = n->nout;
  for (int k = 0; k < n->nout; k++) {
    const qi_tensor *t = &g->tensors[n->out[k]];
    size_t bytes = (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
    o->buf[k].dtype = t->dtype;
    o->buf[k].shape = t->shape;
    o->buf[k].data = malloc(bytes ? bytes : 1);
    memset(o->buf[k].data, 0xA5, bytes ? bytes : 1); /* catch unwritten */
  }
  size_t sb =
      op->scratch_bytes ? op->scratch_bytes(g, n, qi_pool_size(pool)) : 0;
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  qi_run_ctx ctx = {.pool = pool,
                    .nthreads = qi_pool_size(pool),
                    .scratch = scratch,
                    .scratch_bytes = sb,
                    .err = &o->err};
  st = op->run(&ctx, n, in, o->buf);
  free(scratch);
  return st;
}

static inline qi_status th_run(qi_graph *g, int ni, void *const *act,
                               th_out *o) {
  return th_run_pool(g, ni, act, o, NULL);
}

/* 1 if `op` refuses a non-constant input `dyn` (an int64 [1] activation)
 * with the standard message; the other inputs are a float [2, 3] data
 * tensor at 0 and int64 constants [1]. */
static inline int th_rejects_dynamic(const char *op, int64_t opset, int nin,
                                     int dyn) {
  qi_graph *g = th_graph(opset);
  int64_t d[2] = {2, 3}, one[1] = {1};
  int ins[8];
  for (int k = 0; k < nin; k++)
    ins[k] = k == dyn ? th_act(g, "dyn", QI_INT64, 1, one)
             : k == 0 ? th_act(g, "x", QI_FLOAT32, 2, d)
                      : th_const_i64(g, "c", 1, one);
  int ni = th_node(g, op, nin, ins, 1);
  th_out o;
  void *act[8] = {NULL};
  int ok = th_run(g, ni, act, &o) == QI_ERR_UNSUPPORTED &&
           strstr(o.err.message,
                  "'dyn' is not constant; qinfer needs static "
                  "shapes") &&
           strstr(o.err.message, op);
  th_done(&o);
  qi_graph_free(g);
  return ok;
}

/* Output dims of the node as inferred. */
static inline int th_shape_is(const qi_buf *b, int rank, const int64_t *d) {
  if (b->shape.rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (b->shape.d[i] != d[i]) return 0;
  return 1;
}

/* Row-major strides and index helpers for references. */
static inline void th_strides(int rank, const int64_t *d, int64_t *st) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    st[i] = s;
    s *= d[i];
  }
}

static inline void th_unravel(int64_t i, int rank, const int64_t *d,
                              int64_t *c) {
  for (int a = rank - 1; a >= 0; a--) {
    c[a] = d[a] ? i % d[a] : 0;
    i = d[a] ? i / d[a] : 0;
  }
}

static inline int64_t th_numel(int rank, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= d[i];
  return n;
}

#endif
