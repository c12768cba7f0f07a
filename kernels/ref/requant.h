/*
 * The reference epilogue of the u8s8 GEMM family, shared by the scalar
 * kernel and the tests. The operations and their order are written down in
 * kernels/gemm/gemm.h; every vector path produces the same bytes. The
 * AVX2/AVX-VNNI epilogue clamps in a different but equivalent order (the
 * top in float, then zero point and bottom in saturating integers: the
 * proof is in gemm/epilogue-avx2.h); the tests compare every path with
 * this one at the edges (NaN, infinities, int16/int32 limits).
 */
#ifndef QI_KERNELS_REF_REQUANT_H
#define QI_KERNELS_REF_REQUANT_H

#include <math.h>
#include <stdint.h>

#include "gemm/gemm.h"

/* x > y ? x : y and x < y ? x : y: the operand order of maxps/minps, so a
 * NaN in x yields y exactly as the vector instructions do. */
static inline float qi_requant_maxf(float x, float y) { return x > y ? x : y; }
static inline float qi_requant_minf(float x, float y) { return x < y ? x : y; }

/* v is already (float)acc * mult [+ residual term]. */
static inline uint8_t qi_requant_finish(float v,
                                        const qi_u8s8_gemm_params *p) {
  v = qi_requant_maxf(v, p->lo);
  v = qi_requant_minf(v, p->hi);
  /* |v| <= 255 here, so the conversion is exact and in range. */
  return (uint8_t)((int32_t)lrintf(v) + p->zy);
}

static inline uint8_t qi_requant_u8(int32_t acc, float mult,
                                    const qi_u8s8_gemm_params *p) {
  float v = (float)acc * mult;
  return qi_requant_finish(v, p);
}

static inline uint8_t qi_requant_u8_residual(int32_t acc, float mult,
                                             uint8_t r,
                                             const qi_u8s8_gemm_params *p) {
  float v = (float)acc * mult;
  float t = (float)((int32_t)r - p->zr) * p->rmult;
  v = v + t;
  return qi_requant_finish(v, p);
}

static inline float qi_dequant_f32(int32_t acc, float mult) {
  return (float)acc * mult;
}

#endif
