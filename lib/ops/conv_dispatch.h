/* FP32 kernel variants used by Conv, ConvTranspose, Gemm and MatMul,
 * chosen from the CPU features: the AVX2 ones when the CPU (and OS) run
 * AVX2, unless QINFER_ISA=scalar forces the scalar ones. */
#ifndef QI_OPS_CONV_DISPATCH_H
#define QI_OPS_CONV_DISPATCH_H

#include "fp32/bias_act.h"
#include "fp32/conv_gemm.h"
#include "fp32/dwconv.h"
#include "fp32/dwconv8.h"

typedef struct qi_f32_conv_kernels {
  qi_f32_dwconv2d_fn dwconv2d;
  /* Eight planes at once; NULL where not available. */
  void (*dwconv2d_x8)(const qi_f32_dw2d *p, const float *const in[8],
                      const float *const w[8], const float bias[8],
                      float *const out[8], float *scratch);
  qi_f32_bias_act_fn bias_act;
  qi_f32_gemm_ukernel_fn gemm_ukernel;
  qi_f32_gemm_pack_b_fn pack_b;
  qi_f32_gemm_pack_a_fn pack_a;
  /* gemm_ukernel with the epilogue fused into its store. */
  qi_f32_gemm_ukernel_epi_fn gemm_ukernel_epi;
} qi_f32_conv_kernels;

/* Reads the features and QINFER_ISA on each call (cheap; call it once per
 * prepare or run, not per row). An unknown or unavailable QINFER_ISA falls
 * back to the best ISA, as the GEMM dispatch does. */
qi_f32_conv_kernels qi_f32_conv_kernels_get(void);

#endif
