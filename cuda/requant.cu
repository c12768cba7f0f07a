/* The GEMM epilogue (int32 accumulators -> uint8 or float32) and the
 * uint8 -> int8 activation shift that feeds cuBLASLt (qi_cuda.h). The
 * arithmetic is cuda/elem.h's, so the bytes are kernels/ref/requant.h's. */
#include "cuda_internal.h"
#include "elem.h"

/* bias is optional: a NULL pointer adds 0 (one branch per element, the
 * same for every thread). */
__global__ void qi_cuda_requant_u8_kernel(size_t count, size_t n,
                                          const int32_t *acc, size_t ldacc,
                                          const int32_t *bias,
                                          const float *mult, uint8_t *c,
                                          size_t ldc, qi_u8s8_gemm_params p) {
  QI_CUDA_FOR(o, count) {
    int32_t s = qi_cu_acc_at(o, n, acc, ldacc, bias);
    c[qi_cu_row_offset(o, n, ldc)] = qi_cu_requant_u8(s, mult[o % n], &p);
  }
}

__global__ void qi_cuda_requant_u8_residual_kernel(
    size_t count, size_t n, const int32_t *acc, size_t ldacc,
    const int32_t *bias, const float *mult, const uint8_t *r, size_t ldr,
    uint8_t *c, size_t ldc, qi_u8s8_gemm_params p) {
  QI_CUDA_FOR(o, count) {
    int32_t s = qi_cu_acc_at(o, n, acc, ldacc, bias);
    c[qi_cu_row_offset(o, n, ldc)] = qi_cu_requant_u8_residual(
        s, mult[o % n], r[qi_cu_row_offset(o, n, ldr)], &p);
  }
}

__global__ void qi_cuda_requant_f32_kernel(size_t count, size_t n,
                                           const int32_t *acc, size_t ldacc,
                                           const int32_t *bias,
                                           const float *mult, float *c,
                                           size_t ldc) {
  QI_CUDA_FOR(o, count) {
    int32_t s = qi_cu_acc_at(o, n, acc, ldacc, bias);
    c[qi_cu_row_offset(o, n, ldc)] = qi_cu_dequant_acc(s, mult[o % n]);
  }
}

__global__ void qi_cuda_shift_kernel(size_t count, size_t k, size_t kpad,
                                     const uint8_t *a, size_t lda, int8_t *a8) {
  QI_CUDA_FOR(o, count) a8[o] = qi_cu_shift_at(o, k, kpad, a, lda);
}

static qi_status check_params(const qi_u8s8_gemm_params *p, qi_error *err) {
  if (!p) return qi_fail(err, QI_ERR_INVALID_ARG, "GEMM params are NULL");
  if (!p->out_f32 &&
      (p->zy < 0 || p->zy > 255 || p->qmin < 0 || p->qmin > p->qmax ||
       p->qmax > 255 || p->zr < 0 || p->zr > 255))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "GEMM output zero point %d, range %d..%d or residual zero "
                   "point %d outside 0..255",
                   (int)p->zy, (int)p->qmin, (int)p->qmax, (int)p->zr);
  return QI_OK;
}

extern "C" qi_status qi_cuda_requant(qi_cuda_ctx *ctx, size_t m, size_t n,
                                     const int32_t *acc, size_t ldacc,
                                     const int32_t *bias, const float *mult,
                                     const uint8_t *r, size_t ldr, void *c,
                                     size_t ldc, const qi_u8s8_gemm_params *p,
                                     qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  QI_TRY(check_params(p, err));
  if (!m || !n) return QI_OK;
  size_t count = qi_cuda_mul_size(m, n);
  if (!count)
    return qi_fail(err, QI_ERR_INVALID_ARG, "requant: %zu x %zu overflows", m,
                   n);
  if (!acc || !mult || !c || ldacc < n || ldc < n || (r && ldr < n))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "requant %zu x %zu: NULL buffer or a row stride below %zu "
                   "(ldacc %zu, ldc %zu, ldr %zu)",
                   m, n, n, ldacc, ldc, ldr);
  if (r && p->out_f32)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "requant: a residual needs uint8 output");
  unsigned blocks = qi_cuda_blocks(count);
  if (p->out_f32) {
    qi_cuda_requant_f32_kernel<<<blocks, QI_CUDA_THREADS, 0, ctx->stream>>>(
        count, n, acc, ldacc, bias, mult, (float *)c, ldc);
  } else if (r) {
    qi_cuda_requant_u8_residual_kernel<<<blocks, QI_CUDA_THREADS, 0,
                                         ctx->stream>>>(
        count, n, acc, ldacc, bias, mult, r, ldr, (uint8_t *)c, ldc, *p);
  } else {
    qi_cuda_requant_u8_kernel<<<blocks, QI_CUDA_THREADS, 0, ctx->stream>>>(
        count, n, acc, ldacc, bias, mult, (uint8_t *)c, ldc, *p);
  }
  return qi_cuda_launched(err, "qi_cuda_requant kernel");
}

extern "C" qi_status qi_cuda_shift_u8_s8(qi_cuda_ctx *ctx, size_t m, size_t k,
                                         const uint8_t *a, size_t lda,
                                         int8_t *a8, size_t kpad,
                                         qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!m || !kpad) return QI_OK;
  if (!a || !a8 || kpad < k || lda < k)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "shift %zu x %zu: NULL buffer, kpad %zu or lda %zu below k",
                   m, k, kpad, lda);
  size_t count = qi_cuda_mul_size(m, kpad);
  if (!count)
    return qi_fail(err, QI_ERR_INVALID_ARG, "shift: %zu x %zu overflows", m,
                   kpad);
  qi_cuda_shift_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                         ctx->stream>>>(count, k, kpad, a, lda, a8);
  return qi_cuda_launched(err, "qi_cuda_shift_kernel");
}
