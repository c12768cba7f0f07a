/* Scalar depthwise convolution. The loop
 * is tap-major over one output row so the inner loop is a bounds-free
 * multiply-add over a contiguous (stride 1) or strided input run. */
#include "fp32/dwconv.h"

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

size_t qi_f32_dwconv2d_scratch(const qi_f32_dw2d *p) {
  int64_t hp, wpp, rows;
  qi_f32_dw_phase_dims(p, &hp, &wpp);
  qi_f32_dw_band_rows(p, hp, &rows);
  return (size_t)(p->stride_w * rows * wpp) + 8;
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
