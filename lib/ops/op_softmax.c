/*
 * Softmax and LogSoftmax, FP32.
 *
 * Opset >= 13 normalizes along `axis` (default -1). Opset < 13 sees the input
 * as 2-D [prod(d[0:axis]), prod(d[axis:])] and normalizes whole rows (default
 * axis 1); `infer` records that rule on the node as the internal attribute
 * "qi_softmax_2d" = 1, because `run` cannot see the graph's opset.
 *
 * Stable form, with m = max_k x_k and s = sum_k exp(x_k - m) summed in double:
 *   softmax     y_k = exp(x_k - m) / s
 *   log-softmax y_k = (x_k - m) - log(s)
 * Contiguous rows (the axis innermost, the common case) run on the row
 * kernels of kernels/fp32/softmax.h (vector exp within 1 ulp, y_k =
 * exp(x_k - m) * (1/s), log-softmax as x_k - (m + log s) in double). A
 * strided axis goes SOFTMAX_COLS columns at a time with libm.
 */
#include <math.h>
#include <string.h>

#include "ops/norm_dispatch.h"
#include "ops/op.h"

#define SOFTMAX_COLS 64 /* columns handled together when the axis is strided */
/* Elements one task should cover at least, so that waking the pool's
 * threads pays for itself. */
#define SOFTMAX_TASK_WORK 16384

/* The problem as outer x n x inner: normalize over n, elements inner apart. */
typedef struct softmax_dims {
  size_t outer, n, inner;
} softmax_dims;

typedef struct softmax_job {
  const float *x;
  float *y;
  softmax_dims dims;
  int log_out;
  qi_f32_norm_kernels k;
  size_t units, per_task; /* units: rows, or (outer, column chunk) pairs */
} softmax_job;

/* Element count of a known shape, or -1 if unknown or beyond NUMEL_LIMIT
 * (shapes come from model files and must not overflow later products). */
#define NUMEL_LIMIT ((int64_t)1 << 46)
static int64_t numel_safe(const qi_shape *s) {
  if (!s || s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n) || n > NUMEL_LIMIT)
      return -1;
  return n;
}

/* Tasks for `units` units of `work` elements each: one when the work is
 * too small to share, else up to 4 per thread. */
static size_t split_tasks(size_t units, double work, int nthreads,
                          size_t *per_task) {
  double want = nthreads > 1 ? (double)units * work / SOFTMAX_TASK_WORK : 1;
  if (want > (double)nthreads * 4) want = (double)nthreads * 4;
  size_t ntasks = want < 1 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

static qi_status softmax_resolve(const qi_node *n, const qi_shape *s,
                                 softmax_dims *d, qi_error *err) {
  int legacy = qi_attr_int(n, "qi_softmax_2d", 0) != 0;
  int64_t axis_attr = qi_attr_int(n, "axis", legacy ? 1 : -1);
  int r = s->rank;
  if (r < 1)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input must have rank >= 1",
                   n->name, n->op_type);
  /* Legacy axis may equal rank (then every row has one element). */
  int axis = (legacy && axis_attr == r) ? r : qi_norm_axis(axis_attr, r);
  if (axis < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): axis %lld out of range for rank %d", n->name,
                   n->op_type, (long long)axis_attr, r);
  size_t outer = 1, mid = 1, inner = 1;
  for (int i = 0; i < r; i++) {
    if (s->d[i] < 0)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): unknown dim %d",
                     n->name, n->op_type, i);
    if (i < axis)
      outer *= (size_t)s->d[i];
    else if (i == axis || legacy)
      mid *= (size_t)s->d[i];
    else
      inner *= (size_t)s->d[i];
  }
  d->outer = outer;
  d->n = mid;
  d->inner = inner;
  return QI_OK;
}

/* Columns [0, cw) of an n x inner block, cw <= SOFTMAX_COLS. */
static void softmax_cols(const float *x, float *y, size_t n, size_t inner,
                         size_t cw, int log_out) {
  float m[SOFTMAX_COLS];
  double s[SOFTMAX_COLS];
  for (size_t c = 0; c < cw; c++) {
    m[c] = x[c];
    s[c] = 0.0;
  }
  for (size_t k = 1; k < n; k++)
    for (size_t c = 0; c < cw; c++)
      if (x[k * inner + c] > m[c]) m[c] = x[k * inner + c];
  if (log_out) {
    for (size_t k = 0; k < n; k++)
      for (size_t c = 0; c < cw; c++)
        s[c] += exp((double)x[k * inner + c] - m[c]);
    for (size_t c = 0; c < cw; c++) s[c] = log(s[c]);
    for (size_t k = 0; k < n; k++)
      for (size_t c = 0; c < cw; c++)
        y[k * inner + c] = (float)(((double)x[k * inner + c] - m[c]) - s[c]);
  } else {
    for (size_t k = 0; k < n; k++)
      for (size_t c = 0; c < cw; c++) {
        float e = expf(x[k * inner + c] - m[c]);
        y[k * inner + c] = e;
        s[c] += e;
      }
    float inv[SOFTMAX_COLS];
    for (size_t c = 0; c < cw; c++) inv[c] = (float)(1.0 / s[c]);
    for (size_t k = 0; k < n; k++)
      for (size_t c = 0; c < cw; c++) y[k * inner + c] *= inv[c];
  }
}

static void softmax_task(void *arg, size_t task, int thread) {
  (void)thread;
  const softmax_job *j = arg;
  size_t u0 = task * j->per_task, u1 = u0 + j->per_task;
  if (u1 > j->units) u1 = j->units;
  const softmax_dims *d = &j->dims;
  size_t nchunks = (d->inner + SOFTMAX_COLS - 1) / SOFTMAX_COLS;
  if (d->inner == 1) { /* rows u0..u1 are contiguous */
    j->k.softmax_rows(j->x + u0 * d->n, j->y + u0 * d->n, u1 - u0, d->n,
                      j->log_out);
    return;
  }
  for (size_t u = u0; u < u1; u++) {
    size_t o = u / nchunks, c0 = (u % nchunks) * SOFTMAX_COLS;
    size_t cw = d->inner - c0 < SOFTMAX_COLS ? d->inner - c0 : SOFTMAX_COLS;
    size_t base = o * d->n * d->inner + c0;
    softmax_cols(j->x + base, j->y + base, d->n, d->inner, cw, j->log_out);
  }
}

static qi_status softmax_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): output 0 is missing",
                   n->name, n->op_type);
  if (qi_in_dtype(g, n, 0) != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input type %s, only float32 is supported",
                   n->name, n->op_type, qi_dtype_name(qi_in_dtype(g, n, 0)));
  if (g->opset < 13 && !qi_attr_find(n, "qi_softmax_2d")) {
    qi_attr *a = qi_node_add_attr(n, "qi_softmax_2d", QI_ATTR_INT);
    if (!a)
      return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                     n->name, n->op_type);
    a->i = 1;
  }
  const qi_shape *s = qi_in_shape(g, n, 0);
  if (numel_safe(s) < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input shape unknown or too large", n->name,
                   n->op_type);
  softmax_dims d;
  QI_TRY(softmax_resolve(n, s, &d, err));
  qi_set_output(g, n, 0, QI_FLOAT32, s);
  return QI_OK;
}

static qi_status softmax_run_common(const qi_run_ctx *ctx, const qi_node *n,
                                    const qi_buf *in, qi_buf *out,
                                    int log_out) {
  if (in[0].dtype != QI_FLOAT32 || out[0].dtype != QI_FLOAT32)
    return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only float32 is supported", n->name,
                   n->op_type);
  softmax_job j = {.x = in[0].data, .y = out[0].data, .log_out = log_out,
                   .k = qi_f32_norm_kernels_get()};
  QI_TRY(softmax_resolve(n, &in[0].shape, &j.dims, ctx->err));
  if (j.dims.outer == 0 || j.dims.n == 0 || j.dims.inner == 0) return QI_OK;
  size_t cols = j.dims.inner == 1 ? 1 : SOFTMAX_COLS;
  j.units = j.dims.inner == 1
                ? j.dims.outer
                : j.dims.outer * ((j.dims.inner + SOFTMAX_COLS - 1) / SOFTMAX_COLS);
  size_t ntasks = split_tasks(j.units, (double)j.dims.n * (double)cols,
                              ctx->nthreads, &j.per_task);
  qi_pool_run(ctx->pool, softmax_task, &j, ntasks);
  return QI_OK;
}

static qi_status softmax_run(const qi_run_ctx *ctx, const qi_node *n,
                             const qi_buf *in, qi_buf *out) {
  return softmax_run_common(ctx, n, in, out, 0);
}

static qi_status log_softmax_run(const qi_run_ctx *ctx, const qi_node *n,
                                 const qi_buf *in, qi_buf *out) {
  return softmax_run_common(ctx, n, in, out, 1);
}

const qi_op_def qi_op_softmax = {
    .op_type = "Softmax", .infer = softmax_infer, .run = softmax_run};
const qi_op_def qi_op_log_softmax = {
    .op_type = "LogSoftmax", .infer = softmax_infer, .run = log_softmax_run};
