/* Portable uint8 LayerNorm (qnorm/qnorm.h): exact integer sums, then the
 * per-element float formula in its order. */
#include "qnorm/qnorm.h"
#include "ref/qelt_ref.h"

void qi_u8_layernorm__scalar(size_t rows, size_t n, const uint8_t *x, void *y,
                             const qi_u8_layernorm_params *p) {
  for (size_t r = 0; r < rows; r++, x += n) {
    int64_t s1 = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
      int64_t d = (int64_t)x[i] - p->zx;
      s1 += d;
      s2 += d * d;
    }
    float mq, a;
    qi_u8_layernorm_row_coeffs(s1, s2, n, p, &mq, &a);
    for (size_t i = 0; i < n; i++) {
      float t = (float)((int32_t)x[i] - p->zx) - mq;
      t = t * a;
      t = t * p->g[i];
      t = t + p->b[i];
      if (p->out_f32)
        ((float *)y)[r * n + i] = t;
      else
        ((uint8_t *)y)[r * n + i] = qi_u8_out_finish(t, &p->out);
    }
  }
}
