/* AVX2 table application (qlut/qlut.h) with the vpshufb lookup of
 * qlut/lut-avx2.h. */
#include "qlut/lut-avx2.h"

#include <string.h>

#include "qlut/qlut.h"
#include "ref/qlut_ref.h"

/* Rows shorter than this are looked up byte by byte: a 32-byte block per
 * short row would cost more than it saves. */
enum { SHORT_ROW = 16 };

void qi_u8_lut__avx2(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                     uint8_t *y, size_t ldy, const uint8_t table[256]) {
  if (rows == 0 || c == 0) return;
  if (ldx == c && ldy == c) { /* contiguous: one long row */
    c *= rows;
    rows = 1;
  }
  if (c < SHORT_ROW) {
    qi_u8_lut__scalar(rows, c, x, ldx, y, ldy, table);
    return;
  }
  qi_avx2_lut t;
  qi_avx2_lut_make(table, &t);
  for (size_t r = 0; r < rows; r++, x += ldx, y += ldy)
    qi_avx2_lut_row(c, x, y, &t);
}
