/* Graph construction, attribute access and topological ordering. */
#include "graph/graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "ops/op.h"

static char *dup_str(const char *s) {
  if (!s) s = "";
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

qi_graph *qi_graph_create(void) {
  qi_graph *g = calloc(1, sizeof *g);
  if (g) g->opset = 13;
  return g;
}

static void free_tensor_fields(qi_tensor *t) {
  free(t->name);
  if (!t->borrowed) free(t->data);
  free(t->quant.scales);
}

static void free_attr(qi_attr *a) {
  free(a->name);
  free(a->s);
  free(a->ints);
  free(a->floats);
  if (a->strings)
    for (int i = 0; i < a->n; i++) free(a->strings[i]);
  free(a->strings);
  if (a->t) {
    free_tensor_fields(a->t);
    free(a->t);
  }
}

static void free_node(qi_node *n) {
  free(n->name);
  free(n->op_type);
  free(n->domain);
  free(n->in);
  free(n->out);
  for (int i = 0; i < n->nattr; i++) free_attr(&n->attrs[i]);
  free(n->attrs);
  if (n->state && n->op && n->op->free_state) n->op->free_state(n->state);
}

void qi_graph_free(qi_graph *g) {
  if (!g) return;
  for (int i = 0; i < g->ntensors; i++) free_tensor_fields(&g->tensors[i]);
  for (int i = 0; i < g->nnodes; i++) free_node(&g->nodes[i]);
  free(g->tensors);
  free(g->nodes);
  free(g->inputs);
  free(g->outputs);
  free(g->name);
  free(g);
}

static int grow(void **arr, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int nc = *cap ? *cap * 2 : 64;
  while (nc < need) nc *= 2;
  void *p = realloc(*arr, (size_t)nc * elem);
  if (!p) return -1;
  memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
  *arr = p;
  *cap = nc;
  return 0;
}

int qi_graph_add_tensor(qi_graph *g, const char *name, qi_dtype dtype) {
  if (grow((void **)&g->tensors, &g->cap_tensors, g->ntensors + 1,
           sizeof(qi_tensor)))
    return -1;
  qi_tensor *t = &g->tensors[g->ntensors];
  memset(t, 0, sizeof *t);
  t->name = dup_str(name);
  if (!t->name) return -1;
  t->dtype = dtype;
  t->shape.rank = -1;
  t->producer = -1;
  t->quant.axis = -1;
  return g->ntensors++;
}

int qi_graph_find_tensor(const qi_graph *g, const char *name) {
  for (int i = g->ntensors - 1; i >= 0; i--)
    if (strcmp(g->tensors[i].name, name) == 0) return i;
  return -1;
}

int qi_graph_add_node(qi_graph *g, const char *name, const char *op_type,
                      const char *domain, int nin, int nout) {
  if (nin < 0 || nout < 0 ||
      grow((void **)&g->nodes, &g->cap_nodes, g->nnodes + 1, sizeof(qi_node)))
    return -1;
  qi_node *n = &g->nodes[g->nnodes];
  memset(n, 0, sizeof *n);
  n->name = dup_str(name);
  n->op_type = dup_str(op_type);
  n->domain = dup_str(domain);
  n->in = malloc(sizeof(int) * ((size_t)nin + 1));
  n->out = malloc(sizeof(int) * ((size_t)nout + 1));
  if (!n->name || !n->op_type || !n->domain || !n->in || !n->out) {
    free_node(n);
    return -1;
  }
  for (int i = 0; i < nin; i++) n->in[i] = -1;
  for (int i = 0; i < nout; i++) n->out[i] = -1;
  n->nin = nin;
  n->nout = nout;
  return g->nnodes++;
}

qi_attr *qi_node_add_attr(qi_node *n, const char *name, qi_attr_type type) {
  qi_attr *a = realloc(n->attrs, sizeof(qi_attr) * (size_t)(n->nattr + 1));
  if (!a) return NULL;
  n->attrs = a;
  qi_attr *r = &a[n->nattr];
  memset(r, 0, sizeof *r);
  r->name = dup_str(name);
  if (!r->name) return NULL;
  r->type = type;
  n->nattr++;
  return r;
}

void qi_tensor_set_const(qi_tensor *t, void *data, size_t nbytes) {
  if (!t->borrowed) free(t->data);
  t->data = data;
  t->nbytes = nbytes;
  t->borrowed = 0;
  t->kind = QI_TK_CONST;
}

const qi_attr *qi_attr_find(const qi_node *n, const char *name) {
  for (int i = 0; i < n->nattr; i++)
    if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
  return NULL;
}

int64_t qi_attr_int(const qi_node *n, const char *name, int64_t def) {
  const qi_attr *a = qi_attr_find(n, name);
  return a && a->type == QI_ATTR_INT ? a->i : def;
}

float qi_attr_float(const qi_node *n, const char *name, float def) {
  const qi_attr *a = qi_attr_find(n, name);
  if (!a) return def;
  if (a->type == QI_ATTR_FLOAT) return a->f;
  if (a->type == QI_ATTR_INT) return (float)a->i;
  return def;
}

const char *qi_attr_str(const qi_node *n, const char *name, const char *def) {
  const qi_attr *a = qi_attr_find(n, name);
  return a && a->type == QI_ATTR_STRING && a->s ? a->s : def;
}

int qi_attr_ints(const qi_node *n, const char *name, const int64_t **vals) {
  const qi_attr *a = qi_attr_find(n, name);
  if (!a || a->type != QI_ATTR_INTS) return -1;
  *vals = a->ints;
  return a->n;
}

int qi_attr_floats(const qi_node *n, const char *name, const float **vals) {
  const qi_attr *a = qi_attr_find(n, name);
  if (!a || a->type != QI_ATTR_FLOATS) return -1;
  *vals = a->floats;
  return a->n;
}

int64_t qi_shape_numel(const qi_shape *s) {
  if (s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < 0) return -1;
    if (s->d[i] && n > INT64_MAX / s->d[i]) return -1; /* overflow */
    n *= s->d[i];
  }
  return n;
}

int qi_shape_fits(const qi_shape *s, qi_dtype dt) {
  int64_t n = qi_shape_numel(s);
  size_t es = qi_dtype_size(dt);
  return n >= 0 && es && (uint64_t)n <= QI_MAX_TENSOR_BYTES / es;
}

size_t qi_dtype_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: case QI_INT32: return 4;
    case QI_UINT8: case QI_INT8: case QI_BOOL: return 1;
    case QI_INT64: case QI_FLOAT64: return 8;
    case QI_FLOAT16: return 2;
    default: return 0;
  }
}

const char *qi_dtype_name(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: return "float32";
    case QI_UINT8: return "uint8";
    case QI_INT8: return "int8";
    case QI_INT32: return "int32";
    case QI_INT64: return "int64";
    case QI_BOOL: return "bool";
    case QI_FLOAT16: return "float16";
    case QI_FLOAT64: return "float64";
    default: return "undefined";
  }
}

const char *qi_shape_str(const qi_shape *s, char *buf, size_t len) {
  if (!len) return buf;
  if (s->rank < 0) {
    snprintf(buf, len, "[?]");
    return buf;
  }
  size_t o = 0;
  o += (size_t)snprintf(buf + o, len - o, "[");
  for (int i = 0; i < s->rank && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, i ? ",%lld" : "%lld",
                          (long long)s->d[i]);
  if (o < len) snprintf(buf + o, len - o, "]");
  return buf;
}

int qi_graph_consumers(const qi_graph *g, int t) {
  int c = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] == t) c++;
  }
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == t) c++;
  return c;
}

/* Kahn's algorithm over tensor producers; stable with respect to file order
 * so that profiles and dumps read like the source model. */
qi_status qi_graph_toposort(qi_graph *g, qi_error *err) {
  int nt = g->ntensors, nn = g->nnodes;
  if (nt < 0 || nn < 0) return qi_fail(err, QI_ERR_INTERNAL, "corrupt graph");
  int *prod = malloc(sizeof(int) * ((size_t)nt + 1));
  int *pending = calloc(((size_t)nn + 1), sizeof(int));
  int *order = malloc(sizeof(int) * ((size_t)nn + 1));
  char *avail = calloc(((size_t)nt + 1), 1);
  qi_status st = QI_OK;
  if (!prod || !pending || !order || !avail) {
    st = qi_fail(err, QI_ERR_NOMEM, "out of memory sorting the graph");
    goto done;
  }
  for (int i = 0; i < nt; i++) {
    prod[i] = -1;
    if (g->tensors[i].kind == QI_TK_CONST) avail[i] = 1;
  }
  for (int i = 0; i < g->ninputs; i++) avail[g->inputs[i]] = 1;
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].nout; k++) {
      int t = g->nodes[i].out[k];
      if (t < 0) continue;
      if (prod[t] >= 0 || avail[t]) {
        st = qi_fail(err, QI_ERR_PARSE,
                     "tensor '%s' is produced twice (node '%s')",
                     g->tensors[t].name, g->nodes[i].name);
        goto done;
      }
      prod[t] = i;
    }
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].nin; k++) {
      int t = g->nodes[i].in[k];
      if (t < 0 || avail[t]) continue;
      if (prod[t] < 0) {
        st = qi_fail(err, QI_ERR_PARSE,
                     "node '%s' reads tensor '%s', which no node, "
                     "initializer or graph input provides",
                     g->nodes[i].name, g->tensors[t].name);
        goto done;
      }
      pending[i]++;
    }
  /* Kahn's algorithm with a min-heap on file position, so the order stays as
   * close to the file's as dependencies allow; consumer lists (CSR by
   * tensor) keep it O(E log N) even for hostile graphs. */
  {
    size_t ne = 0;
    for (int i = 0; i < nn; i++) ne += (size_t)g->nodes[i].nin;
    int *cstart = calloc((size_t)nt + 2, sizeof(int));
    int *cons = malloc(sizeof(int) * (ne + 1));
    int *heap = malloc(sizeof(int) * ((size_t)nn + 1));
    if (!cstart || !cons || !heap) {
      free(cstart);
      free(cons);
      free(heap);
      st = qi_fail(err, QI_ERR_NOMEM, "out of memory sorting the graph");
      goto done;
    }
    for (int i = 0; i < nn; i++)
      for (int k = 0; k < g->nodes[i].nin; k++) {
        int t = g->nodes[i].in[k];
        if (t >= 0 && !avail[t]) cstart[t + 2]++;
      }
    for (int t = 0; t < nt; t++) cstart[t + 2] += cstart[t + 1];
    for (int i = 0; i < nn; i++)
      for (int k = 0; k < g->nodes[i].nin; k++) {
        int t = g->nodes[i].in[k];
        if (t >= 0 && !avail[t]) cons[cstart[t + 1]++] = i;
      }
    int nheap = 0, cnt = 0;
    for (int i = 0; i < nn; i++) {
      if (pending[i]) continue;
      heap[nheap++] = i; /* ascending insert keeps the heap property */
    }
    while (nheap > 0) {
      int pick = heap[0];
      heap[0] = heap[--nheap];
      for (int h = 0;;) { /* sift down */
        int l = 2 * h + 1, r = l + 1, m = h;
        if (l < nheap && heap[l] < heap[m]) m = l;
        if (r < nheap && heap[r] < heap[m]) m = r;
        if (m == h) break;
        int tmp = heap[h];
        heap[h] = heap[m];
        heap[m] = tmp;
        h = m;
      }
      order[cnt++] = pick;
      for (int k = 0; k < g->nodes[pick].nout; k++) {
        int t = g->nodes[pick].out[k];
        if (t < 0) continue;
        for (int c = cstart[t]; c < cstart[t + 1]; c++) {
          int j = cons[c];
          if (--pending[j] != 0) continue;
          int h = nheap++; /* sift up */
          heap[h] = j;
          while (h > 0 && heap[(h - 1) / 2] > heap[h]) {
            int tmp = heap[h];
            heap[h] = heap[(h - 1) / 2];
            heap[(h - 1) / 2] = tmp;
            h = (h - 1) / 2;
          }
        }
      }
    }
    free(cstart);
    free(cons);
    free(heap);
    if (cnt < nn) {
      for (int i = 0; i < nn; i++)
        if (pending[i] > 0) {
          st = qi_fail(err, QI_ERR_PARSE,
                       "the graph has a cycle through node '%s'",
                       g->nodes[i].name);
          break;
        }
      goto done;
    }
  }
  {
    qi_node *sorted = malloc(sizeof(qi_node) * ((size_t)nn + 1));
    if (!sorted) {
      st = qi_fail(err, QI_ERR_NOMEM, "out of memory sorting the graph");
      goto done;
    }
    for (int i = 0; i < nn; i++) sorted[i] = g->nodes[order[i]];
    if (nn) memcpy(g->nodes, sorted, sizeof(qi_node) * (size_t)nn);
    free(sorted);
  }
  for (int i = 0; i < nt; i++) g->tensors[i].producer = -1;
  for (int i = 0; i < nn; i++)
    for (int k = 0; k < g->nodes[i].nout; k++)
      if (g->nodes[i].out[k] >= 0) g->tensors[g->nodes[i].out[k]].producer = i;
done:
  free(prod);
  free(pending);
  free(order);
  free(avail);
  return st;
}

qi_status qi_graph_compact(qi_graph *g, qi_error *err) {
  (void)err;
  int w = 0;
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].dead) {
      free_node(&g->nodes[i]);
      continue;
    }
    g->nodes[w++] = g->nodes[i];
  }
  g->nnodes = w;
  for (int i = 0; i < g->ntensors; i++) g->tensors[i].producer = -1;
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nout; k++)
      if (g->nodes[i].out[k] >= 0) g->tensors[g->nodes[i].out[k]].producer = i;
  return QI_OK;
}

qi_status qi_graph_drop_unused_tensors(qi_graph *g, qi_error *err) {
  int *remap = malloc(sizeof(int) * ((size_t)g->ntensors + 1));
  if (!remap) return qi_fail(err, QI_ERR_NOMEM, "out of memory compacting");
  for (int i = 0; i < g->ntensors; i++) remap[i] = -1;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0) remap[n->in[k]] = 0;
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] >= 0) remap[n->out[k]] = 0;
  }
  for (int i = 0; i < g->ninputs; i++) remap[g->inputs[i]] = 0;
  for (int i = 0; i < g->noutputs; i++) remap[g->outputs[i]] = 0;
  int nt = 0;
  for (int i = 0; i < g->ntensors; i++) {
    if (remap[i] < 0) {
      free_tensor_fields(&g->tensors[i]);
      continue;
    }
    remap[i] = nt;
    g->tensors[nt++] = g->tensors[i];
  }
  g->ntensors = nt;
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] >= 0) n->in[k] = remap[n->in[k]];
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] >= 0) n->out[k] = remap[n->out[k]];
  }
  for (int i = 0; i < g->ninputs; i++) g->inputs[i] = remap[g->inputs[i]];
  for (int i = 0; i < g->noutputs; i++) g->outputs[i] = remap[g->outputs[i]];
  free(remap);
  for (int i = 0; i < g->ntensors; i++) g->tensors[i].producer = -1;
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nout; k++)
      if (g->nodes[i].out[k] >= 0) g->tensors[g->nodes[i].out[k]].producer = i;
  return QI_OK;
}
