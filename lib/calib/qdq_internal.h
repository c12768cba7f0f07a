/*
 * What lib/calib/qdq_scan.c finds in a ModelProto for the QDQ export
 * (lib/calib/qdq_export.c): every tensor name of the main graph with its
 * producer and consumers, the nodes with their inputs and outputs, and the
 * plan the export fills in. Names are slices of the model bytes, never
 * copied. Not for use outside these two files; their shared functions are
 * named qi_qdqx_* ("QDQ export").
 */
#ifndef QI_CALIB_QDQ_INTERNAL_H
#define QI_CALIB_QDQ_INTERNAL_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "calib/qdq_export.h"
#include "onnx/pb.h"

#define QDQ_MAX_ITEMS (INT_MAX / 4)
/* ONNX TensorProto.DataType and AttributeProto.type numbers. */
#define ONNX_FLOAT 1
#define ONNX_UINT8 2
#define ONNX_INT8 3
#define ONNX_ATTR_INT 2

/* A name: bytes of the model (not NUL-terminated) or an owned string. */
typedef struct qdq_str {
  const char *p;
  size_t n;
} qdq_str;
#define QDQ_STR_ARGS(s) (int)((s).n > 200 ? 200 : (s).n), (s).p

typedef struct qdq_name_map { /* open addressing; vals[i] < 0: empty */
  qdq_str *keys;
  int *vals;
  size_t cap, count;
} qdq_name_map;

enum { T_UNKNOWN, T_INPUT, T_INIT, T_CONST_NODE, T_NODE_OUT };
enum { OP_OTHER, OP_CONV, OP_GEMM, OP_MATMUL, OP_CONSTANT };

typedef struct qdq_tensor {
  qdq_str name;
  int kind;          /* T_* */
  int src;           /* initializer, graph input or node index */
  int input_idx;     /* graph input listing an initializer, or -1 */
  int64_t elem_type; /* declared type of a graph input, 0 unknown */
  int consumers;     /* node input slots of the main graph reading it */
  int to_weight;     /* of those, slots moved to a weight's DQ output */
  int is_output;
  int range; /* index in ranges, or -1 */
} qdq_tensor;

typedef struct qdq_node {
  qi_pb_field f;
  qdq_str name;
  int op;                             /* OP_* (default domain only) */
  int in_first, nin, out_first, nout; /* into node_in / node_out */
  int64_t trans_b;
  qi_pb_field value; /* Constant: the TensorProto of attribute 'value' */
  int has_value, drop;
  int param_from; /* inputs from here on are parameters read in float */
} qdq_node;

typedef struct qdq_item { /* an initializer or graph input field */
  qi_pb_field f;
  int tensor, drop;
} qdq_item;

typedef struct qdq_weight {
  int tensor, axis, rank, nscales;
  int64_t dims[QI_MAX_RANK];
  int8_t *q; /* the initializer's layout */
  size_t count;
  float *scales;
  const char *q_name, *scale_name, *zp_name, *dq_name, *node_name;
} qdq_weight;

typedef struct qdq_act {
  const char *scale_name, *zp_name, *q_name, *dq_name, *q_node, *dq_node;
} qdq_act;

typedef struct qdq_model {
  const uint8_t *buf;
  qi_error *err;
  int64_t opset;
  int per_channel, has_subgraph, weight_qmax;
  qi_pb_field graph;
  qdq_node *nodes;
  qdq_item *inits, *inputs;
  int nnodes, ninits, ninputs;
  int *node_in, *node_wt, *node_out; /* node_wt: weight index or -1 */
  int nin_total, nout_total, cap_in, cap_out;
  qdq_tensor *tensors;
  int ntensors, cap_tensors;
  qdq_name_map tmap, used; /* tensor name -> index; every name in use */
  qdq_weight *weights;
  int nweights, cap_weights;
  const qi_qdq_range *ranges;
  int nranges;
  qdq_act *acts;
  char **owned;
  int nowned, cap_owned;
  int dropped;
} qdq_model;

static inline qdq_str qdq_field_str(const qdq_model *x, const qi_pb_field *f) {
  qdq_str s = {(const char *)x->buf + f->off, f->len};
  return s;
}

static inline qdq_str qdq_cstr(const char *s) {
  qdq_str r = {s, strlen(s)};
  return r;
}

static inline int qdq_str_is(qdq_str s, const char *lit) {
  return s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

qi_status qi_qdqx_nomem(qi_error *err);
/* Grows *p to at least `need` elements of `elem` bytes; -1: no memory. */
int qi_qdqx_grow(void **p, int *cap, int need, size_t elem);
/* The value stored under name s, or -1. */
int qi_qdqx_map_find(const qdq_name_map *m, qdq_str s);
/* "<base><suffix>", or "<base><suffix>_<k>" with the first k that names
 * nothing in the model yet; owned by x. NULL: out of memory. */
const char *qi_qdqx_fresh_name(qdq_model *x, qdq_str base, const char *suffix);

/* Zeroes *x and scans the ModelProto in onnx[0, len) (borrowed: it must
 * outlive x). Release with qi_qdqx_model_free, also after a failure. */
qi_status qi_qdqx_scan(qdq_model *x, const uint8_t *onnx, size_t len,
                       qi_error *err);
void qi_qdqx_model_free(qdq_model *x);

#endif
