/* AVX2 depthwise convolution. Each output row is split into a left edge, an
 * interior where every tap of every pixel is inside the input row, and a
 * right edge; the interior keeps 32 (then 8) outputs in registers across
 * all taps, the edges use the scalar per-pixel loop. For stride 2 the
 * interior loads 16 inputs per 8 outputs and keeps the even ones, so the
 * interior is shrunk by one input to keep that extra load in bounds. */
#include <immintrin.h>

#include "fp32/dwconv.h"

static void edge_pixels(const qi_f32_dw2d *p, const float *in, const float *w,
                        float bias, int64_t ih0, int64_t kh_lo, int64_t kh_hi,
                        int64_t ow0, int64_t ow1, float *y) {
  for (int64_t ow = ow0; ow < ow1; ow++) {
    float acc = bias;
    int64_t iw0 = ow * p->stride_w - p->pad_l;
    for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
      const float *row = in + (ih0 + kh * p->dil_h) * p->in_w;
      for (int64_t kw = 0; kw < p->k_w; kw++) {
        int64_t iw = iw0 + kw * p->dil_w;
        if (iw >= 0 && iw < p->in_w) acc += w[kh * p->k_w + kw] * row[iw];
      }
    }
    y[ow] = acc;
  }
}

/* 8 inputs starting at s with step `sw` (1 or 2; 2 reads s[0..15]). */
static inline __attribute__((always_inline)) __m256 load8(const float *s,
                                                         int sw) {
  if (sw == 1) return _mm256_loadu_ps(s);
  __m256 a = _mm256_loadu_ps(s), b = _mm256_loadu_ps(s + 8);
  __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* 8 outputs starting at ow, all taps inside the input row. */
static inline __attribute__((always_inline)) void block8(
    const qi_f32_dw2d *p, const float *in, const float *w, float bias,
    int64_t ih0, int64_t kh_lo, int64_t kh_hi, int64_t ow, float *y, int sw) {
  __m256 a0 = _mm256_set1_ps(bias);
  for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
    const float *row = in + (ih0 + kh * p->dil_h) * p->in_w + ow * sw - p->pad_l;
    const float *wr = w + kh * p->k_w;
    for (int64_t kw = 0; kw < p->k_w; kw++)
      a0 = _mm256_fmadd_ps(_mm256_broadcast_ss(wr + kw),
                           load8(row + kw * p->dil_w, sw), a0);
  }
  _mm256_storeu_ps(y + ow, a0);
}

static inline __attribute__((always_inline)) void interior(
    const qi_f32_dw2d *p, const float *in, const float *w, float bias,
    int64_t ih0, int64_t kh_lo, int64_t kh_hi, int64_t ow0, int64_t ow1,
    float *y, int sw) {
  const int64_t kw_n = p->k_w, dw = p->dil_w;
  int64_t ow = ow0;
  for (; ow + 32 <= ow1; ow += 32) {
    __m256 a0 = _mm256_set1_ps(bias), a1 = a0, a2 = a0, a3 = a0;
    for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
      const float *row =
          in + (ih0 + kh * p->dil_h) * p->in_w + ow * sw - p->pad_l;
      const float *wr = w + kh * kw_n;
      for (int64_t kw = 0; kw < kw_n; kw++) {
        __m256 wv = _mm256_broadcast_ss(wr + kw);
        const float *s = row + kw * dw;
        a0 = _mm256_fmadd_ps(wv, load8(s, sw), a0);
        a1 = _mm256_fmadd_ps(wv, load8(s + 8 * sw, sw), a1);
        a2 = _mm256_fmadd_ps(wv, load8(s + 16 * sw, sw), a2);
        a3 = _mm256_fmadd_ps(wv, load8(s + 24 * sw, sw), a3);
      }
    }
    _mm256_storeu_ps(y + ow, a0);
    _mm256_storeu_ps(y + ow + 8, a1);
    _mm256_storeu_ps(y + ow + 16, a2);
    _mm256_storeu_ps(y + ow + 24, a3);
  }
  for (; ow + 8 <= ow1; ow += 8)
    block8(p, in, w, bias, ih0, kh_lo, kh_hi, ow, y, sw);
  /* A last partial block is recomputed overlapping the one before: the
   * overlapped outputs get the same value again. */
  if (ow < ow1 && ow1 - ow0 >= 8) {
    block8(p, in, w, bias, ih0, kh_lo, kh_hi, ow1 - 8, y, sw);
    ow = ow1;
  }
  edge_pixels(p, in, w, bias, ih0, kh_lo, kh_hi, ow, ow1, y);
}

void qi_f32_dwconv2d__avx2(const qi_f32_dw2d *p, const float *in,
                           const float *w, float bias, float *out) {
  const int64_t sw = p->stride_w;
  /* Interior: ow*sw - pad_l >= 0 and ow*sw - pad_l + ext <= in_w - 1. */
  const int64_t ext = (p->k_w - 1) * p->dil_w + (sw == 2 ? 1 : 0);
  int64_t lo = (p->pad_l + sw - 1) / sw, hi = 0;
  if (p->in_w - 1 - ext + p->pad_l >= 0)
    hi = (p->in_w - 1 - ext + p->pad_l) / sw + 1;
  if (hi > p->out_w) hi = p->out_w;
  if (lo > p->out_w) lo = p->out_w;
  if (hi < lo || (sw != 1 && sw != 2)) hi = lo;
  for (int64_t oh = 0; oh < p->out_h; oh++) {
    float *y = out + oh * p->out_w;
    int64_t ih0 = oh * p->stride_h - p->pad_t;
    int64_t kh_lo, kh_hi;
    qi_f32_dw_valid_range(ih0, p->dil_h, p->in_h, p->k_h, &kh_lo, &kh_hi);
    edge_pixels(p, in, w, bias, ih0, kh_lo, kh_hi, 0, lo, y);
    if (sw == 1)
      interior(p, in, w, bias, ih0, kh_lo, kh_hi, lo, hi, y, 1);
    else
      interior(p, in, w, bias, ih0, kh_lo, kh_hi, lo, hi, y, 2);
    edge_pixels(p, in, w, bias, ih0, kh_lo, kh_hi, hi, p->out_w, y);
  }
}
