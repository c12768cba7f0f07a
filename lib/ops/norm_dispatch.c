/* Variant choice for the pooling / normalization / softmax kernels; see
 * norm_dispatch.h. */
#include "ops/norm_dispatch.h"

#include <stdlib.h>

#include "core/cpu_features.h"

qi_f32_norm_kernels qi_f32_norm_kernels_get(void) {
  const qi_cpu_features *f = qi_cpu_features_get();
  qi_isa isa = qi_cpu_features_best(f);
  const char *force = getenv("QINFER_ISA");
  qi_isa want;
  if (force && *force && qi_isa_parse(force, &want, NULL) == QI_OK &&
      qi_cpu_features_have(f, want))
    isa = want;
  if (isa >= QI_ISA_AVX2)
    return (qi_f32_norm_kernels){
        qi_f32_maxpool2d__avx2,     qi_f32_avgpool2d__avx2,
        qi_f32_rowmax__avx2,        qi_f32_sum_f64__avx2,
        qi_f32_sqdev_sum_f64__avx2, qi_f32_normalize__avx2,
        qi_f32_normalize_s__avx2,   qi_f32_affine__avx2,
        qi_f32_softmax_rows__avx2};
  return (qi_f32_norm_kernels){
      qi_f32_maxpool2d__scalar,     qi_f32_avgpool2d__scalar,
      qi_f32_rowmax__scalar,        qi_f32_sum_f64__scalar,
      qi_f32_sqdev_sum_f64__scalar, qi_f32_normalize__scalar,
      qi_f32_normalize_s__scalar,   qi_f32_affine__scalar,
      qi_f32_softmax_rows__scalar};
}
