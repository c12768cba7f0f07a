/*
 * MatMul of two uint8 activations (attention's Q K^T and P V): both
 * operands change every run, so neither is packed ahead and each carries
 * its own zero point:
 *
 *   acc[m][n] = sum_k (a[m][k] - za) * (b(k, n) - zb)        exact, int32
 *   b(k, n)   = b[k * ldb + n]     (b_trans = 0: B stored [K][N])
 *             = b[n * ldb + k]     (b_trans = 1: B stored [N][K], as K of
 *                                   attention is when Q K^T reads it)
 *
 * Every product is at most 255 * 255 = 65025 in magnitude, so for
 * K <= QI_U8U8_MATMUL_MAX_K the sum is exact in int32 whatever the order:
 * every path computes the same integer. Then, as the u8s8 GEMM
 * (gemm/gemm.h) and the output rule of qelt/qelt.h, in float32:
 *   uint8 output  v = (float)acc * mult,   mult = (float)(sa * sb / sy)
 *                 then clamp to [qmin - zy, qmax - zy], round half to
 *                 even, add zy
 *   float output  y = (float)acc * mult,   mult = (float)(sa * sb)
 * The multipliers are rounded to float once from double by the
 * *_params_make helpers below.
 *
 * a: m rows of k bytes, row i at a + i * lda (lda >= k). c: m rows of n
 * outputs (bytes, or floats when out_f32), row i at c + i * ldc elements
 * (ldc >= n). Kernels read and write exactly those elements. `ws` is
 * qi_u8u8_matmul_workspace_size(n, k) bytes, 64-byte aligned, private to
 * the call (one per thread); the scalar path does not touch it.
 */
#ifndef QI_KERNELS_QATTN_H
#define QI_KERNELS_QATTN_H

#include <stddef.h>
#include <stdint.h>

#include "qelt/qelt.h"

/* Largest K with an exact int32 sum: 32768 * 65025 = 2130739200 <
 * 2^31 - 1. */
#define QI_U8U8_MATMUL_MAX_K 32768

typedef struct qi_u8u8_matmul_params {
  int32_t za, zb; /* 0..255 */
  int out_f32;    /* 1: c holds float */
  float mult;     /* see above */
  qi_u8_out out;  /* uint8 output only */
} qi_u8u8_matmul_params;

static inline qi_u8u8_matmul_params qi_u8u8_matmul_params_make(
    double sa, int32_t za, double sb, int32_t zb, double sy, int32_t zy,
    int32_t qmin, int32_t qmax) {
  qi_u8u8_matmul_params p;
  p.za = za;
  p.zb = zb;
  p.out_f32 = 0;
  p.mult = (float)(sa * sb / sy);
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

static inline qi_u8u8_matmul_params qi_u8u8_matmul_params_make_f32(double sa,
                                                                   int32_t za,
                                                                   double sb,
                                                                   int32_t zb) {
  qi_u8u8_matmul_params p;
  p.za = za;
  p.zb = zb;
  p.out_f32 = 1;
  p.mult = (float)(sa * sb);
  p.out = qi_u8_out_make(0, 0, 255);
  return p;
}

/* The AVX2 path's tile: 4 rows by 16 columns; k in pairs. */
#define QI_U8U8_MATMUL_MR 4
#define QI_U8U8_MATMUL_NR 16

/* Workspace bytes for n columns and depth k (the same for every path):
 * B packed as int16 differences in panels of 16 columns and k pairs, and
 * one block of 4 rows of A the same way. 0 when n or k is 0. */
static inline size_t qi_u8u8_matmul_workspace_size(size_t n, size_t k) {
  if (n == 0 || k == 0) return 0;
  size_t kp = (k + 1) / 2; /* k pairs */
  size_t np = (n + QI_U8U8_MATMUL_NR - 1) / QI_U8U8_MATMUL_NR;
  size_t b = np * kp * QI_U8U8_MATMUL_NR * 4; /* 2 int16 per entry */
  size_t a = kp * QI_U8U8_MATMUL_MR * 4;
  return ((b + 63) & ~(size_t)63) + ((a + 63) & ~(size_t)63);
}

typedef void (*qi_u8u8_matmul_fn)(size_t m, size_t n, size_t k,
                                  const uint8_t *a, size_t lda,
                                  const uint8_t *b, size_t ldb, int b_trans,
                                  void *c, size_t ldc,
                                  const qi_u8u8_matmul_params *p, void *ws);

/* k must be 1..QI_U8U8_MATMUL_MAX_K (callers check); m or n may be 0. */
void qi_u8u8_matmul__scalar(size_t m, size_t n, size_t k, const uint8_t *a,
                            size_t lda, const uint8_t *b, size_t ldb,
                            int b_trans, void *c, size_t ldc,
                            const qi_u8u8_matmul_params *p, void *ws);
void qi_u8u8_matmul__avx2(size_t m, size_t n, size_t k, const uint8_t *a,
                          size_t lda, const uint8_t *b, size_t ldb, int b_trans,
                          void *c, size_t ldc, const qi_u8u8_matmul_params *p,
                          void *ws);

#endif
