/* Scalar 2-D pooling of one plane; see pool.h. */
#include <math.h>

#include "fp32/pool.h"

/* NaN in either sticks; on equal values m stays (as vmaxps does with m as
 * its second operand). */
static inline float max_nan(float m, float v) {
  if (v != v) return v;
  return v > m ? v : m;
}

void qi_f32_maxpool2d__scalar(const qi_f32_pool2d *p, const float *x,
                              float *y, int64_t oh0, int64_t oh1,
                              void *scratch) {
  int64_t w = p->in_w, ow_n = p->out_w, k = p->k_w, s = p->stride_w;
  int64_t len = qi_f32_pool2d_row_len(p);
  float *t = scratch, *row = t + p->pad_l;
  for (int64_t i = 0; i < len; i++) t[i] = -INFINITY;
  for (int64_t oh = oh0; oh < oh1; oh++) {
    qi_f32_pool_taps th = qi_f32_pool_taps_of(oh, p->k_h, p->stride_h, p->pad_t,
                                              p->pad_b, p->in_h);
    if (th.hi == th.lo) {
      for (int64_t i = 0; i < w; i++) row[i] = -INFINITY;
    } else {
      const float *xr = x + (th.start + th.lo) * w;
      for (int64_t i = 0; i < w; i++) row[i] = xr[i];
      for (int64_t r = 1; r < th.hi - th.lo; r++)
        for (int64_t i = 0; i < w; i++) row[i] = max_nan(row[i], xr[r * w + i]);
    }
    float *yr = y + oh * ow_n;
    for (int64_t o = 0; o < ow_n; o++) {
      const float *tw = t + o * s;
      float m = tw[0];
      for (int64_t j = 1; j < k; j++) m = max_nan(m, tw[j]);
      yr[o] = m;
    }
  }
}

void qi_f32_avgpool2d__scalar(const qi_f32_pool2d *p, const float *x,
                              float *y, int64_t oh0, int64_t oh1,
                              void *scratch) {
  int64_t w = p->in_w, ow_n = p->out_w, k = p->k_w, s = p->stride_w;
  int64_t len = qi_f32_pool2d_row_len(p);
  double *t = scratch, *row = t + p->pad_l, *inv_w = t + len;
  for (int64_t i = 0; i < len; i++) t[i] = 0.0;
  for (int64_t o = 0; o < ow_n; o++) {
    qi_f32_pool_taps tw = qi_f32_pool_taps_of(o, k, s, p->pad_l, p->pad_r, w);
    inv_w[o] = 1.0 / (double)(p->count_pad ? tw.padded : tw.hi - tw.lo);
  }
  for (int64_t oh = oh0; oh < oh1; oh++) {
    qi_f32_pool_taps th = qi_f32_pool_taps_of(oh, p->k_h, p->stride_h, p->pad_t,
                                              p->pad_b, p->in_h);
    double inv_h = 1.0 / (double)(p->count_pad ? th.padded : th.hi - th.lo);
    if (th.hi == th.lo) {
      for (int64_t i = 0; i < w; i++) row[i] = 0.0;
    } else {
      const float *xr = x + (th.start + th.lo) * w;
      for (int64_t i = 0; i < w; i++) row[i] = (double)xr[i];
      for (int64_t r = 1; r < th.hi - th.lo; r++)
        for (int64_t i = 0; i < w; i++) row[i] += (double)xr[r * w + i];
    }
    float *yr = y + oh * ow_n;
    for (int64_t o = 0; o < ow_n; o++) {
      const double *tw = t + o * s;
      double a = tw[0];
      for (int64_t j = 1; j < k; j++) a += tw[j];
      yr[o] = (float)(a * inv_h * inv_w[o]);
    }
  }
}
