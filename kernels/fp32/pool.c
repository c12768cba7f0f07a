/* Scalar 2-D pooling passes; see pool.h. */
#include <math.h>

#include "fp32/pool.h"

/* NaN in either sticks; on equal values m stays (as vmaxps does with m as
 * its second operand). */
static inline float max_nan(float m, float v) {
  if (v != v) return v;
  return v > m ? v : m;
}

void qi_f32_pool_vmax__scalar(const float *x, size_t stride, size_t nrows,
                              size_t w, float *t) {
  if (nrows == 0) {
    for (size_t i = 0; i < w; i++) t[i] = -INFINITY;
    return;
  }
  for (size_t i = 0; i < w; i++) t[i] = x[i];
  for (size_t r = 1; r < nrows; r++) {
    const float *row = x + r * stride;
    for (size_t i = 0; i < w; i++) t[i] = max_nan(t[i], row[i]);
  }
}

void qi_f32_pool_vsum__scalar(const float *x, size_t stride, size_t nrows,
                              size_t w, double *t) {
  if (nrows == 0) {
    for (size_t i = 0; i < w; i++) t[i] = 0.0;
    return;
  }
  for (size_t i = 0; i < w; i++) t[i] = (double)x[i];
  for (size_t r = 1; r < nrows; r++) {
    const float *row = x + r * stride;
    for (size_t i = 0; i < w; i++) t[i] += (double)row[i];
  }
}

void qi_f32_pool_hmax__scalar(const float *t, size_t n, size_t k, size_t s,
                              float *y) {
  for (size_t o = 0; o < n; o++) {
    const float *w = t + o * s;
    float m = w[0];
    for (size_t j = 1; j < k; j++) m = max_nan(m, w[j]);
    y[o] = m;
  }
}

void qi_f32_pool_havg__scalar(const double *t, size_t n, size_t k, size_t s,
                              const double *div, float *y) {
  for (size_t o = 0; o < n; o++) {
    const double *w = t + o * s;
    double a = w[0];
    for (size_t j = 1; j < k; j++) a += w[j];
    y[o] = (float)(a / div[o]);
  }
}
