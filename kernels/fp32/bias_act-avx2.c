/* AVX2 bias / residual / activation tail; see bias_act.h. One loop per
 * activation (the switch is resolved outside the loop by inlining with a
 * constant kind); the last n % 8 elements go through masked loads and
 * stores so they get exactly the same arithmetic as the rest.
 *
 * exp: Cephes expf. x = n*ln2 + r with n = round(x*log2(e)), ln2 split in
 * two constants so r is exact, exp(r) by a degree-5 polynomial on
 * |r| <= ln2/2, scaled by 2^n built in the exponent bits. Input clamped to
 * [-87, 88] so 2^n stays a normal float.
 * tanh: Cephes tanhf (odd polynomial below 0.625, 1 - 2/(exp(2|x|)+1)
 * above). erf: Abramowitz & Stegun 7.1.26, |error| <= 1.5e-7. */
#include <immintrin.h>
#include <stdint.h>

#include "fp32/bias_act.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 exp_ps(__m256 x) {
  x = _mm256_min_ps(x, _mm256_set1_ps(88.0f));
  x = _mm256_max_ps(x, _mm256_set1_ps(-87.0f));
  __m256 fx = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                              _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500e-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073e-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894e-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459e-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201e-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), x);
  y = _mm256_add_ps(y, _mm256_set1_ps(1.0f));
  __m256i e = _mm256_add_epi32(_mm256_cvtps_epi32(fx), _mm256_set1_epi32(127));
  return _mm256_mul_ps(y, _mm256_castsi256_ps(_mm256_slli_epi32(e, 23)));
}

INLINE __m256 tanh_ps(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 ax = _mm256_andnot_ps(sign, x);
  __m256 z = _mm256_mul_ps(x, x);
  __m256 p = _mm256_set1_ps(-5.70498872745e-3f);
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(2.06390887954e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-5.37397155531e-2f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(1.33314422036e-1f));
  p = _mm256_fmadd_ps(p, z, _mm256_set1_ps(-3.33332819422e-1f));
  __m256 small = _mm256_fmadd_ps(_mm256_mul_ps(p, z), x, x);
  __m256 e = exp_ps(_mm256_add_ps(ax, ax));
  __m256 big = _mm256_sub_ps(
      _mm256_set1_ps(1.0f),
      _mm256_div_ps(_mm256_set1_ps(2.0f), _mm256_add_ps(e, _mm256_set1_ps(1.0f))));
  big = _mm256_or_ps(big, _mm256_and_ps(sign, x));
  return _mm256_blendv_ps(big, small,
                          _mm256_cmp_ps(ax, _mm256_set1_ps(0.625f), _CMP_LT_OQ));
}

INLINE __m256 erf_ps(__m256 x) {
  const __m256 sign = _mm256_set1_ps(-0.0f);
  __m256 ax = _mm256_andnot_ps(sign, x);
  __m256 t = _mm256_div_ps(
      _mm256_set1_ps(1.0f),
      _mm256_fmadd_ps(_mm256_set1_ps(0.3275911f), ax, _mm256_set1_ps(1.0f)));
  __m256 p = _mm256_set1_ps(1.061405429f);
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-1.453152027f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(1.421413741f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(-0.284496736f));
  p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(0.254829592f));
  p = _mm256_mul_ps(p, t);
  __m256 e = exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), _mm256_mul_ps(ax, ax)));
  __m256 y = _mm256_fnmadd_ps(p, e, _mm256_set1_ps(1.0f));
  return _mm256_or_ps(y, _mm256_and_ps(sign, x));
}

INLINE __m256 clamp01(__m256 h) {
  return _mm256_min_ps(_mm256_set1_ps(1.0f),
                       _mm256_max_ps(_mm256_setzero_ps(), h));
}

/* max_ps(a, b) returns b when either is NaN: argument order below keeps the
 * scalar formulas' NaN behaviour (RELU maps NaN to 0, CLIP passes it). */
INLINE __m256 act_ps(int kind, __m256 x, __m256 alpha, __m256 beta) {
  const __m256 one = _mm256_set1_ps(1.0f);
  switch (kind) {
    case QI_F32_ACT_RELU: return _mm256_max_ps(x, _mm256_setzero_ps());
    case QI_F32_ACT_CLIP: return _mm256_min_ps(beta, _mm256_max_ps(alpha, x));
    case QI_F32_ACT_LEAKY:
      return _mm256_blendv_ps(_mm256_mul_ps(x, alpha), x,
                              _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ));
    case QI_F32_ACT_SIGMOID:
      return _mm256_div_ps(
          one, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    case QI_F32_ACT_HARDSWISH: {
      __m256 h = _mm256_add_ps(_mm256_div_ps(x, _mm256_set1_ps(6.0f)),
                               _mm256_set1_ps(0.5f));
      return _mm256_mul_ps(x, clamp01(h));
    }
    case QI_F32_ACT_SILU:
      return _mm256_div_ps(
          x, _mm256_add_ps(one, exp_ps(_mm256_sub_ps(_mm256_setzero_ps(), x))));
    case QI_F32_ACT_GELU: {
      __m256 e = erf_ps(_mm256_mul_ps(x, _mm256_set1_ps(0.70710678118654752f)));
      return _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), x),
                           _mm256_add_ps(one, e));
    }
    case QI_F32_ACT_HARDSIGMOID:
      return clamp01(_mm256_add_ps(_mm256_mul_ps(alpha, x), beta));
    case QI_F32_ACT_TANH: return tanh_ps(x);
    default: return x;
  }
}

static const int32_t tail_mask[16] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                      0,  0,  0,  0,  0,  0,  0,  0};

INLINE void run(int kind, const qi_f32_act *a, float bias, const float *src,
                const float *res, float *dst, size_t n) {
  const __m256 b = _mm256_set1_ps(bias);
  const __m256 alpha = _mm256_set1_ps(a->alpha), beta = _mm256_set1_ps(a->beta);
  size_t i = 0;
  if (res) {
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_add_ps(_mm256_add_ps(_mm256_loadu_ps(src + i), b),
                               _mm256_loadu_ps(res + i));
      _mm256_storeu_ps(dst + i, act_ps(kind, v, alpha, beta));
    }
  } else {
    for (; i + 8 <= n; i += 8) {
      __m256 v = _mm256_add_ps(_mm256_loadu_ps(src + i), b);
      _mm256_storeu_ps(dst + i, act_ps(kind, v, alpha, beta));
    }
  }
  if (i < n) {
    __m256i m = _mm256_loadu_si256((const __m256i *)(tail_mask + 8 - (n - i)));
    __m256 v = _mm256_add_ps(_mm256_maskload_ps(src + i, m), b);
    if (res) v = _mm256_add_ps(v, _mm256_maskload_ps(res + i, m));
    _mm256_maskstore_ps(dst + i, m, act_ps(kind, v, alpha, beta));
  }
}

void qi_f32_bias_act__avx2(const qi_f32_act *a, float bias, const float *src,
                           const float *res, float *dst, size_t n) {
  switch (a->kind) {
    case QI_F32_ACT_RELU: run(QI_F32_ACT_RELU, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_CLIP: run(QI_F32_ACT_CLIP, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_LEAKY: run(QI_F32_ACT_LEAKY, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_SIGMOID: run(QI_F32_ACT_SIGMOID, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_HARDSWISH: run(QI_F32_ACT_HARDSWISH, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_SILU: run(QI_F32_ACT_SILU, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_GELU: run(QI_F32_ACT_GELU, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_HARDSIGMOID: run(QI_F32_ACT_HARDSIGMOID, a, bias, src, res, dst, n); break;
    case QI_F32_ACT_TANH: run(QI_F32_ACT_TANH, a, bias, src, res, dst, n); break;
    default: run(QI_F32_ACT_NONE, a, bias, src, res, dst, n); break;
  }
}
