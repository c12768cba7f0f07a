/*
 * FP32 depthwise convolution of one NCHW channel plane for kernels three
 * taps wide (3x3, 5x3, ...: k_w = 3, dil_w = 1) at stride_w 1 or 2, read
 * straight from the plane: no padded copy, no channel interleave.
 *
 *   out[oh][ow] = act((bias + sum_{kh,kw} w[kh*3 + kw] *
 *                 in[oh*stride_h - pad_t + kh*dil_h][ow*stride_w - pad_l + kw])
 *                 + res[oh][ow])
 *
 * with taps outside the input reading zero, res optional (NULL: no term)
 * and act one of NONE, RELU, CLIP (the caller runs any other activation
 * afterwards; the order bias, taps, residual, activation matches
 * qi_epilogue_span with the bias folded into the accumulator). Every output
 * is written exactly once, after its residual is read, so res may equal
 * out. Shape fields of qi_f32_dw2d only (no derive needed).
 *
 * Columns go eight outputs to a register: stride 1 reads the three taps as
 * three unaligned loads; stride 2 splits two loads into even and odd
 * columns with one in-lane shuffle each and accumulates in that shuffled
 * order, fixed once per block before the store. Blocks touching a row end
 * use masked loads (masked lanes read nothing) and a masked store, so
 * nothing outside the plane is read or written.
 */
#ifndef QI_KERNELS_FP32_DWCONV3_H
#define QI_KERNELS_FP32_DWCONV3_H

#include "fp32/bias_act.h"
#include "fp32/dwconv.h"

/* 1 if the shape is one qi_f32_dwconv3_plane__avx2 handles. */
int qi_f32_dwconv3_applies(const qi_f32_dw2d *p);

/* 1 if act is one the kernel applies itself (NONE, RELU, CLIP). */
int qi_f32_dwconv3_fuses(const qi_f32_act *act);

/* Needs AVX2 and FMA; p must satisfy qi_f32_dwconv3_applies and act
 * qi_f32_dwconv3_fuses. */
void qi_f32_dwconv3_plane__avx2(const qi_f32_dw2d *p, const float *in,
                                const float *w, float bias, const float *res,
                                const qi_f32_act *act, float *out);

#endif
