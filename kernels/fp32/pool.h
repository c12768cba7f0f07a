/*
 * FP32 2-D max / average pooling of one NCHW plane, no dilation:
 *
 *   y[oh][ow] = reduce over the taps (oh*stride_h - pad_t + a,
 *               ow*stride_w - pad_l + b), a < k_h, b < k_w, inside the input
 *
 * Max: NaN in any tap gives NaN; a window with no tap inside gives -inf.
 * Average: the sum in double over the count of taps inside the input, or
 * with count_pad inside the padded extent [-pad_t, in_h + pad_b) x
 * [-pad_l, in_w + pad_r); the count is a row count times a column count,
 * applied as (float)((sum * (1 / count_row)) * (1 / count_col)): products,
 * not a division per output, within 2 double ulps of sum / count.
 *
 * Per output row, two passes: the window's input rows reduce into a row
 * buffer in scratch (rows added in order, as doubles for the average) that
 * holds the identity (-inf, or 0) where windows hang over the padding; then
 * each output reduces its k_w taps of that buffer (in order j = 0, 1, ...).
 * Neither pass checks bounds. (The vector variants keep two buffers and
 * run the first pass one row ahead.) Variants do the same operations in the same
 * order, so they give the same bytes (NaN payloads aside).
 *
 * Pure functions, no allocation: the caller passes
 * qi_f32_pool2d_scratch(p, is_max) bytes of scratch (any alignment), one
 * buffer per concurrent call. `x` holds in_h * in_w floats and is never read
 * outside them; the call writes output rows [oh0, oh1) of `y` (out_h *
 * out_w floats).
 */
#ifndef QI_KERNELS_FP32_POOL_H
#define QI_KERNELS_FP32_POOL_H

#include <stddef.h>
#include <stdint.h>

typedef struct qi_f32_pool2d {
  int64_t in_h, in_w, out_h, out_w, k_h, k_w, stride_h, stride_w;
  int64_t pad_t, pad_l, pad_b, pad_r; /* >= 0 */
  int count_pad;                      /* average only */
} qi_f32_pool2d;

typedef void (*qi_f32_pool2d_fn)(const qi_f32_pool2d *p, const float *x,
                                 float *y, int64_t oh0, int64_t oh1,
                                 void *scratch);

/* Taps of window o along one dim of input size `in`: the window starts at
 * start = o * stride - pad_begin; taps [lo, hi) are inside the input and
 * `padded` taps (from the first) inside the padded extent. */
typedef struct qi_f32_pool_taps {
  int64_t start, lo, hi, padded;
} qi_f32_pool_taps;

static inline qi_f32_pool_taps qi_f32_pool_taps_of(int64_t o, int64_t k,
                                                   int64_t stride,
                                                   int64_t pad_begin,
                                                   int64_t pad_end,
                                                   int64_t in) {
  qi_f32_pool_taps t;
  t.start = o * stride - pad_begin;
  t.lo = t.start < 0 ? -t.start : 0;
  t.hi = in - t.start < k ? in - t.start : k;
  if (t.hi < t.lo) t.hi = t.lo;
  t.padded = in + pad_end - t.start < k ? in + pad_end - t.start : k;
  if (t.padded < 0) t.padded = 0;
  return t;
}

/* Elements of one row buffer: room for every window plus the over-read
 * of the vector variants (up to 16 elements past the last window), and for
 * the input row rounded up to 8. */
static inline int64_t qi_f32_pool2d_row_len(const qi_f32_pool2d *p) {
  int64_t len = (p->out_w + 8) * p->stride_w + p->k_w;
  return len > p->pad_l + p->in_w + 8 ? len : p->pad_l + p->in_w + 8;
}

/* Scratch bytes of one call: two row buffers (floats for max; doubles for
 * the average, which also keeps the reciprocal column counts). */
static inline size_t qi_f32_pool2d_scratch(const qi_f32_pool2d *p,
                                           int is_max) {
  size_t len = 2 * (size_t)qi_f32_pool2d_row_len(p);
  return is_max ? len * sizeof(float)
                : (len + (size_t)p->out_w) * sizeof(double);
}

void qi_f32_maxpool2d__scalar(const qi_f32_pool2d *p, const float *x,
                              float *y, int64_t oh0, int64_t oh1,
                              void *scratch);
void qi_f32_avgpool2d__scalar(const qi_f32_pool2d *p, const float *x,
                              float *y, int64_t oh0, int64_t oh1,
                              void *scratch);
/* Need AVX2. Strides along the row other than 1 and 2 use scalar taps. */
void qi_f32_maxpool2d__avx2(const qi_f32_pool2d *p, const float *x,
                            float *y, int64_t oh0, int64_t oh1,
                            void *scratch);
void qi_f32_avgpool2d__avx2(const qi_f32_pool2d *p, const float *x,
                            float *y, int64_t oh0, int64_t oh1,
                            void *scratch);

#endif
