/* The uint8 x int8 GEMM driver used by INT8 convolutions (channels-last:
 * M = output pixels, K = kernel taps x input channels, N = output channels)
 * and INT8 MatMul/Gemm. It packs weights for one config of
 * core/gemm_dispatch.h, blocks M and N for the caches, splits the tiles
 * across a thread pool and calls the microkernel, whose epilogue (requantize
 * or dequantize, optional fused residual add) is defined in gemm/gemm.h. */
#ifndef QI_CORE_QGEMM_H
#define QI_CORE_QGEMM_H

#include <stddef.h>
#include <stdint.h>

#include "core/gemm_dispatch.h"
#include "core/pool.h"
#include "qinfer.h"

/* Weights packed for one config. Immutable once packed, so any number of
 * threads and sessions may run with it at once. */
typedef struct qi_qgemm_packed {
  const qi_qgemm_config *cfg; /* kernel the layout was made for */
  int64_t n, k;               /* output channels, reduction length */
  size_t strip_bytes;         /* bytes per strip of cfg->nr channels */
  const void *data;           /* borrowed: the buffer given to the pack */
} qi_qgemm_packed;

/* Bytes of packed weights for n x k weights and `cfg`; 0 if n or k is out
 * of range (n, k >= 1, k <= QI_U8S8_GEMM_MAX_K, n < 2^31). */
size_t qi_qgemm_packed_size(const qi_qgemm_config *cfg, int64_t n,
                            int64_t k);

/* Packs weights for `cfg`.
 *   b     int8 [n x k], row stride ldb >= k, values in -127..127
 *   bias  int32 [n] in the accumulator scale (sa * sw[n]), or NULL
 *   za    the activation zero point, 0..255 (folded into the bias here)
 *   mult  float [n]: for uint8 output sa * sw[n] / sy, for float32 output
 *         sa * sw[n]; finite
 *   buf   buf_size >= qi_qgemm_packed_size bytes, 64-byte aligned for
 *         speed; owned by the caller and must outlive `out`.
 * Nothing is read after the call except buf. QI_ERR_UNSUPPORTED names the
 * channel whose int32 accumulator could overflow. */
qi_status qi_qgemm_pack(const qi_qgemm_config *cfg, int64_t n, int64_t k,
                        const int8_t *b, size_t ldb, const int32_t *bias,
                        int32_t za, const float *mult, void *buf,
                        size_t buf_size, qi_qgemm_packed *out, qi_error *err);

/* The epilogue, exactly as in gemm/gemm.h:
 *   uint8:  C = clamp(rne((float)acc*mult[n] [+ (float)(R - zr)*rmult])
 *                     + zy, qmin, qmax)
 *   float:  C = (float)acc * mult[n]
 * ReLU is qmin = zy; ReLU6 is also qmax = min(255, zy + rne(6 / sy)). */
typedef struct qi_requant_params {
  int out_f32;             /* 0: C is uint8; 1: C is float32 */
  int32_t zy;              /* output zero point, 0..255 */
  int32_t qmin, qmax;      /* 0 <= qmin <= qmax <= 255 */
  const uint8_t *residual; /* NULL, or uint8 [M x N] (uint8 output only) */
  size_t ldr;              /* residual row stride, >= N */
  int32_t zr;              /* residual zero point, 0..255 */
  float rmult;             /* residual scale / output scale */
} qi_requant_params;

/* out_f32 0, zy 0, qmin 0, qmax 255, no residual. */
qi_requant_params qi_requant_params_default(void);

/* Scratch bytes qi_qgemm needs for M = m on a pool of `nthreads` threads
 * (kernels that read A widened get it packed there, one slice per thread;
 * 0 for the others). */
size_t qi_qgemm_workspace_size(const qi_qgemm_packed *w, int64_t m,
                               int nthreads);

/* C[M x N] = epilogue(A[M x K] * W^T).
 *   a   uint8 [m x k], row stride lda >= k (bytes); read only, no over-read
 *   c   row stride ldc >= n, in elements (uint8 or float), so an output can
 *       land inside a wider channels-last buffer; only the m x n elements
 *       are written
 *   pool     NULL runs on the calling thread
 *   scratch  scratch_size >= qi_qgemm_workspace_size(w, m, pool size)
 *            bytes, owned by the caller, 64-byte aligned for speed; may be
 *            NULL when that size is 0
 * The residual may be c itself (same elements, in-place add); otherwise a,
 * the residual and scratch must not overlap c's written elements. */
qi_status qi_qgemm(const qi_qgemm_packed *w, const uint8_t *a, size_t lda,
                   int64_t m, const qi_requant_params *rp, void *c,
                   size_t ldc, qi_pool *pool, void *scratch,
                   size_t scratch_size, qi_error *err);

#endif
