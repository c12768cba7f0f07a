/* Builders for hand-made ONNX protobuf messages and checks on what the
 * importer makes of them, shared by test_onnx_import.c and
 * test_onnx_graph.c. Test code only: failures to allocate or write abort. */
#ifndef ONNX_BUILD_H
#define ONNX_BUILD_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx.h"
#include "pb_encode.h"

/* ONNX TensorProto field numbers. */
enum {
  T_DIMS = 1,
  T_TYPE = 2,
  T_FLOATS = 4,
  T_INT32 = 5,
  T_STRINGS = 6,
  T_INT64 = 7,
  T_NAME = 8,
  T_RAW = 9,
  T_DOUBLES = 10,
  T_UINT64 = 11,
  T_EXTERNAL = 13,
  T_LOCATION = 14
};

static inline pbe tensor_hdr(const char *name, int dtype, const int64_t *dims,
                             int nd) {
  pbe t = {0};
  for (int i = 0; i < nd; i++) pbe_int(&t, T_DIMS, dims[i]);
  if (dtype) pbe_int(&t, T_TYPE, dtype);
  if (name) pbe_str(&t, T_NAME, name);
  return t;
}

static inline qi_status parse(pbe *t, const char *base, qi_tensor *out,
                              qi_error *e) {
  qi_status st = qi_onnx_parse_tensor(t->b, t->n, base, out, e);
  pbe_free(t);
  return st;
}

static inline void tensor_free(qi_tensor *t) {
  free(t->name);
  free(t->data);
}

/* ValueInfoProto: nd < 0 means no shape; a dim of -1 is written as a
 * dim_param, -2 as a Dimension with neither field. */
static inline void value_info(pbe *g, uint32_t field, const char *name,
                              int elem, const int64_t *dims, int nd) {
  pbe vi = {0}, type = {0}, tt = {0}, shape = {0};
  pbe_str(&vi, 1, name);
  if (elem) pbe_int(&tt, 1, elem);
  for (int i = 0; i < nd; i++) {
    pbe d = {0};
    if (dims[i] == -1)
      pbe_str(&d, 2, "N");
    else if (dims[i] >= 0)
      pbe_int(&d, 1, dims[i]);
    pbe_msg(&shape, 1, &d);
  }
  if (nd >= 0) pbe_msg(&tt, 2, &shape);
  pbe_msg(&type, 1, &tt);
  pbe_msg(&vi, 2, &type);
  pbe_msg(g, field, &vi);
}

/* NodeProto with `nattr` attribute messages (consumed). */
static inline void node(pbe *g, const char *op, const char *name,
                        const char *const *in, int nin, const char *const *out,
                        int nout, pbe *attrs, int nattr) {
  pbe n = {0};
  for (int i = 0; i < nin; i++) pbe_str(&n, 1, in[i]);
  for (int i = 0; i < nout; i++) pbe_str(&n, 2, out[i]);
  if (name) pbe_str(&n, 3, name);
  pbe_str(&n, 4, op);
  for (int i = 0; i < nattr; i++) pbe_msg(&n, 5, &attrs[i]);
  pbe_msg(g, 1, &n);
}

static inline void node1(pbe *g, const char *op, const char *name,
                         const char *in, const char *out) {
  node(g, op, name, &in, in ? 1 : 0, &out, 1, NULL, 0);
}

static inline pbe attr_hdr(const char *name, int type) {
  pbe a = {0};
  pbe_str(&a, 1, name);
  if (type) pbe_int(&a, 20, type);
  return a;
}

static inline void float_init(pbe *g, const char *name, const int64_t *dims,
                              int nd, const float *v, size_t n) {
  pbe t = tensor_hdr(name, QI_FLOAT32, dims, nd);
  pbe_bytes(&t, T_RAW, v, n * sizeof(float));
  pbe_msg(g, 5, &t);
}

/* ModelProto around graph `g` (consumed); opset 0: no opset_import. */
static inline pbe model(int64_t opset, pbe *g) {
  pbe m = {0};
  pbe_int(&m, 1, 8);
  if (opset) {
    pbe op = {0};
    pbe_str(&op, 1, "");
    pbe_int(&op, 2, opset);
    pbe_msg(&m, 8, &op);
  }
  pbe_msg(&m, 7, g);
  return m;
}

static inline qi_status import(pbe *m, const char *base, qi_graph **g,
                               qi_error *e) {
  *g = (qi_graph *)(uintptr_t)1; /* must be reset by the importer */
  qi_status st = qi_onnx_import(m->b, m->n, base, g, e);
  pbe_free(m);
  return st;
}

static inline int find(const qi_graph *g, const char *name) {
  return qi_graph_find_tensor(g, name);
}

static inline int has(const qi_error *e, const char *s) {
  return strstr(e->message, s) != NULL;
}

static inline int same(const qi_tensor *t, qi_dtype dt, const int64_t *dims,
                       int nd, const void *data, size_t nbytes) {
  if (t->dtype != dt || t->shape.rank != nd || t->nbytes != nbytes ||
      !t->data || t->kind != QI_TK_CONST || t->producer != -1)
    return 0;
  for (int i = 0; i < nd; i++)
    if (t->shape.d[i] != dims[i]) return 0;
  return memcmp(t->data, data, nbytes) == 0;
}

static inline void write_file(const char *path, const void *p, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(p, 1, n, f) != n) abort();
  fclose(f);
}

static inline pbe ext_tensor(const char *loc, const char *off,
                             const char *len) {
  const int64_t d23[] = {2, 3};
  pbe p = tensor_hdr("ext", QI_FLOAT32, d23, 2);
  const char *keys[] = {"location", "offset", "length"};
  const char *vals[] = {loc, off, len};
  for (int i = 0; i < 3; i++) {
    if (!vals[i]) continue;
    pbe kv = {0};
    pbe_str(&kv, 1, keys[i]);
    pbe_str(&kv, 2, vals[i]);
    pbe_msg(&p, T_EXTERNAL, &kv);
  }
  pbe_int(&p, T_LOCATION, 1);
  return p;
}

#endif
