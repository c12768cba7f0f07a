/*
 * FP32 matrix-vector products for one-row GEMMs (a classifier head):
 *
 *   rows: y[j] (+)= alpha * sum_{p < k} x[p] * w[j * ldw + p]   (W is n x k)
 *   cols: y[j] (+)= alpha * sum_{p < k} x[p] * b[p * ldb + j]   (B is k x n)
 *
 * for j < n; accumulate = 0 overwrites y. Memory-bound: each weight is read
 * once. Callers split n across threads.
 */
#ifndef QI_KERNELS_FP32_GEMV_H
#define QI_KERNELS_FP32_GEMV_H

#include <stdint.h>

typedef void (*qi_f32_gemv_fn)(int64_t n, int64_t k, float alpha,
                               const float *x, const float *w, int64_t ld,
                               float *y, int accumulate);

void qi_f32_gemv_rows__scalar(int64_t n, int64_t k, float alpha,
                              const float *x, const float *w, int64_t ldw,
                              float *y, int accumulate);
void qi_f32_gemv_cols__scalar(int64_t n, int64_t k, float alpha,
                              const float *x, const float *b, int64_t ldb,
                              float *y, int accumulate);
/* Need AVX2 and FMA. */
void qi_f32_gemv_rows__avx2(int64_t n, int64_t k, float alpha,
                            const float *x, const float *w, int64_t ldw,
                            float *y, int accumulate);
void qi_f32_gemv_cols__avx2(int64_t n, int64_t k, float alpha,
                            const float *x, const float *b, int64_t ldb,
                            float *y, int accumulate);

#endif
