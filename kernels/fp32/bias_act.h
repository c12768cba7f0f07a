/*
 * FP32 element-wise tail of a convolution or GEMM:
 *
 *   dst[i] = act((src[i] + bias) + res[i])      (res may be NULL: no term)
 *
 * act is one of the activations the fusion pass folds into producers, with
 * the numbering of qi_act in lib/graph/graph.h. RELU, CLIP, LEAKY,
 * HARDSWISH and HARDSIGMOID are exact in every variant (same float ops in
 * the same order as the scalar formulas); SIGMOID, SILU, TANH and GELU use
 * libm in the scalar variant and polynomial approximations within a few
 * ulp (GELU: 3e-7 absolute in erf) in the vector ones. dst may equal src
 * or res; other overlaps are not allowed.
 */
#ifndef QI_KERNELS_FP32_BIAS_ACT_H
#define QI_KERNELS_FP32_BIAS_ACT_H

#include <stddef.h>

enum {
  QI_F32_ACT_NONE = 0,
  QI_F32_ACT_RELU = 1,
  QI_F32_ACT_CLIP = 2,        /* alpha = min, beta = max */
  QI_F32_ACT_LEAKY = 3,       /* alpha = slope */
  QI_F32_ACT_SIGMOID = 4,
  QI_F32_ACT_HARDSWISH = 5,
  QI_F32_ACT_SILU = 6,
  QI_F32_ACT_GELU = 7,
  QI_F32_ACT_HARDSIGMOID = 8, /* alpha * x + beta, clamped to [0, 1] */
  QI_F32_ACT_TANH = 9
};

typedef struct qi_f32_act {
  int kind;
  float alpha, beta;
} qi_f32_act;

typedef void (*qi_f32_bias_act_fn)(const qi_f32_act *a, float bias,
                                   const float *src, const float *res,
                                   float *dst, size_t n);

void qi_f32_bias_act__scalar(const qi_f32_act *a, float bias,
                             const float *src, const float *res, float *dst,
                             size_t n);
/* Needs AVX2 and FMA. */
void qi_f32_bias_act__avx2(const qi_f32_act *a, float bias, const float *src,
                           const float *res, float *dst, size_t n);

#endif
