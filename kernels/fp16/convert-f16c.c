/* F16C rows and epilogue; see fp16.h. Eight elements per step; the last
 * n % 8 go through an 8-element stack copy so they get the same
 * instructions (and bits) as the rest without reading or writing past n. */
#include <immintrin.h>

#include "fp16/fp16.h"
#include "fp32/bias_act.h"

void qi_f16_to_f32__f16c(const uint16_t *src, float *dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(
        dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
  if (i < n) {
    uint16_t h[8] = {0};
    float f[8];
    memcpy(h, src + i, (n - i) * sizeof *h);
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h)));
    memcpy(dst + i, f, (n - i) * sizeof *f);
  }
}

void qi_f16_from_f32__f16c(const float *src, uint16_t *dst, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(
        (__m128i *)(dst + i),
        _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
  if (i < n) {
    float f[8] = {0};
    uint16_t h[8];
    memcpy(f, src + i, (n - i) * sizeof *f);
    _mm_storeu_si128((__m128i *)h, _mm256_cvtps_ph(_mm256_loadu_ps(f),
                                                   _MM_FROUND_TO_NEAREST_INT));
    memcpy(dst + i, h, (n - i) * sizeof *h);
  }
}

/* The scalar formulas of fp32/bias_act.h with compare masks, so NaN and
 * lo > hi behave the same: RELU v > 0 ? v : 0, CLIP v < lo ? lo :
 * (v > hi ? hi : v). */
static inline __m256 act8(const qi_f16_act *a, __m256 v) {
  if (a->kind == QI_F32_ACT_RELU) {
    __m256 z = _mm256_setzero_ps();
    return _mm256_blendv_ps(z, v, _mm256_cmp_ps(v, z, _CMP_GT_OQ));
  }
  if (a->kind == QI_F32_ACT_CLIP) {
    __m256 lo = _mm256_set1_ps(a->alpha), hi = _mm256_set1_ps(a->beta);
    __m256 r = _mm256_blendv_ps(v, hi, _mm256_cmp_ps(v, hi, _CMP_GT_OQ));
    return _mm256_blendv_ps(r, lo, _mm256_cmp_ps(v, lo, _CMP_LT_OQ));
  }
  return v;
}

static inline void epi8(const qi_f16_act *act, const float *src,
                        const float *bias_vec, __m256 bias, const uint16_t *res,
                        float *df, uint16_t *dh) {
  __m256 v = _mm256_add_ps(_mm256_loadu_ps(src),
                           bias_vec ? _mm256_loadu_ps(bias_vec) : bias);
  if (res)
    v = _mm256_add_ps(v,
                      _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)res)));
  v = act8(act, v);
  if (df)
    _mm256_storeu_ps(df, v);
  else
    _mm_storeu_si128((__m128i *)dh,
                     _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT));
}

void qi_f16_epilogue__f16c(const qi_f16_act *act, const float *src,
                           const float *bias_vec, float bias,
                           const uint16_t *res, void *dst, int dst_f32,
                           size_t n) {
  float *df = dst_f32 ? dst : NULL;
  uint16_t *dh = dst_f32 ? NULL : dst;
  __m256 b = _mm256_set1_ps(bias);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    epi8(act, src + i, bias_vec ? bias_vec + i : NULL, b, res ? res + i : NULL,
         df ? df + i : NULL, dh ? dh + i : NULL);
  if (i == n) return;
  size_t m = n - i;
  float s[8] = {0}, bv[8] = {0}, of[8];
  uint16_t r[8] = {0}, oh[8];
  memcpy(s, src + i, m * sizeof *s);
  if (bias_vec) memcpy(bv, bias_vec + i, m * sizeof *bv);
  if (res) memcpy(r, res + i, m * sizeof *r);
  epi8(act, s, bias_vec ? bv : NULL, b, res ? r : NULL, df ? of : NULL,
       dh ? oh : NULL);
  if (df)
    memcpy(df + i, of, m * sizeof *of);
  else
    memcpy(dh + i, oh, m * sizeof *oh);
}
