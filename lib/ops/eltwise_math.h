/*
 * Vector float32 transcendental functions for the element-wise kernels
 * (include eltwise_vec.h first, with QI_VEC_BYTES set). Branch-free, so each
 * lane of a vector computes exactly what a lone scalar would, and accurate
 * to a few ulp over the whole float range, NaN and infinities included:
 *   exp   Cephes range reduction + degree-7 polynomial, denormal results;
 *   log   Cephes frexp + degree-10 polynomial, denormal inputs;
 *   tanh  odd polynomial below 0.625, 1 - 2/(exp(2|x|)+1) above;
 *   erf   x*P(x^2) below 0.5; above, erfc(a) = t*exp(-a^2 + Q(t)) with
 *         t = 2/(2+a) (the Numerical Recipes form, refitted to 3e-9 on
 *         a in [0.5, 10.5] as a polynomial in t - 1/2); a^2 goes into exp
 *         as an exact hi part plus a lo part, so the tail keeps its
 *         relative accuracy.
 * P and Q are Chebyshev fits made with mpmath.chebyfit.
 */
#ifndef QI_OPS_ELTWISE_MATH_H
#define QI_OPS_ELTWISE_MATH_H

#include <math.h>

#include "ops/eltwise_vec.h"

#define QI_LN2_HI 0.693359375f    /* 355/512: n*LN2_HI is exact */
#define QI_LN2_LO -2.12194440e-4f /* ln 2 - LN2_HI */
#define QI_LOG2E 1.44269504088896341f
/* Adding 1.5*2^23 rounds a float of magnitude < 2^22 to an integer, which
 * then sits in the low mantissa bits. */
#define QI_ROUND_MAGIC 12582912.0f

/* exp(hi + lo) where lo is a small correction (|lo| < 2) that must not be
 * rounded into hi first; exp(x) is qi_v_exp2(x, 0). */
static inline qi_vf qi_v_exp2(qi_vf hi, qi_vf lo) {
  /* Beyond these, exp is +inf (e^89 > FLT_MAX) or rounds to 0. */
  hi = qi_vmin_keepnan(hi, 89.0f);
  hi = qi_vmax_keepnan(hi, -110.0f);
  qi_vf t = (hi + lo) * QI_LOG2E + QI_ROUND_MAGIC;
  qi_vf nf = t - QI_ROUND_MAGIC;
  qi_vi n = qi_vbits(t) - qi_vbits(qi_vsplat(QI_ROUND_MAGIC));
  qi_vf r = hi - nf * QI_LN2_HI;
  r = r - nf * QI_LN2_LO;
  r = r + lo;
  qi_vf p = qi_vsplat(1.9875691500e-4f);
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  qi_vf y = p * (r * r) + r + 1.0f;
  /* 2^n as two factors so that n in [-159, 128] stays within the normal
   * exponent range; the final product rounds once into a denormal. */
  qi_vi n1 = n / 2, n2 = n - n1;
  qi_vf s1 = qi_vfloat((qi_vi)((qi_vu)(n1 + 127) << 23));
  qi_vf s2 = qi_vfloat((qi_vi)((qi_vu)(n2 + 127) << 23));
  return y * s1 * s2;
}

static inline qi_vf qi_v_exp(qi_vf x) { return qi_v_exp2(x, qi_vsplat(0.0f)); }

/* exp(x) - 1 for x <= 0 (Elu, Selu): Taylor to x^8 above -0.5, where
 * exp(x) - 1 would cancel. */
static inline qi_vf qi_v_expm1_neg(qi_vf x) {
  qi_vf p = qi_vsplat(1.0f / 40320.0f);
  p = p * x + 1.0f / 5040.0f;
  p = p * x + 1.0f / 720.0f;
  p = p * x + 1.0f / 120.0f;
  p = p * x + 1.0f / 24.0f;
  p = p * x + 1.0f / 6.0f;
  p = p * x + 0.5f;
  p = p * x + 1.0f;
  p = p * x;
  return qi_vsel(x > -0.5f, p, qi_v_exp(x) - 1.0f);
}

/* Cephes logf core: log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1],
 * plus k*ln 2. */
static inline qi_vf qi_v_log_core(qi_vf f, qi_vf k) {
  qi_vf z = f * f;
  qi_vf p = qi_vsplat(7.0376836292e-2f);
  p = p * f - 1.1514610310e-1f;
  p = p * f + 1.1676998740e-1f;
  p = p * f - 1.2420140846e-1f;
  p = p * f + 1.4249322787e-1f;
  p = p * f - 1.6668057665e-1f;
  p = p * f + 2.0000714765e-1f;
  p = p * f - 2.4999993993e-1f;
  p = p * f + 3.3333331174e-1f;
  qi_vf y = p * f * z;
  y = y + k * QI_LN2_LO;
  y = y - 0.5f * z;
  qi_vf r = f + y;
  return r + k * QI_LN2_HI;
}

static inline qi_vf qi_v_log(qi_vf x) {
  /* Denormal inputs are scaled into the normal range first. */
  qi_vi tiny = x < 1.17549435e-38f;
  qi_vf xs = qi_vsel(tiny, x * 33554432.0f, x); /* 2^25 */
  qi_vi b = qi_vbits(xs);
  qi_vi e = ((b >> 23) & 0xff) - 126 - (tiny & 25);
  qi_vf m = qi_vfloat((b & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
  qi_vi small = m < 0.707106781186547524f;
  e = e + small; /* small lanes are -1 */
  qi_vf f = qi_vsel(small, m + m, m) - 1.0f;
  /* float(e) for |e| < 2^22 through the same magic as rounding. */
  qi_vf ef =
      qi_vfloat(e + qi_vbits(qi_vsplat(QI_ROUND_MAGIC))) - QI_ROUND_MAGIC;
  qi_vf r = qi_v_log_core(f, ef);
  r = qi_vsel(x == INFINITY, x, r);
  r = qi_vsel(x == 0.0f, qi_vsplat(-INFINITY), r);
  r = qi_vsel(x < 0.0f, qi_vsplat(NAN), r);
  return qi_vsel(x != x, x, r);
}

/* log(1 + e) for e in [0, 1] (Softplus). 1 + e is never formed: below
 * sqrt(2) - 1 the core takes e itself, above it (e - 1)/2 with k = 1. */
static inline qi_vf qi_v_log1p_unit(qi_vf e) {
  qi_vi big = e >= 0.414213562373095049f;
  qi_vf f = qi_vsel(big, (e - 1.0f) * 0.5f, e);
  qi_vf k = qi_vsel(big, qi_vsplat(1.0f), qi_vsplat(0.0f));
  return qi_v_log_core(f, k);
}

/* x * sigmoid(z) without overflow: with e = exp(-|z|) <= 1,
 * sigmoid(z) = 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0, so results
 * down in the denormals (z < -88) come out right instead of as 0. */
static inline qi_vf qi_v_mul_sigmoid(qi_vf x, qi_vf z) {
  qi_vf e = qi_v_exp(-qi_vabs(z));
  qi_vf num = qi_vsel(z >= 0.0f, x, x * e);
  return num / (1.0f + e);
}

static inline qi_vf qi_v_sigmoid(qi_vf x) {
  return qi_v_mul_sigmoid(qi_vsplat(1.0f), x);
}

static inline qi_vf qi_v_tanh(qi_vf x) {
  qi_vf z = x * x;
  qi_vf p = qi_vsplat(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  qi_vf small = p * z * x + x;
  qi_vf a = qi_vabs(x);
  qi_vf big = 1.0f - 2.0f / (qi_v_exp(a + a) + 1.0f);
  return qi_vsel(a < 0.625f, small, qi_vcopysign(big, x));
}

/* Below this |argument|, erf comes from its odd polynomial; above, from
 * erfc. Near erf = erfc = 1/2, so that neither 1 - erf nor 1 - erfc
 * amplifies rounding. */
#define QI_ERF_SPLIT 0.5f

/* erf(a)/a for a in [0, QI_ERF_SPLIT], as a polynomial in a^2. */
static inline qi_vf qi_v_erf_small(qi_vf a) {
  qi_vf w = a * a;
  qi_vf p = qi_vsplat(4.719082567e-3f);
  p = p * w - 2.675773274e-2f;
  p = p * w + 1.128283143e-1f;
  p = p * w - 3.761260901e-1f;
  p = p * w + 1.128379166f;
  return p * a;
}

/* erfc(a) for a >= QI_ERF_SPLIT (a <= 10.5: above, erfc is 0 in float),
 * given a^2 = sq_hi + sq_lo with sq_hi exact. */
static inline qi_vf qi_v_erfc_big(qi_vf a, qi_vf sq_hi, qi_vf sq_lo) {
  qi_vf t = 2.0f / (2.0f + a);
  qi_vf s = t - 0.5f; /* centred: the terms of Q stay small */
  qi_vf q = qi_vsplat(2.645013362e-1f);
  q = q * s - 4.930012057e-2f;
  q = q * s - 2.931807521e-1f;
  q = q * s + 1.131366392e-1f;
  q = q * s + 2.821261300e-1f;
  q = q * s - 1.579707738e-1f;
  q = q * s - 3.751608640e-1f;
  q = q * s + 1.893731857e-1f;
  q = q * s + 1.345286434f;
  q = q * s - 6.717940837e-1f;
  return t * qi_v_exp2(-sq_hi, q - sq_lo);
}

/* x with the low 12 mantissa bits cleared: its square is exact. */
static inline qi_vf qi_v_split12(qi_vf x) {
  return qi_vfloat(qi_vbits(x) & (int32_t)0xfffff000);
}

static inline qi_vf qi_v_erf(qi_vf x) {
  qi_vf a = qi_vmin_keepnan(qi_vabs(x), 10.5f);
  qi_vf ah = qi_v_split12(a);
  qi_vf big = 1.0f - qi_v_erfc_big(a, ah * ah, (a - ah) * (a + ah));
  qi_vf r = qi_vsel(a < QI_ERF_SPLIT, qi_v_erf_small(a), big);
  return qi_vcopysign(r, x);
}

/* Gelu 0.5*x*(1 + erf(x/sqrt 2)). For x < 0 the bracket is erfc(|x|/sqrt 2),
 * computed directly (no cancellation), with (x/sqrt 2)^2 = x^2/2 split
 * exactly from x itself. */
static inline qi_vf qi_v_gelu_erf(qi_vf x) {
  const float inv_sqrt2 = 0.707106781186547524f;
  qi_vf ax = qi_vmin_keepnan(qi_vabs(x), 14.9f); /* erfc(14.9/sqrt 2) = 0 */
  qi_vf u = ax * inv_sqrt2;
  qi_vf xh = qi_v_split12(ax);
  qi_vf sq_hi = xh * xh * 0.5f;
  qi_vf sq_lo = (ax - xh) * (ax + xh) * 0.5f;
  qi_vf erfc_big = qi_v_erfc_big(u, sq_hi, sq_lo);
  qi_vf erf_small = qi_v_erf_small(u);
  qi_vi is_big = u >= QI_ERF_SPLIT;
  qi_vf erf_u = qi_vsel(is_big, 1.0f - erfc_big, erf_small);
  qi_vf erfc_u = qi_vsel(is_big, erfc_big, 1.0f - erf_small);
  qi_vf bracket = qi_vsel(x >= 0.0f, 1.0f + erf_u, erfc_u);
  return (0.5f * x) * bracket;
}

/* Gelu, tanh form: 0.5*x*(1 + tanh(y)) = x * sigmoid(2y),
 * y = sqrt(2/pi)*(x + 0.044715 x^3); the right side does not cancel. */
static inline qi_vf qi_v_gelu_tanh(qi_vf x) {
  const float two_sqrt_2_over_pi = 1.59576912160573071f;
  qi_vf inner = x + 0.044715f * (x * x * x);
  return qi_v_mul_sigmoid(x, two_sqrt_2_over_pi * inner);
}

/* log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)). */
static inline qi_vf qi_v_softplus(qi_vf x) {
  qi_vf pos = qi_vsel(x > 0.0f, x, qi_vsplat(0.0f));
  return pos + qi_v_log1p_unit(qi_v_exp(-qi_vabs(x)));
}

/* Round half to even for |x| < 2^23 (larger floats are integers already),
 * keeping the sign of x so -0.4 gives -0 like nearbyintf. */
static inline qi_vf qi_v_round_even(qi_vf x) {
  qi_vf a = qi_vabs(x);
  qi_vf r = (a + 8388608.0f) - 8388608.0f;
  return qi_vsel(a < 8388608.0f, qi_vcopysign(r, x), x);
}

/* floor and ceil keep the sign of x (floor(0.5) = +0, ceil(-0.5) = -0). */
static inline qi_vf qi_v_floor(qi_vf x) {
  qi_vf r = qi_v_round_even(x);
  r = qi_vsel(r > x, r - 1.0f, r);
  return qi_vcopysign(r, x);
}

static inline qi_vf qi_v_ceil(qi_vf x) {
  qi_vf r = qi_v_round_even(x);
  r = qi_vsel(r < x, r + 1.0f, r);
  return qi_vcopysign(r, x);
}

#endif
