/*
 * MatMul (ONNX opsets 1..21), FP32, numpy semantics: a 1-D A is [1, K] and
 * a 1-D B is [K, 1] with that axis dropped from the result; leading batch
 * axes broadcast. An optional input 2 (written by the fusion pass from a
 * following Add) is a bias of one value per output column, shape [N] or
 * [1, ..., 1, N], added before the fused activation ("qi_act").
 *
 * When B has no batch (the common Linear layer), A's batch folds into M
 * and one GEMM does all; a constant such B is packed once at load
 * (prepare) instead of by every task of every run. With AVX2, our GEMM (gemm_f32.h) runs every batch
 * over the pool. Otherwise OpenBLAS: every output batch gets its own call;
 * small ones (which OpenBLAS runs on one thread anyway) are spread over the
 * pool, large ones run in turn and OpenBLAS splits each.
 */
#include <cblas.h>
#include <string.h>

#include "ops/gemm_f32.h"

/* OpenBLAS runs sgemm single-threaded at or below this m*n*k. */
#define MATMUL_SMALL_MNK ((int64_t)262144)

typedef struct mm_dims {
  int64_t m, n, k;
  int nbatch_axes;             /* output batch rank */
  int64_t batch[QI_MAX_RANK];  /* output batch extents */
  int64_t astr[QI_MAX_RANK];   /* A's batch strides in matrices, 0 when broadcast */
  int64_t bstr[QI_MAX_RANK];
  int64_t nbatch;              /* product of batch */
  qi_shape out;
} mm_dims;

static qi_status mm_dims_make(const qi_node *n, const qi_shape *a,
                              const qi_shape *b, mm_dims *d, qi_error *err) {
  char sa[96], sb[96];
  if (!a || !b || a->rank < 1 || b->rank < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (MatMul): inputs must have rank >= 1", n->name);
  memset(d, 0, sizeof *d);
  const int a1 = a->rank == 1, b1 = b->rank == 1;
  d->m = a1 ? 1 : a->d[a->rank - 2];
  d->k = a->d[a->rank - 1];
  int64_t kb = b1 ? b->d[0] : b->d[b->rank - 2];
  d->n = b1 ? 1 : b->d[b->rank - 1];
  if (d->k != kb || d->m > INT32_MAX || d->n > INT32_MAX || d->k > INT32_MAX)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (MatMul): %s and %s do not multiply", n->name,
                   qi_shape_str(a, sa, sizeof sa),
                   qi_shape_str(b, sb, sizeof sb));
  int ra = a1 ? 0 : a->rank - 2, rb = b1 ? 0 : b->rank - 2;
  int r = ra > rb ? ra : rb;
  d->nbatch_axes = r;
  d->nbatch = 1;
  /* Walk batch axes from the innermost out to get matrix strides. */
  int64_t sa_acc = 1, sb_acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    int ia = i - (r - ra), ib = i - (r - rb);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da != db && da != 1 && db != 1)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (MatMul): batch axes of %s and %s do not "
                     "broadcast",
                     n->name, qi_shape_str(a, sa, sizeof sa),
                     qi_shape_str(b, sb, sizeof sb));
    d->batch[i] = da == 1 ? db : da;
    d->astr[i] = da == 1 ? 0 : sa_acc;
    d->bstr[i] = db == 1 ? 0 : sb_acc;
    sa_acc *= da;
    sb_acc *= db;
    d->nbatch *= d->batch[i];
  }
  d->out.rank = 0;
  for (int i = 0; i < r; i++) d->out.d[d->out.rank++] = d->batch[i];
  if (!a1) d->out.d[d->out.rank++] = d->m;
  if (!b1) d->out.d[d->out.rank++] = d->n;
  return QI_OK;
}

static qi_status mm_check(const qi_graph *g, const qi_node *n,
                          qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  int64_t a = qi_attr_int(n, "qi_act", QI_ACT_NONE);
  if (a < QI_ACT_NONE || a > QI_ACT_TANH)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (MatMul): unknown fused activation %lld",
                   n->name, (long long)a);
  return QI_OK;
}

static qi_status mm_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(mm_check(g, n, err));
  for (int k = 0; k < 2; k++)
    if (qi_in_dtype(g, n, k) != QI_FLOAT32)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (MatMul): input %d has dtype %s; only float32 "
                     "runs here",
                     n->name, k, qi_dtype_name(qi_in_dtype(g, n, k)));
  mm_dims d;
  QI_TRY(mm_dims_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), &d, err));
  const qi_shape *bs = qi_in_shape(g, n, 2);
  if (bs) {
    /* Broadcasting the bias must not grow the output's rank. */
    int ok = qi_in_dtype(g, n, 2) == QI_FLOAT32 && bs->rank >= 1 &&
             bs->rank <= (d.out.rank > 1 ? d.out.rank : 1) &&
             bs->d[bs->rank - 1] == d.n;
    for (int i = 0; ok && i < bs->rank - 1; i++) ok = bs->d[i] == 1;
    if (!ok) {
      char sb[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (MatMul): fused bias %s must be float32 with "
                     "one value per output column (%lld)",
                     n->name, qi_shape_str(bs, sb, sizeof sb), (long long)d.n);
    }
  }
  qi_set_output(g, n, 0, QI_FLOAT32, &d.out);
  return QI_OK;
}

typedef struct mm_job {
  const mm_dims *d;
  const float *a, *b;
  float *y;
  const qi_epilogue *epi;
  const float *bias;   /* per output column, or NULL */
} mm_job;

/* One output batch t: its A and B matrices come from the broadcast index. */
static void mm_batch(const mm_job *j, int64_t t, qi_pool *epilogue_pool) {
  const mm_dims *d = j->d;
  int64_t ai = 0, bi = 0, rem = t;
  for (int i = d->nbatch_axes - 1; i >= 0; i--) {
    int64_t idx = rem % d->batch[i];
    rem /= d->batch[i];
    ai += idx * d->astr[i];
    bi += idx * d->bstr[i];
  }
  float *y = j->y + t * d->m * d->n;
  const float *a = j->a + ai * d->m * d->k, *b = j->b + bi * d->k * d->n;
  if (d->m == 1) /* one row: matrix-vector product, no packing of B */
    cblas_sgemv(CblasRowMajor, CblasTrans, (int)d->k, (int)d->n, 1.0f, b,
                (int)d->n, a, 1, 0.0f, y, 1);
  else
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d->m,
                (int)d->n, (int)d->k, 1.0f, a, (int)d->k, b, (int)d->n, 0.0f,
                y, (int)d->n);
  if (j->bias) {
    for (int64_t i = 0; i < d->m; i++)
      qi_epilogue_span(j->epi, 0.0f, j->bias, y + i * d->n, y + i * d->n,
                       (size_t)d->n);
  } else {
    qi_epilogue_rows(epilogue_pool, j->epi, NULL, NULL, y, d->m, d->n, d->n);
  }
}

/* Element offsets of the A and B matrices of output batch t. */
static void mm_offsets(const void *ctx, int64_t t, int64_t *ao, int64_t *bo) {
  const mm_dims *d = ctx;
  int64_t ai = 0, bi = 0, rem = t;
  for (int i = d->nbatch_axes - 1; i >= 0; i--) {
    int64_t idx = rem % d->batch[i];
    rem /= d->batch[i];
    ai += idx * d->astr[i];
    bi += idx * d->bstr[i];
  }
  *ao = ai * d->m * d->k;
  *bo = bi * d->k * d->n;
}

static int b_const(const qi_graph *g, const qi_node *n) {
  return n->in[1] >= 0 && g->tensors[n->in[1]].kind == QI_TK_CONST &&
         g->tensors[n->in[1]].data != NULL;
}

static void mm_free_state(void *state) { qi_f32_gemm_bpack_free(state); }

/* Packs a constant 2-D B for the one-GEMM path; other cases keep no state
 * (a single output row runs as a matrix-vector product, no packing). */
static qi_status mm_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  mm_free_state(n->state);
  n->state = NULL;
  const qi_shape *as = qi_in_shape(g, n, 0), *bs = qi_in_shape(g, n, 1);
  if (!as || !bs || bs->rank != 2 || !b_const(g, n) ||
      qi_in_dtype(g, n, 1) != QI_FLOAT32)
    return QI_OK;
  mm_dims d;
  QI_TRY(mm_dims_make(n, as, bs, &d, err));
  qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  if (d.nbatch * d.m <= 1 ||
      !qi_f32_gemm_supported(&kern, d.nbatch * d.m, d.n, d.k, 1))
    return QI_OK;
  n->state = qi_f32_gemm_bpack_make(g->tensors[n->in[1]].data, d.n, 1, d.k,
                                    d.n);
  if (!n->state)
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (MatMul): out of memory packing B [%lld, %lld]",
                   n->name, (long long)d.k, (long long)d.n);
  return QI_OK;
}

static size_t mm_scratch_bytes(const qi_graph *g, const qi_node *n,
                               int nthreads) {
  (void)g;
  (void)n;
  qi_f32_conv_kernels k = qi_f32_conv_kernels_get();
  return k.gemm_ukernel != qi_f32_gemm_ukernel_6x16__scalar
             ? qi_f32_gemm_scratch(nthreads)
             : 0;
}

static void mm_task(void *arg, size_t t, int thread) {
  (void)thread;
  mm_batch(arg, (int64_t)t, NULL);
}

static qi_status mm_run(const qi_run_ctx *ctx, const qi_node *n,
                        const qi_buf *in, qi_buf *out) {
  mm_dims d;
  QI_TRY(mm_dims_make(n, &in[0].shape, &in[1].shape, &d, ctx->err));
  if (in[0].dtype != QI_FLOAT32 || in[1].dtype != QI_FLOAT32 ||
      out[0].dtype != QI_FLOAT32)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (MatMul): run needs float32 buffers", n->name);
  qi_epilogue epi = qi_epilogue_make(n);
  float *y = out[0].data;
  const float *bias = n->nin > 2 && in[2].data ? in[2].data : NULL;
  if (d.nbatch == 0 || d.m == 0 || d.n == 0) return QI_OK;
  if (d.k == 0) {
    memset(y, 0, sizeof(float) * (size_t)(d.nbatch * d.m * d.n));
    for (int64_t i = 0; i < d.nbatch * d.m; i++)
      qi_epilogue_span(&epi, 0.0f, bias, y + i * d.n, y + i * d.n,
                       (size_t)d.n);
    return QI_OK;
  }
  int b_shared = 1;
  for (int i = 0; i < d.nbatch_axes; i++)
    if (d.bstr[i] != 0) b_shared = 0;
  int a_full = 1;  /* A holds every output batch, in order */
  for (int i = 0; i < d.nbatch_axes; i++)
    if (d.batch[i] != 1 && d.astr[i] == 0) a_full = 0;
  mm_job j = {&d, in[0].data, in[1].data, y, &epi, bias};
  qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  int nth = qi_pool_size(ctx->pool);
  if (nth < ctx->nthreads) nth = ctx->nthreads;
  int64_t rows = b_shared && a_full ? d.nbatch * d.m : d.m;
  if (qi_f32_gemm_supported(&kern, rows, d.n, d.k, 1) && ctx->scratch &&
      ctx->scratch_bytes >= qi_f32_gemm_scratch(nth)) {
    const qi_f32_gemm_bpack *bp = n->state;
    if (!(b_shared && a_full) || (bp && (bp->k != d.k || bp->n != d.n)))
      bp = NULL;
    qi_f32_gemm gm = {rows, d.n, d.k, b_shared && a_full ? 1 : d.nbatch,
                      in[0].data, d.k, 1, in[1].data, d.n, 1, y, 1.0f, 0,
                      &epi, bias, b_shared && a_full ? NULL : mm_offsets, &d,
                      bp};
    qi_f32_gemm_run(ctx->pool, &kern, &gm, ctx->scratch);
    return QI_OK;
  }
  if (b_shared && a_full) {
    /* [batch*M, K] x [K, N]: one GEMM. */
    mm_dims flat = d;
    flat.m = d.nbatch * d.m;
    flat.nbatch_axes = 0;
    if (flat.m > INT32_MAX)
      return qi_fail(ctx->err, QI_ERR_NOMEM,
                     "node '%s' (MatMul): %lld rows are beyond limits",
                     n->name, (long long)flat.m);
    j.d = &flat;
    mm_batch(&j, 0, ctx->pool);
    return QI_OK;
  }
  if (qi_pool_size(ctx->pool) > 1 && d.nbatch > 1 &&
      d.m * d.n * d.k <= MATMUL_SMALL_MNK) {
    qi_pool_run(ctx->pool, mm_task, &j, (size_t)d.nbatch);
  } else {
    for (int64_t t = 0; t < d.nbatch; t++) mm_batch(&j, t, ctx->pool);
  }
  return QI_OK;
}

const qi_op_def qi_op_matmul = {
    .op_type = "MatMul",
    .check = mm_check,
    .infer = mm_infer,
    .prepare = mm_prepare,
    .free_state = mm_free_state,
    .scratch_bytes = mm_scratch_bytes,
    .run = mm_run,
    .foldable = 1,
};
