/*
 * Reference pieces of the uint8 table family (qlut/qlut.h), shared by the
 * table builders, the scalar kernel and the tests: the double-precision
 * requantization of activation tables, one float32 requantization entry,
 * and the lookup itself.
 */
#ifndef QI_KERNELS_REF_QLUT_REF_H
#define QI_KERNELS_REF_QLUT_REF_H

#include <math.h>
#include <stdint.h>

#include "qelt/qelt.h"
#include "ref/qelt_ref.h"

/* The rule in double: NaN -> qmin; clamp v to [qmin - zy, qmax - zy];
 * round half to even (rint, default rounding mode); add zy. */
static inline uint8_t qi_u8_requant_f64(double v, int32_t zy, int32_t qmin,
                                        int32_t qmax) {
  if (isnan(v)) return (uint8_t)qmin;
  double lo = (double)(qmin - zy), hi = (double)(qmax - zy);
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return (uint8_t)((int32_t)rint(v) + zy);
}

/* One entry of qi_u8_requant_table: the float32 output rule. */
static inline uint8_t qi_u8_requant_entry(int32_t q, int32_t zx, float mxy,
                                          const qi_u8_out *out) {
  return qi_u8_out_finish((float)(q - zx) * mxy, out);
}

static inline uint8_t qi_u8_lut_ref(uint8_t x, const uint8_t table[256]) {
  return table[x];
}

#endif
