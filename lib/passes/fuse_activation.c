/*
 * Folds an element-wise activation into the node that produces its input
 * (Conv, Gemm, MatMul, Add), recorded as attributes qi_act / qi_act_alpha /
 * qi_act_beta that the producer's kernel applies while its output is still
 * in registers. The producer takes over the activation's output tensor.
 * For INT8 (clamp_only) only Relu and Clip fuse: they are a clamp of the
 * requantized output, while any other activation needs its input's range
 * of its own (calibration observes it) and runs as a table lookup.
 */
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"

/* Describes activation node `ai` as a qi_act with parameters; 0 if it is
 * not an activation we fuse. */
static int activation_of(const qi_graph *g, int ai, qi_act *act, float *alpha,
                         float *beta) {
  const qi_node *n = &g->nodes[ai];
  if (n->dead || n->nout != 1 || n->nin < 1) return 0;
  *alpha = 0.0f;
  *beta = 0.0f;
  if (qi_pat_is(g, ai, "Relu")) {
    *act = QI_ACT_RELU;
  } else if (qi_pat_is(g, ai, "Clip")) {
    *act = QI_ACT_CLIP;
    if (!qi_pat_clip_bounds(g, ai, alpha, beta)) return 0;
  } else if (qi_pat_is(g, ai, "LeakyRelu")) {
    *act = QI_ACT_LEAKY;
    *alpha = qi_attr_float(n, "alpha", 0.01f);
  } else if (qi_pat_is(g, ai, "Sigmoid")) {
    *act = QI_ACT_SIGMOID;
  } else if (qi_pat_is(g, ai, "HardSwish")) {
    *act = QI_ACT_HARDSWISH;
  } else if (qi_pat_is(g, ai, "HardSigmoid")) {
    *act = QI_ACT_HARDSIGMOID;
    *alpha = qi_attr_float(n, "alpha", 0.2f);
    *beta = qi_attr_float(n, "beta", 0.5f);
  } else if (qi_pat_is(g, ai, "Tanh")) {
    *act = QI_ACT_TANH;
  } else if (qi_pat_is(g, ai, "Gelu")) {
    /* QI_ACT_GELU is the exact erf form only. */
    if (strcmp(qi_attr_str(n, "approximate", "none"), "none") != 0) return 0;
    *act = QI_ACT_GELU;
  } else if (qi_pat_is(g, ai, "QiSilu")) {
    *act = QI_ACT_SILU;
  } else {
    return 0;
  }
  /* Unary activations take one input; Clip's bounds were read above. */
  return *act == QI_ACT_CLIP || n->nin == 1;
}

static int fusable_producer(const qi_graph *g, int pi) {
  if (!qi_pat_is(g, pi, "Conv") && !qi_pat_is(g, pi, "Gemm") &&
      !qi_pat_is(g, pi, "MatMul") && !qi_pat_is(g, pi, "Add"))
    return 0;
  const qi_node *n = &g->nodes[pi];
  if (n->nout != 1 || n->out[0] < 0 || qi_attr_find(n, "qi_act")) return 0;
  return g->tensors[n->out[0]].dtype == QI_FLOAT32;
}

qi_status qi_pass_fuse_activation(qi_graph *g, int clamp_only,
                                  qi_error *err) {
  for (int pi = 0; pi < g->nnodes; pi++) {
    if (!fusable_producer(g, pi)) continue;
    int y = g->nodes[pi].out[0];
    int ai = qi_pat_sole_consumer(g, y);
    qi_act act;
    float alpha, beta;
    if (ai < 0 || !activation_of(g, ai, &act, &alpha, &beta)) continue;
    if (clamp_only && act != QI_ACT_RELU && act != QI_ACT_CLIP) continue;
    if (g->nodes[ai].in[0] != y || g->nodes[ai].out[0] < 0) continue;
    qi_node *p = &g->nodes[pi];
    QI_TRY(qi_pat_set_int_attr(p, "qi_act", act, err));
    QI_TRY(qi_pat_set_float_attr(p, "qi_act_alpha", alpha, err));
    QI_TRY(qi_pat_set_float_attr(p, "qi_act_beta", beta, err));
    int out = g->nodes[ai].out[0];
    qi_pat_kill(g, ai);
    qi_pat_set_output(g, pi, 0, out);
  }
  return QI_OK;
}
