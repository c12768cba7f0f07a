/*
 * FP32 row kernels of Softmax and LogSoftmax over a contiguous row x[0..n):
 *
 *   m = max_k x_k                               (qi_f32_rowmax_* in norm.h)
 *   s = sum_k exp(x_k - m)                      qi_f32_softmax_exp_sum
 *   softmax      y_k = exp(x_k - m) * (1 / s)   ... then qi_f32_scale
 *   log-softmax  y_k = (float)(x_k - (m + log s)), in double: qi_f32_sub_f64
 *
 * exp is Cephes expf without FMA: n = round(x log2 e), r = x - n ln2 with
 * ln2 split in two (n*LN2_HI exact), exp(r) = 1 + r + r^2 P(r) (degree 5),
 * times 2^n built from exponent bits as two factors 2^(n>>1) * 2^(n - n>>1)
 * so that results down in the denormal range round once. Inputs are clamped
 * to [-110, 89] (beyond, exp rounds to 0 or overflows to inf), NaN passes.
 * Error below QI_F32_EXP_MAX_ULP ulp of the exact result over the whole
 * float range, denormal results included (0.990 ulp worst, found by an
 * exhaustive run over every float in [-111, 89.5]).
 *
 * Sums are taken in double in 8 lanes (element k goes to lane k % 8) and
 * combined as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)). Every variant uses the
 * same float and double operations in the same order, so scalar and AVX2
 * give the same bytes (NaN payloads aside). y may equal x.
 */
#ifndef QI_KERNELS_FP32_SOFTMAX_H
#define QI_KERNELS_FP32_SOFTMAX_H

#include <stddef.h>

#define QI_F32_EXP_MAX_ULP 1.0

/* y[i] = exp(x[i]). */
typedef void (*qi_f32_exp_fn)(const float *x, float *y, size_t n);
/* Returns sum_i exp(x[i] - m); stores the terms to y unless y is NULL. */
typedef double (*qi_f32_softmax_exp_sum_fn)(const float *x, float m, float *y,
                                            size_t n);
/* y[i] *= s. */
typedef void (*qi_f32_scale_fn)(float *y, float s, size_t n);
/* y[i] = (float)((double)x[i] - c). */
typedef void (*qi_f32_sub_f64_fn)(const float *x, double c, float *y,
                                  size_t n);

void qi_f32_exp__scalar(const float *x, float *y, size_t n);
double qi_f32_softmax_exp_sum__scalar(const float *x, float m, float *y,
                                      size_t n);
void qi_f32_scale__scalar(float *y, float s, size_t n);
void qi_f32_sub_f64__scalar(const float *x, double c, float *y, size_t n);

/* Need AVX2. */
void qi_f32_exp__avx2(const float *x, float *y, size_t n);
double qi_f32_softmax_exp_sum__avx2(const float *x, float m, float *y,
                                    size_t n);
void qi_f32_scale__avx2(float *y, float s, size_t n);
void qi_f32_sub_f64__avx2(const float *x, double c, float *y, size_t n);

#endif
