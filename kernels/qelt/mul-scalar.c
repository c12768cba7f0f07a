/* Portable uint8 Mul (qelt/qelt.h): the reference formula per element. */
#include "qelt/qelt.h"
#include "ref/qelt_ref.h"

void qi_u8_mul__scalar(size_t rows, size_t c, const uint8_t *a,
                       const uint8_t *b, qi_u8_bcast bcast, uint8_t *y,
                       const qi_u8_binary_params *p) {
  size_t n = rows * c;
  switch (bcast) {
    case QI_U8_BCAST_NONE:
      for (size_t i = 0; i < n; i++) y[i] = qi_u8_mul_ref(a[i], b[i], p);
      break;
    case QI_U8_BCAST_ROW:
      for (size_t r = 0; r < rows; r++, a += c, y += c)
        for (size_t j = 0; j < c; j++) y[j] = qi_u8_mul_ref(a[j], b[j], p);
      break;
    case QI_U8_BCAST_SCALAR: {
      uint8_t bv = b[0];
      for (size_t i = 0; i < n; i++) y[i] = qi_u8_mul_ref(a[i], bv, p);
      break;
    }
  }
}
