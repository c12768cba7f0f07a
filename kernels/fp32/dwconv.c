/* Scalar depthwise convolution. The loop
 * is tap-major over one output row so the inner loop is a bounds-free
 * multiply-add over a contiguous (stride 1) or strided input run. */
#include "fp32/dwconv.h"
#include "fp32/dwconv3.h"

/* Range [*lo, *hi) of x in [0, n) with 0 <= base + x * step < limit
 * (step >= 1). */
static void valid_range(int64_t base, int64_t step, int64_t limit, int64_t n,
                        int64_t *lo, int64_t *hi) {
  int64_t a = base >= 0 ? 0 : (-base + step - 1) / step;
  int64_t b = base > limit - 1 ? 0 : (limit - 1 - base) / step + 1;
  if (a > n) a = n;
  if (b > n) b = n;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

void qi_f32_dw2d_derive(qi_f32_dw2d *p) {
  const int64_t sw = p->stride_w;
  p->vector = sw <= QI_F32_DW_MAX_SW;
  if (!p->vector) return;
  int64_t lo0 = (p->pad_l + sw - 1) / sw;
  p->e = (8 - lo0 % 8) % 8;
  int64_t owv = (p->out_w + 7) / 8 * 8;
  int64_t w_need = owv + (p->k_w - 1) * p->dil_w / sw + p->e;
  int64_t w_in = (p->in_w + p->pad_l + sw - 1) / sw + p->e;
  int64_t h_need = (p->out_h - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  p->wpp = ((w_in > w_need ? w_in : w_need) + 7) / 8 * 8;
  p->hp = p->in_h + p->pad_t > h_need ? p->in_h + p->pad_t : h_need;
  int64_t rows = (QI_F32_DW_BAND - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  p->band_rows = rows < p->hp ? rows : p->hp;
  /* Phase q position x holds input column x * sw + q - (pad_l + e * sw):
   * the e extra positions act as more left padding. */
  const int64_t pl = p->pad_l + p->e * sw;
  for (int64_t q = 0; q < sw; q++) {
    int64_t lo = pl - q <= 0 ? 0 : (pl - q + sw - 1) / sw;
    int64_t hi = p->in_w + pl - q <= 0 ? 0 : (p->in_w + pl - q + sw - 1) / sw;
    if (hi > p->wpp) hi = p->wpp;
    if (lo > hi) lo = hi;
    p->lo[q] = lo;
    p->hi[q] = hi;
  }
  const int64_t phase_stride = p->band_rows * p->wpp;
  for (int64_t kw = 0; kw < p->k_w && kw < QI_F32_DW_MAX_KW; kw++) {
    int64_t col = kw * p->dil_w;
    p->koff[kw] = col % sw * phase_stride + col / sw + p->e;
  }
}

size_t qi_f32_dwconv2d_scratch(const qi_f32_dw2d *p) {
  if (!p->vector) return 8;
  return (size_t)(p->stride_w * p->band_rows * p->wpp) + 8;
}

void qi_f32_dwconv2d__scalar(const qi_f32_dw2d *p, const float *in,
                             const float *w, float bias, float *out,
                             float *scratch) {
  (void)scratch;
  for (int64_t oh = 0; oh < p->out_h; oh++) {
    float *y = out + oh * p->out_w;
    for (int64_t ow = 0; ow < p->out_w; ow++) y[ow] = bias;
    int64_t ih0 = oh * p->stride_h - p->pad_t;
    int64_t kh_lo, kh_hi;
    valid_range(ih0, p->dil_h, p->in_h, p->k_h, &kh_lo, &kh_hi);
    for (int64_t kh = kh_lo; kh < kh_hi; kh++) {
      const float *row = in + (ih0 + kh * p->dil_h) * p->in_w;
      for (int64_t kw = 0; kw < p->k_w; kw++) {
        float wv = w[kh * p->k_w + kw];
        int64_t iw0 = kw * p->dil_w - p->pad_l;
        int64_t lo, hi;
        valid_range(iw0, p->stride_w, p->in_w, p->out_w, &lo, &hi);
        int64_t sw = p->stride_w;
        for (int64_t ow = lo; ow < hi; ow++) y[ow] += wv * row[iw0 + ow * sw];
      }
    }
  }
}

int qi_f32_dwconv3_applies(const qi_f32_dw2d *p) {
  return p->k_w == 3 && p->dil_w == 1 &&
         (p->stride_w == 1 || p->stride_w == 2) && p->k_h >= 1 &&
         p->in_w < INT32_MAX / 4 && p->out_w < INT32_MAX / 4 &&
         p->pad_l < INT32_MAX / 4;
}

int qi_f32_dwconv3_fuses(const qi_f32_act *act) {
  return act->kind == QI_F32_ACT_NONE || act->kind == QI_F32_ACT_RELU ||
         act->kind == QI_F32_ACT_CLIP;
}
