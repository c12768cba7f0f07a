/* uint8 Add, Mul and table lookup on the GPU (qi_cuda.h): one output byte
 * per loop step, arithmetic from cuda/elem.h. */
#include <string.h>

#include "cuda_internal.h"
#include "elem.h"

__global__ void qi_cuda_u8_add_kernel(size_t count, size_t c, const uint8_t *a,
                                      const uint8_t *b, qi_u8_bcast bcast,
                                      uint8_t *y, qi_u8_binary_params p) {
  QI_CUDA_FOR(o, count)
  y[o] = qi_cu_u8_add(a[o], b[qi_cu_bcast_index(o, c, bcast)], &p);
}

__global__ void qi_cuda_u8_mul_kernel(size_t count, size_t c, const uint8_t *a,
                                      const uint8_t *b, qi_u8_bcast bcast,
                                      uint8_t *y, qi_u8_binary_params p) {
  QI_CUDA_FOR(o, count)
  y[o] = qi_cu_u8_mul(a[o], b[qi_cu_bcast_index(o, c, bcast)], &p);
}

/* The table travels by value in the kernel's parameters and is copied to
 * shared memory once per block. */
typedef struct qi_cuda_table {
  uint8_t t[256];
} qi_cuda_table;

__global__ void qi_cuda_u8_lut_kernel(size_t count, size_t c, const uint8_t *x,
                                      size_t ldx, uint8_t *y, size_t ldy,
                                      qi_cuda_table table) {
  __shared__ uint8_t t[256];
  for (unsigned i = threadIdx.x; i < 256; i += blockDim.x) t[i] = table.t[i];
  __syncthreads();
  QI_CUDA_FOR(o, count)
  y[qi_cu_row_offset(o, c, ldy)] = t[x[qi_cu_row_offset(o, c, ldx)]];
}

static qi_status check_binary(const char *what, size_t rows, size_t c,
                              const uint8_t *a, const uint8_t *b,
                              qi_u8_bcast bcast, const uint8_t *y,
                              const qi_u8_binary_params *p, size_t *count,
                              qi_error *err) {
  *count = qi_cuda_mul_size(rows, c);
  if (!*count && rows && c)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: %zu x %zu overflows", what,
                   rows, c);
  if (!*count) return QI_OK;
  if (!a || !b || !y || !p)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: NULL buffer or params", what);
  if (bcast != QI_U8_BCAST_NONE && bcast != QI_U8_BCAST_ROW &&
      bcast != QI_U8_BCAST_SCALAR)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: unknown broadcast %d", what,
                   (int)bcast);
  return QI_OK;
}

extern "C" qi_status qi_cuda_u8_add(qi_cuda_ctx *ctx, size_t rows, size_t c,
                                    const uint8_t *a, const uint8_t *b,
                                    qi_u8_bcast bcast, uint8_t *y,
                                    const qi_u8_binary_params *p,
                                    qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(
      check_binary("qi_cuda_u8_add", rows, c, a, b, bcast, y, p, &count, err));
  if (!count) return QI_OK;
  qi_cuda_u8_add_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                          ctx->stream>>>(count, c, a, b, bcast, y, *p);
  return qi_cuda_launched(err, "qi_cuda_u8_add_kernel");
}

extern "C" qi_status qi_cuda_u8_mul(qi_cuda_ctx *ctx, size_t rows, size_t c,
                                    const uint8_t *a, const uint8_t *b,
                                    qi_u8_bcast bcast, uint8_t *y,
                                    const qi_u8_binary_params *p,
                                    qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count;
  QI_TRY(
      check_binary("qi_cuda_u8_mul", rows, c, a, b, bcast, y, p, &count, err));
  if (!count) return QI_OK;
  qi_cuda_u8_mul_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                          ctx->stream>>>(count, c, a, b, bcast, y, *p);
  return qi_cuda_launched(err, "qi_cuda_u8_mul_kernel");
}

extern "C" qi_status qi_cuda_u8_lut(qi_cuda_ctx *ctx, size_t rows, size_t c,
                                    const uint8_t *x, size_t ldx, uint8_t *y,
                                    size_t ldy, const uint8_t table[256],
                                    qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  size_t count = qi_cuda_mul_size(rows, c);
  if (!count && rows && c)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qi_cuda_u8_lut: %zu x %zu "
                   "overflows",
                   rows, c);
  if (!count) return QI_OK;
  if (!x || !y || !table || ldx < c || ldy < c)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qi_cuda_u8_lut: NULL buffer or table, or a row stride "
                   "below c = %zu (ldx %zu, ldy %zu)",
                   c, ldx, ldy);
  qi_cuda_table t;
  memcpy(t.t, table, sizeof t.t);
  qi_cuda_u8_lut_kernel<<<qi_cuda_blocks(count), QI_CUDA_THREADS, 0,
                          ctx->stream>>>(count, c, x, ldx, y, ldy, t);
  return qi_cuda_launched(err, "qi_cuda_u8_lut_kernel");
}
