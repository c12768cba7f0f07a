/* The 16-column ymm epilogue shared by the AVX2 and AVX-VNNI u8s8 GEMM
 * kernels: include only from files compiled with AVX2 enabled. It performs
 * the operations of gemm/gemm.h in their order. AVX2 has no byte-masked
 * stores, so partial rows are written (and residuals read) in 8/4/2/1
 * pieces, never touching a byte past nc. */
#ifndef QI_KERNELS_GEMM_EPILOGUE_AVX2_H
#define QI_KERNELS_GEMM_EPILOGUE_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "gemm/gemm.h"

typedef struct qi_ymm_epilogue {
  __m256 m0, m1, lo, hi, rmult;
  __m256i zy, zr;
  size_t nc;
  int out_f32;
} qi_ymm_epilogue;

static inline qi_ymm_epilogue qi_ymm_epilogue_make(
    const float *mult, size_t nc, const qi_u8s8_gemm_params *p) {
  qi_ymm_epilogue e;
  e.m0 = _mm256_loadu_ps(mult);
  e.m1 = _mm256_loadu_ps(mult + 8);
  e.lo = _mm256_set1_ps(p->lo);
  e.hi = _mm256_set1_ps(p->hi);
  e.rmult = _mm256_set1_ps(p->rmult);
  e.zy = _mm256_set1_epi32(p->zy);
  e.zr = _mm256_set1_epi32(p->zr);
  e.nc = nc;
  e.out_f32 = p->out_f32;
  return e;
}

static inline __m128i qi_ymm_load_u8(const uint8_t *r, size_t nc) {
  if (nc == 16) return _mm_loadu_si128((const __m128i *)r);
  uint8_t buf[16] = {0};
  memcpy(buf, r, nc);
  return _mm_loadu_si128((const __m128i *)buf);
}

static inline void qi_ymm_store_u8(uint8_t *c, __m128i v, size_t nc) {
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

static inline void qi_ymm_store_f32(float *c, __m256 v0, __m256 v1,
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

static inline void qi_ymm_store_row(__m256i acc0, __m256i acc1,
                                    const qi_ymm_epilogue *e, void *c,
                                    const uint8_t *r) {
  __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc0), e->m0);
  __m256 v1 = _mm256_mul_ps(_mm256_cvtepi32_ps(acc1), e->m1);
  if (e->out_f32) {
    qi_ymm_store_f32(c, v0, v1, e->nc);
    return;
  }
  if (r) {
    __m128i rb = qi_ymm_load_u8(r, e->nc);
    __m256i r0 = _mm256_cvtepu8_epi32(rb);
    __m256i r1 = _mm256_cvtepu8_epi32(_mm_unpackhi_epi64(rb, rb));
    __m256 t0 = _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_sub_epi32(r0, e->zr)), e->rmult);
    __m256 t1 = _mm256_mul_ps(
        _mm256_cvtepi32_ps(_mm256_sub_epi32(r1, e->zr)), e->rmult);
    v0 = _mm256_add_ps(v0, t0);
    v1 = _mm256_add_ps(v1, t1);
  }
  v0 = _mm256_min_ps(_mm256_max_ps(v0, e->lo), e->hi);
  v1 = _mm256_min_ps(_mm256_max_ps(v1, e->lo), e->hi);
  __m256i i0 = _mm256_add_epi32(_mm256_cvtps_epi32(v0), e->zy);
  __m256i i1 = _mm256_add_epi32(_mm256_cvtps_epi32(v1), e->zy);
  /* Values are in [qmin, qmax] already: the saturating packs only narrow. */
  __m128i w0 = _mm_packs_epi32(_mm256_castsi256_si128(i0),
                               _mm256_extracti128_si256(i0, 1));
  __m128i w1 = _mm_packs_epi32(_mm256_castsi256_si128(i1),
                               _mm256_extracti128_si256(i1, 1));
  qi_ymm_store_u8(c, _mm_packus_epi16(w0, w1), e->nc);
}

#endif
