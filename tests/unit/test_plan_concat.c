/* Memory plan: Concat inputs placed inside the Concat's output (plan.c,
 * place_concat_inputs) exactly when every rule allows it, with offsets
 * that make each input its own piece of the output; and no two live
 * tensors overlapping in the arena either way. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test_util.h"
#include "qtest.h"
#include "runtime/plan.h"

/* x -> Relu -> a, x -> Relu -> b (shapes as given) -> Concat(axis) -> y
 * -> Relu -> z (graph output). Tensor indices in *ta, *tb, *ty. */
typedef struct pc_graph {
  qi_graph *g;
  int tx, ta, tb, ty, tz;
  int concat;
} pc_graph;

static int add_act(qi_graph *g, const char *name, int rank, const int64_t *d,
                   qi_dtype dt) {
  return add_tensor(g, name, rank, d, NULL, dt);
}

static void add_output(qi_graph *g, int t) {
  g->outputs = realloc(g->outputs, sizeof(int) * (size_t)(g->noutputs + 1));
  g->outputs[g->noutputs++] = t;
}

static int add_unary(qi_graph *g, const char *name, int in, int out) {
  int i = qi_graph_add_node(g, name, "Relu", "", 1, 1);
  g->nodes[i].in[0] = in;
  g->nodes[i].out[0] = out;
  return i;
}

static pc_graph make_graph(int rank, const int64_t *da, const int64_t *db,
                           int axis, qi_dtype dt) {
  pc_graph p;
  p.g = qi_graph_create();
  qi_graph *g = p.g;
  int64_t dy[QI_MAX_RANK];
  for (int i = 0; i < rank; i++) dy[i] = i == axis ? da[i] + db[i] : da[i];
  p.tx = add_act(g, "x", rank, da, dt);
  g->inputs = malloc(sizeof(int));
  g->inputs[0] = p.tx;
  g->ninputs = 1;
  p.ta = add_act(g, "a", rank, da, dt);
  p.tb = add_act(g, "b", rank, db, dt);
  p.ty = add_act(g, "y", rank, dy, dt);
  p.tz = add_act(g, "z", rank, dy, dt);
  add_unary(g, "relu_a", p.tx, p.ta);
  add_unary(g, "relu_b", p.tx, p.tb);
  p.concat = qi_graph_add_node(g, "concat", "Concat", "", 2, 1);
  g->nodes[p.concat].in[0] = p.ta;
  g->nodes[p.concat].in[1] = p.tb;
  g->nodes[p.concat].out[0] = p.ty;
  set_int(&g->nodes[p.concat], "axis", axis);
  add_unary(g, "relu_z", p.ty, p.tz);
  add_output(g, p.tz);
  return p;
}

static size_t bytes_of(const qi_graph *g, int t) {
  return (size_t)qi_shape_numel(&g->tensors[t].shape) *
         qi_dtype_size(g->tensors[t].dtype);
}

/* Whether a and b are placed as the first and second piece of y. */
static int placed(const qi_graph *g, const qi_plan *pl, int ta, int tb,
                  int ty) {
  return pl->offset[ta] == pl->offset[ty] &&
         pl->offset[tb] == pl->offset[ty] + bytes_of(g, ta);
}

/* Tensor t's lifetime in node steps: from its producer (graph inputs: -1)
 * to its last reader (graph outputs: past the last node). */
static void live_range(const qi_graph *g, int t, int *first, int *last) {
  *first = -1;
  *last = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] == t) *first = i;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == t) *last = i;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == t) *last = g->nnodes;
}

/* Whether `piece` is an input of a Concat whose output is `whole`. */
static int is_piece(const qi_graph *g, int piece, int whole) {
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (strcmp(n->op_type, "Concat") != 0 || n->out[0] != whole) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == piece) return 1;
  }
  return 0;
}

/* No two tensors whose lifetimes meet share bytes, unless one is a piece
 * of the other (a placed input inside its Concat output). */
static int overlaps_ok(const qi_graph *g, const qi_plan *pl) {
  int nt = g->ntensors;
  for (int s = 0; s < nt; s++)
    for (int t = s + 1; t < nt; t++) {
      if (pl->offset[s] == QI_NO_OFFSET || pl->offset[t] == QI_NO_OFFSET)
        continue;
      size_t s0 = pl->offset[s], s1 = s0 + bytes_of(g, s);
      size_t t0 = pl->offset[t], t1 = t0 + bytes_of(g, t);
      if (s1 <= t0 || t1 <= s0) continue;
      if ((s0 <= t0 && t1 <= s1 && is_piece(g, t, s)) ||
          (t0 <= s0 && s1 <= t1 && is_piece(g, s, t)))
        continue;
      int fs, ls, ft, lt;
      live_range(g, s, &fs, &ls);
      live_range(g, t, &ft, &lt);
      if (!(ls < ft || lt < fs)) return 0;
    }
  return 1;
}

static void check_case(qt_state *st, const char *what, pc_graph p,
                       int want_placed) {
  qi_plan pl;
  qi_error err = {0};
  QT_CHECKF(st, qi_plan_build(p.g, &pl, &err) == QI_OK, "%s: %s", what,
            err.message);
  int got = placed(p.g, &pl, p.ta, p.tb, p.ty);
  QT_CHECKF(st, got == want_placed, "%s: inputs %splaced in the output", what,
            got ? "" : "not ");
  QT_CHECKF(st, overlaps_ok(p.g, &pl), "%s: live tensors overlap", what);
  QT_CHECKF(st, pl.arena_bytes >= bytes_of(p.g, p.ty) + bytes_of(p.g, p.tz),
            "%s: arena %zu too small", what, pl.arena_bytes);
  qi_plan_free(&pl);
  qi_graph_free(p.g);
}

/* Input t of p's Concat (rewired by the caller) is not placed in its
 * output, and the plan stays sound; frees p. */
static void check_not_placed(qt_state *st, pc_graph p, int t) {
  qi_plan pl;
  qi_error err = {0};
  QT_CHECK(st, qi_plan_build(p.g, &pl, &err) == QI_OK);
  QT_CHECK(st, pl.offset[t] != pl.offset[p.ty]);
  QT_CHECK(st, overlaps_ok(p.g, &pl));
  qi_plan_free(&pl);
  qi_graph_free(p.g);
}

static void test_placement_rules(qt_state *st) {
  int64_t a4[4] = {1, 16, 5, 7}, b4[4] = {1, 32, 5, 7};
  /* Channel concat at batch 1: placed (16*5*7*4 bytes = 2240, 64-aligned). */
  check_case(st, "nchw axis 1", make_graph(4, a4, b4, 1, QI_FLOAT32), 1);
  /* Batch 2: the pieces interleave per batch, not placed. */
  int64_t a2[4] = {2, 16, 5, 7}, b2[4] = {2, 32, 5, 7};
  check_case(st, "batch 2 axis 1", make_graph(4, a2, b2, 1, QI_FLOAT32), 0);
  /* Axis 0 with several rows: placed. */
  int64_t r1[2] = {16, 9}, r2[2] = {3, 9};
  check_case(st, "axis 0", make_graph(2, r1, r2, 0, QI_FLOAT32), 1);
  /* Last axis of a matrix: interleaved rows, not placed. */
  int64_t c1[2] = {4, 16}, c2[2] = {4, 8};
  check_case(st, "last axis", make_graph(2, c1, c2, 1, QI_FLOAT32), 0);
  /* Second piece would start at 5*4 = 20 bytes: not aligned, not placed. */
  int64_t u1[2] = {5, 1}, u2[2] = {3, 1};
  check_case(st, "unaligned piece", make_graph(2, u1, u2, 0, QI_FLOAT32), 0);
  /* uint8 pieces: 64 bytes, aligned, placed. */
  int64_t q1[4] = {1, 4, 4, 4}, q2[4] = {1, 3, 4, 4};
  check_case(st, "uint8 axis 1", make_graph(4, q1, q2, 1, QI_UINT8), 1);

  /* An input that is also a graph output: not placed. */
  pc_graph p = make_graph(4, a4, b4, 1, QI_FLOAT32);
  add_output(p.g, p.ta);
  check_case(st, "input is a graph output", p, 0);
  /* The same tensor twice: not placed. */
  p = make_graph(4, a4, a4, 1, QI_FLOAT32);
  p.g->nodes[p.concat].in[1] = p.ta;
  check_not_placed(st, p, p.ta);
  /* A graph input concatenated: not placed. */
  p = make_graph(4, a4, a4, 1, QI_FLOAT32);
  p.g->nodes[p.concat].in[0] = p.tx;
  check_not_placed(st, p, p.tx);
}

/* Nested: y = Concat(a, b) feeds w = Concat(y, c). The inner one places
 * its inputs; y itself stays out of w (no views of views). */
static void test_nested(qt_state *st) {
  int64_t a4[4] = {1, 16, 5, 7}, b4[4] = {1, 32, 5, 7};
  pc_graph p = make_graph(4, a4, b4, 1, QI_FLOAT32);
  qi_graph *g = p.g;
  int64_t dw[4] = {1, 64, 5, 7}, dc[4] = {1, 16, 5, 7};
  int tc = add_act(g, "c", 4, dc, QI_FLOAT32);
  int tw = add_act(g, "w", 4, dw, QI_FLOAT32);
  add_unary(g, "relu_c", p.tx, tc);
  int k = qi_graph_add_node(g, "concat2", "Concat", "", 2, 1);
  g->nodes[k].in[0] = p.ty;
  g->nodes[k].in[1] = tc;
  g->nodes[k].out[0] = tw;
  set_int(&g->nodes[k], "axis", 1);
  add_output(g, tw);
  qi_plan pl;
  qi_error err = {0};
  QT_CHECK(st, qi_plan_build(g, &pl, &err) == QI_OK);
  QT_CHECK(st, placed(g, &pl, p.ta, p.tb, p.ty));
  QT_CHECK(st, pl.offset[p.ty] != pl.offset[tw]);
  QT_CHECK(st, overlaps_ok(g, &pl));
  qi_plan_free(&pl);
  qi_graph_free(g);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_placement_rules);
  QT_RUN(&st, test_nested);
  return qt_summary(&st);
}
