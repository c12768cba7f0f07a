/* Helpers of the .qnf tests and fuzz target: a field-by-field graph
 * comparison (bitwise for floats and data), a small graph that uses every
 * field the format stores, and file reading. */
#ifndef QNF_TEST_UTIL_H
#define QNF_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "qnf/qnf_internal.h"

static inline int qnf_str_eq(const char *a, const char *b) {
  return a && b ? strcmp(a, b) == 0 : a == b;
}

#define QNF_DIFF(...)                \
  do {                               \
    snprintf(why, len, __VA_ARGS__); \
    return 0;                        \
  } while (0)

/* 1 if equal; else 0 with the first difference in why. */
static inline int qnf_tensor_eq(const qi_tensor *a, const qi_tensor *b,
                                char *why, size_t len) {
  if (!qnf_str_eq(a->name, b->name)) QNF_DIFF("names differ");
  if (a->dtype != b->dtype) QNF_DIFF("dtype %d vs %d", a->dtype, b->dtype);
  if (a->kind != b->kind) QNF_DIFF("kind differs");
  if (a->shape.rank != b->shape.rank) QNF_DIFF("rank differs");
  for (int i = 0; i < a->shape.rank; i++)
    if (a->shape.d[i] != b->shape.d[i]) QNF_DIFF("dim %d differs", i);
  if (a->nbytes != b->nbytes)
    QNF_DIFF("nbytes %zu vs %zu", a->nbytes, b->nbytes);
  if (!a->data != !b->data) QNF_DIFF("data presence differs");
  if (a->data && a->nbytes && memcmp(a->data, b->data, a->nbytes))
    QNF_DIFF("data bytes differ");
  if (b->borrowed) QNF_DIFF("read tensor is borrowed");
  const qi_quant *p = &a->quant, *q = &b->quant;
  if (!p->has != !q->has || p->zero_point != q->zero_point ||
      p->axis != q->axis || p->nscales != q->nscales ||
      memcmp(&p->scale, &q->scale, sizeof(float)))
    QNF_DIFF("quantization parameters differ");
  if (p->nscales &&
      memcmp(p->scales, q->scales, sizeof(float) * (size_t)p->nscales))
    QNF_DIFF("per-channel scales differ");
  return 1;
}

static inline int qnf_attr_eq(const qi_attr *a, const qi_attr *b, char *why,
                              size_t len) {
  if (!qnf_str_eq(a->name, b->name) || a->type != b->type || a->i != b->i ||
      memcmp(&a->f, &b->f, sizeof(float)) || a->n != b->n ||
      !qnf_str_eq(a->s, b->s))
    QNF_DIFF("attribute '%s': name, type or scalar values differ", a->name);
  if (!a->ints != !b->ints || !a->floats != !b->floats ||
      !a->strings != !b->strings || !a->t != !b->t)
    QNF_DIFF("attribute '%s': parts present differ", a->name);
  size_t n = (size_t)a->n;
  if (a->ints && n && memcmp(a->ints, b->ints, n * sizeof(int64_t)))
    QNF_DIFF("attribute '%s': ints differ", a->name);
  if (a->floats && n && memcmp(a->floats, b->floats, n * sizeof(float)))
    QNF_DIFF("attribute '%s': floats differ", a->name);
  for (size_t k = 0; a->strings && k < n; k++)
    if (!qnf_str_eq(a->strings[k], b->strings[k]))
      QNF_DIFF("attribute '%s': string %zu differs", a->name, k);
  if (a->t) {
    char sub[200];
    if (!qnf_tensor_eq(a->t, b->t, sub, sizeof sub))
      QNF_DIFF("attribute '%s': tensor: %s", a->name, sub);
  }
  return 1;
}

static inline int qnf_node_eq(const qi_node *a, const qi_node *b, char *why,
                              size_t len) {
  if (!qnf_str_eq(a->name, b->name) || !qnf_str_eq(a->op_type, b->op_type) ||
      !qnf_str_eq(a->domain, b->domain))
    QNF_DIFF("names, op types or domains differ");
  if (a->precision != b->precision || !a->dead != !b->dead)
    QNF_DIFF("precision or dead flag differs");
  if (a->nin != b->nin || a->nout != b->nout || a->nattr != b->nattr)
    QNF_DIFF("counts differ");
  for (int k = 0; k < a->nin; k++)
    if (a->in[k] != b->in[k]) QNF_DIFF("input %d differs", k);
  for (int k = 0; k < a->nout; k++)
    if (a->out[k] != b->out[k]) QNF_DIFF("output %d differs", k);
  for (int k = 0; k < a->nattr; k++)
    if (!qnf_attr_eq(&a->attrs[k], &b->attrs[k], why, len)) return 0;
  return 1;
}

static inline int qnf_graph_eq(const qi_graph *a, const qi_graph *b, char *why,
                               size_t len) {
  char sub[300];
  if (a->opset != b->opset || a->ir_version != b->ir_version ||
      !qnf_str_eq(a->name, b->name))
    QNF_DIFF("opset, ir_version or name differ");
  if (a->ntensors != b->ntensors || a->nnodes != b->nnodes ||
      a->ninputs != b->ninputs || a->noutputs != b->noutputs)
    QNF_DIFF("counts differ: %d/%d tensors, %d/%d nodes", a->ntensors,
             b->ntensors, a->nnodes, b->nnodes);
  for (int i = 0; i < a->ninputs; i++)
    if (a->inputs[i] != b->inputs[i]) QNF_DIFF("graph input %d differs", i);
  for (int i = 0; i < a->noutputs; i++)
    if (a->outputs[i] != b->outputs[i]) QNF_DIFF("graph output %d differs", i);
  for (int i = 0; i < a->ntensors; i++) {
    if (!qnf_tensor_eq(&a->tensors[i], &b->tensors[i], sub, sizeof sub))
      QNF_DIFF("tensor %d '%s': %s", i, a->tensors[i].name, sub);
    if (a->tensors[i].producer != b->tensors[i].producer)
      QNF_DIFF("tensor %d '%s': producer %d vs %d", i, a->tensors[i].name,
               a->tensors[i].producer, b->tensors[i].producer);
  }
  for (int i = 0; i < a->nnodes; i++)
    if (!qnf_node_eq(&a->nodes[i], &b->nodes[i], sub, sizeof sub))
      QNF_DIFF("node %d '%s': %s", i, a->nodes[i].name, sub);
  return 1;
}

/* A malloc'd copy of n bytes. */
static inline void *qnf_dup(const void *p, size_t n) {
  void *d = malloc(n ? n : 1);
  if (d && n) memcpy(d, p, n);
  return d;
}

static inline int qnf_add_const(qi_graph *g, const char *name, qi_dtype dt,
                                int rank, const int64_t *dims,
                                const void *data) {
  int t = qi_graph_add_tensor(g, name, dt);
  qi_tensor *x = &g->tensors[t];
  x->shape.rank = rank;
  for (int i = 0; i < rank; i++) x->shape.d[i] = dims[i];
  size_t nb = (size_t)qi_shape_numel(&x->shape) * qi_dtype_size(dt);
  qi_tensor_set_const(x, qnf_dup(data, nb), nb);
  return t;
}

static inline void qnf_set_producers(qi_graph *g) {
  for (int i = 0; i < g->ntensors; i++) g->tensors[i].producer = -1;
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nout; k++)
      if (g->nodes[i].out[k] >= 0) g->tensors[g->nodes[i].out[k]].producer = i;
}

/* Every kind of field: all data types, unknown dims and ranks, empty and
 * scalar constants, per-tensor and per-channel quantization, attributes of
 * all eight types (with NaN and -0 floats, empty lists, a nameless quantized
 * attribute tensor), absent inputs and outputs, every precision, a dead node
 * and a node without inputs or outputs. */
static inline qi_graph *qnf_sample_graph(void) {
  qi_graph *g = qi_graph_create();
  g->opset = 17;
  g->ir_version = 8;
  g->name = strdup("sample graph \xce\xbb");
  int x = qi_graph_add_tensor(g, "x", QI_FLOAT32);
  g->tensors[x].shape = (qi_shape){4, {1, 3, -1, 5}};
  static const int8_t w_data[12] = {1, -2, 3, -4,  5,   -6,
                                    7, -8, 9, -10, 127, -127};
  int w =
      qnf_add_const(g, "w", QI_INT8, 4, (const int64_t[]){4, 3, 1, 1}, w_data);
  qi_quant *wq = &g->tensors[w].quant;
  wq->has = 1;
  wq->axis = 0;
  wq->nscales = 4;
  wq->scales = malloc(4 * sizeof(float));
  for (int i = 0; i < 4; i++) wq->scales[i] = 0.01f * (float)(i + 1);
  int b = qnf_add_const(g, "b", QI_INT32, 1, (const int64_t[]){4},
                        (const int32_t[]){-7, 0, 1 << 30, -(1 << 30)});
  int empty = qnf_add_const(g, "empty", QI_FLOAT32, 2, (const int64_t[]){0, 7},
                            (const float[]){0});
  int scalar =
      qnf_add_const(g, "scalar", QI_FLOAT64, 0, NULL, (const double[]){-2.5});
  qnf_add_const(g, "half", QI_FLOAT16, 1, (const int64_t[]){3},
                (const uint16_t[]){0x3c00, 0x7e00, 0x8000});
  qnf_add_const(g, "flags", QI_BOOL, 2, (const int64_t[]){2, 2},
                (const uint8_t[]){1, 0, 0, 1});
  qnf_add_const(g, "u8", QI_UINT8, 1, (const int64_t[]){5},
                (const uint8_t[]){0, 1, 128, 254, 255});
  int y = qi_graph_add_tensor(g, "y", QI_UINT8);
  g->tensors[y].shape = (qi_shape){4, {1, 4, -1, 5}};
  g->tensors[y].quant = (qi_quant){1, 0.02f, 128, -1, 0, NULL};
  int z = qi_graph_add_tensor(g, "z", QI_UNDEFINED); /* rank -1 */
  int z2 = qi_graph_add_tensor(g, "z2", QI_INT64);
  g->tensors[z2].shape = (qi_shape){0, {0}};
  char long_name[1200];
  memset(long_name, 'n', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  int big = qi_graph_add_tensor(g, long_name, QI_FLOAT32);
  g->tensors[big].shape = (qi_shape){2, {(int64_t)1 << 29, (int64_t)1 << 30}};
  float nanf_bits;
  memcpy(&nanf_bits, &(uint32_t){0x7fc00123u}, 4);

  int c = qi_graph_add_node(g, "conv0", "Conv", "", 3, 1);
  qi_node *n = &g->nodes[c];
  n->in[0] = x, n->in[1] = w, n->in[2] = b, n->out[0] = y;
  n->precision = QI_PREC_INT8;
  qi_node_add_attr(n, "alpha", QI_ATTR_FLOAT)->f = -0.0f;
  qi_node_add_attr(n, "group", QI_ATTR_INT)->i = INT64_MIN;
  qi_node_add_attr(n, "auto_pad", QI_ATTR_STRING)->s = strdup("SAME_UPPER");
  qi_attr *a = qi_node_add_attr(n, "value", QI_ATTR_TENSOR);
  a->t = calloc(1, sizeof(qi_tensor));
  a->t->producer = -1;
  a->t->dtype = QI_INT64;
  a->t->shape = (qi_shape){1, {2}};
  a->t->kind = QI_TK_CONST;
  a->t->nbytes = 16;
  a->t->data = qnf_dup((const int64_t[]){INT64_MAX, -1}, 16);
  a->t->quant = (qi_quant){1, 0.5f, -3, 0, 2, NULL};
  a->t->quant.scales = qnf_dup((const float[]){1.0f, nanf_bits}, 8);
  qi_node_add_attr(n, "body", QI_ATTR_GRAPH);
  a = qi_node_add_attr(n, "scales", QI_ATTR_FLOATS);
  a->n = 3;
  a->floats = qnf_dup((const float[]){1.5f, -0.0f, nanf_bits}, 12);
  a = qi_node_add_attr(n, "pads", QI_ATTR_INTS);
  a->n = 4;
  a->ints = qnf_dup((const int64_t[]){0, 1, -1, INT64_MAX}, 32);
  a = qi_node_add_attr(n, "names", QI_ATTR_STRINGS);
  a->n = 3;
  a->strings = calloc(3, sizeof(char *));
  a->strings[0] = strdup("a");
  a->strings[1] = strdup("");
  a->strings[2] = strdup("ccc");
  a = qi_node_add_attr(n, "none", QI_ATTR_INTS);
  a->ints = malloc(sizeof(int64_t));              /* allocated, zero values */
  qi_node_add_attr(n, "nothing", QI_ATTR_FLOATS); /* NULL, zero values */

  c = qi_graph_add_node(g, "custom", "MyOp", "com.example", 3, 3);
  n = &g->nodes[c];
  n->in[0] = y, n->in[1] = -1, n->in[2] = scalar;
  n->out[0] = z, n->out[1] = -1, n->out[2] = z2;
  n->precision = QI_PREC_FP16;
  c = qi_graph_add_node(g, "dead one", "Relu", "", 1, 1);
  g->nodes[c].in[0] = empty;
  g->nodes[c].out[0] = big;
  g->nodes[c].dead = 1;
  qi_graph_add_node(g, "", "NoOp", "ai.onnx.ml", 0, 0);

  g->inputs = malloc(sizeof(int));
  g->inputs[0] = x;
  g->ninputs = 1;
  g->outputs = malloc(2 * sizeof(int));
  g->outputs[0] = z;
  g->outputs[1] = y;
  g->noutputs = 2;
  qnf_set_producers(g);
  return g;
}

static inline uint8_t *qnf_read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *b = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
        (b = malloc((size_t)len + 1)) != NULL &&
        fread(b, 1, (size_t)len, f) != (size_t)len) {
      free(b);
      b = NULL;
    }
    *n = (size_t)(len > 0 ? len : 0);
  }
  fclose(f);
  return b;
}

/* One section of a file, for tests that take files apart and rebuild them. */
typedef struct qnf_sec {
  uint32_t type, flags;
  const uint8_t *payload;
  uint64_t size;
} qnf_sec;

static inline uint32_t qnf_t_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t qnf_t_le64(const uint8_t *p) {
  return (uint64_t)qnf_t_le32(p) | (uint64_t)qnf_t_le32(p + 4) << 32;
}
static inline void qnf_t_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void qnf_t_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* The sections of a well-formed file, in table order (payloads point into
 * buf); returns their number. Reads the layout as docs/format.md gives it. */
static inline int qnf_sections(const uint8_t *buf, qnf_sec *out, int max) {
  int count = (int)qnf_t_le32(buf + 32);
  for (int i = 0; i < count && i < max; i++) {
    const uint8_t *e = buf + 64 + 32 * i;
    out[i].type = qnf_t_le32(e);
    out[i].flags = qnf_t_le32(e + 4);
    out[i].payload = buf + qnf_t_le64(e + 8);
    out[i].size = qnf_t_le64(e + 16);
  }
  return count;
}

static inline uint64_t qnf_t_align(uint64_t v) {
  return (v + 63) & ~(uint64_t)63;
}

/* A file of the given sections in order, format version 1.minor (major as
 * given), with checksums computed by qnf_reseal. */
static inline uint8_t *qnf_build(const qnf_sec *secs, int n, unsigned major,
                                 unsigned minor, size_t *len) {
  uint64_t pos = qnf_t_align(64 + 32 * (uint64_t)n);
  uint64_t total = pos;
  for (int i = 0; i < n; i++) total = qnf_t_align(total) + secs[i].size;
  uint8_t *b = calloc(total ? total : 1, 1);
  memcpy(b, "\x89QNF\r\n\x1a\n", 8);
  b[8] = (uint8_t)major, b[9] = (uint8_t)(major >> 8);
  b[10] = (uint8_t)minor, b[11] = (uint8_t)(minor >> 8);
  qnf_t_put32(b + 12, 64);
  qnf_t_put64(b + 16, total);
  qnf_t_put64(b + 24, 64);
  qnf_t_put32(b + 32, (uint32_t)n);
  qnf_t_put32(b + 36, 32);
  for (int i = 0; i < n; i++) {
    pos = qnf_t_align(pos);
    uint8_t *e = b + 64 + 32 * i;
    qnf_t_put32(e, secs[i].type);
    qnf_t_put32(e + 4, secs[i].flags);
    qnf_t_put64(e + 8, pos);
    qnf_t_put64(e + 16, secs[i].size);
    if (secs[i].size) memcpy(b + pos, secs[i].payload, secs[i].size);
    pos += secs[i].size;
  }
  qnf_reseal(b, total);
  *len = total;
  return b;
}

#endif
