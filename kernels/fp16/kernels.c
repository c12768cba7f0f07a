/* The FP16 kernel sets (fp16.h): which row, epilogue and microkernel
 * variants run together. Only function addresses here: this file is
 * compiled without ISA flags, the F16C set is used only after the caller
 * checked the CPU. */
#include "fp16/fp16.h"

qi_f16_kernels qi_f16_kernels_scalar(void) {
  qi_f16_kernels k = {qi_f16_to_f32__scalar,
                      qi_f16_from_f32__scalar,
                      qi_f16_epilogue__scalar,
                      qi_f16_gemm_ukernel_6x16__scalar,
                      qi_f32_gemm_ukernel_6x16__scalar,
                      qi_f32_gemm_pack_b_16__scalar,
                      qi_f32_dwconv2d__scalar};
  return k;
}

qi_f16_kernels qi_f16_kernels_f16c(void) {
  qi_f16_kernels k = {qi_f16_to_f32__f16c,
                      qi_f16_from_f32__f16c,
                      qi_f16_epilogue__f16c,
                      qi_f16_gemm_ukernel_6x16__f16c,
                      qi_f32_gemm_ukernel_6x16__avx2,
                      qi_f32_gemm_pack_b_16__avx2,
                      qi_f32_dwconv2d__avx2};
  return k;
}
