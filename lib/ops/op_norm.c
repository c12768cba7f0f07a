/*
 * BatchNormalization (inference), LayerNormalization, InstanceNormalization
 * and GroupNormalization, FP32.
 *
 * BatchNorm folds its four vectors per channel into y = x * a + b with
 *   a = scale / sqrt(var + eps),  b = B - mean * a   (computed in double).
 * The others normalize a contiguous block: mean and variance are taken in
 * double with two passes (mean first, then the mean of squared deviations),
 *   y = (x - mean) / sqrt(var + eps) * scale + bias.
 *   LayerNorm: the block is X.shape[axis:]; Scale and B broadcast to it.
 *   GroupNorm: the block is (C / num_groups) channels of one image; scale and
 *   bias have C entries (opset 21) or num_groups entries (opset 18..20).
 *   InstanceNorm: GroupNorm with num_groups = C.
 * The row passes (sums in double lanes, the affine steps) are the kernels of
 * kernels/fp32/norm.h.
 */
#include <math.h>
#include <string.h>

#include "ops/norm_dispatch.h"
#include "ops/op.h"

#define BN_CHUNK 16384 /* elements of one plane handled by one task */
/* Elements one task should cover at least, so that waking the pool's
 * threads pays for itself. */
#define NORM_TASK_WORK 16384

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

/* Runs fn over `units` units of `work` elements each: on the calling
 * thread when the work is too small to share, else up to 4 tasks per
 * thread. */
static void run_units(const qi_run_ctx *ctx, qi_pool_fn fn, void *job,
                      size_t units, double work, size_t *per_task) {
  if (!units) return;
  int nt = ctx->nthreads;
  double want = nt > 1 ? (double)units * work / NORM_TASK_WORK : 1;
  if (want > (double)nt * 4) want = (double)nt * 4;
  size_t ntasks = want < 1 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  qi_pool_run(ctx->pool, fn, job, (units + *per_task - 1) / *per_task);
}

static qi_status need_f32(const qi_graph *g, const qi_node *n, int k,
                          qi_error *err) {
  qi_dtype dt = qi_in_dtype(g, n, k);
  if (dt != QI_FLOAT32 && (k == 0 || dt != QI_UNDEFINED))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input %d has type %s, only float32 is "
                   "supported",
                   n->name, n->op_type, k, qi_dtype_name(dt));
  return QI_OK;
}

static qi_status need_out0(const qi_node *n, qi_error *err) {
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): output 0 is missing",
                   n->name, n->op_type);
  return QI_OK;
}

/* Numel of a known shape, failing on unknown or oversized ones. */
static qi_status known_numel(const qi_node *n, const qi_shape *s,
                             const char *what, int64_t *numel, qi_error *err) {
  *numel = numel_safe(s);
  if (*numel < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): shape of %s unknown or too large", n->name,
                   n->op_type, what);
  return QI_OK;
}

static qi_status vec_len(const qi_node *n, const qi_shape *s, const char *what,
                         int64_t want, qi_error *err) {
  int64_t cnt;
  QI_TRY(known_numel(n, s, what, &cnt, err));
  if (cnt != want) {
    char b[96];
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): %s has shape %s, expected %lld elements",
                   n->name, n->op_type, what, qi_shape_str(s, b, sizeof b),
                   (long long)want);
  }
  return QI_OK;
}

/* Mean and 1/sqrt(var + eps) of x[0..len), two passes with double sums:
 * the mean first, then the mean of squared deviations from it. */
static void block_stats(const qi_f32_norm_kernels *k, const float *x,
                        int64_t len, double eps, double *mean,
                        double *inv_std) {
  double m = k->sum_f64(x, (size_t)len) / (double)len;
  double v = k->sqdev_sum_f64(x, (size_t)len, m) / (double)len;
  *mean = m;
  *inv_std = 1.0 / sqrt(v + eps);
}

/* ---- BatchNormalization ------------------------------------------------ */

typedef struct bn_job {
  const float *x, *scale, *bias, *mean, *var;
  float *y;
  int64_t channels, plane, nchunks;
  double eps;
  qi_f32_norm_kernels k;
  size_t units, per_task;
} bn_job;

static void bn_task(void *arg, size_t task, int thread) {
  (void)thread;
  const bn_job *j = arg;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t u = task * j->per_task; u < u1; u++) {
    int64_t p = (int64_t)u / j->nchunks, i0 = ((int64_t)u % j->nchunks) * BN_CHUNK;
    int64_t c = p % j->channels, len = j->plane - i0;
    if (len > BN_CHUNK) len = BN_CHUNK;
    double ad = (double)j->scale[c] / sqrt((double)j->var[c] + j->eps);
    float a = (float)ad, b = (float)((double)j->bias[c] - j->mean[c] * ad);
    j->k.affine(j->x + p * j->plane + i0, (size_t)len, a, b,
                j->y + p * j->plane + i0);
  }
}

static qi_status bn_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  if (qi_attr_int(n, "training_mode", 0) != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (BatchNormalization): training_mode=1 is not "
                   "supported",
                   n->name);
  if (qi_attr_int(n, "spatial", 1) == 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (BatchNormalization): spatial=0 is not supported",
                   n->name);
  for (int k = 1; k < n->nout; k++)
    if (n->out[k] >= 0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (BatchNormalization): output %d (training "
                     "statistics) is not supported",
                     n->name, k);
  return QI_OK;
}

static qi_status bn_shape(const qi_node *n, const qi_shape *x, const qi_shape *v[4],
                          qi_error *err) {
  if (x->rank < 2)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (BatchNormalization): input rank %d < 2", n->name,
                   x->rank);
  static const char *const names[4] = {"scale", "B", "input_mean", "input_var"};
  int64_t numel;
  QI_TRY(known_numel(n, x, "X", &numel, err));
  for (int k = 0; k < 4; k++) QI_TRY(vec_len(n, v[k], names[k], x->d[1], err));
  return QI_OK;
}

static qi_status bn_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 5, 5, err));
  QI_TRY(need_out0(n, err));
  QI_TRY(bn_check(g, n, err));
  for (int k = 0; k < 5; k++) QI_TRY(need_f32(g, n, k, err));
  const qi_shape *v[4];
  for (int k = 0; k < 4; k++) v[k] = qi_in_shape(g, n, k + 1);
  QI_TRY(bn_shape(n, qi_in_shape(g, n, 0), v, err));
  qi_set_output(g, n, 0, QI_FLOAT32, qi_in_shape(g, n, 0));
  return QI_OK;
}

static qi_status bn_run(const qi_run_ctx *ctx, const qi_node *n,
                        const qi_buf *in, qi_buf *out) {
  const qi_shape *v[4];
  for (int k = 0; k < 5; k++)
    if (in[k].dtype != QI_FLOAT32)
      return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                     "node '%s' (BatchNormalization): only float32 is supported",
                     n->name);
  for (int k = 0; k < 4; k++) v[k] = &in[k + 1].shape;
  const qi_shape *xs = &in[0].shape;
  QI_TRY(bn_shape(n, xs, v, ctx->err));
  bn_job j = {.x = in[0].data, .scale = in[1].data, .bias = in[2].data,
              .mean = in[3].data, .var = in[4].data, .y = out[0].data,
              .channels = xs->d[1], .plane = 1,
              .eps = qi_attr_float(n, "epsilon", 1e-5f),
              .k = qi_f32_norm_kernels_get()};
  for (int i = 2; i < xs->rank; i++) j.plane *= xs->d[i];
  if (j.plane == 0 || j.channels == 0) return QI_OK;
  j.nchunks = (j.plane + BN_CHUNK - 1) / BN_CHUNK;
  j.units = (size_t)(xs->d[0] * j.channels * j.nchunks);
  run_units(ctx, bn_task, &j, j.units,
            (double)(j.plane < BN_CHUNK ? j.plane : BN_CHUNK), &j.per_task);
  return QI_OK;
}

/* ---- LayerNormalization ------------------------------------------------ */

/* How Scale or B indexes the normalized block: 0 absent, 1 scalar, 2 full
 * block, 3 general broadcast (per-dim strides, 0 where broadcast). */
typedef struct ln_param {
  const float *data;
  int mode;
  int64_t stride[QI_MAX_RANK];
} ln_param;

typedef struct ln_plan {
  int axis, brank;           /* block rank = rank - axis */
  int64_t rows, len;         /* rows x len elements */
  int64_t bdim[QI_MAX_RANK]; /* block dims */
} ln_plan;

typedef struct ln_job {
  const float *x;
  float *y, *mean_out, *inv_out;
  ln_plan plan;
  ln_param scale, bias;
  double eps;
  qi_f32_norm_kernels k;
  size_t units, per_task;
} ln_job;

static qi_status ln_plan_make(const qi_node *n, const qi_shape *x, ln_plan *p,
                              qi_error *err) {
  int64_t axis_attr = qi_attr_int(n, "axis", -1);
  int r = x->rank;
  int64_t numel;
  QI_TRY(known_numel(n, x, "X", &numel, err));
  p->axis = r > 0 ? qi_norm_axis(axis_attr, r) : -1;
  if (p->axis < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (LayerNormalization): axis %lld out of range "
                   "for rank %d",
                   n->name, (long long)axis_attr, r);
  p->brank = r - p->axis;
  p->rows = 1;
  p->len = 1;
  for (int i = 0; i < r; i++) {
    if (i < p->axis) {
      p->rows *= x->d[i];
    } else {
      p->len *= x->d[i];
      p->bdim[i - p->axis] = x->d[i];
    }
  }
  return QI_OK;
}

/* Scale or B shape `s` must broadcast to X and vary only over the block. */
static qi_status ln_param_make(const qi_node *n, const qi_shape *x,
                               const ln_plan *p, const qi_shape *s,
                               const char *what, const float *data,
                               ln_param *out, qi_error *err) {
  memset(out, 0, sizeof *out);
  out->data = data;
  if (!s) return QI_OK;
  int64_t cnt;
  QI_TRY(known_numel(n, s, what, &cnt, err));
  char b1[96], b2[96];
  if (s->rank > x->rank)
    goto bad;
  int64_t stride = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    int xi = x->rank - s->rank + i;
    if (s->d[i] != 1 && (s->d[i] != x->d[xi] || xi < p->axis)) goto bad;
    if (xi >= p->axis)
      out->stride[xi - p->axis] = s->d[i] == 1 ? 0 : stride;
    stride *= s->d[i];
  }
  out->mode = cnt == 1 ? 1 : (cnt == p->len ? 2 : 3);
  return QI_OK;
bad:
  return qi_fail(err, QI_ERR_SHAPE,
                 "node '%s' (LayerNormalization): %s shape %s does not "
                 "broadcast to the normalized dims of %s (axis %d)",
                 n->name, what, qi_shape_str(s, b1, sizeof b1),
                 qi_shape_str(x, b2, sizeof b2), p->axis);
}

/* y[i] *= scale or += bias over one block, by the parameter's mode. */
static void ln_apply(const ln_plan *p, const ln_param *q, float *y, int add) {
  if (q->mode == 0) return;
  if (q->mode == 1) {
    float v = q->data[0];
    if (add) for (int64_t i = 0; i < p->len; i++) y[i] += v;
    else for (int64_t i = 0; i < p->len; i++) y[i] *= v;
    return;
  }
  if (q->mode == 2) {
    if (add) for (int64_t i = 0; i < p->len; i++) y[i] += q->data[i];
    else for (int64_t i = 0; i < p->len; i++) y[i] *= q->data[i];
    return;
  }
  int64_t idx[QI_MAX_RANK] = {0}, off = 0;
  for (int64_t i = 0; i < p->len; i++) {
    if (add) y[i] += q->data[off]; else y[i] *= q->data[off];
    for (int d = p->brank - 1; d >= 0; d--) {
      off += q->stride[d];
      if (++idx[d] < p->bdim[d]) break;
      off -= q->stride[d] * p->bdim[d];
      idx[d] = 0;
    }
  }
}

static void ln_task(void *arg, size_t task, int thread) {
  (void)thread;
  const ln_job *j = arg;
  const ln_plan *p = &j->plan;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t r = task * j->per_task; r < u1; r++) {
    const float *x = j->x + (int64_t)r * p->len;
    float *y = j->y + (int64_t)r * p->len;
    double mean, inv;
    size_t len = (size_t)p->len;
    block_stats(&j->k, x, p->len, j->eps, &mean, &inv);
    if (j->scale.mode == 2 && j->bias.mode == 2) { /* the usual layout */
      j->k.normalize(x, len, mean, inv, j->scale.data, j->bias.data, y);
    } else if (j->scale.mode <= 1 && j->bias.mode <= 1) {
      j->k.normalize_s(x, len, mean, inv, j->scale.mode ? j->scale.data[0] : 1.0f,
                       j->bias.mode ? j->bias.data[0] : 0.0f, y);
    } else {
      j->k.normalize_s(x, len, mean, inv, 1.0f, 0.0f, y);
      ln_apply(p, &j->scale, y, 0);
      ln_apply(p, &j->bias, y, 1);
    }
    if (j->mean_out) j->mean_out[r] = (float)mean;
    if (j->inv_out) j->inv_out[r] = (float)inv;
  }
}

static qi_status ln_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  QI_TRY(need_out0(n, err));
  if (n->nout > 3)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (LayerNormalization): %d outputs, at most 3",
                   n->name, n->nout);
  for (int k = 0; k < n->nin; k++) QI_TRY(need_f32(g, n, k, err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  ln_plan p;
  ln_param q;
  QI_TRY(ln_plan_make(n, x, &p, err));
  QI_TRY(ln_param_make(n, x, &p, qi_in_shape(g, n, 1), "Scale", NULL, &q, err));
  QI_TRY(ln_param_make(n, x, &p, qi_in_shape(g, n, 2), "B", NULL, &q, err));
  qi_set_output(g, n, 0, QI_FLOAT32, x);
  qi_shape st = *x;
  for (int i = p.axis; i < x->rank; i++) st.d[i] = 1;
  qi_set_output(g, n, 1, QI_FLOAT32, &st);
  qi_set_output(g, n, 2, QI_FLOAT32, &st);
  return QI_OK;
}

static qi_status ln_run(const qi_run_ctx *ctx, const qi_node *n,
                        const qi_buf *in, qi_buf *out) {
  for (int k = 0; k < n->nin; k++)
    if (in[k].data && in[k].dtype != QI_FLOAT32)
      return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                     "node '%s' (LayerNormalization): only float32 is "
                     "supported",
                     n->name);
  const qi_shape *x = &in[0].shape;
  ln_job j = {.x = in[0].data, .y = out[0].data,
              .eps = qi_attr_float(n, "epsilon", 1e-5f),
              .k = qi_f32_norm_kernels_get()};
  QI_TRY(ln_plan_make(n, x, &j.plan, ctx->err));
  QI_TRY(ln_param_make(n, x, &j.plan, &in[1].shape, "Scale", in[1].data,
                       &j.scale, ctx->err));
  if (n->nin >= 3 && in[2].data)
    QI_TRY(ln_param_make(n, x, &j.plan, &in[2].shape, "B", in[2].data, &j.bias,
                         ctx->err));
  if (n->nout >= 2 && n->out[1] >= 0) j.mean_out = out[1].data;
  if (n->nout >= 3 && n->out[2] >= 0) j.inv_out = out[2].data;
  if (j.plan.len == 0) return QI_OK;
  j.units = (size_t)j.plan.rows;
  run_units(ctx, ln_task, &j, j.units, (double)j.plan.len, &j.per_task);
  return QI_OK;
}

/* ---- GroupNormalization and InstanceNormalization ---------------------- */

typedef struct gn_job {
  const float *x, *scale, *bias;
  float *y;
  int64_t channels, groups, plane; /* plane: spatial size of one channel */
  int per_group_params;            /* scale/bias have `groups` entries */
  double eps;
  qi_f32_norm_kernels k;
  size_t units, per_task;
} gn_job;

static void gn_task(void *arg, size_t task, int thread) {
  (void)thread;
  const gn_job *j = arg;
  int64_t cpg = j->channels / j->groups, len = cpg * j->plane;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t u = task * j->per_task; u < u1; u++) {
    int64_t grp = (int64_t)u % j->groups;
    const float *x = j->x + (int64_t)u * len;
    float *y = j->y + (int64_t)u * len;
    double mean, inv;
    block_stats(&j->k, x, len, j->eps, &mean, &inv);
    for (int64_t c = 0; c < cpg; c++) {
      int64_t pi = j->per_group_params ? grp : grp * cpg + c;
      j->k.normalize_s(x + c * j->plane, (size_t)j->plane, mean, inv,
                       j->scale[pi], j->bias[pi], y + c * j->plane);
    }
  }
}

/* Fills the job's sizes; `instance` selects InstanceNormalization. */
static qi_status gn_shape(const qi_node *n, int64_t opset, const qi_shape *x,
                          const qi_shape *sc, const qi_shape *bi, int instance,
                          gn_job *j, qi_error *err) {
  int64_t numel;
  QI_TRY(known_numel(n, x, "X", &numel, err));
  if (x->rank < 2)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input rank %d < 2",
                   n->name, n->op_type, x->rank);
  j->channels = x->d[1];
  j->plane = 1;
  for (int i = 2; i < x->rank; i++) j->plane *= x->d[i];
  j->groups = instance ? j->channels : qi_attr_int(n, "num_groups", -1);
  if (j->groups < 1 || (j->channels % j->groups) != 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): num_groups %lld must be >= 1 and divide "
                   "the %lld channels",
                   n->name, n->op_type, (long long)j->groups,
                   (long long)j->channels);
  int64_t ns, nb;
  QI_TRY(known_numel(n, sc, "scale", &ns, err));
  QI_TRY(known_numel(n, bi, "bias", &nb, err));
  /* Opset 21 made scale/bias per channel; 18..20 had them per group. The
   * count tells them apart; before 21, per channel is accepted as well. */
  j->per_group_params = ns != j->channels;
  int64_t want = j->per_group_params ? j->groups : j->channels;
  if (j->per_group_params && (instance || opset >= 21)) want = j->channels;
  QI_TRY(vec_len(n, sc, "scale", want, err));
  QI_TRY(vec_len(n, bi, "bias", want, err));
  return QI_OK;
}

static qi_status gn_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 3, 3, err));
  QI_TRY(need_out0(n, err));
  for (int k = 0; k < 3; k++) QI_TRY(need_f32(g, n, k, err));
  gn_job j;
  int instance = strcmp(n->op_type, "InstanceNormalization") == 0;
  QI_TRY(gn_shape(n, g->opset, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1),
                  qi_in_shape(g, n, 2), instance, &j, err));
  qi_set_output(g, n, 0, QI_FLOAT32, qi_in_shape(g, n, 0));
  return QI_OK;
}

static qi_status gn_run(const qi_run_ctx *ctx, const qi_node *n,
                        const qi_buf *in, qi_buf *out) {
  for (int k = 0; k < 3; k++)
    if (in[k].dtype != QI_FLOAT32)
      return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): only float32 is supported", n->name,
                     n->op_type);
  int instance = strcmp(n->op_type, "InstanceNormalization") == 0;
  gn_job j = {.x = in[0].data, .scale = in[1].data, .bias = in[2].data,
              .y = out[0].data, .eps = qi_attr_float(n, "epsilon", 1e-5f),
              .k = qi_f32_norm_kernels_get()};
  /* The opset only narrows what infer accepts; run reads the sizes. */
  QI_TRY(gn_shape(n, 18, &in[0].shape, &in[1].shape, &in[2].shape, instance,
                  &j, ctx->err));
  if (j.plane == 0 || j.channels == 0) return QI_OK;
  j.units = (size_t)(in[0].shape.d[0] * j.groups);
  run_units(ctx, gn_task, &j, j.units,
            (double)(j.channels / j.groups) * (double)j.plane, &j.per_task);
  return QI_OK;
}

const qi_op_def qi_op_batch_norm = {.op_type = "BatchNormalization",
                                    .check = bn_check,
                                    .infer = bn_infer,
                                    .run = bn_run};
const qi_op_def qi_op_layer_norm = {
    .op_type = "LayerNormalization", .infer = ln_infer, .run = ln_run};
const qi_op_def qi_op_instance_norm = {
    .op_type = "InstanceNormalization", .infer = gn_infer, .run = gn_run};
const qi_op_def qi_op_group_norm = {
    .op_type = "GroupNormalization", .infer = gn_infer, .run = gn_run};
