/*
 * The INT8 attention matrix product of the lowered graph
 * (lib/quant/README.md) over the kernels of core/qattn_dispatch.h; the row
 * ops QiQSoftmax and QiQLayerNorm are in op_qnorm.c.
 *
 * QiQMatMulAct  a u8 [..., M, K], b u8 [..., K, N] (trans_b = 0) or
 *               [..., N, K] (trans_b = 1); attrs trans_b, qmin, qmax,
 *               out_f32. y [..., M, N] = sum_k (a - za)(b - zb), then
 *               uint8 with mult = sa*sb/sy, or float acc * sa*sb. The
 *               leading (batch) dims of a and b are equal, or all 1 on one
 *               side (that operand is shared by every batch).
 *
 * Quantization comes from the graph's tensors at prepare, never from
 * attributes. The kernel's arithmetic is written down in
 * kernels/qattn/qattn.h.
 *
 * Layout. Shapes above are the FP32 ones. A rank-4 uint8 tensor of the
 * INT8 graph is stored NHWC: FP32 [B, C, H, W] as [B, H, W, C], so the
 * heads (C) are innermost. At rank 4 the op gathers each head's two
 * matrices into scratch, multiplies, and scatters the uint8 result back
 * (a float result lands in NCHW, the FP32 layout, directly). Other ranks
 * keep the FP32 layout and run in place.
 *
 * Threads: (batch, block of rows) units, each task packing B once per
 * batch it touches into its own scratch slice (rank 4: one head per unit).
 */
#include <stdlib.h>
#include <string.h>

#include "ops/qop_attn.h"

/* Rows of a MatMul unit: B is packed once per call, so a unit must carry
 * enough rows to pay for it (a multiple of the kernel's 4-row tile). */
#define ATTN_MM_ROWS 64

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
  QI_TRY(qi_qattn_common_check(n, 2, 2, &qmin, &qmax, &f, err));
  return qi_qattn_int_attr(n, "trans_b", 0, 0, 1, &t, err);
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
  qi_shape la = d->nhwc ? qi_qattn_nhwc_to_nchw(sa_) : *sa_;
  qi_shape lb = d->nhwc ? qi_qattn_nhwc_to_nchw(sb_) : *sb_;
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
    if (!out_f32) d->out = qi_qattn_nchw_to_nhwc(&d->out);
  }
  if (qi_qattn_numel(&d->out) < 0) /* M x N beyond the element bound */
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
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "a", err));
  QI_TRY(qi_qattn_input(g, n, 1, QI_UINT8, "b", err));
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
  QI_TRY(qi_qattn_common_check(n, 2, 2, &qmin, &qmax, &out_f32, err));
  QI_TRY(qi_qattn_input(g, n, 0, QI_UINT8, "a", err));
  QI_TRY(qi_qattn_input(g, n, 1, QI_UINT8, "b", err));
  qmma_state s;
  memset(&s, 0, sizeof s);
  s.trans_b = qi_attr_int(n, "trans_b", 0) != 0;
  QI_TRY(qmma_dims_of(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), s.trans_b,
                      out_f32, &s.d, err));
  qi_qattn_quant qa, qb, qy = {0.0, 0};
  QI_TRY(qi_qattn_tensor_quant(g, n, n->in[0], "input a", &qa, err));
  QI_TRY(qi_qattn_tensor_quant(g, n, n->in[1], "input b", &qb, err));
  if (out_f32) {
    s.p = qi_u8u8_matmul_params_make_f32(qa.scale, qa.zero, qb.scale, qb.zero);
  } else {
    QI_TRY(qi_qattn_tensor_quant(g, n, n->out[0], "output", &qy, err));
    s.p = qi_u8u8_matmul_params_make(qa.scale, qa.zero, qb.scale, qb.zero,
                                     qy.scale, qy.zero, qmin, qmax);
  }
  if (!isfinite(s.p.mult) || !(s.p.mult > 0.0f))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): multiplier sa*sb%s = %g is not a finite "
                   "float > 0",
                   n->name, n->op_type, out_f32 ? "" : "/sy", (double)s.p.mult);
  s.fn = qi_qattn_op_config()->matmul;
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
  if (!st) return qi_qattn_nomem(n, err);
  *st = s;
  qi_qattn_free_state(n->state);
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
    qi_qattn_gather_channel(j->a, m, k, 1, 0, ta);
  else
    qi_qattn_gather_channel(j->a + b * m * k * hc, m, k, hc, c, ta);
  size_t br = s->trans_b ? n : k, bq = s->trans_b ? k : n;
  if (d->b_shared)
    qi_qattn_gather_channel(j->b, br, bq, 1, 0, tb);
  else
    qi_qattn_gather_channel(j->b + b * k * n * hc, br, bq, hc, c, tb);
  if (s->p.out_f32) {
    s->fn(m, n, k, ta, k, tb, bq, s->trans_b, j->y + bi * m * n * sizeof(float),
          n, &s->p, ws);
    return;
  }
  s->fn(m, n, k, ta, k, tb, bq, s->trans_b, tc, n, &s->p, ws);
  qi_qattn_scatter_channel(tc, m, n, hc, c, j->y + b * m * n * hc);
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
  QI_TRY(qi_qattn_run_buf(ctx, n, &in[0], QI_UINT8, na, "input a"));
  QI_TRY(qi_qattn_run_buf(ctx, n, &in[1], QI_UINT8, nb, "input b"));
  QI_TRY(qi_qattn_run_buf(ctx, n, &out[0], s->p.out_f32 ? QI_FLOAT32 : QI_UINT8,
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
  size_t ntasks = qi_qattn_split(j.units, work, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, qmma_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_qmatmul_act = {.op_type = "QiQMatMulAct",
                                     .check = qmma_check,
                                     .infer = qmma_infer,
                                     .prepare = qmma_prepare,
                                     .free_state = qi_qattn_free_state,
                                     .scratch_bytes = qmma_scratch_bytes,
                                     .run = qmma_run,
                                     .foldable = 0};
