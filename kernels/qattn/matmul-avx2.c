/* AVX2 uint8 x uint8 MatMul (qattn/qattn.h), 4x16 tiles, k in pairs.
 * Both operands are widened to int16 zero-point differences (-255..255)
 * while packing: B once per call into panels of 16 columns, A four rows at
 * a time. vpmaddwd then forms d_a0 * d_b0 + d_a1 * d_b1 exactly in int32
 * (|sum| <= 130050) and vpaddd accumulates: the integer sum equals the
 * scalar kernel's, and the epilogue is the same float32 operations
 * (cvtdq2ps, mulps, maxps, minps, cvtps2dq, paddd). Odd k, short panels
 * and short row blocks are padded with zero differences, which add
 * nothing; only the real rows and columns of c are stored. */
#include <immintrin.h>
#include <string.h>

#include "qattn/qattn.h"
#include "qelt/qelt-avx2.h"

enum { MR = QI_U8U8_MATMUL_MR, NR = QI_U8U8_MATMUL_NR };

static size_t align64(size_t x) { return (x + 63) & ~(size_t)63; }

/* Panel j of B: for each k pair p, 16 columns of (d(2p), d(2p+1)) int16
 * pairs, at pb + (j * kp + p) * 2 * NR. */
static void pack_b(size_t n, size_t k, const uint8_t *b, size_t ldb,
                   int b_trans, int32_t zb, int16_t *pb) {
  const size_t kp = (k + 1) / 2, np = (n + NR - 1) / NR;
  const size_t sk = b_trans ? 1 : ldb, sn = b_trans ? ldb : 1;
  for (size_t j = 0; j < np; j++) {
    int16_t *dst = pb + j * kp * 2 * NR;
    size_t cols = n - j * NR < NR ? n - j * NR : NR;
    const uint8_t *src = b + j * NR * sn;
    if (!b_trans && cols == NR) {
      /* Two rows of 16 columns at once, interleaved into pairs. */
      const __m256i z = _mm256_set1_epi16((int16_t)zb);
      size_t p = 0;
      for (; 2 * p + 1 < k; p++, dst += 2 * NR) {
        __m256i r0 = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_loadu_si128(
                                          (const __m128i *)(src + 2 * p * sk))),
                                      z);
        __m256i r1 = _mm256_sub_epi16(
            _mm256_cvtepu8_epi16(
                _mm_loadu_si128((const __m128i *)(src + (2 * p + 1) * sk))),
            z);
        __m256i lo = _mm256_unpacklo_epi16(r0, r1); /* c0-3 | c8-11 */
        __m256i hi = _mm256_unpackhi_epi16(r0, r1); /* c4-7 | c12-15 */
        _mm256_storeu_si256((__m256i *)dst,
                            _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(dst + NR),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
      }
      if (p < kp) { /* odd k: the last pair's second half is 0 */
        for (size_t c = 0; c < NR; c++) {
          dst[2 * c] = (int16_t)((int32_t)src[2 * p * sk + c] - zb);
          dst[2 * c + 1] = 0;
        }
      }
      continue;
    }
    for (size_t p = 0; p < kp; p++, dst += 2 * NR)
      for (size_t c = 0; c < NR; c++) {
        int16_t d0 = 0, d1 = 0;
        if (c < cols) {
          const uint8_t *s = src + c * sn + 2 * p * sk;
          d0 = (int16_t)((int32_t)s[0] - zb);
          if (2 * p + 1 < k) d1 = (int16_t)((int32_t)s[sk] - zb);
        }
        dst[2 * c] = d0;
        dst[2 * c + 1] = d1;
      }
  }
}

/* Rows [0, mr) of A (mr <= MR) as (d(2p), d(2p+1)) pairs, row-interleaved:
 * pair p of row r at pa + (p * MR + r) * 2; missing rows are zero. */
static void pack_a(size_t mr, size_t k, const uint8_t *a, size_t lda,
                   int32_t za, int16_t *pa) {
  const size_t kp = (k + 1) / 2;
  for (size_t r = 0; r < MR; r++) {
    int16_t *dst = pa + 2 * r;
    if (r >= mr) {
      for (size_t p = 0; p < kp; p++) dst[p * 2 * MR] = dst[p * 2 * MR + 1] = 0;
      continue;
    }
    const uint8_t *src = a + r * lda;
    size_t p = 0;
    for (; 2 * p + 1 < k; p++) {
      dst[p * 2 * MR] = (int16_t)((int32_t)src[2 * p] - za);
      dst[p * 2 * MR + 1] = (int16_t)((int32_t)src[2 * p + 1] - za);
    }
    if (p < kp) {
      dst[p * 2 * MR] = (int16_t)((int32_t)src[2 * p] - za);
      dst[p * 2 * MR + 1] = 0;
    }
  }
}

static inline __m256i bcast_pair(const int16_t *p) {
  int32_t x;
  memcpy(&x, p, 4);
  return _mm256_set1_epi32(x);
}

/* acc[r][h] (rows r < MR, column halves h) = sum over kp pairs. */
static void tile(size_t kp, const int16_t *pa, const int16_t *pb,
                 __m256i acc[MR][2]) {
  __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
  __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  for (size_t p = 0; p < kp; p++, pa += 2 * MR, pb += 2 * NR) {
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)pb);
    const __m256i b1 = _mm256_loadu_si256((const __m256i *)(pb + NR));
    __m256i a = bcast_pair(pa);
    c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(a, b0));
    c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(a, b1));
    a = bcast_pair(pa + 2);
    c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(a, b0));
    c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(a, b1));
    a = bcast_pair(pa + 4);
    c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(a, b0));
    c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(a, b1));
    a = bcast_pair(pa + 6);
    c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(a, b0));
    c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(a, b1));
  }
  acc[0][0] = c00;
  acc[0][1] = c01;
  acc[1][0] = c10;
  acc[1][1] = c11;
  acc[2][0] = c20;
  acc[2][1] = c21;
  acc[3][0] = c30;
  acc[3][1] = c31;
}

/* One row of a tile, `cols` (<= NR) outputs at dst. */
static void store_row(const __m256i acc[2], size_t cols, void *dst,
                      const qi_u8u8_matmul_params *p, const qi_avx2_out *o,
                      __m256 mult) {
  __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[0]), mult);
  __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc[1]), mult);
  if (p->out_f32) {
    float *y = dst;
    if (cols == NR) {
      _mm256_storeu_ps(y, v0);
      _mm256_storeu_ps(y + 8, v1);
    } else {
      float t[NR];
      _mm256_storeu_ps(t, v0);
      _mm256_storeu_ps(t + 8, v1);
      memcpy(y, t, cols * sizeof(float));
    }
    return;
  }
  __m128i b = _mm_unpacklo_epi64(qi_avx2_pack8(qi_avx2_finish(v0, o)),
                                 qi_avx2_pack8(qi_avx2_finish(v1, o)));
  if (cols == NR) {
    _mm_storeu_si128((__m128i *)dst, b);
  } else {
    uint8_t t[NR];
    _mm_storeu_si128((__m128i *)t, b);
    memcpy(dst, t, cols);
  }
}

void qi_u8u8_matmul__avx2(size_t m, size_t n, size_t k, const uint8_t *a,
                          size_t lda, const uint8_t *b, size_t ldb, int b_trans,
                          void *c, size_t ldc, const qi_u8u8_matmul_params *p,
                          void *ws) {
  if (m == 0 || n == 0 || k == 0) return;
  const size_t kp = (k + 1) / 2, np = (n + NR - 1) / NR;
  int16_t *pb = ws;
  int16_t *pa = (int16_t *)((unsigned char *)ws + align64(np * kp * NR * 4));
  pack_b(n, k, b, ldb, b_trans, p->zb, pb);
  const qi_avx2_out o = qi_avx2_out_make(&p->out);
  const __m256 mult = _mm256_set1_ps(p->mult);
  const size_t esize = p->out_f32 ? sizeof(float) : 1;
  for (size_t i = 0; i < m; i += MR) {
    size_t mr = m - i < MR ? m - i : MR;
    pack_a(mr, k, a + i * lda, lda, p->za, pa);
    for (size_t j = 0; j < np; j++) {
      __m256i acc[MR][2];
      tile(kp, pa, pb + j * kp * 2 * NR, acc);
      size_t cols = n - j * NR < NR ? n - j * NR : NR;
      for (size_t r = 0; r < mr; r++)
        store_row(acc[r], cols,
                  (unsigned char *)c + ((i + r) * ldc + j * NR) * esize, p, &o,
                  mult);
    }
  }
}
