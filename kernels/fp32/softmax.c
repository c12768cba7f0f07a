/* Scalar softmax row kernels; see softmax.h. The sum spells out the lane
 * order of the AVX2 twin; exp rounds every step (no FMA). */
#include <stdint.h>
#include <string.h>

#include <math.h>

#include "fp32/expf_consts.h"
#include "fp32/norm.h"
#include "fp32/softmax.h"

static inline uint32_t bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

static inline float exp_one(float x) {
  if (x > QI_EXPF_HI) x = QI_EXPF_HI; /* NaN compares false and passes */
  if (x < QI_EXPF_LO) x = QI_EXPF_LO;
  float t = x * QI_EXPF_LOG2E + QI_EXPF_ROUND_MAGIC;
  float nf = t - QI_EXPF_ROUND_MAGIC;
  int32_t n = (int32_t)(bits_of(t) - bits_of(QI_EXPF_ROUND_MAGIC));
  float r = x - nf * QI_EXPF_LN2_HI;
  r = r - nf * QI_EXPF_LN2_LO;
  float p = QI_EXPF_P0;
  p = p * r + QI_EXPF_P1;
  p = p * r + QI_EXPF_P2;
  p = p * r + QI_EXPF_P3;
  p = p * r + QI_EXPF_P4;
  p = p * r + QI_EXPF_P5;
  float y = p * (r * r) + r + 1.0f;
  int32_t n1 = (n - (n & 1)) / 2; /* floor(n / 2), as an arithmetic shift */
  int32_t n2 = n - n1;
  float s1 = float_of((uint32_t)(n1 + 127) << 23);
  float s2 = float_of((uint32_t)(n2 + 127) << 23);
  return y * s1 * s2;
}

void qi_f32_exp__scalar(const float *x, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = exp_one(x[i]);
}

double qi_f32_softmax_exp_sum__scalar(const float *x, float m, float *y,
                                      size_t n) {
  double dl[8] = {0};
  for (size_t b = 0; b < n; b += QI_F32_SOFTMAX_SUM_BLOCK) {
    size_t e = n - b < QI_F32_SOFTMAX_SUM_BLOCK ? n : b + QI_F32_SOFTMAX_SUM_BLOCK;
    float fl[8] = {0};
    for (size_t i = b; i < e; i++) {
      float t = exp_one(x[i] - m);
      if (y) y[i] = t;
      fl[(i - b) % 8] += t;
    }
    for (int k = 0; k < 8; k++) dl[k] += (double)fl[k];
  }
  return qi_f32_softmax_lane_total(dl);
}

void qi_f32_scale__scalar(float *y, float s, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] *= s;
}

void qi_f32_sub_f64__scalar(const float *x, double c, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = (float)((double)x[i] - c);
}

void qi_f32_softmax_rows__scalar(const float *x, float *y, size_t rows,
                                 size_t n, int log_out) {
  for (size_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = qi_f32_rowmax__scalar(xr, n);
    if (log_out) {
      double s = qi_f32_softmax_exp_sum__scalar(xr, m, NULL, n);
      qi_f32_sub_f64__scalar(xr, (double)m + log(s), yr, n);
    } else {
      double s = qi_f32_softmax_exp_sum__scalar(xr, m, yr, n);
      qi_f32_scale__scalar(yr, (float)(1.0 / s), n);
    }
  }
}
