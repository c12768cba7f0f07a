#include "runtime/plan.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"

typedef struct live_block {
  size_t off, size;
  int tensor;
} live_block;

static size_t data_bytes(const qi_tensor *t) {
  return (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
}

/* Arena bytes: rounded up so that every offset stays aligned. */
static size_t tensor_bytes(const qi_tensor *t) {
  return (data_bytes(t) + QI_ARENA_ALIGN - 1) & ~(size_t)(QI_ARENA_ALIGN - 1);
}

static int is_concat(const qi_node *n) {
  return !n->dead && strcmp(n->op_type, "Concat") == 0 && n->nout == 1 &&
         n->out[0] >= 0;
}

/* A Concat whose inputs are contiguous pieces of its output (every axis
 * before the concat axis has extent 1) gets those inputs placed inside its
 * output: their producers write there and the Concat copies nothing. An
 * input qualifies when it is an activation produced by an earlier node,
 * neither a graph input nor output, not itself a Concat's output (no
 * nesting), listed once, not already placed in another Concat,
 * and its piece starts on a QI_ARENA_ALIGN boundary. view_of[t] >= 0 names
 * the output holding input t, at byte view_off[t]; the output's lifetime
 * grows to cover its inputs'. */
static void place_concat_inputs(const qi_graph *g, int *first, int *last,
                                int *view_of, size_t *view_off) {
  const int nn = g->nnodes;
  /* Concat outputs, which stay where they are (no views of views). */
  unsigned char *cat_out = calloc((size_t)g->ntensors + 1, 1);
  if (!cat_out) return; /* an optimisation only */
  for (int i = 0; i < nn; i++)
    if (is_concat(&g->nodes[i])) cat_out[g->nodes[i].out[0]] = 1;
  for (int i = 0; i < nn; i++) {
    const qi_node *n = &g->nodes[i];
    if (!is_concat(n) || n->nin < 2) continue;
    const int to = n->out[0];
    const qi_shape *os = &g->tensors[to].shape;
    int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), os->rank);
    int ok = axis >= 0 && view_of[to] < 0 && last[to] < nn;
    for (int d = 0; ok && d < axis; d++) ok = os->d[d] == 1;
    size_t off = 0;
    for (int k = 0; ok && k < n->nin; k++) {
      int t = n->in[k];
      ok = t >= 0 && g->tensors[t].kind != QI_TK_CONST && first[t] >= 0 &&
           first[t] < i && last[t] < nn && view_of[t] < 0 && !cat_out[t] &&
           off % QI_ARENA_ALIGN == 0;
      for (int j = 0; ok && j < k; j++) ok = n->in[j] != t;
      if (ok) off += data_bytes(&g->tensors[t]);
    }
    if (!ok) continue;
    off = 0;
    for (int k = 0; k < n->nin; k++) {
      int t = n->in[k];
      view_of[t] = to;
      view_off[t] = off;
      off += data_bytes(&g->tensors[t]);
      if (first[t] < first[to]) first[to] = first[t];
      if (last[t] > last[to]) last[to] = last[t];
    }
  }
  free(cat_out);
}

qi_status qi_plan_build(const qi_graph *g, qi_plan *plan, qi_error *err) {
  int nt = g->ntensors, nn = g->nnodes;
  memset(plan, 0, sizeof *plan);
  plan->offset = malloc(sizeof(size_t) * ((size_t)nt + 1));
  int *first = malloc(sizeof(int) * ((size_t)nt + 1));
  int *last = malloc(sizeof(int) * ((size_t)nt + 1));
  live_block *live = malloc(sizeof(live_block) * ((size_t)nt + 1));
  int *view_of = malloc(sizeof(int) * ((size_t)nt + 1));
  size_t *view_off = malloc(sizeof(size_t) * ((size_t)nt + 1));
  int nlive = 0;
  qi_status st = QI_OK;
  if (!plan->offset || !first || !last || !live || !view_of || !view_off) {
    st = qi_fail(err, QI_ERR_NOMEM, "out of memory planning the arena");
    goto done;
  }
  for (int i = 0; i < nt; i++) {
    plan->offset[i] = QI_NO_OFFSET;
    first[i] = INT32_MAX;
    last[i] = -1;
    view_of[i] = -1;
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
  place_concat_inputs(g, first, last, view_of, view_off);

  /* Walk time steps: at step s allocate tensors first produced at s, then
   * release those whose last use is s (outputs of a node never share with
   * its inputs, so release comes after allocation). */
  for (int s = -1; s <= nn; s++) {
    for (int t = 0; t < nt; t++) {
      if (first[t] != s || g->tensors[t].kind == QI_TK_CONST ||
          view_of[t] >= 0)
        continue;
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
  for (int t = 0; t < nt; t++)
    if (view_of[t] >= 0) plan->offset[t] = plan->offset[view_of[t]] + view_off[t];
done:
  free(view_of);
  free(view_off);
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
