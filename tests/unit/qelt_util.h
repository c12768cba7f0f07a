/* Shared machinery of the uint8 element-wise, pooling and table tests
 * (test_qelt.c, test_qpool.c, test_qlut.c): random numbers, the zero-point
 * cycle, guard-page buffers, the kernel configs this CPU runs, byte
 * comparison, and the float64 check of a reference's rounding.
 *
 * Every kernel is checked in two steps:
 *   1. the reference (kernels/ref, float32 as specified) against a float64
 *      dequantize -> compute -> requantize of the same case: equal, except
 *      by one step where the float64 value lies within the float32
 *      formula's error bound of a rounding tie (QE_F32_REL_SLACK);
 *   2. every kernel config against the reference with tolerance 0, with
 *      inputs and outputs placed against guard pages. */
#ifndef QT_QELT_UTIL_H
#define QT_QELT_UTIL_H

#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qelt_dispatch.h"
#include "guard.h"
#include "qtest.h"

/* Relative error bound of a float32 formula of a few rounded operations
 * (multipliers rounded from double, products, one sum): 8 ulps of 2^-24.
 * A float64 value within this band of a tie may round either way. */
#define QE_F32_REL_SLACK (8.0 / 16777216.0)

static qt_state *qe_crash_state;

static void qe_on_segv(int sig) {
  static const char msg[] = "FAIL (guard page hit: out-of-bounds access) in ";
  ssize_t unused = write(2, msg, sizeof msg - 1);
  const char *name =
      qe_crash_state && qe_crash_state->current ? qe_crash_state->current : "?";
  unused = write(2, name, strlen(name));
  unused = write(2, "\n", 1);
  (void)unused;
  signal(sig, SIG_DFL);
  raise(sig);
}

static inline void qe_catch_faults(qt_state *st) {
  qe_crash_state = st;
  signal(SIGSEGV, qe_on_segv);
  signal(SIGBUS, qe_on_segv);
}

static inline int qe_long_tests(void) {
  const char *v = getenv("QINFER_LONG_TESTS");
  return v && strcmp(v, "1") == 0;
}

/* The MLAS zero-point cycle. */
static const int32_t qe_zero_points[] = {0, 18, 75, 128, 157, 231, 255};
#define QE_NZP ((size_t)(sizeof qe_zero_points / sizeof qe_zero_points[0]))
#define QE_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* Fill of bytes a kernel must not write (gaps between strided pixels). */
#define QE_SENTINEL 0xA5

typedef struct qe_rng {
  uint64_t s;
} qe_rng;

static inline uint64_t qe_next(qe_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline int32_t qe_range(qe_rng *r, int32_t lo, int32_t hi) {
  return lo + (int32_t)(qe_next(r) % (uint64_t)(hi - lo + 1));
}
static inline double qe_unit(qe_rng *r) { /* [0, 1) */
  return (double)(qe_next(r) >> 11) / 9007199254740992.0;
}
static inline void qe_fill(qe_rng *r, uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)qe_next(r);
}

/* Output clamp kinds cycled by the sweeps: none, Relu, narrow Clip. */
static inline void qe_clamp_of(size_t idx, int32_t zy, int32_t *qmin,
                               int32_t *qmax) {
  switch (idx % 3) {
    case 0:
      *qmin = 0;
      *qmax = 255;
      break;
    case 1:
      *qmin = zy;
      *qmax = 255;
      break;
    default:
      *qmin = zy > 30 ? zy - 30 : 0;
      *qmax = zy + 30 < 255 ? zy + 30 : 255;
      break;
  }
}

/* A scale ratio (output units per input unit) for sweep index idx: tiny,
 * exact half (every result a tie), realistic spreads, and huge
 * (everything saturates). */
static inline double qe_ratio_of(size_t idx, qe_rng *r) {
  switch (idx % 6) {
    case 0:
      return 1e-5;
    case 1:
      return 0.5;
    case 2:
      return 0.25 + qe_unit(r);
    case 3:
      return 1.0;
    case 4:
      return 3.0 + 2.0 * qe_unit(r);
    default:
      return 1e4;
  }
}

/* A buffer of n bytes against a guard page: after its end, or (before)
 * right after one. */
typedef struct qe_buf {
  uint8_t *p;
  qt_guard g;
} qe_buf;

static inline uint8_t *qe_buf_make(qt_state *st, qe_buf *b, size_t n,
                                   int before) {
  memset(b, 0, sizeof *b);
  b->p = before ? qt_guard_before(&b->g, n) : qt_guard_after(&b->g, n);
  QT_CHECKF(st, b->p != NULL, "cannot map a guard buffer of %zu bytes", n);
  return b->p;
}

static inline void qe_buf_free(qe_buf *b) { qt_guard_free(&b->g); }

/* The configs of the ISAs this CPU has, distinct kernel sets only. */
static inline size_t qe_configs(const qi_qelt_config *out[QI_ISA_COUNT]) {
  size_t n = 0;
  const qi_cpu_features *f = qi_cpu_features_get();
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_qelt_config *c = qi_qelt_config_of((qi_isa)i);
    if (!c || !qi_cpu_features_have(f, (qi_isa)i)) continue;
    int dup = 0;
    for (size_t j = 0; j < n; j++) dup |= out[j]->kernel_isa == c->kernel_isa;
    if (!dup) out[n++] = c;
  }
  return n;
}

/* Index of the first differing byte, or -1. */
static inline long qe_diff(const uint8_t *a, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return (long)i;
  return -1;
}

/* The rule in double: clamp, round half to even, add zy; NaN -> qmin. */
static inline int32_t qe_requant_f64(double v, int32_t zy, int32_t qmin,
                                     int32_t qmax) {
  if (isnan(v)) return qmin;
  double q = nearbyint(v) + zy;
  return (int32_t)(q < qmin ? qmin : q > qmax ? qmax : q);
}

/* Whether `got` is the float64 requantization of v, or one step off with
 * v within slack of a tie (x.5). */
static inline int qe_near_f64(int32_t got, double v, double slack, int32_t zy,
                              int32_t qmin, int32_t qmax) {
  int32_t e = qe_requant_f64(v, zy, qmin, qmax);
  if (got == e) return 1;
  if (got != e + 1 && got != e - 1) return 0;
  double tie = floor(v) + 0.5;
  return fabs(v - tie) <= slack;
}

#endif
