/*
 * FP32 im2col / col2im for convolutions in NCHW (and NCDHW) layout: pure
 * functions over one group's image planes, no allocation.
 *
 * Every spatial problem is described as 3-D (D, H, W); 1-D and 2-D
 * convolutions set the leading extents to 1. A "grid" point g (an output
 * pixel of a Conv, an input pixel of a ConvTranspose) and a kernel tap z
 * touch the image pixel  img = g * stride - pad + z * dilation  per axis;
 * taps falling outside the image read zero (im2col) or are dropped
 * (col2im).
 */
#ifndef QI_KERNELS_FP32_IM2COL_H
#define QI_KERNELS_FP32_IM2COL_H

#include <stdint.h>

typedef struct qi_f32_window {
  int64_t img[3];     /* image extents D, H, W (one channel plane) */
  int64_t grid[3];    /* grid extents */
  int64_t k[3];       /* kernel extents */
  int64_t stride[3];  /* >= 1 */
  int64_t dil[3];     /* >= 1 */
  int64_t pad[3];     /* leading padding; may be negative for col2im */
} qi_f32_window;

/* Column matrix rows are (channel, kd, kh, kw) in that order, columns are
 * grid points in raster order. Writes rows [row0, row1) and columns
 * [col0, col1) to col, whose row row0 starts at `col` with stride ldcol.
 * `img` points at channel 0 of the group; channel planes are contiguous. */
void qi_f32_im2col(const qi_f32_window *w, const float *img, int64_t row0,
                   int64_t row1, int64_t col0, int64_t col1, float *col,
                   int64_t ldcol);

/* The adjoint: img[...] += col[row][column] for the same index map, for
 * rows [row0, row1) and columns [col0, col1). Rows of different channels
 * touch disjoint planes, so callers may split work by whole channels. */
void qi_f32_col2im_add(const qi_f32_window *w, const float *col,
                       int64_t row0, int64_t row1, int64_t col0, int64_t col1,
                       int64_t ldcol, float *img);

#endif
