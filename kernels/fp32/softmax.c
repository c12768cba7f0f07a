/* Scalar softmax row kernels; see softmax.h. Each function spells out, one
 * element at a time, the exact operations of its AVX2 twin. */
#include <stdint.h>
#include <string.h>

#include "fp32/expf_consts.h"
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
  double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    float e = exp_one(x[i] - m);
    if (y) y[i] = e;
    lane[i % 8] += (double)e;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
         ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

void qi_f32_scale__scalar(float *y, float s, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] *= s;
}

void qi_f32_sub_f64__scalar(const float *x, double c, float *y, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = (float)((double)x[i] - c);
}
