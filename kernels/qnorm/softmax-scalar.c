/* Portable uint8 Softmax (qnorm/qnorm.h): the formulas in their order. */
#include "qnorm/qnorm.h"
#include "ref/qelt_ref.h"

void qi_u8_softmax__scalar(size_t rows, size_t n, const uint8_t *x, void *y,
                           const qi_u8_softmax_params *p) {
  const float *t = p->table;
  for (size_t r = 0; r < rows; r++, x += n) {
    uint8_t qm = 0;
    for (size_t i = 0; i < n; i++) qm = x[i] > qm ? x[i] : qm;
    float l[8] = {0};
    for (size_t i = 0; i < n; i++) l[i % 8] += t[qm - x[i]];
    float s = p->my / qi_u8_softmax_lane_total(l);
    if (p->out_f32) {
      float *yr = (float *)y + r * n;
      for (size_t i = 0; i < n; i++) yr[i] = t[qm - x[i]] * s;
    } else {
      uint8_t *yr = (uint8_t *)y + r * n;
      for (size_t i = 0; i < n; i++)
        yr[i] = qi_u8_out_finish(t[qm - x[i]] * s, &p->out);
    }
  }
}
