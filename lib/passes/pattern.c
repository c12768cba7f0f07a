/* Matching and rewriting helpers for the pattern passes. */
#include "passes/pattern.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"

int qi_pat_is(const qi_graph *g, int n, const char *op_type) {
  if (n < 0 || n >= g->nnodes) return 0;
  const qi_node *nd = &g->nodes[n];
  /* Every node a pattern names writes its result to output 0. */
  if (nd->dead || nd->nout < 1 || nd->out[0] < 0) return 0;
  if (nd->domain[0] && strcmp(nd->domain, "ai.onnx") != 0) return 0;
  return strcmp(nd->op_type, op_type) == 0;
}

static int node_writes(const qi_node *n, int t) {
  for (int k = 0; k < n->nout; k++)
    if (n->out[k] == t) return 1;
  return 0;
}

int qi_pat_producer(const qi_graph *g, int t) {
  if (t < 0 || t >= g->ntensors) return -1;
  int p = g->tensors[t].producer;
  if (p >= 0 && p < g->nnodes && !g->nodes[p].dead &&
      node_writes(&g->nodes[p], t))
    return p;
  /* The field is stale only if someone rewired without the helpers. */
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && node_writes(&g->nodes[i], t)) return i;
  return -1;
}

int qi_pat_is_graph_output(const qi_graph *g, int t) {
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == t) return 1;
  return 0;
}

int qi_pat_sole_consumer(const qi_graph *g, int t) {
  if (t < 0 || qi_pat_is_graph_output(g, t)) return -1;
  int found = -1, uses = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == t) {
        uses++;
        found = i;
      }
  }
  return uses == 1 ? found : -1;
}

int qi_pat_uses_within(const qi_graph *g, int t, const int *set, int nset) {
  if (t < 0 || qi_pat_is_graph_output(g, t)) return 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    int reads = 0;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == t) reads = 1;
    if (!reads) continue;
    int member = 0;
    for (int j = 0; j < nset; j++)
      if (set[j] == i) member = 1;
    if (!member) return 0;
  }
  return 1;
}

int qi_pat_other_input(const qi_node *n, int t) {
  if (n->nin != 2 || t < 0) return -1;
  if (n->in[0] == t) return n->in[1];
  if (n->in[1] == t) return n->in[0];
  return -1;
}

const float *qi_pat_const_f32(const qi_graph *g, int t, int64_t *numel) {
  if (t < 0 || t >= g->ntensors) return NULL;
  const qi_tensor *ts = &g->tensors[t];
  if (ts->kind != QI_TK_CONST || ts->dtype != QI_FLOAT32 || !ts->data)
    return NULL;
  int64_t cnt = qi_shape_numel(&ts->shape);
  if (cnt < 0 || ts->nbytes != (size_t)cnt * sizeof(float)) return NULL;
  if (numel) *numel = cnt;
  return ts->data;
}

int qi_pat_const_scalar(const qi_graph *g, int t, float *val) {
  int64_t cnt = 0;
  const float *d = qi_pat_const_f32(g, t, &cnt);
  if (!d || cnt != 1) return 0;
  if (val) *val = d[0];
  return 1;
}

int qi_pat_const_near(const qi_graph *g, int t, float want) {
  float v;
  if (!qi_pat_const_scalar(g, t, &v) || !isfinite(v)) return 0;
  float scale = fabsf(want) > 1.0f ? fabsf(want) : 1.0f;
  return fabsf(v - want) <= QI_PAT_CONST_RTOL * scale;
}

int qi_pat_op_with_const(const qi_graph *g, int n, const char *op_type,
                         float want, int *x) {
  if (!qi_pat_is(g, n, op_type)) return 0;
  const qi_node *nd = &g->nodes[n];
  if (nd->nin != 2 || nd->in[0] < 0 || nd->in[1] < 0) return 0;
  if (qi_pat_const_near(g, nd->in[1], want)) {
    *x = nd->in[0];
    return 1;
  }
  int commutes = !strcmp(op_type, "Add") || !strcmp(op_type, "Mul");
  if (commutes && qi_pat_const_near(g, nd->in[0], want)) {
    *x = nd->in[1];
    return 1;
  }
  return 0;
}

static int clip_bound(const qi_graph *g, const qi_node *n, const char *attr,
                      int k, float unbounded, float *v) {
  const qi_attr *a = qi_attr_find(n, attr);
  if (a) {
    if (a->type != QI_ATTR_FLOAT && a->type != QI_ATTR_INT) return 0;
    *v = qi_attr_float(n, attr, unbounded);
    return !isnan(*v);
  }
  if (k >= n->nin || n->in[k] < 0) {
    *v = unbounded;
    return 1;
  }
  return qi_pat_const_scalar(g, n->in[k], v) && !isnan(*v);
}

int qi_pat_clip_bounds(const qi_graph *g, int n, float *lo, float *hi) {
  if (!qi_pat_is(g, n, "Clip")) return 0;
  const qi_node *nd = &g->nodes[n];
  if (nd->nin < 1 || nd->nin > 3 || nd->in[0] < 0) return 0;
  return clip_bound(g, nd, "min", 1, -INFINITY, lo) &&
         clip_bound(g, nd, "max", 2, INFINITY, hi);
}

int qi_pat_same_shape(const qi_shape *a, const qi_shape *b) {
  if (a->rank < 0 || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] < 0 || a->d[i] != b->d[i]) return 0;
  return 1;
}

qi_status qi_pat_add_const_f32(qi_graph *g, const char *base,
                               const char *suffix, const qi_shape *shape,
                               float *data, int *index, qi_error *err) {
  size_t len = strlen(base) + strlen(suffix) + 24;
  char *name = malloc(len);
  if (!name) {
    free(data);
    return qi_fail(err, QI_ERR_NOMEM, "out of memory naming a constant");
  }
  snprintf(name, len, "%s%s", base, suffix);
  for (int k = 1; qi_graph_find_tensor(g, name) >= 0; k++)
    snprintf(name, len, "%s%s_%d", base, suffix, k);
  int t = qi_graph_add_tensor(g, name, QI_FLOAT32);
  free(name);
  if (t < 0) {
    free(data);
    return qi_fail(err, QI_ERR_NOMEM, "out of memory adding constant '%s%s'",
                   base, suffix);
  }
  qi_tensor *ts = &g->tensors[t];
  ts->shape = *shape;
  int64_t cnt = qi_shape_numel(shape);
  qi_tensor_set_const(ts, data, (size_t)(cnt > 0 ? cnt : 0) * sizeof(float));
  *index = t;
  return QI_OK;
}

/* Releases what an attribute owns. Mirrors free_attr in graph/graph.c,
 * which is private there. */
static void clear_attr_value(qi_attr *a) {
  free(a->s);
  free(a->ints);
  free(a->floats);
  if (a->strings)
    for (int i = 0; i < a->n; i++) free(a->strings[i]);
  free(a->strings);
  if (a->t) {
    free(a->t->name);
    if (!a->t->borrowed) free(a->t->data);
    free(a->t->quant.scales);
    free(a->t);
  }
  char *name = a->name;
  memset(a, 0, sizeof *a);
  a->name = name;
}

static qi_attr *attr_slot(qi_node *n, const char *name, qi_attr_type type,
                          qi_error *err) {
  for (int i = 0; i < n->nattr; i++)
    if (strcmp(n->attrs[i].name, name) == 0) {
      clear_attr_value(&n->attrs[i]);
      n->attrs[i].type = type;
      return &n->attrs[i];
    }
  qi_attr *a = qi_node_add_attr(n, name, type);
  if (!a)
    qi_fail(err, QI_ERR_NOMEM, "node '%s': out of memory adding attribute %s",
            n->name, name);
  return a;
}

qi_status qi_pat_set_int_attr(qi_node *n, const char *name, int64_t v,
                              qi_error *err) {
  qi_attr *a = attr_slot(n, name, QI_ATTR_INT, err);
  if (!a) return QI_ERR_NOMEM;
  a->i = v;
  return QI_OK;
}

qi_status qi_pat_set_float_attr(qi_node *n, const char *name, float v,
                                qi_error *err) {
  qi_attr *a = attr_slot(n, name, QI_ATTR_FLOAT, err);
  if (!a) return QI_ERR_NOMEM;
  a->f = v;
  return QI_OK;
}

qi_status qi_pat_set_str_attr(qi_node *n, const char *name, const char *v,
                              qi_error *err) {
  qi_attr *a = attr_slot(n, name, QI_ATTR_STRING, err);
  if (!a) return QI_ERR_NOMEM;
  size_t len = strlen(v) + 1;
  a->s = malloc(len);
  if (!a->s)
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s': out of memory setting attribute %s", n->name,
                   name);
  memcpy(a->s, v, len);
  return QI_OK;
}

qi_status qi_pat_resize_inputs(qi_node *n, int nin, qi_error *err) {
  int *in = realloc(n->in, sizeof(int) * (size_t)(nin > 0 ? nin : 1));
  if (!in)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s': out of memory", n->name);
  for (int k = n->nin; k < nin; k++) in[k] = -1;
  n->in = in;
  n->nin = nin;
  return QI_OK;
}

qi_status qi_pat_rewrite_node(qi_graph *g, int idx, const char *op_type,
                              const int *inputs, int nin, qi_error *err) {
  qi_node *n = &g->nodes[idx];
  QI_TRY(qi_pat_resize_inputs(n, nin, err));
  size_t len = strlen(op_type) + 1;
  char *op = malloc(len);
  char *dom = malloc(1);
  if (!op || !dom) {
    free(op);
    free(dom);
    return qi_fail(err, QI_ERR_NOMEM, "node '%s': out of memory", n->name);
  }
  memcpy(op, op_type, len);
  dom[0] = '\0';
  free(n->op_type);
  free(n->domain);
  n->op_type = op;
  n->domain = dom;
  for (int k = 0; k < nin; k++) n->in[k] = inputs[k];
  for (int i = 0; i < n->nattr; i++) {
    clear_attr_value(&n->attrs[i]);
    free(n->attrs[i].name);
  }
  free(n->attrs);
  n->attrs = NULL;
  n->nattr = 0;
  /* A binding or prepared state would describe the old op. */
  if (n->state && n->op && n->op->free_state) n->op->free_state(n->state);
  n->state = NULL;
  n->op = NULL;
  return QI_OK;
}

int qi_pat_closed(const qi_graph *g, const int *set, int nset, int last) {
  const qi_node *ln = &g->nodes[last];
  if (ln->dead || ln->nout != 1 || ln->out[0] < 0) return 0;
  int has_last = 0;
  for (int j = 0; j < nset; j++) {
    int m = set[j];
    if (m < 0 || m > last || g->nodes[m].dead) return 0;
    for (int i = 0; i < j; i++)
      if (set[i] == m) return 0;
    if (m == last) {
      has_last = 1;
      continue;
    }
    for (int k = 0; k < g->nodes[m].nout; k++) {
      int t = g->nodes[m].out[k];
      if (t >= 0 && !qi_pat_uses_within(g, t, set, nset)) return 0;
    }
  }
  return has_last;
}

qi_status qi_pat_collapse(qi_graph *g, const int *set, int nset, int last,
                          const char *op_type, const int *inputs, int nin,
                          qi_error *err) {
  QI_TRY(qi_pat_rewrite_node(g, last, op_type, inputs, nin, err));
  for (int j = 0; j < nset; j++)
    if (set[j] != last) qi_pat_kill(g, set[j]);
  return QI_OK;
}

void qi_pat_replace_uses(qi_graph *g, int from, int to) {
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == from) n->in[k] = to;
  }
}

void qi_pat_kill(qi_graph *g, int n) {
  qi_node *nd = &g->nodes[n];
  nd->dead = 1;
  for (int k = 0; k < nd->nout; k++) {
    int t = nd->out[k];
    if (t >= 0 && g->tensors[t].producer == n) g->tensors[t].producer = -1;
  }
}

void qi_pat_set_output(qi_graph *g, int n, int k, int t) {
  qi_node *nd = &g->nodes[n];
  int old = nd->out[k];
  if (old >= 0 && g->tensors[old].producer == n) g->tensors[old].producer = -1;
  nd->out[k] = t;
  g->tensors[t].producer = n;
}
