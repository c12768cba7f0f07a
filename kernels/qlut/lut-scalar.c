/* Portable table application (qlut/qlut.h). */
#include "qlut/qlut.h"
#include "ref/qlut_ref.h"

void qi_u8_lut__scalar(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                       uint8_t *y, size_t ldy, const uint8_t table[256]) {
  for (size_t r = 0; r < rows; r++, x += ldx, y += ldy)
    for (size_t j = 0; j < c; j++) y[j] = qi_u8_lut_ref(x[j], table);
}
