/* The u8s8 depthwise config table and its selection. */
#include "core/dwconv_dispatch.h"

#include <stdlib.h>

#include "core/gemm_dispatch.h"

static const qi_dwconv_config k_dwconv_scalar = {
    QI_ISA_SCALAR, "qi_u8s8_dwconv_requant_ukernel_16c__scalar",
    qi_u8s8_dwconv_requant_ukernel_16c__scalar, qi_u8s8_dwconv_pack_i8, 1};
static const qi_dwconv_config k_dwconv_avx2 = {
    QI_ISA_AVX2, "qi_u8s8_dwconv_requant_ukernel_32c__avx2",
    qi_u8s8_dwconv_requant_ukernel_32c__avx2, qi_u8s8_dwconv_pack_i16x2, 2};

const qi_dwconv_config *qi_dwconv_config_of(qi_isa isa) {
  switch (isa) {
    case QI_ISA_SCALAR: return &k_dwconv_scalar;
    case QI_ISA_AVX2:
    case QI_ISA_AVXVNNI:
    case QI_ISA_AVX512VNNI: return &k_dwconv_avx2;
    default: return NULL;
  }
}

qi_status qi_dwconv_config_choose(const qi_cpu_features *f,
                                  const char *override,
                                  const qi_dwconv_config **cfg,
                                  qi_error *err) {
  /* The GEMM's choice resolves the level and words any error. */
  const qi_qgemm_config *g = NULL;
  qi_status s = qi_qgemm_config_choose(f, override, &g, err);
  *cfg = qi_dwconv_config_of(g->isa);
  return s;
}

qi_status qi_dwconv_config_default(const qi_dwconv_config **cfg,
                                   qi_error *err) {
  return qi_dwconv_config_choose(qi_cpu_features_get(), getenv("QINFER_ISA"),
                                 cfg, err);
}
