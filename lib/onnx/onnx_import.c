/* ModelProto and GraphProto to the IR. A graph's repeated fields may come
 * in any order in the bytes (serializers write nodes before initializers),
 * so the graph is first split into lists of fields, then built in the
 * order initializers, inputs, nodes, outputs: by the time a node is read,
 * every constant and graph input is known. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/onnx.h"
#include "onnx/onnx_internal.h"

/* Far beyond any real model, and low enough that int counts in the IR and
 * their doubling growth never overflow. */
#define MAX_ITEMS (INT_MAX / 4)

typedef struct field_list {
  qi_pb_field *f;
  size_t n, cap;
} field_list;

/* A node whose name the file left empty: named once all names are known. */
typedef struct unnamed_node {
  int node;        /* index in g->nodes */
  size_t index;    /* position among the file's nodes */
} unnamed_node;

typedef struct importer {
  const uint8_t *buf;
  const char *base_dir;
  qi_graph *g;
  qi_error *err;
  qi_name_map tensors;  /* tensor name -> index in g->tensors */
  int ninit;            /* tensors [0, ninit) are initializers */
  int node_base;        /* tensors below this are initializers or inputs */
  unnamed_node *unnamed;
  size_t nunnamed;
  char *scratch;        /* NUL-terminated copy of a name being added */
  size_t scratch_cap;
} importer;

static qi_status nomem(qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
}

static qi_status list_push(field_list *l, const qi_pb_field *f, qi_error *err) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 64;
    if (l->n >= MAX_ITEMS)
      return qi_fail(err, QI_ERR_NOMEM,
                     "onnx: more than %d entries of field %u", MAX_ITEMS,
                     f->num);
    qi_pb_field *p = realloc(l->f, cap * sizeof *p);
    if (!p) return nomem(err);
    l->f = p;
    l->cap = cap;
  }
  l->f[l->n++] = *f;
  return QI_OK;
}

static const char *tensor_name_of(const void *owner, int idx) {
  return ((const qi_graph *)owner)->tensors[idx].name;
}

static const char *node_name_of(const void *owner, int idx) {
  return ((const qi_graph *)owner)->nodes[idx].name;
}

/* Adds a tensor named by the bytes of f (no NUL inside) to graph and map. */
static qi_status add_tensor(importer *im, const qi_pb_field *f,
                            const char *field, qi_dtype dt, int *idx) {
  if (memchr(im->buf + f->off, 0, f->len))
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: %s at byte %zu holds a NUL byte", field, f->at);
  if (im->g->ntensors >= MAX_ITEMS)
    return qi_fail(im->err, QI_ERR_NOMEM, "onnx: more than %d tensors",
                   MAX_ITEMS);
  if (f->len + 1 > im->scratch_cap) {
    char *s = realloc(im->scratch, f->len + 1);
    if (!s) return nomem(im->err);
    im->scratch = s;
    im->scratch_cap = f->len + 1;
  }
  memcpy(im->scratch, im->buf + f->off, f->len);
  im->scratch[f->len] = '\0';
  int t = qi_graph_add_tensor(im->g, im->scratch, dt);
  if (t < 0 || qi_name_map_add(&im->tensors, t)) return nomem(im->err);
  *idx = t;
  return QI_OK;
}

static int find_tensor(const importer *im, const qi_pb_field *f) {
  return qi_name_map_find(&im->tensors, (const char *)im->buf + f->off,
                          f->len);
}

/* The tensor a node input or output names: -1 for "", created if new. */
static qi_status tensor_ref(importer *im, const qi_pb_field *f,
                            const char *field, int *idx) {
  QI_TRY(qi_pb_expect(f, QI_PB_LEN, field, im->err));
  if (f->len == 0) {
    *idx = -1;
    return QI_OK;
  }
  *idx = find_tensor(im, f);
  if (*idx >= 0) return QI_OK;
  return add_tensor(im, f, field, QI_UNDEFINED, idx);
}

static qi_status import_initializers(importer *im, const field_list *l) {
  qi_graph *g = im->g;
  for (size_t i = 0; i < l->n; i++) {
    qi_tensor t;
    QI_TRY(qi_onnx_read_tensor(im->buf, &l->f[i], im->base_dir, "initializer",
                               &t, im->err));
    qi_status st = QI_OK;
    int idx = -1;
    if (!t.name || !t.name[0])
      st = qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: initializer at byte %zu has no name", l->f[i].at);
    else if (qi_name_map_find(&im->tensors, t.name, strlen(t.name)) >= 0)
      st = qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: initializer '%s' (byte %zu) is defined twice",
                   t.name, l->f[i].at);
    else if ((idx = qi_graph_add_tensor(g, t.name, t.dtype)) < 0 ||
             qi_name_map_add(&im->tensors, idx))
      st = nomem(im->err);
    if (st != QI_OK) {
      qi_onnx_tensor_clear(&t);
      return st;
    }
    free(t.name);
    g->tensors[idx].shape = t.shape;
    qi_tensor_set_const(&g->tensors[idx], t.data, t.nbytes);
  }
  im->ninit = g->ntensors;
  return QI_OK;
}

/* What a ValueInfoProto says about a graph input. */
typedef struct value_info {
  qi_pb_field name;
  int has_name;
  uint32_t other_type;  /* TypeProto field of a non-tensor type, or 0 */
  uint64_t elem_type;
  int has_shape;
  size_t ndims;
  int64_t dims[QI_MAX_RANK];
} value_info;

static qi_status read_shape(const qi_pb *r, value_info *vi, qi_error *err) {
  qi_pb p = *r;
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&p, &f, err));
    if (!f.num) break;
    if (f.num != 1) continue;
    QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "TensorShapeProto.dim", err));
    /* Symbolic (dim_param) or missing sizes are unknown: -1. Some
     * exporters write dim_value -1 for the same meaning. */
    int64_t d = -1;
    qi_pb dp = qi_pb_sub(&p, &f);
    qi_pb_field df;
    for (;;) {
      QI_TRY(qi_pb_next(&dp, &df, err));
      if (!df.num) break;
      if (df.num == 1) {
        QI_TRY(qi_pb_expect(&df, QI_PB_VARINT, "Dimension.dim_value", err));
        d = (int64_t)df.u < 0 ? -1 : (int64_t)df.u;
      }
    }
    if (vi->ndims < QI_MAX_RANK) vi->dims[vi->ndims] = d;
    vi->ndims++;
  }
  return QI_OK;
}

static qi_status read_type(const qi_pb *r, value_info *vi, qi_error *err) {
  qi_pb p = *r;
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&p, &f, err));
    if (!f.num) break;
    if (f.num == 4 || f.num == 5 || f.num == 8 || f.num == 9) {
      vi->other_type = f.num;
      continue;
    }
    if (f.num != 1) continue;
    QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "TypeProto.tensor_type", err));
    qi_pb tp = qi_pb_sub(&p, &f);
    qi_pb_field tf;
    for (;;) {
      QI_TRY(qi_pb_next(&tp, &tf, err));
      if (!tf.num) break;
      if (tf.num == 1) {
        QI_TRY(qi_pb_expect(&tf, QI_PB_VARINT, "TypeProto.Tensor.elem_type",
                            err));
        vi->elem_type = (uint64_t)(int64_t)(int32_t)tf.u;
      } else if (tf.num == 2) {
        QI_TRY(qi_pb_expect(&tf, QI_PB_LEN, "TypeProto.Tensor.shape", err));
        qi_pb sp = qi_pb_sub(&tp, &tf);
        vi->has_shape = 1;
        vi->ndims = 0;
        QI_TRY(read_shape(&sp, vi, err));
      }
    }
  }
  return QI_OK;
}

static qi_status read_value_info(const importer *im, const qi_pb_field *vf,
                                 value_info *vi) {
  memset(vi, 0, sizeof *vi);
  qi_pb r = {im->buf, vf->off, vf->off + vf->len};
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, im->err));
    if (!f.num) break;
    if (f.num == 1) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ValueInfoProto.name", im->err));
      vi->name = f;
      vi->has_name = 1;
    } else if (f.num == 2) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ValueInfoProto.type", im->err));
      qi_pb tr = qi_pb_sub(&r, &f);
      QI_TRY(read_type(&tr, vi, im->err));
    }
  }
  if (!vi->has_name || vi->name.len == 0)
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: graph input or output at byte %zu has no name",
                   vf->at);
  return QI_OK;
}

static qi_status import_inputs(importer *im, const field_list *l) {
  qi_graph *g = im->g;
  g->inputs = malloc((l->n ? l->n : 1) * sizeof(int));
  if (!g->inputs) return nomem(im->err);
  for (size_t i = 0; i < l->n; i++) {
    value_info vi;
    QI_TRY(read_value_info(im, &l->f[i], &vi));
    const char *nm = (const char *)im->buf + vi.name.off;
    int nl = vi.name.len > 200 ? 200 : (int)vi.name.len;
    int idx = find_tensor(im, &vi.name);
    if (idx >= 0 && idx < im->ninit) continue; /* a constant */
    if (idx >= 0)
      return qi_fail(im->err, QI_ERR_PARSE,
                     "onnx: graph input '%.*s' (byte %zu) is listed twice", nl,
                     nm, l->f[i].at);
    char tb[32];
    if (vi.other_type)
      return qi_fail(im->err, QI_ERR_UNSUPPORTED,
                     "onnx: graph input '%.*s' is not a tensor (TypeProto "
                     "field %u), which qinfer does not support",
                     nl, nm, vi.other_type);
    if (vi.elem_type && !qi_onnx_dtype_supported((int64_t)vi.elem_type))
      return qi_fail(im->err, QI_ERR_UNSUPPORTED,
                     "onnx: graph input '%.*s' has element type %s, which "
                     "qinfer does not support",
                     nl, nm,
                     qi_onnx_dtype_text((int64_t)vi.elem_type, tb, sizeof tb));
    if (vi.ndims > QI_MAX_RANK)
      return qi_fail(im->err, QI_ERR_UNSUPPORTED,
                     "onnx: graph input '%.*s' has rank %zu > %d", nl, nm,
                     vi.ndims, QI_MAX_RANK);
    QI_TRY(add_tensor(im, &vi.name, "ValueInfoProto.name",
                      (qi_dtype)vi.elem_type, &idx));
    qi_tensor *t = &g->tensors[idx];
    t->kind = QI_TK_ACT;
    t->shape.rank = vi.has_shape ? (int)vi.ndims : -1;
    for (size_t k = 0; k < vi.ndims; k++) t->shape.d[k] = vi.dims[k];
    g->inputs[g->ninputs++] = idx;
  }
  im->node_base = g->ntensors;
  return QI_OK;
}

/* The first pass over a NodeProto. */
typedef struct node_scan {
  size_t nin, nout, nattr;
  qi_pb_field name, op_type, domain, out0;
  int has_name, has_op_type, has_domain;
} node_scan;

static qi_status scan_node(const importer *im, const qi_pb_field *nf,
                           node_scan *s) {
  memset(s, 0, sizeof *s);
  qi_pb r = {im->buf, nf->off, nf->off + nf->len};
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, im->err));
    if (!f.num) break;
    switch (f.num) {
      case 1: s->nin++; break;
      case 2:
        if (!s->nout++) s->out0 = f;
        break;
      case 3: s->name = f; s->has_name = 1; break;
      case 4: s->op_type = f; s->has_op_type = 1; break;
      case 5: s->nattr++; break;
      case 7: s->domain = f; s->has_domain = 1; break;
      default: continue;
    }
    QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "NodeProto field", im->err));
  }
  if (s->nin > MAX_ITEMS || s->nout > MAX_ITEMS || s->nattr > MAX_ITEMS)
    return qi_fail(im->err, QI_ERR_NOMEM,
                   "onnx: node at byte %zu has too many inputs, outputs or "
                   "attributes",
                   nf->at);
  return QI_OK;
}

/* A Constant node becomes the constant tensor it outputs. */
static qi_status import_constant(importer *im, const qi_pb_field *nf,
                                 const node_scan *s, const char *node) {
  qi_graph *g = im->g;
  if (s->nin || s->nout != 1 || s->out0.len == 0)
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: Constant node '%s' (byte %zu) must have no input "
                   "and one named output",
                   node, nf->at);
  int t = find_tensor(im, &s->out0);
  if (t >= 0 && (t < im->node_base || g->tensors[t].kind == QI_TK_CONST))
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: Constant node '%s' (byte %zu) redefines tensor '%s'",
                   node, nf->at, g->tensors[t].name);
  if (t < 0) QI_TRY(add_tensor(im, &s->out0, "NodeProto.output", 0, &t));
  int nvalues = 0;
  qi_pb r = {im->buf, nf->off, nf->off + nf->len};
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, im->err));
    if (!f.num) break;
    if (f.num != 5) continue;
    qi_attr a;
    memset(&a, 0, sizeof a);
    qi_status st = qi_onnx_read_attr(im->buf, &f, im->base_dir, node, &a,
                                     im->err);
    if (st == QI_OK && nvalues++)
      st = qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: Constant node '%s' (byte %zu) has more than one "
                   "value attribute",
                   node, nf->at);
    if (st == QI_OK)
      st = qi_onnx_constant_take(&a, node, &g->tensors[t], im->err);
    qi_onnx_attr_clear(&a);
    QI_TRY(st);
  }
  if (!nvalues)
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: Constant node '%s' (byte %zu) has no value", node,
                   nf->at);
  return QI_OK;
}

static qi_status fill_node(importer *im, const qi_pb_field *nf, int ni,
                           const char *node) {
  /* n->attrs was calloc'd for the count scan_node found, and nattr counts
   * an attribute before it is read so that a half-read one is freed. */
  qi_node *n = &im->g->nodes[ni];
  qi_pb r = {im->buf, nf->off, nf->off + nf->len};
  qi_pb_field f;
  int ki = 0, ko = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, im->err));
    if (!f.num) break;
    if (f.num == 1) {
      QI_TRY(tensor_ref(im, &f, "NodeProto.input", &n->in[ki++]));
    } else if (f.num == 2) {
      QI_TRY(tensor_ref(im, &f, "NodeProto.output", &n->out[ko++]));
    } else if (f.num == 5) {
      qi_attr *a = &n->attrs[n->nattr++];
      QI_TRY(qi_onnx_read_attr(im->buf, &f, im->base_dir, node, a, im->err));
    }
  }
  return QI_OK;
}

static qi_status import_node(importer *im, const qi_pb_field *nf,
                             size_t index) {
  node_scan s;
  QI_TRY(scan_node(im, nf, &s));
  if (!s.has_op_type || s.op_type.len == 0)
    return qi_fail(im->err, QI_ERR_PARSE,
                   "onnx: node %zu (byte %zu) has no op_type", index, nf->at);
  char *name = NULL, *op = NULL, *domain = NULL;
  char display[320];
  qi_status st = qi_onnx_str(im->buf, &s.op_type, "NodeProto.op_type", &op,
                             im->err);
  if (st == QI_OK && s.has_name)
    st = qi_onnx_str(im->buf, &s.name, "NodeProto.name", &name, im->err);
  if (st == QI_OK && s.has_domain)
    st = qi_onnx_str(im->buf, &s.domain, "NodeProto.domain", &domain,
                     im->err);
  if (st != QI_OK) goto done;
  if (domain && strcmp(domain, "ai.onnx") == 0) domain[0] = '\0';
  int unnamed = !name || !name[0];
  if (unnamed)
    snprintf(display, sizeof display, "%.200s_%zu", op, index);
  else
    snprintf(display, sizeof display, "%.300s", name);
  if (strcmp(op, "Constant") == 0 && (!domain || !domain[0])) {
    st = import_constant(im, nf, &s, display);
    goto done;
  }
  qi_graph *g = im->g;
  if (g->nnodes >= MAX_ITEMS) {
    st = qi_fail(im->err, QI_ERR_NOMEM, "onnx: more than %d nodes",
                 MAX_ITEMS);
    goto done;
  }
  int ni = qi_graph_add_node(g, unnamed ? "" : name, op, domain ? domain : "",
                             (int)s.nin, (int)s.nout);
  if (ni < 0) {
    st = nomem(im->err);
    goto done;
  }
  if (s.nattr && !(g->nodes[ni].attrs = calloc(s.nattr, sizeof(qi_attr)))) {
    st = nomem(im->err);
    goto done;
  }
  if (unnamed) {
    im->unnamed[im->nunnamed].node = ni;
    im->unnamed[im->nunnamed++].index = index;
  }
  st = fill_node(im, nf, ni, display);
done:
  free(name);
  free(op);
  free(domain);
  return st;
}

static qi_status import_outputs(importer *im, const field_list *l) {
  qi_graph *g = im->g;
  g->outputs = malloc((l->n ? l->n : 1) * sizeof(int));
  if (!g->outputs) return nomem(im->err);
  for (size_t i = 0; i < l->n; i++) {
    value_info vi;
    QI_TRY(read_value_info(im, &l->f[i], &vi));
    int idx = find_tensor(im, &vi.name);
    if (idx < 0)
      return qi_fail(im->err, QI_ERR_PARSE,
                     "onnx: graph output '%.*s' (byte %zu) is not produced by "
                     "any node, initializer or graph input",
                     vi.name.len > 200 ? 200 : (int)vi.name.len,
                     (const char *)im->buf + vi.name.off, l->f[i].at);
    g->outputs[g->noutputs++] = idx;
  }
  return QI_OK;
}

/* Names the nodes the file left unnamed "<op_type>_<index>", adding a
 * suffix where that collides with another node's name. */
static qi_status name_nodes(importer *im) {
  qi_graph *g = im->g;
  if (!im->nunnamed) return QI_OK;
  qi_name_map names;
  if (qi_name_map_init(&names, node_name_of, g, (size_t)g->nnodes))
    return nomem(im->err);
  qi_status st = QI_OK;
  for (int i = 0; i < g->nnodes && st == QI_OK; i++) {
    const char *nm = g->nodes[i].name;
    if (nm[0] && qi_name_map_find(&names, nm, strlen(nm)) < 0 &&
        qi_name_map_add(&names, i))
      st = nomem(im->err);
  }
  for (size_t u = 0; u < im->nunnamed && st == QI_OK; u++) {
    qi_node *n = &g->nodes[im->unnamed[u].node];
    size_t cap = strlen(n->op_type) + 48;
    char *nm = malloc(cap);
    if (!nm) {
      st = nomem(im->err);
      break;
    }
    snprintf(nm, cap, "%s_%zu", n->op_type, im->unnamed[u].index);
    for (unsigned k = 1; qi_name_map_find(&names, nm, strlen(nm)) >= 0; k++)
      snprintf(nm, cap, "%s_%zu_%u", n->op_type, im->unnamed[u].index, k);
    free(n->name);
    n->name = nm;
    if (qi_name_map_add(&names, im->unnamed[u].node)) st = nomem(im->err);
  }
  qi_name_map_free(&names);
  return st;
}

static qi_status import_graph(importer *im, const qi_pb_field *gf) {
  qi_graph *g = im->g;
  field_list lists[4] = {{0}}; /* node, initializer, input, output */
  field_list *nodes = &lists[0], *inits = &lists[1], *inputs = &lists[2],
             *outputs = &lists[3];
  qi_pb r = {im->buf, gf->off, gf->off + gf->len};
  qi_pb_field f, name = {0};
  qi_status st = QI_OK;
  for (;;) {
    if ((st = qi_pb_next(&r, &f, im->err)) != QI_OK || !f.num) break;
    field_list *l = f.num == 1    ? nodes
                    : f.num == 5  ? inits
                    : f.num == 11 ? inputs
                    : f.num == 12 ? outputs
                                  : NULL;
    if (l || f.num == 2)
      st = qi_pb_expect(&f, QI_PB_LEN, "GraphProto field", im->err);
    if (st == QI_OK && l) st = list_push(l, &f, im->err);
    if (f.num == 2) name = f;
    if (st == QI_OK && f.num == 15)
      st = qi_fail(im->err, QI_ERR_UNSUPPORTED,
                   "onnx: the graph has a sparse_initializer (byte %zu), "
                   "which qinfer does not support",
                   f.at);
    if (st != QI_OK) break;
  }
  if (st == QI_OK && name.num)
    st = qi_onnx_str(im->buf, &name, "GraphProto.name", &g->name, im->err);
  if (st == QI_OK &&
      qi_name_map_init(&im->tensors, tensor_name_of, g,
                       inits->n + inputs->n + 2 * nodes->n))
    st = nomem(im->err);
  if (st == QI_OK &&
      !(im->unnamed = malloc((nodes->n ? nodes->n : 1) * sizeof(unnamed_node))))
    st = nomem(im->err);
  if (st == QI_OK) st = import_initializers(im, inits);
  if (st == QI_OK) st = import_inputs(im, inputs);
  for (size_t i = 0; st == QI_OK && i < nodes->n; i++)
    st = import_node(im, &nodes->f[i], i);
  if (st == QI_OK) st = import_outputs(im, outputs);
  if (st == QI_OK) st = name_nodes(im);
  /* Without nodes there is nothing to sort (and toposort would memcpy from
   * a NULL node array). */
  if (st == QI_OK && g->nnodes) st = qi_graph_toposort(g, im->err);
  for (int i = 0; i < 4; i++) free(lists[i].f);
  return st;
}

static qi_status read_opset(const uint8_t *buf, const qi_pb_field *of,
                            int64_t *opset, qi_error *err) {
  qi_pb r = {buf, of->off, of->off + of->len};
  qi_pb_field f, domain = {0};
  int64_t version = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, err));
    if (!f.num) break;
    if (f.num == 1) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "OperatorSetIdProto.domain", err));
      domain = f;
    } else if (f.num == 2) {
      QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "OperatorSetIdProto.version",
                          err));
      version = (int64_t)f.u;
    }
  }
  int is_default = domain.len == 0 ||
                   (domain.len == 7 && memcmp(buf + domain.off, "ai.onnx", 7) == 0);
  if (!is_default) return QI_OK;
  if (version < 1)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: default-domain opset_import at byte %zu has version "
                   "%lld",
                   of->at, (long long)version);
  if (*opset && *opset != version)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: opset_import at byte %zu gives the default domain "
                   "version %lld after %lld",
                   of->at, (long long)version, (long long)*opset);
  *opset = version;
  return QI_OK;
}

qi_status qi_onnx_import(const uint8_t *buf, size_t len, const char *base_dir,
                         qi_graph **out, qi_error *err) {
  if (!out || (!buf && len))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "onnx: qi_onnx_import needs a buffer and an output");
  *out = NULL;
  static const uint8_t empty[1] = {0};
  if (!buf) buf = empty;
  qi_pb r = qi_pb_open(buf, len);
  qi_pb_field f, graph = {0};
  int64_t ir_version = 0, opset = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, err));
    if (!f.num) break;
    if (f.num == 1) {
      QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "ModelProto.ir_version", err));
      ir_version = (int64_t)f.u;
    } else if (f.num == 8) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ModelProto.opset_import", err));
      QI_TRY(read_opset(buf, &f, &opset, err));
    } else if (f.num == 7) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ModelProto.graph", err));
      if (graph.num)
        return qi_fail(err, QI_ERR_PARSE,
                       "onnx: a second graph at byte %zu", f.at);
      graph = f;
    }
  }
  if (!graph.num)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: no graph (ModelProto field 7) in %zu bytes: not an "
                   "ONNX model?",
                   len);
  importer im;
  memset(&im, 0, sizeof im);
  im.buf = buf;
  im.base_dir = base_dir;
  im.err = err;
  im.g = qi_graph_create();
  if (!im.g) return nomem(err);
  im.g->ir_version = ir_version;
  /* No default-domain opset: the IR spec's rule for pre-IR-3 models is
   * opset 1, and every op then rejects it rather than guessing. */
  im.g->opset = opset ? opset : 1;
  qi_status st = import_graph(&im, &graph);
  if (st == QI_OK && !im.g->name && !(im.g->name = calloc(1, 1)))
    st = nomem(err);
  qi_name_map_free(&im.tensors);
  free(im.unnamed);
  free(im.scratch);
  if (st != QI_OK) {
    qi_graph_free(im.g);
    return st;
  }
  *out = im.g;
  return QI_OK;
}
