/*
 * Folds a residual Add into the convolution that feeds it:
 *   Add(Conv(x, W, B), other)  ->  Conv(x, W, B, other) with qi_sum = 1,
 * where the conv kernel adds `other` to its accumulator before any fused
 * activation (which fuse_activation may add afterwards), so
 * Conv -> Add -> Relu becomes one node. Only element-wise sums fuse: the
 * conv output, `other` and the Add output must have one shape.
 */
#include "passes/passes.h"
#include "passes/pattern.h"

/* 1 if Add node `ai` can be folded into conv node `ci`, reading `other`. */
static int can_fuse(const qi_graph *g, int ai, int ci, int other) {
  if (!qi_pat_is(g, ci, "Conv")) return 0;
  const qi_node *c = &g->nodes[ci];
  if (c->nin < 2 || c->nin > 3 || c->nout != 1) return 0;
  if (qi_attr_find(c, "qi_act") || qi_attr_find(c, "qi_sum")) return 0;
  int y = c->out[0];
  if (qi_pat_sole_consumer(g, y) != ai || other == y) return 0;
  /* The conv will read `other`, so it must exist before the conv runs. */
  int op = qi_pat_producer(g, other);
  if (op >= ci) return 0;
  const qi_tensor *ty = &g->tensors[y], *to = &g->tensors[other];
  const qi_tensor *ts = &g->tensors[g->nodes[ai].out[0]];
  if (ty->dtype != QI_FLOAT32 || to->dtype != QI_FLOAT32) return 0;
  return qi_pat_same_shape(&ty->shape, &to->shape) &&
         qi_pat_same_shape(&ty->shape, &ts->shape);
}

qi_status qi_pass_fuse_residual_add(qi_graph *g, qi_error *err) {
  for (int ai = 0; ai < g->nnodes; ai++) {
    if (!qi_pat_is(g, ai, "Add")) continue;
    const qi_node *a = &g->nodes[ai];
    if (a->nin != 2 || a->nout != 1 || a->out[0] < 0) continue;
    if (qi_attr_find(a, "qi_act")) continue;
    /* When both inputs are convs, the later one can read the earlier one's
     * output; try inputs latest producer first. */
    int p0 = qi_pat_producer(g, a->in[0]), p1 = qi_pat_producer(g, a->in[1]);
    int first = p1 > p0 ? 1 : 0;
    for (int s = 0; s < 2; s++) {
      int k = s == 0 ? first : 1 - first;
      int ci = k ? p1 : p0;
      int other = g->nodes[ai].in[1 - k];
      if (ci < 0 || !can_fuse(g, ai, ci, other)) continue;
      int out = g->nodes[ai].out[0];
      qi_node *c = &g->nodes[ci];
      /* An absent bias stays -1 at index 2. */
      QI_TRY(qi_pat_resize_inputs(c, 4, err));
      c->in[3] = other;
      QI_TRY(qi_pat_set_int_attr(c, "qi_sum", 1, err));
      qi_pat_kill(g, ai);
      qi_pat_set_output(g, ci, 0, out);
      break;
    }
  }
  return QI_OK;
}
