/*
 * Graph-rewriting passes that fuse operator patterns. They expect a graph in
 * topological order whose tensor shapes are inferred and whose constant
 * subgraphs are folded (import, toposort, constant folding, shape
 * inference), and they keep it in topological order. A rewrite marks the
 * nodes it replaces dead and never renames a graph output; intermediate
 * tensors are swallowed only when the pattern's own nodes are their sole
 * readers and they are not graph outputs. Each pass returns QI_OK unless
 * memory runs out, and leaves dead nodes for qi_graph_compact.
 */
#ifndef QI_PASSES_PASSES_H
#define QI_PASSES_PASSES_H

#include "graph/graph.h"

/* Conv/ConvTranspose -> BatchNormalization (inference) folded into the
 * convolution's weights and bias (a bias constant is added when absent). */
qi_status qi_pass_fold_batchnorm(qi_graph *g, qi_error *err);
/* Conv/ConvTranspose -> Mul/Div/Add/Sub by a constant holding one value or
 * one value per output channel, folded into weights and bias the same way. */
qi_status qi_pass_fold_conv_affine(qi_graph *g, qi_error *err);
/* x * 0.5 * (1 + Erf(x / sqrt(2))) -> Gelu(x), approximate = "none". */
qi_status qi_pass_match_gelu(qi_graph *g, qi_error *err);
/* ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div[/Mul/Add] over the last axis
 * -> LayerNormalization(x, scale, bias), axis = -1. */
qi_status qi_pass_match_layernorm(qi_graph *g, qi_error *err);
/* x * HardSigmoid(x; 1/6, 0.5) and x * Clip(x + 3, 0, 6) / 6 -> HardSwish;
 * x * Sigmoid(x) -> QiSilu (internal op, default domain). */
qi_status qi_pass_match_hardswish_silu(qi_graph *g, qi_error *err);
/* Add(Conv(...), other) of equal shapes -> Conv with input 3 = other and
 * attribute qi_sum = 1 (the sum is added before any fused activation). */
qi_status qi_pass_fuse_residual_add(qi_graph *g, qi_error *err);
/* Conv/Gemm/MatMul/Add -> activation folded into the producer as attributes
 * qi_act (enum qi_act), qi_act_alpha, qi_act_beta. */
qi_status qi_pass_fuse_activation(qi_graph *g, int clamp_only,
                                  qi_error *err);
/* Removes Identity, inference Dropout and arithmetic that changes nothing
 * (x*1, x/1, x+0, x-0 without broadcasting), then every node none of whose
 * outputs is read or is a graph output. */
qi_status qi_pass_remove_dead(qi_graph *g, qi_error *err);

/* MatMul + Add(constant bias over the last axis) -> MatMul with the bias
 * as input 2 (see op_matmul.c). */
qi_status qi_pass_fuse_matmul_bias(qi_graph *g, qi_error *err);

/* All of the above in dependency order, then qi_graph_compact. */
qi_status qi_passes_run_fusions(qi_graph *g, qi_error *err);
/* The same passes for a graph that will be quantized: activations other
 * than Relu/Clip stay separate nodes (see fuse_activation.c). */
qi_status qi_passes_run_fusions_for_int8(qi_graph *g, qi_error *err);

#endif
