/*
 * Harness for the element-wise op tests: builds a one-node qi_graph, runs
 * check, infer and run the way the session and the constant folder do (ops
 * found through qi_op_lookup, so registration is tested too), with every
 * activation input and the output placed against a PROT_NONE guard page so
 * an over-read or over-write past the end faults. Header-only: each
 * tests/unit/test_*.c is its own program.
 */
#ifndef ELTWISE_HARNESS_H
#define ELTWISE_HARNESS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/pool.h"
#include "graph/graph.h"
#include "guard.h"
#include "ops/op.h"

#define EH_MAX_IN 8

typedef struct eh_case {
  qi_graph *g;
  int node;
  int nin;
  void *data[EH_MAX_IN]; /* activation data, in guarded copies */
  qt_guard guard[EH_MAX_IN + 1];
  qi_buf out; /* the output, valid after eh_run */
  qi_error err;
} eh_case;

/* Deterministic generator for test data. */
static uint64_t eh_rng_state = 0x2545F4914F6CDD1Dull;
static inline uint32_t eh_rand(void) {
  eh_rng_state = eh_rng_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(eh_rng_state >> 32);
}
/* Uniform in [lo, hi). */
static inline float eh_uniform(float lo, float hi) {
  return lo + (hi - lo) * (float)(eh_rand() >> 8) * (1.0f / 16777216.0f);
}
static inline float eh_bits_to_float(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

static inline void eh_begin(eh_case *c, const char *op_type, int64_t opset,
                            int nin) {
  memset(c, 0, sizeof *c);
  c->g = qi_graph_create();
  c->g->opset = opset;
  c->nin = nin;
  c->node = qi_graph_add_node(c->g, "n0", op_type, "", nin, 1);
  int t = qi_graph_add_tensor(c->g, "y", QI_UNDEFINED);
  c->g->nodes[c->node].out[0] = t;
}

static inline qi_shape eh_shape(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

static inline size_t eh_bytes(qi_dtype dt, int rank, const int64_t *d) {
  qi_shape s = eh_shape(rank, d);
  return (size_t)qi_shape_numel(&s) * qi_dtype_size(dt);
}

/* Input k: an activation whose data (copied, guarded) is read at run. */
static inline void eh_input(eh_case *c, int k, qi_dtype dt, int rank,
                            const int64_t *d, const void *data) {
  char name[16];
  snprintf(name, sizeof name, "x%d", k);
  int t = qi_graph_add_tensor(c->g, name, dt);
  c->g->tensors[t].shape = eh_shape(rank, d);
  c->g->nodes[c->node].in[k] = t;
  size_t bytes = eh_bytes(dt, rank, d);
  c->data[k] = qt_guard_after(&c->guard[k], bytes);
  if (bytes) memcpy(c->data[k], data, bytes);
}

/* Input k: a constant of the graph (the folder's and Clip's case). */
static inline void eh_const(eh_case *c, int k, qi_dtype dt, int rank,
                            const int64_t *d, const void *data) {
  char name[16];
  snprintf(name, sizeof name, "c%d", k);
  int t = qi_graph_add_tensor(c->g, name, dt);
  c->g->tensors[t].shape = eh_shape(rank, d);
  size_t bytes = eh_bytes(dt, rank, d);
  void *p = malloc(bytes ? bytes : 1);
  if (bytes) memcpy(p, data, bytes);
  qi_tensor_set_const(&c->g->tensors[t], p, bytes);
  c->g->nodes[c->node].in[k] = t;
}

static inline void eh_attr_float(eh_case *c, const char *name, float v) {
  qi_node_add_attr(&c->g->nodes[c->node], name, QI_ATTR_FLOAT)->f = v;
}
static inline void eh_attr_int(eh_case *c, const char *name, int64_t v) {
  qi_node_add_attr(&c->g->nodes[c->node], name, QI_ATTR_INT)->i = v;
}
static inline void eh_attr_str(eh_case *c, const char *name, const char *v) {
  qi_attr *a = qi_node_add_attr(&c->g->nodes[c->node], name, QI_ATTR_STRING);
  a->s = malloc(strlen(v) + 1);
  strcpy(a->s, v);
}

/* check + infer + run; the output buffer ends against a guard page and is
 * filled with a pattern first, so unwritten elements show. */
static inline qi_status eh_run(eh_case *c, qi_pool *pool) {
  qi_node *n = &c->g->nodes[c->node];
  const qi_op_def *op = qi_op_lookup(n->domain, n->op_type);
  if (!op) return qi_fail(&c->err, QI_ERR_UNSUPPORTED, "no op %s", n->op_type);
  n->op = op;
  qi_status st = op->check ? op->check(c->g, n, &c->err) : QI_OK;
  if (st == QI_OK) st = op->infer(c->g, n, &c->err);
  if (st != QI_OK) return st;
  qi_buf in[EH_MAX_IN];
  memset(in, 0, sizeof in);
  for (int k = 0; k < c->nin; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &c->g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->kind == QI_TK_CONST ? t->data : c->data[k];
  }
  const qi_tensor *ot = &c->g->tensors[n->out[0]];
  size_t bytes = (size_t)qi_shape_numel(&ot->shape) * qi_dtype_size(ot->dtype);
  c->out.dtype = ot->dtype;
  c->out.shape = ot->shape;
  c->out.data = qt_guard_after(&c->guard[EH_MAX_IN], bytes);
  memset(c->out.data, 0xA5, bytes);
  size_t sb =
      op->scratch_bytes ? op->scratch_bytes(c->g, n, qi_pool_size(pool)) : 0;
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  qi_run_ctx ctx = {.pool = pool,
                    .nthreads = qi_pool_size(pool),
                    .scratch = scratch,
                    .scratch_bytes = sb,
                    .err = &c->err};
  st = op->run(&ctx, n, in, &c->out);
  free(scratch);
  return st;
}

static inline void eh_end(eh_case *c) {
  for (int k = 0; k <= EH_MAX_IN; k++) qt_guard_free(&c->guard[k]);
  qi_graph_free(c->g);
  memset(c, 0, sizeof *c);
}

static inline int eh_shape_is(const qi_buf *b, int rank, const int64_t *d) {
  if (b->shape.rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (b->shape.d[i] != d[i]) return 0;
  return 1;
}

/* Flat index into an input of shape (rank, d) for output coordinate c of
 * an output of rank `orank` (numpy broadcasting: align right, size-1 dims
 * repeat). The references use this, not the plan under test. */
static inline int64_t eh_bcast_index(const int64_t *c, int orank, int rank,
                                     const int64_t *d) {
  int64_t idx = 0;
  for (int i = 0; i < rank; i++) {
    int64_t ci = c[orank - rank + i];
    idx = idx * d[i] + (d[i] == 1 ? 0 : ci);
  }
  return idx;
}

static inline void eh_unravel(int64_t i, int rank, const int64_t *d,
                              int64_t *c) {
  for (int a = rank - 1; a >= 0; a--) {
    c[a] = d[a] ? i % d[a] : 0;
    i = d[a] ? i / d[a] : 0;
  }
}

/* Bitwise float equality that also calls any two NaNs equal. */
static inline int eh_same_float(float a, float b) {
  if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
  return memcmp(&a, &b, sizeof a) == 0;
}

/* |got - ref| <= rel*|ref| + abs_x*|x| + abs, with NaN only against NaN and
 * infinities only against the same infinity. */
static inline int eh_close(float got, double ref, double x, double rel,
                           double abs_x, double abs) {
  if (isnan(ref)) return isnan(got);
  if (isnan(got)) return 0;
  if (isinf(ref) || isinf(got)) {
    /* A reference beyond FLT_MAX rounds to infinity. */
    return (double)got == ref ||
           (isinf(got) && fabs(ref) > 3.4028234e38 && (got > 0) == (ref > 0));
  }
  double tol = rel * fabs(ref) + abs;
  if (abs_x > 0) tol += abs_x * fabs(x);
  return fabs((double)got - ref) <= tol;
}

#endif
