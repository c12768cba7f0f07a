/*
 * Building FP32 graphs by hand in the unit tests (test_passes_graph.h,
 * test_quant_lower_graphs.h): shapes, constant tensors and node attributes.
 */
#ifndef TEST_GRAPH_BUILD_UTIL_H
#define TEST_GRAPH_BUILD_UTIL_H

#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"

static inline qi_shape mk_shape(const int64_t *d, int rank) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}
/* SH(2, 3, 4): the shape [2, 3, 4]. */
#define SH(...)                                     \
  mk_shape((const int64_t[]){__VA_ARGS__},          \
           (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
/* IDX(a, b): a list of tensor indices and its length, as two arguments. */
#define IDX(...) (const int[]){__VA_ARGS__}, \
                 (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* A float32 constant of shape s holding a copy of v. */
static inline int const_f32(qi_graph *g, const char *name, qi_shape s,
                            const float *v) {
  int t = qi_graph_add_tensor(g, name, QI_FLOAT32);
  g->tensors[t].shape = s;
  size_t n = (size_t)qi_shape_numel(&s);
  float *d = malloc(sizeof(float) * (n ? n : 1));
  if (n) memcpy(d, v, sizeof(float) * n);
  qi_tensor_set_const(&g->tensors[t], d, sizeof(float) * n);
  return t;
}

static inline void attr_i(qi_graph *g, int n, const char *name, int64_t v) {
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_INT)->i = v;
}
static inline void attr_f(qi_graph *g, int n, const char *name, float v) {
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_FLOAT)->f = v;
}
static inline void attr_s(qi_graph *g, int n, const char *name,
                          const char *v) {
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_STRING)->s = strdup(v);
}
/* attr_ints(g, n, "pads", 4, 1, 1, 1, 1): `cnt` int values. */
static inline void attr_ints(qi_graph *g, int n, const char *name, int cnt,
                             ...) {
  qi_attr *a = qi_node_add_attr(&g->nodes[n], name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)cnt);
  va_list ap;
  va_start(ap, cnt);
  for (int i = 0; i < cnt; i++) a->ints[i] = va_arg(ap, int);
  va_end(ap);
}

#endif
