/*
 * Recognises the exact GELU written out by exporters,
 *   y = x * 0.5 * (1 + erf(x / sqrt(2))),
 * and replaces it with one Gelu node (ONNX opset 20, approximate = "none").
 * The matcher starts at Erf and accepts x / 1.4142135 or x * 0.70710677 as
 * its argument, and the 0.5 applied to x, to (1 + erf), or to the product:
 *   Mul(Mul(x, a), 0.5),  Mul(Mul(a, 0.5), x),  Mul(Mul(x, 0.5), a)
 * with a = Add(erf, 1), any operand order.
 */
#include "passes/passes.h"
#include "passes/pattern.h"

#define GELU_MAX_NODES 5
#define GELU_SQRT2 1.41421356237309505f
#define GELU_SQRT1_2 0.70710678118654752f

/* The tensor x with erf's argument = x / sqrt(2), and the node that
 * scales it; 0 if the Erf input is not written that way. */
static int erf_argument(const qi_graph *g, int erf, int *x, int *scale) {
  int u = g->nodes[erf].in[0];
  int p = qi_pat_producer(g, u);
  if (p < 0) return 0;
  *scale = p;
  return qi_pat_op_with_const(g, p, "Div", GELU_SQRT2, x) ||
         qi_pat_op_with_const(g, p, "Mul", GELU_SQRT1_2, x);
}

/* Matches around Erf node `ei`; on success fills the node set, the node
 * writing the result and x. */
static int match_at(const qi_graph *g, int ei, int *set, int *nset,
                    int *last, int *x) {
  if (!qi_pat_is(g, ei, "Erf") || g->nodes[ei].nin != 1) return 0;
  int scale;
  if (!erf_argument(g, ei, x, &scale)) return 0;
  int add = qi_pat_sole_consumer(g, g->nodes[ei].out[0]);
  int e;
  if (!qi_pat_op_with_const(g, add, "Add", 1.0f, &e)) return 0;
  if (e != g->nodes[ei].out[0]) return 0;
  int a = g->nodes[add].out[0];
  int m1 = qi_pat_sole_consumer(g, a);
  if (!qi_pat_is(g, m1, "Mul")) return 0;
  int y = qi_pat_other_input(&g->nodes[m1], a);
  if (y < 0 || y == a) return 0;
  int n = 0;
  set[n++] = scale;
  set[n++] = ei;
  set[n++] = add;
  set[n++] = m1;
  int half = qi_pat_producer(g, y), hx;
  if (y == *x || qi_pat_const_near(g, y, 0.5f)) {
    /* The final Mul applies whichever of 0.5 and x is left. */
    int m2 = qi_pat_sole_consumer(g, g->nodes[m1].out[0]);
    if (!qi_pat_is(g, m2, "Mul")) return 0;
    int z = qi_pat_other_input(&g->nodes[m2], g->nodes[m1].out[0]);
    int ok = y == *x ? qi_pat_const_near(g, z, 0.5f) : z == *x;
    if (!ok) return 0;
    set[n++] = m2;
    *last = m2;
  } else if (qi_pat_op_with_const(g, half, "Mul", 0.5f, &hx) && hx == *x) {
    set[n++] = half;
    *last = m1;
  } else {
    return 0;
  }
  *nset = n;
  return 1;
}

qi_status qi_pass_match_gelu(qi_graph *g, qi_error *err) {
  for (int ei = 0; ei < g->nnodes; ei++) {
    int set[GELU_MAX_NODES], nset = 0, last = -1, x = -1;
    if (!match_at(g, ei, set, &nset, &last, &x)) continue;
    const qi_tensor *tx = &g->tensors[x];
    const qi_tensor *ty = &g->tensors[g->nodes[last].out[0]];
    if (tx->dtype != QI_FLOAT32 || !qi_pat_same_shape(&tx->shape, &ty->shape))
      continue;
    if (!qi_pat_closed(g, set, nset, last)) continue;
    QI_TRY(qi_pat_collapse(g, set, nset, last, "Gelu", &x, 1, err));
    QI_TRY(qi_pat_set_str_attr(&g->nodes[last], "approximate", "none", err));
  }
  return QI_OK;
}
