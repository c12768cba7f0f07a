/*
 * Quantization parameters from calibrated ranges and weights, in the
 * scheme of docs/quantization.md:
 *   activations  uint8, real = scale * (q - zero_point), zero_point 0..255,
 *                real 0 exactly representable;
 *   weights      int8, symmetric, one scale per output channel,
 *                q in -127..127;
 *   bias         int32 in the accumulator's scale input_scale * scale_w[c]
 *                (the zero-point fold happens later, at GEMM packing).
 * Rounding is round-half-to-even everywhere (nearbyint in the default
 * rounding mode), the rounding of the inference requantization.
 * All pointers are borrowed for the duration of the call.
 */
#ifndef QI_CALIB_QPARAMS_H
#define QI_CALIB_QPARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "qinfer.h"

/* The scale given to a range that holds nothing but zero (or spans less
 * than 255 * FLT_MIN): every scale represents 0 exactly, and 1.0 keeps the
 * requantization factors s_x * s_w / s_y ordinary finite numbers. */
#define QI_DEGENERATE_SCALE 1.0f

/*
 * uint8 parameters for real values in [lo, hi] (finite, lo <= hi):
 *   lo' = min(lo, 0), hi' = max(hi, 0)          (0 must be representable)
 *   scale = (float)((hi' - lo') / 255)           (computed in double)
 *   zero_point = clamp(round_half_even(-lo' / scale), 0, 255)
 * The grid actually represented is [scale * -zp, scale * (255 - zp)], which
 * differs from [lo', hi'] by at most scale / 2 at each end (the zero point
 * is rounded, as in TFLite's "nudged" range). lo' == 0 gives zp == 0 (a
 * post-ReLU tensor); hi' == 0 gives zp == 255. If scale < FLT_MIN (an
 * all-zero range, or one narrower than 255 * FLT_MIN): scale =
 * QI_DEGENERATE_SCALE and zero_point = 0.
 */
qi_status qi_uint8_qparams(float lo, float hi, float *scale,
                           int32_t *zero_point, qi_error *err);

/* Where the weights of output channel c, element i, live:
 * w[c * channel_stride + i * element_stride]. Conv [M, C/g, kH, kW] and
 * Gemm B^T [N, K] are qi_weight_layout_rows(M, C/g*kH*kW); MatMul's [K, N]
 * is {N, K, 1, N}. */
typedef struct qi_weight_layout {
  int64_t channels;       /* output channels, >= 1 */
  int64_t channel_size;   /* elements per output channel, >= 1 */
  int64_t channel_stride; /* >= 0, in elements */
  int64_t element_stride; /* >= 0, in elements */
} qi_weight_layout;

static inline qi_weight_layout qi_weight_layout_rows(int64_t channels,
                                                     int64_t channel_size) {
  qi_weight_layout l = {channels, channel_size, channel_size, 1};
  return l;
}

/*
 * Per-output-channel symmetric scales: scale[c] = max_i |w[c][i]| / 127
 * (float division). A channel whose scale would be below FLT_MIN (all
 * zeros, or |w| < 127 * FLT_MIN) gets QI_DEGENERATE_SCALE and quantizes to
 * zeros. `w` holds w_count floats; the layout must stay inside it. NaN/Inf
 * weights fail naming channel and element. scales: `channels` floats.
 */
qi_status qi_int8_weight_scales(const float *w, size_t w_count,
                                const qi_weight_layout *layout, float *scales,
                                qi_error *err);

/* The per-channel scales a QDQ import left on weights w (quantization q,
 * channel axis `axis`, symmetric), copied to scales[channels]; 0 if there
 * are none (q may be NULL), or if some weight lies beyond the grid (the
 * values were changed after import, e.g. by folding): then the caller
 * computes scales afresh. -128 * s (int8's extra code) is allowed: it
 * saturates to -127. */
int qi_qdq_weight_scales(const qi_quant *q, int axis, const float *w,
                         const qi_weight_layout *layout, float *scales);

/*
 * q[c * channel_size + i] = clamp(round_half_even(w[c][i] / scale[c]),
 * -127, 127), the division in double. q is channel-major [channels x
 * channel_size] whatever the input layout (the row-major B [N x K] of
 * kernels/gemm/gemm.h). Scales must be finite and > 0.
 */
qi_status qi_quantize_weights(const float *w, size_t w_count,
                              const qi_weight_layout *layout,
                              const float *scales, int8_t *q, qi_error *err);

/*
 * q[c] = round_half_even(bias[c] / bias_scale_c) with bias_scale_c =
 * input_scale * weight_scales[c] rounded to float (the scale an ONNX QDQ
 * model would store) and the division in double. Fails with
 * QI_ERR_UNSUPPORTED, naming the channel, when the result is outside
 * [-(2^31 - 1), 2^31 - 1] (a bias far larger than the products it is added
 * to: the layer cannot run in INT8 with these scales), and with
 * QI_ERR_INVALID_ARG on a non-finite bias or a bias scale that is not a
 * positive finite float. On failure q is partly written.
 */
qi_status qi_quantize_bias(const float *bias, int64_t channels,
                           float input_scale, const float *weight_scales,
                           int32_t *q, qi_error *err);

#endif
