/*
 * Reference uint8 Add / Mul and the output rule of qelt/qelt.h, shared by
 * the scalar kernels and the tests. The vector paths mirror these
 * operations one to one (cvtdq2ps, mulps, mulps, addps, maxps, minps,
 * cvtps2dq, paddd).
 */
#ifndef QI_KERNELS_REF_QELT_REF_H
#define QI_KERNELS_REF_QELT_REF_H

#include <math.h>
#include <stdint.h>

#include "qelt/qelt.h"
#include "ref/requant.h"

/* The output rule: clamp, round half to even, add the zero point. */
static inline uint8_t qi_u8_out_finish(float v, const qi_u8_out *o) {
  v = qi_requant_maxf(v, o->lo);
  v = qi_requant_minf(v, o->hi);
  /* |v| <= 255 here, so the conversion is exact and in range. */
  return (uint8_t)((int32_t)lrintf(v) + o->zy);
}

/* (float)(b - zb) * mb: the b term of Add, computed once for a scalar b. */
static inline float qi_u8_add_term(uint8_t q, int32_t z, float m) {
  return (float)((int32_t)q - z) * m;
}

static inline uint8_t qi_u8_add_ref(uint8_t a, uint8_t b,
                                    const qi_u8_binary_params *p) {
  float va = qi_u8_add_term(a, p->za, p->ma);
  float vb = qi_u8_add_term(b, p->zb, p->mb);
  return qi_u8_out_finish(va + vb, &p->out);
}

static inline uint8_t qi_u8_mul_ref(uint8_t a, uint8_t b,
                                    const qi_u8_binary_params *p) {
  int32_t prod = ((int32_t)a - p->za) * ((int32_t)b - p->zb);
  return qi_u8_out_finish((float)prod * p->ma, &p->out);
}

#endif
