/*
 * Private to lib/quant/lower*.c: the state of one lowering run and the
 * helpers the per-op matchers share.
 *
 * A run has two phases (lower.c). Matching walks the FP32 nodes in
 * topological order; a matcher (lower_conv.c, lower_elt.c) that accepts
 * node `i` appends its Qi replacement (lower_replace), which still reads
 * and writes the FP32 tensors of `i` (plus any new INT8/INT32 constants),
 * and node `i` is marked dead. Wiring then gives every activation the
 * replacements touch its uint8 twin, adds QiQuantize / QiDequantize at the
 * precision boundaries and puts the nodes back in topological order.
 */
#ifndef QI_QUANT_LOWER_INTERNAL_H
#define QI_QUANT_LOWER_INTERNAL_H

#include <stdint.h>

#include "graph/graph.h"

#define LOWER_DOMAIN "qinfer"

/* Open-addressing set of the graph's tensor names, so that every name the
 * pass invents is unique without a scan of the graph per name. */
typedef struct lower_names {
  const char **slot; /* borrowed from g->tensors[].name */
  size_t cap, used;  /* cap: power of two, used <= cap / 2 */
} lower_names;

/* Whether a replacement may write float (QiQConv / QiQMatMul out_f32). */
typedef enum lower_out {
  LOWER_OUT_U8 = 0,      /* uint8 only (other ops; a fused clamp or sum) */
  LOWER_OUT_EITHER = 1,  /* float when every reader is float */
  LOWER_OUT_F32 = 2      /* float only: the output has no quantization */
} lower_out;

typedef struct lower_ctx {
  qi_graph *g;
  int norig;         /* node count before lowering */
  int *repl;         /* per original node: its replacement, or -1 */
  int nrepl;
  int *repl_list;    /* replacement node indices, in match order */
  lower_out *repl_out; /* parallel to repl_list */
  int *wcache_rows;  /* per original tensor: int8 weights made from it */
  int *wcache_cols;  /*   read as rows [N, K] / as columns [K, N]; -1 */
  int norig_tensors;
  lower_names names;
} lower_ctx;

/* ---- lower.c: shared helpers ---------------------------------------- */

/* 1 if `q` is a usable per-tensor uint8 quantization: has, finite scale
 * > 0, zero point 0..255, no per-channel axis. */
int lower_quant_ok(const qi_quant *q);
/* 1 if tensor t (>= 0) is an FP32 activation of known, non-empty shape
 * whose quantization is usable: what an INT8 node may read. */
int lower_act_ok(const qi_graph *g, int t);
/* 1 if tensor t is an FP32 activation of known, non-empty shape (its
 * quantization not looked at). */
int lower_act_f32(const qi_graph *g, int t);

/* 1 if both shapes are known and equal. */
int lower_same_shape(const qi_shape *a, const qi_shape *b);

/* Output clamp [qmin, qmax] of a fused activation (qi_act attributes of
 * `n`) for output quantization `yq`: none 0/255, Relu zy/255, Clip the
 * bounds on the output grid (Clip is monotone, so clamping the rounded
 * value reproduces the FP32 clamp exactly where the grid allows).
 * 0 for any other activation. */
int lower_fused_clamp(const qi_node *n, const qi_quant *yq, int32_t *qmin,
                      int32_t *qmax);
/* The same for explicit bounds lo <= x <= hi in real units. */
void lower_clamp_range(double lo, double hi, const qi_quant *yq,
                       int32_t *qmin, int32_t *qmax);

/* Appends the replacement of original node `orig`: a `op_type` node of
 * domain "qinfer", INT8, with nin inputs (filled -1) and output 0 the
 * FP32 output 0 of `orig`, which is marked dead. *out: its index.
 * Invalidates qi_node pointers. */
qi_status lower_replace(lower_ctx *c, int orig, const char *op_type, int nin,
                        lower_out out_mode, int *out, qi_error *err);

/* Attribute setters on node index `ni` (QI_ERR_NOMEM on failure). */
qi_status lower_attr_int(qi_graph *g, int ni, const char *name, int64_t v,
                         qi_error *err);
qi_status lower_attr_float(qi_graph *g, int ni, const char *name, float v,
                           qi_error *err);
qi_status lower_attr_ints(qi_graph *g, int ni, const char *name,
                          const int64_t *v, int n, qi_error *err);
qi_status lower_attr_floats(qi_graph *g, int ni, const char *name,
                            const float *v, int n, qi_error *err);
qi_status lower_attr_str(qi_graph *g, int ni, const char *name,
                         const char *v, qi_error *err);

/* Adds a tensor named base + suffix (made unique) and returns its index in
 * *out. */
qi_status lower_new_tensor(lower_ctx *c, const char *base, const char *suffix,
                           qi_dtype dtype, int *out, qi_error *err);
/* Adds a constant the same way, taking ownership of malloc'd `data`
 * (freed on failure). */
qi_status lower_new_const(lower_ctx *c, const char *base, const char *suffix,
                          qi_dtype dtype, const qi_shape *shape, void *data,
                          size_t nbytes, int *out, qi_error *err);

/* ---- matchers --------------------------------------------------------
 * Each looks at live FP32 node `ni`, whose precision is INT8. When it can
 * run in INT8 the matcher appends the replacement (lower_replace) and sets
 * *done = 1; otherwise it leaves the graph as it was and *done = 0. A
 * status other than QI_OK is only for running out of memory or a bug. */

/* lower_conv.c: Conv (2-D, optional fused Relu/Clip and residual) ->
 * QiQConv; Gemm and MatMul with constant 2-D weights -> QiQMatMul. */
qi_status lower_match_conv(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_gemm(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_matmul(lower_ctx *c, int ni, int *done, qi_error *err);

/* lower_elt.c: Add/Mul, pools, Resize, Concat and table activations. */
qi_status lower_match_binary(lower_ctx *c, int ni, int *done, qi_error *err);
/* Mul/Add of an activation and a constant scalar, run after every other
 * match (last node first, so chains of them resolve): a QiQLut with
 * act = AFFINE when an INT8 replacement reads its result. */
qi_status lower_match_affine(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_pool(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_resize(lower_ctx *c, int ni, int *done, qi_error *err);
void lower_share_concat_grids(qi_graph *g);
/* Puts g's nodes in the order of key[node] (ties: current order), so that
 * new nodes sit where the node they replace was. */
qi_status lower_reorder_nodes(qi_graph *g, const int64_t *key, qi_error *err);
qi_status lower_match_concat(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_lut(lower_ctx *c, int ni, int *done, qi_error *err);

/* lower_attn.c: MatMul of two activations (after lower_match_matmul),
 * Softmax and LayerNormalization over the last axis; and whether a Qi op
 * takes the out_f32 attribute. */
qi_status lower_match_matmul_any(lower_ctx *c, int ni, int *done,
                                 qi_error *err);
qi_status lower_match_softmax(lower_ctx *c, int ni, int *done, qi_error *err);
qi_status lower_match_layernorm(lower_ctx *c, int ni, int *done,
                                qi_error *err);
int lower_attn_has_out_f32(const qi_node *n);

#endif
