/* AVX2 channel Concat slice (qelt/qelt.h): copies go through memcpy
 * (glibc's is already vectorised); requantized slices through the vpshufb
 * table lookup of qlut/lut-avx2.h. */
#include <string.h>

#include "qelt/qelt.h"
#include "qlut/lut-avx2.h"
#include "ref/qlut_ref.h"

/* Slices narrower than this are looked up byte by byte. */
enum { SHORT_ROW = 16 };

void qi_u8_concat__avx2(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                        uint8_t *y, size_t ldy, const uint8_t *table) {
  if (rows == 0 || c == 0) return;
  if (ldx == c && ldy == c) { /* one contiguous slice */
    c *= rows;
    rows = 1;
  }
  if (!table || c < SHORT_ROW) {
    qi_u8_concat__scalar(rows, c, x, ldx, y, ldy, table);
    return;
  }
  qi_avx2_lut t;
  qi_avx2_lut_make(table, &t);
  for (size_t r = 0; r < rows; r++, x += ldx, y += ldy)
    qi_avx2_lut_row(c, x, y, &t);
}
