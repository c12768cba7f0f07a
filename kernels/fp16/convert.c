/* Scalar FP16 rows and epilogue; see fp16.h. */
#include "fp16/fp16.h"

#include "fp32/bias_act.h"

void qi_f16_to_f32__scalar(const uint16_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = qi_f16_to_f32_one(src[i]);
}

void qi_f16_from_f32__scalar(const float *src, uint16_t *dst, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = qi_f16_from_f32_one(src[i]);
}

static inline float act_one(const qi_f16_act *a, float v) {
  switch (a->kind) {
    case QI_F32_ACT_RELU:
      return v > 0.0f ? v : 0.0f;
    case QI_F32_ACT_CLIP:
      return v < a->alpha ? a->alpha : (v > a->beta ? a->beta : v);
    default:
      return v;
  }
}

void qi_f16_epilogue__scalar(const qi_f16_act *act, const float *src,
                             const float *bias_vec, float bias,
                             const uint16_t *res, void *dst, int dst_f32,
                             size_t n) {
  float *df = dst;
  uint16_t *dh = dst;
  for (size_t i = 0; i < n; i++) {
    float v = src[i] + (bias_vec ? bias_vec[i] : bias);
    if (res) v += qi_f16_to_f32_one(res[i]);
    v = act_one(act, v);
    if (dst_f32)
      df[i] = v;
    else
      dh[i] = qi_f16_from_f32_one(v);
  }
}
