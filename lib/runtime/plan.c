#include "runtime/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct live_block {
  size_t off, size;
  int tensor;
} live_block;

static size_t tensor_bytes(const qi_tensor *t) {
  size_t b = (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
  return (b + QI_ARENA_ALIGN - 1) & ~(size_t)(QI_ARENA_ALIGN - 1);
}

qi_status qi_plan_build(const qi_graph *g, qi_plan *plan, qi_error *err) {
  int nt = g->ntensors, nn = g->nnodes;
  memset(plan, 0, sizeof *plan);
  plan->offset = malloc(sizeof(size_t) * ((size_t)nt + 1));
  int *first = malloc(sizeof(int) * ((size_t)nt + 1));
  int *last = malloc(sizeof(int) * ((size_t)nt + 1));
  live_block *live = malloc(sizeof(live_block) * ((size_t)nt + 1));
  int nlive = 0;
  qi_status st = QI_OK;
  if (!plan->offset || !first || !last || !live) {
    st = qi_fail(err, QI_ERR_NOMEM, "out of memory planning the arena");
    goto done;
  }
  for (int i = 0; i < nt; i++) {
    plan->offset[i] = QI_NO_OFFSET;
    first[i] = INT32_MAX;
    last[i] = -1;
  }
  for (int i = 0; i < g->ninputs; i++) first[g->inputs[i]] = -1;
  for (int i = 0; i < nn; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] >= 0 && first[n->out[k]] > i) first[n->out[k]] = i;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0) last[n->in[k]] = i;
  }
  for (int i = 0; i < g->noutputs; i++) last[g->outputs[i]] = nn;
  for (int i = 0; i < nt; i++)
    if (first[i] != INT32_MAX && last[i] < first[i]) last[i] = first[i];

  /* Walk time steps: at step s allocate tensors first produced at s, then
   * release those whose last use is s (outputs of a node never share with
   * its inputs, so release comes after allocation). */
  for (int s = -1; s <= nn; s++) {
    for (int t = 0; t < nt; t++) {
      if (first[t] != s || g->tensors[t].kind == QI_TK_CONST) continue;
      size_t size = tensor_bytes(&g->tensors[t]);
      /* live blocks are kept sorted by offset: find the first gap. */
      size_t off = 0;
      int pos = 0;
      for (; pos < nlive; pos++) {
        if (live[pos].off >= off + size) break;
        size_t end = live[pos].off + live[pos].size;
        if (end > off) off = end;
      }
      memmove(&live[pos + 1], &live[pos], sizeof(live_block) * (size_t)(nlive - pos));
      live[pos] = (live_block){off, size, t};
      nlive++;
      plan->offset[t] = off;
      if (off + size > plan->arena_bytes) plan->arena_bytes = off + size;
    }
    for (int j = 0; j < nlive;) {
      if (last[live[j].tensor] == s && s < nn) {
        memmove(&live[j], &live[j + 1], sizeof(live_block) * (size_t)(nlive - j - 1));
        nlive--;
      } else {
        j++;
      }
    }
  }
done:
  free(first);
  free(last);
  free(live);
  if (st != QI_OK) qi_plan_free(plan);
  return st;
}

void qi_plan_free(qi_plan *plan) {
  free(plan->offset);
  plan->offset = NULL;
}
