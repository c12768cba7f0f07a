/*
 * cuda/: the CUDA side of qinfer, as a C API (docs/cuda.md). Built only
 * when the Makefile finds nvcc; lib/ reaches it through one file,
 * lib/runtime/backend_cuda_glue.c.
 *
 * A qi_cuda_ctx is one device and one stream; it is used by one thread at
 * a time. Every function returns a qi_status and never aborts: each CUDA
 * and cuBLASLt call is checked, no device / a bad index / a driver that is
 * too old give QI_ERR_DEVICE, an allocation the device refuses gives
 * QI_ERR_NOMEM, bad sizes QI_ERR_INVALID_ARG; the message names the call
 * and CUDA's own error string.
 *
 * Pointers named dev_* or documented as device memory come from
 * qi_cuda_alloc; kernels are asynchronous on the ctx's stream (launch
 * errors are reported at once, faults at the next qi_cuda_sync or
 * download). The INT8 kernels write the bytes of the CPU paths exactly:
 * their arithmetic is cuda/elem.h, the CPU rules of docs/quantization.md.
 * Kernels never allocate; the GEMM takes a scratch buffer sized by
 * qi_cuda_qgemm_scratch_bytes.
 */
#ifndef QI_CUDA_H
#define QI_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"
#include "qelt/qelt.h"
#include "qinfer.h"
#include "qpool/qpool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- devices, memory, streams (cuda/device.cu) --------------------------- */

typedef struct qi_cuda_ctx qi_cuda_ctx;

/* Number of CUDA devices; QI_ERR_DEVICE "no CUDA device: <CUDA's reason>"
 * when the runtime finds none or cannot ask (no driver). */
qi_status qi_cuda_device_count(int *count, qi_error *err);
/* QI_OK if device_index names a present device, else QI_ERR_DEVICE naming
 * the index and how many devices there are. */
qi_status qi_cuda_device_check(int device_index, qi_error *err);
/* Name and compute capability of a device, for reports. */
qi_status qi_cuda_device_describe(int device_index, char *name,
                                  size_t name_size, int *cc_major,
                                  int *cc_minor, qi_error *err);

qi_status qi_cuda_ctx_create(int device_index, qi_cuda_ctx **ctx,
                             qi_error *err);
/* Synchronizes and frees. NULL is ignored. */
void qi_cuda_ctx_free(qi_cuda_ctx *ctx);

qi_status qi_cuda_alloc(qi_cuda_ctx *ctx, size_t bytes, void **dev,
                        qi_error *err);
/* NULL is ignored. */
void qi_cuda_free(qi_cuda_ctx *ctx, void *dev);
/* Host <-> device copies; both return once the copy is done. */
qi_status qi_cuda_upload(qi_cuda_ctx *ctx, void *dev, const void *host,
                         size_t bytes, qi_error *err);
qi_status qi_cuda_download(qi_cuda_ctx *ctx, void *host, const void *dev,
                           size_t bytes, qi_error *err);
/* Fills device bytes with `byte` (asynchronous). */
qi_status qi_cuda_fill(qi_cuda_ctx *ctx, void *dev, int byte, size_t bytes,
                       qi_error *err);
/* Waits for the stream; reports any fault of the work queued on it. */
qi_status qi_cuda_sync(qi_cuda_ctx *ctx, qi_error *err);

/* Device-side timing with events on the ctx's stream. */
typedef struct qi_cuda_timer qi_cuda_timer;
qi_status qi_cuda_timer_create(qi_cuda_ctx *ctx, qi_cuda_timer **timer,
                               qi_error *err);
qi_status qi_cuda_timer_start(qi_cuda_timer *timer, qi_error *err);
/* Records the end, waits for it, and writes the milliseconds between. */
qi_status qi_cuda_timer_stop(qi_cuda_timer *timer, float *ms, qi_error *err);
void qi_cuda_timer_free(qi_cuda_timer *timer);

/* ---- QiQuantize / QiDequantize (cuda/convert.cu) ------------------------- */
/* The rules of lib/ops/qop_convert.h: q = sat(rne(x / scale) + zp) with
 * NaN -> zp; y = (float)(q - zp) * scale. scale > 0, zp 0..255.
 * Same layout: count elements. Layout change: images of c x hw. */
qi_status qi_cuda_quantize(qi_cuda_ctx *ctx, size_t count, const float *x,
                           uint8_t *y, float scale, int32_t zp, qi_error *err);
/* x NCHW [n, c, hw] float -> y NHWC [n, hw, c] uint8. */
qi_status qi_cuda_quantize_nchw_nhwc(qi_cuda_ctx *ctx, size_t n, size_t c,
                                     size_t hw, const float *x, uint8_t *y,
                                     float scale, int32_t zp, qi_error *err);
qi_status qi_cuda_dequantize(qi_cuda_ctx *ctx, size_t count, const uint8_t *q,
                             float *y, float scale, int32_t zp, qi_error *err);
/* q NHWC [n, hw, c] uint8 -> y NCHW [n, c, hw] float. */
qi_status qi_cuda_dequantize_nhwc_nchw(qi_cuda_ctx *ctx, size_t n, size_t c,
                                       size_t hw, const uint8_t *q, float *y,
                                       float scale, int32_t zp, qi_error *err);

/* ---- GEMM epilogue and activation shift (cuda/requant.cu) ---------------- */
/* c[i][j] = gemm/gemm.h's epilogue of acc[i][j] + bias[j] (int32; the
 * caller keeps the sum inside int32, as the weight upload checks):
 * uint8 with mult[j], zy, clamp and the optional residual r (row stride
 * ldr, NULL for none), or float32 (p->out_f32) = (float)acc * mult[j].
 * acc rows have stride ldacc, c rows ldc elements; bias may be NULL. */
qi_status qi_cuda_requant(qi_cuda_ctx *ctx, size_t m, size_t n,
                          const int32_t *acc, size_t ldacc, const int32_t *bias,
                          const float *mult, const uint8_t *r, size_t ldr,
                          void *c, size_t ldc, const qi_u8s8_gemm_params *p,
                          qi_error *err);
/* a8[i][t] = a[i][t] - 128 as int8 for t < k, 0 for k <= t < kpad
 * (kpad >= k): uint8 activations for the int8 x int8 tensor cores. */
qi_status qi_cuda_shift_u8_s8(qi_cuda_ctx *ctx, size_t m, size_t k,
                              const uint8_t *a, size_t lda, int8_t *a8,
                              size_t kpad, qi_error *err);

/* ---- uint8 element-wise and table kernels (cuda/qelt.cu) ----------------- */
/* qelt/qelt.h's Add and Mul: rows x c, b per `bcast`; y may be a (or b with
 * QI_U8_BCAST_NONE). */
qi_status qi_cuda_u8_add(qi_cuda_ctx *ctx, size_t rows, size_t c,
                         const uint8_t *a, const uint8_t *b, qi_u8_bcast bcast,
                         uint8_t *y, const qi_u8_binary_params *p,
                         qi_error *err);
qi_status qi_cuda_u8_mul(qi_cuda_ctx *ctx, size_t rows, size_t c,
                         const uint8_t *a, const uint8_t *b, qi_u8_bcast bcast,
                         uint8_t *y, const qi_u8_binary_params *p,
                         qi_error *err);
/* y = table[x] over rows of c bytes (strides ldx, ldy >= c): the table
 * activations of qlut/qlut.h and the requantizing Concat input. `table`
 * is HOST memory (256 bytes, passed by value to the kernel). */
qi_status qi_cuda_u8_lut(qi_cuda_ctx *ctx, size_t rows, size_t c,
                         const uint8_t *x, size_t ldx, uint8_t *y, size_t ldy,
                         const uint8_t table[256], qi_error *err);

/* ---- uint8 pooling, NHWC, one image (cuda/qpool.cu) ---------------------- */
/* qpool/qpool.h's MaxPool / AveragePool over all output rows, and
 * GlobalAveragePool into c contiguous bytes. */
qi_status qi_cuda_u8_maxpool(qi_cuda_ctx *ctx, const qi_u8_pool_geom *g,
                             const uint8_t *x, uint8_t *y, qi_error *err);
qi_status qi_cuda_u8_avgpool(qi_cuda_ctx *ctx, const qi_u8_pool_geom *g,
                             const qi_u8_avgpool_params *p, const uint8_t *x,
                             uint8_t *y, qi_error *err);
qi_status qi_cuda_u8_gap(qi_cuda_ctx *ctx, size_t npix, size_t c,
                         const uint8_t *x, size_t x_pix, uint8_t *y,
                         const qi_u8_avgpool_params *p, qi_error *err);

/* ---- cuBLASLt GEMMs (cuda/qgemm.cu) -------------------------------------- */
/* A cuBLASLt handle and its workspace on one ctx (the ctx must outlive
 * it). Only this part of cuda/ links cuBLASLt: loading that library costs
 * a process about 0.15 s, so programs that never ask for a GEMM never load
 * it (the Makefile links the CUDA libraries --as-needed). */
typedef struct qi_cuda_blas qi_cuda_blas;
/* workspace_bytes 0 picks 32 MiB. */
qi_status qi_cuda_blas_create(qi_cuda_ctx *ctx, size_t workspace_bytes,
                              qi_cuda_blas **blas, qi_error *err);
void qi_cuda_blas_free(qi_cuda_blas *blas);

/* c[m x n] (int32, row-major) = a[m x k] (int8, row-major) * b[n x k]^T:
 * cuBLASLt int8 tensor cores, CUBLAS_COMPUTE_32I, exact. k and n multiples
 * of 4 (the IMMA layout rule); device pointers from qi_cuda_alloc. */
qi_status qi_cuda_gemm_s8s8s32(qi_cuda_blas *blas, size_t m, size_t n, size_t k,
                               const int8_t *a, const int8_t *b, int32_t *c,
                               qi_error *err);
/* The same with IEEE half operands and output, float32 accumulation (for
 * FP16 layers and the throughput benchmark). k and n multiples of 8. */
qi_status qi_cuda_gemm_f16(qi_cuda_blas *blas, size_t m, size_t n, size_t k,
                           const void *a, const void *b, void *c,
                           qi_error *err);

/* Weights of one u8s8 GEMM on the device: int8 B padded to [npad x kpad]
 * (multiples of 4, zeros), the GPU bias (cuda/elem.h: bias_folded +
 * 128 * sum_k B) and mult. */
typedef struct qi_cuda_qgemm_weights qi_cuda_qgemm_weights;
/* b [n x k] (row stride ldb) int8 in -127..127, bias n int32 or NULL, za the
 * activations' zero point, mult n floats (host memory, read during the
 * call). Refuses, like the CPU packer, k > QI_U8S8_GEMM_MAX_K and channels
 * whose accumulator could leave int32 (QI_ERR_INVALID_ARG naming it). */
qi_status qi_cuda_qgemm_weights_create(qi_cuda_ctx *ctx, size_t n, size_t k,
                                       const int8_t *b, size_t ldb,
                                       const int32_t *bias, int32_t za,
                                       const float *mult,
                                       qi_cuda_qgemm_weights **w,
                                       qi_error *err);
void qi_cuda_qgemm_weights_free(qi_cuda_qgemm_weights *w);
size_t qi_cuda_qgemm_scratch_bytes(size_t m, const qi_cuda_qgemm_weights *w);
/* c = epilogue(a * B^T + bias_folded), byte for byte qi_u8s8_gemm_ref:
 * a [m x k] uint8 (row stride lda, device), r residual or NULL, c [m x n]
 * uint8 or float per p->out_f32 (row stride ldc). Shifts a to int8,
 * multiplies on the tensor cores, then qi_cuda_requant with the GPU bias.
 * scratch: device memory of qi_cuda_qgemm_scratch_bytes(m, w) bytes. */
qi_status qi_cuda_qgemm(qi_cuda_blas *blas, size_t m, const uint8_t *a,
                        size_t lda, const qi_cuda_qgemm_weights *w,
                        const uint8_t *r, size_t ldr, void *c, size_t ldc,
                        const qi_u8s8_gemm_params *p, void *scratch,
                        size_t scratch_bytes, qi_error *err);

#ifdef __cplusplus
}
#endif

#endif
