/* What the convolution driver's files share: the packed convolution and
 * the per-path pack, workspace and run functions (core/qconv.h is the API). */
#ifndef QI_CORE_QCONV_INTERNAL_H
#define QI_CORE_QCONV_INTERNAL_H

#include "core/qconv.h"

struct qi_qconv_packed {
  qi_u8s8_conv_params p; /* derived */
  qi_qconv_path path;
  /* pointwise and im2col: one packed GEMM per group */
  const qi_qgemm_config *gemm_cfg;
  qi_qgemm_packed *gemm;
  /* depthwise */
  const qi_dwconv_config *dw_cfg;
  const void *dw_weights;
  const uint8_t *zero_row; /* c_in bytes of za: the padded taps' input */
  void *buf;               /* owned: every weight byte and the zero row */
};

/* Scratch is aligned here rather than trusted: workspace sizes include
 * QCONV_ALIGN - 1 bytes of slack. */
enum { QCONV_ALIGN = 64 };

static inline size_t qconv_round(size_t x, size_t q) {
  return (x + q - 1) / q * q;
}
static inline size_t qconv_div_up(size_t x, size_t q) {
  return (x + q - 1) / q;
}
static inline unsigned char *qconv_align(void *p) {
  uintptr_t u = (uintptr_t)p;
  return (unsigned char *)p + (qconv_round(u, QCONV_ALIGN) - u);
}

/* The pieces of one run, checked by qi_qconv_run. */
typedef struct qconv_io {
  const uint8_t *x;
  size_t x_stride;
  void *y;
  size_t y_stride, esize;
  const uint8_t *r;
  size_t r_stride;
  qi_u8s8_gemm_params params;
} qconv_io;

qi_status qi_qconv_pack_gemm(qi_qconv_packed *w, const int8_t *wts,
                          const int32_t *bias, const float *mult,
                          qi_error *err);
size_t qi_qconv_im2col_workspace(const qi_qconv_packed *w, int nthreads);
void qi_qconv_run_im2col(const qi_qconv_packed *w, const qconv_io *io,
                      qi_pool *pool, unsigned char *scratch);

/* qconv_im2col.c: qi_u8_conv_im2col's bytes (conv/conv.h), faster for
 * short contiguous kernel rows. */
void qi_qconv_im2col_rows(const qi_u8s8_conv_params *p, const uint8_t *x,
                          size_t x_stride, int64_t group, int64_t m0,
                          size_t rows, uint8_t *tile, size_t ldt);

/* qconv_im2col_u16-avx2.c: the im2col rows already widened for the AVX2
 * kernel (qi_u8s8_gemm_apack_u16__avx2's layout, ld uint16 per row), for
 * layers qi_qconv_im2col_u16_ok accepts (contiguous kernel rows of at most
 * QI_QCONV_U16_MAX_ROW bytes). Writes up to QI_QCONV_U16_SLACK bytes past
 * the last row. Needs AVX2. */
enum { QI_QCONV_U16_MAX_ROW = 32, QI_QCONV_U16_SLACK = 64 };
int qi_qconv_im2col_u16_ok(const qi_u8s8_conv_params *p, size_t x_stride);
void qi_qconv_im2col_rows_u16__avx2(const qi_u8s8_conv_params *p,
                                    const uint8_t *x, size_t x_stride,
                                    int64_t group, int64_t m0, size_t rows,
                                    uint16_t *dst, size_t ld);

qi_status qi_qconv_pack_dw(qi_qconv_packed *w, const int8_t *wts,
                        const int32_t *bias, const float *mult,
                        qi_error *err);
size_t qi_qconv_dw_workspace(const qi_qconv_packed *w, int nthreads);
void qi_qconv_run_dw(const qi_qconv_packed *w, const qconv_io *io,
                  qi_pool *pool, unsigned char *scratch);

#endif
