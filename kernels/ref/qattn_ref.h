/*
 * Float64 / int64 references of the attention kernels (qattn/qattn.h,
 * qnorm/qnorm.h) for the tests: dequantize, compute in double, and the
 * output rule in double. The kernels' float32 results must lie within one
 * output step of these (their rounding differs only near ties); every ISA
 * path must equal the scalar kernel byte for byte.
 */
#ifndef QI_KERNELS_REF_QATTN_REF_H
#define QI_KERNELS_REF_QATTN_REF_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* The output rule on a double v in output units: clamp to
 * [qmin - zy, qmax - zy], round half to even, add zy; NaN gives qmin. */
static inline uint8_t qi_qattn_ref_u8(double v, int32_t zy, int32_t qmin,
                                      int32_t qmax) {
  if (isnan(v)) return (uint8_t)qmin;
  double lo = (double)(qmin - zy), hi = (double)(qmax - zy);
  v = v < lo ? lo : v > hi ? hi : v;
  return (uint8_t)((int32_t)nearbyint(v) + zy);
}

/* sum_k (a[k] - za) * (b[k * bstep] - zb) in int64. */
static inline int64_t qi_u8u8_matmul_ref_acc(size_t k, const uint8_t *a,
                                             const uint8_t *b, size_t bstep,
                                             int32_t za, int32_t zb) {
  int64_t acc = 0;
  for (size_t t = 0; t < k; t++)
    acc += (int64_t)((int32_t)a[t] - za) * ((int32_t)b[t * bstep] - zb);
  return acc;
}

/* Softmax of one row of n bytes (real sx * (q - zx); zx cancels): p[i]. */
static inline void qi_u8_softmax_ref_row(size_t n, const uint8_t *x, double sx,
                                         double *p) {
  int qm = 0;
  for (size_t i = 0; i < n; i++) qm = x[i] > qm ? x[i] : qm;
  double s = 0.0;
  for (size_t i = 0; i < n; i++) s += (p[i] = exp((x[i] - qm) * sx));
  for (size_t i = 0; i < n; i++) p[i] /= s;
}

/* LayerNorm of one row: y[i] = (x - mean) / sqrt(var + eps) * gamma[i] +
 * beta[i] on the dequantized row, two-pass statistics in double. */
static inline void qi_u8_layernorm_ref_row(size_t n, const uint8_t *x,
                                           double sx, int32_t zx, double eps,
                                           const float *gamma,
                                           const float *beta, double *y) {
  double mean = 0.0, var = 0.0;
  for (size_t i = 0; i < n; i++) mean += sx * ((int32_t)x[i] - zx);
  mean /= (double)n;
  for (size_t i = 0; i < n; i++) {
    double d = sx * ((int32_t)x[i] - zx) - mean;
    var += d * d;
  }
  var /= (double)n;
  double inv = 1.0 / sqrt(var + eps);
  for (size_t i = 0; i < n; i++)
    y[i] = (sx * ((int32_t)x[i] - zx) - mean) * inv * gamma[i] + beta[i];
}

#endif
