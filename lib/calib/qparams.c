/* Ranges and weights to quantization parameters (see qparams.h for the
 * formulas and their edge cases). */
#include "calib/qparams.h"

#include <float.h>
#include <math.h>

#include "core/error.h"

qi_status qi_uint8_qparams(float lo, float hi, float *scale,
                           int32_t *zero_point, qi_error *err) {
  if (!scale || !zero_point)
    return qi_fail(err, QI_ERR_INVALID_ARG, "uint8 qparams: NULL output");
  if (!isfinite(lo) || !isfinite(hi) || lo > hi)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "uint8 qparams: range [%g, %g] is not finite and ordered",
                   (double)lo, (double)hi);
  double l = lo < 0 ? (double)lo : 0.0;
  double h = hi > 0 ? (double)hi : 0.0;
  /* h - l <= 2 * FLT_MAX, so the quotient fits a float. */
  float s = (float)((h - l) / 255.0);
  if (!(s >= FLT_MIN)) {
    *scale = QI_DEGENERATE_SCALE;
    *zero_point = 0;
    return QI_OK;
  }
  double z = nearbyint(-l / (double)s);
  if (z < 0) z = 0;
  if (z > 255) z = 255;
  *scale = s;
  *zero_point = (int32_t)z;
  return QI_OK;
}

/* Checks that every index of the layout lies inside w[0 .. w_count). */
static qi_status check_layout(const float *w, size_t w_count,
                              const qi_weight_layout *l, const char *what,
                              qi_error *err) {
  if (!w || !l)
    return qi_fail(err, QI_ERR_INVALID_ARG, "%s: NULL argument", what);
  if (l->channels < 1 || l->channel_size < 1 || l->channel_stride < 0 ||
      l->element_stride < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: layout of %lld channels x %lld elements, strides "
                   "%lld/%lld",
                   what, (long long)l->channels, (long long)l->channel_size,
                   (long long)l->channel_stride, (long long)l->element_stride);
  int64_t a, b, last;
  if (__builtin_mul_overflow(l->channels - 1, l->channel_stride, &a) ||
      __builtin_mul_overflow(l->channel_size - 1, l->element_stride, &b) ||
      __builtin_add_overflow(a, b, &last) || (uint64_t)last >= w_count)
    return qi_fail(err, QI_ERR_SHAPE,
                   "%s: layout of %lld x %lld reaches past the %zu weights",
                   what, (long long)l->channels, (long long)l->channel_size,
                   w_count);
  return QI_OK;
}

qi_status qi_int8_weight_scales(const float *w, size_t w_count,
                                const qi_weight_layout *l, float *scales,
                                qi_error *err) {
  QI_TRY(check_layout(w, w_count, l, "weight scales", err));
  if (!scales)
    return qi_fail(err, QI_ERR_INVALID_ARG, "weight scales: NULL output");
  for (int64_t c = 0; c < l->channels; c++) {
    const float *row = w + c * l->channel_stride;
    float m = 0.0f;
    for (int64_t i = 0; i < l->channel_size; i++) {
      float v = row[i * l->element_stride];
      if (!isfinite(v))
        return qi_fail(err, QI_ERR_INVALID_ARG,
                       "weight scales: channel %lld element %lld is %g",
                       (long long)c, (long long)i, (double)v);
      float a = fabsf(v);
      if (a > m) m = a;
    }
    float s = m / 127.0f;
    scales[c] = s >= FLT_MIN ? s : QI_DEGENERATE_SCALE;
  }
  return QI_OK;
}

qi_status qi_quantize_weights(const float *w, size_t w_count,
                              const qi_weight_layout *l, const float *scales,
                              int8_t *q, qi_error *err) {
  QI_TRY(check_layout(w, w_count, l, "quantize weights", err));
  if (!scales || !q)
    return qi_fail(err, QI_ERR_INVALID_ARG, "quantize weights: NULL argument");
  for (int64_t c = 0; c < l->channels; c++) {
    float s = scales[c];
    if (!(s > 0) || !isfinite(s))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "quantize weights: channel %lld has scale %g",
                     (long long)c, (double)s);
    const float *row = w + c * l->channel_stride;
    int8_t *out = q + c * l->channel_size;
    for (int64_t i = 0; i < l->channel_size; i++) {
      float v = row[i * l->element_stride];
      if (!isfinite(v))
        return qi_fail(err, QI_ERR_INVALID_ARG,
                       "quantize weights: channel %lld element %lld is %g",
                       (long long)c, (long long)i, (double)v);
      double r = nearbyint((double)v / (double)s);
      if (r > 127) r = 127;
      if (r < -127) r = -127;
      out[i] = (int8_t)r;
    }
  }
  return QI_OK;
}

qi_status qi_quantize_bias(const float *bias, int64_t channels,
                           float input_scale, const float *weight_scales,
                           int32_t *q, qi_error *err) {
  if (!bias || !weight_scales || !q || channels < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "quantize bias: bad argument");
  for (int64_t c = 0; c < channels; c++) {
    float bs = input_scale * weight_scales[c];
    if (!(bs > 0) || !isfinite(bs))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "quantize bias: channel %lld has scale %g * %g = %g",
                     (long long)c, (double)input_scale,
                     (double)weight_scales[c], (double)bs);
    if (!isfinite(bias[c]))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "quantize bias: channel %lld is %g", (long long)c,
                     (double)bias[c]);
    double r = nearbyint((double)bias[c] / (double)bs);
    if (!(fabs(r) <= (double)INT32_MAX))
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "quantize bias: channel %lld: %g / %g = %.17g leaves "
                     "int32",
                     (long long)c, (double)bias[c], (double)bs, r);
    q[c] = (int32_t)r;
  }
  return QI_OK;
}

int qi_qdq_weight_scales(const qi_quant *q, int axis, const float *w,
                         const qi_weight_layout *lay, float *scales) {
  if (!q || !q->has || q->zero_point != 0) return 0;
  for (int64_t i = 0; i < lay->channels; i++) {
    float s = q->axis < 0 ? q->scale
              : q->axis == axis && q->nscales == lay->channels && q->scales
                  ? q->scales[i]
                  : NAN;
    if (!isfinite(s) || !(s > 0.0f)) return 0;
    for (int64_t k = 0; k < lay->channel_size; k++) {
      float v = w[i * lay->channel_stride + k * lay->element_stride];
      if (!(fabs((double)v) <= 128.0 * (double)s)) return 0;
    }
    scales[i] = s;
  }
  return 1;
}
