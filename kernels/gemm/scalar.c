/* Portable u8s8 GEMM microkernel (4x8, c4 int8 packing): the path that
 * always exists. Accumulates in uint32 so that the arithmetic is the
 * two's-complement wrap of the vector paths (packing keeps sums in int32
 * range, so no wrap actually happens). */
#include <string.h>

#include "gemm/gemm.h"
#include "ref/requant.h"

enum { MR = 4, NR = 8 };

static void block_4x8c4(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const int32_t *bias = w;
  const int8_t *wb = (const int8_t *)w + NR * 4;
  size_t groups = (k + 3) / 4;
  const float *mult = (const float *)(wb + groups * NR * 4);

  uint32_t acc[MR][NR];
  for (size_t i = 0; i < MR; i++)
    for (size_t j = 0; j < NR; j++) acc[i][j] = (uint32_t)bias[j];

  for (size_t g = 0; g < groups; g++, wb += NR * 4) {
    size_t kk = 4 * g, kr = k - kk < 4 ? k - kk : 4;
    for (size_t i = 0; i < mr; i++) {
      uint8_t av[4] = {0, 0, 0, 0};
      memcpy(av, a + i * lda + kk, kr); /* never read past row end */
      for (size_t j = 0; j < NR; j++) {
        const int8_t *bj = wb + j * 4;
        int32_t dot = av[0] * bj[0] + av[1] * bj[1] + av[2] * bj[2] +
                      av[3] * bj[3];
        acc[i][j] += (uint32_t)dot;
      }
    }
  }

  for (size_t i = 0; i < mr; i++) {
    for (size_t j = 0; j < nc; j++) {
      int32_t s = (int32_t)acc[i][j];
      if (p->out_f32) {
        ((float *)c)[i * ldc + j] = qi_dequant_f32(s, mult[j]);
      } else if (r) {
        ((uint8_t *)c)[i * ldc + j] =
            qi_requant_u8_residual(s, mult[j], r[i * ldr + j], p);
      } else {
        ((uint8_t *)c)[i * ldc + j] = qi_requant_u8(s, mult[j], p);
      }
    }
  }
}

/* Any number of rows, MR at a time (see gemm/gemm.h). */
void qi_u8s8_gemm_requant_ukernel_4x8c4__scalar(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const size_t ldc_bytes = ldc * (p->out_f32 ? sizeof(float) : 1);
  for (size_t m = 0; m < mr; m += MR)
    block_4x8c4(mr - m < MR ? mr - m : MR, nc, k, a + m * lda, lda, w,
                (char *)c + m * ldc_bytes, ldc, r ? r + m * ldr : NULL,
                ldr, p);
}
