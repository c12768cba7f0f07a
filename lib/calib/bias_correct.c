/*
 * Bias correction (see bias_correct.h): per-channel input means streamed
 * during calibration, and the corrected FP32 biases written before the INT8
 * lowering (lib/quant/lower_conv.c), whose weight quantization this file
 * repeats: scales from a QDQ import when the weights lie on their grid,
 * else qi_int8_weight_scales, codes from qi_quantize_weights, Gemm alpha
 * folded into the weights first.
 *
 * Approximations, all small next to the error corrected:
 *  - zero padding: a Conv's border outputs read 0, not E[x], for the
 *    padded taps, so delta over-corrects them by the padded taps' share; the
 *    interior (most outputs of any layer wider than its kernel) is exact in
 *    expectation. Weighting each tap by the share of outputs where it reads
 *    the input (the plane average) changed SqueezeNet's output SQNR by
 *    0.02 dB, so the plain formula stays.
 *  - E[x] is the FP32 model's mean; the INT8 model's inputs also carry the
 *    remaining error of the layers before.
 *  - MatMuls with rank-4 inputs (channels-last regions,
 *    lib/quant/lower_chlast.c, whose layer-scale fold changes the weights)
 *    are not corrected.
 *  - the lowering may raise a channel's weight scale so that its bias fits
 *    int32 (dead channels with weights ~1e-9 of their bias); those codes
 *    differ from the ones used here, but such channels' weights, and so
 *    their delta, are negligible either way.
 *  - a node corrected here that the lowering still keeps in FP32 (its int32
 *    accumulator could overflow, or its fused clamp has no uint8 form) runs
 *    with the corrected bias; the checks below rule out the common causes.
 */
#include "calib/bias_correct.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct mean_entry {
  char *name;       /* tensor name, owned */
  int axis;         /* channel axis */
  int64_t channels; /* extent along it */
  double *sum;      /* per channel */
  int64_t *count;   /* finite values added per channel */
} mean_entry;

struct qi_bias_means {
  int ntensors;    /* of the graph given to create */
  int *entry_of;   /* per tensor: index into e, or -1 */
  int nentries;
  mean_entry *e;
};

/* ---- which nodes -------------------------------------------------------- */

typedef enum bc_kind { BC_CONV, BC_GEMM, BC_MATMUL } bc_kind;

/* One weighted node as the lowering will read it. */
typedef struct bc_node {
  bc_kind kind;
  int x, w;            /* activation input, FP32 constant weights */
  int bias;            /* FP32 constant bias, -1 if none (or beta == 0) */
  int bias_scalar;     /* 1: one bias value for every channel */
  int axis;            /* channel axis of x */
  int64_t in_channels; /* x's extent along it */
  qi_weight_layout lay;
  int qdq_axis;
  float alpha, beta;
  int64_t groups, spatial;
} bc_node;

static int is_onnx_op(const qi_node *n, const char *op) {
  return (!n->domain[0] || strcmp(n->domain, "ai.onnx") == 0) &&
         strcmp(n->op_type, op) == 0;
}

static int act_f32(const qi_graph *g, int t) {
  if (t < 0 || t >= g->ntensors) return 0;
  const qi_tensor *x = &g->tensors[t];
  return x->kind == QI_TK_ACT && x->dtype == QI_FLOAT32 &&
         qi_shape_numel(&x->shape) > 0;
}

/* Float32 constant holding exactly `numel` values, else NULL. */
static const float *const_f32(const qi_graph *g, int t, int64_t numel) {
  if (t < 0 || t >= g->ntensors || numel < 1) return NULL;
  const qi_tensor *x = &g->tensors[t];
  if (x->kind != QI_TK_CONST || x->dtype != QI_FLOAT32 || !x->data ||
      qi_shape_numel(&x->shape) != numel ||
      x->nbytes != (size_t)numel * sizeof(float))
    return NULL;
  return x->data;
}

/* A Gemm C or MatMul bias the lowering accepts: n values over the last
 * axis, or one value. 0 for any other shape. */
static int column_bias_ok(const qi_graph *g, int t, int64_t n, int *scalar) {
  const qi_shape *s = &g->tensors[t].shape;
  int64_t numel = qi_shape_numel(s);
  if (!const_f32(g, t, numel)) return 0;
  int rows_one = 1;
  for (int d = 0; d + 1 < s->rank; d++) rows_one &= s->d[d] == 1;
  *scalar = numel == 1;
  return numel == 1 || (rows_one && numel == n);
}

static int plan_conv(const qi_graph *g, const qi_node *n, bc_node *p) {
  if (n->nin < 2 || n->nin > 4) return 0;
  p->x = n->in[0];
  p->w = n->in[1];
  p->bias = n->nin > 2 ? n->in[2] : -1;
  if (!act_f32(g, p->x) || p->w < 0) return 0;
  const qi_shape *xs = &g->tensors[p->x].shape, *ws = &g->tensors[p->w].shape;
  if (xs->rank != 4 || ws->rank != 4) return 0;
  int64_t m = ws->d[0], cg = ws->d[1];
  p->groups = qi_attr_int(n, "group", 1);
  p->spatial = ws->d[2] * ws->d[3];
  if (p->groups < 1 || m < 1 || cg < 1 || p->spatial < 1 ||
      m % p->groups != 0 || cg * p->groups != xs->d[1] ||
      !const_f32(g, p->w, qi_shape_numel(ws)))
    return 0;
  if (p->bias >= 0 && !const_f32(g, p->bias, m)) return 0;
  p->kind = BC_CONV;
  p->axis = 1;
  p->in_channels = xs->d[1];
  p->lay = qi_weight_layout_rows(m, cg * p->spatial);
  p->qdq_axis = 0;
  return 1;
}

static int plan_gemm(const qi_graph *g, const qi_node *n, bc_node *p) {
  if (n->nin < 2 || n->nin > 3 || qi_attr_int(n, "transA", 0) != 0) return 0;
  p->x = n->in[0];
  p->w = n->in[1];
  p->alpha = qi_attr_float(n, "alpha", 1.0f);
  p->beta = qi_attr_float(n, "beta", 1.0f);
  int trans_b = qi_attr_int(n, "transB", 0) != 0;
  if (!act_f32(g, p->x) || p->w < 0 || !isfinite(p->alpha) ||
      !isfinite(p->beta))
    return 0;
  const qi_shape *as = &g->tensors[p->x].shape, *bs = &g->tensors[p->w].shape;
  if (as->rank != 2 || bs->rank != 2) return 0;
  int64_t k = as->d[1], nn = trans_b ? bs->d[0] : bs->d[1];
  if ((trans_b ? bs->d[1] : bs->d[0]) != k ||
      !const_f32(g, p->w, qi_shape_numel(bs)))
    return 0;
  p->bias = n->nin > 2 && p->beta != 0.0f ? n->in[2] : -1;
  if (p->bias >= 0 && !column_bias_ok(g, p->bias, nn, &p->bias_scalar))
    return 0;
  p->kind = BC_GEMM;
  p->axis = 1;
  p->in_channels = k;
  p->lay = trans_b ? qi_weight_layout_rows(nn, k)
                   : (qi_weight_layout){nn, k, 1, nn};
  p->qdq_axis = trans_b ? 0 : 1;
  return 1;
}

static int plan_matmul(const qi_graph *g, const qi_node *n, bc_node *p) {
  if (n->nin < 2 || n->nin > 3) return 0;
  p->x = n->in[0];
  p->w = n->in[1];
  if (!act_f32(g, p->x) || p->w < 0) return 0;
  const qi_shape *as = &g->tensors[p->x].shape, *bs = &g->tensors[p->w].shape;
  if (as->rank < 2 || as->rank == 4 || bs->rank != 2) return 0;
  int64_t k = bs->d[0], nn = bs->d[1];
  if (as->d[as->rank - 1] != k || !const_f32(g, p->w, qi_shape_numel(bs)))
    return 0;
  p->bias = n->nin > 2 ? n->in[2] : -1;
  if (p->bias >= 0 && !column_bias_ok(g, p->bias, nn, &p->bias_scalar))
    return 0;
  p->kind = BC_MATMUL;
  p->axis = as->rank - 1;
  p->in_channels = k;
  p->lay = (qi_weight_layout){nn, k, 1, nn};
  p->qdq_axis = 1;
  return 1;
}

/* Whether node ni is a weighted node of the kinds the lowering turns into
 * QiQConv / QiQMatMul, and how to read it. */
static int plan_node(const qi_graph *g, int ni, bc_node *p) {
  const qi_node *n = &g->nodes[ni];
  memset(p, 0, sizeof *p);
  p->alpha = p->beta = 1.0f;
  p->groups = p->spatial = 1;
  if (n->dead || n->nout != 1 || !act_f32(g, n->out[0])) return 0;
  if (is_onnx_op(n, "Conv")) return plan_conv(g, n, p);
  if (is_onnx_op(n, "Gemm")) return plan_gemm(g, n, p);
  if (is_onnx_op(n, "MatMul")) return plan_matmul(g, n, p);
  return 0;
}

/* ---- means -------------------------------------------------------------- */

void qi_bias_means_free(qi_bias_means *m) {
  if (!m) return;
  for (int i = 0; i < m->nentries; i++) {
    free(m->e[i].name);
    free(m->e[i].sum);
    free(m->e[i].count);
  }
  free(m->e);
  free(m->entry_of);
  free(m);
}

size_t qi_bias_means_bytes(const qi_bias_means *m) {
  if (!m) return 0;
  size_t total = sizeof *m + sizeof(int) * (size_t)m->ntensors +
                 sizeof(mean_entry) * (size_t)m->nentries;
  for (int i = 0; i < m->nentries; i++)
    total += (sizeof(double) + sizeof(int64_t)) * (size_t)m->e[i].channels;
  return total;
}

static qi_status track(qi_bias_means *m, const qi_graph *g, const bc_node *p,
                       qi_error *err) {
  if (m->entry_of[p->x] >= 0) return QI_OK; /* read by an earlier node */
  mean_entry *e = &m->e[m->nentries];
  e->name = strdup(g->tensors[p->x].name);
  e->axis = p->axis;
  e->channels = p->in_channels;
  e->sum = calloc((size_t)p->in_channels, sizeof *e->sum);
  e->count = calloc((size_t)p->in_channels, sizeof *e->count);
  m->nentries++; /* freed with m even when incomplete */
  if (!e->name || !e->sum || !e->count)
    return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
  m->entry_of[p->x] = m->nentries - 1;
  return QI_OK;
}

qi_status qi_bias_means_create(const qi_graph *g, qi_bias_means **out,
                               qi_error *err) {
  if (!g || !out)
    return qi_fail(err, QI_ERR_INVALID_ARG, "bias means: NULL argument");
  *out = NULL;
  qi_bias_means *m = calloc(1, sizeof *m);
  if (!m) return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
  m->ntensors = g->ntensors;
  m->entry_of = malloc(sizeof(int) * ((size_t)g->ntensors + 1));
  /* At most one entry per node. */
  m->e = calloc((size_t)g->nnodes + 1, sizeof *m->e);
  if (!m->entry_of || !m->e) {
    qi_bias_means_free(m);
    return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
  }
  for (int i = 0; i < g->ntensors; i++) m->entry_of[i] = -1;
  for (int i = 0; i < g->nnodes; i++) {
    bc_node p;
    if (!plan_node(g, i, &p)) continue;
    qi_status st = track(m, g, &p, err);
    if (st != QI_OK) {
      qi_bias_means_free(m);
      return st;
    }
  }
  *out = m;
  return QI_OK;
}

/* Adds n values at x (stride 1) to one channel. */
static void add_run(mean_entry *e, int64_t c, const float *x, int64_t n) {
  /* Eight partial sums: one chain of dependent adds costs an add's latency
   * per element (SqueezeNet's calibration measured ~20% slower with it). */
  double part[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int k = 0; k < 8; k++) part[k] += x[i + k];
  double s = ((part[0] + part[1]) + (part[2] + part[3])) +
             ((part[4] + part[5]) + (part[6] + part[7]));
  for (; i < n; i++) s += x[i];
  if (isfinite(s)) {
    e->sum[c] += s;
    e->count[c] += n;
    return;
  }
  for (int64_t i = 0; i < n; i++)
    if (isfinite(x[i])) {
      e->sum[c] += x[i];
      e->count[c]++;
    }
}

qi_status qi_bias_means_update(qi_bias_means *m, int t, const float *data,
                               int rank, const int64_t *shape, qi_error *err) {
  if (!m || t < 0 || t >= m->ntensors || m->entry_of[t] < 0) return QI_OK;
  mean_entry *e = &m->e[m->entry_of[t]];
  if (!data || !shape || rank <= e->axis || shape[e->axis] != e->channels)
    return qi_fail(err, QI_ERR_INTERNAL,
                   "bias correction: tensor '%s' arrived with %d dims, not "
                   "%lld channels on axis %d",
                   e->name, rank, (long long)e->channels, e->axis);
  int64_t outer = 1, inner = 1;
  for (int d = 0; d < e->axis; d++) outer *= shape[d];
  for (int d = e->axis + 1; d < rank; d++) inner *= shape[d];
  if (inner > 1) {
    /* NCHW: each channel's pixels are one contiguous run. */
    for (int64_t o = 0; o < outer; o++)
      for (int64_t c = 0; c < e->channels; c++)
        add_run(e, c, data + (o * e->channels + c) * inner, inner);
    return QI_OK;
  }
  /* Last axis: rows of `channels` values. */
  for (int64_t o = 0; o < outer; o++) {
    const float *row = data + o * e->channels;
    for (int64_t c = 0; c < e->channels; c++)
      if (isfinite(row[c])) {
        e->sum[c] += row[c];
        e->count[c]++;
      }
  }
  return QI_OK;
}

/* ---- delta -------------------------------------------------------------- */

qi_status qi_bias_delta(const qi_bias_delta_req *r, double *delta,
                        qi_error *err) {
  if (!r || !r->w || !r->in_means || !delta)
    return qi_fail(err, QI_ERR_INVALID_ARG, "bias delta: NULL argument");
  const qi_weight_layout *l = &r->lay;
  if (l->channels < 1 || l->channel_size < 1 || r->groups < 1 ||
      r->spatial < 1 || l->channels % r->groups != 0 ||
      l->channel_size % r->spatial != 0 ||
      (uint64_t)l->channels > SIZE_MAX / (uint64_t)l->channel_size)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "bias delta: %lld channels x %lld in %lld groups of "
                   "%lld-element input channels",
                   (long long)l->channels, (long long)l->channel_size,
                   (long long)r->groups, (long long)r->spatial);
  size_t count = (size_t)(l->channels * l->channel_size);
  float *scaled = NULL, *scales = malloc(sizeof(float) * (size_t)l->channels);
  int8_t *q = malloc(count);
  const float *w = r->w;
  qi_status st = QI_OK;
  if (!scales || !q) {
    st = qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
    goto done;
  }
  if (r->alpha != 1.0f) {
    /* The lowering quantizes the product rounded to float. */
    scaled = malloc(sizeof(float) * (r->w_count ? r->w_count : 1));
    if (!scaled) {
      st = qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
      goto done;
    }
    for (size_t i = 0; i < r->w_count; i++) scaled[i] = r->w[i] * r->alpha;
    w = scaled;
  }
  if (r->alpha != 1.0f || !qi_qdq_weight_scales(r->qdq, r->qdq_axis, w, l, scales))
    st = qi_int8_weight_scales(w, r->w_count, l, scales, err);
  if (st == QI_OK) st = qi_quantize_weights(w, r->w_count, l, scales, q, err);
  if (st != QI_OK) goto done;
  int64_t out_per_group = l->channels / r->groups;
  int64_t in_per_group = l->channel_size / r->spatial;
  for (int64_t c = 0; c < l->channels; c++) {
    const double *mean = r->in_means + (c / out_per_group) * in_per_group;
    const float *row = r->w + c * l->channel_stride;
    const int8_t *qc = q + c * l->channel_size;
    double s = scales[c], d = 0.0;
    for (int64_t i = 0; i < l->channel_size; i++) {
      double real = (double)r->alpha * row[i * l->element_stride];
      d += ((double)qc[i] * s - real) * mean[i / r->spatial];
    }
    delta[c] = d;
  }
done:
  free(scaled);
  free(scales);
  free(q);
  return st;
}

/* ---- rewriting the graph ------------------------------------------------ */

/* The uint8 grid the lowering needs on a node's input. */
static int input_quantized(const qi_quant *q) {
  return q->has && q->axis < 0 && isfinite(q->scale) && q->scale > 0.0f &&
         q->zero_point >= 0 && q->zero_point <= 255;
}

static const mean_entry *find_entry(const qi_bias_means *m, const char *name) {
  for (int i = 0; i < m->nentries; i++)
    if (strcmp(m->e[i].name, name) == 0) return &m->e[i];
  return NULL;
}

/* E[x_c] of the node's input, or NULL when some channel was never seen
 * (or the entry describes another axis). Caller frees. */
static double *input_means(const mean_entry *e, const bc_node *p) {
  if (!e || e->axis != p->axis || e->channels != p->in_channels) return NULL;
  double *mean = malloc(sizeof(double) * (size_t)e->channels);
  if (!mean) return NULL;
  for (int64_t c = 0; c < e->channels; c++) {
    if (e->count[c] == 0) {
      free(mean);
      return NULL;
    }
    mean[c] = e->sum[c] / (double)e->count[c];
  }
  return mean;
}

/* "<node>:bias_corrected", made unique within g. Caller frees. */
static char *bias_name(const qi_graph *g, const char *node) {
  size_t len = strlen(node) + 40;
  char *s = malloc(len);
  if (!s) return NULL;
  snprintf(s, len, "%s:bias_corrected", node);
  for (int k = 2; qi_graph_find_tensor(g, s) >= 0; k++)
    snprintf(s, len, "%s:bias_corrected%d", node, k);
  return s;
}

/* Writes b - delta as a new [channels] constant and points node ni at it.
 * *skip = 1 when the result is not finite (the node is left as it was). */
static qi_status set_bias(qi_graph *g, int ni, const bc_node *p,
                          const double *delta, int *skip, qi_error *err) {
  int64_t ch = p->lay.channels;
  const float *old = p->bias >= 0 ? g->tensors[p->bias].data : NULL;
  float *b = malloc(sizeof(float) * (size_t)ch);
  if (!b) return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
  *skip = 0;
  for (int64_t c = 0; c < ch; c++) {
    /* The lowering's bias is float(C * beta) (Gemm), b otherwise. */
    float base = old ? old[p->bias_scalar ? 0 : c] * p->beta : 0.0f;
    b[c] = (float)((double)base - delta[c]);
    if (!isfinite(b[c])) *skip = 1;
  }
  char *name = *skip ? NULL : bias_name(g, g->nodes[ni].name);
  int t = name ? qi_graph_add_tensor(g, name, QI_FLOAT32) : -1;
  free(name);
  if (*skip || t < 0) {
    free(b);
    return *skip ? QI_OK
                 : qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
  }
  qi_tensor *bt = &g->tensors[t];
  bt->shape.rank = 1;
  bt->shape.d[0] = ch;
  qi_tensor_set_const(bt, b, sizeof(float) * (size_t)ch);
  qi_node *n = &g->nodes[ni];
  if (n->nin < 3) {
    int *in = realloc(n->in, sizeof(int) * 3);
    if (!in)
      return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
    n->in = in;
    n->nin = 3;
  }
  n->in[2] = t;
  for (int a = 0; a < n->nattr; a++)
    if (p->kind == BC_GEMM && strcmp(n->attrs[a].name, "beta") == 0)
      n->attrs[a].f = 1.0f; /* beta was folded into the new C */
  return QI_OK;
}

qi_status qi_bias_correct_graph(const qi_bias_means *m, qi_graph *g,
                                int *corrected, qi_error *err) {
  if (corrected) *corrected = 0;
  if (!m || !g)
    return qi_fail(err, QI_ERR_INVALID_ARG, "bias correction: NULL argument");
  int nnodes = g->nnodes; /* no node is added */
  for (int ni = 0; ni < nnodes; ni++) {
    bc_node p;
    if (g->nodes[ni].precision != QI_PREC_INT8 || !plan_node(g, ni, &p) ||
        !input_quantized(&g->tensors[p.x].quant))
      continue;
    double *mean = input_means(find_entry(m, g->tensors[p.x].name), &p);
    double *delta = malloc(sizeof(double) * (size_t)p.lay.channels);
    if (!delta || !mean) {
      int nomem = !delta;
      free(mean);
      free(delta);
      if (nomem)
        return qi_fail(err, QI_ERR_NOMEM, "bias correction: out of memory");
      continue;
    }
    const qi_tensor *wt = &g->tensors[p.w];
    qi_bias_delta_req r = {.w = wt->data, .w_count = wt->nbytes / sizeof(float),
                           .lay = p.lay, .alpha = p.alpha, .qdq = &wt->quant,
                           .qdq_axis = p.qdq_axis, .groups = p.groups,
                           .spatial = p.spatial, .in_means = mean};
    qi_error local;
    qi_status st = qi_bias_delta(&r, delta, &local);
    free(mean);
    int skip = 1;
    /* Weights the lowering cannot quantize keep the node FP32: no change. */
    if (st == QI_ERR_NOMEM) {
      if (err) *err = local;
    } else if (st == QI_OK) {
      st = set_bias(g, ni, &p, delta, &skip, err);
    } else {
      st = QI_OK;
    }
    free(delta);
    if (st != QI_OK) {
      qi_error_prefix(err, "bias correction of node '%s'", g->nodes[ni].name);
      return st;
    }
    if (!skip && corrected) (*corrected)++;
  }
  return QI_OK;
}
