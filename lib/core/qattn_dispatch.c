/* The config table of the attention kernel families and its selection. */
#include "core/qattn_dispatch.h"

#include <stdlib.h>

#include "core/error.h"

#define SCALAR_KERNELS \
  qi_u8u8_matmul__scalar, qi_u8_softmax__scalar, qi_u8_layernorm__scalar
#define AVX2_KERNELS \
  qi_u8u8_matmul__avx2, qi_u8_softmax__avx2, qi_u8_layernorm__avx2

static const qi_qattn_config k_qattn_configs[QI_ISA_COUNT] = {
    [QI_ISA_SCALAR] = {QI_ISA_SCALAR, QI_ISA_SCALAR, SCALAR_KERNELS},
    [QI_ISA_AVX2] = {QI_ISA_AVX2, QI_ISA_AVX2, AVX2_KERNELS},
    [QI_ISA_AVXVNNI] = {QI_ISA_AVXVNNI, QI_ISA_AVX2, AVX2_KERNELS},
    [QI_ISA_AVX512VNNI] = {QI_ISA_AVX512VNNI, QI_ISA_AVX2, AVX2_KERNELS},
};

const qi_qattn_config *qi_qattn_config_of(qi_isa isa) {
  return (unsigned)isa < QI_ISA_COUNT ? &k_qattn_configs[isa] : NULL;
}

qi_status qi_qattn_config_choose(const qi_cpu_features *f, const char *override,
                                 const qi_qattn_config **cfg, qi_error *err) {
  qi_isa isa;
  qi_status st = qi_isa_choose(f, override, &isa, err);
  *cfg = &k_qattn_configs[isa];
  return st;
}

qi_status qi_qattn_config_default(const qi_qattn_config **cfg, qi_error *err) {
  return qi_qattn_config_choose(qi_cpu_features_get(), getenv("QINFER_ISA"),
                                cfg, err);
}
