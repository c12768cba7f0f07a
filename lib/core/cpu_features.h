/* CPU feature detection: cpuid plus the OS check (xgetbv) that the ymm and
 * zmm register state is saved on context switches. Read once, thread-safely
 * (pthread_once), into a table that is constant afterwards: the one global
 * of the library. */
#ifndef QI_CORE_CPU_FEATURES_H
#define QI_CORE_CPU_FEATURES_H

#include <stdbool.h>

#include "qinfer.h"

/* Instruction-set levels of the kernels, lowest first. */
typedef enum qi_isa {
  QI_ISA_SCALAR = 0,
  QI_ISA_AVX2,        /* AVX2 + FMA + F16C */
  QI_ISA_AVXVNNI,     /* the above + AVX-VNNI (VEX vpdpbusd) */
  QI_ISA_AVX512VNNI,  /* AVX-512 F/BW/VL/DQ + VNNI */
  QI_ISA_COUNT
} qi_isa;

typedef struct qi_cpu_features {
  /* Raw cpuid bits. */
  bool avx, fma, f16c, avx2, avxvnni;
  bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni;
  /* XCR0: the OS saves ymm (bits 1-2) / opmask and zmm state (bits 5-7). */
  bool os_ymm, os_zmm;
} qi_cpu_features;

/* The detected features; the pointer stays valid for the process. */
const qi_cpu_features *qi_cpu_features_get(void);

/* Whether `f` (cpuid and OS support together) can run kernels of `isa`. */
bool qi_cpu_features_have(const qi_cpu_features *f, qi_isa isa);

/* The best ISA of `f`. */
qi_isa qi_cpu_features_best(const qi_cpu_features *f);

/* "scalar", "avx2", "avxvnni", "avx512vnni" (the QINFER_ISA spellings). */
const char *qi_isa_name(qi_isa isa);

/* Parses a QINFER_ISA spelling (case-sensitive); QI_ERR_INVALID_ARG for an
 * unknown name. */
qi_status qi_isa_parse(const char *name, qi_isa *isa, qi_error *err);
/* The ISA a kernel family runs: the best of `f`, or the one `override` (the
 * QINFER_ISA value; NULL or "" for none) names. *isa is always one `f` can
 * run: QI_ERR_INVALID_ARG for an unknown name and QI_ERR_UNSUPPORTED for an
 * ISA `f` lacks leave the best one there, with a message in err. */
qi_status qi_isa_choose(const qi_cpu_features *f, const char *override,
                        qi_isa *isa, qi_error *err);

#endif
