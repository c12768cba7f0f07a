/* Kernel dispatch for the attention families of the INT8 path: the
 * uint8 x uint8 MatMul (kernels/qattn) and the uint8 Softmax and
 * LayerNorm (kernels/qnorm). One config per ISA, chosen once from the CPU
 * features with the QINFER_ISA override of core/gemm_dispatch.h; the
 * ISAs above AVX2 use its kernels (int16 products are all these need).
 * Every config gives the same bytes. */
#ifndef QI_CORE_QATTN_DISPATCH_H
#define QI_CORE_QATTN_DISPATCH_H

#include "core/cpu_features.h"
#include "qattn/qattn.h"
#include "qinfer.h"
#include "qnorm/qnorm.h"

typedef struct qi_qattn_config {
  qi_isa isa;        /* the ISA this config was chosen for */
  qi_isa kernel_isa; /* the ISA its kernels are built for */
  qi_u8u8_matmul_fn matmul;
  qi_u8_softmax_fn softmax;
  qi_u8_layernorm_fn layernorm;
} qi_qattn_config;

/* The config of `isa` regardless of the CPU; NULL for a bad value. */
const qi_qattn_config *qi_qattn_config_of(qi_isa isa);

/* The best ISA of `f`, or the one `override` names; *cfg is always a
 * config `f` can run. QI_ERR_INVALID_ARG for an unknown name,
 * QI_ERR_UNSUPPORTED for an ISA `f` lacks (with the fallback in *cfg and
 * a message in err). */
qi_status qi_qattn_config_choose(const qi_cpu_features *f, const char *override,
                                 const qi_qattn_config **cfg, qi_error *err);

/* For this CPU and the QINFER_ISA environment variable. */
qi_status qi_qattn_config_default(const qi_qattn_config **cfg, qi_error *err);

#endif
