/*
 * uint8 Softmax and LayerNorm over contiguous rows of n elements (the last
 * axis), input real = sx * (q - zx), output uint8 by the output rule of
 * qelt/qelt.h or float32. Every path performs the float operations below
 * in the order written (no FMA: -ffp-contract=off), so all give the same
 * bytes.
 *
 * Softmax. The exponentials only depend on the byte distance to the row's
 * maximum, d = qmax_row - q in 0..255, so they come from a table made once
 * per node, table[d] = (float)exp(-d * sx) in double (table[0] = 1):
 *   e_i   = table[qmax_row - q_i]
 *   lanes l[0..7] = 0; for i in order: l[i % 8] += e_i          (float)
 *   s     = ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7))   (float)
 *   r     = my / s           my = (float)(1 / sy); 1.0f for float output
 *   y_i   = e_i * r          then the output rule (uint8), or stored
 * s >= 1 (the maximum contributes table[0] = 1), so r is finite. The usual
 * output grid is sy = 1/256, zy = 0 (my = 256 exactly): p = 1 saturates
 * to 255.
 *
 * LayerNorm. The statistics are exact integers, so no summation order
 * enters: with d_i = q_i - zx,
 *   s1 = sum d_i, s2 = sum d_i^2     (int64; n <= QI_U8_LAYERNORM_MAX_N)
 * and per row, in double (qi_u8_layernorm_row_coeffs, shared by every
 * path), then rounded to float once each:
 *   mq  = (float)(s1 / n)                       mean, in input steps
 *   var = (n * s2 - s1^2) / n^2 * sx^2          exact numerator in int64
 *   a   = (float)(sx / sqrt(var + eps))
 * and per element (float):
 *   t = (float)d_i - mq;  t = t * a;  t = t * g[i];  t = t + b[i]
 * then the output rule (uint8) or stored (float). g and b are gamma and
 * beta in output units: gamma / sy and beta / sy (uint8 output, rounded
 * from double once by the caller), or gamma and beta (float output).
 *
 * x and y hold rows * n elements; y is bytes or floats by out_f32. No
 * overlap. Kernels read and write exactly those elements.
 */
#ifndef QI_KERNELS_QNORM_H
#define QI_KERNELS_QNORM_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "qelt/qelt.h"

/* ---- Softmax ---------------------------------------------------------- */

typedef struct qi_u8_softmax_params {
  const float *table; /* 256 entries, qi_u8_softmax_table_make */
  int out_f32;
  float my;      /* (float)(1 / sy); 1.0f for float output */
  qi_u8_out out; /* uint8 output only */
} qi_u8_softmax_params;

static inline void qi_u8_softmax_table_make(double sx, float table[256]) {
  for (int d = 0; d < 256; d++) table[d] = (float)exp(-(double)d * sx);
}

static inline qi_u8_softmax_params qi_u8_softmax_params_make(
    const float *table, double sy, int32_t zy, int32_t qmin, int32_t qmax) {
  qi_u8_softmax_params p;
  p.table = table;
  p.out_f32 = 0;
  p.my = (float)(1.0 / sy);
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

static inline qi_u8_softmax_params qi_u8_softmax_params_make_f32(
    const float *table) {
  qi_u8_softmax_params p;
  p.table = table;
  p.out_f32 = 1;
  p.my = 1.0f;
  p.out = qi_u8_out_make(0, 0, 255);
  return p;
}

/* The lane tree of the sum. */
static inline float qi_u8_softmax_lane_total(const float l[8]) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

typedef void (*qi_u8_softmax_fn)(size_t rows, size_t n, const uint8_t *x,
                                 void *y, const qi_u8_softmax_params *p);

void qi_u8_softmax__scalar(size_t rows, size_t n, const uint8_t *x, void *y,
                           const qi_u8_softmax_params *p);
void qi_u8_softmax__avx2(size_t rows, size_t n, const uint8_t *x, void *y,
                         const qi_u8_softmax_params *p);

/* ---- LayerNorm -------------------------------------------------------- */

/* n * s2 and s1^2 stay below 2^63: 2^40 * 65025 < 2^56. */
#define QI_U8_LAYERNORM_MAX_N ((size_t)1 << 20)

typedef struct qi_u8_layernorm_params {
  int32_t zx;         /* 0..255 */
  double sx, eps;     /* sx > 0, eps >= 0 */
  const float *g, *b; /* n entries each, in output units (see above) */
  int out_f32;
  qi_u8_out out; /* uint8 output only */
} qi_u8_layernorm_params;

/* mq and a of one row from its exact sums (n >= 1). */
static inline void qi_u8_layernorm_row_coeffs(int64_t s1, int64_t s2, size_t n,
                                              const qi_u8_layernorm_params *p,
                                              float *mq, float *a) {
  double dn = (double)n;
  int64_t num = (int64_t)n * s2 - s1 * s1; /* n^2 * variance, >= 0 */
  double var = (double)num / (dn * dn) * (p->sx * p->sx);
  *mq = (float)((double)s1 / dn);
  *a = (float)(p->sx / sqrt(var + p->eps));
}

typedef void (*qi_u8_layernorm_fn)(size_t rows, size_t n, const uint8_t *x,
                                   void *y, const qi_u8_layernorm_params *p);

/* n must be 1..QI_U8_LAYERNORM_MAX_N (callers check). */
void qi_u8_layernorm__scalar(size_t rows, size_t n, const uint8_t *x, void *y,
                             const qi_u8_layernorm_params *p);
void qi_u8_layernorm__avx2(size_t rows, size_t n, const uint8_t *x, void *y,
                           const qi_u8_layernorm_params *p);

#endif
