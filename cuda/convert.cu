/* QiQuantize / QiDequantize on the GPU, same layout or NCHW <-> NHWC
 * (qi_cuda.h). Each thread writes whole output elements computed by
 * cuda/elem.h; a layout change reads the source scattered and writes the
 * output coalesced (first version: no shared-memory transpose yet). */
#include <float.h>

#include "cuda_internal.h"
#include "elem.h"

__global__ void qi_cuda_quantize_kernel(size_t count, const float *x,
                                        uint8_t *y, float scale, int32_t zp) {
  QI_CUDA_FOR(o, count) y[o] = qi_cu_quantize(x[o], scale, zp);
}

__global__ void qi_cuda_quantize_nhwc_kernel(size_t count, size_t c, size_t hw,
                                             const float *x, uint8_t *y,
                                             float scale, int32_t zp) {
  QI_CUDA_FOR(o, count)
  y[o] = qi_cu_quantize(x[qi_cu_nhwc_src(o, c, hw)], scale, zp);
}

__global__ void qi_cuda_dequantize_kernel(size_t count, const uint8_t *q,
                                          float *y, float scale, int32_t zp) {
  QI_CUDA_FOR(o, count) y[o] = qi_cu_dequantize(q[o], scale, zp);
}

__global__ void qi_cuda_dequantize_nchw_kernel(size_t count, size_t c,
                                               size_t hw, const uint8_t *q,
                                               float *y, float scale,
                                               int32_t zp) {
  QI_CUDA_FOR(o, count)
  y[o] = qi_cu_dequantize(q[qi_cu_nchw_src(o, c, hw)], scale, zp);
}

/* scale positive and finite, zp in 0..255. */
static qi_status check_quant(const char *what, const void *in, const void *out,
                             float scale, int32_t zp, qi_error *err) {
  if (!in || !out)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: NULL buffer", what);
  if (!(scale > 0.0f && scale <= FLT_MAX))
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: scale %g is not positive",
                   what, (double)scale);
  if (zp < 0 || zp > 255)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: zero point %d outside 0..255",
                   what, (int)zp);
  return QI_OK;
}

/* n * c * hw elements, refusing a product that wraps. */
static qi_status image_count(const char *what, size_t n, size_t c, size_t hw,
                             size_t *count, qi_error *err) {
  size_t chw = qi_cuda_mul_size(c, hw);
  *count = qi_cuda_mul_size(n, chw);
  if (!*count && n && c && hw)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: %zu x %zu x %zu elements overflow size_t", what, n, c,
                   hw);
  return QI_OK;
}

extern "C" qi_status qi_cuda_quantize(qi_cuda_ctx *ctx, size_t count,
                                      const float *x, uint8_t *y, float scale,
                                      int32_t zp, qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!count) return QI_OK;
  QI_TRY(check_quant("qi_cuda_quantize", x, y, scale, zp, err));
  qi_cuda_quantize_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                            ctx->stream>>>(count, x, y, scale, zp);
  return qi_cuda_launched(err, "qi_cuda_quantize_kernel");
}

extern "C" qi_status qi_cuda_quantize_nchw_nhwc(qi_cuda_ctx *ctx, size_t n,
                                                size_t c, size_t hw,
                                                const float *x, uint8_t *y,
                                                float scale, int32_t zp,
                                                qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(image_count("qi_cuda_quantize_nchw_nhwc", n, c, hw, &count, err));
  if (!count) return QI_OK;
  QI_TRY(check_quant("qi_cuda_quantize_nchw_nhwc", x, y, scale, zp, err));
  qi_cuda_quantize_nhwc_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                                 ctx->stream>>>(count, c, hw, x, y, scale, zp);
  return qi_cuda_launched(err, "qi_cuda_quantize_nhwc_kernel");
}

extern "C" qi_status qi_cuda_dequantize(qi_cuda_ctx *ctx, size_t count,
                                        const uint8_t *q, float *y, float scale,
                                        int32_t zp, qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!count) return QI_OK;
  QI_TRY(check_quant("qi_cuda_dequantize", q, y, scale, zp, err));
  qi_cuda_dequantize_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                              ctx->stream>>>(count, q, y, scale, zp);
  return qi_cuda_launched(err, "qi_cuda_dequantize_kernel");
}

extern "C" qi_status qi_cuda_dequantize_nhwc_nchw(qi_cuda_ctx *ctx, size_t n,
                                                  size_t c, size_t hw,
                                                  const uint8_t *q, float *y,
                                                  float scale, int32_t zp,
                                                  qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(image_count("qi_cuda_dequantize_nhwc_nchw", n, c, hw, &count, err));
  if (!count) return QI_OK;
  QI_TRY(check_quant("qi_cuda_dequantize_nhwc_nchw", q, y, scale, zp, err));
  qi_cuda_dequantize_nchw_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                                   ctx->stream>>>(count, c, hw, q, y, scale,
                                                  zp);
  return qi_cuda_launched(err, "qi_cuda_dequantize_nchw_kernel");
}
