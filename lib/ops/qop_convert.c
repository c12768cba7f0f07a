/* Scalar row kernels of QiQuantize / QiDequantize and their dispatch
 * (qop_convert.h). */
#include <math.h>

#include "core/gemm_dispatch.h"
#include "ops/qop_convert.h"

void qi_qop_quantize_row__scalar(size_t n, const float *x, uint8_t *y,
                                 size_t y_stride, float scale, int32_t zp) {
  const float lo = (float)(0 - zp), hi = (float)(255 - zp);
  for (size_t i = 0; i < n; i++) {
    float v = x[i] / scale;
    if (isnan(v)) v = 0.0f;
    v = v > lo ? v : lo; /* maxps / minps operand order */
    v = v < hi ? v : hi;
    y[i * y_stride] = (uint8_t)((int32_t)lrintf(v) + zp);
  }
}

void qi_qop_dequantize_row__scalar(size_t n, const uint8_t *q,
                                   size_t q_stride, float *y, float scale,
                                   int32_t zp) {
  for (size_t i = 0; i < n; i++)
    y[i] = (float)((int32_t)q[i * q_stride] - zp) * scale;
}

void qi_qop_convert_kernels(qi_qop_quantize_fn *quantize,
                            qi_qop_dequantize_fn *dequantize) {
  /* The GEMM dispatch already combines the CPU's features with QINFER_ISA
   * (a bad value leaves the CPU's best in cfg). */
  const qi_qgemm_config *cfg = NULL;
  (void)qi_qgemm_config_default(&cfg, NULL);
  int avx2 = cfg && cfg->isa >= QI_ISA_AVX2;
  *quantize = avx2 ? qi_qop_quantize_row__avx2 : qi_qop_quantize_row__scalar;
  *dequantize =
      avx2 ? qi_qop_dequantize_row__avx2 : qi_qop_dequantize_row__scalar;
}
