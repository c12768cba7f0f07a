/*
 * Lowering of the weighted ops: Conv -> QiQConv, Gemm and MatMul ->
 * QiQMatMul, with int8 weights (per output channel, lib/calib/qparams.h)
 * and int32 biases in the accumulator scale x_scale * w_scale[c].
 *
 * Weight scales: those of a QDQ import when the weights lie on their grid,
 * else max|w| / 127; a channel whose bias would not fit int32 on that
 * scale (a dead channel: weights ~0 next to its bias) gets the smallest
 * scale that fits it instead of sending the whole layer to FP32.
 *
 * A node stays FP32 when its weights or bias are not constants, when
 * quantizing them fails (non-finite values) or when some channel's
 * accumulator could leave int32: packing refuses those
 * (kernels/gemm/gemm.h: |bias - zx * sum w| + 255 * sum |w| <= INT32_MAX,
 * K <= QI_U8S8_GEMM_MAX_K), and a model must not fail to load because a
 * layer happened to be asked for INT8.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/qparams.h"
#include "core/error.h"
#include "gemm/gemm.h"
#include "ops/conv_geom.h"
#include "quant/lower_chlast.h"
#include "quant/lower_internal.h"

/* Float32 constant data of tensor t with exactly `numel` elements. */
static const float *const_f32(const qi_graph *g, int t, int64_t numel) {
  if (t < 0 || t >= g->ntensors) return NULL;
  const qi_tensor *x = &g->tensors[t];
  if (x->kind != QI_TK_CONST || x->dtype != QI_FLOAT32 || !x->data ||
      qi_shape_numel(&x->shape) != numel || numel < 1 ||
      x->nbytes != (size_t)numel * sizeof(float))
    return NULL;
  return x->data;
}

/* Largest |bias / (x_scale * w_scale)| a channel's scale is allowed to
 * give: half the int32 range, so the zero-point fold and the products
 * still fit (acc_fits checks the exact bound). */
#define LOWER_BIAS_Q_MAX 1073741824.0

typedef struct weights_req {
  int t;                  /* FP32 constant weights */
  qi_weight_layout lay;   /* how channels are read from it */
  int cols;               /* 1: [K, N] read by columns (cache key) */
  int qdq_axis;           /* channel axis of QDQ scales on t */
  float alpha;            /* Gemm alpha folded into the values */
  qi_shape shape;         /* shape of the int8 tensor */
  const float *bias;      /* FP32 bias [channels] (or one value), or NULL */
  int bias_scalar;
  float beta;             /* Gemm beta folded into the bias */
  double sx;              /* input scale */
} weights_req;

/* The smallest weight scale of channel i that keeps its bias within
 * LOWER_BIAS_Q_MAX accumulator units; 0 without a bias. */
static float bias_floor(const weights_req *r, int64_t i) {
  if (!r->bias) return 0.0f;
  double b = fabs((double)r->bias[r->bias_scalar ? 0 : i] * r->beta);
  if (!isfinite(b)) return 0.0f; /* qi_quantize_bias rejects it */
  float s = (float)(b / (r->sx * LOWER_BIAS_Q_MAX));
  return (double)s * r->sx * LOWER_BIAS_Q_MAX < b ? nextafterf(s, INFINITY) : s;
}

/* Raises the scale of every channel whose bias would not fit: channels
 * whose weights are vanishingly small next to their bias (dead channels
 * after BatchNorm folding), which then quantize to zeros and add their
 * bias, as in FP32 up to the weights' 1e-9-relative part. 1 if any scale
 * changed. */
static int fit_scales_to_bias(const weights_req *r, float *scales) {
  int changed = 0;
  for (int64_t i = 0; i < r->lay.channels; i++) {
    float lo = bias_floor(r, i);
    if (scales[i] < lo) {
      scales[i] = lo;
      changed = 1;
    }
  }
  return changed;
}

/* Whether the int8 tensor wq already has scales every bias of r fits. */
static int cached_fits(const qi_graph *g, int wq, const weights_req *r) {
  const qi_quant *q = &g->tensors[wq].quant;
  for (int64_t i = 0; i < r->lay.channels; i++)
    if (q->scales[i] < bias_floor(r, i)) return 0;
  return 1;
}

/* The int8 weights of `r`, or *out = -1 when they cannot be quantized.
 * Nodes reading one tensor the same way share them, unless a bias forced
 * some channel's scale up. */
static qi_status make_weights(lower_ctx *c, const weights_req *r, int *out,
                              qi_error *err) {
  qi_graph *g = c->g;
  int64_t ch = r->lay.channels, size = r->lay.channel_size;
  int64_t count = ch * size;
  int *cache = r->cols ? c->wcache_cols : c->wcache_rows;
  int cacheable = r->alpha == 1.0f && r->t < c->norig_tensors;
  *out = -1;
  if (cacheable && cache[r->t] >= 0 && cached_fits(g, cache[r->t], r)) {
    *out = cache[r->t];
    return QI_OK;
  }
  const float *w = const_f32(g, r->t, count);
  if (!w) return QI_OK;
  float *scaled = NULL, *scales = malloc(sizeof(float) * (size_t)ch);
  int8_t *q = malloc((size_t)count);
  qi_status st = QI_OK;
  qi_error local;
  if (!scales || !q) {
    st = qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
    goto fail;
  }
  if (r->alpha != 1.0f) {
    scaled = malloc(sizeof(float) * (size_t)count);
    if (!scaled) {
      st = qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
      goto fail;
    }
    for (int64_t i = 0; i < count; i++) scaled[i] = w[i] * r->alpha;
    w = scaled;
  }
  if ((r->alpha != 1.0f || !qi_qdq_weight_scales(&g->tensors[r->t].quant, r->qdq_axis,
                                        w, &r->lay, scales)) &&
      qi_int8_weight_scales(w, (size_t)count, &r->lay, scales, &local) !=
          QI_OK)
    goto fail;
  if (fit_scales_to_bias(r, scales)) cacheable = 0;
  if (qi_quantize_weights(w, (size_t)count, &r->lay, scales, q, &local) !=
      QI_OK)
    goto fail;
  free(scaled);
  scaled = NULL;
  st = lower_new_const(c, g->tensors[r->t].name, ":s8", QI_INT8, &r->shape, q,
                       (size_t)count, out, err);
  q = NULL;
  if (st != QI_OK) goto fail;
  qi_quant *wq = &g->tensors[*out].quant;
  wq->has = 1;
  wq->axis = 0;
  wq->nscales = (int)ch;
  wq->scales = scales;
  wq->scale = scales[0];
  wq->zero_point = 0;
  if (cacheable && cache[r->t] < 0) cache[r->t] = *out;
  return QI_OK;
fail:
  free(scaled);
  free(scales);
  free(q);
  return st;
}

/* Whether every channel's accumulator stays in int32 for input zero point
 * za (the packing rule of kernels/gemm/gemm.h). */
static int acc_fits(const int8_t *w, int64_t ch, int64_t size,
                    const int32_t *bias, int32_t za) {
  if (size > QI_U8S8_GEMM_MAX_K) return 0;
  for (int64_t n = 0; n < ch; n++) {
    int64_t sum = 0, abs_sum = 0;
    for (int64_t k = 0; k < size; k++) {
      int64_t v = w[n * size + k];
      sum += v;
      abs_sum += v < 0 ? -v : v;
    }
    int64_t folded = (bias ? bias[n] : 0) - (int64_t)za * sum;
    if ((folded < 0 ? -folded : folded) + 255 * abs_sum > INT32_MAX) return 0;
  }
  return 1;
}

typedef struct weighted_req {
  int x;              /* activation input */
  int wq;             /* int8 weights */
  const float *bias;  /* FP32 bias values [channels] or NULL */
  float beta;         /* Gemm beta folded into the bias */
  int bias_scalar;    /* 1: bias holds one value for every channel */
  const char *bias_name;
  int residual;       /* activation added before the clamp, or -1 */
} weighted_req;

/* Bias and the overflow check; *bias_t = -2 when the node cannot run in
 * INT8, -1 when it has no bias. */
static qi_status make_bias(lower_ctx *c, const weighted_req *r, int *bias_t,
                           qi_error *err) {
  qi_graph *g = c->g;
  const qi_tensor *wt = &g->tensors[r->wq];
  int64_t ch = wt->quant.nscales, size = qi_shape_numel(&wt->shape) / ch;
  const qi_quant *xq = &g->tensors[r->x].quant;
  int32_t *q = NULL;
  float *b = NULL;
  qi_error local;
  *bias_t = -2;
  if (r->bias) {
    q = malloc(sizeof(int32_t) * (size_t)ch);
    b = malloc(sizeof(float) * (size_t)ch);
    if (!q || !b) {
      free(q);
      free(b);
      return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
    }
    for (int64_t i = 0; i < ch; i++)
      b[i] = r->bias[r->bias_scalar ? 0 : i] * r->beta;
    qi_status st = qi_quantize_bias(b, ch, xq->scale, wt->quant.scales, q,
                                    &local);
    free(b);
    if (st != QI_OK) {
      free(q);
      return QI_OK;
    }
  }
  if (!acc_fits(wt->data, ch, size, q, xq->zero_point)) {
    free(q);
    return QI_OK;
  }
  if (!q) {
    *bias_t = -1;
    return QI_OK;
  }
  qi_shape s = {.rank = 1, .d = {ch}};
  return lower_new_const(c, r->bias_name, ":s32", QI_INT32, &s, q,
                         sizeof(int32_t) * (size_t)ch, bias_t, err);
}

/* How the output may be written, or -1 if the node cannot run in INT8:
 * float output needs no clamp and no residual; uint8 output needs the
 * output's quantization. */
static int out_mode(const qi_graph *g, const qi_node *n, int residual,
                    int32_t *qmin, int32_t *qmax) {
  int y = n->out[0];
  if (!lower_act_f32(g, y)) return -1;
  qi_act_params a = qi_node_act(n);
  int plain = a.act == QI_ACT_NONE && residual < 0;
  if (!lower_quant_ok(&g->tensors[y].quant)) {
    *qmin = 0;
    *qmax = 255;
    return plain ? LOWER_OUT_F32 : -1;
  }
  if (!lower_fused_clamp(n, &g->tensors[y].quant, qmin, qmax)) return -1;
  return plain ? LOWER_OUT_EITHER : LOWER_OUT_U8;
}

/* Appends the QiQConv / QiQMatMul for `r` with its clamp; *ni = -1 when
 * the bias rules it out. */
static qi_status emit(lower_ctx *c, int orig, const char *op,
                      const weighted_req *r, int mode, int32_t qmin,
                      int32_t qmax, int *ni, qi_error *err) {
  int bias_t;
  *ni = -1;
  QI_TRY(make_bias(c, r, &bias_t, err));
  if (bias_t == -2) return QI_OK;
  QI_TRY(lower_replace(c, orig, op, r->residual >= 0 ? 4 : 3,
                       (lower_out)mode, ni, err));
  qi_node *n = &c->g->nodes[*ni];
  n->in[0] = r->x;
  n->in[1] = r->wq;
  n->in[2] = bias_t;
  if (r->residual >= 0) n->in[3] = r->residual;
  QI_TRY(lower_attr_int(c->g, *ni, "qmin", qmin, err));
  return lower_attr_int(c->g, *ni, "qmax", qmax, err);
}

qi_status lower_match_conv(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  if (n->nin < 2 || n->nin > 4 || n->nout != 1) return QI_OK;
  int x = n->in[0], w = n->in[1], b = n->nin > 2 ? n->in[2] : -1;
  int sum = qi_attr_int(n, "qi_sum", 0) != 0;
  int res = n->nin > 3 ? n->in[3] : -1;
  if (!lower_act_ok(g, x) || w < 0 || (sum != (res >= 0))) return QI_OK;
  const qi_shape *xs = &g->tensors[x].shape, *ws = &g->tensors[w].shape;
  qi_conv_geom geo;
  qi_error local;
  if (xs->rank != 4 || ws->rank != 4 ||
      qi_conv_geom_make(n, xs, ws, 0, &geo, &local) != QI_OK)
    return QI_OK;
  qi_shape ys = qi_conv_geom_out_shape(&geo);
  if (!lower_same_shape(&ys, &g->tensors[n->out[0]].shape)) return QI_OK;
  if (res >= 0 && (!lower_act_ok(g, res) ||
                   !lower_same_shape(&ys, &g->tensors[res].shape)))
    return QI_OK;
  const float *bias = NULL;
  if (b >= 0 && !(bias = const_f32(g, b, geo.cout))) return QI_OK;
  int32_t qmin, qmax;
  int mode = out_mode(g, n, res, &qmin, &qmax);
  if (mode < 0) return QI_OK;
  int64_t size = ws->d[1] * ws->d[2] * ws->d[3];
  weights_req wr = {.t = w, .lay = qi_weight_layout_rows(geo.cout, size),
                    .qdq_axis = 0, .alpha = 1.0f, .shape = *ws, .bias = bias,
                    .beta = 1.0f, .sx = g->tensors[x].quant.scale};
  int wq;
  QI_TRY(make_weights(c, &wr, &wq, err));
  if (wq < 0) return QI_OK;
  weighted_req r = {.x = x, .wq = wq, .bias = bias, .beta = 1.0f,
                    .bias_name = b >= 0 ? g->tensors[b].name : n->name,
                    .residual = res};
  int q;
  QI_TRY(emit(c, ni, "QiQConv", &r, mode, qmin, qmax, &q, err));
  if (q < 0) return QI_OK;
  int64_t strides[2] = {geo.stride[1], geo.stride[2]};
  int64_t dil[2] = {geo.dil[1], geo.dil[2]};
  int64_t pads[4] = {geo.pad_b[1], geo.pad_b[2], geo.pad_e[1], geo.pad_e[2]};
  QI_TRY(lower_attr_ints(g, q, "strides", strides, 2, err));
  QI_TRY(lower_attr_ints(g, q, "pads", pads, 4, err));
  QI_TRY(lower_attr_ints(g, q, "dilations", dil, 2, err));
  QI_TRY(lower_attr_int(g, q, "group", geo.group, err));
  *done = 1;
  return QI_OK;
}

/* The bias of a Gemm (C) or fused MatMul bias: n values, or one value for
 * every column; NULL (and *ok = 0) for any other shape. */
static const float *column_bias(const qi_graph *g, int t, int64_t n,
                                int *scalar, int *ok) {
  *scalar = 0;
  *ok = 1;
  if (t < 0) return NULL;
  const qi_shape *s = &g->tensors[t].shape;
  int64_t numel = qi_shape_numel(s);
  const float *v = const_f32(g, t, numel);
  int rows_one = 1;
  for (int d = 0; d + 1 < s->rank; d++) rows_one &= s->d[d] == 1;
  if (v && rows_one && numel == n) return v;
  if (v && numel == 1) {
    *scalar = 1;
    return v;
  }
  *ok = 0;
  return NULL;
}

/* QiQMatMul for A [..., K] x W (as read by `wr`) + bias. */
static qi_status lower_to_qmatmul(lower_ctx *c, int ni, int a, weights_req *wr,
                                  int bias_t, float beta, int *done,
                                  qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  int64_t nn = wr->lay.channels;
  int scalar, ok;
  const float *bias = column_bias(g, beta != 0.0f ? bias_t : -1, nn, &scalar,
                                  &ok);
  if (!ok) return QI_OK;
  int32_t qmin, qmax;
  int mode = out_mode(g, n, -1, &qmin, &qmax);
  if (mode < 0) return QI_OK;
  wr->bias = bias;
  wr->bias_scalar = scalar;
  wr->beta = beta;
  wr->sx = g->tensors[a].quant.scale;
  int wq;
  QI_TRY(make_weights(c, wr, &wq, err));
  if (wq < 0) return QI_OK;
  weighted_req r = {.x = a, .wq = wq, .bias = bias, .beta = beta,
                    .bias_scalar = scalar,
                    .bias_name = bias ? g->tensors[bias_t].name : n->name,
                    .residual = -1};
  int q;
  QI_TRY(emit(c, ni, "QiQMatMul", &r, mode, qmin, qmax, &q, err));
  *done = q >= 0;
  return QI_OK;
}

qi_status lower_match_gemm(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  if (n->nin < 2 || n->nin > 3 || n->nout != 1) return QI_OK;
  int a = n->in[0], b = n->in[1], bias = n->nin > 2 ? n->in[2] : -1;
  float alpha = qi_attr_float(n, "alpha", 1.0f);
  float beta = qi_attr_float(n, "beta", 1.0f);
  int trans_b = qi_attr_int(n, "transB", 0) != 0;
  if (qi_attr_int(n, "transA", 0) != 0 || !isfinite(alpha) ||
      !isfinite(beta) || !lower_act_ok(g, a) || b < 0)
    return QI_OK;
  const qi_shape *as = &g->tensors[a].shape, *bs = &g->tensors[b].shape;
  const qi_shape *ys = &g->tensors[n->out[0]].shape;
  if (as->rank != 2 || bs->rank != 2 || ys->rank != 2) return QI_OK;
  int64_t k = as->d[1], nn = trans_b ? bs->d[0] : bs->d[1];
  if ((trans_b ? bs->d[1] : bs->d[0]) != k || ys->d[0] != as->d[0] ||
      ys->d[1] != nn)
    return QI_OK;
  weights_req wr = {.t = b, .cols = !trans_b, .qdq_axis = trans_b ? 0 : 1,
                    .alpha = alpha, .shape = {.rank = 2, .d = {nn, k}}};
  wr.lay = trans_b ? qi_weight_layout_rows(nn, k)
                   : (qi_weight_layout){nn, k, 1, nn};
  return lower_to_qmatmul(c, ni, a, &wr, bias, beta, done, err);
}

qi_status lower_match_matmul(lower_ctx *c, int ni, int *done, qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *done = 0;
  if (n->nin < 2 || n->nin > 3 || n->nout != 1) return QI_OK;
  int a = n->in[0], b = n->in[1];
  if (!lower_act_ok(g, a) || b < 0) return QI_OK;
  const qi_shape *as = &g->tensors[a].shape, *bs = &g->tensors[b].shape;
  const qi_shape *ys = &g->tensors[n->out[0]].shape;
  if (as->rank < 2 || as->rank == 4 || bs->rank != 2 ||
      ys->rank != as->rank)
    return QI_OK;
  int64_t k = bs->d[0], nn = bs->d[1];
  if (as->d[as->rank - 1] != k || ys->d[ys->rank - 1] != nn) return QI_OK;
  for (int d = 0; d + 1 < as->rank; d++)
    if (ys->d[d] != as->d[d]) return QI_OK;
  weights_req wr = {.t = b, .cols = 1, .qdq_axis = 1, .alpha = 1.0f,
                    .lay = {nn, k, 1, nn},
                    .shape = {.rank = 2, .d = {nn, k}}};
  return lower_to_qmatmul(c, ni, a, &wr, n->nin > 2 ? n->in[2] : -1, 1.0f,
                          done, err);
}

qi_status lower_matmul_consts(lower_ctx *c, int ni, int x,
                              const float *col_scale, int *wq, int *bias_t,
                              qi_error *err) {
  qi_graph *g = c->g;
  const qi_node *n = &g->nodes[ni];
  *wq = *bias_t = -1;
  if (n->nin < 2 || n->nin > 3 || !lower_act_ok(g, x)) return QI_OK;
  int w = n->in[1], bt = n->nin > 2 ? n->in[2] : -1;
  if (w < 0 || g->tensors[w].shape.rank != 2) return QI_OK;
  int64_t k = g->tensors[w].shape.d[0], nn = g->tensors[w].shape.d[1];
  const float *wv = const_f32(g, w, k * nn);
  int scalar, ok;
  const float *bias = column_bias(g, bt, nn, &scalar, &ok);
  if (!wv || !ok) return QI_OK;
  const char *bias_name = bias ? g->tensors[bt].name : n->name;
  float *sb = NULL;
  if (col_scale) { /* weights and bias of every column times col_scale */
    float *sw = malloc(sizeof(float) * (size_t)(k * nn));
    sb = bias ? malloc(sizeof(float) * (size_t)nn) : NULL;
    if (!sw || (bias && !sb)) {
      free(sw);
      free(sb);
      return qi_fail(err, QI_ERR_NOMEM, "INT8 lowering: out of memory");
    }
    for (int64_t r = 0; r < k; r++)
      for (int64_t j = 0; j < nn; j++)
        sw[r * nn + j] = wv[r * nn + j] * col_scale[j];
    for (int64_t j = 0; sb && j < nn; j++)
      sb[j] = bias[scalar ? 0 : j] * col_scale[j];
    qi_shape ws = g->tensors[w].shape;
    qi_status st = lower_new_const(c, g->tensors[w].name, ":scaled",
                                   QI_FLOAT32, &ws, sw,
                                   sizeof(float) * (size_t)(k * nn), &w, err);
    if (st != QI_OK) {
      free(sb);
      return st;
    }
    if (sb) {
      bias = sb;
      scalar = 0;
    }
  }
  weights_req wr = {.t = w, .cols = 1, .qdq_axis = 1, .alpha = 1.0f,
                    .lay = {nn, k, 1, nn}, .shape = {.rank = 2, .d = {nn, k}},
                    .bias = bias, .bias_scalar = scalar, .beta = 1.0f,
                    .sx = g->tensors[x].quant.scale};
  qi_status st = make_weights(c, &wr, wq, err);
  if (st == QI_OK && *wq >= 0) {
    weighted_req r = {.x = x, .wq = *wq, .bias = bias, .beta = 1.0f,
                      .bias_scalar = scalar, .bias_name = bias_name,
                      .residual = -1};
    st = make_bias(c, &r, bias_t, err);
    if (st == QI_OK && *bias_t == -2) *wq = *bias_t = -1;
  }
  free(sb);
  return st;
}
