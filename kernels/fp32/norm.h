/*
 * FP32 row kernels of the normalization, global pooling and softmax ops,
 * over a contiguous row x[0..n):
 *
 *   rowmax          max_i x[i], NaN if any x[i] is NaN, -inf if n == 0
 *   sum_f64         sum_i (double)x[i]
 *   sqdev_sum_f64   sum_i ((double)x[i] - mean)^2
 *   normalize       y[i] = (float)(((double)x[i] - mean) * inv) * scale[i]
 *                          + bias[i]     (float product and sum)
 *   normalize_s     the same with one scale and one bias for the row
 *   affine          y[i] = x[i] * a + b  (float)
 *
 * Sums are taken in double in 8 lanes (element i goes to lane i % 8) and
 * combined as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7)); the max keeps 16 lanes
 * (i % 16), folds lane k + 8 into lane k, then takes the same tree. Every
 * variant does the same operations in the same order (no FMA), so scalar
 * and AVX2 give the same bytes, NaN payloads aside.
 * y may equal x; other overlaps are not allowed.
 */
#ifndef QI_KERNELS_FP32_NORM_H
#define QI_KERNELS_FP32_NORM_H

#include <stddef.h>

typedef float (*qi_f32_rowmax_fn)(const float *x, size_t n);
typedef double (*qi_f32_sum_f64_fn)(const float *x, size_t n);
typedef double (*qi_f32_sqdev_sum_f64_fn)(const float *x, size_t n,
                                          double mean);
typedef void (*qi_f32_normalize_fn)(const float *x, size_t n, double mean,
                                    double inv, const float *scale,
                                    const float *bias, float *y);
typedef void (*qi_f32_normalize_s_fn)(const float *x, size_t n, double mean,
                                      double inv, float scale, float bias,
                                      float *y);
typedef void (*qi_f32_affine_fn)(const float *x, size_t n, float a, float b,
                                 float *y);

float qi_f32_rowmax__scalar(const float *x, size_t n);
double qi_f32_sum_f64__scalar(const float *x, size_t n);
double qi_f32_sqdev_sum_f64__scalar(const float *x, size_t n, double mean);
void qi_f32_normalize__scalar(const float *x, size_t n, double mean,
                              double inv, const float *scale,
                              const float *bias, float *y);
void qi_f32_normalize_s__scalar(const float *x, size_t n, double mean,
                                double inv, float scale, float bias, float *y);
void qi_f32_affine__scalar(const float *x, size_t n, float a, float b,
                           float *y);

/* Need AVX2. */
float qi_f32_rowmax__avx2(const float *x, size_t n);
double qi_f32_sum_f64__avx2(const float *x, size_t n);
double qi_f32_sqdev_sum_f64__avx2(const float *x, size_t n, double mean);
void qi_f32_normalize__avx2(const float *x, size_t n, double mean, double inv,
                            const float *scale, const float *bias, float *y);
void qi_f32_normalize_s__avx2(const float *x, size_t n, double mean,
                              double inv, float scale, float bias, float *y);
void qi_f32_affine__avx2(const float *x, size_t n, float a, float b,
                         float *y);

#endif
