/* Variant choice for the FP32 convolution kernels; see conv_dispatch.h. */
#include "ops/conv_dispatch.h"

#include <stdlib.h>

#include "core/cpu_features.h"

qi_f32_conv_kernels qi_f32_conv_kernels_get(void) {
  const qi_cpu_features *f = qi_cpu_features_get();
  qi_isa isa = qi_cpu_features_best(f);
  const char *force = getenv("QINFER_ISA");
  qi_isa want;
  if (force && *force && qi_isa_parse(force, &want, NULL) == QI_OK &&
      qi_cpu_features_have(f, want))
    isa = want;
  qi_f32_conv_kernels k = {qi_f32_dwconv2d__scalar, NULL, qi_f32_bias_act__scalar,
                           qi_f32_gemm_ukernel_6x16__scalar,
                           qi_f32_gemm_pack_b_16__scalar,
                           qi_f32_gemm_pack_a_6s,
                           qi_f32_gemm_ukernel_6x16_epi__scalar};
  if (isa >= QI_ISA_AVX2) {
    k.dwconv2d = qi_f32_dwconv2d__avx2;
    k.dwconv2d_x8 = qi_f32_dwconv2d_x8__avx2;
    k.bias_act = qi_f32_bias_act__avx2;
    k.gemm_ukernel = qi_f32_gemm_ukernel_6x16__avx2;
    k.gemm_ukernel_epi = qi_f32_gemm_ukernel_6x16_epi__avx2;
    k.pack_b = qi_f32_gemm_pack_b_16__avx2;
    k.pack_a = qi_f32_gemm_pack_a_6s__avx2;
  }
  return k;
}
