/* Portable u8s8 depthwise microkernel on the i8 layout: the path that
 * always exists. Sums stay in int32 (packing checks the range). */
#include "dwconv/dwconv.h"
#include "ref/requant.h"

void qi_u8s8_dwconv_requant_ukernel_16c__scalar(
    size_t channels, size_t pixels, size_t taps, const uint8_t *const *input,
    size_t step, const void *w, void *y, size_t y_stride, const uint8_t *r,
    size_t r_stride, const qi_u8s8_gemm_params *p) {
  const size_t ct = qi_u8s8_dwconv_ct(1);
  const size_t block = qi_u8s8_dwconv_block_bytes(taps, 1);
  const size_t moff = qi_u8s8_dwconv_mult_offset(taps, 1);
  for (size_t j = 0; j < pixels; j++, input += step) {
    const unsigned char *blk = w;
    for (size_t c0 = 0; c0 < channels; c0 += ct, blk += block) {
      const int32_t *bias = (const int32_t *)blk;
      const int8_t *wt = (const int8_t *)blk + ct * 4;
      const float *mult = (const float *)(blk + moff);
      size_t nc = channels - c0 < ct ? channels - c0 : ct;
      for (size_t i = 0; i < nc; i++) {
        int32_t acc = bias[i];
        for (size_t t = 0; t < taps; t++)
          acc += (int32_t)input[t][c0 + i] * wt[t * ct + i];
        size_t o = j * y_stride + c0 + i;
        if (p->out_f32)
          ((float *)y)[o] = qi_dequant_f32(acc, mult[i]);
        else if (r)
          ((uint8_t *)y)[o] =
              qi_requant_u8_residual(acc, mult[i], r[j * r_stride + c0 + i], p);
        else
          ((uint8_t *)y)[o] = qi_requant_u8(acc, mult[i], p);
      }
    }
  }
}
