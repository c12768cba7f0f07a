/*
 * FP32 depthwise 2-D convolution of eight channel planes at once, for the
 * NCHW tensors of qinfer: the eight planes are interleaved into a
 * zero-padded pixel-major buffer (8 channels per pixel, one AVX register),
 * every output pixel is then a sum over taps of (8 weights) x (8 inputs)
 * with no broadcasts and no bounds checks, and the result is de-interleaved
 * back into the eight output planes. Per-plane work would be dominated by
 * setup on the small planes of late layers; eight at a time amortizes it
 * and vectorizes whatever the plane width.
 *
 *   out[i][oh][ow] = bias[i] + sum_{kh,kw} w[i][kh*k_w + kw] *
 *       in[i][oh*stride_h - pad_t + kh*dil_h][ow*stride_w - pad_l + kw*dil_w]
 *
 * Lanes with in[i] == NULL read zeros; lanes with out[i] == NULL are not
 * written (a last group of fewer than 8 channels). Shape fields of
 * qi_f32_dw2d only (no derive needed).
 *
 * The fused variant finishes each output as
 *   out[i][q] = act((bias[i] + taps) + res[i][q])
 * with res (or res[i]) NULL meaning no term and act one of NONE, RELU,
 * CLIP (qi_f32_dwconv2d_x8_fuses; the caller runs any other activation
 * afterwards). The order matches qi_epilogue_span with the bias folded into
 * the accumulator. Each output is written once, after its residual is read,
 * so res[i] may equal out[i].
 */
#ifndef QI_KERNELS_FP32_DWCONV8_H
#define QI_KERNELS_FP32_DWCONV8_H

#include <stddef.h>

#include "fp32/bias_act.h"
#include "fp32/dwconv.h"

/* Scratch floats for shape p (padded input, weights). */
size_t qi_f32_dwconv2d_x8_scratch(const qi_f32_dw2d *p);

/* Needs AVX2 and FMA. scratch: qi_f32_dwconv2d_x8_scratch floats, 32-byte
 * aligned. */
void qi_f32_dwconv2d_x8__avx2(const qi_f32_dw2d *p, const float *const in[8],
                              const float *const w[8], const float bias[8],
                              float *const out[8], float *scratch);

/* 1 if act is one the fused variant applies itself (NONE, RELU, CLIP). */
int qi_f32_dwconv2d_x8_fuses(const qi_f32_act *act);

/* Needs AVX2 and FMA; scratch as above; act: qi_f32_dwconv2d_x8_fuses. */
void qi_f32_dwconv2d_x8_fused__avx2(const qi_f32_dw2d *p,
                                    const float *const in[8],
                                    const float *const w[8],
                                    const float bias[8],
                                    const float *const res[8],
                                    const qi_f32_act *act, float *const out[8],
                                    float *scratch);

#endif
