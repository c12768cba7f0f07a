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
  qi_isa best = qi_cpu_features_best(f);
  *cfg = &k_qattn_configs[best];
  if (!override || !*override) return QI_OK;
  qi_isa want;
  if (qi_isa_parse(override, &want, NULL) != QI_OK)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "QINFER_ISA='%s' is not scalar, avx2, avxvnni or "
                   "avx512vnni; using %s",
                   override, qi_isa_name(best));
  if (!qi_cpu_features_have(f, want))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "QINFER_ISA=%s: this CPU lacks it; using %s",
                   qi_isa_name(want), qi_isa_name(best));
  *cfg = &k_qattn_configs[want];
  return QI_OK;
}

qi_status qi_qattn_config_default(const qi_qattn_config **cfg, qi_error *err) {
  return qi_qattn_config_choose(qi_cpu_features_get(), getenv("QINFER_ISA"),
                                cfg, err);
}
