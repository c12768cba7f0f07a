/*
 * FP32 GEMM microkernel and packing for convolutions run as implicit GEMMs:
 *
 *   C[i][j] (+)= sum_{k < kc} A[k * 6 + i] * B[k * ldb + j]
 *
 * for i < mr (<= 6) output channels and j < nr (<= 16) output pixels. A is
 * a weight panel packed k-major, 6 channels per k (rows past the matrix
 * zero); B either a pixel panel packed k-major (ldb = 16, columns past the
 * matrix zero) or rows of the input itself (a 1x1 convolution). 16 floats
 * of every B row are read (8 when nr <= 8). Only the mr x nr corner of C
 * is written, row stride ldc; accumulate = 0 overwrites it, 1 adds to it.
 */
#ifndef QI_KERNELS_FP32_CONV_GEMM_H
#define QI_KERNELS_FP32_CONV_GEMM_H

#include <stddef.h>
#include <stdint.h>

#define QI_F32_GEMM_MR 6
#define QI_F32_GEMM_NR 16

typedef void (*qi_f32_gemm_ukernel_fn)(size_t kc, const float *a,
                                       const float *b, size_t ldb, float *c,
                                       size_t ldc, size_t mr, size_t nr,
                                       int accumulate);

void qi_f32_gemm_ukernel_6x16__scalar(size_t kc, const float *a,
                                      const float *b, size_t ldb, float *c,
                                      size_t ldc, size_t mr, size_t nr,
                                      int accumulate);
/* Needs AVX2 and FMA. */
void qi_f32_gemm_ukernel_6x16__avx2(size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c,
                                    size_t ldc, size_t mr, size_t nr,
                                    int accumulate);

/* The microkernel with the convolution's tail fused into its one store
 * (no second pass over the output): for i < mr, j < nr
 *
 *   C[i][j] = act(((P[i][j] + sum_k A * B) + bias[i]) + R[i][j])
 *
 * with P the partial sums of the earlier K blocks (acc; none when NULL),
 * bias[i] 0 when bias is NULL (only bias[0..mr) is read), R the residual
 * (none when NULL). The additions run in the order of the unfused path
 * (accumulate, then bias_act.h), so results match it bit for bit. act is
 * QI_F32_ACT_NONE, _RELU or _CLIP (lo, hi) with the bias_act.h formulas;
 * other kinds are the caller's job (qi_f32_gemm_epi_fusable). acc and res
 * may equal c (same element read before it is written); only the mr x nr
 * corner of each is touched, any nr. */
typedef struct qi_f32_gemm_epi {
  const float *acc;
  size_t ld_acc;
  const float *bias;
  const float *res;
  size_t ld_res;
  int act;
  float lo, hi;
} qi_f32_gemm_epi;

typedef void (*qi_f32_gemm_ukernel_epi_fn)(size_t kc, const float *a,
                                           const float *b, size_t ldb,
                                           float *c, size_t ldc, size_t mr,
                                           size_t nr,
                                           const qi_f32_gemm_epi *e);

/* The fused epilogue over an accumulated mr x nr tile t (scalar formulas;
 * both microkernels' partial tiles end here). */
void qi_f32_gemm_epi_tile(const qi_f32_gemm_epi *e,
                          const float t[QI_F32_GEMM_MR][QI_F32_GEMM_NR],
                          float *c, size_t ldc, size_t mr, size_t nr);

/* 1 if act (a bias_act.h kind) can run inside the fused microkernel. */
int qi_f32_gemm_epi_fusable(int act);

void qi_f32_gemm_ukernel_6x16_epi__scalar(size_t kc, const float *a,
                                          const float *b, size_t ldb, float *c,
                                          size_t ldc, size_t mr, size_t nr,
                                          const qi_f32_gemm_epi *e);
/* Needs AVX2 and FMA. */
void qi_f32_gemm_ukernel_6x16_epi__avx2(size_t kc, const float *a,
                                        const float *b, size_t ldb, float *c,
                                        size_t ldc, size_t mr, size_t nr,
                                        const qi_f32_gemm_epi *e);

/* Packs rows [m0, m0 + 6) of the row-major m x k matrix w (row stride ldw)
 * into a panel of k * 6 floats, zero past row m. */
void qi_f32_gemm_pack_a_6(const float *w, int64_t m, int64_t k, int64_t ldw,
                          int64_t m0, float *panel);
/* Same for any strides: element (i, p) at a[i * rs + p * cs], scaled by
 * alpha (so a transposed A packs the same way). The AVX2 variant may write
 * up to 2 floats past the panel's k * 6: give it 8 floats of slack. */
typedef void (*qi_f32_gemm_pack_a_fn)(const float *a, int64_t rs, int64_t cs,
                                      int64_t m, int64_t k, int64_t m0,
                                      float alpha, float *panel);
void qi_f32_gemm_pack_a_6s(const float *a, int64_t rs, int64_t cs, int64_t m,
                           int64_t k, int64_t m0, float alpha, float *panel);
void qi_f32_gemm_pack_a_6s__avx2(const float *a, int64_t rs, int64_t cs,
                                 int64_t m, int64_t k, int64_t m0, float alpha,
                                 float *panel);

/* Where the B columns come from: column j is output pixel
 * (j / ow, j % ow) and row k reads the image at
 *   img + boff[k] + (j / ow) * row_pitch + (j % ow) * sw,
 * i.e. boff[k] is the offset of tap k (channel, kh, kw) in a zero-padded
 * image, row_pitch = stride_h * padded width, sw = stride_w. An im2col
 * block [kc x ld] is the case boff[k] = k * ld, ow >= n, sw = 1. */
typedef struct qi_f32_pack_src {
  const float *img;
  const int64_t *boff;
  int64_t ow, row_pitch, sw;
} qi_f32_pack_src;

typedef void (*qi_f32_gemm_pack_b_fn)(const qi_f32_pack_src *s, size_t kc,
                                      int64_t j0, size_t n, float *dst);

/* Packs columns [j0, j0 + n) of rows k < kc into ceil(n / 16) panels of
 * kc * 16 floats (panel t holds columns [16t, 16t + 16), zero past n). */
void qi_f32_gemm_pack_b_16__scalar(const qi_f32_pack_src *s, size_t kc,
                                   int64_t j0, size_t n, float *dst);
/* Needs AVX2; vectorizes sw 1 and 2. */
void qi_f32_gemm_pack_b_16__avx2(const qi_f32_pack_src *s, size_t kc,
                                 int64_t j0, size_t n, float *dst);

#endif
