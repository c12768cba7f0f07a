/* FP32 kernel variants used by the pooling, normalization and softmax ops
 * (kernels/fp32/pool.h, norm.h, softmax.h), chosen from the CPU features:
 * the AVX2 ones when the CPU (and OS) run AVX2, unless QINFER_ISA=scalar
 * forces the scalar ones. All variants give the same bytes, so the choice
 * changes speed only. */
#ifndef QI_OPS_NORM_DISPATCH_H
#define QI_OPS_NORM_DISPATCH_H

#include "fp32/norm.h"
#include "fp32/pool.h"
#include "fp32/softmax.h"

typedef struct qi_f32_norm_kernels {
  qi_f32_pool2d_fn maxpool2d;
  qi_f32_pool2d_fn avgpool2d;
  qi_f32_rowmax_fn rowmax;
  qi_f32_sum_f64_fn sum_f64;
  qi_f32_sqdev_sum_f64_fn sqdev_sum_f64;
  qi_f32_normalize_fn normalize;
  qi_f32_normalize_s_fn normalize_s;
  qi_f32_affine_fn affine;
  qi_f32_softmax_rows_fn softmax_rows;
} qi_f32_norm_kernels;

/* Reads the features and QINFER_ISA on each call (cheap; call it once per
 * run, not per row). An unknown or unavailable QINFER_ISA falls back to the
 * best ISA, as the other dispatchers do. */
qi_f32_norm_kernels qi_f32_norm_kernels_get(void);

#endif
