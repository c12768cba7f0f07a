/* Scalar convolution oracle: direct loops, int64 sums, shared epilogue. */
#include "ref/conv_ref.h"

#include "ref/requant.h"

void qi_u8s8_conv_ref(const qi_u8s8_conv_params *p, const uint8_t *x,
                      size_t x_stride, const int8_t *w, const int32_t *bias,
                      const float *mult, const qi_u8s8_gemm_params *e,
                      const uint8_t *r, size_t r_stride, void *y,
                      size_t y_stride, int32_t *acc) {
  const int64_t cg_in = p->c_in / p->groups, cg_out = p->c_out / p->groups;
  const int64_t taps = cg_in * p->kh * p->kw;
  int64_t pix = 0;
  for (int64_t b = 0; b < p->n; b++)
    for (int64_t oy = 0; oy < p->out_h; oy++)
      for (int64_t ox = 0; ox < p->out_w; ox++, pix++)
        for (int64_t co = 0; co < p->c_out; co++) {
          const int64_t g = co / cg_out;
          const int8_t *wc = w + co * taps;
          int64_t wsum = 0, sum = 0;
          for (int64_t ci = 0; ci < cg_in; ci++)
            for (int64_t ky = 0; ky < p->kh; ky++)
              for (int64_t kx = 0; kx < p->kw; kx++) {
                int64_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
                int64_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
                int64_t wv = wc[(ci * p->kh + ky) * p->kw + kx];
                int64_t xv = p->za; /* a padded tap is the zero point */
                if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                  xv = x[(size_t)((b * p->h + iy) * p->w + ix) * x_stride +
                         (size_t)(g * cg_in + ci)];
                sum += xv * wv;
                wsum += wv;
              }
          int32_t s = (int32_t)((bias ? bias[co] : 0) - p->za * wsum + sum);
          if (acc) acc[pix * p->c_out + co] = s;
          size_t o = (size_t)pix * y_stride + (size_t)co;
          if (e->out_f32)
            ((float *)y)[o] = qi_dequant_f32(s, mult[co]);
          else if (r)
            ((uint8_t *)y)[o] = qi_requant_u8_residual(
                s, mult[co], r[(size_t)pix * r_stride + (size_t)co], e);
          else
            ((uint8_t *)y)[o] = qi_requant_u8(s, mult[co], e);
        }
}
