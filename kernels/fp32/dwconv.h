/*
 * FP32 depthwise 2-D convolution of one channel plane (NCHW):
 *
 *   out[oh][ow] = bias + sum_{kh,kw} w[kh*k_w + kw] *
 *                 in[oh*stride_h - pad_t + kh*dil_h][ow*stride_w - pad_l + kw*dil_w]
 *
 * with taps outside the input reading zero. Pure functions, no allocation:
 * the caller fills the shape, calls qi_f32_dw2d_derive once (per layer, not
 * per plane: it divides), and passes qi_f32_dwconv2d_scratch(p) floats of
 * scratch. `in` holds in_h*in_w floats and is never read outside them.
 *
 * The AVX2 variant copies the input rows a band of QI_F32_DW_BAND output
 * rows reads into scratch, zero-padded and split by column phase (column x
 * of the padded row goes to phase x % stride_w, position x / stride_w), so
 * every tap reads 8 consecutive outputs with one contiguous load and no
 * bounds checks. Each phase row holds wpp floats: enough for every output
 * rounded up to 8 columns, with `e` extra zero positions on the left so
 * the copy of input column 0 lands on a multiple of 8.
 */
#ifndef QI_KERNELS_FP32_DWCONV_H
#define QI_KERNELS_FP32_DWCONV_H

#include <stddef.h>
#include <stdint.h>

#define QI_F32_DW_MAX_KW 32  /* wider kernels: scalar loop on the copy */
#define QI_F32_DW_MAX_SW 4   /* larger strides: the scalar variant */
#define QI_F32_DW_BAND 8     /* output rows per copied band */

typedef struct qi_f32_dw2d {
  int64_t in_h, in_w, out_h, out_w, k_h, k_w;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l;   /* >= 0 */
  /* Derived by qi_f32_dw2d_derive. */
  int vector;             /* the AVX2 layout applies (stride_w small) */
  int64_t e, hp, wpp, band_rows;
  int64_t lo[QI_F32_DW_MAX_SW], hi[QI_F32_DW_MAX_SW]; /* copied positions */
  int64_t koff[QI_F32_DW_MAX_KW]; /* per kw: phase offset + position shift */
} qi_f32_dw2d;

typedef void (*qi_f32_dwconv2d_fn)(const qi_f32_dw2d *p, const float *in,
                                   const float *w, float bias, float *out,
                                   float *scratch);

/* Fills the derived fields from the shape. */
void qi_f32_dw2d_derive(qi_f32_dw2d *p);

/* Scratch floats either variant may use for a derived shape p. */
size_t qi_f32_dwconv2d_scratch(const qi_f32_dw2d *p);

void qi_f32_dwconv2d__scalar(const qi_f32_dw2d *p, const float *in,
                             const float *w, float bias, float *out,
                             float *scratch);
/* Needs AVX2 and FMA. */
void qi_f32_dwconv2d__avx2(const qi_f32_dw2d *p, const float *in,
                           const float *w, float bias, float *out,
                           float *scratch);

#endif
