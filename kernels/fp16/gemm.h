/*
 * FP16 GEMM for MatMul and Gemm with constant weights:
 *
 *   Y[i][j] = act(sum_{p < k} float(A[i][p]) * float(W[j][p]) + bias[j])
 *
 * A fp16 activations (row stride lda), W fp16 weights packed once
 * (qi_f16_gemm_pack), Y fp16 (rounded once, RNE) or fp32 rows (stride
 * ldy); float32 accumulation. The work is split into blocks of
 * QI_F16_GEMM_MC rows x QI_F16_GEMM_NC columns that callers run in any
 * order, on any thread, each with its own scratch. Per K block of
 * QI_F16_GEMM_KC a block widens 6 rows of A into a float panel and runs
 * the fp16-weight microkernel (fp16.h) over its 16-column weight panels
 * into a float tile; the epilogue (fp16.h) writes the finished tile.
 */
#ifndef QI_KERNELS_FP16_GEMM_H
#define QI_KERNELS_FP16_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "fp16/fp16.h"

#define QI_F16_GEMM_MR 6
#define QI_F16_GEMM_NR 16
#define QI_F16_GEMM_KC 256
#define QI_F16_GEMM_MC 48
#define QI_F16_GEMM_NC 128

/* Halves of the packed weights: ceil(n / 16) panels of k x 16. */
size_t qi_f16_gemm_packed_halves(int64_t n, int64_t k);
/* Packs the n x k weights, element (j, p) at w[j * rs + p * cs] (so [N, K]
 * rows and [K, N] columns pack alike): panel t holds columns
 * [16t, 16t + 16) as k rows of 16 halves, zero past n. */
void qi_f16_gemm_pack(const uint16_t *w, int64_t n, int64_t k, int64_t rs,
                      int64_t cs, uint16_t *packed);

typedef struct qi_f16_gemm_args {
  int64_t m, n, k;
  const uint16_t *a;
  int64_t lda;
  const uint16_t *wpack; /* qi_f16_gemm_pack of W */
  const float *bias;     /* [n] or NULL */
  qi_f16_act act;
  void *y; /* uint16_t (fp16) or float rows */
  int64_t ldy;
  int y_f32;
} qi_f16_gemm_args;

/* Blocks of the problem: ceil(m / MC) * ceil(n / NC). */
int64_t qi_f16_gemm_num_blocks(const qi_f16_gemm_args *g);
/* Bytes of scratch one block needs (float-aligned). */
size_t qi_f16_gemm_scratch_bytes(void);
/* Computes block `block` (row block block / ncb, column block
 * block % ncb); touches only its rows and columns of Y. */
void qi_f16_gemm_block(const qi_f16_kernels *kern, const qi_f16_gemm_args *g,
                       int64_t block, void *scratch);

#endif
