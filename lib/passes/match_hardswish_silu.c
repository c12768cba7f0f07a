/*
 * Recognises the gated activations exporters write out element by element:
 *   x * HardSigmoid(x; alpha = 1/6, beta = 0.5)      -> HardSwish(x)
 *   x * Clip(x + 3, 0, 6) / 6  (the / 6 as Div 6 or Mul 1/6, applied to
 *   the Clip or to the product)                      -> HardSwish(x)
 *   x * Sigmoid(x)                                   -> QiSilu(x)
 * QiSilu is an internal default-domain op (ONNX has no SiLU); both can
 * then be fused into a producer by fuse_activation.
 */
#include "passes/passes.h"
#include "passes/pattern.h"

#define GATE_MAX_NODES 4

typedef struct gate_match {
  int set[GATE_MAX_NODES], nset, last, x;
} gate_match;

/* Mul node `mi` = x * gate(x) with gate a one-input node of `gate_op` (and
 * for HardSigmoid the HardSwish constants). */
static int match_gated_mul(const qi_graph *g, int mi, const char *gate_op,
                           gate_match *m) {
  if (!qi_pat_is(g, mi, "Mul") || g->nodes[mi].nin != 2) return 0;
  for (int k = 0; k < 2; k++) {
    int x = g->nodes[mi].in[k], s = g->nodes[mi].in[1 - k];
    int gi = qi_pat_producer(g, s);
    if (!qi_pat_is(g, gi, gate_op)) continue;
    const qi_node *gn = &g->nodes[gi];
    if (gn->nin != 1 || gn->in[0] != x || x < 0) continue;
    if (qi_pat_is(g, gi, "HardSigmoid")) {
      float alpha = qi_attr_float(gn, "alpha", 0.2f);
      float beta = qi_attr_float(gn, "beta", 0.5f);
      float rel_a = (alpha - 1.0f / 6.0f) * 6.0f, abs_b = beta - 0.5f;
      if (rel_a < -QI_PAT_CONST_RTOL || rel_a > QI_PAT_CONST_RTOL ||
          abs_b < -QI_PAT_CONST_RTOL || abs_b > QI_PAT_CONST_RTOL)
        continue;
    }
    m->set[0] = gi;
    m->set[1] = mi;
    m->nset = 2;
    m->last = mi;
    m->x = x;
    return 1;
  }
  return 0;
}

/* Node `di` divides tensor `t` by 6 (Div 6 or Mul 1/6, either order). */
static int divides_by_six(const qi_graph *g, int di, int t) {
  int y;
  return (qi_pat_op_with_const(g, di, "Div", 6.0f, &y) && y == t) ||
         (qi_pat_op_with_const(g, di, "Mul", 1.0f / 6.0f, &y) && y == t);
}

/* Node `mi` multiplies tensor `t` by x. */
static int multiplies_by(const qi_graph *g, int mi, int t, int x) {
  return qi_pat_is(g, mi, "Mul") && t != x &&
         qi_pat_other_input(&g->nodes[mi], t) == x;
}

/* The relu6 form, starting at its Clip node `ci`. */
static int match_relu6_form(const qi_graph *g, int ci, gate_match *m) {
  float lo, hi;
  if (!qi_pat_clip_bounds(g, ci, &lo, &hi) || lo != 0.0f || hi != 6.0f)
    return 0;
  int add = qi_pat_producer(g, g->nodes[ci].in[0]), x;
  if (!qi_pat_op_with_const(g, add, "Add", 3.0f, &x)) return 0;
  int c = g->nodes[ci].out[0];
  int k = qi_pat_sole_consumer(g, c);
  if (k < 0) return 0;
  int ko = g->nodes[k].out[0];
  int last = qi_pat_sole_consumer(g, ko);
  int ok = (multiplies_by(g, k, c, x) && divides_by_six(g, last, ko)) ||
           (divides_by_six(g, k, c) && multiplies_by(g, last, ko, x));
  if (!ok) return 0;
  m->set[0] = add;
  m->set[1] = ci;
  m->set[2] = k;
  m->set[3] = last;
  m->nset = 4;
  m->last = last;
  m->x = x;
  return 1;
}

static qi_status collapse(qi_graph *g, const gate_match *m,
                          const char *op_type, qi_error *err) {
  const qi_tensor *tx = &g->tensors[m->x];
  const qi_tensor *ty = &g->tensors[g->nodes[m->last].out[0]];
  if (tx->dtype != QI_FLOAT32 || !qi_pat_same_shape(&tx->shape, &ty->shape))
    return QI_OK;
  if (!qi_pat_closed(g, m->set, m->nset, m->last)) return QI_OK;
  return qi_pat_collapse(g, m->set, m->nset, m->last, op_type, &m->x, 1, err);
}

qi_status qi_pass_match_hardswish_silu(qi_graph *g, qi_error *err) {
  for (int i = 0; i < g->nnodes; i++) {
    gate_match m;
    if (match_relu6_form(g, i, &m) ||
        match_gated_mul(g, i, "HardSigmoid", &m))
      QI_TRY(collapse(g, &m, "HardSwish", err));
    else if (match_gated_mul(g, i, "Sigmoid", &m))
      QI_TRY(collapse(g, &m, "QiSilu", err));
  }
  return QI_OK;
}
