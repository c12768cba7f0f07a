/*
 * ReduceSum/Mean/Max/Min/Prod/L1/L2/SumSquare/LogSum/LogSumExp, FP32.
 *
 * `axes` is an attribute before opset 13 (ReduceSum) or 18 (the others) and
 * an optional constant input after; an attribute is still accepted when the
 * input is absent. Empty axes reduce everything unless noop_with_empty_axes
 * is 1 (then the input is copied unchanged). Sums are accumulated in double.
 * A reduction over an empty set gives the identity of the operation (0 for
 * sums, 1 for the product, -inf for max, +inf for min, NaN for the mean).
 *
 * The input is seen as at most QI_MAX_RANK merged dims, each wholly kept or
 * wholly reduced (size-1 dims dropped, neighbours with the same role merged):
 *  - innermost reduced: every output element sums contiguous spans (sums,
 *    sums of squares and max on the row kernels of kernels/fp32/norm.h);
 *  - innermost kept: a row of outputs accumulates contiguous input rows, up
 *    to REDUCE_COLS columns at a time.
 */
#include <math.h>
#include <string.h>

#include "ops/norm_dispatch.h"
#include "ops/op.h"

#define REDUCE_COLS 64

typedef enum reduce_kind {
  RK_SUM, RK_MEAN, RK_MAX, RK_MIN, RK_PROD, RK_L1, RK_L2, RK_SUMSQ,
  RK_LOGSUM, RK_LOGSUMEXP
} reduce_kind;

/* What one accumulation pass does with each element x. */
typedef enum acc_kind {
  AK_SUM,  /* a += x */
  AK_ABS,  /* a += |x| */
  AK_SQ,   /* a += x * x */
  AK_PROD, /* a *= x */
  AK_MAX,  /* a = max(a, x), NaN sticks */
  AK_MIN,
  AK_EXP   /* a += exp(x - shift) */
} acc_kind;

typedef struct reduce_plan {
  int copy;              /* noop_with_empty_axes with empty axes */
  int nk, nr;            /* merged kept and reduced dims */
  int64_t kdim[QI_MAX_RANK], kstride[QI_MAX_RANK];
  int64_t rdim[QI_MAX_RANK], rstride[QI_MAX_RANK];
  int inner_reduced;     /* innermost merged dim is reduced (stride 1) */
  int64_t out_numel, red_numel;
  qi_shape out_shape;
} reduce_plan;

typedef struct reduce_job {
  const float *x;
  float *y;
  const reduce_plan *p;
  reduce_kind kind;
  qi_f32_norm_kernels k;
  size_t units, per_task;
} reduce_job;

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

static reduce_kind kind_of(const qi_node *n) {
  static const struct { const char *name; reduce_kind k; } names[] = {
      {"ReduceSum", RK_SUM},       {"ReduceMean", RK_MEAN},
      {"ReduceMax", RK_MAX},       {"ReduceMin", RK_MIN},
      {"ReduceProd", RK_PROD},     {"ReduceL1", RK_L1},
      {"ReduceL2", RK_L2},         {"ReduceSumSquare", RK_SUMSQ},
      {"ReduceLogSum", RK_LOGSUM}, {"ReduceLogSumExp", RK_LOGSUMEXP}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp(n->op_type, names[i].name) == 0) return names[i].k;
  return RK_SUM;
}

static acc_kind acc_of(reduce_kind k) {
  switch (k) {
    case RK_MAX: return AK_MAX;
    case RK_MIN: return AK_MIN;
    case RK_PROD: return AK_PROD;
    case RK_L1: return AK_ABS;
    case RK_L2: case RK_SUMSQ: return AK_SQ;
    case RK_LOGSUMEXP: return AK_EXP;
    default: return AK_SUM;
  }
}

static double acc_init(acc_kind k) {
  switch (k) {
    case AK_PROD: return 1.0;
    case AK_MAX: return -INFINITY;
    case AK_MIN: return INFINITY;
    default: return 0.0;
  }
}

/* a + sum of F(x[i]) for i < len, with four partial sums so that the adds
 * do not wait on each other. */
#define SUM4(F)                                                  \
  do {                                                           \
    double p0 = 0, p1 = 0, p2 = 0, p3 = 0;                       \
    int64_t i = 0;                                               \
    for (; i + 4 <= len; i += 4) {                               \
      p0 += F(x[i]); p1 += F(x[i + 1]);                          \
      p2 += F(x[i + 2]); p3 += F(x[i + 3]);                      \
    }                                                            \
    for (; i < len; i++) p0 += F(x[i]);                          \
    a += (p0 + p1) + (p2 + p3);                                  \
  } while (0)
#define F_ABS(v) fabs((double)(v))

/* a op= x[i] for i < len. */
static double acc_span(const qi_f32_norm_kernels *kn, acc_kind k, double a,
                       const float *x, int64_t len, double shift) {
  switch (k) {
    case AK_SUM: a += kn->sum_f64(x, (size_t)len); break;
    case AK_ABS: SUM4(F_ABS); break;
    case AK_SQ: a += kn->sqdev_sum_f64(x, (size_t)len, 0.0); break;
    case AK_PROD: for (int64_t i = 0; i < len; i++) a *= x[i]; break;
    case AK_MAX: {
      double m = kn->rowmax(x, (size_t)len); /* NaN if any x[i] is */
      if (m > a || m != m) a = m;
      break;
    }
    case AK_MIN:
      for (int64_t i = 0; i < len; i++)
        if (x[i] < a || x[i] != x[i]) a = x[i];
      break;
    case AK_EXP: for (int64_t i = 0; i < len; i++) a += exp(x[i] - shift); break;
  }
  return a;
}

/* a[c] op= x[c] for c < cw. */
static void acc_cols(acc_kind k, double *a, const float *x, int64_t cw,
                     const double *shift) {
  switch (k) {
    case AK_SUM: for (int64_t c = 0; c < cw; c++) a[c] += x[c]; break;
    case AK_ABS: for (int64_t c = 0; c < cw; c++) a[c] += fabs((double)x[c]); break;
    case AK_SQ: for (int64_t c = 0; c < cw; c++) a[c] += (double)x[c] * x[c]; break;
    case AK_PROD: for (int64_t c = 0; c < cw; c++) a[c] *= x[c]; break;
    case AK_MAX:
      for (int64_t c = 0; c < cw; c++)
        if (x[c] > a[c] || x[c] != x[c]) a[c] = x[c];
      break;
    case AK_MIN:
      for (int64_t c = 0; c < cw; c++)
        if (x[c] < a[c] || x[c] != x[c]) a[c] = x[c];
      break;
    case AK_EXP: for (int64_t c = 0; c < cw; c++) a[c] += exp(x[c] - shift[c]); break;
  }
}

/* `a` is the accumulator of acc_of(kind); `m` the max (LogSumExp only). */
static float reduce_final(reduce_kind k, double a, double m, int64_t count) {
  switch (k) {
    case RK_MEAN: return (float)(a / (double)count);
    case RK_L2: return (float)sqrt(a);
    case RK_LOGSUM: return (float)log(a);
    case RK_LOGSUMEXP: return isinf(m) || count == 0 ? (float)m : (float)(m + log(a));
    default: return (float)a;
  }
}

/* Steps a multi-index over dims[0..n) (last fastest); returns the change of
 * the input offset. */
static int64_t odometer_step(int n, const int64_t *dims, const int64_t *strides,
                             int64_t *idx) {
  int64_t delta = 0;
  for (int i = n - 1; i >= 0; i--) {
    delta += strides[i];
    if (++idx[i] < dims[i]) return delta;
    delta -= strides[i] * dims[i];
    idx[i] = 0;
  }
  return delta;
}

/* Input offset of the kept multi-index encoded by `lin` over kdim[0..nk). */
static int64_t kept_offset(const reduce_plan *p, int nk, int64_t lin) {
  int64_t off = 0;
  for (int i = nk - 1; i >= 0; i--) {
    off += (lin % p->kdim[i]) * p->kstride[i];
    lin /= p->kdim[i];
  }
  return off;
}

/* One pass over all reduced elements of one output (innermost reduced). */
static double span_pass(const qi_f32_norm_kernels *kn, const reduce_plan *p,
                        acc_kind k, const float *x, double shift) {
  int nouter = p->nr - 1;
  int64_t inner = p->rdim[nouter], cnt = p->red_numel / inner;
  int64_t idx[QI_MAX_RANK] = {0}, off = 0;
  double a = acc_init(k);
  for (int64_t r = 0; r < cnt; r++) {
    a = acc_span(kn, k, a, x + off, inner, shift);
    off += odometer_step(nouter, p->rdim, p->rstride, idx);
  }
  return a;
}

/* One pass for columns [0, cw) of one output row (innermost kept). */
static void cols_pass(const reduce_plan *p, acc_kind k, const float *x,
                      int64_t cw, double *a, const double *shift) {
  int64_t idx[QI_MAX_RANK] = {0}, off = 0;
  for (int64_t c = 0; c < cw; c++) a[c] = acc_init(k);
  for (int64_t r = 0; r < p->red_numel; r++) {
    acc_cols(k, a, x + off, cw, shift);
    off += odometer_step(p->nr, p->rdim, p->rstride, idx);
  }
}

static void reduce_task(void *arg, size_t task, int thread) {
  (void)thread;
  const reduce_job *j = arg;
  const reduce_plan *p = j->p;
  acc_kind k = acc_of(j->kind);
  size_t u0 = task * j->per_task, u1 = u0 + j->per_task;
  if (u1 > j->units) u1 = j->units;
  if (p->inner_reduced) {
    for (size_t o = u0; o < u1; o++) {
      const float *x = j->x + kept_offset(p, p->nk, (int64_t)o);
      double m = 0.0;
      if (k == AK_EXP) m = span_pass(&j->k, p, AK_MAX, x, 0.0);
      double a = span_pass(&j->k, p, k, x, m);
      j->y[o] = reduce_final(j->kind, a, m, p->red_numel);
    }
    return;
  }
  int64_t row_len = p->kdim[p->nk - 1];
  int64_t nchunks = (row_len + REDUCE_COLS - 1) / REDUCE_COLS;
  for (size_t u = u0; u < u1; u++) {
    int64_t row = (int64_t)u / nchunks, c0 = ((int64_t)u % nchunks) * REDUCE_COLS;
    int64_t cw = row_len - c0 < REDUCE_COLS ? row_len - c0 : REDUCE_COLS;
    const float *x = j->x + kept_offset(p, p->nk - 1, row) + c0;
    double a[REDUCE_COLS], m[REDUCE_COLS] = {0};
    if (k == AK_EXP) cols_pass(p, AK_MAX, x, cw, m, m);
    cols_pass(p, k, x, cw, a, m);
    float *y = j->y + row * row_len + c0;
    for (int64_t c = 0; c < cw; c++)
      y[c] = reduce_final(j->kind, a[c], m[c], p->red_numel);
  }
}

/* Axes from the constant input 1 (run: its buffer) or the attribute. */
static qi_status reduce_axes(const qi_graph *g, const qi_node *n,
                             const qi_buf *axes_buf, int64_t *axes, int *naxes,
                             qi_error *err) {
  *naxes = 0;
  if (n->nin >= 2 && n->in[1] >= 0) {
    int cnt = -1;
    if (g) {
      cnt = qi_in_const_i64(g, n, 1, axes, QI_MAX_RANK);
    } else if (axes_buf && axes_buf->data) {
      int64_t num = qi_shape_numel(&axes_buf->shape);
      if (num >= 0 && num <= QI_MAX_RANK &&
          (axes_buf->dtype == QI_INT64 || axes_buf->dtype == QI_INT32)) {
        for (int64_t i = 0; i < num; i++)
          axes[i] = axes_buf->dtype == QI_INT64
                        ? ((const int64_t *)axes_buf->data)[i]
                        : ((const int32_t *)axes_buf->data)[i];
        cnt = (int)num;
      }
    }
    if (cnt < 0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): axes input must be a constant int64 "
                     "tensor of at most %d values",
                     n->name, n->op_type, QI_MAX_RANK);
    *naxes = cnt;
    return QI_OK;
  }
  const int64_t *v;
  int cnt = qi_attr_ints(n, "axes", &v);
  if (cnt > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): %d axes for rank <= %d",
                   n->name, n->op_type, cnt, QI_MAX_RANK);
  for (int i = 0; i < cnt; i++) axes[i] = v[i];
  *naxes = cnt > 0 ? cnt : 0;
  return QI_OK;
}

static qi_status reduce_plan_make(const qi_node *n, const qi_shape *s,
                                  const int64_t *axes, int naxes,
                                  reduce_plan *p, qi_error *err) {
  memset(p, 0, sizeof *p);
  int r = s->rank;
  if (r < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input rank unknown",
                   n->name, n->op_type);
  int red[QI_MAX_RANK] = {0};
  for (int i = 0; i < naxes; i++) {
    int a = r > 0 ? qi_norm_axis(axes[i], r) : -1;
    if (a < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): axis %lld out of range for rank %d",
                     n->name, n->op_type, (long long)axes[i], r);
    if (red[a])
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): axis %lld repeated",
                     n->name, n->op_type, (long long)axes[i]);
    red[a] = 1;
  }
  int keepdims = qi_attr_int(n, "keepdims", 1) != 0;
  if (naxes == 0) {
    if (qi_attr_int(n, "noop_with_empty_axes", 0) != 0) {
      p->copy = 1;
      p->out_shape = *s;
      p->out_numel = qi_shape_numel(s);
      return QI_OK;
    }
    for (int i = 0; i < r; i++) red[i] = 1;
  }
  p->out_shape.rank = 0;
  p->out_numel = 1;
  p->red_numel = 1;
  for (int i = 0; i < r; i++) {
    if (s->d[i] < 0)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): dim %d unknown",
                     n->name, n->op_type, i);
    if (!red[i] || keepdims)
      p->out_shape.d[p->out_shape.rank++] = red[i] ? 1 : s->d[i];
    if (red[i])
      p->red_numel *= s->d[i];
    else
      p->out_numel *= s->d[i];
  }
  /* Merge dims, innermost first, skipping size-1 dims. */
  int64_t stride = 1;
  int last = -1; /* role of the merged dim built last: 0 kept, 1 reduced */
  int64_t kd[QI_MAX_RANK], ks[QI_MAX_RANK], rd[QI_MAX_RANK], rs[QI_MAX_RANK];
  int nk = 0, nr = 0;
  for (int i = r - 1; i >= 0; i--) {
    int64_t d = s->d[i];
    if (d == 1) continue;
    if (red[i] == last) {
      if (red[i]) rd[nr - 1] *= d; else kd[nk - 1] *= d;
    } else if (red[i]) {
      rd[nr] = d; rs[nr++] = stride;
    } else {
      kd[nk] = d; ks[nk++] = stride;
    }
    if (last < 0) p->inner_reduced = red[i];
    last = red[i];
    stride *= d;
  }
  if (last < 0 || !p->inner_reduced) {
    /* innermost kept, or no dims left: make sure a kept dim exists */
    if (nk == 0) { kd[0] = 1; ks[0] = 1; nk = 1; }
    p->inner_reduced = 0;
  }
  /* Store outermost first. */
  for (int i = 0; i < nk; i++) {
    p->kdim[i] = kd[nk - 1 - i];
    p->kstride[i] = ks[nk - 1 - i];
  }
  for (int i = 0; i < nr; i++) {
    p->rdim[i] = rd[nr - 1 - i];
    p->rstride[i] = rs[nr - 1 - i];
  }
  p->nk = nk;
  p->nr = nr;
  return QI_OK;
}

static qi_status reduce_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 2, err));
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): output 0 is missing",
                   n->name, n->op_type);
  if (qi_in_dtype(g, n, 0) != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input type %s, only float32 is supported",
                   n->name, n->op_type, qi_dtype_name(qi_in_dtype(g, n, 0)));
  if (numel_safe(qi_in_shape(g, n, 0)) < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input shape unknown or too large", n->name,
                   n->op_type);
  int64_t axes[QI_MAX_RANK];
  int naxes;
  QI_TRY(reduce_axes(g, n, NULL, axes, &naxes, err));
  reduce_plan p;
  QI_TRY(reduce_plan_make(n, qi_in_shape(g, n, 0), axes, naxes, &p, err));
  qi_set_output(g, n, 0, QI_FLOAT32, &p.out_shape);
  return QI_OK;
}

static qi_status reduce_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  if (in[0].dtype != QI_FLOAT32 || out[0].dtype != QI_FLOAT32)
    return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only float32 is supported", n->name,
                   n->op_type);
  int64_t axes[QI_MAX_RANK];
  int naxes;
  QI_TRY(reduce_axes(NULL, n, n->nin >= 2 ? &in[1] : NULL, axes, &naxes,
                     ctx->err));
  reduce_plan p;
  QI_TRY(reduce_plan_make(n, &in[0].shape, axes, naxes, &p, ctx->err));
  if (p.out_numel <= 0) return QI_OK;
  if (p.copy) {
    if (out[0].data != in[0].data)
      memcpy(out[0].data, in[0].data, (size_t)p.out_numel * sizeof(float));
    return QI_OK;
  }
  reduce_job j = {.x = in[0].data, .y = out[0].data, .p = &p,
                  .kind = kind_of(n), .k = qi_f32_norm_kernels_get()};
  if (p.red_numel == 0) {
    float v = reduce_final(j.kind, acc_init(acc_of(j.kind)),
                           acc_init(AK_MAX), 0);
    for (int64_t o = 0; o < p.out_numel; o++) j.y[o] = v;
    return QI_OK;
  }
  if (p.inner_reduced) {
    j.units = (size_t)p.out_numel;
  } else {
    int64_t row_len = p.kdim[p.nk - 1];
    j.units = (size_t)(p.out_numel / row_len *
                       ((row_len + REDUCE_COLS - 1) / REDUCE_COLS));
  }
  size_t want = ctx->nthreads > 1 ? (size_t)ctx->nthreads * 4 : 1;
  j.per_task = j.units < want ? 1 : (j.units + want - 1) / want;
  qi_pool_run(ctx->pool, reduce_task, &j,
              (j.units + j.per_task - 1) / j.per_task);
  return QI_OK;
}

#define REDUCE_OP(sym, name)                                           \
  const qi_op_def sym = {.op_type = name, .infer = reduce_infer,      \
                         .run = reduce_run, .foldable = 1}

REDUCE_OP(qi_op_reduce_sum, "ReduceSum");
REDUCE_OP(qi_op_reduce_mean, "ReduceMean");
REDUCE_OP(qi_op_reduce_max, "ReduceMax");
REDUCE_OP(qi_op_reduce_min, "ReduceMin");
REDUCE_OP(qi_op_reduce_prod, "ReduceProd");
REDUCE_OP(qi_op_reduce_l1, "ReduceL1");
REDUCE_OP(qi_op_reduce_l2, "ReduceL2");
REDUCE_OP(qi_op_reduce_sum_square, "ReduceSumSquare");
REDUCE_OP(qi_op_reduce_log_sum, "ReduceLogSum");
REDUCE_OP(qi_op_reduce_log_sum_exp, "ReduceLogSumExp");
