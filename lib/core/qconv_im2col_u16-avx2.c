/* im2col straight into the widened rows the AVX2 GEMM kernel reads, for
 * convolutions whose kernel rows are short contiguous runs of input bytes
 * (stems: 3 channels, 3x3 to 7x7 taps). The two-step path builds each uint8
 * row (a few 8-byte moves per kernel row) and then widens the tile
 * (qi_u8s8_gemm_apack_u16__avx2); on a stem those two steps took about as
 * long as the GEMM itself. Here a kernel row inside the image is one or two
 * 16-byte loads, zero-extended and stored: the same uint16 values in the
 * same layout (k values, then zeros up to a multiple of 4).
 *
 * The stores are whole vectors: a kernel row's store runs past its
 * row_taps values into the next kernel row's place (written after it, in
 * order) or past the end of the pixel's row (the next pixel's row, written
 * after it, or for the last row QI_QCONV_U16_SLACK bytes of the caller's
 * slack); the padding values past k are written last. Loads read up to 32
 * bytes from a kernel row's first input byte; a row whose load would pass
 * the input's last byte takes the scalar way. */
#include <immintrin.h>
#include <string.h>

#include "core/qconv_internal.h"

int qi_qconv_im2col_u16_ok(const qi_u8s8_conv_params *p, size_t x_stride) {
  const size_t cg = (size_t)(p->c_in / p->groups);
  return p->dil_w == 1 && x_stride == cg &&
         (size_t)p->kw * cg <= QI_QCONV_U16_MAX_ROW;
}

/* Values za or input bytes, one by one: kernel rows that touch the left or
 * right padding, or end too close to the input's end for a vector load. */
static void row_scalar(uint16_t *dst, const uint8_t *src_row, int64_t ix0,
                       int64_t w, size_t cg, int64_t kw, uint16_t za) {
  for (int64_t kx = 0; kx < kw; kx++) {
    const int64_t ix = ix0 + kx;
    for (size_t c = 0; c < cg; c++)
      dst[(size_t)kx * cg + c] =
          ix < 0 || ix >= w ? za : src_row[(size_t)ix * cg + c];
  }
}

void qi_qconv_im2col_rows_u16__avx2(const qi_u8s8_conv_params *p,
                                    const uint8_t *x, size_t x_stride,
                                    int64_t group, int64_t m0, size_t rows,
                                    uint16_t *dst, size_t ld) {
  const size_t cg = (size_t)(p->c_in / p->groups);
  const size_t row_taps = (size_t)p->kw * cg;
  const size_t k = (size_t)p->kh * row_taps, kpad = (k + 3) & ~(size_t)3;
  const uint16_t za = (uint16_t)p->za;
  const __m256i zav = _mm256_set1_epi16((short)za);
  /* The last input byte a kernel row may read with vector loads. */
  const uint8_t *x_end =
      x + (size_t)(p->n * p->h * p->w - 1) * x_stride + (size_t)p->c_in;
  const size_t load = row_taps > 16 ? 32 : 16;
  x += (size_t)group * cg;
  const int64_t ohw = p->out_h * p->out_w;
  int64_t b = m0 / ohw, oy = m0 % ohw / p->out_w, ox = m0 % p->out_w;
  for (size_t i = 0; i < rows; i++, dst += ld) {
    const int64_t iy0 = oy * p->stride_h - p->pad_t;
    const int64_t ix0 = ox * p->stride_w - p->pad_l;
    const int inside_x = ix0 >= 0 && ix0 + p->kw <= p->w;
    uint16_t *d = dst;
    for (int64_t ky = 0; ky < p->kh; ky++, d += row_taps) {
      const int64_t iy = iy0 + ky * p->dil_h;
      if (iy < 0 || iy >= p->h) {
        _mm256_storeu_si256((__m256i *)d, zav);
        if (row_taps > 16) _mm256_storeu_si256((__m256i *)(d + 16), zav);
        continue;
      }
      const uint8_t *src_row = x + (size_t)((b * p->h + iy) * p->w) * x_stride;
      const uint8_t *src = src_row + (size_t)ix0 * cg;
      if (!inside_x || (size_t)(x_end - src) < load) {
        row_scalar(d, src_row, ix0, p->w, cg, p->kw, za);
        continue;
      }
      _mm256_storeu_si256((__m256i *)d,
                          _mm256_cvtepu8_epi16(
                              _mm_loadu_si128((const __m128i *)src)));
      if (row_taps > 16)
        _mm256_storeu_si256((__m256i *)(d + 16),
                            _mm256_cvtepu8_epi16(_mm_loadu_si128(
                                (const __m128i *)(src + 16))));
    }
    for (size_t t = k; t < kpad; t++) dst[t] = 0;
    if (++ox == p->out_w) {
      ox = 0;
      if (++oy == p->out_h) {
        oy = 0;
        b++;
      }
    }
  }
}
