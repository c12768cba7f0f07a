/*
 * The operator interface. Every op type the runtime accepts has one
 * qi_op_def, listed in ops/op_list_*.h and found by qi_op_lookup. Shapes are
 * static: `infer` runs once at load for the given input shapes, `prepare`
 * packs weights once (the model is immutable afterwards), and `run` executes
 * on buffers the planner allocated to the inferred sizes.
 */
#ifndef QI_OPS_OP_H
#define QI_OPS_OP_H

#include <stddef.h>

#include "core/error.h"
#include "core/pool.h"
#include "graph/graph.h"

/* A tensor as seen by a running op: its static type and shape and where its
 * bytes are. Absent optional inputs have data == NULL and dtype 0. */
typedef struct qi_buf {
  qi_dtype dtype;
  qi_shape shape;
  void *data;
} qi_buf;

typedef struct qi_run_ctx {
  qi_pool *pool;      /* may be NULL: run single-threaded */
  int nthreads;       /* qi_pool_size(pool) */
  void *scratch;      /* op->scratch_bytes(...) bytes, 64-byte aligned */
  size_t scratch_bytes;
  qi_error *err;      /* may be NULL */
} qi_run_ctx;

typedef struct qi_op_def {
  const char *op_type;   /* ONNX op type, or Qi* for internal fused ops */
  /* Checks attributes and input count at import; NULL: always accepted.
   * Returns QI_ERR_UNSUPPORTED naming the attribute for what we do not run. */
  qi_status (*check)(const qi_graph *g, const qi_node *n, qi_error *err);
  /* Sets dtype and shape of every output from the inputs' (constant input
   * data is readable through g->tensors[i].data). Required. */
  qi_status (*infer)(qi_graph *g, qi_node *n, qi_error *err);
  /* Optional: precomputes n->state from constant inputs (packed weights). */
  qi_status (*prepare)(const qi_graph *g, qi_node *n, qi_error *err);
  void (*free_state)(void *state);
  /* Optional: scratch bytes `run` needs with `nthreads` threads. */
  size_t (*scratch_bytes)(const qi_graph *g, const qi_node *n, int nthreads);
  /* Computes outputs; in[] has n->nin entries, out[] n->nout. Required. */
  qi_status (*run)(const qi_run_ctx *ctx, const qi_node *n, const qi_buf *in,
                   qi_buf *out);
  /* 1 if constant folding may run this op at load (no huge outputs). */
  int foldable;
} qi_op_def;

const qi_op_def *qi_op_lookup(const char *domain, const char *op_type);

/* Helpers for ops. */
qi_status qi_check_inputs(const qi_node *n, int min_in, int max_in,
                          qi_error *err);
/* Sets output `k` of `n` to dtype/shape. */
void qi_set_output(qi_graph *g, const qi_node *n, int k, qi_dtype dt,
                   const qi_shape *s);
/* Shape of input k (NULL if absent). */
const qi_shape *qi_in_shape(const qi_graph *g, const qi_node *n, int k);
qi_dtype qi_in_dtype(const qi_graph *g, const qi_node *n, int k);
/* Constant data of input k as int64 values (accepts int32/int64 tensors);
 * returns element count or -1 if the input is absent or not constant. */
int qi_in_const_i64(const qi_graph *g, const qi_node *n, int k,
                    int64_t *vals, int maxvals);
/* Numpy-style broadcast of two shapes; QI_ERR_SHAPE if incompatible. */
qi_status qi_broadcast_shapes(const qi_shape *a, const qi_shape *b,
                              qi_shape *out, qi_error *err);
/* Normalizes a possibly negative axis against rank; -1 if out of range. */
int qi_norm_axis(int64_t axis, int rank);
/* Reads the fused activation attributes of a node. */
typedef struct qi_act_params {
  qi_act act;
  float alpha, beta;
} qi_act_params;
qi_act_params qi_node_act(const qi_node *n);
float qi_act_apply(const qi_act_params *p, float x);

#endif
