/*
 * QDQ ONNX export (calib/qdq_export.h). After the scan (qdq_scan.c): plan
 * (which activations get Q/DQ, which weights become int8, which FP32
 * constants nothing reads any more), then emit: every field copied through
 * as read, except the nodes whose inputs move and the constants that go;
 * new nodes go right after their input's producer (weight DQ nodes and the
 * Q/DQ of graph inputs first), so a sorted graph stays sorted.
 */
#include "calib/qdq_export.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/qdq_internal.h"
#include "calib/qparams.h"
#include "core/error.h"
#include "onnx/onnx.h"
#include "onnx/pb_write.h"

/* First opset with QuantizeLinear, and with per-axis DequantizeLinear. */
#define OPSET_QDQ 10
#define OPSET_PER_AXIS 13

/* ---- plan ----------------------------------------------------------- */

static const char *range_problem(const qdq_tensor *t) {
  if (t->kind == T_INIT || t->kind == T_CONST_NODE)
    return "is a constant (initializer or Constant output), not an "
           "activation";
  if (t->kind == T_UNKNOWN)
    return "is neither a graph input nor the output of a node";
  if (t->kind == T_INPUT && t->elem_type != 0 && t->elem_type != ONNX_FLOAT)
    return "is a graph input whose type is not float32";
  return NULL;
}

static qi_status plan_ranges(qdq_model *x) {
  x->acts = calloc((size_t)x->nranges + 1, sizeof *x->acts);
  if (!x->acts) return qi_qdqx_nomem(x->err);
  for (int k = 0; k < x->nranges; k++) {
    const qi_qdq_range *r = &x->ranges[k];
    int id = qi_qdqx_map_find(&x->tmap, qdq_cstr(r->tensor_name));
    if (id < 0)
      return qi_fail(x->err, QI_ERR_INVALID_ARG,
                     "qdq export: range %d names tensor '%.200s', which is "
                     "not in the model's main graph",
                     k, r->tensor_name);
    qdq_tensor *t = &x->tensors[id];
    const char *why = range_problem(t);
    if (why)
      return qi_fail(x->err, QI_ERR_INVALID_ARG,
                     "qdq export: range %d: tensor '%.200s' %s", k,
                     r->tensor_name, why);
    if (t->range >= 0)
      return qi_fail(x->err, QI_ERR_INVALID_ARG,
                     "qdq export: tensor '%.200s' has two ranges (%d and %d)",
                     r->tensor_name, t->range, k);
    t->range = k;
    qdq_act *a = &x->acts[k];
    if (!(a->scale_name = qi_qdqx_fresh_name(x, t->name, "_scale")) ||
        !(a->zp_name = qi_qdqx_fresh_name(x, t->name, "_zero_point")) ||
        !(a->q_name =
              qi_qdqx_fresh_name(x, t->name, "_QuantizeLinear_Output")) ||
        !(a->dq_name =
              qi_qdqx_fresh_name(x, t->name, "_DequantizeLinear_Output")) ||
        !(a->q_node = qi_qdqx_fresh_name(x, t->name, "_QuantizeLinear")) ||
        !(a->dq_node = qi_qdqx_fresh_name(x, t->name, "_DequantizeLinear")))
      return qi_qdqx_nomem(x->err);
  }
  return QI_OK;
}

/* int8 codes and scales of FP32 weight t along `axis` (0: w[c, ...];
 * 1: w[k, c] of a [K, N] matrix), in the initializer's own layout. */
static qi_status quantize_weight(qdq_model *x, qdq_weight *w,
                                 const qi_tensor *t) {
  int64_t numel = qi_shape_numel(&t->shape);
  int64_t ch = t->shape.d[w->axis], size = numel / ch;
  qi_weight_layout lay = qi_weight_layout_rows(ch, size);
  if (w->axis == 1) lay = (qi_weight_layout){ch, size, 1, ch};
  const float *v = t->data;
  w->scales = malloc((size_t)ch * sizeof *w->scales);
  w->q = malloc((size_t)numel);
  int8_t *cm = w->axis == 1 ? malloc((size_t)numel) : w->q;
  if (!w->scales || !w->q || !cm) {
    if (cm != w->q) free(cm);
    return qi_qdqx_nomem(x->err);
  }
  /* Scales of our scheme (and the finiteness check naming the element). */
  qi_status st =
      qi_int8_weight_scales(v, (size_t)numel, &lay, w->scales, x->err);
  if (st == QI_OK && (!x->per_channel || x->weight_qmax != 127)) {
    /* The same rule, max |w| / qmax, over the tensor or with qmax 63. */
    float all = 0.0f;
    for (int64_t c = 0; c < ch; c++) {
      float m = 0.0f;
      for (int64_t i = 0; i < size; i++)
        m = fmaxf(m, fabsf(v[c * lay.channel_stride + i * lay.element_stride]));
      w->scales[c] = m;
      all = fmaxf(all, m);
    }
    for (int64_t c = 0; c < ch; c++) {
      float s = (x->per_channel ? w->scales[c] : all) / (float)x->weight_qmax;
      w->scales[c] = s >= FLT_MIN ? s : QI_DEGENERATE_SCALE;
    }
  }
  if (st == QI_OK)
    st = qi_quantize_weights(v, (size_t)numel, &lay, w->scales, cm, x->err);
  if (w->axis == 1 && st == QI_OK) /* channel-major [N, K] back to [K, N] */
    for (int64_t c = 0; c < ch; c++)
      for (int64_t k = 0; k < size; k++) w->q[k * ch + c] = cm[c * size + k];
  if (cm != w->q) free(cm);
  w->count = (size_t)numel;
  w->nscales = x->per_channel ? (int)ch : 1;
  w->rank = t->shape.rank;
  memcpy(w->dims, t->shape.d, sizeof w->dims);
  return st;
}

/* The weight of node i's input 1, or -1 when it stays FP32. */
static qi_status plan_weight(qdq_model *x, int i, int *wi) {
  const qdq_node *n = &x->nodes[i];
  *wi = -1;
  if (n->nin < 2 ||
      (n->op != OP_CONV && n->op != OP_GEMM && n->op != OP_MATMUL))
    return QI_OK;
  int tid = x->node_in[n->in_first + 1];
  if (tid < 0) return QI_OK;
  const qdq_tensor *te = &x->tensors[tid];
  const qi_pb_field *tf = NULL;
  if (te->kind == T_INIT) tf = &x->inits[te->src].f;
  if (te->kind == T_CONST_NODE && x->nodes[te->src].has_value)
    tf = &x->nodes[te->src].value;
  if (!tf) return QI_OK;
  int axis = n->op == OP_CONV || (n->op == OP_GEMM && n->trans_b) ? 0 : 1;
  for (int k = 0; k < x->nweights; k++)
    if (x->weights[k].tensor == tid && x->weights[k].axis == axis)
      return *wi = k, QI_OK;
  qi_tensor t = {0};
  qi_status st =
      qi_onnx_parse_tensor(x->buf + tf->off, tf->len, NULL, &t, x->err);
  int rank_ok = n->op == OP_CONV ? t.shape.rank >= 3 : t.shape.rank == 2;
  if (st == QI_OK && t.dtype == QI_FLOAT32 && rank_ok &&
      qi_shape_numel(&t.shape) > 0) {
    if (qi_qdqx_grow((void **)&x->weights, &x->cap_weights, x->nweights + 1,
                     sizeof *x->weights))
      st = qi_qdqx_nomem(x->err);
    qdq_weight *w = st == QI_OK ? &x->weights[x->nweights] : NULL;
    if (w) {
      memset(w, 0, sizeof *w);
      w->tensor = tid;
      w->axis = axis;
      *wi = x->nweights++;
      st = quantize_weight(x, w, &t);
    }
    if (st == QI_OK &&
        (!(w->q_name = qi_qdqx_fresh_name(x, te->name, "_quantized")) ||
         !(w->scale_name = qi_qdqx_fresh_name(x, te->name, "_scale")) ||
         !(w->zp_name = qi_qdqx_fresh_name(x, te->name, "_zero_point")) ||
         !(w->dq_name =
               qi_qdqx_fresh_name(x, te->name, "_DequantizeLinear_Output")) ||
         !(w->node_name =
               qi_qdqx_fresh_name(x, te->name, "_DequantizeLinear"))))
      st = qi_qdqx_nomem(x->err);
  }
  free(t.name);
  free(t.data);
  if (st != QI_OK)
    qi_error_prefix(x->err, "qdq export: weight '%.*s' (byte %zu) of node %d",
                    QDQ_STR_ARGS(te->name), tf->at, i);
  return st;
}

static qi_status plan_weights(qdq_model *x) {
  x->node_wt = malloc(((size_t)x->nin_total + 1) * sizeof *x->node_wt);
  if (!x->node_wt) return qi_qdqx_nomem(x->err);
  for (int k = 0; k < x->nin_total; k++) x->node_wt[k] = -1;
  for (int i = 0; i < x->nnodes; i++) {
    int wi;
    QI_TRY(plan_weight(x, i, &wi));
    if (wi < 0) continue;
    x->node_wt[x->nodes[i].in_first + 1] = wi;
    x->tensors[x->weights[wi].tensor].to_weight++;
  }
  /* An FP32 weight nothing else reads goes (not when a subgraph might read
   * it by outer-scope name: those references are not counted). */
  for (int k = 0; k < x->nweights && !x->has_subgraph; k++) {
    qdq_tensor *t = &x->tensors[x->weights[k].tensor];
    if (t->consumers != t->to_weight || t->is_output || t->src < 0) continue;
    if (t->kind == T_INIT && !x->inits[t->src].drop) {
      x->inits[t->src].drop = 1;
      if (t->input_idx >= 0) x->inputs[t->input_idx].drop = 1;
      x->dropped++;
    } else if (t->kind == T_CONST_NODE && !x->nodes[t->src].drop) {
      x->nodes[t->src].drop = 1;
      x->dropped++;
    }
  }
  return QI_OK;
}

/* ---- emit ----------------------------------------------------------- */

static void put_node(qi_pbw *g, const char *op, const char *name,
                     const char *in0, const char *in1, const char *in2,
                     const char *out, int axis) {
  qi_pbw n = {0};
  qi_pbw_string(&n, 1, in0);
  qi_pbw_string(&n, 1, in1);
  qi_pbw_string(&n, 1, in2);
  qi_pbw_string(&n, 2, out);
  qi_pbw_string(&n, 3, name);
  qi_pbw_string(&n, 4, op);
  if (axis >= 0) {
    qi_pbw a = {0};
    qi_pbw_string(&a, 1, "axis");
    qi_pbw_varint(&a, 3, (uint64_t)axis);
    qi_pbw_varint(&a, 20, ONNX_ATTR_INT);
    qi_pbw_message(&n, 5, &a);
    qi_pbw_free(&a);
  }
  qi_pbw_message(g, 1, &n);
  qi_pbw_free(&n);
}

static size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >>= 7) n++;
  return n;
}

/* An initializer TensorProto, data as raw_data (written once, not copied
 * through a nested writer). */
static void put_tensor(qi_pbw *g, const char *name, int dtype, int rank,
                       const int64_t *dims, const void *data, size_t nbytes) {
  qi_pbw h = {0};
  for (int k = 0; k < rank; k++) qi_pbw_int64(&h, 1, dims[k]);
  qi_pbw_varint(&h, 2, (uint64_t)dtype);
  qi_pbw_string(&h, 8, name);
  if (h.failed) g->failed = 1;
  qi_pbw_tag(g, 5, QI_PB_LEN);
  qi_pbw_raw_varint(g, h.len + 1 + varint_size(nbytes) + nbytes);
  qi_pbw_raw(g, h.buf, h.len);
  qi_pbw_bytes(g, 9, data, nbytes);
  qi_pbw_free(&h);
}

static void put_act_qdq(const qdq_model *x, qi_pbw *g, int tid) {
  const qdq_act *a = &x->acts[x->tensors[tid].range];
  char *name = strndup(x->tensors[tid].name.p, x->tensors[tid].name.n);
  if (!name) {
    g->failed = 1;
    return;
  }
  put_node(g, "QuantizeLinear", a->q_node, name, a->scale_name, a->zp_name,
           a->q_name, -1);
  put_node(g, "DequantizeLinear", a->dq_node, a->q_name, a->scale_name,
           a->zp_name, a->dq_name, -1);
  free(name);
}

/* Weight DQ nodes and the Q/DQ of graph inputs: before every other node. */
static void put_prelude(const qdq_model *x, qi_pbw *g) {
  for (int k = 0; k < x->nweights; k++) {
    const qdq_weight *w = &x->weights[k];
    put_node(g, "DequantizeLinear", w->node_name, w->q_name, w->scale_name,
             w->zp_name, w->dq_name, x->per_channel ? w->axis : -1);
  }
  for (int t = 0; t < x->ntensors; t++)
    if (x->tensors[t].kind == T_INPUT && x->tensors[t].range >= 0)
      put_act_qdq(x, g, t);
}

/* Node input k of node i as it is to be read: NULL when unchanged. */
static const char *input_rename(const qdq_model *x, int i, int k) {
  const qdq_node *n = &x->nodes[i];
  if (k >= n->nin) return NULL;
  int wi = x->node_wt[n->in_first + k], t = x->node_in[n->in_first + k];
  if (wi >= 0) return x->weights[wi].dq_name;
  if (t >= 0 && x->tensors[t].range >= 0 && k < n->param_from)
    return x->acts[x->tensors[t].range].dq_name;
  return NULL;
}

static qi_status put_graph_node(const qdq_model *x, qi_pbw *g, int i) {
  const qdq_node *n = &x->nodes[i];
  int change = 0;
  for (int k = 0; k < n->nin && !change; k++) change = !!input_rename(x, i, k);
  if (!change) {
    qi_pbw_field(g, x->buf, &n->f);
  } else {
    qi_pbw nw = {0};
    qi_pb r = {x->buf, n->f.off, n->f.off + n->f.len};
    qi_pb_field f;
    int k = 0;
    for (;;) {
      qi_status st = qi_pb_next(&r, &f, x->err);
      if (st != QI_OK) return qi_pbw_free(&nw), st;
      if (!f.num) break;
      const char *to = f.num == 1 ? input_rename(x, i, k++) : NULL;
      if (to)
        qi_pbw_string(&nw, 1, to);
      else
        qi_pbw_field(&nw, x->buf, &f);
    }
    qi_pbw_message(g, 1, &nw);
    qi_pbw_free(&nw);
  }
  for (int k = 0; k < n->nout; k++) {
    int t = x->node_out[n->out_first + k];
    if (t >= 0 && x->tensors[t].range >= 0) put_act_qdq(x, g, t);
  }
  return QI_OK;
}

static void put_new_initializers(const qdq_model *x, qi_pbw *g) {
  for (int k = 0; k < x->nranges; k++) {
    const qdq_act *a = &x->acts[k];
    uint8_t zp = (uint8_t)x->ranges[k].zero_point;
    put_tensor(g, a->scale_name, ONNX_FLOAT, 0, NULL, &x->ranges[k].scale, 4);
    put_tensor(g, a->zp_name, ONNX_UINT8, 0, NULL, &zp, 1);
  }
  for (int k = 0; k < x->nweights; k++) {
    const qdq_weight *w = &x->weights[k];
    int64_t nsc = w->nscales;
    int r = x->per_channel ? 1 : 0;
    int8_t *zeros = calloc((size_t)nsc, 1);
    if (!zeros) {
      g->failed = 1;
      return;
    }
    put_tensor(g, w->q_name, ONNX_INT8, w->rank, w->dims, w->q, w->count);
    put_tensor(g, w->scale_name, ONNX_FLOAT, r, &nsc, w->scales,
               (size_t)nsc * sizeof(float));
    put_tensor(g, w->zp_name, ONNX_INT8, r, &nsc, zeros, (size_t)nsc);
    free(zeros);
  }
}

static qi_status emit_graph(const qdq_model *x, qi_pbw *g) {
  qi_pb r = {x->buf, x->graph.off, x->graph.off + x->graph.len};
  qi_pb_field f;
  int ni = 0, ii = 0, in = 0, prelude = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, x->err));
    if (!f.num) break;
    if (f.num == 1) {
      if (!prelude++) put_prelude(x, g);
      int i = ni++;
      if (!x->nodes[i].drop) QI_TRY(put_graph_node(x, g, i));
    } else if (f.num == 5) {
      if (!x->inits[ii++].drop) qi_pbw_field(g, x->buf, &f);
    } else if (f.num == 11) {
      if (!x->inputs[in++].drop) qi_pbw_field(g, x->buf, &f);
    } else {
      qi_pbw_field(g, x->buf, &f);
    }
  }
  if (!prelude) put_prelude(x, g);
  put_new_initializers(x, g);
  return qi_pbw_status(g, "the QDQ graph", x->err);
}

static qi_status emit_model(const qdq_model *x, size_t len, qi_pbw *m) {
  qi_pbw g = {0};
  qi_status st = emit_graph(x, &g);
  qi_pb r = qi_pb_open(x->buf, len);
  qi_pb_field f;
  while (st == QI_OK && (st = qi_pb_next(&r, &f, x->err)) == QI_OK && f.num) {
    if (f.num == 7)
      qi_pbw_message(m, 7, &g);
    else
      qi_pbw_field(m, x->buf, &f);
  }
  qi_pbw_free(&g);
  if (st == QI_OK) st = qi_pbw_status(m, "the QDQ model", x->err);
  return st;
}

/* ---- entry points --------------------------------------------------- */

static qi_status check_ranges(const qi_qdq_range *ranges, int n,
                              qi_error *err) {
  if (n < 0 || (n > 0 && !ranges))
    return qi_fail(err, QI_ERR_INVALID_ARG, "qdq export: %d ranges at %p", n,
                   (const void *)ranges);
  for (int k = 0; k < n; k++) {
    const qi_qdq_range *r = &ranges[k];
    if (!r->tensor_name || !r->tensor_name[0])
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "qdq export: range %d has no tensor name", k);
    if (!(isfinite(r->scale) && r->scale >= FLT_MIN))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "qdq export: tensor '%.200s' has scale %g: a uint8 "
                     "grid needs a finite scale >= FLT_MIN",
                     r->tensor_name, (double)r->scale);
    if (r->zero_point < 0 || r->zero_point > 255)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "qdq export: tensor '%.200s' has zero point %d, "
                     "outside 0..255",
                     r->tensor_name, (int)r->zero_point);
  }
  return QI_OK;
}

static qi_status write_file(const char *path, const uint8_t *b, size_t n,
                            qi_error *err) {
  FILE *fp = fopen(path, "wb");
  if (!fp)
    return qi_fail(err, QI_ERR_IO, "qdq export: cannot create '%s': %s", path,
                   strerror(errno));
  size_t w = n ? fwrite(b, 1, n, fp) : 0;
  int e = errno;
  if (fclose(fp) != 0 && w == n) e = errno, w = 0;
  if (w != n)
    return qi_fail(err, QI_ERR_IO, "qdq export: writing '%s' failed: %s", path,
                   strerror(e));
  return QI_OK;
}

qi_status qi_qdq_export_ex(const uint8_t *onnx, size_t len,
                           const qi_qdq_range *ranges, int nranges,
                           const qi_qdq_export_options *opts, const char *path,
                           uint8_t **out, size_t *out_len,
                           qi_qdq_export_info *info, qi_error *err) {
  if (out) *out = NULL;
  if (out_len) *out_len = 0;
  if (!path && (!out || !out_len))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qdq export: neither a path nor an output buffer");
  QI_TRY(check_ranges(ranges, nranges, err));
  qdq_model x;
  qi_status st = qi_qdqx_scan(&x, onnx, len, err);
  x.ranges = ranges;
  x.nranges = nranges;
  if (st == QI_OK && x.opset < OPSET_QDQ)
    st = qi_fail(err, QI_ERR_UNSUPPORTED,
                 "qdq export: the model's default-domain opset is %lld; "
                 "QuantizeLinear needs opset >= %d (convert the model first)",
                 (long long)x.opset, OPSET_QDQ);
  x.per_channel = x.opset >= OPSET_PER_AXIS;
  x.weight_qmax = opts && opts->reduce_range ? 63 : 127;
  if (st == QI_OK) st = plan_ranges(&x);
  if (st == QI_OK) st = plan_weights(&x);
  qi_pbw m = {0};
  if (st == QI_OK) st = emit_model(&x, len, &m);
  if (st == QI_OK && info) {
    info->opset = x.opset;
    info->per_channel = x.per_channel;
    info->activations = nranges;
    info->weights = x.nweights;
    info->dropped_constants = x.dropped;
  }
  qi_qdqx_model_free(&x);
  size_t n = 0;
  uint8_t *bytes = qi_pbw_take(&m, &n);
  if (st == QI_OK && path) st = write_file(path, bytes, n, err);
  if (st == QI_OK && out) {
    *out = bytes;
    *out_len = n;
    bytes = NULL;
  }
  free(bytes);
  return st;
}

qi_status qi_qdq_export(const uint8_t *onnx, size_t len,
                        const qi_qdq_range *ranges, int nranges,
                        const char *path, qi_error *err) {
  if (!path)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qdq export: path is NULL");
  return qi_qdq_export_ex(onnx, len, ranges, nranges, NULL, path, NULL, NULL,
                          NULL, err);
}

qi_status qi_qdq_select_ranges(const uint8_t *onnx, size_t len,
                               qi_qdq_range *ranges, int *nranges,
                               qi_error *err) {
  if (!nranges)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qdq export: nranges is NULL");
  QI_TRY(check_ranges(ranges, *nranges, err));
  qdq_model x;
  qi_status st = qi_qdqx_scan(&x, onnx, len, err);
  int kept = 0;
  for (int k = 0; st == QI_OK && k < *nranges; k++) {
    int id = qi_qdqx_map_find(&x.tmap, qdq_cstr(ranges[k].tensor_name));
    if (id < 0 || range_problem(&x.tensors[id]) || x.tensors[id].range >= 0)
      continue;
    x.tensors[id].range = k;
    ranges[kept++] = ranges[k];
  }
  if (st == QI_OK) *nranges = kept;
  qi_qdqx_model_free(&x);
  return st;
}
