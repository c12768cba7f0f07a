/*
 * Gemm (ONNX opsets 1..21), FP32:  Y = alpha * op(A) * op(B) + beta * C
 * with op() an optional transpose and C broadcast one way to [M, N]
 * (shapes [], [N], [1, N], [M, 1], [M, N]). Y is first filled with
 * beta * C, then alpha * op(A) op(B) is accumulated onto it by our GEMM
 * over the pool (gemm_f32.h; OpenBLAS on CPUs without AVX2); the fused
 * activation ("qi_act") follows. A constant B (the weights) is packed
 * once at load (prepare).
 */
#include <cblas.h>
#include <string.h>

#include "ops/gemm_f32.h"

typedef struct gemm_dims {
  int64_t m, n, k;
  int64_t cm, cn;  /* C's extents after right-aligning to [M, N]; 0: none */
} gemm_dims;

static qi_status gemm_dims_make(const qi_node *n, const qi_shape *a,
                                const qi_shape *b, const qi_shape *c,
                                gemm_dims *d, qi_error *err) {
  char sa[96], sb[96], sc[96];
  if (!a || !b || a->rank != 2 || b->rank != 2)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Gemm): A %s and B %s must be 2-D", n->name,
                   a ? qi_shape_str(a, sa, sizeof sa) : "(none)",
                   b ? qi_shape_str(b, sb, sizeof sb) : "(none)");
  int ta = qi_attr_int(n, "transA", 0) != 0;
  int tb = qi_attr_int(n, "transB", 0) != 0;
  d->m = a->d[ta ? 1 : 0];
  d->k = a->d[ta ? 0 : 1];
  d->n = b->d[tb ? 0 : 1];
  int64_t kb = b->d[tb ? 1 : 0];
  if (d->k != kb || d->m < 0 || d->n < 0 || d->k < 0 ||
      d->m > INT32_MAX || d->n > INT32_MAX || d->k > INT32_MAX)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Gemm): A %s (transA=%d) and B %s (transB=%d) "
                   "do not multiply",
                   n->name, qi_shape_str(a, sa, sizeof sa), ta,
                   qi_shape_str(b, sb, sizeof sb), tb);
  d->cm = d->cn = 0;
  if (c) {
    d->cm = c->rank >= 2 ? c->d[c->rank - 2] : 1;
    d->cn = c->rank >= 1 ? c->d[c->rank - 1] : 1;
    if (c->rank > 2 || (d->cm != 1 && d->cm != d->m) ||
        (d->cn != 1 && d->cn != d->n))
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Gemm): C %s does not broadcast to [%lld,%lld]",
                     n->name, qi_shape_str(c, sc, sizeof sc),
                     (long long)d->m, (long long)d->n);
  }
  return QI_OK;
}

static void gemm_free_state(void *state) { qi_f32_gemm_bpack_free(state); }

/* Packs a constant B unless A is a single row (matrix-vector product). */
static qi_status gemm_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  gemm_free_state(n->state);
  n->state = NULL;
  const qi_shape *as = qi_in_shape(g, n, 0), *bs = qi_in_shape(g, n, 1);
  if (!as || !bs || n->in[1] < 0 ||
      g->tensors[n->in[1]].kind != QI_TK_CONST ||
      !g->tensors[n->in[1]].data || qi_in_dtype(g, n, 1) != QI_FLOAT32)
    return QI_OK;
  gemm_dims d;
  QI_TRY(gemm_dims_make(n, as, bs, qi_in_shape(g, n, 2), &d, err));
  const int tb = qi_attr_int(n, "transB", 0) != 0;
  qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  if (d.m <= 1 || d.k == 0 ||
      !qi_f32_gemm_supported(&kern, d.m, d.n, d.k, tb ? d.k : 1))
    return QI_OK;
  n->state = qi_f32_gemm_bpack_make(g->tensors[n->in[1]].data,
                                    tb ? 1 : d.n, tb ? d.k : 1, d.k, d.n);
  if (!n->state)
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (Gemm): out of memory packing B", n->name);
  return QI_OK;
}

static qi_status check_f32(const qi_node *n, qi_dtype dt, const char *what,
                           qi_error *err) {
  if (dt != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s has dtype %s; only float32 runs here",
                   n->name, n->op_type, what, qi_dtype_name(dt));
  return QI_OK;
}

static qi_status gemm_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  QI_TRY(qi_check_inputs(n, g && g->opset < 11 ? 3 : 2, 3, err));
  int64_t a = qi_attr_int(n, "qi_act", QI_ACT_NONE);
  if (a < QI_ACT_NONE || a > QI_ACT_TANH)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Gemm): unknown fused activation %lld", n->name,
                   (long long)a);
  return QI_OK;
}

static qi_status gemm_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(gemm_check(g, n, err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 0), "input A", err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 1), "input B", err));
  const qi_shape *c = qi_in_shape(g, n, 2);
  if (c) QI_TRY(check_f32(n, qi_in_dtype(g, n, 2), "input C", err));
  gemm_dims d;
  QI_TRY(gemm_dims_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), c, &d,
                        err));
  qi_shape out = {.rank = 2, .d = {d.m, d.n}};
  qi_set_output(g, n, 0, QI_FLOAT32, &out);
  return QI_OK;
}

static qi_status gemm_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  const int has_c = n->nin > 2 && in[2].data;
  gemm_dims d;
  QI_TRY(gemm_dims_make(n, &in[0].shape, &in[1].shape,
                        has_c ? &in[2].shape : NULL, &d, ctx->err));
  if (in[0].dtype != QI_FLOAT32 || in[1].dtype != QI_FLOAT32 ||
      out[0].dtype != QI_FLOAT32 || (has_c && in[2].dtype != QI_FLOAT32))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (Gemm): run needs float32 buffers", n->name);
  const float alpha = qi_attr_float(n, "alpha", 1.0f);
  const float beta = qi_attr_float(n, "beta", 1.0f);
  const int ta = qi_attr_int(n, "transA", 0) != 0;
  const int tb = qi_attr_int(n, "transB", 0) != 0;
  const float *a = in[0].data, *b = in[1].data;
  float *y = out[0].data;
  if (d.m == 0 || d.n == 0) return QI_OK;
  float blas_beta = 0.0f;
  if (has_c && beta != 0.0f) {
    const float *c = in[2].data;
    /* C may share Y's buffer only when it is full size: same index. */
    for (int64_t i = 0; i < d.m; i++) {
      const float *cr = c + (d.cm == 1 ? 0 : i) * d.cn;
      float *yr = y + i * d.n;
      if (d.cn == 1)
        for (int64_t j = 0; j < d.n; j++) yr[j] = beta * cr[0];
      else
        for (int64_t j = 0; j < d.n; j++) yr[j] = beta * cr[j];
    }
    blas_beta = 1.0f;
  }
  qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  int nth = qi_pool_size(ctx->pool);
  if (nth < ctx->nthreads) nth = ctx->nthreads;
  if (d.k > 0 && qi_f32_gemm_supported(&kern, d.m, d.n, d.k, tb ? d.k : 1) &&
      ctx->scratch && ctx->scratch_bytes >= qi_f32_gemm_scratch(nth)) {
    qi_epilogue epi = qi_epilogue_make(n);
    const qi_f32_gemm_bpack *bp = n->state;
    if (bp && (bp->k != d.k || bp->n != d.n)) bp = NULL;
    qi_f32_gemm gm = {d.m,  d.n, d.k, 1,         a,    ta ? 1 : d.k,
                      ta ? d.m : 1, b, tb ? 1 : d.n, tb ? d.k : 1, y,
                      alpha, blas_beta != 0.0f, &epi, NULL, NULL, NULL, bp};
    qi_f32_gemm_run(ctx->pool, &kern, &gm, ctx->scratch);
    return QI_OK;
  }
  if (d.k == 0) {
    if (blas_beta == 0.0f) memset(y, 0, sizeof(float) * (size_t)(d.m * d.n));
  } else if (d.m == 1) {
    /* A single row (a classifier head): a matrix-vector product, which
     * BLAS runs at memory speed where sgemm would pack B for one row. */
    if (tb)
      cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)d.n, (int)d.k, alpha, b,
                  (int)d.k, a, 1, blas_beta, y, 1);
    else
      cblas_sgemv(CblasRowMajor, CblasTrans, (int)d.k, (int)d.n, alpha, b,
                  (int)d.n, a, 1, blas_beta, y, 1);
  } else {
    cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                tb ? CblasTrans : CblasNoTrans, (int)d.m, (int)d.n, (int)d.k,
                alpha, a, ta ? (int)d.m : (int)d.k, b,
                tb ? (int)d.k : (int)d.n, blas_beta, y, (int)d.n);
  }
  qi_epilogue epi = qi_epilogue_make(n);
  qi_epilogue_rows(ctx->pool, &epi, NULL, NULL, y, d.m, d.n, d.n);
  return QI_OK;
}

static size_t gemm_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  (void)g;
  (void)n;
  qi_f32_conv_kernels k = qi_f32_conv_kernels_get();
  return k.gemm_ukernel != qi_f32_gemm_ukernel_6x16__scalar
             ? qi_f32_gemm_scratch(nthreads)
             : 0;
}

const qi_op_def qi_op_gemm = {
    .op_type = "Gemm",
    .check = gemm_check,
    .infer = gemm_infer,
    .prepare = gemm_prepare,
    .free_state = gemm_free_state,
    .scratch_bytes = gemm_scratch_bytes,
    .run = gemm_run,
    .foldable = 1,
};
