/*
 * Recognises layer normalisation over the last axis as exporters write it
 * before opset 17,
 *   mean = ReduceMean(x), d = x - mean, var = ReduceMean(d^2),
 *   y = d / Sqrt(var + eps)        (or d * Reciprocal(Sqrt(var + eps)))
 *   [y = y * gamma] [y = y + beta]
 * (d^2 as Pow(d, 2) or Mul(d, d)), and replaces it with one
 * LayerNormalization(x, scale, bias) node, axis = -1, epsilon = eps.
 * Missing gamma / beta become constant ones / zeros.
 */
#include <math.h>
#include <stdlib.h>

#include "ops/op.h"
#include "passes/passes.h"
#include "passes/pattern.h"

#define LN_MAX_NODES 10

/* 1 if node `r` is a ReduceMean with keepdims over the last axis of its
 * input only (axes from the attribute before opset 18, else input 1). */
static int reduce_last_axis(const qi_graph *g, int r) {
  if (!qi_pat_is(g, r, "ReduceMean")) return 0;
  const qi_node *n = &g->nodes[r];
  if (n->nin < 1 || n->nin > 2 || n->in[0] < 0 || n->nout != 1) return 0;
  if (qi_attr_int(n, "keepdims", 1) != 1) return 0;
  int rank = g->tensors[n->in[0]].shape.rank;
  if (rank < 1) return 0;
  const int64_t *attr_axes = NULL;
  int64_t axes[QI_MAX_RANK];
  int count = qi_attr_ints(n, "axes", &attr_axes);
  if (count >= 0) {
    for (int i = 0; i < count && i < QI_MAX_RANK; i++) axes[i] = attr_axes[i];
  } else if (n->nin == 2 && n->in[1] >= 0) {
    count = qi_in_const_i64(g, n, 1, axes, QI_MAX_RANK);
    if (count < 0) return 0;
  } else {
    count = 0;
  }
  /* No axes means all axes, which is the last one only for rank 1. */
  if (count == 0) return rank == 1 && !qi_attr_int(n, "noop_with_empty_axes", 0);
  return count == 1 && qi_norm_axis(axes[0], rank) == rank - 1;
}

/* 1 if constant `t` is a float32 per-feature vector for inputs of rank
 * `rank` whose last axis has c entries: one value, or c values along its
 * last axis with every other dim 1 (so it broadcasts along that axis only). */
static int feature_vector_ok(const qi_graph *g, int t, int rank, int64_t c) {
  int64_t cnt = 0;
  if (!qi_pat_const_f32(g, t, &cnt) || (cnt != 1 && cnt != c)) return 0;
  const qi_shape *s = &g->tensors[t].shape;
  if (s->rank > rank) return 0;
  for (int i = 0; i + 1 < s->rank; i++)
    if (s->d[i] != 1) return 0;
  return 1;
}

typedef struct ln_match {
  int set[LN_MAX_NODES], nset, last;
  int x, gamma, beta; /* gamma / beta: constant tensors or -1 */
  float eps;
} ln_match;

static void add_node(ln_match *m, int n) { m->set[m->nset++] = n; }

/* d's square (Pow(d, 2) or Mul(d, d)) and the node dividing d by the
 * standard deviation: the two consumers of d. */
static int find_square(const qi_graph *g, int d, int sub) {
  for (int i = sub + 1; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead || n->nin != 2 || n->in[0] != d) continue;
    int e;
    if (qi_pat_op_with_const(g, i, "Pow", 2.0f, &e) && e == d) return i;
    if (qi_pat_is(g, i, "Mul") && n->in[1] == d) return i;
  }
  return -1;
}

/* From sd = Sqrt(var + eps): the node computing d / sd, adding the
 * Reciprocal when used. */
static int divide_by(const qi_graph *g, ln_match *m, int d, int sd) {
  int c = qi_pat_sole_consumer(g, sd);
  if (qi_pat_is(g, c, "Div") && g->nodes[c].nin == 2 &&
      g->nodes[c].in[0] == d && g->nodes[c].in[1] == sd) {
    add_node(m, c);
    return c;
  }
  if (!qi_pat_is(g, c, "Reciprocal") || g->nodes[c].nin != 1) return -1;
  int r = g->nodes[c].out[0];
  int mul = qi_pat_sole_consumer(g, r);
  if (!qi_pat_is(g, mul, "Mul") || qi_pat_other_input(&g->nodes[mul], r) != d)
    return -1;
  add_node(m, c);
  add_node(m, mul);
  return mul;
}

/* Matches the pattern whose first ReduceMean is node `r1`. */
static int match_at(const qi_graph *g, int r1, ln_match *m) {
  m->nset = 0;
  m->gamma = m->beta = -1;
  if (!reduce_last_axis(g, r1)) return 0;
  m->x = g->nodes[r1].in[0];
  int mean = g->nodes[r1].out[0];
  int sub = qi_pat_sole_consumer(g, mean);
  if (!qi_pat_is(g, sub, "Sub") || g->nodes[sub].nin != 2 ||
      g->nodes[sub].in[0] != m->x || g->nodes[sub].in[1] != mean)
    return 0;
  int d = g->nodes[sub].out[0];
  int sq = find_square(g, d, sub);
  if (sq < 0) return 0;
  int r2 = qi_pat_sole_consumer(g, g->nodes[sq].out[0]);
  if (!reduce_last_axis(g, r2)) return 0;
  int add = qi_pat_sole_consumer(g, g->nodes[r2].out[0]);
  if (!qi_pat_is(g, add, "Add")) return 0;
  int eps_t = qi_pat_other_input(&g->nodes[add], g->nodes[r2].out[0]);
  if (!qi_pat_const_scalar(g, eps_t, &m->eps) || !isfinite(m->eps) ||
      m->eps < 0.0f)
    return 0;
  int sqrt_n = qi_pat_sole_consumer(g, g->nodes[add].out[0]);
  if (!qi_pat_is(g, sqrt_n, "Sqrt") || g->nodes[sqrt_n].nin != 1) return 0;
  add_node(m, r1);
  add_node(m, sub);
  add_node(m, sq);
  add_node(m, r2);
  add_node(m, add);
  add_node(m, sqrt_n);
  m->last = divide_by(g, m, d, g->nodes[sqrt_n].out[0]);
  if (m->last < 0) return 0;

  /* Optional affine tail, each step only onto a constant. */
  int rank = g->tensors[m->x].shape.rank;
  const char *tail_op[2] = {"Mul", "Add"};
  int *tail_t[2] = {&m->gamma, &m->beta};
  for (int s = 0; s < 2; s++) {
    int y = g->nodes[m->last].out[0];
    int c = qi_pat_sole_consumer(g, y);
    if (!qi_pat_is(g, c, tail_op[s])) continue;
    int t = qi_pat_other_input(&g->nodes[c], y);
    if (t < 0 || t == y || rank < 1 ||
        !feature_vector_ok(g, t, rank, g->tensors[m->x].shape.d[rank - 1]))
      continue;
    *tail_t[s] = t;
    add_node(m, c);
    m->last = c;
  }
  return 1;
}

/* Builds the scale or bias input: `t` itself when it is already a float32
 * [C] constant, else a new [C] constant expanded from it (or filled with
 * `fill` when there is none). */
static qi_status feature_input(qi_graph *g, const ln_match *m, int t,
                               float fill, const char *suffix, int *out,
                               qi_error *err) {
  const qi_shape *xs = &g->tensors[m->x].shape;
  int64_t c = xs->d[xs->rank - 1];
  if (t >= 0 && g->tensors[t].shape.rank == 1 && g->tensors[t].shape.d[0] == c) {
    *out = t;
    return QI_OK;
  }
  float *v = malloc(sizeof(float) * (size_t)c);
  if (!v)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s': out of memory",
                   g->nodes[m->last].name);
  int64_t cnt = 0;
  const float *d = t >= 0 ? qi_pat_const_f32(g, t, &cnt) : NULL;
  for (int64_t k = 0; k < c; k++) v[k] = d ? d[cnt == 1 ? 0 : k] : fill;
  qi_shape s = {.rank = 1, .d = {c}};
  return qi_pat_add_const_f32(g, g->nodes[m->last].name, suffix, &s, v, out,
                              err);
}

qi_status qi_pass_match_layernorm(qi_graph *g, qi_error *err) {
  for (int r1 = 0; r1 < g->nnodes; r1++) {
    ln_match m;
    if (!match_at(g, r1, &m)) continue;
    const qi_tensor *tx = &g->tensors[m.x];
    const qi_tensor *ty = &g->tensors[g->nodes[m.last].out[0]];
    if (tx->dtype != QI_FLOAT32 || !qi_pat_same_shape(&tx->shape, &ty->shape))
      continue;
    if (!qi_pat_closed(g, m.set, m.nset, m.last)) continue;
    int in[3] = {m.x, -1, -1};
    QI_TRY(feature_input(g, &m, m.gamma, 1.0f, "_scale", &in[1], err));
    QI_TRY(feature_input(g, &m, m.beta, 0.0f, "_bias", &in[2], err));
    QI_TRY(qi_pat_collapse(g, m.set, m.nset, m.last, "LayerNormalization", in,
                           3, err));
    qi_node *ln = &g->nodes[m.last];
    QI_TRY(qi_pat_set_int_attr(ln, "axis", -1, err));
    QI_TRY(qi_pat_set_float_attr(ln, "epsilon", m.eps, err));
  }
  return QI_OK;
}
