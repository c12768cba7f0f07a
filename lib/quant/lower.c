/*
 * INT8 lowering driver (lib/quant/README.md): matches the nodes annotated
 * INT8 against the Qi ops (lower_conv.c, lower_elt.c), then gives every
 * activation the replacements read or write its uint8 twin, adds the
 * QiQuantize / QiDequantize boundaries and restores topological order.
 *
 * Order: every new node takes the place of what it stands for. A
 * replacement sits where its FP32 node was; a QiQuantize of `t` right
 * after t's producer (first for a graph input); a QiDequantize right after
 * the replacement writing the twin. So the memory plan sees the same
 * schedule as the FP32 graph, and the result is topological by
 * construction (qi_graph_toposort then keeps it as is).
 */
#include "quant/lower.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"
#include "quant/lower_internal.h"

/* ---- names ------------------------------------------------------------ */

static uint64_t name_hash(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static size_t names_find(const lower_names *ns, const char *s) {
  size_t m = ns->cap - 1, i = (size_t)name_hash(s) & m;
  while (ns->slot[i] && strcmp(ns->slot[i], s) != 0) i = (i + 1) & m;
  return i;
}

static qi_status names_add(lower_names *ns, const char *s, qi_error *err) {
  if ((ns->used + 1) * 2 > ns->cap) {
    lower_names big = {calloc(ns->cap * 2, sizeof(char *)), ns->cap * 2, 0};
    if (!big.slot)
      return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
    for (size_t i = 0; i < ns->cap; i++)
      if (ns->slot[i]) {
        big.slot[names_find(&big, ns->slot[i])] = ns->slot[i];
        big.used++;
      }
    free(ns->slot);
    *ns = big;
  }
  size_t i = names_find(ns, s);
  if (!ns->slot[i]) {
    ns->slot[i] = s;
    ns->used++;
  }
  return QI_OK;
}

static qi_status names_init(lower_names *ns, const qi_graph *g,
                            qi_error *err) {
  size_t cap = 64;
  while (cap < (size_t)g->ntensors * 4) cap *= 2;
  ns->slot = calloc(cap, sizeof(char *));
  ns->cap = cap;
  ns->used = 0;
  if (!ns->slot)
    return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
  for (int t = 0; t < g->ntensors; t++)
    QI_TRY(names_add(ns, g->tensors[t].name, err));
  return QI_OK;
}

qi_status lower_new_tensor(lower_ctx *c, const char *base, const char *suffix,
                           qi_dtype dtype, int *out, qi_error *err) {
  size_t len = strlen(base) + strlen(suffix) + 24;
  char *name = malloc(len);
  if (!name) return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
  snprintf(name, len, "%s%s", base, suffix);
  for (int k = 2; c->names.slot[names_find(&c->names, name)]; k++)
    snprintf(name, len, "%s%s_%d", base, suffix, k);
  int t = qi_graph_add_tensor(c->g, name, dtype);
  free(name);
  if (t < 0) return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
  QI_TRY(names_add(&c->names, c->g->tensors[t].name, err));
  *out = t;
  return QI_OK;
}

qi_status lower_new_const(lower_ctx *c, const char *base, const char *suffix,
                          qi_dtype dtype, const qi_shape *shape, void *data,
                          size_t nbytes, int *out, qi_error *err) {
  qi_status st = lower_new_tensor(c, base, suffix, dtype, out, err);
  if (st != QI_OK) {
    free(data);
    return st;
  }
  qi_tensor *t = &c->g->tensors[*out];
  t->shape = *shape;
  qi_tensor_set_const(t, data, nbytes);
  return QI_OK;
}

/* ---- shared helpers --------------------------------------------------- */

int lower_quant_ok(const qi_quant *q) {
  return q->has && q->axis < 0 && isfinite(q->scale) && q->scale > 0.0f &&
         q->zero_point >= 0 && q->zero_point <= 255;
}

int lower_act_f32(const qi_graph *g, int t) {
  if (t < 0 || t >= g->ntensors) return 0;
  const qi_tensor *x = &g->tensors[t];
  return x->kind == QI_TK_ACT && x->dtype == QI_FLOAT32 &&
         qi_shape_numel(&x->shape) > 0;
}

int lower_act_ok(const qi_graph *g, int t) {
  return lower_act_f32(g, t) && lower_quant_ok(&g->tensors[t].quant);
}

int lower_same_shape(const qi_shape *a, const qi_shape *b) {
  if (a->rank < 0 || a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

/* The output grid point nearest to real value x, saturated to 0..255. */
static int32_t grid_point(double x, const qi_quant *yq) {
  double v = x / (double)yq->scale;
  if (v < -1024.0) return 0;
  if (v > 1024.0) return 255;
  double q = nearbyint(v) + (double)yq->zero_point;
  return q < 0.0 ? 0 : q > 255.0 ? 255 : (int32_t)q;
}

void lower_clamp_range(double lo, double hi, const qi_quant *yq,
                       int32_t *qmin, int32_t *qmax) {
  *qmin = isnan(lo) ? 0 : grid_point(lo, yq);
  *qmax = isnan(hi) ? 255 : grid_point(hi, yq);
  /* min(max(x, lo), hi) with lo > hi is hi everywhere. */
  if (*qmin > *qmax) *qmin = *qmax;
}

int lower_fused_clamp(const qi_node *n, const qi_quant *yq, int32_t *qmin,
                      int32_t *qmax) {
  qi_act_params a = qi_node_act(n);
  *qmin = 0;
  *qmax = 255;
  switch (a.act) {
    case QI_ACT_NONE: return 1;
    case QI_ACT_RELU: lower_clamp_range(0.0, INFINITY, yq, qmin, qmax); return 1;
    case QI_ACT_CLIP:
      lower_clamp_range(a.alpha, a.beta, yq, qmin, qmax);
      return 1;
    default: return 0;
  }
}

qi_status lower_replace(lower_ctx *c, int orig, const char *op_type, int nin,
                        lower_out out_mode, int *out, qi_error *err) {
  qi_graph *g = c->g;
  int ni = qi_graph_add_node(g, g->nodes[orig].name, op_type, LOWER_DOMAIN,
                             nin, 1);
  if (ni < 0) return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
  g->nodes[ni].precision = QI_PREC_INT8;
  g->nodes[ni].out[0] = g->nodes[orig].out[0];
  g->nodes[orig].dead = 1;
  c->repl[orig] = ni;
  c->repl_list[c->nrepl] = ni;
  c->repl_out[c->nrepl] = out_mode;
  c->nrepl++;
  *out = ni;
  return QI_OK;
}

static qi_attr *new_attr(qi_graph *g, int ni, const char *name,
                         qi_attr_type type) {
  return qi_node_add_attr(&g->nodes[ni], name, type);
}

static qi_status nomem(qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
}

qi_status lower_attr_int(qi_graph *g, int ni, const char *name, int64_t v,
                         qi_error *err) {
  qi_attr *a = new_attr(g, ni, name, QI_ATTR_INT);
  if (!a) return nomem(err);
  a->i = v;
  return QI_OK;
}

qi_status lower_attr_float(qi_graph *g, int ni, const char *name, float v,
                           qi_error *err) {
  qi_attr *a = new_attr(g, ni, name, QI_ATTR_FLOAT);
  if (!a) return nomem(err);
  a->f = v;
  return QI_OK;
}

qi_status lower_attr_ints(qi_graph *g, int ni, const char *name,
                          const int64_t *v, int n, qi_error *err) {
  qi_attr *a = new_attr(g, ni, name, QI_ATTR_INTS);
  if (!a) return nomem(err);
  a->ints = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
  if (!a->ints) return nomem(err);
  if (n > 0) memcpy(a->ints, v, sizeof(int64_t) * (size_t)n);
  a->n = n;
  return QI_OK;
}

qi_status lower_attr_floats(qi_graph *g, int ni, const char *name,
                            const float *v, int n, qi_error *err) {
  qi_attr *a = new_attr(g, ni, name, QI_ATTR_FLOATS);
  if (!a) return nomem(err);
  a->floats = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!a->floats) return nomem(err);
  if (n > 0) memcpy(a->floats, v, sizeof(float) * (size_t)n);
  a->n = n;
  return QI_OK;
}

qi_status lower_attr_str(qi_graph *g, int ni, const char *name,
                         const char *v, qi_error *err) {
  qi_attr *a = new_attr(g, ni, name, QI_ATTR_STRING);
  if (!a) return nomem(err);
  size_t len = strlen(v) + 1;
  a->s = malloc(len);
  if (!a->s) return nomem(err);
  memcpy(a->s, v, len);
  return QI_OK;
}

/* ---- matching --------------------------------------------------------- */

typedef qi_status (*lower_matcher)(lower_ctx *, int, int *, qi_error *);

static lower_matcher matcher_of(const qi_node *n) {
  static const struct {
    const char *op;
    lower_matcher fn;
  } table[] = {
      {"Conv", lower_match_conv},         {"Gemm", lower_match_gemm},
      {"MatMul", lower_match_matmul_any}, {"Add", lower_match_binary},
      {"Mul", lower_match_binary},        {"MaxPool", lower_match_pool},
      {"AveragePool", lower_match_pool},  {"GlobalAveragePool", lower_match_pool},
      {"Resize", lower_match_resize},     {"Concat", lower_match_concat},
      {"Relu", lower_match_lut},          {"Clip", lower_match_lut},
      {"LeakyRelu", lower_match_lut},     {"Sigmoid", lower_match_lut},
      {"HardSigmoid", lower_match_lut},   {"HardSwish", lower_match_lut},
      {"QiSilu", lower_match_lut},        {"Gelu", lower_match_lut},
      {"Tanh", lower_match_lut},          {"Softmax", lower_match_softmax},
      {"LayerNormalization", lower_match_layernorm}};
  if (n->domain[0] && strcmp(n->domain, "ai.onnx") != 0) return NULL;
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (strcmp(n->op_type, table[i].op) == 0) return table[i].fn;
  return NULL;
}

static int is_mul_or_add(const qi_node *n) {
  return (!n->domain[0] || !strcmp(n->domain, "ai.onnx")) &&
         (!strcmp(n->op_type, "Mul") || !strcmp(n->op_type, "Add"));
}

static qi_status match_all(lower_ctx *c, qi_error *err) {
  char *affine = calloc((size_t)c->norig + 1, 1); /* INT8 Mul/Add left over */
  if (!affine) return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
  qi_status st = QI_OK;
  for (int i = 0; i < c->norig && st == QI_OK; i++) {
    qi_node *n = &c->g->nodes[i];
    if (n->dead) continue;
    int want = n->precision == QI_PREC_INT8;
    n->precision = QI_PREC_FP32; /* unless replaced below */
    lower_matcher fn = want ? matcher_of(n) : NULL;
    if (!fn || n->nout < 1 || n->out[0] < 0) continue;
    int done = 0;
    st = fn(c, i, &done, err);
    affine[i] = st == QI_OK && !done && is_mul_or_add(&c->g->nodes[i]);
  }
  /* Last first: in Mul -> Add -> Conv the Add sees the QiQConv, then the
   * Mul sees the Add's table. */
  for (int i = c->norig - 1; i >= 0 && st == QI_OK; i--) {
    int done = 0;
    if (affine[i] && !c->g->nodes[i].dead) st = lower_match_affine(c, i, &done, err);
  }
  free(affine);
  return st;
}

/* ---- wiring ----------------------------------------------------------- */

typedef struct wire_state {
  int nt;             /* tensors when wiring starts */
  int *int8_readers;  /* per tensor: reads by replacements */
  int *f32_readers;   /* reads by float nodes, plus one per graph output */
  int *u8_producer;   /* replacement writing the twin, or -1 */
  int *twin;          /* uint8 twin, or -1 */
  int *orig_prod;     /* producer among the original nodes, or -1 */
  int64_t *key;       /* per node: sort key (see the file comment) */
  int cap_key;
} wire_state;

static qi_status set_key(wire_state *w, int node, int64_t key,
                         qi_error *err) {
  if (node >= w->cap_key) {
    int nc = w->cap_key * 2 > node + 1 ? w->cap_key * 2 : node + 1;
    int64_t *k = realloc(w->key, sizeof(int64_t) * (size_t)nc);
    if (!k) return nomem(err);
    w->key = k;
    w->cap_key = nc;
  }
  w->key[node] = key;
  return QI_OK;
}

static int is_weighted(const qi_node *n) {
  return strcmp(n->op_type, "QiQConv") == 0 ||
         strcmp(n->op_type, "QiQMatMul") == 0 || lower_attn_has_out_f32(n);
}

static qi_status make_twin(lower_ctx *c, int t, int *out, qi_error *err) {
  qi_graph *g = c->g;
  QI_TRY(lower_new_tensor(c, g->tensors[t].name, ":u8", QI_UINT8, out, err));
  const qi_tensor *src = &g->tensors[t];
  qi_tensor *tw = &g->tensors[*out];
  tw->kind = QI_TK_ACT;
  tw->shape = src->shape;
  if (src->shape.rank == 4) { /* NCHW -> NHWC */
    tw->shape.d[1] = src->shape.d[2];
    tw->shape.d[2] = src->shape.d[3];
    tw->shape.d[3] = src->shape.d[1];
  }
  tw->quant.has = 1;
  tw->quant.scale = src->quant.scale;
  tw->quant.zero_point = src->quant.zero_point;
  tw->quant.axis = -1;
  return QI_OK;
}

/* QiQuantize (t -> twin) or QiDequantize (twin -> t). */
static qi_status add_boundary(lower_ctx *c, wire_state *w, int t,
                              int dequantize, int64_t key, qi_error *err) {
  qi_graph *g = c->g;
  size_t len = strlen(g->tensors[t].name) + 16;
  char *name = malloc(len);
  if (!name) return nomem(err);
  snprintf(name, len, "%s:%s", g->tensors[t].name,
           dequantize ? "dequantize" : "quantize");
  int ni = qi_graph_add_node(g, name,
                             dequantize ? "QiDequantize" : "QiQuantize",
                             LOWER_DOMAIN, 1, 1);
  free(name);
  if (ni < 0) return nomem(err);
  qi_node *n = &g->nodes[ni];
  n->precision = QI_PREC_FP32;
  n->in[0] = dequantize ? w->twin[t] : t;
  n->out[0] = dequantize ? t : w->twin[t];
  QI_TRY(lower_attr_int(g, ni, "layout", g->tensors[t].shape.rank == 4, err));
  return set_key(w, ni, key, err);
}

static void count_readers(lower_ctx *c, wire_state *w, const char *is_repl) {
  qi_graph *g = c->g;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++) {
      int t = n->in[k];
      if (t < 0 || t >= w->nt || g->tensors[t].kind != QI_TK_ACT) continue;
      if (is_repl[i])
        w->int8_readers[t]++;
      else
        w->f32_readers[t]++;
    }
  }
  for (int i = 0; i < g->noutputs; i++) w->f32_readers[g->outputs[i]]++;
}

/* Output type of every replacement: a QiQConv/QiQMatMul whose readers are
 * all float writes float (out_f32); everything else writes the twin. */
static qi_status pick_outputs(lower_ctx *c, wire_state *w, qi_error *err) {
  qi_graph *g = c->g;
  for (int j = 0; j < c->nrepl; j++) {
    int r = c->repl_list[j], t = g->nodes[r].out[0];
    int f32 = c->repl_out[j] == LOWER_OUT_F32 ||
              (c->repl_out[j] == LOWER_OUT_EITHER && w->int8_readers[t] == 0);
    if (f32 && w->int8_readers[t] > 0)
      return qi_fail(err, QI_ERR_INTERNAL,
                     "INT8 lowering: node '%s' writes float but INT8 nodes "
                     "read '%s'",
                     g->nodes[r].name, g->tensors[t].name);
    if (is_weighted(&g->nodes[r]))
      QI_TRY(lower_attr_int(g, r, "out_f32", f32, err));
    if (!f32) w->u8_producer[t] = r;
  }
  return QI_OK;
}

static qi_status rewire(lower_ctx *c, wire_state *w, qi_error *err) {
  qi_graph *g = c->g;
  for (int j = 0; j < c->nrepl; j++) {
    qi_node *n = &g->nodes[c->repl_list[j]];
    for (int k = 0; k < n->nin; k++) {
      int t = n->in[k];
      if (t < 0 || t >= w->nt || g->tensors[t].kind != QI_TK_ACT) continue;
      if (w->twin[t] < 0)
        return qi_fail(err, QI_ERR_INTERNAL,
                       "INT8 lowering: no uint8 twin of '%s' for node '%s'",
                       g->tensors[t].name, n->name);
      n->in[k] = w->twin[t];
    }
    int y = n->out[0];
    if (w->u8_producer[y] == c->repl_list[j]) n->out[0] = w->twin[y];
  }
  return QI_OK;
}

static qi_status add_twins_and_boundaries(lower_ctx *c, wire_state *w,
                                          qi_error *err) {
  for (int t = 0; t < w->nt; t++) {
    if (w->int8_readers[t] == 0 && w->u8_producer[t] < 0) continue;
    QI_TRY(make_twin(c, t, &w->twin[t], err));
  }
  QI_TRY(rewire(c, w, err));
  for (int t = 0; t < w->nt; t++) {
    if (w->twin[t] < 0) continue;
    if (w->u8_producer[t] >= 0) {
      if (w->f32_readers[t] > 0)
        QI_TRY(add_boundary(c, w, t, 1,
                            w->key[w->u8_producer[t]] + 1, err));
    } else {
      int p = t < c->norig_tensors ? w->orig_prod[t] : -1;
      QI_TRY(add_boundary(c, w, t, 0, 2 * (int64_t)p + 1, err));
    }
  }
  return QI_OK;
}

typedef struct node_key {
  int64_t key;
  int index;
} node_key;

static int cmp_node_key(const void *a, const void *b) {
  const node_key *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->index > y->index) - (x->index < y->index);
}

qi_status lower_reorder_nodes(qi_graph *g, const int64_t *key, qi_error *err) {
  int nn = g->nnodes;
  node_key *order = malloc(sizeof(node_key) * ((size_t)nn + 1));
  qi_node *sorted = malloc(sizeof(qi_node) * ((size_t)nn + 1));
  if (!order || !sorted) {
    free(order);
    free(sorted);
    return nomem(err);
  }
  for (int i = 0; i < nn; i++) order[i] = (node_key){key[i], i};
  qsort(order, (size_t)nn, sizeof *order, cmp_node_key);
  for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i].index];
  if (nn) memcpy(g->nodes, sorted, sizeof(qi_node) * (size_t)nn);
  free(order);
  free(sorted);
  return QI_OK;
}

static qi_status wire(lower_ctx *c, wire_state *w, qi_error *err) {
  qi_graph *g = c->g;
  w->nt = g->ntensors;
  size_t nt = (size_t)w->nt + 1;
  w->int8_readers = calloc(nt, sizeof(int));
  w->f32_readers = calloc(nt, sizeof(int));
  w->u8_producer = malloc(nt * sizeof(int));
  w->twin = malloc(nt * sizeof(int));
  w->cap_key = g->nnodes + 16;
  w->key = malloc(sizeof(int64_t) * (size_t)w->cap_key);
  char *is_repl = calloc((size_t)g->nnodes + 1, 1);
  if (!w->int8_readers || !w->f32_readers || !w->u8_producer || !w->twin ||
      !w->key || !is_repl) {
    free(is_repl);
    return nomem(err);
  }
  for (int t = 0; t < w->nt; t++) w->u8_producer[t] = w->twin[t] = -1;
  for (int i = 0; i < g->nnodes; i++) w->key[i] = 2 * (int64_t)i;
  for (int i = 0; i < c->norig; i++)
    if (c->repl[i] >= 0) {
      w->key[c->repl[i]] = 2 * (int64_t)i;
      is_repl[c->repl[i]] = 1;
    }
  count_readers(c, w, is_repl);
  free(is_repl);
  QI_TRY(pick_outputs(c, w, err));
  QI_TRY(add_twins_and_boundaries(c, w, err));
  return lower_reorder_nodes(g, w->key, err);
}

/* ---- entry point ------------------------------------------------------ */

static void ctx_free(lower_ctx *c, wire_state *w) {
  free(c->repl);
  free(c->repl_list);
  free(c->repl_out);
  free(c->wcache_rows);
  free(c->wcache_cols);
  free(c->names.slot);
  free(w->int8_readers);
  free(w->f32_readers);
  free(w->u8_producer);
  free(w->twin);
  free(w->orig_prod);
  free(w->key);
}

static qi_status lower_run(lower_ctx *c, wire_state *w, qi_error *err) {
  qi_graph *g = c->g;
  size_t nn = (size_t)g->nnodes + 1, nt = (size_t)g->ntensors + 1;
  c->norig = g->nnodes;
  c->norig_tensors = g->ntensors;
  c->repl = malloc(nn * sizeof(int));
  c->repl_list = malloc(nn * sizeof(int));
  c->repl_out = malloc(nn * sizeof(lower_out));
  c->wcache_rows = malloc(nt * sizeof(int));
  c->wcache_cols = malloc(nt * sizeof(int));
  w->orig_prod = malloc(nt * sizeof(int));
  if (!c->repl || !c->repl_list || !c->repl_out || !c->wcache_rows ||
      !c->wcache_cols || !w->orig_prod)
    return nomem(err);
  for (int i = 0; i < g->nnodes; i++) c->repl[i] = -1;
  for (int t = 0; t < g->ntensors; t++)
    c->wcache_rows[t] = c->wcache_cols[t] = w->orig_prod[t] = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nout && !n->dead; k++)
      if (n->out[k] >= 0 && n->out[k] < g->ntensors)
        w->orig_prod[n->out[k]] = i;
  }
  QI_TRY(names_init(&c->names, g, err));
  lower_share_concat_grids(g);
  QI_TRY(match_all(c, err));
  if (c->nrepl == 0) return QI_OK;
  QI_TRY(wire(c, w, err));
  QI_TRY(qi_graph_compact(g, err));
  return qi_graph_toposort(g, err);
}


qi_status qi_quant_lower(qi_graph *g, qi_error *err) {
  if (!g) return qi_fail(err, QI_ERR_INVALID_ARG, "INT8 lowering: no graph");
  lower_ctx c;
  wire_state w;
  memset(&c, 0, sizeof c);
  memset(&w, 0, sizeof w);
  c.g = g;
  /* FP16 first (lower_fp16.c); INT8 matching resets the other flags. */
  QI_TRY(qi_fp16_lower(g, err));
  qi_status st = lower_run(&c, &w, err);
  ctx_free(&c, &w);
  if (st == QI_OK) qi_fp16_mark_precisions(g);
  return st;
}
