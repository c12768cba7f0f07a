/*
 * Removes nodes that do not change their input (Identity, inference
 * Dropout, and x*1, x/1, x+0, x-0 that do not broadcast) by pointing their
 * readers at the input, then every node whose outputs nothing reads.
 *
 * A pass-through node whose output is a graph output keeps that name: the
 * node that writes its input writes the graph output instead (its other
 * readers follow), or, when the input is a graph input, constant or another
 * graph output, the node stays.
 */
#include <stdlib.h>

#include "passes/passes.h"
#include "passes/pattern.h"

/* The input of node `ni` when the node copies it to output 0 unchanged;
 * -1 otherwise. */
static int pass_through_input(const qi_graph *g, int ni) {
  const qi_node *n = &g->nodes[ni];
  if (n->nout < 1 || n->out[0] < 0 || n->nin < 1 || n->in[0] < 0) return -1;
  int x = n->in[0], y = n->out[0];
  if (qi_pat_is(g, ni, "Identity")) return n->nin == 1 && n->nout == 1 ? x : -1;
  if (qi_pat_is(g, ni, "Dropout")) {
    if (n->nin > 3 || n->nout > 2) return -1;
    /* opset >= 12: training_mode is input 2 and must be a constant false. */
    if (n->nin == 3 && n->in[2] >= 0) {
      const qi_tensor *tm = &g->tensors[n->in[2]];
      if (tm->kind != QI_TK_CONST || tm->dtype != QI_BOOL || !tm->data ||
          tm->nbytes < 1 || ((const uint8_t *)tm->data)[0] != 0)
        return -1;
    }
    if (n->nout == 2 && n->out[1] >= 0 && qi_graph_consumers(g, n->out[1]))
      return -1;
    return x;
  }
  /* Arithmetic with an exact neutral element and no broadcasting; for
   * Mul and Add the constant may come first. */
  if (n->nin != 2 || n->nout != 1 || n->in[1] < 0) return -1;
  int mul = qi_pat_is(g, ni, "Mul"), div = qi_pat_is(g, ni, "Div");
  int add = qi_pat_is(g, ni, "Add"), sub = qi_pat_is(g, ni, "Sub");
  if (!mul && !div && !add && !sub) return -1;
  const qi_tensor *ty = &g->tensors[y];
  for (int k = 1; k >= 0; k--) {
    if (k == 0 && (div || sub)) break;
    int v = n->in[1 - k];
    float c;
    if (!qi_pat_const_scalar(g, n->in[k], &c)) continue;
    if (c != ((mul || div) ? 1.0f : 0.0f)) continue;
    const qi_tensor *tv = &g->tensors[v];
    if (tv->dtype == QI_FLOAT32 && ty->dtype == QI_FLOAT32 &&
        qi_pat_same_shape(&tv->shape, &ty->shape))
      return v;
  }
  return -1;
}

/* Removes pass-through node `ni` copying x to y; 0 if it must stay. */
static int bypass(qi_graph *g, int ni, int x, int y) {
  if (!qi_pat_is_graph_output(g, y)) {
    qi_pat_kill(g, ni);
    qi_pat_replace_uses(g, y, x);
    return 1;
  }
  int p = qi_pat_producer(g, x);
  if (p < 0 || qi_pat_is_graph_output(g, x)) return 0;
  qi_pat_kill(g, ni);
  /* Readers of x after p may read y, which p now writes. */
  qi_pat_replace_uses(g, x, y);
  for (int k = 0; k < g->nodes[p].nout; k++)
    if (g->nodes[p].out[k] == x) qi_pat_set_output(g, p, k, y);
  return 1;
}

static qi_status drop_unread(qi_graph *g, qi_error *err) {
  int *uses = calloc((size_t)(g->ntensors ? g->ntensors : 1), sizeof(int));
  if (!uses) return qi_fail(err, QI_ERR_NOMEM, "out of memory in remove_dead");
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0) uses[n->in[k]]++;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] >= 0) uses[g->outputs[i]]++;
  /* Readers come after writers, so one backward sweep frees whole chains. */
  for (int i = g->nnodes - 1; i >= 0; i--) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    int read = 0;
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] >= 0 && uses[n->out[k]] > 0) read = 1;
    if (read) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0) uses[n->in[k]]--;
    qi_pat_kill(g, i);
  }
  free(uses);
  return QI_OK;
}

qi_status qi_pass_remove_dead(qi_graph *g, qi_error *err) {
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead) continue;
    int x = pass_through_input(g, i);
    if (x >= 0) bypass(g, i, x, g->nodes[i].out[0]);
  }
  return drop_unread(g, err);
}
