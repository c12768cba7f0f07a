/*
 * The scan of the QDQ export (calib/qdq_internal.h): one pass over the
 * ModelProto for the graph and the opset, one over the graph to split its
 * repeated fields, then initializers, graph inputs, nodes and graph outputs
 * read in that order, so a name is known before anything refers to it
 * whatever the order of the bytes.
 */
#include <stdio.h>
#include <stdlib.h>

#include "calib/qdq_internal.h"
#include "core/error.h"

qi_status qi_qdqx_nomem(qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "qdq export: out of memory");
}

int qi_qdqx_grow(void **p, int *cap, int need, size_t elem) {
  if (need <= *cap) return 0;
  int c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, (size_t)c * elem);
  if (!q) return -1;
  *p = q;
  *cap = c;
  return 0;
}

/* ---- names ---------------------------------------------------------- */

static uint64_t hash_str(qdq_str s) { /* FNV-1a */
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < s.n; i++) h = (h ^ (uint8_t)s.p[i]) * 1099511628211ull;
  return h;
}

static size_t map_slot(const qdq_name_map *m, qdq_str s) {
  size_t i = (size_t)hash_str(s) & (m->cap - 1);
  while (m->vals[i] >= 0 &&
         !(m->keys[i].n == s.n && memcmp(m->keys[i].p, s.p, s.n) == 0))
    i = (i + 1) & (m->cap - 1);
  return i;
}

int qi_qdqx_map_find(const qdq_name_map *m, qdq_str s) {
  return m->cap ? m->vals[map_slot(m, s)] : -1;
}

/* Sets name -> val (val >= 0); -1 when out of memory. */
static int map_put(qdq_name_map *m, qdq_str s, int val) {
  if (2 * (m->count + 1) > m->cap) {
    qdq_name_map b = {0};
    b.cap = m->cap ? 2 * m->cap : 64;
    b.keys = malloc(b.cap * sizeof *b.keys);
    b.vals = malloc(b.cap * sizeof *b.vals);
    if (!b.keys || !b.vals) {
      free(b.keys);
      free(b.vals);
      return -1;
    }
    for (size_t i = 0; i < b.cap; i++) b.vals[i] = -1;
    for (size_t i = 0; i < m->cap; i++)
      if (m->vals[i] >= 0) {
        size_t j = map_slot(&b, m->keys[i]);
        b.keys[j] = m->keys[i];
        b.vals[j] = m->vals[i];
      }
    b.count = m->count;
    free(m->keys);
    free(m->vals);
    *m = b;
  }
  size_t i = map_slot(m, s);
  if (m->vals[i] < 0) m->count++;
  m->keys[i] = s;
  m->vals[i] = val;
  return 0;
}

static void map_free(qdq_name_map *m) {
  free(m->keys);
  free(m->vals);
  memset(m, 0, sizeof *m);
}

const char *qi_qdqx_fresh_name(qdq_model *x, qdq_str base, const char *suffix) {
  size_t sl = strlen(suffix), cap = base.n + sl + 16;
  char *s = malloc(cap);
  if (!s || qi_qdqx_grow((void **)&x->owned, &x->cap_owned, x->nowned + 1,
                         sizeof *x->owned)) {
    free(s);
    return NULL;
  }
  x->owned[x->nowned++] = s;
  memcpy(s, base.p, base.n);
  memcpy(s + base.n, suffix, sl + 1);
  for (unsigned k = 1; qi_qdqx_map_find(&x->used, qdq_cstr(s)) >= 0; k++)
    snprintf(s + base.n + sl, 16, "_%u", k);
  return map_put(&x->used, qdq_cstr(s), 0) ? NULL : s;
}

/* The tensor named by f (a node input or output): -1 for "", created as
 * T_UNKNOWN if new. */
static qi_status tensor_ref(qdq_model *x, const qi_pb_field *f, int *id) {
  QI_TRY(qi_pb_expect(f, QI_PB_LEN, "NodeProto.input/output", x->err));
  qdq_str s = qdq_field_str(x, f);
  *id = -1;
  if (!s.n) return QI_OK;
  if (memchr(s.p, 0, s.n))
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: tensor name at byte %zu holds a NUL byte",
                   f->at);
  if ((*id = qi_qdqx_map_find(&x->tmap, s)) >= 0) return QI_OK;
  if (x->ntensors >= QDQ_MAX_ITEMS ||
      qi_qdqx_grow((void **)&x->tensors, &x->cap_tensors, x->ntensors + 1,
                   sizeof *x->tensors))
    return qi_qdqx_nomem(x->err);
  qdq_tensor *t = &x->tensors[x->ntensors];
  memset(t, 0, sizeof *t);
  t->name = s;
  t->src = t->input_idx = t->range = -1;
  *id = x->ntensors++;
  if (map_put(&x->tmap, s, *id) || map_put(&x->used, s, 0))
    return qi_qdqx_nomem(x->err);
  return QI_OK;
}

/* ---- scan ----------------------------------------------------------- */

/* The first LEN field numbered `num` of message f (0 if none). */
static qi_status find_len(const qdq_model *x, const qi_pb_field *msg,
                          uint32_t num, const char *what, qi_pb_field *out) {
  qi_pb r = {x->buf, msg->off, msg->off + msg->len};
  qi_pb_field f;
  memset(out, 0, sizeof *out);
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) return QI_OK;
    if (f.num == num && !out->num) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, what, x->err));
      *out = f;
    }
  }
}

static qi_status scan_attr(qdq_model *x, qdq_node *n, const qi_pb_field *af) {
  qi_pb r = {x->buf, af->off, af->off + af->len};
  qi_pb_field f, name = {0}, t = {0};
  int64_t i = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num == 6 || f.num == 11) x->has_subgraph = 1;
    if (f.num == 1) name = f;
    if (f.num == 3 && f.wire == QI_PB_VARINT) i = (int64_t)f.u;
    if (f.num == 5 && f.wire == QI_PB_LEN) t = f;
  }
  qdq_str s = qdq_field_str(x, &name);
  if (s.n == 6 && memcmp(s.p, "transB", 6) == 0) n->trans_b = i;
  if (s.n == 5 && memcmp(s.p, "value", 5) == 0 && t.num) {
    n->value = t;
    n->has_value = 1;
  }
  return QI_OK;
}

/* The first input of op that is a parameter rather than data: scales,
 * bounds, shapes. A quantized activation feeding one keeps its FP32 value
 * there (Resize would otherwise read rounded scales, Clip rounded bounds). */
static int param_from(qdq_str op) {
  static const struct {
    const char *op;
    int from;
  } params[] = {{"Clip", 1},  {"Resize", 1},  {"Upsample", 1},
                {"Pad", 1},   {"Reshape", 1}, {"Expand", 1},
                {"Tile", 1},  {"Slice", 1},   {"Dropout", 1},
                {"Range", 0}, {"TopK", 1},    {"ConstantOfShape", 0}};
  for (size_t k = 0; k < sizeof params / sizeof params[0]; k++)
    if (qdq_str_is(op, params[k].op)) return params[k].from;
  return INT_MAX;
}

static qi_status scan_node(qdq_model *x, int i) {
  qdq_node *n = &x->nodes[i];
  qi_pb r = {x->buf, n->f.off, n->f.off + n->f.len};
  qi_pb_field f;
  qdq_str op = {"", 0}, domain = {"", 0};
  n->in_first = x->nin_total;
  n->out_first = x->nout_total;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num < 1 || f.num > 7 || f.num == 6) continue;
    QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "NodeProto field", x->err));
    int id;
    if (f.num == 1 || f.num == 2) {
      int is_in = f.num == 1;
      int *cnt = is_in ? &x->nin_total : &x->nout_total;
      if (*cnt >= QDQ_MAX_ITEMS ||
          qi_qdqx_grow((void **)(is_in ? &x->node_in : &x->node_out),
                       is_in ? &x->cap_in : &x->cap_out, *cnt + 1, sizeof(int)))
        return qi_qdqx_nomem(x->err);
      QI_TRY(tensor_ref(x, &f, &id));
      (is_in ? x->node_in : x->node_out)[(*cnt)++] = id;
      if (is_in) {
        n->nin++;
        if (id >= 0) x->tensors[id].consumers++;
      } else {
        n->nout++;
      }
    } else if (f.num == 3) {
      n->name = qdq_field_str(x, &f);
      if (map_put(&x->used, n->name, 0)) return qi_qdqx_nomem(x->err);
    } else if (f.num == 4) {
      op = qdq_field_str(x, &f);
    } else if (f.num == 7) {
      domain = qdq_field_str(x, &f);
    } else if (f.num == 5) {
      QI_TRY(scan_attr(x, n, &f));
    }
  }
  int std_domain = domain.n == 0 || qdq_str_is(domain, "ai.onnx");
  n->param_from = std_domain ? param_from(op) : INT_MAX;
  if (std_domain)
    n->op = qdq_str_is(op, "Conv")       ? OP_CONV
            : qdq_str_is(op, "Gemm")     ? OP_GEMM
            : qdq_str_is(op, "MatMul")   ? OP_MATMUL
            : qdq_str_is(op, "Constant") ? OP_CONSTANT
                                         : OP_OTHER;
  for (int k = 0; k < n->nout; k++) {
    int t = x->node_out[n->out_first + k];
    if (t < 0) continue;
    qdq_tensor *te = &x->tensors[t];
    if (te->kind != T_UNKNOWN)
      return qi_fail(x->err, QI_ERR_PARSE,
                     "qdq export: tensor '%.*s' is output of node %d (byte "
                     "%zu) but already defined by another node, initializer "
                     "or graph input",
                     QDQ_STR_ARGS(te->name), i, n->f.at);
    te->kind = n->op == OP_CONSTANT ? T_CONST_NODE : T_NODE_OUT;
    te->src = i;
  }
  return QI_OK;
}

static qi_status scan_init(qdq_model *x, int j) {
  qdq_item *e = &x->inits[j];
  qi_pb r = {x->buf, e->f.off, e->f.off + e->f.len};
  qi_pb_field f, name = {0};
  int external = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num == 8) name = f;
    if (f.num == 13 || (f.num == 14 && f.u == 1)) external = 1;
  }
  qdq_str s = qdq_field_str(x, &name);
  if (!name.num || name.wire != QI_PB_LEN || !s.n)
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: initializer at byte %zu has no name", e->f.at);
  if (external)
    return qi_fail(x->err, QI_ERR_UNSUPPORTED,
                   "qdq export: initializer '%.*s' keeps its data in an "
                   "external file; the export needs a self-contained model",
                   QDQ_STR_ARGS(s));
  if (qi_qdqx_map_find(&x->tmap, s) >= 0)
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: initializer '%.*s' (byte %zu) is defined twice",
                   QDQ_STR_ARGS(s), e->f.at);
  qi_pb_field nf = name;
  QI_TRY(tensor_ref(x, &nf, &e->tensor));
  x->tensors[e->tensor].kind = T_INIT;
  x->tensors[e->tensor].src = j;
  return QI_OK;
}

/* Graph input (is_input) or output: name, and an input's element type. */
static qi_status scan_value_info(qdq_model *x, qdq_item *e, int is_input,
                                 int j) {
  qi_pb_field name, type, tt, et = {0};
  QI_TRY(find_len(x, &e->f, 1, "ValueInfoProto.name", &name));
  if (!name.num || !name.len)
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: graph input or output at byte %zu has no name",
                   e->f.at);
  QI_TRY(find_len(x, &e->f, 2, "ValueInfoProto.type", &type));
  if (type.num) QI_TRY(find_len(x, &type, 1, "TypeProto.tensor_type", &tt));
  if (type.num && tt.num) {
    qi_pb r = {x->buf, tt.off, tt.off + tt.len};
    qi_pb_field f;
    for (;;) {
      QI_TRY(qi_pb_next(&r, &f, x->err));
      if (!f.num) break;
      if (f.num == 1 && f.wire == QI_PB_VARINT) et = f;
    }
  }
  int known = qi_qdqx_map_find(&x->tmap, qdq_field_str(x, &name));
  QI_TRY(tensor_ref(x, &name, &e->tensor));
  qdq_tensor *t = &x->tensors[e->tensor];
  if (!is_input) {
    t->is_output = 1;
    return QI_OK;
  }
  if (known >= 0 && t->kind == T_INIT && t->input_idx < 0) {
    t->input_idx = j; /* an IR < 4 model lists initializers as inputs */
  } else if (known >= 0) {
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: graph input '%.*s' (byte %zu) is listed twice",
                   QDQ_STR_ARGS(t->name), e->f.at);
  } else {
    t->kind = T_INPUT;
    t->src = j;
    t->elem_type = (int64_t)(int32_t)et.u;
  }
  return QI_OK;
}

static qi_status read_opset(qdq_model *x, const qi_pb_field *of) {
  qi_pb r = {x->buf, of->off, of->off + of->len};
  qi_pb_field f;
  qdq_str domain = {"", 0};
  int64_t version = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num == 1 && f.wire == QI_PB_LEN) domain = qdq_field_str(x, &f);
    if (f.num == 2 && f.wire == QI_PB_VARINT) version = (int64_t)f.u;
  }
  if (domain.n == 0 || qdq_str_is(domain, "ai.onnx")) x->opset = version;
  return QI_OK;
}

/* Splits the graph into nodes, initializers, inputs and outputs, then
 * reads them in that dependency order (initializers before inputs that
 * may repeat them, nodes before outputs). */
static qi_status scan_model(qdq_model *x, size_t len) {
  qi_pb r = qi_pb_open(x->buf, len);
  qi_pb_field f;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num == 7) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ModelProto.graph", x->err));
      if (x->graph.num)
        return qi_fail(x->err, QI_ERR_PARSE,
                       "qdq export: a second graph at byte %zu", f.at);
      x->graph = f;
    } else if (f.num == 8) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "ModelProto.opset_import", x->err));
      QI_TRY(read_opset(x, &f));
    }
  }
  if (!x->graph.num)
    return qi_fail(x->err, QI_ERR_PARSE,
                   "qdq export: no graph (ModelProto field 7) in %zu bytes: "
                   "not an ONNX model?",
                   len);
  int counts[16] = {0};
  qi_pb g = {x->buf, x->graph.off, x->graph.off + x->graph.len};
  for (;;) {
    QI_TRY(qi_pb_next(&g, &f, x->err));
    if (!f.num) break;
    if (f.num == 1 || f.num == 5 || f.num == 11 || f.num == 12) {
      QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "GraphProto field", x->err));
      if (++counts[f.num] >= QDQ_MAX_ITEMS) return qi_qdqx_nomem(x->err);
    }
  }
  int nout = 0;
  qdq_item *outputs = calloc((size_t)counts[12] + 1, sizeof *outputs);
  x->nodes = calloc((size_t)counts[1] + 1, sizeof *x->nodes);
  x->inits = calloc((size_t)counts[5] + 1, sizeof *x->inits);
  x->inputs = calloc((size_t)counts[11] + 1, sizeof *x->inputs);
  qi_status st = QI_OK;
  if (!outputs || !x->nodes || !x->inits || !x->inputs)
    st = qi_qdqx_nomem(x->err);
  g.pos = x->graph.off;
  while (st == QI_OK && (st = qi_pb_next(&g, &f, x->err)) == QI_OK && f.num) {
    if (f.num == 1) x->nodes[x->nnodes++].f = f;
    if (f.num == 5) x->inits[x->ninits++].f = f;
    if (f.num == 11) x->inputs[x->ninputs++].f = f;
    if (f.num == 12) outputs[nout++].f = f;
  }
  for (int j = 0; st == QI_OK && j < x->ninits; j++) st = scan_init(x, j);
  for (int j = 0; st == QI_OK && j < x->ninputs; j++)
    st = scan_value_info(x, &x->inputs[j], 1, j);
  for (int i = 0; st == QI_OK && i < x->nnodes; i++) st = scan_node(x, i);
  for (int j = 0; st == QI_OK && j < nout; j++)
    st = scan_value_info(x, &outputs[j], 0, j);
  free(outputs);
  return st;
}

void qi_qdqx_model_free(qdq_model *x) {
  for (int k = 0; k < x->nweights; k++) {
    free(x->weights[k].q);
    free(x->weights[k].scales);
  }
  free(x->weights);
  map_free(&x->tmap);
  map_free(&x->used);
  for (int k = 0; k < x->nowned; k++) free(x->owned[k]);
  free(x->owned);
  free(x->acts);
  free(x->tensors);
  free(x->node_in);
  free(x->node_wt);
  free(x->node_out);
  free(x->nodes);
  free(x->inits);
  free(x->inputs);
}

qi_status qi_qdqx_scan(qdq_model *x, const uint8_t *onnx, size_t len,
                       qi_error *err) {
  memset(x, 0, sizeof *x);
  x->err = err;
  if (!onnx)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qdq export: no ONNX bytes");
  x->buf = onnx;
  return scan_model(x, len);
}
