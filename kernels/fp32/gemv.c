/* Scalar matrix-vector products; see gemv.h. */
#include "fp32/gemv.h"

void qi_f32_gemv_rows__scalar(int64_t n, int64_t k, float alpha,
                              const float *x, const float *w, int64_t ldw,
                              float *y, int accumulate) {
  for (int64_t j = 0; j < n; j++) {
    float acc = 0.0f;
    for (int64_t p = 0; p < k; p++) acc += x[p] * w[j * ldw + p];
    y[j] = accumulate ? y[j] + alpha * acc : alpha * acc;
  }
}

void qi_f32_gemv_cols__scalar(int64_t n, int64_t k, float alpha,
                              const float *x, const float *b, int64_t ldb,
                              float *y, int accumulate) {
  for (int64_t j = 0; j < n; j++) {
    float acc = 0.0f;
    for (int64_t p = 0; p < k; p++) acc += x[p] * b[p * ldb + j];
    y[j] = accumulate ? y[j] + alpha * acc : alpha * acc;
  }
}
