/* Kernel dispatch for the u8s8 depthwise convolution family: one config per
 * kernel (microkernel, packing function), chosen from the CPU features once
 * per caller, honouring QINFER_ISA like the GEMM (core/gemm_dispatch.h).
 * There is no VNNI depthwise kernel (vpdpbusd sums 4 taps of one channel,
 * which the channels-last layout does not hold), so the VNNI levels run
 * the AVX2 kernel, which their CPUs have. */
#ifndef QI_CORE_DWCONV_DISPATCH_H
#define QI_CORE_DWCONV_DISPATCH_H

#include "core/cpu_features.h"
#include "dwconv/dwconv.h"
#include "qinfer.h"

typedef struct qi_dwconv_config {
  qi_isa isa; /* the level the kernel needs */
  const char *kernel_name;
  qi_u8s8_dwconv_ukernel_fn ukernel;
  qi_u8s8_dwconv_pack_fn pack;
  int w_bytes; /* 1: i8 layout, 2: i16x2 layout (dwconv/dwconv.h) */
} qi_dwconv_config;

/* The kernel a CPU of level `isa` runs (avxvnni and avx512vnni map to the
 * AVX2 kernel); NULL for a bad value. */
const qi_dwconv_config *qi_dwconv_config_of(qi_isa isa);

/* The config for a CPU with features `f`, or for the level named by
 * `override` (a QINFER_ISA spelling; NULL or "" for none). *cfg is always
 * set to one `f` can run; errors as qi_qgemm_config_choose:
 *   QI_ERR_INVALID_ARG  override is not an ISA name;
 *   QI_ERR_UNSUPPORTED  override names an ISA that `f` lacks. */
qi_status qi_dwconv_config_choose(const qi_cpu_features *f,
                                  const char *override,
                                  const qi_dwconv_config **cfg,
                                  qi_error *err);

/* qi_dwconv_config_choose for this CPU and the QINFER_ISA variable. */
qi_status qi_dwconv_config_default(const qi_dwconv_config **cfg,
                                   qi_error *err);

#endif
