/* u8s8 depthwise microkernel, 32 channels per step, AVX2 (i16x2 layout).
 * Exact by widening, as in the AVX2 GEMM (vpmaddubsw would saturate its
 * int16 pair sums): the input bytes of two taps are interleaved
 * (vpunpck[lh]bw x0, x1) and zero-extended to int16 pairs (vpunpck[lh]bw
 * with zero), and vpmaddwd against int16 weight pairs of the same two taps
 * forms x0*w0 + x1*w1 per channel in int32 (|sum| <= 64770). All unpacks
 * stay within 128-bit lanes (cheap on every AVX2 core), which leaves the
 * four accumulators in the lane order of dwconv.h's perm32; bias and
 * multipliers are packed in that order too, the residual is unpacked into
 * it the same way, and the final vpackssdw / vpackuswb pair, also in-lane,
 * lands the bytes back in channel order. The epilogue performs the
 * operations of gemm/gemm.h in their order (cvtdq2ps, mulps, [cvtdq2ps,
 * mulps, addps], maxps, minps, cvtps2dq, paddd), written out here so that
 * it inlines (the GEMM's ymm epilogue is a call when not inlined, and its
 * partial loads go through memory). An odd last tap pairs with zero input.
 * Channels past a multiple of 32 take the same path with partial loads and
 * stores (never a byte outside `channels`), so any channel count works. */
#include <immintrin.h>
#include <string.h>

#include "dwconv/dwconv.h"

enum { CT = 32 };

/* The first n (< 16) bytes at p, zeros above, by scalar loads (no wide
 * load over narrow stores, so no store-forwarding stall). */
static inline __m128i load_u8_lt16(const uint8_t *p, size_t n) {
  uint64_t lo = 0, rest = 0;
  size_t o = 0;
  unsigned sh = 0;
  if (n & 8) {
    memcpy(&lo, p, 8);
    o = 8;
  }
  if (n & 4) {
    uint32_t t;
    memcpy(&t, p + o, 4);
    rest = t;
    o += 4;
    sh = 32;
  }
  if (n & 2) {
    uint16_t t;
    memcpy(&t, p + o, 2);
    rest |= (uint64_t)t << sh;
    o += 2;
    sh += 16;
  }
  if (n & 1) rest |= (uint64_t)p[o] << sh;
  if (n & 8) return _mm_set_epi64x((long long)rest, (long long)lo);
  return _mm_set_epi64x(0, (long long)rest);
}

/* The first n (< 32) bytes at p, zeros above. */
static inline __m256i load_u8_lt32(const uint8_t *p, size_t n) {
  __m128i lo, hi = _mm_setzero_si128();
  if (n >= 16) {
    lo = _mm_loadu_si128((const __m128i *)p);
    if (n > 16) hi = load_u8_lt16(p + 16, n - 16); /* 16: common, quick */
  } else {
    lo = load_u8_lt16(p, n);
  }
  return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* x0, x1: 32 input bytes of two taps. Adds their products to a0..a3. */
#define MADD_PAIR(x0, x1)                                                  \
  do {                                                                     \
    const __m256i il = _mm256_unpacklo_epi8(x0, x1);                       \
    const __m256i ih = _mm256_unpackhi_epi8(x0, x1);                       \
    a0 = _mm256_add_epi32(                                                 \
        a0, _mm256_madd_epi16(_mm256_unpacklo_epi8(il, z),                 \
                              _mm256_loadu_si256(wp)));                    \
    a1 = _mm256_add_epi32(                                                 \
        a1, _mm256_madd_epi16(_mm256_unpackhi_epi8(il, z),                 \
                              _mm256_loadu_si256(wp + 1)));                \
    a2 = _mm256_add_epi32(                                                 \
        a2, _mm256_madd_epi16(_mm256_unpacklo_epi8(ih, z),                 \
                              _mm256_loadu_si256(wp + 2)));                \
    a3 = _mm256_add_epi32(                                                 \
        a3, _mm256_madd_epi16(_mm256_unpackhi_epi8(ih, z),                 \
                              _mm256_loadu_si256(wp + 3)));                \
  } while (0)

/* All taps of one block; LOAD(ptr) reads the block's input bytes. */
#define TAP_LOOP(LOAD)                                                     \
  do {                                                                     \
    size_t t = 0;                                                          \
    for (; t + 1 < taps; t += 2, wp += 4) {                                \
      const __m256i x0 = LOAD(input[t] + c0);                              \
      const __m256i x1 = LOAD(input[t + 1] + c0);                          \
      MADD_PAIR(x0, x1);                                                   \
    }                                                                      \
    if (t < taps) {                                                        \
      const __m256i x0 = LOAD(input[t] + c0);                              \
      MADD_PAIR(x0, z);                                                    \
    }                                                                      \
  } while (0)

#define LOAD_FULL(ptr) _mm256_loadu_si256((const __m256i *)(ptr))
#define LOAD_PART(ptr) load_u8_lt32((ptr), nc)

/* Stores the first n (< 32) bytes of v. */
static inline void store_u8_lt32(uint8_t *c, __m256i v, size_t n) {
  __m128i x = _mm256_castsi256_si128(v);
  if (n & 16) {
    _mm_storeu_si128((__m128i *)c, x);
    c += 16;
    x = _mm256_extracti128_si256(v, 1);
  }
  if (n & 8) {
    _mm_storel_epi64((__m128i *)c, x);
    c += 8;
    x = _mm_unpackhi_epi64(x, x);
  }
  uint64_t rest = (uint64_t)_mm_cvtsi128_si64(x);
  if (n & 4) {
    uint32_t t = (uint32_t)rest;
    memcpy(c, &t, 4);
    c += 4;
    rest >>= 32;
  }
  if (n & 2) {
    uint16_t t = (uint16_t)rest;
    memcpy(c, &t, 2);
    c += 2;
    rest >>= 16;
  }
  if (n & 1) *c = (uint8_t)rest;
}

/* Stores the first n (< 8) floats of v. */
static inline void store_f32_lt8(float *c, __m256 v, size_t n) {
  __m128 x = _mm256_castps256_ps128(v);
  if (n & 4) {
    _mm_storeu_ps(c, x);
    c += 4;
    x = _mm256_extractf128_ps(v, 1);
  }
  if (n & 2) {
    _mm_storel_pi((__m64 *)(void *)c, x);
    c += 2;
    x = _mm_movehl_ps(x, x);
  }
  if (n & 1) _mm_store_ss(c, x);
}

/* Stores the first n (<= 32) floats of channels 0-7, 8-15, 16-23, 24-31.
 * Written out, not over an array: gcc keeps arrays of vectors in memory. */
static inline void store_f32(float *c, __m256 o0, __m256 o1, __m256 o2,
                             __m256 o3, size_t n) {
  if (n < 8) return store_f32_lt8(c, o0, n);
  _mm256_storeu_ps(c, o0);
  if (n < 16) return store_f32_lt8(c + 8, o1, n - 8);
  _mm256_storeu_ps(c + 8, o1);
  if (n < 24) return store_f32_lt8(c + 16, o2, n - 16);
  _mm256_storeu_ps(c + 16, o2);
  if (n < 32) return store_f32_lt8(c + 24, o3, n - 24);
  _mm256_storeu_ps(c + 24, o3);
}

/* The epilogue of one block, accumulators a0..a3 in perm32 order and the
 * block's multipliers likewise; y and r at the block's first channel; n
 * channels. Operands in the variables of the caller (macro, not function:
 * see store_f32). */
#define STORE_BLOCK(mult, y, r, n)                                          \
  do {                                                                      \
    __m256 v0 = _mm256_mul_ps(_mm256_cvtepi32_ps(a0), _mm256_loadu_ps(mult)); \
    __m256 v1 =                                                             \
        _mm256_mul_ps(_mm256_cvtepi32_ps(a1), _mm256_loadu_ps((mult) + 8)); \
    __m256 v2 =                                                             \
        _mm256_mul_ps(_mm256_cvtepi32_ps(a2), _mm256_loadu_ps((mult) + 16)); \
    __m256 v3 =                                                             \
        _mm256_mul_ps(_mm256_cvtepi32_ps(a3), _mm256_loadu_ps((mult) + 24)); \
    if (out_f32) {                                                          \
      /* Channel order: 0-7 = lane 0 of v0 and v1, and so on. */            \
      store_f32((float *)(void *)(y), _mm256_permute2f128_ps(v0, v1, 0x20), \
                _mm256_permute2f128_ps(v2, v3, 0x20),                       \
                _mm256_permute2f128_ps(v0, v1, 0x31),                       \
                _mm256_permute2f128_ps(v2, v3, 0x31), n);                   \
      break;                                                                \
    }                                                                       \
    if (r) {                                                                \
      const __m256i rb = (n) == CT ? LOAD_FULL(r) : load_u8_lt32((r), (n)); \
      const __m256i r_lo = _mm256_unpacklo_epi8(rb, z); /* 0-7, 16-23 */    \
      const __m256i r_hi = _mm256_unpackhi_epi8(rb, z); /* 8-15, 24-31 */   \
      v0 = RESIDUAL(v0, _mm256_unpacklo_epi16(r_lo, z));                    \
      v1 = RESIDUAL(v1, _mm256_unpackhi_epi16(r_lo, z));                    \
      v2 = RESIDUAL(v2, _mm256_unpacklo_epi16(r_hi, z));                    \
      v3 = RESIDUAL(v3, _mm256_unpackhi_epi16(r_hi, z));                    \
    }                                                                       \
    /* In [qmin, qmax] after the clamp: the saturating packs only narrow.   \
     * Lane 0 gets channels 0-3, 4-7, 8-11, 12-15, lane 1 the next 16. */   \
    const __m256i b = _mm256_packus_epi16(                                  \
        _mm256_packs_epi32(QUANT(v0), QUANT(v1)),                           \
        _mm256_packs_epi32(QUANT(v2), QUANT(v3)));                          \
    if ((n) == CT)                                                          \
      _mm256_storeu_si256((__m256i *)(void *)(y), b);                       \
    else                                                                    \
      store_u8_lt32((uint8_t *)(y), b, (n));                                \
  } while (0)
#define RESIDUAL(v, ri)                                                     \
  _mm256_add_ps(                                                            \
      v, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(ri, zr)), rmult))
#define QUANT(v)                                                            \
  _mm256_add_epi32(                                                         \
      _mm256_cvtps_epi32(_mm256_min_ps(_mm256_max_ps(v, lo), hi)), zy)

void qi_u8s8_dwconv_requant_ukernel_32c__avx2(
    size_t channels, size_t pixels, size_t taps, const uint8_t *const *input,
    size_t step, const void *w, void *y, size_t y_stride, const uint8_t *r,
    size_t r_stride, const qi_u8s8_gemm_params *p) {
  const size_t block = qi_u8s8_dwconv_block_bytes(taps, 2);
  const size_t moff = qi_u8s8_dwconv_mult_offset(taps, 2);
  const size_t esize = p->out_f32 ? sizeof(float) : 1;
  const __m256i z = _mm256_setzero_si256();
  const __m256 lo = _mm256_set1_ps(p->lo), hi = _mm256_set1_ps(p->hi);
  const __m256 rmult = _mm256_set1_ps(p->rmult);
  const __m256i zy = _mm256_set1_epi32(p->zy), zr = _mm256_set1_epi32(p->zr);
  const int out_f32 = p->out_f32;
  for (size_t j = 0; j < pixels; j++, input += step) {
    const unsigned char *blk = w;
    char *yj = (char *)y + j * y_stride * esize;
    const uint8_t *rj = r ? r + j * r_stride : NULL;
    for (size_t c0 = 0; c0 < channels; c0 += CT, blk += block) {
      const size_t nc = channels - c0 < CT ? channels - c0 : CT;
      __m256i a0 = _mm256_loadu_si256((const __m256i *)blk);
      __m256i a1 = _mm256_loadu_si256((const __m256i *)blk + 1);
      __m256i a2 = _mm256_loadu_si256((const __m256i *)blk + 2);
      __m256i a3 = _mm256_loadu_si256((const __m256i *)blk + 3);
      const __m256i *wp = (const __m256i *)(blk + CT * 4);
      if (nc == CT)
        TAP_LOOP(LOAD_FULL);
      else
        TAP_LOOP(LOAD_PART);
      const float *mult = (const float *)(blk + moff);
      const uint8_t *rc = rj ? rj + c0 : NULL;
      STORE_BLOCK(mult, yj + c0 * esize, rc, nc);
    }
  }
}
