/*
 * FP32 depthwise 2-D convolution of one channel plane (NCHW):
 *
 *   out[oh][ow] = bias + sum_{kh,kw} w[kh*k_w + kw] *
 *                 in[oh*stride_h - pad_t + kh*dil_h][ow*stride_w - pad_l + kw*dil_w]
 *
 * with taps outside the input reading zero. Pure functions, no allocation:
 * the caller passes qi_f32_dwconv2d_scratch(p) floats of scratch (the AVX2
 * variant copies the plane there, zero-padded, so its loops need no bounds
 * checks). `in` holds in_h*in_w floats and is never read outside them.
 */
#ifndef QI_KERNELS_FP32_DWCONV_H
#define QI_KERNELS_FP32_DWCONV_H

#include <stddef.h>
#include <stdint.h>

typedef struct qi_f32_dw2d {
  int64_t in_h, in_w, out_h, out_w, k_h, k_w;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l;   /* >= 0 */
} qi_f32_dw2d;

typedef void (*qi_f32_dwconv2d_fn)(const qi_f32_dw2d *p, const float *in,
                                   const float *w, float bias, float *out,
                                   float *scratch);

/* Scratch floats either variant may use for shape p. */
size_t qi_f32_dwconv2d_scratch(const qi_f32_dw2d *p);

void qi_f32_dwconv2d__scalar(const qi_f32_dw2d *p, const float *in,
                             const float *w, float bias, float *out,
                             float *scratch);
/* Needs AVX2 and FMA. Kernels wider than QI_F32_DW_MAX_KW run a scalar
 * loop on the padded copy; strides above QI_F32_DW_MAX_SW go to
 * the scalar variant. */
#define QI_F32_DW_MAX_KW 32
#define QI_F32_DW_MAX_SW 16
void qi_f32_dwconv2d__avx2(const qi_f32_dw2d *p, const float *in,
                           const float *w, float bias, float *out,
                           float *scratch);

/* The copy the AVX2 variant reads: the zero-padded plane split by column
 * phase (column x goes to phase x % stride_w, position x / stride_w), so
 * every tap reads 8 consecutive outputs with one contiguous load. The
 * padded plane has hp rows of wpp floats per phase: enough for every output
 * rounded up to 8 columns. Only the rows of one band of QI_F32_DW_BAND
 * output rows are copied at a time. */
#define QI_F32_DW_BAND 8

static inline void qi_f32_dw_phase_dims(const qi_f32_dw2d *p, int64_t *hp,
                                        int64_t *wpp) {
  int64_t owv = (p->out_w + 7) / 8 * 8;
  int64_t w_need = owv + (p->k_w - 1) * p->dil_w / p->stride_w;
  int64_t w_in = (p->in_w + p->pad_l + p->stride_w - 1) / p->stride_w;
  int64_t h_need = (p->out_h - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  *wpp = w_in > w_need ? w_in : w_need;
  *hp = p->in_h + p->pad_t > h_need ? p->in_h + p->pad_t : h_need;
}

/* Padded rows one band reads, at most hp. */
static inline void qi_f32_dw_band_rows(const qi_f32_dw2d *p, int64_t hp,
                                       int64_t *rows) {
  int64_t r = (QI_F32_DW_BAND - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  *rows = r < hp ? r : hp;
}

#endif
