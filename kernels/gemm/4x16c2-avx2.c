/* u8s8 GEMM microkernel, 4x16 tile, AVX2 without VNNI.
 * vpmaddubsw would be the obvious instruction, but it saturates its int16
 * pair sums: 255*127 + 255*127 = 64770 > 32767, so it is not exact for our
 * ranges. This path widens instead: the driver packs A zero-extended to
 * uint16 (qi_u8s8_gemm_apack_u16__avx2, below), the weights are packed as
 * int16 pairs (c2 layout, groups of 4 k), and vpmaddwd forms a0*b0 + a1*b1
 * exactly in int32 (|sum| <= 64770), accumulated with vpaddd. With A
 * widened ahead, each k pair of a row is one 4-byte broadcast load, which
 * keeps the vector ALUs for vpmaddwd and vpaddd alone. One call runs any
 * number of rows, MR at a time, so that small K (1x1 convolutions with
 * 16..32 input channels) does not pay the call and the epilogue set-up per
 * 4 rows.
 *
 * Full 4x16 blocks (4 rows, strips with nc > 8) run their k loop as
 * inline assembly (below, DOT_ASM) for the instruction order alone. Every
 * vpmaddwd needs a dependent vpaddd; on Zen 3 (4 vector pipes, vpmaddwd on
 * 2 of them) such pairs issue 6-12% faster when each row's adds trail its
 * multiplies by two rows of work than in the orders gcc 12 and clang 14
 * emit from intrinsics (gcc also reassociates the adds and hoists the
 * broadcasts, spilling accumulators). Same instructions and sums, so the
 * same bytes. Everything else, and the whole kernel when built without
 * AVX2 (the emulated build of test_qgemm_emu), is the C below. */
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

/* Widens 16 bytes of A to 16 uint16 at dst. */
static inline void widen16(uint16_t *dst, const uint8_t *src) {
  _mm256_storeu_si256((__m256i *)dst,
                      _mm256_cvtepu8_epi16(
                          _mm_loadu_si128((const __m128i *)src)));
}

/* Each row without a scalar tail (small K: 24, 27 for stems): for k >= 16
 * the last 16 bytes are widened again, overlapping what is written; for
 * k < 16 the row goes through a zeroed buffer and out in kpad-sized
 * pieces. Reads exactly k bytes of each row, writes exactly kpad uint16. */
void qi_u8s8_gemm_apack_u16__avx2(size_t m, size_t k, const uint8_t *a,
                                  size_t lda, void *packed) {
  const size_t stride = qi_u8s8_gemm_apack_stride(k);
  const size_t kpad = stride / 2;
  for (size_t i = 0; i < m; i++) {
    const uint8_t *src = a + i * lda;
    uint16_t *dst = (uint16_t *)((unsigned char *)packed + i * stride);
    if (k < 16) {
      uint8_t buf[16] = {0};
      memcpy(buf, src, k);
      const __m256i v = _mm256_cvtepu8_epi16(
          _mm_loadu_si128((const __m128i *)buf));
      const __m128i lo = _mm256_castsi256_si128(v);
      if (kpad == 16) {
        _mm256_storeu_si256((__m256i *)dst, v);
      } else if (kpad >= 8) {
        _mm_storeu_si128((__m128i *)dst, lo);
        if (kpad == 12)
          _mm_storel_epi64((__m128i *)(dst + 8),
                           _mm256_extracti128_si256(v, 1));
      } else {
        _mm_storel_epi64((__m128i *)dst, lo);
      }
      continue;
    }
    size_t t = 0;
    for (; t + 16 <= k; t += 16) widen16(dst + t, src + t);
    if (t < k) widen16(dst + k - 16, src + k - 16);
    for (t = k; t < kpad; t++) dst[t] = 0;
  }
}

#define ROWS(X) X(0) X(1) X(2) X(3)

/* One group of 4 k (two k pairs) for rows 0..mr-1, at packed-A byte
 * offset `ka` (= 2 * k). With `half` (a strip of nc <= 8 columns) only
 * columns 0..7 are computed: half the loads and vpmaddwd. mr is a
 * constant wherever this expands, so a short block computes only its
 * rows. */
#define GROUP(ka)                                                           \
  do {                                                                      \
    const __m256i b00 = _mm256_loadu_si256((const __m256i *)wb);            \
    const __m256i b10 = _mm256_loadu_si256((const __m256i *)(wb + 32));     \
    __m256i b01 = b00, b11 = b10;                                           \
    if (!half) {                                                            \
      b01 = _mm256_loadu_si256((const __m256i *)(wb + 16));                 \
      b11 = _mm256_loadu_si256((const __m256i *)(wb + 48));                 \
    }                                                                       \
    ROWS(DOT_ROW)                                                           \
  } while (0)
#define DOT_ROW(i)                                                          \
  if (mr > i) {                                                             \
    const __m256i v01 = _mm256_set1_epi32(load_u32(a##i + (ka)));           \
    const __m256i v23 = _mm256_set1_epi32(load_u32(a##i + (ka) + 4));       \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_madd_epi16(v01, b00));   \
    acc##i##0 = _mm256_add_epi32(acc##i##0, _mm256_madd_epi16(v23, b10));   \
    if (!half) {                                                            \
      acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_madd_epi16(v01, b01)); \
      acc##i##1 = _mm256_add_epi32(acc##i##1, _mm256_madd_epi16(v23, b11)); \
    }                                                                       \
  }

#if defined(__AVX2__) && !defined(QT_X86_EMU_H)
/* The k loop of a full 4x16 block, two groups (16 bytes of each packed A
 * row, 256 bytes of weights) per iteration. Per k pair: the pair's weights
 * (columns 0..7, 8..15) in ymm8, ymm9; per row one step, MUL: broadcast
 * the pair into u, t = u * ymm8, u = u * ymm9 (vpmaddwd); then ADD: the
 * row's accumulators += t, u. The steps use the register sets S0, S1, S2
 * in turn, and each step's ADD is issued after the next two steps' MULs
 * (the order measured fastest, see the top). Accumulators are operands
 * (ymm0..7, the compiler's choice); ka and wb advance until ka = `stop`. */
#define S0 10, 11
#define S1 12, 13
#define S2 14, 15
#define DOT_LOADW(off)                                                       \
  "vmovdqu " #off "(%[w]), %%ymm8\n\t"                                       \
  "vmovdqu " #off "+32(%[w]), %%ymm9\n\t"
#define DOT_MUL_(t, u, row, off)                                             \
  "vpbroadcastd " #off "(%[a" #row "],%[ka]), %%ymm" #u "\n\t"               \
  "vpmaddwd %%ymm8, %%ymm" #u ", %%ymm" #t "\n\t"                            \
  "vpmaddwd %%ymm9, %%ymm" #u ", %%ymm" #u "\n\t"
#define DOT_ADD_(t, u, row)                                                  \
  "vpaddd %%ymm" #t ", %[c" #row "0], %[c" #row "0]\n\t"                     \
  "vpaddd %%ymm" #u ", %[c" #row "1], %[c" #row "1]\n\t"
#define DOT_MUL(set, row, off) DOT_MUL_(set, row, off)
#define DOT_ADD(set, row) DOT_ADD_(set, row)
#define DOT_ASM(stop)                                                        \
  __asm__("1:\n\t"                                                           \
          DOT_LOADW(0)                                                       \
          DOT_MUL(S0, 0, 0) DOT_MUL(S1, 1, 0)                                \
          DOT_MUL(S2, 2, 0) DOT_ADD(S0, 0)                                   \
          DOT_MUL(S0, 3, 0) DOT_ADD(S1, 1)                                   \
          DOT_LOADW(64)                                                      \
          DOT_MUL(S1, 0, 4) DOT_ADD(S2, 2)                                   \
          DOT_MUL(S2, 1, 4) DOT_ADD(S0, 3)                                   \
          DOT_MUL(S0, 2, 4) DOT_ADD(S1, 0)                                   \
          DOT_MUL(S1, 3, 4) DOT_ADD(S2, 1)                                   \
          DOT_LOADW(128)                                                     \
          DOT_MUL(S2, 0, 8) DOT_ADD(S0, 2)                                   \
          DOT_MUL(S0, 1, 8) DOT_ADD(S1, 3)                                   \
          DOT_MUL(S1, 2, 8) DOT_ADD(S2, 0)                                   \
          DOT_MUL(S2, 3, 8) DOT_ADD(S0, 1)                                   \
          DOT_LOADW(192)                                                     \
          DOT_MUL(S0, 0, 12) DOT_ADD(S1, 2)                                  \
          DOT_MUL(S1, 1, 12) DOT_ADD(S2, 3)                                  \
          DOT_MUL(S2, 2, 12) DOT_ADD(S0, 0)                                  \
          DOT_MUL(S0, 3, 12) DOT_ADD(S1, 1)                                  \
          DOT_ADD(S2, 2) DOT_ADD(S0, 3)                                      \
          "add $16, %[ka]\n\t"                                               \
          "add $256, %[w]\n\t"                                               \
          "cmp %[end], %[ka]\n\t"                                            \
          "jb 1b\n\t"                                                        \
          : [c00] "+x"(acc00), [c01] "+x"(acc01), [c10] "+x"(acc10),         \
            [c11] "+x"(acc11), [c20] "+x"(acc20), [c21] "+x"(acc21),         \
            [c30] "+x"(acc30), [c31] "+x"(acc31), [ka] "+r"(ka),             \
            [w] "+r"(wb)                                                     \
          : [a0] "r"(a0), [a1] "r"(a1), [a2] "r"(a2), [a3] "r"(a3),          \
            [end] "r"(stop)                                                  \
          : "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",     \
            "xmm15", "cc", "memory")
#endif

/* One block of mr <= MR rows (a constant at every call); the packed
 * strip's bias, weights and the epilogue constants come from the caller,
 * which loops over blocks. */
static inline __attribute__((always_inline)) void block_4x16(
    size_t mr, int half, size_t kbytes, const unsigned char *a, size_t lda,
    const int16_t *w, __m256i bias0, __m256i bias1, const qi_ymm_epilogue *e,
    char *cr, size_t ldc_bytes, const uint8_t *r, size_t ldr) {
  const unsigned char *a0 = a;
  const unsigned char *a1 = mr > 1 ? a0 + lda : a0;
  const unsigned char *a2 = mr > 2 ? a1 + lda : a1;
  const unsigned char *a3 = mr > 3 ? a2 + lda : a2;
#define INIT_ROW(i) __m256i acc##i##0 = bias0, acc##i##1 = bias1;
  ROWS(INIT_ROW)
#undef INIT_ROW

  /* int16 weights per group of 4 k: 2 pairs x NR columns x 2. */
  const int16_t *wb = w;
  size_t ka = 0;
#if defined(__AVX2__) && !defined(QT_X86_EMU_H)
  /* Two groups per iteration; an odd last group goes through GROUP. */
  const size_t ka_pairs = kbytes / 16 * 16;
  if (mr == MR && !half && ka_pairs) DOT_ASM(ka_pairs);
#endif
  for (; ka < kbytes; ka += 8, wb += NR * 4) GROUP(ka);

#define STORE_PAIR(i, j)                                                    \
  if (mr > i)                                                               \
    qi_ymm_store_row_pair(acc##i##0, acc##i##1, acc##j##0, acc##j##1,       \
                          mr > j, e, cr + i * ldc_bytes,                    \
                          mr > j ? cr + j * ldc_bytes : cr,                 \
                          r ? r + i * ldr : NULL,                           \
                          r && mr > j ? r + j * ldr : NULL);
  STORE_PAIR(0, 1) STORE_PAIR(2, 3)
#undef STORE_PAIR
}

void qi_u8s8_gemm_requant_ukernel_4x16c2__avx2(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p) {
  /* a is packed A (uint16, zero-padded to a multiple of 4 k). */
  const int32_t *bias = w;
  const int16_t *wb = (const int16_t *)((const int8_t *)w + NR * 4);
  const size_t kbytes = qi_u8s8_gemm_apack_stride(k);
  /* kbytes / 8 groups of NR * 4 int16 weights, then the multipliers. */
  const float *mult = (const float *)(wb + kbytes / 8 * NR * 4);
  const qi_ymm_epilogue e = qi_ymm_epilogue_make(mult, nc, p);
  const __m256i bias0 = _mm256_loadu_si256((const __m256i *)bias);
  const __m256i bias1 = _mm256_loadu_si256((const __m256i *)(bias + 8));
  const size_t ldc_bytes = ldc * (p->out_f32 ? sizeof(float) : 1);
  const unsigned char *ab = (const unsigned char *)a;
  char *cr = c;
  size_t m = 0;
  /* Full blocks, then a tail of 1..3 rows, each with a constant row count
   * so that the tail computes its own rows only (it used to compute 4). */
#define BLOCK(rows, half)                                                   \
  block_4x16(rows, half, kbytes, ab + m * lda, lda, wb, bias0, bias1, &e,   \
             cr + m * ldc_bytes, ldc_bytes, r ? r + m * ldr : NULL, ldr)
#define BLOCKS(half)                                                        \
  for (; m + MR <= mr; m += MR) BLOCK(MR, half);                            \
  switch (mr - m) {                                                         \
    case 1: BLOCK(1, half); break;                                          \
    case 2: BLOCK(2, half); break;                                          \
    case 3: BLOCK(3, half); break;                                          \
    default: break;                                                         \
  }
  if (nc <= 8) {
    BLOCKS(1)
  } else {
    BLOCKS(0)
  }
#undef BLOCKS
#undef BLOCK
}

#undef ROWS
#undef GROUP
#undef DOT_ROW
#if defined(__AVX2__) && !defined(QT_X86_EMU_H)
#undef S0
#undef S1
#undef S2
#undef DOT_LOADW
#undef DOT_MUL_
#undef DOT_ADD_
#undef DOT_MUL
#undef DOT_ADD
#undef DOT_ASM
#endif
