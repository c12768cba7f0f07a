/* Scalar oracle: integer sums in int64, then the shared reference epilogue. */
#include "ref/gemm_ref.h"

#include "ref/requant.h"

void qi_u8s8_gemm_ref(size_t m, size_t n, size_t k, const uint8_t *a,
                      size_t lda, const int8_t *b, size_t ldb,
                      const int32_t *bias, int32_t za, const float *mult,
                      const qi_u8s8_gemm_params *p, const uint8_t *r,
                      size_t ldr, void *c, size_t ldc, int32_t *acc) {
  for (size_t j = 0; j < n; j++) {
    const int8_t *bj = b + j * ldb;
    int64_t col_sum = 0;
    for (size_t t = 0; t < k; t++) col_sum += bj[t];
    int64_t folded = (bias ? bias[j] : 0) - (int64_t)za * col_sum;
    for (size_t i = 0; i < m; i++) {
      const uint8_t *ai = a + i * lda;
      int64_t sum = folded;
      for (size_t t = 0; t < k; t++) sum += (int64_t)ai[t] * bj[t];
      int32_t s = (int32_t)sum;
      if (acc) acc[i * n + j] = s;
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
