/* Kernel dispatch for the u8s8 GEMM family: one config per ISA (microkernel,
 * packing function, tile sizes), best ISA first, chosen from the CPU
 * features once per caller. QINFER_ISA=scalar|avx2|avxvnni|avx512vnni
 * forces a path (tests, benchmarks, bisecting a wrong result). */
#ifndef QI_CORE_GEMM_DISPATCH_H
#define QI_CORE_GEMM_DISPATCH_H

#include "core/cpu_features.h"
#include "gemm/gemm.h"
#include "qinfer.h"

typedef struct qi_qgemm_config {
  qi_isa isa;
  const char *kernel_name;
  qi_u8s8_gemm_ukernel_fn ukernel;
  qi_u8s8_gemm_pack_fn pack;
  qi_u8s8_gemm_apack_fn apack; /* NULL: the kernel reads A in place */
  int mr, nr;  /* microkernel tile */
  int kr;      /* K is packed in groups of kr (4) consecutive k */
  int w_bytes; /* bytes per packed weight: 1 (c4 int8) or 2 (c2 int16) */
} qi_qgemm_config;

/* The config of `isa` regardless of the CPU; NULL for a bad value. */
const qi_qgemm_config *qi_qgemm_config_of(qi_isa isa);

/* Chooses a config for a CPU with features `f`: the best ISA it has, or the
 * one named by `override` (a QINFER_ISA spelling; NULL or "" for none).
 * *cfg is always set to a config `f` can run. Returns QI_OK, or, with a
 * message in err and *cfg holding the fallback (the best ISA of `f`):
 *   QI_ERR_INVALID_ARG  override is not an ISA name;
 *   QI_ERR_UNSUPPORTED  override names an ISA that `f` lacks. */
qi_status qi_qgemm_config_choose(const qi_cpu_features *f,
                                 const char *override,
                                 const qi_qgemm_config **cfg, qi_error *err);

/* qi_qgemm_config_choose for this CPU and the QINFER_ISA environment
 * variable (read on each call; not to be changed while threads run). */
qi_status qi_qgemm_config_default(const qi_qgemm_config **cfg, qi_error *err);

#endif
