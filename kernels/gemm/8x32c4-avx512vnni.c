/* u8s8 GEMM microkernel, 8x32 tile, c4 int8 packing, AVX-512 VNNI.
 * Per group of 4 k: two 64-byte weight loads (32 columns x 4 k), one
 * 4-byte broadcast of A per row, and 16 vpdpbusd into 16 independent zmm
 * accumulators (enough to cover vpdpbusd's latency at two per cycle).
 * Rows past mr alias the last valid row (reads stay inside A; their results
 * are not stored); columns past nc are masked off on the loads and stores of
 * the epilogue, so nothing outside the tile is touched. */
#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"

enum { MR = 8, NR = 32 };

static inline int32_t load_u32(const uint8_t *p) {
  int32_t x;
  memcpy(&x, p, 4);
  return x;
}

/* The last, partial group of a row: the packed weights past K are zero, so
 * the missing bytes only have to be finite, and are read as zero. */
static inline int32_t load_tail(const uint8_t *p, size_t n) {
  int32_t x = 0;
  memcpy(&x, p, n);
  return x;
}

typedef struct epilogue {
  __m512 m0, m1, lo, hi, rmult;
  __m512i zy, zr;
  __mmask16 k0, k1;
} epilogue;

static inline void store_row(__m512i acc0, __m512i acc1, const epilogue *e,
                             int out_f32, void *c, const uint8_t *r) {
  __m512 v0 = _mm512_mul_ps(_mm512_cvtepi32_ps(acc0), e->m0);
  __m512 v1 = _mm512_mul_ps(_mm512_cvtepi32_ps(acc1), e->m1);
  if (out_f32) {
    float *cf = c;
    _mm512_mask_storeu_ps(cf, e->k0, v0);
    _mm512_mask_storeu_ps(cf + 16, e->k1, v1);
    return;
  }
  if (r) {
    __m512i r0 = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(e->k0, r));
    __m512i r1 = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(e->k1, r + 16));
    __m512 t0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(r0, e->zr)),
                              e->rmult);
    __m512 t1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(r1, e->zr)),
                              e->rmult);
    v0 = _mm512_add_ps(v0, t0);
    v1 = _mm512_add_ps(v1, t1);
  }
  v0 = _mm512_min_ps(_mm512_max_ps(v0, e->lo), e->hi);
  v1 = _mm512_min_ps(_mm512_max_ps(v1, e->lo), e->hi);
  __m512i i0 = _mm512_add_epi32(_mm512_cvtps_epi32(v0), e->zy);
  __m512i i1 = _mm512_add_epi32(_mm512_cvtps_epi32(v1), e->zy);
  uint8_t *cb = c;
  _mm_mask_storeu_epi8(cb, e->k0, _mm512_cvtusepi32_epi8(i0));
  _mm_mask_storeu_epi8(cb + 16, e->k1, _mm512_cvtusepi32_epi8(i1));
}

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)

/* One group of 4 k for every row; AV(i), defined before each use, yields
 * row i's 4 bytes. */
#define GROUP(woff)                                                  \
  do {                                                                      \
    const __m512i b0 = _mm512_loadu_si512(wb + (woff));                     \
    const __m512i b1 = _mm512_loadu_si512(wb + (woff) + 64);                \
    ROWS(DOT_ROW)                                                           \
  } while (0)
#define DOT_ROW(i)                                                          \
  {                                                                         \
    const __m512i va = _mm512_set1_epi32(AV(i));                         \
    acc##i##0 = _mm512_dpbusd_epi32(acc##i##0, va, b0);                     \
    acc##i##1 = _mm512_dpbusd_epi32(acc##i##1, va, b1);                     \
  }

static void block_8x32c4(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const uint8_t *a0 = a;
  const uint8_t *a1 = mr > 1 ? a0 + lda : a0;
  const uint8_t *a2 = mr > 2 ? a1 + lda : a1;
  const uint8_t *a3 = mr > 3 ? a2 + lda : a2;
  const uint8_t *a4 = mr > 4 ? a3 + lda : a3;
  const uint8_t *a5 = mr > 5 ? a4 + lda : a4;
  const uint8_t *a6 = mr > 6 ? a5 + lda : a5;
  const uint8_t *a7 = mr > 7 ? a6 + lda : a6;

  const int32_t *bias = w;
  const int8_t *wb = (const int8_t *)w + NR * 4;
  __m512i acc00 = _mm512_loadu_si512(bias);
  __m512i acc01 = _mm512_loadu_si512(bias + 16);
#define INIT_ROW(i) __m512i acc##i##0 = acc00, acc##i##1 = acc01;
  INIT_ROW(1) INIT_ROW(2) INIT_ROW(3) INIT_ROW(4) INIT_ROW(5) INIT_ROW(6)
  INIT_ROW(7)
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

  const float *mult = (const float *)wb;
  epilogue e;
  e.m0 = _mm512_loadu_ps(mult);
  e.m1 = _mm512_loadu_ps(mult + 16);
  e.lo = _mm512_set1_ps(p->lo);
  e.hi = _mm512_set1_ps(p->hi);
  e.rmult = _mm512_set1_ps(p->rmult);
  e.zy = _mm512_set1_epi32(p->zy);
  e.zr = _mm512_set1_epi32(p->zr);
  e.k0 = (__mmask16)(nc >= 16 ? 0xFFFFu : (1u << nc) - 1u);
  e.k1 = (__mmask16)(nc >= 32 ? 0xFFFFu : nc > 16 ? (1u << (nc - 16)) - 1u : 0u);

  const size_t esize = p->out_f32 ? sizeof(float) : 1;
  char *cr = c;
#define STORE_ROW(i)                                                        \
  if (mr > i)                                                               \
    store_row(acc##i##0, acc##i##1, &e, p->out_f32, cr + i * ldc * esize,   \
              r ? r + i * ldr : NULL);
  ROWS(STORE_ROW)
#undef STORE_ROW
}

/* Any number of rows, MR at a time (see gemm/gemm.h). */
void qi_u8s8_gemm_requant_ukernel_8x32c4__avx512vnni(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  const size_t ldc_bytes = ldc * (p->out_f32 ? sizeof(float) : 1);
  for (size_t m = 0; m < mr; m += MR)
    block_8x32c4(mr - m < MR ? mr - m : MR, nc, k, a + m * lda, lda, w,
                 (char *)c + m * ldc_bytes, ldc, r ? r + m * ldr : NULL,
                 ldr, p);
}
