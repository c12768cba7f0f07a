/*
 * The INT8 attention ops of the lowered graph (lib/quant/README.md) over
 * the kernels of core/qattn_dispatch.h:
 *
 * QiQMatMulAct  a u8 [..., M, K], b u8 [..., K, N] (trans_b = 0) or
 *               [..., N, K] (trans_b = 1); attrs trans_b, qmin, qmax,
 *               out_f32. y [..., M, N] = sum_k (a - za)(b - zb), then
 *               uint8 with mult = sa*sb/sy, or float acc * sa*sb. The
 *               leading (batch) dims of a and b are equal, or all 1 on one
 *               side (that operand is shared by every batch).
 * QiQSoftmax    x u8 [..., N]; attrs out_f32, qmin, qmax. Softmax over the
 *               last dim: exponentials from a 256-entry table made at
 *               prepare from the input scale, uint8 output on the output
 *               tensor's grid (lowering gives it 1/256, 0) or float.
 * QiQLayerNorm  x u8 [..., N], scale f32 const [N], B f32 const [N]
 *               (optional); attrs epsilon (default 1e-5), out_f32, qmin,
 *               qmax, axis (default -1). Normalizes over the last dim with
 *               exact integer statistics; scale and B are divided by the
 *               output scale at prepare (double, rounded once) for uint8
 *               output. axis = 1 at rank 4 (uint8 output only) normalizes
 *               over the channels C of FP32 [B, C, H, W], the contiguous
 *               last dim of the NHWC twin: ConvNeXt's channels-last
 *               LayerNorm once lib/quant/lower_chlast.c drops its
 *               Transposes.
 *
 * Quantization comes from the graph's tensors at prepare, never from
 * attributes. The kernels' arithmetic is written down in
 * kernels/qattn/qattn.h and kernels/qnorm/qnorm.h.
 *
 * Layout. Shapes above are the FP32 ones. A rank-4 uint8 tensor of the
 * INT8 graph is stored NHWC: FP32 [B, C, H, W] as [B, H, W, C], so the
 * heads (C) are innermost and a row of the last FP32 axis (W) is strided
 * by C. At rank 4 the ops take and give that layout (float outputs are
 * NCHW, the FP32 layout, as QiQMatMul's): MatMul gathers each head's two
 * matrices into scratch, multiplies, and scatters the uint8 result back
 * (a float result lands in NCHW directly); the row ops transpose each
 * [W][C] pixel row into C contiguous rows and back. Other ranks keep the
 * FP32 layout and run in place.
 *
 * Threads: MatMul splits (batch, block of rows) units, each task packing B
 * once per batch it touches into its own scratch slice (rank 4: one head
 * per unit); Softmax and LayerNorm split rows (rank 4: pixel rows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/qattn_dispatch.h"
#include "ops/op.h"

/* Element count bound: shapes come from model files. */
#define ATTN_MAX_NUMEL ((int64_t)1 << 46)
/* Work (multiply-adds or elements) one task should cover at least; at
 * most ATTN_TASKS_PER_THREAD tasks per thread. */
#define ATTN_TASK_WORK 32768.0
#define ATTN_TASKS_PER_THREAD 4
/* Rows of a MatMul unit: B is packed once per call, so a unit must carry
 * enough rows to pay for it (a multiple of the kernel's 4-row tile). */
#define ATTN_MM_ROWS 64

/* ---- shared helpers ---------------------------------------------------- */

typedef struct attn_quant {
  double scale;
  int32_t zero;
} attn_quant;

static int64_t attn_numel(const qi_shape *s) {
  if (!s || s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n) ||
        n > ATTN_MAX_NUMEL)
      return -1;
  return n;
}

static qi_status nomem(const qi_node *n, qi_error *err) {
  return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory", n->name,
                 n->op_type);
}

/* Input k of n: present, of dtype `want`, of known bounded shape. */
static qi_status attn_input(const qi_graph *g, const qi_node *n, int k,
                            qi_dtype want, const char *what, qi_error *err) {
  if (k >= n->nin || n->in[k] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): input %s is missing",
                   n->name, n->op_type, what);
  const qi_tensor *t = &g->tensors[n->in[k]];
  if (t->dtype != want)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input %s '%s' is %s, %s expected", n->name,
                   n->op_type, what, t->name, qi_dtype_name(t->dtype),
                   qi_dtype_name(want));
  if (attn_numel(&t->shape) < 0 || t->shape.rank < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input %s '%s' has an unknown, empty-rank "
                   "or too large shape",
                   n->name, n->op_type, what, t->name);
  return QI_OK;
}

/* The per-tensor uint8 quantization of tensor t (role `what` of n). */
static qi_status attn_tensor_quant(const qi_graph *g, const qi_node *n, int t,
                                   const char *what, attn_quant *q,
                                   qi_error *err) {
  const qi_tensor *x = &g->tensors[t];
  const qi_quant *qq = &x->quant;
  if (!qq->has || qq->axis >= 0 || !isfinite(qq->scale) ||
      !(qq->scale > 0.0f) || qq->zero_point < 0 || qq->zero_point > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "node '%s' (%s): %s '%s' needs a per-tensor uint8 "
                   "quantization (finite scale > 0, zero point 0..255)",
                   n->name, n->op_type, what, x->name);
  q->scale = qq->scale;
  q->zero = qq->zero_point;
  return QI_OK;
}

/* INT attribute `name` in [lo, hi] (default def). */
static qi_status attn_int_attr(const qi_node *n, const char *name, int64_t def,
                               int64_t lo, int64_t hi, int64_t *v,
                               qi_error *err) {
  const qi_attr *a = qi_attr_find(n, name);
  *v = def;
  if (!a) return QI_OK;
  if (a->type != QI_ATTR_INT || a->i < lo || a->i > hi)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): attribute %s must be an int in "
                   "[%lld, %lld]",
                   n->name, n->op_type, name, (long long)lo, (long long)hi);
  *v = a->i;
  return QI_OK;
}

/* One output, and the attributes every op here has: qmin, qmax,
 * out_f32. */
static qi_status attn_common_check(const qi_node *n, int nin_min, int nin_max,
                                   int32_t *qmin, int32_t *qmax, int *out_f32,
                                   qi_error *err) {
  QI_TRY(qi_check_inputs(n, nin_min, nin_max, err));
  if (n->nout != 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): needs one output",
                   n->name, n->op_type);
  int64_t lo, hi, f;
  QI_TRY(attn_int_attr(n, "qmin", 0, 0, 255, &lo, err));
  QI_TRY(attn_int_attr(n, "qmax", 255, 0, 255, &hi, err));
  if (lo > hi)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): qmin %lld > qmax %lld",
                   n->name, n->op_type, (long long)lo, (long long)hi);
  QI_TRY(attn_int_attr(n, "out_f32", 0, 0, 1, &f, err));
  *qmin = (int32_t)lo;
  *qmax = (int32_t)hi;
  *out_f32 = (int)f;
  return QI_OK;
}

static const qi_qattn_config *attn_config(void) {
  const qi_qattn_config *cfg = NULL;
  /* A bad QINFER_ISA leaves the CPU's best config in cfg: run it. */
  (void)qi_qattn_config_default(&cfg, NULL);
  return cfg;
}

/* Tasks for `units` units of `work` each (see ATTN_TASK_WORK). */
static size_t attn_split(size_t units, double work, int nthreads,
                         size_t *per_task) {
  if (units == 0) {
    *per_task = 1;
    return 0;
  }
  double want = nthreads > 1 ? (double)units * work / ATTN_TASK_WORK : 1.0;
  double cap = (double)nthreads * ATTN_TASKS_PER_THREAD;
  if (want > cap) want = cap;
  size_t ntasks = want < 1.0 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

/* Run-time check of buffer b against the prepared dtype and count. */
static qi_status attn_run_buf(const qi_run_ctx *ctx, const qi_node *n,
                              const qi_buf *b, qi_dtype dt, int64_t numel,
                              const char *what) {
  if (b->dtype != dt || attn_numel(&b->shape) != numel ||
      (numel > 0 && !b->data))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): %s is not the %s buffer of %lld elements "
                   "prepared for",
                   n->name, n->op_type, what, qi_dtype_name(dt),
                   (long long)numel);
  return QI_OK;
}

static void attn_free_state(void *state) { free(state); }

/* Rank-4 shapes: stored NHWC [B, H, W, C] <-> FP32 NCHW [B, C, H, W]. */
static qi_shape nhwc_to_nchw(const qi_shape *s) {
  qi_shape r = *s;
  r.d[1] = s->d[3];
  r.d[2] = s->d[1];
  r.d[3] = s->d[2];
  return r;
}
static qi_shape nchw_to_nhwc(const qi_shape *s) {
  qi_shape r = *s;
  r.d[1] = s->d[2];
  r.d[2] = s->d[3];
  r.d[3] = s->d[1];
  return r;
}

/* dst[r][q] = src[(r * nq + q) * nc + c]: channel c of an NHWC block of
 * nr x nq pixels, gathered into a contiguous matrix. */
static void gather_channel(const uint8_t *src, size_t nr, size_t nq, size_t nc,
                           size_t c, uint8_t *dst) {
  const uint8_t *p = src + c;
  for (size_t i = 0; i < nr * nq; i++, p += nc) dst[i] = *p;
}

/* The reverse: dst[(r * nq + q) * nc + c] = src[r][q]. */
static void scatter_channel(const uint8_t *src, size_t nr, size_t nq, size_t nc,
                            size_t c, uint8_t *dst) {
  uint8_t *p = dst + c;
  for (size_t i = 0; i < nr * nq; i++, p += nc) *p = src[i];
}

/* ---- QiQMatMulAct ------------------------------------------------------ */

typedef struct qmma_dims {
  qi_shape out; /* as stored (rank 4 uint8: NHWC) */
  int64_t batch, m, n, k;
  int a_shared, b_shared; /* one matrix for every batch */
  int nhwc;               /* rank 4: inputs NHWC */
  int64_t heads;          /* rank 4: C of the output (batch = B * heads) */
} qmma_dims;

typedef struct qmma_state {
  qmma_dims d;
  int trans_b;
  qi_u8u8_matmul_fn fn;
  qi_u8u8_matmul_params p;
  size_t ws_kernel; /* the kernel's workspace, 64-byte multiple */
  size_t ws_slice;  /* scratch bytes per thread (rank 4: + gathers) */
} qmma_state;

static qi_status qmma_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  int f;
  int64_t t;
  QI_TRY(attn_common_check(n, 2, 2, &qmin, &qmax, &f, err));
  return attn_int_attr(n, "trans_b", 0, 0, 1, &t, err);
}

/* Sizes from the stored shapes sa, sb (rank 4: NHWC, read as the FP32
 * NCHW shapes they stand for). */
static qi_status qmma_dims_of(const qi_node *n, const qi_shape *sa_,
                              const qi_shape *sb_, int trans_b, int out_f32,
                              qmma_dims *d, qi_error *err) {
  char sa[96], sb[96];
  int r = sa_->rank;
  memset(d, 0, sizeof *d);
  d->nhwc = r == 4 && sb_->rank == 4;
  qi_shape la = d->nhwc ? nhwc_to_nchw(sa_) : *sa_;
  qi_shape lb = d->nhwc ? nhwc_to_nchw(sb_) : *sb_;
  const qi_shape *a = &la, *b = &lb;
  if (r < 2 || b->rank != r) goto bad;
  d->m = a->d[r - 2];
  d->k = a->d[r - 1];
  d->n = trans_b ? b->d[r - 2] : b->d[r - 1];
  if ((trans_b ? b->d[r - 1] : b->d[r - 2]) != d->k) goto bad;
  int64_t ba = 1, bb = 1;
  for (int i = 0; i + 2 < r; i++) {
    ba *= a->d[i];
    bb *= b->d[i];
  }
  d->a_shared = ba == 1;
  d->b_shared = bb == 1;
  for (int i = 0; i + 2 < r && !d->a_shared && !d->b_shared; i++)
    if (a->d[i] != b->d[i]) goto bad;
  d->out = d->a_shared ? *b : *a;
  d->out.d[r - 2] = d->m;
  d->out.d[r - 1] = d->n;
  d->batch = ba > bb ? ba : bb;
  if (d->nhwc) {
    d->heads = d->out.d[1];
    if (!out_f32) d->out = nchw_to_nhwc(&d->out);
  }
  if (attn_numel(&d->out) < 0) /* M x N beyond the element bound */
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): the output of %s x %s is too large",
                   n->name, n->op_type, qi_shape_str(sa_, sa, sizeof sa),
                   qi_shape_str(sb_, sb, sizeof sb));
  if (d->k < 1 || d->k > QI_U8U8_MATMUL_MAX_K)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): K = %lld is outside 1..%d (the int32 sum "
                   "must be exact)",
                   n->name, n->op_type, (long long)d->k, QI_U8U8_MATMUL_MAX_K);
  return QI_OK;
bad:
  return qi_fail(err, QI_ERR_SHAPE,
                 "node '%s' (%s): %s and %s (trans_b %d) do not multiply: "
                 "equal ranks >= 2, matching K, and equal batch dims or all "
                 "1 on one side are needed (rank 4 is read as NHWC)",
                 n->name, n->op_type, qi_shape_str(sa_, sa, sizeof sa),
                 qi_shape_str(sb_, sb, sizeof sb), trans_b);
}

static qi_status qmma_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qmma_check(g, n, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "a", err));
  QI_TRY(attn_input(g, n, 1, QI_UINT8, "b", err));
  qmma_dims d;
  int trans_b = qi_attr_int(n, "trans_b", 0) != 0;
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0;
  QI_TRY(qmma_dims_of(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), trans_b,
                      out_f32, &d, err));
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &d.out);
  return QI_OK;
}

static qi_status qmma_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  int out_f32;
  QI_TRY(attn_common_check(n, 2, 2, &qmin, &qmax, &out_f32, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "a", err));
  QI_TRY(attn_input(g, n, 1, QI_UINT8, "b", err));
  qmma_state s;
  memset(&s, 0, sizeof s);
  s.trans_b = qi_attr_int(n, "trans_b", 0) != 0;
  QI_TRY(qmma_dims_of(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), s.trans_b,
                      out_f32, &s.d, err));
  attn_quant qa, qb, qy = {0.0, 0};
  QI_TRY(attn_tensor_quant(g, n, n->in[0], "input a", &qa, err));
  QI_TRY(attn_tensor_quant(g, n, n->in[1], "input b", &qb, err));
  if (out_f32) {
    s.p = qi_u8u8_matmul_params_make_f32(qa.scale, qa.zero, qb.scale, qb.zero);
  } else {
    QI_TRY(attn_tensor_quant(g, n, n->out[0], "output", &qy, err));
    s.p = qi_u8u8_matmul_params_make(qa.scale, qa.zero, qb.scale, qb.zero,
                                     qy.scale, qy.zero, qmin, qmax);
  }
  if (!isfinite(s.p.mult) || !(s.p.mult > 0.0f))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): multiplier sa*sb%s = %g is not a finite "
                   "float > 0",
                   n->name, n->op_type, out_f32 ? "" : "/sy", (double)s.p.mult);
  s.fn = attn_config()->matmul;
  s.ws_kernel =
      (qi_u8u8_matmul_workspace_size((size_t)s.d.n, (size_t)s.d.k) + 63) &
      ~(size_t)63;
  s.ws_slice = s.ws_kernel;
  if (s.d.nhwc) { /* one head's a, b and uint8 result, gathered */
    size_t m = (size_t)s.d.m, k = (size_t)s.d.k, nn = (size_t)s.d.n;
    s.ws_slice += ((m * k + 63) & ~(size_t)63) + ((k * nn + 63) & ~(size_t)63) +
                  ((m * nn + 63) & ~(size_t)63);
  }
  qmma_state *st = malloc(sizeof *st);
  if (!st) return nomem(n, err);
  *st = s;
  attn_free_state(n->state);
  n->state = st;
  return QI_OK;
}

static size_t qmma_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  (void)g;
  const qmma_state *s = n->state;
  return s ? s->ws_slice * (size_t)(nthreads > 0 ? nthreads : 1) : 0;
}

typedef struct qmma_job {
  const qmma_state *s;
  const uint8_t *a, *b;
  unsigned char *y;
  unsigned char *scratch;
  size_t chunks; /* row blocks per batch */
  size_t units, per_task;
} qmma_job;

/* Rank 4: head bi (= b * heads + c) of NHWC inputs, gathered into
 * scratch; the uint8 result scattered back to NHWC, a float one written to
 * its NCHW place. */
static void qmma_head(const qmma_job *j, size_t bi, unsigned char *ws) {
  const qmma_state *s = j->s;
  const qmma_dims *d = &s->d;
  const size_t m = (size_t)d->m, n = (size_t)d->n, k = (size_t)d->k;
  const size_t hc = (size_t)d->heads, b = bi / hc, c = bi % hc;
  uint8_t *ta = ws + s->ws_kernel;
  uint8_t *tb = ta + ((m * k + 63) & ~(size_t)63);
  uint8_t *tc = tb + ((k * n + 63) & ~(size_t)63);
  /* A shared operand is [1, rows, cols, 1]: head 0 of image 0. */
  if (d->a_shared)
    gather_channel(j->a, m, k, 1, 0, ta);
  else
    gather_channel(j->a + b * m * k * hc, m, k, hc, c, ta);
  size_t br = s->trans_b ? n : k, bq = s->trans_b ? k : n;
  if (d->b_shared)
    gather_channel(j->b, br, bq, 1, 0, tb);
  else
    gather_channel(j->b + b * k * n * hc, br, bq, hc, c, tb);
  if (s->p.out_f32) {
    s->fn(m, n, k, ta, k, tb, bq, s->trans_b, j->y + bi * m * n * sizeof(float),
          n, &s->p, ws);
    return;
  }
  s->fn(m, n, k, ta, k, tb, bq, s->trans_b, tc, n, &s->p, ws);
  scatter_channel(tc, m, n, hc, c, j->y + b * m * n * hc);
}

static void qmma_task(void *arg, size_t task, int thread) {
  const qmma_job *j = arg;
  const qmma_state *s = j->s;
  const qmma_dims *d = &s->d;
  const size_t m = (size_t)d->m, n = (size_t)d->n, k = (size_t)d->k;
  const size_t es = s->p.out_f32 ? sizeof(float) : 1;
  size_t u = task * j->per_task, u1 = u + j->per_task;
  if (u1 > j->units) u1 = j->units;
  void *ws = j->scratch + (size_t)thread * s->ws_slice;
  if (d->nhwc) {
    for (; u < u1; u++) qmma_head(j, u, ws);
    return;
  }
  while (u < u1) { /* consecutive units of one batch: one call */
    size_t bi = u / j->chunks, c0 = u % j->chunks;
    size_t c1 = c0 + (u1 - u) < j->chunks ? c0 + (u1 - u) : j->chunks;
    size_t r0 = c0 * ATTN_MM_ROWS, r1 = c1 * ATTN_MM_ROWS;
    if (r1 > m) r1 = m;
    const uint8_t *a = j->a + (d->a_shared ? 0 : bi * m * k) + r0 * k;
    const uint8_t *b = j->b + (d->b_shared ? 0 : bi * k * n);
    unsigned char *y = j->y + (bi * m + r0) * n * es;
    s->fn(r1 - r0, n, k, a, k, b, s->trans_b ? k : n, s->trans_b, y, n, &s->p,
          ws);
    u += c1 - c0;
  }
}

static qi_status qmma_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  const qmma_state *s = n->state;
  if (!s)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run before prepare", n->name, n->op_type);
  const qmma_dims *d = &s->d;
  int64_t na = (d->a_shared ? 1 : d->batch) * d->m * d->k;
  int64_t nb = (d->b_shared ? 1 : d->batch) * d->k * d->n;
  QI_TRY(attn_run_buf(ctx, n, &in[0], QI_UINT8, na, "input a"));
  QI_TRY(attn_run_buf(ctx, n, &in[1], QI_UINT8, nb, "input b"));
  QI_TRY(attn_run_buf(ctx, n, &out[0], s->p.out_f32 ? QI_FLOAT32 : QI_UINT8,
                      d->batch * d->m * d->n, "output"));
  int nthreads = qi_pool_size(ctx->pool);
  size_t need = s->ws_slice * (size_t)nthreads;
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): scratch of %zu bytes given, %zu needed",
                   n->name, n->op_type, ctx->scratch_bytes, need);
  if (d->batch == 0 || d->m == 0 || d->n == 0) return QI_OK;
  qmma_job j = {.s = s,
                .a = in[0].data,
                .b = in[1].data,
                .y = out[0].data,
                .scratch = ctx->scratch};
  j.chunks = d->nhwc ? 1 : ((size_t)d->m + ATTN_MM_ROWS - 1) / ATTN_MM_ROWS;
  j.units = (size_t)d->batch * j.chunks;
  double rows = d->nhwc ? (double)d->m : (double)ATTN_MM_ROWS;
  double work = rows * (double)d->n * (double)d->k;
  size_t ntasks = attn_split(j.units, work, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, qmma_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_qmatmul_act = {.op_type = "QiQMatMulAct",
                                     .check = qmma_check,
                                     .infer = qmma_infer,
                                     .prepare = qmma_prepare,
                                     .free_state = attn_free_state,
                                     .scratch_bytes = qmma_scratch_bytes,
                                     .run = qmma_run,
                                     .foldable = 0};

/* ---- QiQSoftmax and QiQLayerNorm: rows of the last dim ---------------- */

/* Where the rows of the last FP32 axis lie. */
typedef struct rows_geom {
  int64_t rows, n; /* rows of n elements */
  int nhwc;        /* rank 4: stored [B, H, W, C], rows along W */
  int64_t c;       /* rank 4: C */
  int64_t h;       /* rank 4: H */
} rows_geom;

/* chan: rank 4 normalized over FP32 axis 1 (C), the twin's contiguous
 * last dim: plain rows, as at other ranks. */
static void rows_geom_of(const qi_shape *x, int chan, rows_geom *r) {
  memset(r, 0, sizeof *r);
  r->nhwc = x->rank == 4 && !chan;
  r->n = r->nhwc ? x->d[2] : x->d[x->rank - 1];
  int64_t total = attn_numel(x);
  r->rows = r->n > 0 ? total / r->n : 0;
  if (r->nhwc) {
    r->c = x->d[3];
    r->h = x->d[1];
  }
}

/* The output shape: x's, or at rank 4 with float output the NCHW one. */
static qi_shape rows_out_shape(const qi_shape *x, int out_f32) {
  return x->rank == 4 && out_f32 ? nhwc_to_nchw(x) : *x;
}

/* Rank 4: scratch per thread for one pixel row, in and out. */
static size_t rows_slice(const rows_geom *r, int out_f32) {
  if (!r->nhwc) return 0;
  size_t px = (size_t)(r->n * r->c);
  return ((px + 63) & ~(size_t)63) +
         ((px * (out_f32 ? sizeof(float) : 1) + 63) & ~(size_t)63);
}

/* fn(state, rows, n, x, y): the op's kernel on contiguous rows. */
typedef void (*rows_fn)(const void *s, size_t rows, size_t n, const uint8_t *x,
                        void *y);

/* The first member of both row ops' states: what running them needs. */
typedef struct rows_head {
  rows_geom geo;
  int out_f32;
  rows_fn rows;
} rows_head;

/* Row-wise ops share their job: rows of n elements of x into y. */
typedef struct rows_job {
  const void *s; /* the op's state */
  const uint8_t *x;
  unsigned char *y;
  rows_geom geo;
  size_t esize;
  rows_fn rows;
  unsigned char *scratch;
  size_t slice;
  size_t units, per_task; /* rows, or rank 4 pixel rows (b, h) */
} rows_job;

/* Rank 4, pixel row u = b * H + h: its [W][C] block transposed to C
 * rows of W, the op, and back to NHWC (uint8) or to the C rows
 * (b, c, h) of the NCHW float output. */
static void rows_pixel_row(const rows_job *j, size_t u, unsigned char *ws) {
  const size_t n = (size_t)j->geo.n, c = (size_t)j->geo.c;
  const size_t h = (size_t)j->geo.h, b = u / h, hh = u % h;
  uint8_t *tx = ws;
  unsigned char *ty = ws + ((n * c + 63) & ~(size_t)63);
  const uint8_t *x = j->x + u * n * c;
  for (size_t ch = 0; ch < c; ch++) gather_channel(x, 1, n, c, ch, tx + ch * n);
  j->rows(j->s, c, n, tx, ty);
  if (j->esize == 1) {
    for (size_t ch = 0; ch < c; ch++)
      scatter_channel(ty + ch * n, 1, n, c, ch, j->y + u * n * c);
    return;
  }
  for (size_t ch = 0; ch < c; ch++)
    memcpy(j->y + ((b * c + ch) * h + hh) * n * j->esize,
           ty + ch * n * j->esize, n * j->esize);
}

static void rows_task(void *arg, size_t task, int thread) {
  const rows_job *j = arg;
  size_t r0 = task * j->per_task, r1 = r0 + j->per_task;
  if (r1 > j->units) r1 = j->units;
  if (r0 >= r1) return;
  if (j->geo.nhwc) {
    unsigned char *ws = j->scratch + (size_t)thread * j->slice;
    for (size_t u = r0; u < r1; u++) rows_pixel_row(j, u, ws);
    return;
  }
  size_t n = (size_t)j->geo.n;
  j->rows(j->s, r1 - r0, n, j->x + r0 * n, j->y + r0 * n * j->esize);
}

static size_t rows_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  (void)g;
  const rows_head *h = n->state;
  return h ? rows_slice(&h->geo, h->out_f32) *
                 (size_t)(nthreads > 0 ? nthreads : 1)
           : 0;
}

static qi_status rows_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  const rows_head *h = n->state;
  if (!h)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run before prepare", n->name, n->op_type);
  const rows_geom *geo = &h->geo;
  int out_f32 = h->out_f32;
  int64_t numel = geo->rows * geo->n;
  QI_TRY(attn_run_buf(ctx, n, &in[0], QI_UINT8, numel, "input"));
  QI_TRY(attn_run_buf(ctx, n, &out[0], out_f32 ? QI_FLOAT32 : QI_UINT8, numel,
                      "output"));
  int nthreads = qi_pool_size(ctx->pool);
  size_t slice = rows_slice(geo, out_f32), need = slice * (size_t)nthreads;
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): scratch of %zu bytes given, %zu needed",
                   n->name, n->op_type, ctx->scratch_bytes, need);
  if (numel == 0) return QI_OK;
  rows_job j = {.s = h,
                .x = in[0].data,
                .y = out[0].data,
                .geo = *geo,
                .esize = out_f32 ? sizeof(float) : 1,
                .rows = h->rows,
                .scratch = ctx->scratch,
                .slice = slice};
  j.units = (size_t)(geo->nhwc ? geo->rows / geo->c : geo->rows);
  double work = 4.0 * (double)geo->n * (double)(geo->nhwc ? geo->c : 1);
  size_t ntasks = attn_split(j.units, work, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, rows_task, &j, ntasks);
  return QI_OK;
}

/* ---- QiQSoftmax -------------------------------------------------------- */

typedef struct qsm_state {
  rows_head h;
  qi_u8_softmax_fn fn;
  qi_u8_softmax_params p; /* p.table points into this state */
  float table[256];
} qsm_state;

static void qsm_rows(const void *state, size_t rows, size_t n, const uint8_t *x,
                     void *y) {
  const qsm_state *s = state;
  s->fn(rows, n, x, y, &s->p);
}

static qi_status qsm_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  int f;
  return attn_common_check(n, 1, 1, &qmin, &qmax, &f, err);
}

/* The optional axis attribute must name the last dim. */
static qi_status qsm_axis(const qi_node *n, int rank, qi_error *err) {
  const qi_attr *a = qi_attr_find(n, "axis");
  if (a && (a->type != QI_ATTR_INT || qi_norm_axis(a->i, rank) != rank - 1))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only the last axis is supported", n->name,
                   n->op_type);
  return QI_OK;
}

static qi_status qsm_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qsm_check(g, n, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  QI_TRY(qsm_axis(n, x->rank, err));
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0;
  qi_shape y = rows_out_shape(x, out_f32);
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static qi_status qsm_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  int out_f32;
  QI_TRY(attn_common_check(n, 1, 1, &qmin, &qmax, &out_f32, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  QI_TRY(qsm_axis(n, x->rank, err));
  attn_quant qx, qy;
  QI_TRY(attn_tensor_quant(g, n, n->in[0], "input x", &qx, err));
  if (!out_f32) QI_TRY(attn_tensor_quant(g, n, n->out[0], "output", &qy, err));
  qsm_state *s = malloc(sizeof *s);
  if (!s) return nomem(n, err);
  qi_u8_softmax_table_make(qx.scale, s->table);
  s->p = out_f32 ? qi_u8_softmax_params_make_f32(s->table)
                 : qi_u8_softmax_params_make(s->table, qy.scale, qy.zero, qmin,
                                             qmax);
  s->fn = attn_config()->softmax;
  rows_geom_of(x, 0, &s->h.geo);
  s->h.out_f32 = out_f32;
  s->h.rows = qsm_rows;
  attn_free_state(n->state);
  n->state = s;
  return QI_OK;
}

const qi_op_def qi_op_qsoftmax = {.op_type = "QiQSoftmax",
                                  .check = qsm_check,
                                  .infer = qsm_infer,
                                  .prepare = qsm_prepare,
                                  .free_state = attn_free_state,
                                  .scratch_bytes = rows_scratch_bytes,
                                  .run = rows_run,
                                  .foldable = 0};

/* ---- QiQLayerNorm ------------------------------------------------------ */

typedef struct qln_state {
  rows_head h;
  qi_u8_layernorm_fn fn;
  qi_u8_layernorm_params p; /* p.g, p.b point at gb */
  float gb[];               /* g[n] then b[n], in output units */
} qln_state;

static void qln_rows(const void *state, size_t rows, size_t n, const uint8_t *x,
                     void *y) {
  const qln_state *s = state;
  s->fn(rows, n, x, y, &s->p);
}

static qi_status qln_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  int32_t qmin, qmax;
  int f;
  QI_TRY(attn_common_check(n, 2, 3, &qmin, &qmax, &f, err));
  const qi_attr *ax = qi_attr_find(n, "axis");
  if (ax && ax->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis must be an int", n->name,
                   n->op_type);
  const qi_attr *e = qi_attr_find(n, "epsilon");
  if (e && (e->type != QI_ATTR_FLOAT || !isfinite(e->f) || e->f < 0.0f))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): epsilon must be a finite float >= 0",
                   n->name, n->op_type);
  return QI_OK;
}

/* Scale (k = 1) or B (k = 2): a float32 input of len elements whose dims
 * other than the last are 1; its data if constant (else NULL). */
static qi_status qln_param(const qi_graph *g, const qi_node *n, int k,
                           int64_t len, const float **data, qi_error *err) {
  const char *what = k == 1 ? "scale" : "B";
  *data = NULL;
  QI_TRY(attn_input(g, n, k, QI_FLOAT32, what, err));
  const qi_tensor *t = &g->tensors[n->in[k]];
  int ok = t->shape.d[t->shape.rank - 1] == len && attn_numel(&t->shape) == len;
  if (!ok) {
    char b1[96];
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): %s '%s' of shape %s must hold one value "
                   "per element of the last dim (%lld)",
                   n->name, n->op_type, what, t->name,
                   qi_shape_str(&t->shape, b1, sizeof b1), (long long)len);
  }
  if (t->kind == QI_TK_CONST && t->data &&
      t->nbytes == (size_t)len * sizeof(float))
    *data = t->data;
  return QI_OK;
}

/* The normalized axis (attribute axis, FP32 numbering, default the last):
 * the last, or at rank 4 the channel axis 1 (*chan = 1), which only a
 * uint8 output supports. */
static qi_status qln_axis(const qi_node *n, const qi_shape *x, int out_f32,
                          int *chan, qi_error *err) {
  int a = qi_norm_axis(qi_attr_int(n, "axis", -1), x->rank);
  *chan = x->rank == 4 && a == 1;
  if (a != x->rank - 1 && !*chan)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis must be the last (or 1 at rank 4)",
                   n->name, n->op_type);
  if (*chan && out_f32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): axis 1 needs uint8 output (out_f32 = 0)",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status qln_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qln_check(g, n, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  const float *d;
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0, chan;
  QI_TRY(qln_axis(n, x, out_f32, &chan, err));
  rows_geom geo;
  rows_geom_of(x, chan, &geo);
  QI_TRY(qln_param(g, n, 1, geo.n, &d, err));
  if (n->nin > 2 && n->in[2] >= 0) QI_TRY(qln_param(g, n, 2, geo.n, &d, err));
  qi_shape y = rows_out_shape(x, out_f32);
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static qi_status qln_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  int32_t qmin, qmax;
  int out_f32;
  QI_TRY(qln_check(g, n, err));
  QI_TRY(attn_common_check(n, 2, 3, &qmin, &qmax, &out_f32, err));
  QI_TRY(attn_input(g, n, 0, QI_UINT8, "x", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  int chan;
  QI_TRY(qln_axis(n, x, out_f32, &chan, err));
  rows_geom geo;
  rows_geom_of(x, chan, &geo);
  int64_t len = geo.n;
  if (len < 1 || (size_t)len > QI_U8_LAYERNORM_MAX_N)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): last dim %lld is outside 1..%zu", n->name,
                   n->op_type, (long long)len, QI_U8_LAYERNORM_MAX_N);
  const float *gamma, *beta = NULL;
  QI_TRY(qln_param(g, n, 1, len, &gamma, err));
  int has_b = n->nin > 2 && n->in[2] >= 0;
  if (has_b) QI_TRY(qln_param(g, n, 2, len, &beta, err));
  if (!gamma || (has_b && !beta))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): scale and B must be constants", n->name,
                   n->op_type);
  attn_quant qx, qy = {1.0, 0};
  QI_TRY(attn_tensor_quant(g, n, n->in[0], "input x", &qx, err));
  if (!out_f32) QI_TRY(attn_tensor_quant(g, n, n->out[0], "output", &qy, err));
  qln_state *s = malloc(sizeof *s + sizeof(float) * 2 * (size_t)len);
  if (!s) return nomem(n, err);
  float *gs = s->gb, *bs = s->gb + len;
  /* In output units: one rounding from double (none for float output). */
  for (int64_t i = 0; i < len; i++) {
    gs[i] = out_f32 ? gamma[i] : (float)((double)gamma[i] / qy.scale);
    bs[i] = !beta     ? 0.0f
            : out_f32 ? beta[i]
                      : (float)((double)beta[i] / qy.scale);
    if (!isfinite(gs[i]) || !isfinite(bs[i])) {
      free(s);
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (%s): scale or B at %lld is not finite in "
                     "output units",
                     n->name, n->op_type, (long long)i);
    }
  }
  s->fn = attn_config()->layernorm;
  s->h = (rows_head){geo, out_f32, qln_rows};
  s->p = (qi_u8_layernorm_params){
      .zx = qx.zero,
      .sx = qx.scale,
      .eps = (double)qi_attr_float(n, "epsilon", 1e-5f),
      .g = gs,
      .b = bs,
      .out_f32 = out_f32,
      .out = qi_u8_out_make(out_f32 ? 0 : qy.zero, qmin, qmax)};
  attn_free_state(n->state);
  n->state = s;
  return QI_OK;
}

const qi_op_def qi_op_qlayernorm = {.op_type = "QiQLayerNorm",
                                    .check = qln_check,
                                    .infer = qln_infer,
                                    .prepare = qln_prepare,
                                    .free_state = attn_free_state,
                                    .scratch_bytes = rows_scratch_bytes,
                                    .run = rows_run,
                                    .foldable = 0};
