/* uint8 MaxPool, AveragePool and GlobalAveragePool on the GPU, NHWC, one
 * image per call (qi_cuda.h). One thread per output byte walks its window
 * (cuda/elem.h); integer sums are exact in any order, so the bytes are the
 * CPU's. First version: no shared-memory tiling, GlobalAveragePool sums a
 * channel in one thread. */
#include "cuda_internal.h"
#include "elem.h"

__global__ void qi_cuda_u8_maxpool_kernel(size_t count, qi_u8_pool_geom g,
                                          const uint8_t *x, uint8_t *y) {
  QI_CUDA_FOR(o, count)
  y[qi_cu_pool_y_offset(&g, o)] = qi_cu_maxpool_at(&g, x, o);
}

__global__ void qi_cuda_u8_avgpool_kernel(size_t count, qi_u8_pool_geom g,
                                          qi_u8_avgpool_params p,
                                          const uint8_t *x, uint8_t *y) {
  QI_CUDA_FOR(o, count)
  y[qi_cu_pool_y_offset(&g, o)] = qi_cu_avgpool_at(&g, &p, x, o);
}

__global__ void qi_cuda_u8_gap_kernel(size_t npix, size_t c, const uint8_t *x,
                                      size_t x_pix, uint8_t *y,
                                      qi_u8_avgpool_params p) {
  QI_CUDA_FOR(ch, c) y[ch] = qi_cu_gap_at(npix, x, x_pix, ch, &p);
}

/* The geometry rules of qpool/qpool.h; count = out_h * out_w * c. */
static qi_status check_geom(const char *what, const qi_u8_pool_geom *g,
                            const uint8_t *x, const uint8_t *y, size_t *count,
                            qi_error *err) {
  *count = 0;
  if (!g || !x || !y)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: NULL geometry or buffer",
                   what);
  if (!g->k_h || !g->k_w || !g->s_h || !g->s_w || !g->d_h || !g->d_w ||
      g->x_pix < g->c || g->y_pix < g->c)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: kernel %zux%zu, strides %zux%zu, dilations %zux%zu "
                   "must be >= 1 and pixel strides %zu, %zu >= c = %zu",
                   what, g->k_h, g->k_w, g->s_h, g->s_w, g->d_h, g->d_w,
                   g->x_pix, g->y_pix, g->c);
  if (g->k_h > QI_U8_POOL_MAX_TAPS / g->k_w)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: window %zux%zu has 2^23 taps or more", what, g->k_h,
                   g->k_w);
  size_t pix = qi_cuda_mul_size(g->out_h, g->out_w);
  *count = qi_cuda_mul_size(pix, g->c);
  if (!*count && g->out_h && g->out_w && g->c)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: output %zux%zux%zu overflows",
                   what, g->out_h, g->out_w, g->c);
  return QI_OK;
}

extern "C" qi_status qi_cuda_u8_maxpool(qi_cuda_ctx *ctx,
                                        const qi_u8_pool_geom *g,
                                        const uint8_t *x, uint8_t *y,
                                        qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(check_geom("qi_cuda_u8_maxpool", g, x, y, &count, err));
  if (!count) return QI_OK;
  qi_cuda_u8_maxpool_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                              ctx->stream>>>(count, *g, x, y);
  return qi_cuda_launched(err, "qi_cuda_u8_maxpool_kernel");
}

extern "C" qi_status qi_cuda_u8_avgpool(qi_cuda_ctx *ctx,
                                        const qi_u8_pool_geom *g,
                                        const qi_u8_avgpool_params *p,
                                        const uint8_t *x, uint8_t *y,
                                        qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(check_geom("qi_cuda_u8_avgpool", g, x, y, &count, err));
  if (!p)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qi_cuda_u8_avgpool: NULL params");
  if (!count) return QI_OK;
  qi_cuda_u8_avgpool_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                              ctx->stream>>>(count, *g, *p, x, y);
  return qi_cuda_launched(err, "qi_cuda_u8_avgpool_kernel");
}

extern "C" qi_status qi_cuda_u8_gap(qi_cuda_ctx *ctx, size_t npix, size_t c,
                                    const uint8_t *x, size_t x_pix, uint8_t *y,
                                    const qi_u8_avgpool_params *p,
                                    qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!c) return QI_OK;
  if (!x || !y || !p || x_pix < c || npix < 1 || npix > QI_U8_POOL_MAX_TAPS)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qi_cuda_u8_gap: NULL buffer or params, pixel stride %zu "
                   "below c = %zu, or %zu pixels outside 1..2^23",
                   x_pix, c, npix);
  qi_cuda_u8_gap_kernel<<<qi_cuda_blocks(c), QI_CUDA_THREADS, 0, ctx->stream>>>(
      npix, c, x, x_pix, y, *p);
  return qi_cuda_launched(err, "qi_cuda_u8_gap_kernel");
}
