/* Scalar row kernels; see norm.h. The lane arrays spell out the order in
 * which the AVX2 twin adds, so that both give the same bytes. */
#include <math.h>

#include "fp32/norm.h"

/* m with v folded in: NaN in either sticks; on equal values m stays (as
 * vmaxps with m as its second operand does). */
static inline float max_nan(float m, float v) {
  if (v != v) return v;
  return v > m ? v : m;
}

float qi_f32_rowmax__scalar(const float *x, size_t n) {
  float l[16];
  for (int k = 0; k < 16; k++) l[k] = -INFINITY;
  for (size_t i = 0; i < n; i++) l[i % 16] = max_nan(l[i % 16], x[i]);
  for (int k = 0; k < 8; k++) l[k] = max_nan(l[k], l[k + 8]);
  return max_nan(max_nan(max_nan(l[0], l[1]), max_nan(l[2], l[3])),
                 max_nan(max_nan(l[4], l[5]), max_nan(l[6], l[7])));
}

static inline double combine8(const double *l) {
  return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

double qi_f32_sum_f64__scalar(const float *x, size_t n) {
  double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) l[i % 8] += (double)x[i];
  return combine8(l);
}

double qi_f32_sqdev_sum_f64__scalar(const float *x, size_t n, double mean) {
  double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (size_t i = 0; i < n; i++) {
    double d = (double)x[i] - mean;
    l[i % 8] += d * d;
  }
  return combine8(l);
}

void qi_f32_normalize__scalar(const float *x, size_t n, double mean,
                              double inv, const float *scale,
                              const float *bias, float *y) {
  for (size_t i = 0; i < n; i++)
    y[i] = (float)(((double)x[i] - mean) * inv) * scale[i] + bias[i];
}

void qi_f32_normalize_s__scalar(const float *x, size_t n, double mean,
                                double inv, float scale, float bias,
                                float *y) {
  for (size_t i = 0; i < n; i++)
    y[i] = (float)(((double)x[i] - mean) * inv) * scale + bias;
}

void qi_f32_affine__scalar(const float *x, size_t n, float a, float b,
                           float *y) {
  for (size_t i = 0; i < n; i++) y[i] = x[i] * a + b;
}
