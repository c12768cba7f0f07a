/* u8s8 GEMM microkernel, 4x16 tile, AVX2 without VNNI.
 * vpmaddubsw would be the obvious instruction, but it saturates its int16
 * pair sums: 255*127 + 255*127 = 64770 > 32767, so it is not exact for our
 * ranges. This path widens instead: the driver packs A zero-extended to
 * uint16 (qi_u8s8_gemm_apack_u16__avx2, below), the weights are packed as
 * int16 pairs (c2 layout, groups of 4 k), and vpmaddwd forms a0*b0 + a1*b1
 * exactly in int32 (|sum| <= 64770), accumulated with vpaddd. With A
 * widened ahead, each k pair of a row is one 4-byte broadcast load, which
 * keeps the vector ALUs for vpmaddwd and vpaddd alone. */
#include <immintrin.h>
#include <string.h>

#include "gemm/epilogue-avx2.h"
#include "gemm/gemm.h"

enum { MR = 4, NR = 16 };

static inline int32_t load_u32(const unsigned char *p) {
  int32_t x;
  memcpy(&x, p, 4);
  return x;
}

void qi_u8s8_gemm_apack_u16__avx2(size_t m, size_t k, const uint8_t *a,
                                  size_t lda, void *packed) {
  const size_t stride = qi_u8s8_gemm_apack_stride(k);
  const size_t kpad = stride / 2;
  for (size_t i = 0; i < m; i++) {
    const uint8_t *src = a + i * lda;
    uint16_t *dst = (uint16_t *)((unsigned char *)packed + i * stride);
    size_t t = 0;
    for (; t + 16 <= k; t += 16)
      _mm256_storeu_si256((__m256i *)(dst + t),
                          _mm256_cvtepu8_epi16(
                              _mm_loadu_si128((const __m128i *)(src + t))));
    for (; t < k; t++) dst[t] = src[t];
    for (; t < kpad; t++) dst[t] = 0;
  }
}

#define ROWS(X) X(0) X(1) X(2) X(3)

/* One group of 4 k (two k pairs) for every row, at packed-A byte offset
 * `ka` (= 2 * k). */
#define GROUP(ka)                                                           \
  do {                                                                      \
    const __m256i b00 = _mm256_loadu_si256((const __m256i *)wb);            \
    const __m256i b01 = _mm256_loadu_si256((const __m256i *)(wb + 16));     \
    const __m256i b10 = _mm256_loadu_si256((const __m256i *)(wb + 32));     \
    const __m256i b11 = _mm256_loadu_si256((const __m256i *)(wb + 48));     \
    ROWS(DOT_ROW)                                                           \
  } while (0)
#define DOT_ROW(i)                                                          \
  {                                                                         \
    const __m256i v01 = _mm256_set1_epi32(load_u32(a##i + (ka)));           \
    const __m256i v23 = _mm256_set1_epi32(load_u32(a##i + (ka) + 4));       \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_madd_epi16(v01, b00));   \
    acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_madd_epi16(v01, b01));   \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_madd_epi16(v23, b10));   \
    acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_madd_epi16(v23, b11));   \
  }

void qi_u8s8_gemm_requant_ukernel_4x16c2__avx2(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  /* a is packed A (uint16, zero-padded to a multiple of 4 k). */
  const unsigned char *a0 = (const unsigned char *)a;
  const unsigned char *a1 = mr > 1 ? a0 + lda : a0;
  const unsigned char *a2 = mr > 2 ? a1 + lda : a1;
  const unsigned char *a3 = mr > 3 ? a2 + lda : a2;

  const int32_t *bias = w;
  const int16_t *wb = (const int16_t *)((const int8_t *)w + NR * 4);
  __m256i acc00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i acc01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
#define INIT_ROW(i) __m256i acc##i##0 = acc00, acc##i##1 = acc01;
  INIT_ROW(1) INIT_ROW(2) INIT_ROW(3)
#undef INIT_ROW

  /* int16 weights per group of 4 k: 2 pairs x NR columns x 2. */
  const size_t kbytes = qi_u8s8_gemm_apack_stride(k);
  for (size_t ka = 0; ka < kbytes; ka += 8, wb += NR * 4) GROUP(ka);

  const qi_ymm_epilogue e = qi_ymm_epilogue_make((const float *)wb, nc, p);
  const size_t esize = p->out_f32 ? sizeof(float) : 1;
  char *cr = c;
#define STORE_ROW(i)                                                        \
  if (mr > i)                                                               \
    qi_ymm_store_row(acc##i##0, acc##i##1, &e, cr + i * ldc * esize,        \
                     r ? r + i * ldr : NULL);
  ROWS(STORE_ROW)
#undef STORE_ROW
}
