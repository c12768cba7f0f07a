/* The config table of the uint8 element-wise families and its selection. */
#include "core/qelt_dispatch.h"

#include <stdlib.h>

#include "core/error.h"

#define SCALAR_KERNELS                                                 \
  qi_u8_add__scalar, qi_u8_mul__scalar, qi_u8_concat__scalar,          \
      qi_u8_lut__scalar, qi_u8_maxpool__scalar, qi_u8_avgpool__scalar, \
      qi_u8_gap__scalar, qi_u8_resize_nearest__scalar,                 \
      qi_u8_resize_bilinear__scalar
/* Nearest Resize only copies: its one implementation serves every ISA. */
#define AVX2_KERNELS                                                     \
  qi_u8_add__avx2, qi_u8_mul__avx2, qi_u8_concat__avx2, qi_u8_lut__avx2, \
      qi_u8_maxpool__avx2, qi_u8_avgpool__avx2, qi_u8_gap__avx2,         \
      qi_u8_resize_nearest__scalar, qi_u8_resize_bilinear__avx2

static const qi_qelt_config k_qelt_configs[QI_ISA_COUNT] = {
    [QI_ISA_SCALAR] = {QI_ISA_SCALAR, QI_ISA_SCALAR, SCALAR_KERNELS},
    [QI_ISA_AVX2] = {QI_ISA_AVX2, QI_ISA_AVX2, AVX2_KERNELS},
    [QI_ISA_AVXVNNI] = {QI_ISA_AVXVNNI, QI_ISA_AVX2, AVX2_KERNELS},
    [QI_ISA_AVX512VNNI] = {QI_ISA_AVX512VNNI, QI_ISA_AVX2, AVX2_KERNELS},
};

const qi_qelt_config *qi_qelt_config_of(qi_isa isa) {
  return (unsigned)isa < QI_ISA_COUNT ? &k_qelt_configs[isa] : NULL;
}

qi_status qi_qelt_config_choose(const qi_cpu_features *f, const char *override,
                                const qi_qelt_config **cfg, qi_error *err) {
  qi_isa isa;
  qi_status st = qi_isa_choose(f, override, &isa, err);
  *cfg = &k_qelt_configs[isa];
  return st;
}

qi_status qi_qelt_config_default(const qi_qelt_config **cfg, qi_error *err) {
  return qi_qelt_config_choose(qi_cpu_features_get(), getenv("QINFER_ISA"), cfg,
                               err);
}
