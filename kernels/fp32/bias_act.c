/* Scalar bias / residual / activation tail. */
#include "fp32/bias_act.h"

#include <math.h>

static float act_one(const qi_f32_act *a, float x) {
  switch (a->kind) {
    case QI_F32_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case QI_F32_ACT_CLIP:
      return x < a->alpha ? a->alpha : (x > a->beta ? a->beta : x);
    case QI_F32_ACT_LEAKY: return x >= 0.0f ? x : x * a->alpha;
    case QI_F32_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case QI_F32_ACT_HARDSWISH: {
      float h = x / 6.0f + 0.5f;
      h = h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
      return x * h;
    }
    case QI_F32_ACT_SILU: return x / (1.0f + expf(-x));
    case QI_F32_ACT_GELU:
      return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case QI_F32_ACT_HARDSIGMOID: {
      float h = a->alpha * x + a->beta;
      return h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
    }
    case QI_F32_ACT_TANH: return tanhf(x);
    default: return x;
  }
}

void qi_f32_bias_act__scalar(const qi_f32_act *a, float bias,
                             const float *src, const float *res, float *dst,
                             size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = src[i] + bias;
    if (res) v = v + res[i];
    dst[i] = act_one(a, v);
  }
}
