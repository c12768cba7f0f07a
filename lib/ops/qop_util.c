/* Tensor checks, quantization reads, checked attributes, requantization,
 * task splits and the float transpose shared by the INT8 internal ops
 * (qop_util.h). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ops/qop_util.h"

static int scale_ok(float s) { return isfinite(s) && s > 0.0f; }

/* ---- tensors ---------------------------------------------------------- */

int64_t qi_qop_numel(const qi_shape *s) {
  if (!s || s->rank < 0 || s->rank > QI_MAX_RANK) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n) ||
        n > QI_QOP_MAX_NUMEL)
      return -1;
  return n;
}

qi_status qi_qop_expect_dtype(const qi_graph *g, const qi_node *n, int k,
                              qi_dtype want, const char *what,
                              qi_error *err) {
  qi_dtype dt = qi_in_dtype(g, n, k);
  if (dt == want) return QI_OK;
  if (dt == QI_UNDEFINED)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s is missing; %s is needed", n->name,
                   n->op_type, what, qi_dtype_name(want));
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): %s '%s' has dtype %s; %s is needed",
                 n->name, n->op_type, what, g->tensors[n->in[k]].name,
                 qi_dtype_name(dt), qi_dtype_name(want));
}

qi_status qi_qop_check_u8_inputs(const qi_graph *g, const qi_node *n,
                                 qi_error *err) {
  for (int k = 0; k < n->nin; k++) {
    if (n->in[k] < 0) continue;
    char what[32];
    snprintf(what, sizeof what, "input %d", k);
    QI_TRY(qi_qop_expect_dtype(g, n, k, QI_UINT8, what, err));
    const qi_tensor *t = &g->tensors[n->in[k]];
    if (qi_qop_numel(&t->shape) < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): input %d '%s' has an unknown or too "
                     "large shape",
                     n->name, n->op_type, k, t->name);
  }
  return QI_OK;
}

qi_status qi_qop_check_one_output(const qi_node *n, qi_error *err) {
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): no output", n->name,
                   n->op_type);
  for (int k = 1; k < n->nout; k++)
    if (n->out[k] >= 0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): output %d is not produced (one output "
                     "only)",
                     n->name, n->op_type, k);
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

/* ---- quantization ----------------------------------------------------- */

/* Tensor t (index into g->tensors) in the role "input k" / "output k". */
static qi_status tensor_quant(const qi_graph *g, const qi_node *n, int t,
                              const char *role, int k, qi_u8_quant *q,
                              qi_error *err) {
  if (t < 0 || t >= g->ntensors)
    return qi_fail(err, QI_ERR_INTERNAL, "node '%s' (%s): %s %d is missing",
                   n->name, n->op_type, role, k);
  const qi_tensor *tt = &g->tensors[t];
  const qi_quant *qu = &tt->quant;
  if (!qu->has)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has no quantization "
                   "parameters (scale, zero point)",
                   n->name, n->op_type, role, k, tt->name);
  if (qu->axis >= 0 && qu->nscales > 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s %d '%s' is quantized per channel "
                   "(axis %d); uint8 activations take one scale",
                   n->name, n->op_type, role, k, tt->name, qu->axis);
  if (!scale_ok(qu->scale))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has scale %g (must be finite "
                   "and > 0)",
                   n->name, n->op_type, role, k, tt->name, (double)qu->scale);
  if (qu->zero_point < 0 || qu->zero_point > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s %d '%s' has zero point %d (must be "
                   "0..255)",
                   n->name, n->op_type, role, k, tt->name,
                   (int)qu->zero_point);
  q->scale = (double)qu->scale;
  q->zero = qu->zero_point;
  return QI_OK;
}

qi_status qi_qop_in_quant(const qi_graph *g, const qi_node *n, int k,
                          qi_u8_quant *q, qi_error *err) {
  return tensor_quant(g, n, k < n->nin ? n->in[k] : -1, "input", k, q, err);
}

qi_status qi_qop_out_quant(const qi_graph *g, const qi_node *n,
                           qi_u8_quant *q, qi_error *err) {
  return tensor_quant(g, n, n->nout > 0 ? n->out[0] : -1, "output", 0, q,
                      err);
}

qi_status qi_qop_unary_quant_of(const qi_graph *g, const qi_node *n,
                                qi_qop_unary_quant *q, qi_error *err) {
  QI_TRY(qi_qop_in_quant(g, n, 0, &q->x, err));
  QI_TRY(qi_qop_out_quant(g, n, &q->y, err));
  return qi_qop_clamp_attrs(n, &q->qmin, &q->qmax, err);
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

/* ---- attributes ------------------------------------------------------- */

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
  QI_TRY(qi_qop_int_attr(n, "qmin", 0, INT64_MIN, INT64_MAX, &lo, err));
  QI_TRY(qi_qop_int_attr(n, "qmax", 255, INT64_MIN, INT64_MAX, &hi, err));
  if (lo < 0 || hi > 255 || lo > hi)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): output clamp qmin = %lld, qmax = %lld "
                   "(need 0 <= qmin <= qmax <= 255)",
                   n->name, n->op_type, (long long)lo, (long long)hi);
  *qmin = (int32_t)lo;
  *qmax = (int32_t)hi;
  return QI_OK;
}

qi_status qi_qop_check_unary(const qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_qop_check_one_output(n, err));
  return qi_qop_clamp_attrs(n, &qmin, &qmax, err);
}

/* ---- requantization --------------------------------------------------- */

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
  /* -128 is the byte 0x80: libc's memchr scans tens of MB of weights with
   * vector instructions. */
  const void *hit = count > 0 ? memchr(q, 0x80, (size_t)count) : NULL;
  if (hit) {
    int64_t i = (const int8_t *)hit - q;
    return qi_fail(err, QI_ERR_INVALID_ARG,
                     "node '%s' (%s): weights '%s' channel %lld hold -128; "
                     "int8 weights are symmetric, -127..127",
                     n->name, n->op_type, w->name,
                     (long long)(per_c ? i / per_c : 0));
  }
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

int qi_qop_requant_table(qi_u8_quant qx, qi_u8_quant qy, int32_t qmin,
                         int32_t qmax, uint8_t table[256]) {
  qi_u8_out o = qi_u8_out_make(qy.zero, qmin, qmax);
  float mxy = (float)(qx.scale / qy.scale);
  if (qi_u8_requant_is_identity(qx.zero, mxy, &o)) return 0;
  qi_u8_requant_table(qx.zero, mxy, &o, table);
  return 1;
}

/* ---- kernels and threads ---------------------------------------------- */

const qi_qelt_config *qi_qop_qelt_config(void) {
  const qi_qelt_config *cfg = NULL;
  /* A bad QINFER_ISA still yields a usable fallback config. */
  qi_qelt_config_default(&cfg, NULL);
  return cfg ? cfg : qi_qelt_config_of(QI_ISA_SCALAR);
}

size_t qi_qop_split(size_t units, double work_per_unit, int nthreads,
                    size_t *per_task) {
  *per_task = units;
  if (units == 0) return 0;
  double want =
      nthreads > 1 ? (double)units * work_per_unit / QI_QOP_TASK_WORK : 1.0;
  double cap =
      nthreads > 1 ? (double)nthreads * QI_QOP_TASKS_PER_THREAD : 1.0;
  if (want > cap) want = cap;
  size_t ntasks = want < 1.0 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

typedef struct rows_job {
  qi_qop_rows_fn fn;
  const void *arg;
  size_t rows, units, per_task;
} rows_job;

/* Units are (image, row); a task's rows of one image go in one call. */
static void rows_task(void *arg, size_t task, int thread) {
  (void)thread;
  const rows_job *j = arg;
  size_t u0, u1;
  qi_qop_task_range(task, j->per_task, j->units, &u0, &u1);
  for (size_t u = u0; u < u1;) {
    size_t b = u / j->rows, r0 = u % j->rows;
    size_t r1 = r0 + (u1 - u) < j->rows ? r0 + (u1 - u) : j->rows;
    j->fn(j->arg, b, r0, r1);
    u += r1 - r0;
  }
}

void qi_qop_run_rows(qi_pool *pool, int nthreads, size_t images, size_t rows,
                     double work_per_row, qi_qop_rows_fn fn,
                     const void *arg) {
  rows_job j = {fn, arg, rows, images * rows, 0};
  size_t ntasks = qi_qop_split(j.units, work_per_row, nthreads, &j.per_task);
  qi_pool_run(pool, rows_task, &j, ntasks);
}

qi_status qi_qop_run_prepared(const qi_run_ctx *ctx, const qi_node *n) {
  if (!n->state)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run before prepare", n->name, n->op_type);
  return QI_OK;
}

qi_status qi_qop_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *b, const char *what, int k,
                         int64_t numel) {
  if (b->dtype != QI_UINT8 || qi_qop_numel(&b->shape) != numel ||
      (numel > 0 && !b->data))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): %s %d is not the uint8 buffer of %lld "
                   "elements prepared for",
                   n->name, n->op_type, what, k, (long long)numel);
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
