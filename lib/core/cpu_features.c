/* cpuid/xgetbv feature detection, done once under pthread_once. */
#include "core/cpu_features.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"

static qi_cpu_features g_features; /* written once, in detect() */
static pthread_once_t g_features_once = PTHREAD_ONCE_INIT;

static uint64_t read_xcr0(void) {
  uint32_t lo, hi;
  /* Raw xgetbv so the file needs no -mxsave. */
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return ((uint64_t)hi << 32) | lo;
}

static void detect(void) {
  qi_cpu_features f;
  memset(&f, 0, sizeof f);
  unsigned int a, b, c, d;
  unsigned int max_leaf = __get_cpuid_max(0, NULL);
  if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) {
    bool osxsave = (c >> 27) & 1;
    f.avx = (c >> 28) & 1;
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    if (osxsave) {
      uint64_t xcr0 = read_xcr0();
      f.os_ymm = (xcr0 & 0x6) == 0x6;
      f.os_zmm = f.os_ymm && (xcr0 & 0xe0) == 0xe0;
    }
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    unsigned int max_sub = a;
    f.avx2 = (b >> 5) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    if (max_sub >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      f.avxvnni = (a >> 4) & 1;
    }
  }
  g_features = f;
}

const qi_cpu_features *qi_cpu_features_get(void) {
  pthread_once(&g_features_once, detect);
  return &g_features;
}

bool qi_cpu_features_have(const qi_cpu_features *f, qi_isa isa) {
  bool avx2 = f->os_ymm && f->avx && f->avx2 && f->fma && f->f16c;
  switch (isa) {
    case QI_ISA_SCALAR:
      return true;
    case QI_ISA_AVX2:
      return avx2;
    case QI_ISA_AVXVNNI:
      return avx2 && f->avxvnni;
    case QI_ISA_AVX512VNNI:
      /* Its files are built with the AVX2 flags as well. */
      return avx2 && f->os_zmm && f->avx512f && f->avx512bw &&
             f->avx512vl && f->avx512dq && f->avx512vnni;
    default:
      return false;
  }
}

qi_isa qi_cpu_features_best(const qi_cpu_features *f) {
  for (int i = QI_ISA_COUNT - 1; i > QI_ISA_SCALAR; i--)
    if (qi_cpu_features_have(f, (qi_isa)i)) return (qi_isa)i;
  return QI_ISA_SCALAR;
}

static const char *const k_isa_names[QI_ISA_COUNT] = {
    "scalar", "avx2", "avxvnni", "avx512vnni"};

const char *qi_isa_name(qi_isa isa) {
  return (unsigned)isa < QI_ISA_COUNT ? k_isa_names[isa] : "unknown";
}

qi_status qi_isa_parse(const char *name, qi_isa *isa, qi_error *err) {
  if (name)
    for (int i = 0; i < QI_ISA_COUNT; i++)
      if (strcmp(name, k_isa_names[i]) == 0) {
        *isa = (qi_isa)i;
        return QI_OK;
      }
  return qi_fail(err, QI_ERR_INVALID_ARG,
                 "unknown ISA '%s' (expected scalar, avx2, avxvnni or "
                 "avx512vnni)",
                 name ? name : "(null)");
}

qi_status qi_isa_choose(const qi_cpu_features *f, const char *override,
                        qi_isa *isa, qi_error *err) {
  qi_isa best = qi_cpu_features_best(f);
  *isa = best;
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
  *isa = want;
  return QI_OK;
}
