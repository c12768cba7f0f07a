/* Kernel dispatch for the uint8 element-wise, pooling, resize and table
 * families (kernels/qelt, kernels/qpool, kernels/qlut): one config per
 * ISA, chosen once from the CPU features, with the QINFER_ISA override of
 * core/gemm_dispatch.h. ISAs above AVX2 (AVX-VNNI, AVX-512 VNNI) imply
 * AVX2 and use its kernels: these families do no dot products. Every
 * config gives the same bytes. */
#ifndef QI_CORE_QELT_DISPATCH_H
#define QI_CORE_QELT_DISPATCH_H

#include "core/cpu_features.h"
#include "qelt/qelt.h"
#include "qinfer.h"
#include "qlut/qlut.h"
#include "qpool/qpool.h"
#include "qpool/resize.h"

typedef struct qi_qelt_config {
  qi_isa isa;        /* the ISA this config was chosen for */
  qi_isa kernel_isa; /* the ISA its kernels are built for */
  qi_u8_binary_fn add, mul;
  qi_u8_concat_fn concat;
  qi_u8_lut_fn lut;
  qi_u8_maxpool_fn maxpool;
  qi_u8_avgpool_fn avgpool;
  qi_u8_gap_fn gap;
  qi_u8_resize_nearest_fn resize_nearest;
  qi_u8_resize_bilinear_fn resize_bilinear;
} qi_qelt_config;

/* The config of `isa` regardless of the CPU; NULL for a bad value. */
const qi_qelt_config *qi_qelt_config_of(qi_isa isa);

/* As qi_qgemm_config_choose: the best ISA of `f`, or the one `override`
 * names; *cfg is always a config `f` can run. QI_ERR_INVALID_ARG for an
 * unknown name, QI_ERR_UNSUPPORTED for an ISA `f` lacks (with the
 * fallback in *cfg and a message in err). */
qi_status qi_qelt_config_choose(const qi_cpu_features *f, const char *override,
                                const qi_qelt_config **cfg, qi_error *err);

/* For this CPU and the QINFER_ISA environment variable. */
qi_status qi_qelt_config_default(const qi_qelt_config **cfg, qi_error *err);

#endif
