/*
 * GEMMs through cuBLASLt (qi_cuda.h): the raw int8 and fp16 products and
 * the u8s8 GEMM of the INT8 path, which mirrors gemm/gemm.h byte for byte:
 *   a' = a - 128 (int8)                              qi_cuda_shift_u8_s8
 *   acc = a' * B^T  on the int8 tensor cores          CUBLAS_COMPUTE_32I, exact
 *   out = epilogue(acc + bias_gpu)                    qi_cuda_requant
 * with bias_gpu = bias_folded + 128 * sum_k B (cuda/elem.h), so acc +
 * bias_gpu is the CPU accumulator exactly and the epilogue gives its bytes.
 *
 * Row-major C[m x n] = A[m x k] * B[n x k]^T is, in cuBLAS's column-major
 * terms, D[n x m] = op_T(B: k x n, ld k) * op_N(A: k x m, ld k): the "TN"
 * form that cuBLASLt's IMMA kernels require, with k and n multiples of 4.
 * Descriptors are made per call (a few microseconds of host time; a plan
 * cache is for later).
 */
#include <cublasLt.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"
#include "elem.h"

/* K and N padding of the u8s8 weights: 16 keeps every row 16-byte aligned
 * for the tensor cores (the IMMA minimum is 4). */
enum { QGEMM_PAD = 16 };
#define QGEMM_DEFAULT_WORKSPACE ((size_t)32 << 20)

struct qi_cuda_blas {
  qi_cuda_ctx *ctx;
  cublasLtHandle_t lt;
  void *workspace;
  size_t workspace_bytes;
};

struct qi_cuda_qgemm_weights {
  qi_cuda_ctx *ctx;
  size_t n, k, npad, kpad;
  void *dev;           /* one allocation: b8, then bias, then mult */
  const int8_t *b8;    /* [npad x kpad] */
  const int32_t *bias; /* [npad] */
  const float *mult;   /* [npad] */
};

static qi_status lt_fail(qi_error *err, cublasStatus_t s, const char *what) {
  (void)cudaGetLastError();
  qi_status st =
      s == CUBLAS_STATUS_ALLOC_FAILED ? QI_ERR_NOMEM
      : s == CUBLAS_STATUS_NOT_SUPPORTED || s == CUBLAS_STATUS_ARCH_MISMATCH
          ? QI_ERR_UNSUPPORTED
          : QI_ERR_DEVICE;
  return qi_fail(err, st, "%s: %s: %s", what, cublasLtGetStatusName(s),
                 cublasLtGetStatusString(s));
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

extern "C" qi_status qi_cuda_blas_create(qi_cuda_ctx *ctx,
                                         size_t workspace_bytes,
                                         qi_cuda_blas **out, qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "blas is NULL");
  *out = NULL;
  QI_TRY(qi_cuda_enter(ctx, err));
  qi_cuda_blas *bl = (qi_cuda_blas *)calloc(1, sizeof *bl);
  if (!bl) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  bl->ctx = ctx;
  bl->workspace_bytes =
      workspace_bytes ? workspace_bytes : QGEMM_DEFAULT_WORKSPACE;
  cublasStatus_t s = cublasLtCreate(&bl->lt);
  if (s != CUBLAS_STATUS_SUCCESS) {
    free(bl);
    return lt_fail(err, s, "cublasLtCreate");
  }
  qi_status st = qi_cuda_alloc(ctx, bl->workspace_bytes, &bl->workspace, err);
  if (st != QI_OK) {
    qi_cuda_blas_free(bl);
    return st;
  }
  *out = bl;
  return QI_OK;
}

extern "C" void qi_cuda_blas_free(qi_cuda_blas *bl) {
  if (!bl) return;
  qi_cuda_free(bl->ctx, bl->workspace);
  if (bl->lt) (void)cublasLtDestroy(bl->lt);
  free(bl);
}

/* The descriptors of one product; lt_matmul frees what it made. */
typedef struct lt_op {
  cublasLtMatmulDesc_t desc;
  cublasLtMatrixLayout_t la, lb, lc;
  cublasLtMatmulPreference_t pref;
} lt_op;

static void lt_op_free(lt_op *op) {
  if (op->pref) (void)cublasLtMatmulPreferenceDestroy(op->pref);
  if (op->lc) (void)cublasLtMatrixLayoutDestroy(op->lc);
  if (op->lb) (void)cublasLtMatrixLayoutDestroy(op->lb);
  if (op->la) (void)cublasLtMatrixLayoutDestroy(op->la);
  if (op->desc) (void)cublasLtMatmulDescDestroy(op->desc);
}

#define LT_STEP(call)                     \
  do {                                    \
    cublasStatus_t lt_s_ = (call);        \
    if (lt_s_ != CUBLAS_STATUS_SUCCESS) { \
      st = lt_fail(err, lt_s_, #call);    \
      goto done;                          \
    }                                     \
  } while (0)

/* Row-major c[m x n] = a[m x k] * b[n x k]^T (header comment). */
static qi_status lt_matmul(qi_cuda_blas *bl, cublasComputeType_t compute,
                           cudaDataType_t scale_type, cudaDataType_t ab_type,
                           cudaDataType_t c_type, size_t m, size_t n, size_t k,
                           const void *alpha, const void *beta, const void *a,
                           const void *b, void *c, qi_error *err) {
  qi_status st = QI_OK;
  lt_op op;
  memset(&op, 0, sizeof op);
  const cublasOperation_t trans_t = CUBLAS_OP_T, trans_n = CUBLAS_OP_N;
  cublasLtMatmulHeuristicResult_t heur;
  int found = 0;
  memset(&heur, 0, sizeof heur);
  LT_STEP(cublasLtMatmulDescCreate(&op.desc, compute, scale_type));
  LT_STEP(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSA,
                                         &trans_t, sizeof trans_t));
  LT_STEP(cublasLtMatmulDescSetAttribute(op.desc, CUBLASLT_MATMUL_DESC_TRANSB,
                                         &trans_n, sizeof trans_n));
  LT_STEP(cublasLtMatrixLayoutCreate(&op.la, ab_type, k, n, (int64_t)k));
  LT_STEP(cublasLtMatrixLayoutCreate(&op.lb, ab_type, k, m, (int64_t)k));
  LT_STEP(cublasLtMatrixLayoutCreate(&op.lc, c_type, n, m, (int64_t)n));
  LT_STEP(cublasLtMatmulPreferenceCreate(&op.pref));
  LT_STEP(cublasLtMatmulPreferenceSetAttribute(
      op.pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &bl->workspace_bytes,
      sizeof bl->workspace_bytes));
  LT_STEP(cublasLtMatmulAlgoGetHeuristic(bl->lt, op.desc, op.la, op.lb, op.lc,
                                         op.lc, op.pref, 1, &heur, &found));
  if (found < 1) {
    st = qi_fail(err, QI_ERR_UNSUPPORTED,
                 "cuBLASLt has no algorithm for this %zu x %zu x %zu product",
                 m, n, k);
    goto done;
  }
  LT_STEP(cublasLtMatmul(bl->lt, op.desc, alpha, b, op.la, a, op.lb, beta, c,
                         op.lc, c, op.lc, &heur.algo, bl->workspace,
                         bl->workspace_bytes, bl->ctx->stream));
  st = qi_cuda_launched(err, "cublasLtMatmul");
done:
  lt_op_free(&op);
  return st;
}

static qi_status check_dims(const char *what, size_t m, size_t n, size_t k,
                            size_t multiple, const void *a, const void *b,
                            const void *c, qi_error *err) {
  if (!a || !b || !c)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: NULL buffer", what);
  if (!m || !n || !k || n % multiple || k % multiple || m > (size_t)INT32_MAX ||
      n > (size_t)INT32_MAX || k > (size_t)INT32_MAX)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: %zu x %zu x %zu: m, n, k must be 1..2^31-1 with n "
                   "and k multiples of %zu",
                   what, m, n, k, multiple);
  return QI_OK;
}

extern "C" qi_status qi_cuda_gemm_s8s8s32(qi_cuda_blas *bl, size_t m, size_t n,
                                          size_t k, const int8_t *a,
                                          const int8_t *b, int32_t *c,
                                          qi_error *err) {
  if (!bl) return qi_fail(err, QI_ERR_INVALID_ARG, "blas is NULL");
  QI_TRY(qi_cuda_enter(bl->ctx, err));
  QI_TRY(check_dims("qi_cuda_gemm_s8s8s32", m, n, k, 4, a, b, c, err));
  const int32_t alpha = 1, beta = 0;
  return lt_matmul(bl, CUBLAS_COMPUTE_32I, CUDA_R_32I, CUDA_R_8I, CUDA_R_32I, m,
                   n, k, &alpha, &beta, a, b, c, err);
}

extern "C" qi_status qi_cuda_gemm_f16(qi_cuda_blas *bl, size_t m, size_t n,
                                      size_t k, const void *a, const void *b,
                                      void *c, qi_error *err) {
  if (!bl) return qi_fail(err, QI_ERR_INVALID_ARG, "blas is NULL");
  QI_TRY(qi_cuda_enter(bl->ctx, err));
  QI_TRY(check_dims("qi_cuda_gemm_f16", m, n, k, 8, a, b, c, err));
  const float alpha = 1.0f, beta = 0.0f;
  return lt_matmul(bl, CUBLAS_COMPUTE_32F, CUDA_R_32F, CUDA_R_16F, CUDA_R_16F,
                   m, n, k, &alpha, &beta, a, b, c, err);
}

/* Byte offsets of the weights' parts in their one allocation. */
static size_t weights_bias_offset(size_t npad, size_t kpad) {
  return round_up(npad * kpad, 256);
}
static size_t weights_bytes(size_t npad, size_t kpad) {
  return weights_bias_offset(npad, kpad) + npad * sizeof(int32_t) +
         npad * sizeof(float);
}

extern "C" qi_status qi_cuda_qgemm_weights_create(
    qi_cuda_ctx *ctx, size_t n, size_t k, const int8_t *b, size_t ldb,
    const int32_t *bias, int32_t za, const float *mult,
    qi_cuda_qgemm_weights **out, qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "weights is NULL");
  *out = NULL;
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!b || !mult || !n || !k || ldb < k || za < 0 || za > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "u8s8 GEMM weights %zu x %zu: NULL buffer, empty, row "
                   "stride %zu below k, or zero point %d outside 0..255",
                   n, k, ldb, (int)za);
  if (k > QI_U8S8_GEMM_MAX_K || n > ((size_t)1 << 31))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "u8s8 GEMM weights %zu x %zu: k above %d or n above 2^31", n,
                   k, QI_U8S8_GEMM_MAX_K);
  size_t npad = round_up(n, QGEMM_PAD), kpad = round_up(k, QGEMM_PAD);
  size_t bytes = weights_bytes(npad, kpad);
  unsigned char *host = (unsigned char *)calloc(1, bytes);
  if (!host)
    return qi_fail(err, QI_ERR_NOMEM, "cannot stage %zu bytes of weights",
                   bytes);
  int8_t *hb = (int8_t *)host;
  int32_t *hbias = (int32_t *)(host + weights_bias_offset(npad, kpad));
  float *hmult = (float *)(hbias + npad);
  for (size_t j = 0; j < n; j++) {
    const int8_t *bj = b + j * ldb;
    if (!qi_cu_qgemm_bias(k, bj, bias ? bias[j] : 0, za, &hbias[j])) {
      free(host);
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "u8s8 GEMM weights: channel %zu could overflow its "
                     "int32 accumulator (|bias_folded| + 255 * sum|w| >= 2^31)",
                     j);
    }
    memcpy(hb + j * kpad, bj, k);
    hmult[j] = mult[j];
  }
  qi_cuda_qgemm_weights *w = (qi_cuda_qgemm_weights *)calloc(1, sizeof *w);
  qi_status st = w ? qi_cuda_alloc(ctx, bytes, &w->dev, err)
                   : qi_fail(err, QI_ERR_NOMEM, "out of memory");
  if (st == QI_OK) st = qi_cuda_upload(ctx, w->dev, host, bytes, err);
  free(host);
  if (st != QI_OK) {
    qi_cuda_qgemm_weights_free(w);
    return st;
  }
  w->ctx = ctx;
  w->n = n;
  w->k = k;
  w->npad = npad;
  w->kpad = kpad;
  unsigned char *d = (unsigned char *)w->dev;
  w->b8 = (const int8_t *)d;
  w->bias = (const int32_t *)(d + weights_bias_offset(npad, kpad));
  w->mult = (const float *)(w->bias + npad);
  *out = w;
  return QI_OK;
}

extern "C" void qi_cuda_qgemm_weights_free(qi_cuda_qgemm_weights *w) {
  if (!w) return;
  if (w->dev) qi_cuda_free(w->ctx, w->dev);
  free(w);
}

/* Scratch: the shifted activations [m x kpad] int8, then the accumulators
 * [m x npad] int32 at a 256-byte boundary. 0 if the size overflows. */
extern "C" size_t qi_cuda_qgemm_scratch_bytes(size_t m,
                                              const qi_cuda_qgemm_weights *w) {
  if (!w || !m) return 0;
  size_t a8 = qi_cuda_mul_size(m, w->kpad);
  size_t acc = qi_cuda_mul_size(m, w->npad * sizeof(int32_t));
  if (!a8 || !acc || a8 > SIZE_MAX - 256 - acc) return 0;
  return round_up(a8, 256) + acc;
}

extern "C" qi_status qi_cuda_qgemm(qi_cuda_blas *bl, size_t m, const uint8_t *a,
                                   size_t lda, const qi_cuda_qgemm_weights *w,
                                   const uint8_t *r, size_t ldr, void *c,
                                   size_t ldc, const qi_u8s8_gemm_params *p,
                                   void *scratch, size_t scratch_bytes,
                                   qi_error *err) {
  if (!bl || !w || !p)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm: NULL blas, weights or "
                   "params");
  QI_TRY(qi_cuda_enter(bl->ctx, err));
  if (!m) return QI_OK;
  size_t need = qi_cuda_qgemm_scratch_bytes(m, w);
  if (!a || !c || !scratch || lda < w->k || ldc < w->n || !need ||
      scratch_bytes < need)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qgemm %zu x %zu x %zu: NULL buffer, lda %zu or ldc %zu "
                   "too small, or scratch of %zu bytes (%zu needed)",
                   m, w->n, w->k, lda, ldc, scratch_bytes, need);
  if (m > (size_t)INT32_MAX)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qgemm: m = %zu above 2^31-1", m);
  int8_t *a8 = (int8_t *)scratch;
  int32_t *acc =
      (int32_t *)((unsigned char *)scratch + round_up(m * w->kpad, 256));
  QI_TRY(qi_cuda_shift_u8_s8(bl->ctx, m, w->k, a, lda, a8, w->kpad, err));
  const int32_t alpha = 1, beta = 0;
  QI_TRY(lt_matmul(bl, CUBLAS_COMPUTE_32I, CUDA_R_32I, CUDA_R_8I, CUDA_R_32I, m,
                   w->npad, w->kpad, &alpha, &beta, a8, w->b8, acc, err));
  return qi_cuda_requant(bl->ctx, m, w->n, acc, w->npad, w->bias, w->mult, r,
                         ldr, c, ldc, p, err);
}
