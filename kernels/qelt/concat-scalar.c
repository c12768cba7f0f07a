/* Portable channel Concat slice (qelt/qelt.h): a copy, or a table lookup
 * when the input's quantization differs from the output's. */
#include <string.h>

#include "qelt/qelt.h"
#include "ref/qlut_ref.h"

void qi_u8_concat__scalar(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                          uint8_t *y, size_t ldy, const uint8_t *table) {
  for (size_t r = 0; r < rows; r++, x += ldx, y += ldy) {
    if (!table) {
      memcpy(y, x, c);
      continue;
    }
    for (size_t j = 0; j < c; j++) y[j] = qi_u8_lut_ref(x[j], table);
  }
}
