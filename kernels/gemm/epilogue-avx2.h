/* The 16-column ymm epilogue shared by the AVX2 and AVX-VNNI u8s8 GEMM
 * kernels: include only from files compiled with AVX2 enabled. It performs
 * the operations of gemm/gemm.h in their order. AVX2 has no byte-masked
 * stores, so partial rows are written (and residuals read) in 8/4/2/1
 * pieces, never touching a byte past nc.
 *
 * uint8 rows go out two at a time (qi_ymm_store_row_pair), with the clamp
 * split between the float and the integer domain so that a pair of rows
 * costs one 256-bit packs/packus chain instead of the two per row of the
 * plain order:
 *   v = min(hi, v)                  (minps with hi first: a NaN v stays NaN)
 *   i = cvtps2dq(v)                 (NaN and v < -2^31 give INT32_MIN)
 *   s = sat16(i) +sat16 zy          (packssdw, paddsw)
 *   y = max(satu8(s), qmin)         (packuswb, pmaxub)
 * This gives the bytes of gemm/gemm.h for every v: lo and hi are integers,
 * so rounding commutes with the clamp (round(max(v, lo)) = max(round(v),
 * lo), and v <= hi gives round(v) <= hi, so y <= qmax with no upper
 * saturation). Below, any i with i + zy < qmin ends at qmin: if i >= -32768
 * the int16 sum i + zy is exact (|i| <= 32768, zy <= 255), otherwise it is
 * at most -32768 + 255 < 0; packuswb sends negatives to 0 and pmaxub lifts
 * them to qmin >= 0. A NaN v (INT32_MIN) thus becomes qmin, as specified. */
#ifndef QI_KERNELS_GEMM_EPILOGUE_AVX2_H
#define QI_KERNELS_GEMM_EPILOGUE_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"

/* The epilogue must inline into the kernel: out of line, each call spills
 * the accumulators of the other rows (every ymm is caller-saved). */
#define QI_YMM_INLINE static inline __attribute__((always_inline))

typedef struct qi_ymm_epilogue {
  __m256 m0, m1, hi, rmult;
  __m256i zr, zy16, qmin8, order;
  size_t nc;
  int out_f32;
} qi_ymm_epilogue;

QI_YMM_INLINE qi_ymm_epilogue qi_ymm_epilogue_make(
    const float *mult, size_t nc, const qi_u8s8_gemm_params *p) {
  qi_ymm_epilogue e;
  e.m0 = _mm256_loadu_ps(mult);
  e.m1 = _mm256_loadu_ps(mult + 8);
  e.hi = _mm256_set1_ps(p->hi);
  e.rmult = _mm256_set1_ps(p->rmult);
  e.zr = _mm256_set1_epi32(p->zr);
  e.zy16 = _mm256_set1_epi16((short)p->zy);
  e.qmin8 = _mm256_set1_epi8((char)p->qmin);
  /* packuswb of two packssdw results leaves the dwords (4 columns each) of
   * rows A and B as A0 A2 B0 B2 | A1 A3 B1 B3: gather each row's four. */
  e.order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
  e.nc = nc;
  e.out_f32 = p->out_f32;
  return e;
}

QI_YMM_INLINE __m128i qi_ymm_load_u8(const uint8_t *r, size_t nc) {
  if (nc == 16) return _mm_loadu_si128((const __m128i *)r);
  uint8_t buf[16] = {0};
  memcpy(buf, r, nc);
  return _mm_loadu_si128((const __m128i *)buf);
}

QI_YMM_INLINE void qi_ymm_store_u8(uint8_t *c, __m128i v, size_t nc) {
  if (nc == 16) {
    _mm_storeu_si128((__m128i *)c, v);
    return;
  }
  if (nc & 8) {
    _mm_storel_epi64((__m128i *)c, v);
    c += 8;
    v = _mm_unpackhi_epi64(v, v);
  }
  if (nc & 4) {
    int32_t x = _mm_cvtsi128_si32(v);
    memcpy(c, &x, 4);
    c += 4;
    v = _mm_srli_epi64(v, 32);
  }
  if (nc & 2) {
    uint16_t x = (uint16_t)_mm_cvtsi128_si32(v);
    memcpy(c, &x, 2);
    c += 2;
    v = _mm_srli_epi32(v, 16);
  }
  if (nc & 1) *c = (uint8_t)_mm_cvtsi128_si32(v);
}

QI_YMM_INLINE void qi_ymm_store_f32(float *c, __m256 v0, __m256 v1,
                                    size_t nc) {
  if (nc >= 8) {
    _mm256_storeu_ps(c, v0);
    if (nc == 16) {
      _mm256_storeu_ps(c + 8, v1);
      return;
    }
    c += 8;
    v0 = v1;
    nc -= 8;
  }
  __m128 x = _mm256_castps256_ps128(v0);
  if (nc & 4) {
    _mm_storeu_ps(c, x);
    c += 4;
    x = _mm256_extractf128_ps(v0, 1);
  }
  if (nc & 2) {
    _mm_storel_epi64((__m128i *)c, _mm_castps_si128(x));
    c += 2;
    x = _mm_movehl_ps(x, x);
  }
  if (nc & 1) _mm_store_ss(c, x);
}

/* float32 output: the dequantized row. */
QI_YMM_INLINE void qi_ymm_store_row_f32(__m256i acc0, __m256i acc1,
                                        const qi_ymm_epilogue *e, float *c) {
  __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc0), e->m0);
  __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc1), e->m1);
  qi_ymm_store_f32(c, v0, v1, e->nc);
}

/* (float)acc * mult [+ (float)(r - zr) * rmult] for one row's 16 columns. */
QI_YMM_INLINE void qi_ymm_scale_row(__m256i acc0, __m256i acc1,
                                    const qi_ymm_epilogue *e,
                                    const uint8_t *r, __m256 *v0,
                                    __m256 *v1) {
  __m256 x0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc0), e->m0);
  __m256 x1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc1), e->m1);
  if (r) {
    __m128i rb = qi_ymm_load_u8(r, e->nc);
    __m256i r0 = _mm256_cvtepu8_epi32(rb);
    __m256i r1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(rb, rb));
    __m256 t0 = _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_sub_epi32(r0, e->zr)), e->rmult);
    __m256 t1 = _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_sub_epi32(r1, e->zr)), e->rmult);
    x0 = _mm256_add_ps(x0, t0);
    x1 = _mm256_add_ps(x1, t1);
  }
  *v0 = x0;
  *v1 = x1;
}

/* Rows A and B (B only if `two`) of a tile, in the order of the top
 * comment (float output: row by row). ra, rb: residual rows or NULL. */
QI_YMM_INLINE void qi_ymm_store_row_pair(__m256i a0, __m256i a1, __m256i b0,
                                         __m256i b1, int two,
                                         const qi_ymm_epilogue *e, void *ca,
                                         void *cb, const uint8_t *ra,
                                         const uint8_t *rb) {
  if (e->out_f32) {
    qi_ymm_store_row_f32(a0, a1, e, ca);
    if (two) qi_ymm_store_row_f32(b0, b1, e, cb);
    return;
  }
  __m256 va0, va1, vb0, vb1;
  qi_ymm_scale_row(a0, a1, e, ra, &va0, &va1);
  if (two)
    qi_ymm_scale_row(b0, b1, e, rb, &vb0, &vb1);
  else
    vb0 = va0, vb1 = va1;
  __m256i ia0 = _mm256_cvtps_epi32(_mm256_min_ps(e->hi, va0));
  __m256i ia1 = _mm256_cvtps_epi32(_mm256_min_ps(e->hi, va1));
  __m256i ib0 = _mm256_cvtps_epi32(_mm256_min_ps(e->hi, vb0));
  __m256i ib1 = _mm256_cvtps_epi32(_mm256_min_ps(e->hi, vb1));
  __m256i sa = _mm256_adds_epi16(_mm256_packs_epi32(ia0, ia1), e->zy16);
  __m256i sb = _mm256_adds_epi16(_mm256_packs_epi32(ib0, ib1), e->zy16);
  __m256i y = _mm256_max_epu8(_mm256_packus_epi16(sa, sb), e->qmin8);
  y = _mm256_permutevar8x32_epi32(y, e->order);
  qi_ymm_store_u8(ca, _mm256_castsi256_si128(y), e->nc);
  if (two) qi_ymm_store_u8(cb, _mm256_extracti128_si256(y, 1), e->nc);
}

#endif
