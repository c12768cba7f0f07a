/*
 * FP32 GEMM for Gemm and MatMul on our own microkernel, split over the
 * session's pool (no BLAS thread team, whose idle threads spin and steal
 * the pool's cores after every multi-threaded BLAS call):
 *
 *   C[t] = alpha * A[t] B[t]  (+ C[t] when accumulate),  t < nbatch
 *
 * with A[t] (m x k) element (i, p) at a + a_off(t) + i * a_rs + p * a_cs,
 * B[t] (k x n) element (p, j) at b + b_off(t) + p * b_rs + j * b_cs, and
 * C[t] row-major m x n at c + t * m * n. Transposed operands are just other
 * strides. The epilogue (if any) then runs on every row of C, with
 * col_bias (one value per column, may be NULL) added before the
 * activation.
 */
#ifndef QI_OPS_GEMM_F32_H
#define QI_OPS_GEMM_F32_H

#include "ops/conv_dispatch.h"
#include "ops/conv_epilogue.h"

typedef struct qi_f32_gemm {
  int64_t m, n, k, nbatch;
  const float *a;
  int64_t a_rs, a_cs;
  const float *b;
  int64_t b_rs, b_cs;
  float *c;
  float alpha;
  int accumulate;
  const qi_epilogue *epi;   /* NULL: none */
  const float *col_bias;    /* n values added to every row; NULL: none */
  /* Element offsets of A[t] and B[t]; NULL: 0 for every t. */
  void (*offsets)(const void *ctx, int64_t t, int64_t *a_off, int64_t *b_off);
  const void *offsets_ctx;
  /* B packed ahead by qi_f32_gemm_bpack_make for exactly these k, n and
   * strides (constant weights), used for every batch; NULL: each task
   * packs its own B columns on every call. */
  const struct qi_f32_gemm_bpack *b_packed;
} qi_f32_gemm;

/* A constant B [k x n] packed once, at model load, in the panels the
 * driver's tasks would otherwise pack on every run: K blocks of the
 * driver's KC rows, each a row of ceil(n / 16) panels of kc * 16 floats
 * (zero past n). Owned by the node's state; immutable once made, so
 * sessions on any thread share it. */
typedef struct qi_f32_gemm_bpack {
  int64_t k, n;
  float *data;
} qi_f32_gemm_bpack;

/* Packs B (element (p, j) at b[p * b_rs + j * b_cs]). NULL when out of
 * memory or the sizes are out of the driver's range. */
qi_f32_gemm_bpack *qi_f32_gemm_bpack_make(const float *b, int64_t b_rs,
                                          int64_t b_cs, int64_t k, int64_t n);
void qi_f32_gemm_bpack_free(qi_f32_gemm_bpack *bp);

/* Whether this driver runs the problem (AVX2 kernels, sizes in range). */
int qi_f32_gemm_supported(const qi_f32_conv_kernels *kern, int64_t m,
                          int64_t n, int64_t k, int64_t b_cs);

/* Scratch bytes for `nthreads` threads (the same for every problem). */
size_t qi_f32_gemm_scratch(int nthreads);

void qi_f32_gemm_run(qi_pool *pool, const qi_f32_conv_kernels *kern,
                     const qi_f32_gemm *g, void *scratch);

#endif
