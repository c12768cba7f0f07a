/*
 * FP32 2-D max / average pooling of one NCHW plane without dilation, in two
 * passes per output row:
 *
 *   vertical    t[i] = reduce over the window's r < nrows input rows of
 *               x[r * stride + i], for i < w
 *   horizontal  y[o] = reduce over j < k of t[o * s + j], for o < n
 *
 * The caller places the vertical result inside a row buffer padded with the
 * identity (-inf for max, 0 for sums) where windows hang over the padding,
 * so neither pass checks bounds. Max: NaN in any tap gives NaN, nrows == 0
 * gives -inf. Average: sums in double, rows added in order r = 0, 1, ...
 * and taps in order j = 0, 1, ..., then y[o] = (float)(sum / div[o]).
 * Variants do the same operations in the same order: same bytes (NaN
 * payloads aside).
 *
 * Over-read: the horizontal kernels may read t up to (but excluding) index
 * qi_f32_pool_row_len(n, k, s); values past (n - 1) * s + k only reach
 * discarded lanes, but must be readable (the caller fills them).
 */
#ifndef QI_KERNELS_FP32_POOL_H
#define QI_KERNELS_FP32_POOL_H

#include <stddef.h>

typedef void (*qi_f32_pool_vmax_fn)(const float *x, size_t stride,
                                    size_t nrows, size_t w, float *t);
typedef void (*qi_f32_pool_vsum_fn)(const float *x, size_t stride,
                                    size_t nrows, size_t w, double *t);
typedef void (*qi_f32_pool_hmax_fn)(const float *t, size_t n, size_t k,
                                    size_t s, float *y);
typedef void (*qi_f32_pool_havg_fn)(const double *t, size_t n, size_t k,
                                    size_t s, const double *div, float *y);

/* Length of the row buffer the horizontal kernels read for n outputs. */
static inline size_t qi_f32_pool_row_len(size_t n, size_t k, size_t s) {
  return (n + 8) * s + k;
}

void qi_f32_pool_vmax__scalar(const float *x, size_t stride, size_t nrows,
                              size_t w, float *t);
void qi_f32_pool_vsum__scalar(const float *x, size_t stride, size_t nrows,
                              size_t w, double *t);
void qi_f32_pool_hmax__scalar(const float *t, size_t n, size_t k, size_t s,
                              float *y);
void qi_f32_pool_havg__scalar(const double *t, size_t n, size_t k, size_t s,
                              const double *div, float *y);

/* Need AVX2. Strides other than 1 and 2 go to the scalar horizontal pass. */
void qi_f32_pool_vmax__avx2(const float *x, size_t stride, size_t nrows,
                            size_t w, float *t);
void qi_f32_pool_vsum__avx2(const float *x, size_t stride, size_t nrows,
                            size_t w, double *t);
void qi_f32_pool_hmax__avx2(const float *t, size_t n, size_t k, size_t s,
                            float *y);
void qi_f32_pool_havg__avx2(const double *t, size_t n, size_t k, size_t s,
                            const double *div, float *y);

#endif
