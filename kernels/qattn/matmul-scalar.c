/* Portable uint8 x uint8 MatMul (qattn/qattn.h): the integer sum of
 * zero-point differences per output, then the float32 epilogue of
 * ref/qelt_ref.h. Every partial sum stays within int32 (K <=
 * QI_U8U8_MATMUL_MAX_K), so no order of summation can overflow. */
#include "qattn/qattn.h"
#include "ref/qelt_ref.h"

void qi_u8u8_matmul__scalar(size_t m, size_t n, size_t k, const uint8_t *a,
                            size_t lda, const uint8_t *b, size_t ldb,
                            int b_trans, void *c, size_t ldc,
                            const qi_u8u8_matmul_params *p, void *ws) {
  (void)ws;
  /* Element steps of b(k, n) along k and along n. */
  const size_t bk = b_trans ? 1 : ldb, bn = b_trans ? ldb : 1;
  for (size_t i = 0; i < m; i++) {
    const uint8_t *ar = a + i * lda;
    for (size_t j = 0; j < n; j++) {
      const uint8_t *bc = b + j * bn;
      int32_t acc = 0;
      for (size_t t = 0; t < k; t++)
        acc += ((int32_t)ar[t] - p->za) * ((int32_t)bc[t * bk] - p->zb);
      float v = (float)acc * p->mult;
      if (p->out_f32)
        ((float *)c)[i * ldc + j] = v;
      else
        ((uint8_t *)c)[i * ldc + j] = qi_u8_out_finish(v, &p->out);
    }
  }
}
