/*
 * The graph IR: tensors (values) and nodes in one graph, referred to by
 * index. Constant tensors own their data unless `borrowed` is set. Nodes are
 * kept in topological order once qi_graph_toposort has run; passes mark dead
 * nodes and qi_graph_compact removes them.
 */
#ifndef QI_GRAPH_GRAPH_H
#define QI_GRAPH_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

typedef struct qi_shape {
  int rank;                  /* -1: not known yet */
  int64_t d[QI_MAX_RANK];
} qi_shape;

typedef enum qi_tensor_kind {
  QI_TK_ACT = 0,    /* produced by a node, or a graph input */
  QI_TK_CONST = 1   /* initializer, Constant output, or folded value */
} qi_tensor_kind;

/* Per-tensor quantization (activations uint8 per tensor; weights int8 per
 * output channel along `axis`). Unused until the calibrator fills it. */
typedef struct qi_quant {
  int has;            /* 0: no quantization parameters */
  float scale;
  int32_t zero_point;
  int axis;           /* per-channel axis, -1 for per-tensor */
  int nscales;
  float *scales;      /* owned; nscales entries when axis >= 0 */
} qi_quant;

typedef struct qi_tensor {
  char *name;          /* owned; unique within the graph */
  qi_dtype dtype;
  qi_shape shape;
  qi_tensor_kind kind;
  void *data;          /* QI_TK_CONST only */
  size_t nbytes;
  int borrowed;        /* 1: data is not owned by the graph */
  int producer;        /* node index, -1 for inputs and constants */
  qi_quant quant;
} qi_tensor;

typedef enum qi_attr_type {
  QI_ATTR_FLOAT = 1,
  QI_ATTR_INT = 2,
  QI_ATTR_STRING = 3,
  QI_ATTR_TENSOR = 4,
  QI_ATTR_GRAPH = 5,
  QI_ATTR_FLOATS = 6,
  QI_ATTR_INTS = 7,
  QI_ATTR_STRINGS = 8
} qi_attr_type;

typedef struct qi_attr {
  char *name;        /* owned */
  qi_attr_type type;
  int64_t i;
  float f;
  char *s;           /* owned, NUL-terminated (STRING) */
  int n;             /* element count for FLOATS / INTS / STRINGS */
  int64_t *ints;     /* owned */
  float *floats;     /* owned */
  char **strings;    /* owned */
  qi_tensor *t;      /* owned (TENSOR): name may be NULL */
} qi_attr;

/* Activation fused into a producer (Conv, Gemm, MatMul, Add) by the fusion
 * pass; stored in the node as attribute "qi_act" (int) with parameters
 * "qi_act_alpha" / "qi_act_beta" (floats). */
typedef enum qi_act {
  QI_ACT_NONE = 0,
  QI_ACT_RELU = 1,
  QI_ACT_CLIP = 2,       /* alpha = min, beta = max */
  QI_ACT_LEAKY = 3,      /* alpha = slope */
  QI_ACT_SIGMOID = 4,
  QI_ACT_HARDSWISH = 5,
  QI_ACT_SILU = 6,
  QI_ACT_GELU = 7,
  QI_ACT_HARDSIGMOID = 8, /* alpha, beta as ONNX */
  QI_ACT_TANH = 9
} qi_act;

typedef struct qi_node {
  char *name;        /* owned; never NULL (importer invents one) */
  char *op_type;     /* owned */
  char *domain;      /* owned; "" for the default ONNX domain */
  int nin, nout;
  int *in;           /* tensor indices; -1 for an absent optional input */
  int *out;
  int nattr;
  qi_attr *attrs;
  qi_precision precision;
  int dead;          /* set by passes; removed by qi_graph_compact */
  const struct qi_op_def *op; /* bound by qi_graph_bind_ops */
  void *state;       /* op-private data made by op->prepare; owned */
} qi_node;

typedef struct qi_graph {
  int ntensors, cap_tensors;
  qi_tensor *tensors;
  int nnodes, cap_nodes;
  qi_node *nodes;
  int ninputs, noutputs;
  int *inputs;       /* tensor indices of graph inputs (not initializers) */
  int *outputs;
  int64_t opset;     /* default-domain opset version */
  int64_t ir_version;
  char *name;
} qi_graph;

qi_graph *qi_graph_create(void);
void qi_graph_free(qi_graph *g);

/* Adds a tensor (name copied) and returns its index, or -1 on no memory. */
int qi_graph_add_tensor(qi_graph *g, const char *name, qi_dtype dtype);
/* Finds a tensor by name; -1 if absent. Linear scan cost is paid only by
 * the importer, which keeps its own hash. */
int qi_graph_find_tensor(const qi_graph *g, const char *name);
/* Adds a node with room for nin inputs and nout outputs (filled with -1);
 * returns its index or -1. Strings are copied. */
int qi_graph_add_node(qi_graph *g, const char *name, const char *op_type,
                      const char *domain, int nin, int nout);
/* Appends an attribute slot to node `n`; returns it zeroed with name set. */
qi_attr *qi_node_add_attr(qi_node *n, const char *name, qi_attr_type type);
/* Makes a tensor constant, taking ownership of `data` (malloc'd). */
void qi_tensor_set_const(qi_tensor *t, void *data, size_t nbytes);

/* Sorts nodes topologically and recomputes producers. Fails on a cycle or on
 * an input that no node, initializer or graph input provides. */
qi_status qi_graph_toposort(qi_graph *g, qi_error *err);
/* Drops dead nodes; keeps node order and tensor indices. */
qi_status qi_graph_compact(qi_graph *g, qi_error *err);
/* Frees tensors nothing refers to any more (replaced weights, folded
 * intermediates) and renumbers the rest: tensor indices held outside the
 * graph become stale. Run once optimisation is over. */
qi_status qi_graph_drop_unused_tensors(qi_graph *g, qi_error *err);
/* Number of nodes that read tensor `t` (graph outputs count as one). */
int qi_graph_consumers(const qi_graph *g, int t);

/* Attribute accessors with defaults. */
const qi_attr *qi_attr_find(const qi_node *n, const char *name);
int64_t qi_attr_int(const qi_node *n, const char *name, int64_t def);
float qi_attr_float(const qi_node *n, const char *name, float def);
const char *qi_attr_str(const qi_node *n, const char *name, const char *def);
/* Returns the element count and sets *vals, or -1 if absent. */
int qi_attr_ints(const qi_node *n, const char *name, const int64_t **vals);
int qi_attr_floats(const qi_node *n, const char *name, const float **vals);

/* Shape helpers. */
/* The largest tensor accepted, in bytes: beyond it shapes are refused at
 * load, so no byte count can overflow and no file can ask for more. */
#define QI_MAX_TENSOR_BYTES ((uint64_t)1 << 40)
/* 1 for rank 0; -1 when unknown or when the count overflows int64. */
int64_t qi_shape_numel(const qi_shape *s);
/* 1 if the shape is known and its bytes in `dt` are at most
 * QI_MAX_TENSOR_BYTES. */
int qi_shape_fits(const qi_shape *s, qi_dtype dt);
size_t qi_dtype_size(qi_dtype dt);           /* 0 for unsupported */
const char *qi_dtype_name(qi_dtype dt);
/* Writes "[1,3,224,224]" into buf. */
const char *qi_shape_str(const qi_shape *s, char *buf, size_t len);

#endif
