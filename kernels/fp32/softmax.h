/*
 * FP32 row kernels of Softmax and LogSoftmax over a contiguous row x[0..n):
 *
 *   m = max_k x_k                               (qi_f32_rowmax_* in norm.h)
 *   s = sum_k exp(x_k - m)                      qi_f32_softmax_exp_sum
 *   softmax      y_k = exp(x_k - m) * (1 / s)   ... then qi_f32_scale
 *   log-softmax  y_k = (float)(x_k - (m + log s)), in double: qi_f32_sub_f64
 *
 * exp is Cephes expf: n = round(x log2 e), r = x - n ln2 with ln2 split in
 * two (n*LN2_HI exact), exp(r) = 1 + r + r^2 P(r) (degree 5), times 2^n
 * built from exponent bits as two factors 2^(n>>1) * 2^(n - n>>1) so that
 * results down in the denormal range round once. Inputs are clamped to
 * [-110, 89] (beyond, exp rounds to 0 or overflows to inf), NaN passes.
 * The scalar variant rounds each step and ends with (r + r^2 P) + 1; the
 * AVX2 one evaluates 1 + r (1 + r P) with fused multiply-adds. They may
 * differ in the last bit; each stays below QI_F32_EXP_MAX_ULP ulp of the
 * exact result over the whole float range, denormal results included
 * (worst 0.990 ulp scalar, 0.894 AVX2: exhaustive over every float in
 * [-111, 89.5]).
 *
 * The sum: within each block of QI_F32_SOFTMAX_SUM_BLOCK elements, element
 * i goes to float lane i % 8; at the end of the block the 8 lanes are added
 * into 8 double lanes, combined at the end by qi_f32_softmax_lane_total.
 * Every float lane sums at most 32 positive terms, so s is within 32 *
 * 2^-24 (2e-6) relative of the exact sum of the computed terms for any n.
 * Both variants add in that order. y may equal x.
 */
#ifndef QI_KERNELS_FP32_SOFTMAX_H
#define QI_KERNELS_FP32_SOFTMAX_H

#include <stddef.h>

#define QI_F32_EXP_MAX_ULP 1.0
#define QI_F32_SOFTMAX_SUM_BLOCK 256

/* ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)): the tree over the 8 double lanes. */
static inline double qi_f32_softmax_lane_total(const double l[8]) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

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

/* Softmax (log_out 0) or log-softmax (1) of `rows` contiguous rows of n
 * >= 1 elements, the formulas above with m from qi_f32_rowmax; every row
 * gets the same bytes as the one-row kernels give it. y may equal x. */
typedef void (*qi_f32_softmax_rows_fn)(const float *x, float *y, size_t rows,
                                       size_t n, int log_out);

void qi_f32_softmax_rows__scalar(const float *x, float *y, size_t rows,
                                 size_t n, int log_out);
void qi_f32_exp__scalar(const float *x, float *y, size_t n);
double qi_f32_softmax_exp_sum__scalar(const float *x, float m, float *y,
                                      size_t n);
void qi_f32_scale__scalar(float *y, float s, size_t n);
void qi_f32_sub_f64__scalar(const float *x, double c, float *y, size_t n);

/* Need AVX2 and FMA. softmax_rows interleaves pairs of rows. */
void qi_f32_softmax_rows__avx2(const float *x, float *y, size_t rows,
                               size_t n, int log_out);
void qi_f32_exp__avx2(const float *x, float *y, size_t n);
double qi_f32_softmax_exp_sum__avx2(const float *x, float m, float *y,
                                    size_t n);
void qi_f32_scale__avx2(float *y, float s, size_t n);
void qi_f32_sub_f64__avx2(const float *x, double c, float *y, size_t n);

#endif
