/* u8s8 GEMM microkernel, 6x16 tile, c4 int8 packing, AVX-VNNI (the VEX
 * vpdpbusd on ymm). Per group of 4 k: two 32-byte weight loads, one 4-byte
 * broadcast of A per row, 12 vpdpbusd into 12 ymm accumulators (15 of the
 * 16 ymm registers live). Rows past mr alias the last valid row and are not
 * stored; partial columns go through the piecewise epilogue. */
#include <immintrin.h>
#include <string.h>

#include "gemm/epilogue-avx2.h"
#include "gemm/gemm.h"

enum { MR = 6, NR = 16 };

static inline int32_t load_u32(const uint8_t *p) {
  int32_t x;
  memcpy(&x, p, 4);
  return x;
}

/* Partial last group: the packed weights past K are zero. */
static inline int32_t load_tail(const uint8_t *p, size_t n) {
  int32_t x = 0;
  memcpy(&x, p, n);
  return x;
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

/* One group of 4 k for every row; AV(i), defined before each use, yields
 * row i's 4 bytes. */
#define GROUP(woff)                                                         \
  do {                                                                      \
    const __m256i b0 = _mm256_loadu_si256((const __m256i *)(wb + (woff)));  \
    const __m256i b1 =                                                      \
        _mm256_loadu_si256((const __m256i *)(wb + (woff) + 32));            \
    ROWS(DOT_ROW)                                                           \
  } while (0)
#define DOT_ROW(i)                                                          \
  {                                                                         \
    const __m256i va = _mm256_set1_epi32(AV(i));                            \
    acc##i##0 = _mm256_dpbusd_avx_epi32(acc##i##0, va, b0);                 \
    acc##i##1 = _mm256_dpbusd_avx_epi32(acc##i##1, va, b1);                 \
  }

static void block_6x16c4(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const uint8_t *a0 = a;
  const uint8_t *a1 = mr > 1 ? a0 + lda : a0;
  const uint8_t *a2 = mr > 2 ? a1 + lda : a1;
  const uint8_t *a3 = mr > 3 ? a2 + lda : a2;
  const uint8_t *a4 = mr > 4 ? a3 + lda : a3;
  const uint8_t *a5 = mr > 5 ? a4 + lda : a4;

  const int32_t *bias = w;
  const int8_t *wb = (const int8_t *)w + NR * 4;
  __m256i acc00 = _mm256_loadu_si256((const __m256i *)bias);
  __m256i acc01 = _mm256_loadu_si256((const __m256i *)(bias + 8));
#define INIT_ROW(i) __m256i acc##i##0 = acc00, acc##i##1 = acc01;
  INIT_ROW(1) INIT_ROW(2) INIT_ROW(3) INIT_ROW(4) INIT_ROW(5)
#undef INIT_ROW

  size_t kk = 0;
  for (; kk + 8 <= k; kk += 8, wb += 2 * NR * 4) {
#define AV(i) load_u32(a##i + kk)
    GROUP(0);
#undef AV
#define AV(i) load_u32(a##i + kk + 4)
    GROUP(NR * 4);
#undef AV
  }
  if (kk + 4 <= k) {
#define AV(i) load_u32(a##i + kk)
    GROUP(0);
#undef AV
    kk += 4;
    wb += NR * 4;
  }
  if (kk < k) {
    const size_t kr = k - kk;
#define AV(i) load_tail(a##i + kk, kr)
    GROUP(0);
#undef AV
    wb += NR * 4;
  }

  const qi_ymm_epilogue e = qi_ymm_epilogue_make((const float *)wb, nc, p);
  const size_t esize = p->out_f32 ? sizeof(float) : 1;
  char *cr = c;
#define STORE_PAIR(i, j)                                                    \
  if (mr > i)                                                               \
    qi_ymm_store_row_pair(acc##i##0, acc##i##1, acc##j##0, acc##j##1,       \
                          mr > j, &e, cr + i * ldc * esize,                 \
                          mr > j ? cr + j * ldc * esize : cr,               \
                          r ? r + i * ldr : NULL,                           \
                          r && mr > j ? r + j * ldr : NULL);
  STORE_PAIR(0, 1) STORE_PAIR(2, 3) STORE_PAIR(4, 5)
#undef STORE_PAIR
}

/* Any number of rows, MR at a time (see gemm/gemm.h). */
void qi_u8s8_gemm_requant_ukernel_6x16c4__avxvnni(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const size_t ldc_bytes = ldc * (p->out_f32 ? sizeof(float) : 1);
  for (size_t m = 0; m < mr; m += MR)
    block_6x16c4(mr - m < MR ? mr - m : MR, nc, k, a + m * lda, lda, w,
                 (char *)c + m * ldc_bytes, ldc, r ? r + m * ldr : NULL,
                 ldr, p);
}
