/* Portable C emulation of the x86 SIMD intrinsics that the u8s8 GEMM
 * kernels use, following Intel's pseudocode for each instruction. Included
 * before a kernel's .c file (test_qgemm_emu.c), it stands in for
 * <immintrin.h> so the very kernel code of an ISA the test machine lacks
 * (AVX-512 VNNI, AVX-VNNI) runs anywhere. It is validated on the same run by
 * emulating the AVX2 kernel too, whose real build runs in test_qgemm.
 * Masked loads and stores touch only the selected elements, like the
 * hardware's fault suppression, so guard pages keep working. */
#ifndef QT_X86_EMU_H
#define QT_X86_EMU_H

/* Make the kernels' #include <immintrin.h> a no-op (gcc, clang guards). */
#define _IMMINTRIN_H_INCLUDED
#define __IMMINTRIN_H

#include <math.h>
#include <stdint.h>
#include <string.h>

typedef union {
  int8_t i8[16];
  uint8_t u8[16];
  int16_t i16[8];
  int32_t i32[4];
  uint32_t u32[4];
  uint64_t u64[2];
} __m128i;
typedef union {
  float f[4];
  uint32_t u32[4];
} __m128;
typedef union {
  int8_t i8[32];
  uint8_t u8[32];
  int16_t i16[16];
  int32_t i32[8];
  uint32_t u32[8];
  __m128i x[2];
} __m256i;
typedef union {
  float f[8];
  __m128 x[2];
} __m256;
typedef union {
  int8_t i8[64];
  uint8_t u8[64];
  int32_t i32[16];
  uint32_t u32[16];
} __m512i;
typedef union {
  float f[16];
} __m512;
typedef uint16_t __mmask16;

/* cvtps2dq: current rounding mode; NaN or out of range -> 0x80000000. */
static inline int32_t emu_cvt_f32_i32(float x) {
  float r = nearbyintf(x);
  if (!(r >= -2147483648.0f && r < 2147483648.0f)) return INT32_MIN;
  return (int32_t)r;
}
static inline float emu_maxf(float a, float b) { return a > b ? a : b; }
static inline float emu_minf(float a, float b) { return a < b ? a : b; }
static inline int16_t emu_sat16(int32_t x) {
  return (int16_t)(x > 32767 ? 32767 : x < -32768 ? -32768 : x);
}
static inline uint8_t emu_satu8(int32_t x) {
  return (uint8_t)(x > 255 ? 255 : x < 0 ? 0 : x);
}
/* vpdpbusd lane: src + four u8 x s8 products, wrapping (no saturation). */
static inline int32_t emu_dpbusd_lane(int32_t src, uint32_t a, uint32_t b) {
  uint32_t s = (uint32_t)src;
  for (int t = 0; t < 4; t++)
    s += (uint32_t)((int32_t)(uint8_t)(a >> (8 * t)) *
                    (int32_t)(int8_t)(b >> (8 * t)));
  return (int32_t)s;
}

/* ---- 128-bit ---- */
static inline __m128i _mm_loadu_si128(const __m128i *p) {
  __m128i r;
  memcpy(&r, p, 16);
  return r;
}
static inline void _mm_storeu_si128(__m128i *p, __m128i a) {
  memcpy(p, &a, 16);
}
static inline void _mm_storel_epi64(__m128i *p, __m128i a) {
  memcpy(p, &a, 8);
}
static inline __m128i _mm_unpackhi_epi64(__m128i a, __m128i b) {
  __m128i r;
  r.u64[0] = a.u64[1];
  r.u64[1] = b.u64[1];
  return r;
}
static inline int _mm_cvtsi128_si32(__m128i a) { return a.i32[0]; }
static inline __m128i _mm_srli_epi64(__m128i a, int n) {
  for (int i = 0; i < 2; i++) a.u64[i] = n > 63 ? 0 : a.u64[i] >> n;
  return a;
}
static inline __m128i _mm_srli_epi32(__m128i a, int n) {
  for (int i = 0; i < 4; i++) a.u32[i] = n > 31 ? 0 : a.u32[i] >> n;
  return a;
}
static inline __m128i _mm_packs_epi32(__m128i a, __m128i b) {
  __m128i r;
  for (int i = 0; i < 4; i++) {
    r.i16[i] = emu_sat16(a.i32[i]);
    r.i16[4 + i] = emu_sat16(b.i32[i]);
  }
  return r;
}
static inline __m128i _mm_packus_epi16(__m128i a, __m128i b) {
  __m128i r;
  for (int i = 0; i < 8; i++) {
    r.u8[i] = emu_satu8(a.i16[i]);
    r.u8[8 + i] = emu_satu8(b.i16[i]);
  }
  return r;
}
static inline void _mm_storeu_ps(float *p, __m128 a) { memcpy(p, &a, 16); }
static inline void _mm_store_ss(float *p, __m128 a) { *p = a.f[0]; }
static inline __m128 _mm_movehl_ps(__m128 a, __m128 b) {
  __m128 r = {{b.f[2], b.f[3], a.f[2], a.f[3]}};
  return r;
}
static inline __m128i _mm_castps_si128(__m128 a) {
  __m128i r;
  memcpy(&r, &a, 16);
  return r;
}
/* AVX-512 BW/VL masked byte load/store. */
static inline __m128i _mm_maskz_loadu_epi8(__mmask16 k, const void *p) {
  __m128i r;
  for (int i = 0; i < 16; i++)
    r.u8[i] = (k >> i) & 1 ? ((const uint8_t *)p)[i] : 0;
  return r;
}
static inline void _mm_mask_storeu_epi8(void *p, __mmask16 k, __m128i a) {
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) ((uint8_t *)p)[i] = a.u8[i];
}

/* ---- 256-bit ---- */
static inline __m256i _mm256_loadu_si256(const __m256i *p) {
  __m256i r;
  memcpy(&r, p, 32);
  return r;
}
static inline void _mm256_storeu_si256(__m256i *p, __m256i a) {
  memcpy(p, &a, 32);
}
static inline __m256i _mm256_cvtepu8_epi16(__m128i a) {
  __m256i r;
  for (int i = 0; i < 16; i++) r.i16[i] = a.u8[i];
  return r;
}
static inline __m256 _mm256_loadu_ps(const float *p) {
  __m256 r;
  memcpy(&r, p, 32);
  return r;
}
static inline void _mm256_storeu_ps(float *p, __m256 a) { memcpy(p, &a, 32); }
static inline __m256i _mm256_set1_epi32(int x) {
  __m256i r;
  for (int i = 0; i < 8; i++) r.i32[i] = x;
  return r;
}
static inline __m256 _mm256_set1_ps(float x) {
  __m256 r;
  for (int i = 0; i < 8; i++) r.f[i] = x;
  return r;
}
static inline __m256i _mm256_set1_epi16(short x) {
  __m256i r;
  for (int i = 0; i < 16; i++) r.i16[i] = x;
  return r;
}
static inline __m256i _mm256_set1_epi8(char x) {
  __m256i r;
  for (int i = 0; i < 32; i++) r.i8[i] = (int8_t)x;
  return r;
}
static inline __m256i _mm256_setr_epi32(int e0, int e1, int e2, int e3,
                                        int e4, int e5, int e6, int e7) {
  __m256i r;
  r.i32[0] = e0, r.i32[1] = e1, r.i32[2] = e2, r.i32[3] = e3;
  r.i32[4] = e4, r.i32[5] = e5, r.i32[6] = e6, r.i32[7] = e7;
  return r;
}
/* vpackssdw / vpackuswb: per 128-bit lane, a's lane then b's lane. */
static inline __m256i _mm256_packs_epi32(__m256i a, __m256i b) {
  __m256i r;
  for (int lane = 0; lane < 2; lane++)
    for (int i = 0; i < 4; i++) {
      r.i16[8 * lane + i] = emu_sat16(a.i32[4 * lane + i]);
      r.i16[8 * lane + 4 + i] = emu_sat16(b.i32[4 * lane + i]);
    }
  return r;
}
static inline __m256i _mm256_packus_epi16(__m256i a, __m256i b) {
  __m256i r;
  for (int lane = 0; lane < 2; lane++)
    for (int i = 0; i < 8; i++) {
      r.u8[16 * lane + i] = emu_satu8(a.i16[8 * lane + i]);
      r.u8[16 * lane + 8 + i] = emu_satu8(b.i16[8 * lane + i]);
    }
  return r;
}
/* vpaddsw: signed saturating int16 add. */
static inline __m256i _mm256_adds_epi16(__m256i a, __m256i b) {
  for (int i = 0; i < 16; i++)
    a.i16[i] = emu_sat16((int32_t)a.i16[i] + b.i16[i]);
  return a;
}
static inline __m256i _mm256_max_epu8(__m256i a, __m256i b) {
  for (int i = 0; i < 32; i++) a.u8[i] = a.u8[i] > b.u8[i] ? a.u8[i] : b.u8[i];
  return a;
}
/* vpermd: dst[i] = a[idx[i] & 7] (across lanes). */
static inline __m256i _mm256_permutevar8x32_epi32(__m256i a, __m256i idx) {
  __m256i r;
  for (int i = 0; i < 8; i++) r.i32[i] = a.i32[idx.u32[i] & 7];
  return r;
}
static inline __m256i _mm256_add_epi32(__m256i a, __m256i b) {
  for (int i = 0; i < 8; i++) a.u32[i] += b.u32[i];
  return a;
}
static inline __m256i _mm256_sub_epi32(__m256i a, __m256i b) {
  for (int i = 0; i < 8; i++) a.u32[i] -= b.u32[i];
  return a;
}
static inline __m256i _mm256_madd_epi16(__m256i a, __m256i b) {
  __m256i r;
  for (int i = 0; i < 8; i++)
    r.u32[i] = (uint32_t)((int32_t)a.i16[2 * i] * b.i16[2 * i]) +
               (uint32_t)((int32_t)a.i16[2 * i + 1] * b.i16[2 * i + 1]);
  return r;
}
static inline __m256i _mm256_shuffle_epi8(__m256i a, __m256i b) {
  __m256i r;
  for (int lane = 0; lane < 2; lane++)
    for (int i = 0; i < 16; i++) {
      uint8_t idx = b.u8[16 * lane + i];
      r.u8[16 * lane + i] = idx & 0x80 ? 0 : a.u8[16 * lane + (idx & 15)];
    }
  return r;
}
static inline __m256i _mm256_dpbusd_avx_epi32(__m256i src, __m256i a,
                                              __m256i b) {
  for (int i = 0; i < 8; i++)
    src.i32[i] = emu_dpbusd_lane(src.i32[i], a.u32[i], b.u32[i]);
  return src;
}
static inline __m256 _mm256_cvtepi32_ps(__m256i a) {
  __m256 r;
  for (int i = 0; i < 8; i++) r.f[i] = (float)a.i32[i];
  return r;
}
static inline __m256i _mm256_cvtps_epi32(__m256 a) {
  __m256i r;
  for (int i = 0; i < 8; i++) r.i32[i] = emu_cvt_f32_i32(a.f[i]);
  return r;
}
static inline __m256i _mm256_cvtepu8_epi32(__m128i a) {
  __m256i r;
  for (int i = 0; i < 8; i++) r.i32[i] = a.u8[i];
  return r;
}
static inline __m256 _mm256_mul_ps(__m256 a, __m256 b) {
  for (int i = 0; i < 8; i++) a.f[i] = a.f[i] * b.f[i];
  return a;
}
static inline __m256 _mm256_add_ps(__m256 a, __m256 b) {
  for (int i = 0; i < 8; i++) a.f[i] = a.f[i] + b.f[i];
  return a;
}
static inline __m256 _mm256_max_ps(__m256 a, __m256 b) {
  for (int i = 0; i < 8; i++) a.f[i] = emu_maxf(a.f[i], b.f[i]);
  return a;
}
static inline __m256 _mm256_min_ps(__m256 a, __m256 b) {
  for (int i = 0; i < 8; i++) a.f[i] = emu_minf(a.f[i], b.f[i]);
  return a;
}
static inline __m128i _mm256_castsi256_si128(__m256i a) { return a.x[0]; }
static inline __m128i _mm256_extracti128_si256(__m256i a, int i) {
  return a.x[i & 1];
}
static inline __m128 _mm256_castps256_ps128(__m256 a) { return a.x[0]; }
static inline __m128 _mm256_extractf128_ps(__m256 a, int i) {
  return a.x[i & 1];
}

/* ---- 512-bit ---- */
static inline __m512i _mm512_loadu_si512(const void *p) {
  __m512i r;
  memcpy(&r, p, 64);
  return r;
}
static inline __m512 _mm512_loadu_ps(const void *p) {
  __m512 r;
  memcpy(&r, p, 64);
  return r;
}
static inline void _mm512_mask_storeu_ps(void *p, __mmask16 k, __m512 a) {
  for (int i = 0; i < 16; i++)
    if ((k >> i) & 1) memcpy((char *)p + 4 * i, &a.f[i], 4);
}
static inline __m512i _mm512_set1_epi32(int x) {
  __m512i r;
  for (int i = 0; i < 16; i++) r.i32[i] = x;
  return r;
}
static inline __m512 _mm512_set1_ps(float x) {
  __m512 r;
  for (int i = 0; i < 16; i++) r.f[i] = x;
  return r;
}
static inline __m512i _mm512_add_epi32(__m512i a, __m512i b) {
  for (int i = 0; i < 16; i++) a.u32[i] += b.u32[i];
  return a;
}
static inline __m512i _mm512_sub_epi32(__m512i a, __m512i b) {
  for (int i = 0; i < 16; i++) a.u32[i] -= b.u32[i];
  return a;
}
static inline __m512i _mm512_dpbusd_epi32(__m512i src, __m512i a,
                                          __m512i b) {
  for (int i = 0; i < 16; i++)
    src.i32[i] = emu_dpbusd_lane(src.i32[i], a.u32[i], b.u32[i]);
  return src;
}
static inline __m512 _mm512_cvtepi32_ps(__m512i a) {
  __m512 r;
  for (int i = 0; i < 16; i++) r.f[i] = (float)a.i32[i];
  return r;
}
static inline __m512i _mm512_cvtps_epi32(__m512 a) {
  __m512i r;
  for (int i = 0; i < 16; i++) r.i32[i] = emu_cvt_f32_i32(a.f[i]);
  return r;
}
static inline __m512i _mm512_cvtepu8_epi32(__m128i a) {
  __m512i r;
  for (int i = 0; i < 16; i++) r.i32[i] = a.u8[i];
  return r;
}
/* vpmovusdb: unsigned saturation of each dword to a byte. */
static inline __m128i _mm512_cvtusepi32_epi8(__m512i a) {
  __m128i r;
  for (int i = 0; i < 16; i++) r.u8[i] = (uint8_t)(a.u32[i] > 255 ? 255 : a.u32[i]);
  return r;
}
static inline __m512 _mm512_mul_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; i++) a.f[i] = a.f[i] * b.f[i];
  return a;
}
static inline __m512 _mm512_add_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; i++) a.f[i] = a.f[i] + b.f[i];
  return a;
}
static inline __m512 _mm512_max_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; i++) a.f[i] = emu_maxf(a.f[i], b.f[i]);
  return a;
}
static inline __m512 _mm512_min_ps(__m512 a, __m512 b) {
  for (int i = 0; i < 16; i++) a.f[i] = emu_minf(a.f[i], b.f[i]);
  return a;
}

#endif
