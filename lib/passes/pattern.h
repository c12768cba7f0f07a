/*
 * Small matching and rewriting helpers shared by the pattern passes in
 * lib/passes. Every helper skips dead nodes, and every rewrite keeps each
 * tensor's `producer` field current, so a pass can trust it between calls.
 *
 * Rewrites never add nodes: a fused pattern reuses the node slot of its last
 * node (the one that writes the pattern's result), which already comes after
 * every other node of the pattern, so topological order survives.
 */
#ifndef QI_PASSES_PATTERN_H
#define QI_PASSES_PATTERN_H

#include <stdint.h>

#include "core/error.h"
#include "graph/graph.h"

/* Relative tolerance when a constant must equal a known value that exporters
 * write in float32 or with few digits (1.4142135, 0.70710677, 0.1666667). */
#define QI_PAT_CONST_RTOL 1e-4f

/* 1 if node `n` is a live node of the default ONNX domain with `op_type`
 * whose output 0 is present. */
int qi_pat_is(const qi_graph *g, int n, const char *op_type);
/* Live node that writes tensor `t`, or -1 (graph input, constant, dead). */
int qi_pat_producer(const qi_graph *g, int t);
int qi_pat_is_graph_output(const qi_graph *g, int t);
/* The one live node that reads `t` (once), when `t` is not a graph output;
 * otherwise -1. */
int qi_pat_sole_consumer(const qi_graph *g, int t);
/* 1 if every use of `t` is by one of the nodes in set[0..nset) and `t` is not
 * a graph output: the tensor is internal to a matched pattern. */
int qi_pat_uses_within(const qi_graph *g, int t, const int *set, int nset);
/* For a two-input node that reads `t`: the other input (t itself for x*x);
 * -1 when the node does not have exactly two inputs or does not read t. */
int qi_pat_other_input(const qi_node *n, int t);

/* Float32 constant data of tensor `t` and its element count, or NULL when
 * `t` is absent, not constant, not float32 or its byte size is inconsistent
 * with its shape. */
const float *qi_pat_const_f32(const qi_graph *g, int t, int64_t *numel);
/* 1 if `t` is a float32 constant holding exactly one element (any rank). */
int qi_pat_const_scalar(const qi_graph *g, int t, float *val);
/* 1 if `t` is a one-element float32 constant within QI_PAT_CONST_RTOL of
 * `want` (relative to max(|want|, 1)). */
int qi_pat_const_near(const qi_graph *g, int t, float want);
/* 1 if node `n` is a live two-input `op_type` node one of whose inputs is a
 * scalar constant near `want` (only the second for non-commutative ops:
 * anything but Add and Mul); *x is set to the other input. */
int qi_pat_op_with_const(const qi_graph *g, int n, const char *op_type,
                         float want, int *x);
/* Clip bounds of node `n`: attributes min / max (opset < 11), else scalar
 * constant inputs 1 / 2 (opset >= 11), else -INFINITY / INFINITY. 0 if a
 * bound is a tensor not known at load. */
int qi_pat_clip_bounds(const qi_graph *g, int n, float *lo, float *hi);
/* 1 if both shapes are known and equal. */
int qi_pat_same_shape(const qi_shape *a, const qi_shape *b);

/* Adds a float32 constant named after `base` plus `suffix` (made unique),
 * taking ownership of malloc'd `data` (freed on failure). Invalidates
 * pointers into g->tensors. */
qi_status qi_pat_add_const_f32(qi_graph *g, const char *base,
                               const char *suffix, const qi_shape *shape,
                               float *data, int *index, qi_error *err);

/* Attribute setters: replace an attribute of the same name or add one. */
qi_status qi_pat_set_int_attr(qi_node *n, const char *name, int64_t v,
                              qi_error *err);
qi_status qi_pat_set_float_attr(qi_node *n, const char *name, float v,
                                qi_error *err);
qi_status qi_pat_set_str_attr(qi_node *n, const char *name, const char *v,
                              qi_error *err);
/* Resizes the input list of `n`; new slots are -1 (absent). */
qi_status qi_pat_resize_inputs(qi_node *n, int nin, qi_error *err);
/* Turns node `n` into a fresh default-domain `op_type` node reading
 * inputs[0..nin) (outputs kept, attributes dropped, op binding cleared). */
qi_status qi_pat_rewrite_node(qi_graph *g, int n, const char *op_type,
                              const int *inputs, int nin, qi_error *err);
/* 1 if the matched nodes set[0..nset) can be collapsed into node `last`
 * (a member with one output, placed after every other member): every
 * tensor the other members write is read only by members and is not a
 * graph output. */
int qi_pat_closed(const qi_graph *g, const int *set, int nset, int last);
/* Kills every member but `last`, which becomes op_type(inputs) and keeps
 * its output tensor. Call after qi_pat_closed. */
qi_status qi_pat_collapse(qi_graph *g, const int *set, int nset, int last,
                          const char *op_type, const int *inputs, int nin,
                          qi_error *err);
/* Makes every live node that reads `from` read `to` instead. */
void qi_pat_replace_uses(qi_graph *g, int from, int to);
/* Marks node `n` dead and clears the producer of the tensors it wrote. */
void qi_pat_kill(qi_graph *g, int n);
/* Moves output slot `k` of node `n` onto tensor `t` (taking it over from the
 * node that wrote it, which the caller kills). */
void qi_pat_set_output(qi_graph *g, int n, int k, int t);

#endif
