/* Scalar oracle of the u8s8 GEMM family, on unpacked weights. Slow and
 * obvious on purpose: tests compare every kernel against it, byte for byte. */
#ifndef QI_KERNELS_REF_GEMM_REF_H
#define QI_KERNELS_REF_GEMM_REF_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"

/* C = epilogue(A * B^T + bias_folded) with the math of gemm/gemm.h.
 *   a   [m x k], row stride lda         b     [n x k], row stride ldb
 *   bias  n int32 or NULL               mult  n floats
 *   r   residual [m x n] with stride ldr, or NULL
 *   c   [m x n], row stride ldc elements (uint8, or float if p->out_f32)
 *   acc if not NULL receives the int32 accumulators, [m x n] dense.
 * The caller keeps the accumulators inside int32 (packing checks that). */
void qi_u8s8_gemm_ref(size_t m, size_t n, size_t k, const uint8_t *a,
                      size_t lda, const int8_t *b, size_t ldb,
                      const int32_t *bias, int32_t za, const float *mult,
                      const qi_u8s8_gemm_params *p, const uint8_t *r,
                      size_t ldr, void *c, size_t ldc, int32_t *acc);

#endif
