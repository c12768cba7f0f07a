/* AVX2 pieces shared by the uint8 element-wise kernels (Add, Mul) and the
 * qpool kernels: widening, the output rule of qelt/qelt.h on 8 float
 * lanes, packing back to bytes, and the broadcast driver of the binary
 * ops. Include only from files compiled with AVX2 enabled. */
#ifndef QI_KERNELS_QELT_AVX2_H
#define QI_KERNELS_QELT_AVX2_H

#include <immintrin.h>
#include <string.h>

#include "qelt/qelt.h"

#define QI_AVX2_INLINE static inline __attribute__((always_inline))

typedef struct qi_avx2_out {
  __m256 lo, hi;
  __m256i zy;
} qi_avx2_out;

QI_AVX2_INLINE qi_avx2_out qi_avx2_out_make(const qi_u8_out *o) {
  qi_avx2_out v;
  v.lo = _mm256_set1_ps(o->lo);
  v.hi = _mm256_set1_ps(o->hi);
  v.zy = _mm256_set1_epi32(o->zy);
  return v;
}

/* The output rule on 8 lanes, as int32 in [qmin, qmax]: maxps(v, lo) and
 * minps(v, hi) have the operand order of qi_requant_maxf/minf. */
QI_AVX2_INLINE __m256i qi_avx2_finish(__m256 v, const qi_avx2_out *o) {
  v = _mm256_max_ps(v, o->lo);
  v = _mm256_min_ps(v, o->hi);
  return _mm256_add_epi32(_mm256_cvtps_epi32(v), o->zy);
}

/* 8 bytes at p, zero-extended to int32 lanes. */
QI_AVX2_INLINE __m256i qi_avx2_load8_u32(const uint8_t *p) {
  return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

/* 32 int32 lanes in 0..255 (four registers, in element order) to 32
 * bytes: packssdw/packuswb work within 128-bit halves, so the result
 * holds 4-byte groups in the order 0 2 4 6 1 3 5 7, which vpermd undoes. */
QI_AVX2_INLINE __m256i qi_avx2_pack32(__m256i i0, __m256i i1, __m256i i2,
                                      __m256i i3) {
  __m256i w01 = _mm256_packs_epi32(i0, i1);
  __m256i w23 = _mm256_packs_epi32(i2, i3);
  __m256i b = _mm256_packus_epi16(w01, w23);
  return _mm256_permutevar8x32_epi32(b,
                                     _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* 8 int32 lanes in 0..255 to the low 8 bytes of an xmm. */
QI_AVX2_INLINE __m128i qi_avx2_pack8(__m256i i0) {
  __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(i0),
                              _mm256_extracti128_si256(i0, 1));
  return _mm_packus_epi16(w, w);
}

/* Stores the low n (< 8) bytes of v at p, touching nothing past p + n. */
QI_AVX2_INLINE void qi_avx2_store_partial8(uint8_t *p, __m128i v, size_t n) {
  uint64_t x = (uint64_t)_mm_cvtsi128_si64(v);
  memcpy(p, &x, n);
}

/* n (< 8) bytes at p, zero-extended to int32 lanes; reads only p[0..n). */
QI_AVX2_INLINE __m256i qi_avx2_load_partial8_u32(const uint8_t *p, size_t n) {
  uint64_t x = 0;
  memcpy(&x, p, n);
  return _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)x));
}

/* Binary-op constants; `bconst` is the op's per-lane b operand when b is a
 * scalar (Add: its float term; Mul: its float difference). */
typedef struct qi_avx2_binary {
  __m256i za, zb;
  __m256 ma, mb, bconst;
  qi_avx2_out out;
} qi_avx2_binary;

/* A block function computes 32 outputs from 32 readable bytes at a and at
 * b (for a scalar b, the driver calls the op's scalar-b block, which
 * ignores b and uses bconst); y receives 32 bytes. */
typedef void (*qi_avx2_block_fn)(const uint8_t *a, const uint8_t *b, uint8_t *y,
                                 const qi_avx2_binary *k);

/* Tail of fewer than 32 elements through stack buffers, so the block runs
 * unchanged and nothing outside [0, n) is touched. b_full: b has 32
 * readable bytes (the broadcast pattern buffer). */
QI_AVX2_INLINE void qi_avx2_binary_tail(size_t n, const uint8_t *a,
                                        const uint8_t *b, int b_full,
                                        uint8_t *y, const qi_avx2_binary *k,
                                        qi_avx2_block_fn block) {
  uint8_t ta[32] = {0}, tb[32] = {0}, ty[32];
  memcpy(ta, a, n);
  if (!b_full) memcpy(tb, b, n);
  block(ta, b_full ? b : tb, ty, k);
  memcpy(y, ty, n);
}

/* Rows of at most this many channels broadcast through a repeated
 * pattern of b, so that the whole tensor runs as one flat loop. */
#define QI_AVX2_BCAST_PATTERN_MAX 256

QI_AVX2_INLINE void qi_avx2_binary_drive(size_t rows, size_t c,
                                         const uint8_t *a, const uint8_t *b,
                                         qi_u8_bcast bcast, uint8_t *y,
                                         const qi_avx2_binary *k,
                                         qi_avx2_block_fn block,
                                         qi_avx2_block_fn block_scalar_b) {
  size_t n = rows * c;
  if (n == 0) return;
  if (bcast == QI_U8_BCAST_SCALAR) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) block_scalar_b(a + i, b, y + i, k);
    if (i < n)
      qi_avx2_binary_tail(n - i, a + i, b, 1, y + i, k, block_scalar_b);
    return;
  }
  if (bcast == QI_U8_BCAST_NONE) {
    size_t i = 0;
    for (; i + 32 <= n; i += 32) block(a + i, b + i, y + i, k);
    if (i < n) qi_avx2_binary_tail(n - i, a + i, b + i, 0, y + i, k, block);
    return;
  }
  if (c <= QI_AVX2_BCAST_PATTERN_MAX) {
    /* pat[j] = b[j mod c] for j < c + 32: element i reads pat + i mod c. */
    uint8_t pat[QI_AVX2_BCAST_PATTERN_MAX + 32];
    for (size_t j = 0; j < c + 32; j++) pat[j] = b[j % c];
    size_t i = 0, off = 0, step = 32 % c;
    for (; i + 32 <= n; i += 32) {
      block(a + i, pat + off, y + i, k);
      off += step;
      if (off >= c) off -= c;
    }
    if (i < n) qi_avx2_binary_tail(n - i, a + i, pat + off, 1, y + i, k, block);
    return;
  }
  for (size_t r = 0; r < rows; r++, a += c, y += c) {
    size_t j = 0;
    for (; j + 32 <= c; j += 32) block(a + j, b + j, y + j, k);
    if (j < c) qi_avx2_binary_tail(c - j, a + j, b + j, 0, y + j, k, block);
  }
}

#endif
