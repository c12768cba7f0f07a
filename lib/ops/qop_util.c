/* Quantization reads, checked attributes and the float transpose shared by
 * the INT8 internal ops (qop_util.h). */
#include <math.h>

#include "ops/qop_util.h"

static int scale_ok(float s) { return isfinite(s) && s > 0.0f; }

qi_status qi_qop_act_quant_of(const qi_graph *g, const qi_node *n, int t,
                              const char *what, qi_qop_act_quant *q,
                              qi_error *err) {
  if (t < 0 || t >= g->ntensors)
    return qi_fail(err, QI_ERR_INVALID_ARG, "node '%s' (%s): %s is missing",
                   n->name, n->op_type, what);
  const qi_tensor *x = &g->tensors[t];
  if (!x->quant.has)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s '%s' has no quantization (scale and "
                   "zero point)",
                   n->name, n->op_type, what, x->name);
  if (!scale_ok(x->quant.scale) || x->quant.zero_point < 0 ||
      x->quant.zero_point > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s '%s' has scale %g and zero point %d; "
                   "a finite scale > 0 and a zero point in 0..255 are needed",
                   n->name, n->op_type, what, x->name, (double)x->quant.scale,
                   (int)x->quant.zero_point);
  q->scale = x->quant.scale;
  q->zp = x->quant.zero_point;
  return QI_OK;
}

qi_status qi_qop_in_quant(const qi_graph *g, const qi_node *n, int k,
                          const char *what, qi_qop_act_quant *q,
                          qi_error *err) {
  return qi_qop_act_quant_of(g, n, k < n->nin ? n->in[k] : -1, what, q, err);
}

qi_status qi_qop_out_quant(const qi_graph *g, const qi_node *n,
                           qi_qop_act_quant *q, qi_error *err) {
  return qi_qop_act_quant_of(g, n, n->nout > 0 ? n->out[0] : -1, "output",
                             q, err);
}

qi_status qi_qop_weight_scales(const qi_graph *g, const qi_node *n, int t,
                               int64_t channels, float *scales,
                               qi_error *err) {
  const qi_tensor *w = &g->tensors[t];
  const qi_quant *q = &w->quant;
  if (q->axis >= 0) {
    if (q->axis != 0 || !q->scales || q->nscales != channels)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "node '%s' (%s): weights '%s' have %d scales along axis "
                     "%d; %lld along axis 0 (one per output channel) are "
                     "needed",
                     n->name, n->op_type, w->name, q->scales ? q->nscales : 0,
                     q->axis, (long long)channels);
    for (int64_t c = 0; c < channels; c++) scales[c] = q->scales[c];
  } else {
    if (!q->has)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "node '%s' (%s): weights '%s' have no quantization "
                     "(quant.axis 0 with %lld scales expected)",
                     n->name, n->op_type, w->name, (long long)channels);
    for (int64_t c = 0; c < channels; c++) scales[c] = q->scale;
  }
  for (int64_t c = 0; c < channels; c++)
    if (!scale_ok(scales[c]))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "node '%s' (%s): weights '%s' channel %lld has scale %g; "
                     "a finite scale > 0 is needed",
                     n->name, n->op_type, w->name, (long long)c,
                     (double)scales[c]);
  return QI_OK;
}

qi_status qi_qop_int_attr(const qi_node *n, const char *name, int64_t def,
                          int64_t lo, int64_t hi, int64_t *val,
                          qi_error *err) {
  const qi_attr *a = qi_attr_find(n, name);
  if (a && a->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): attribute '%s' must be an int", n->name,
                   n->op_type, name);
  int64_t v = a ? a->i : def;
  if (v < lo || v > hi)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): attribute '%s' = %lld is outside "
                   "%lld..%lld",
                   n->name, n->op_type, name, (long long)v, (long long)lo,
                   (long long)hi);
  *val = v;
  return QI_OK;
}

qi_status qi_qop_clamp_attrs(const qi_node *n, int32_t *qmin, int32_t *qmax,
                             qi_error *err) {
  int64_t lo, hi;
  QI_TRY(qi_qop_int_attr(n, "qmin", 0, 0, 255, &lo, err));
  QI_TRY(qi_qop_int_attr(n, "qmax", 255, 0, 255, &hi, err));
  if (lo > hi)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): qmin %lld > qmax %lld", n->name,
                   n->op_type, (long long)lo, (long long)hi);
  *qmin = (int32_t)lo;
  *qmax = (int32_t)hi;
  return QI_OK;
}

qi_status qi_qop_expect_dtype(const qi_graph *g, const qi_node *n, int k,
                              qi_dtype want, const char *what,
                              qi_error *err) {
  qi_dtype dt = qi_in_dtype(g, n, k);
  if (dt != want)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s has dtype %s; %s is needed", n->name,
                   n->op_type, what,
                   dt == QI_UNDEFINED ? "(none)" : qi_dtype_name(dt),
                   qi_dtype_name(want));
  return QI_OK;
}

qi_status qi_qop_const_input(const qi_graph *g, const qi_node *n, int k,
                             qi_dtype want, int64_t count, const char *what,
                             const qi_tensor **out, qi_error *err) {
  *out = NULL;
  QI_TRY(qi_qop_expect_dtype(g, n, k, want, what, err));
  const qi_tensor *t = &g->tensors[n->in[k]];
  if (t->kind != QI_TK_CONST || !t->data)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s '%s' must be a constant", n->name,
                   n->op_type, what, t->name);
  size_t es = qi_dtype_size(want);
  if (count < 0 || qi_shape_numel(&t->shape) != count ||
      (size_t)count > t->nbytes / es)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): %s '%s' holds %zu bytes; %lld elements "
                   "of %s are needed",
                   n->name, n->op_type, what, t->name, t->nbytes,
                   (long long)count, qi_dtype_name(want));
  *out = t;
  return QI_OK;
}

qi_status qi_qop_mult(const qi_node *n, double sx, double sw, double sy,
                      int64_t c, float *mult, qi_error *err) {
  double m = sx * sw;
  if (sy != 0.0) m /= sy;
  float f = (float)m;
  if (!scale_ok(f))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): requantization multiplier of channel "
                   "%lld is %g (input scale %g, weight scale %g, output "
                   "scale %g); a finite float > 0 is needed",
                   n->name, n->op_type, (long long)c, m, sx, sw, sy);
  *mult = f;
  return QI_OK;
}

qi_status qi_qop_weight_mults(const qi_graph *g, const qi_node *n, int k,
                              int64_t channels, double sx, double sy,
                              float *mult, qi_error *err) {
  QI_TRY(qi_qop_weight_scales(g, n, n->in[k], channels, mult, err));
  for (int64_t c = 0; c < channels; c++)
    QI_TRY(qi_qop_mult(n, sx, mult[c], sy, c, &mult[c], err));
  return QI_OK;
}

qi_status qi_qop_check_symmetric(const qi_node *n, const qi_tensor *w,
                                 int64_t count, int64_t channels,
                                 qi_error *err) {
  const int8_t *q = w->data;
  const int64_t per_c = channels > 0 ? count / channels : 1;
  for (int64_t i = 0; i < count; i++)
    if (q[i] < -127)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "node '%s' (%s): weights '%s' channel %lld hold -128; "
                     "int8 weights are symmetric, -127..127",
                     n->name, n->op_type, w->name,
                     (long long)(per_c ? i / per_c : 0));
  return QI_OK;
}

qi_status qi_qop_residual_mult(const qi_node *n, double sr, double sy,
                               float *rmult, qi_error *err) {
  float r = (float)(sr / sy);
  if (!isfinite(r))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): residual scale ratio %g / %g is not a "
                   "finite float",
                   n->name, n->op_type, sr, sy);
  *rmult = r;
  return QI_OK;
}

/* Pixels per transpose task: a tile of 64 pixels x ch channels stays in
 * L1/L2 for the usual channel counts. */
#define QOP_T_PIXELS 64

typedef struct transpose_job {
  const float *src;
  float *dst;
  int64_t hw, ch, tiles_per_image;
} transpose_job;

static void transpose_task(void *arg, size_t task, int thread) {
  (void)thread;
  const transpose_job *j = arg;
  int64_t b = (int64_t)task / j->tiles_per_image;
  int64_t p0 = ((int64_t)task % j->tiles_per_image) * QOP_T_PIXELS;
  int64_t p1 = p0 + QOP_T_PIXELS < j->hw ? p0 + QOP_T_PIXELS : j->hw;
  const float *s = j->src + b * j->hw * j->ch;
  float *d = j->dst + b * j->hw * j->ch;
  for (int64_t c = 0; c < j->ch; c++) {
    float *dc = d + c * j->hw;
    for (int64_t p = p0; p < p1; p++) dc[p] = s[p * j->ch + c];
  }
}

void qi_qop_nhwc_to_nchw_f32(qi_pool *pool, const float *src, float *dst,
                             int64_t n, int64_t hw, int64_t ch) {
  if (n <= 0 || hw <= 0 || ch <= 0) return;
  transpose_job j = {src, dst, hw, ch, (hw + QOP_T_PIXELS - 1) / QOP_T_PIXELS};
  qi_pool_run(pool, transpose_task, &j, (size_t)(n * j.tiles_per_image));
}
