/*
 * Portable SIMD for the element-wise kernels, written with the GCC/clang
 * vector extension so that one source builds as SSE2 (16-byte vectors, the
 * baseline) and as AVX2 (32-byte vectors, in a *-avx2.c file). The including
 * file sets QI_VEC_BYTES before including this header; each translation unit
 * sees one width only.
 *
 * Every operation is a plain IEEE single operation (no FMA: the project
 * builds with -ffp-contract=off), so the two widths give identical bits.
 * Loads and stores go through memcpy: no alignment is assumed, and a result
 * may be stored to the very buffer it was loaded from (exact in-place).
 */
#ifndef QI_OPS_ELTWISE_VEC_H
#define QI_OPS_ELTWISE_VEC_H

#include <stdint.h>
#include <string.h>

#ifndef QI_VEC_BYTES
#define QI_VEC_BYTES 16
#endif
#define QI_VW (QI_VEC_BYTES / 4) /* float lanes */

typedef float qi_vf __attribute__((vector_size(QI_VEC_BYTES)));
typedef int32_t qi_vi __attribute__((vector_size(QI_VEC_BYTES)));
typedef uint32_t qi_vu __attribute__((vector_size(QI_VEC_BYTES)));

static inline qi_vf qi_vload(const float *p) {
  qi_vf v;
  memcpy(&v, p, sizeof v);
  return v;
}

static inline void qi_vstore(float *p, qi_vf v) { memcpy(p, &v, sizeof v); }

/* Not "zero + s", which turns -0 into +0. */
static inline qi_vf qi_vsplat(float s) {
  float t[QI_VW];
  for (int i = 0; i < QI_VW; i++) t[i] = s;
  return qi_vload(t);
}

static inline qi_vi qi_vbits(qi_vf v) { return (qi_vi)v; }
static inline qi_vf qi_vfloat(qi_vi v) { return (qi_vf)v; }

/* m ? a : b lane by lane; m lanes are all-ones or zero (a comparison). */
static inline qi_vf qi_vsel(qi_vi m, qi_vf a, qi_vf b) {
  return (qi_vf)((m & (qi_vi)a) | (~m & (qi_vi)b));
}

static inline qi_vf qi_vabs(qi_vf x) {
  return (qi_vf)((qi_vu)x & (uint32_t)0x7fffffffu);
}

/* |mag| with the sign bit of sgn. */
static inline qi_vf qi_vcopysign(qi_vf mag, qi_vf sgn) {
  return (qi_vf)(((qi_vu)mag & (uint32_t)0x7fffffffu) |
                 ((qi_vu)sgn & (uint32_t)0x80000000u));
}

/* Upper and lower clamps that let NaN through (a comparison with NaN is
 * false, so the NaN lane keeps x). */
static inline qi_vf qi_vmin_keepnan(qi_vf x, float hi) {
  return qi_vsel(x > hi, qi_vsplat(hi), x);
}
static inline qi_vf qi_vmax_keepnan(qi_vf x, float lo) {
  return qi_vsel(x < lo, qi_vsplat(lo), x);
}

#endif
