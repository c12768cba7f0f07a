/*
 * One-node graphs for the operator tests of the INT8 ops (test_qops_*.c):
 * quantized inputs against guard pages, the node under test with its
 * output quantization. Running and comparing stay in each test, which
 * know their own input kinds and references.
 */
#ifndef TEST_QOPS_CASE_H
#define TEST_QOPS_CASE_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "graph/graph.h"
#include "guard.h"

#ifndef QO_MAX_IN
#define QO_MAX_IN 4
#endif

typedef struct qo_case {
  qi_graph *g;
  int node, out, nin;
  int in[QO_MAX_IN];
  qt_guard guard[QO_MAX_IN];
  void *data[QO_MAX_IN]; /* input k's values (uint8 or float constants) */
  qi_error err;
} qo_case;

static inline void qo_begin(qo_case *c) {
  memset(c, 0, sizeof *c);
  c->g = qi_graph_create();
  c->node = -1;
}

static inline void qo_end(qo_case *c) {
  for (int k = 0; k < c->nin; k++) qt_guard_free(&c->guard[k]);
  qi_graph_free(c->g);
}

static inline qi_shape qo_shape(int rank, const int64_t *d) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}

static inline void qo_set_quant(qi_tensor *t, double scale, int zp) {
  t->quant.has = 1;
  t->quant.scale = (float)scale;
  t->quant.zero_point = zp;
  t->quant.axis = -1;
}

/* A uint8 input of the given shape and grid whose bytes sit right before
 * a guard page; the caller fills them (NULL if the guard could not be
 * mapped). */
static inline uint8_t *qo_u8_input(qo_case *c, int rank, const int64_t *d,
                                   double scale, int zp) {
  char name[16];
  snprintf(name, sizeof name, "x%d", c->nin);
  int t = qi_graph_add_tensor(c->g, name, QI_UINT8);
  c->g->tensors[t].shape = qo_shape(rank, d);
  qo_set_quant(&c->g->tensors[t], scale, zp);
  size_t n = (size_t)qi_shape_numel(&c->g->tensors[t].shape);
  uint8_t *p = qt_guard_after(&c->guard[c->nin], n);
  c->data[c->nin] = p;
  c->in[c->nin++] = t;
  return p;
}

/* The uint8 values of input k. */
static inline uint8_t *qo_u8(const qo_case *c, int k) { return c->data[k]; }

/* The node over all inputs so far, output "y" with the given quant. */
static inline qi_node *qo_node(qo_case *c, const char *op, double sy, int zy) {
  c->node = qi_graph_add_node(c->g, "node_under_test", op, "qinfer", c->nin, 1);
  qi_node *n = &c->g->nodes[c->node];
  for (int k = 0; k < c->nin; k++) n->in[k] = c->in[k];
  c->out = qi_graph_add_tensor(c->g, "y", QI_UNDEFINED);
  qo_set_quant(&c->g->tensors[c->out], sy, zy);
  n->out[0] = c->out;
  return n;
}

#endif
