/* MatMul(x, W) followed by Add(y, b) with a constant bias b over the last
 * axis (transformer Linear layers as exported: MatMul + Add) becomes one
 * MatMul with b as input 2, so the bias is added in the GEMM epilogue
 * instead of another pass over memory, and a following activation (GELU in
 * MLPs) can fuse too. */
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"

/* Bias constant of Add `ai` (the input other than `y`) if it holds one
 * value per output column: shape [N] or [1, ..., 1, N]. */
static int bias_input(const qi_graph *g, const qi_node *a, int y, int64_t n) {
  int b = qi_pat_other_input(a, y);
  if (b < 0 || b == y) return -1;
  int64_t numel;
  if (!qi_pat_const_f32(g, b, &numel) || numel != n) return -1;
  const qi_shape *s = &g->tensors[b].shape;
  if (s->rank < 1 || s->d[s->rank - 1] != n) return -1;
  for (int d = 0; d < s->rank - 1; d++)
    if (s->d[d] != 1) return -1;
  /* Broadcasting must not grow the output's rank. */
  return s->rank <= g->tensors[y].shape.rank ? b : -1;
}

qi_status qi_pass_fuse_matmul_bias(qi_graph *g, qi_error *err) {
  for (int mi = 0; mi < g->nnodes; mi++) {
    if (!qi_pat_is(g, mi, "MatMul")) continue;
    const qi_node *m = &g->nodes[mi];
    if (m->nin != 2 || m->nout != 1 || qi_attr_find(m, "qi_act")) continue;
    int y = m->out[0];
    const qi_shape *ys = &g->tensors[y].shape;
    if (ys->rank < 2) continue;
    int ai = qi_pat_sole_consumer(g, y);
    if (ai < 0 || !qi_pat_is(g, ai, "Add") || g->nodes[ai].nin != 2) continue;
    int b = bias_input(g, &g->nodes[ai], y, ys->d[ys->rank - 1]);
    if (b < 0) continue;
    int out = g->nodes[ai].out[0];
    if (!qi_pat_same_shape(&g->tensors[out].shape, ys)) continue;
    qi_node *mm = &g->nodes[mi];
    QI_TRY(qi_pat_resize_inputs(mm, 3, err));
    mm->in[2] = b;
    qi_pat_kill(g, ai);
    qi_pat_set_output(g, mi, 0, out);
  }
  return QI_OK;
}
