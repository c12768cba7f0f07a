/* The u8s8 GEMM config table and its selection. */
#include "core/gemm_dispatch.h"

#include <stdlib.h>

#include "core/error.h"

/* Indexed by qi_isa; selection walks it from the best ISA down. */
static const qi_qgemm_config k_qgemm_configs[QI_ISA_COUNT] = {
    [QI_ISA_SCALAR] = {QI_ISA_SCALAR,
                       "qi_u8s8_gemm_requant_ukernel_4x8c4__scalar",
                       qi_u8s8_gemm_requant_ukernel_4x8c4__scalar,
                       qi_u8s8_gemm_pack_c4_i8, NULL, 4, 8, 4, 1},
    [QI_ISA_AVX2] = {QI_ISA_AVX2, "qi_u8s8_gemm_requant_ukernel_4x16c2__avx2",
                     qi_u8s8_gemm_requant_ukernel_4x16c2__avx2,
                     qi_u8s8_gemm_pack_c2_i16,
                     qi_u8s8_gemm_apack_u16__avx2, 4, 16, 4, 2},
    [QI_ISA_AVXVNNI] = {QI_ISA_AVXVNNI,
                        "qi_u8s8_gemm_requant_ukernel_6x16c4__avxvnni",
                        qi_u8s8_gemm_requant_ukernel_6x16c4__avxvnni,
                        qi_u8s8_gemm_pack_c4_i8, NULL, 6, 16, 4, 1},
    [QI_ISA_AVX512VNNI] = {QI_ISA_AVX512VNNI,
                           "qi_u8s8_gemm_requant_ukernel_8x32c4__avx512vnni",
                           qi_u8s8_gemm_requant_ukernel_8x32c4__avx512vnni,
                           qi_u8s8_gemm_pack_c4_i8, NULL, 8, 32, 4, 1},
};

const qi_qgemm_config *qi_qgemm_config_of(qi_isa isa) {
  return (unsigned)isa < QI_ISA_COUNT ? &k_qgemm_configs[isa] : NULL;
}

qi_status qi_qgemm_config_choose(const qi_cpu_features *f,
                                 const char *override,
                                 const qi_qgemm_config **cfg, qi_error *err) {
  qi_isa isa;
  qi_status st = qi_isa_choose(f, override, &isa, err);
  *cfg = &k_qgemm_configs[isa];
  return st;
}

qi_status qi_qgemm_config_default(const qi_qgemm_config **cfg,
                                  qi_error *err) {
  return qi_qgemm_config_choose(qi_cpu_features_get(), getenv("QINFER_ISA"),
                                cfg, err);
}
