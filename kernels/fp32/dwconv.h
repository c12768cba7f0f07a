/*
 * FP32 depthwise 2-D convolution of one channel plane (NCHW):
 *
 *   out[oh][ow] = bias + sum_{kh,kw} w[kh*k_w + kw] *
 *                 in[oh*stride_h - pad_t + kh*dil_h][ow*stride_w - pad_l + kw*dil_w]
 *
 * with taps outside the input reading zero. Pure functions, no allocation;
 * `in` holds in_h*in_w floats and is never read outside them.
 */
#ifndef QI_KERNELS_FP32_DWCONV_H
#define QI_KERNELS_FP32_DWCONV_H

#include <stdint.h>

typedef struct qi_f32_dw2d {
  int64_t in_h, in_w, out_h, out_w, k_h, k_w;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l;   /* >= 0 */
} qi_f32_dw2d;

typedef void (*qi_f32_dwconv2d_fn)(const qi_f32_dw2d *p, const float *in,
                                   const float *w, float bias, float *out);

void qi_f32_dwconv2d__scalar(const qi_f32_dw2d *p, const float *in,
                             const float *w, float bias, float *out);
/* Needs AVX2 and FMA; stride_w 1 and 2 are vectorized, others fall back to
 * scalar loops. */
void qi_f32_dwconv2d__avx2(const qi_f32_dw2d *p, const float *in,
                           const float *w, float bias, float *out);

/* Range [*lo, *hi) of x in [0, n) with 0 <= base + x * step < limit
 * (step >= 1). Shared by the variants. */
static inline void qi_f32_dw_valid_range(int64_t base, int64_t step,
                                         int64_t limit, int64_t n,
                                         int64_t *lo, int64_t *hi) {
  int64_t a = base >= 0 ? 0 : (-base + step - 1) / step;
  int64_t b = base > limit - 1 ? 0 : (limit - 1 - base) / step + 1;
  if (a > n) a = n;
  if (b > n) b = n;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

#endif
