/*
 * uint8 x int8 GEMM with requantization: one microkernel signature for the
 * whole family, the packed-weights layout, and the packing functions.
 *
 * The math (DESIGN.md, "Quantization scheme"):
 *   A  uint8 [M x K] row-major, zero point za (0..255)   (activations)
 *   B  int8  [N x K] row-major, symmetric, -127..127    (weights, one row per
 *                                                        output channel)
 *   acc[m][n] = sum_k A[m][k]*B[n][k] + bias_folded[n]               (int32)
 *   bias_folded[n] = bias[n] - za * sum_k B[n][k]
 * which equals sum_k (A[m][k]-za)*B[n][k] + bias[n]: the zero point is folded
 * into the bias at pack time, so the hot loop is a plain u8 x s8 dot product
 * (what VNNI's vpdpbusd computes). Packing refuses weights for which
 * |bias_folded| + 255 * sum_k |B[n][k]| could leave int32, so no path ever
 * wraps.
 *
 * Epilogue, in this order, with float32 operations only (no FMA, no
 * fast-math; every ISA path produces the same bytes: the vector paths
 * compute the float value v with exactly these operations, and the AVX2
 * epilogue's clamp, split between float and saturating integer steps, is
 * shown equal to the one below for every v in gemm/epilogue-avx2.h):
 *   uint8 output:
 *     v = (float)acc * mult[n]
 *     if residual: v = v + (float)(r[m][n] - zr) * rmult      (fused add)
 *     v = max(v, lo); v = min(v, hi)  with lo = (float)(qmin - zy),
 *                                          hi = (float)(qmax - zy),
 *                                     max(x,y) = x > y ? x : y (maxps order),
 *                                     min(x,y) = x < y ? x : y (minps order)
 *     y = (int32)round_half_even(v) + zy          (cvtps2dq, lrintf)
 *   This equals saturate_[qmin,qmax](round_half_even(v) + zy): rounding is
 *   monotone and keeps the integer bounds, so clamping before rounding gives
 *   the same result and keeps cvtps2dq away from its out-of-range value.
 *   A NaN v (only from a NaN or infinite mult) becomes qmin.
 *   float32 output:
 *     y = (float)acc * mult[n]            (dequantized, for FP32 consumers)
 * Rounding follows the current rounding mode on every path (the default is
 * round-half-even). The residual is not defined for float32 output.
 */
#ifndef QI_KERNELS_GEMM_H
#define QI_KERNELS_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Largest K a packed weight matrix may have: 255 * 127 * 65536 < 2^31. */
#define QI_U8S8_GEMM_MAX_K 65536

/* Runtime epilogue parameters; build them with qi_u8s8_gemm_params_make. */
typedef struct qi_u8s8_gemm_params {
  int32_t out_f32;      /* 0: uint8 requantized output; 1: float32 */
  int32_t zy;           /* output zero point, 0..255 */
  int32_t qmin, qmax;   /* 0 <= qmin <= qmax <= 255 */
  float lo, hi;         /* (float)(qmin - zy), (float)(qmax - zy) */
  int32_t zr;           /* residual zero point, 0..255 */
  float rmult;          /* residual scale / output scale */
} qi_u8s8_gemm_params;

static inline qi_u8s8_gemm_params qi_u8s8_gemm_params_make(
    int out_f32, int32_t zy, int32_t qmin, int32_t qmax, int32_t zr,
    float rmult) {
  qi_u8s8_gemm_params p;
  p.out_f32 = out_f32 ? 1 : 0;
  p.zy = zy;
  p.qmin = qmin;
  p.qmax = qmax;
  p.lo = (float)(qmin - zy);
  p.hi = (float)(qmax - zy);
  p.zr = zr;
  p.rmult = rmult;
  return p;
}

/*
 * Packed weights: ceil(N / NR) strips, each `qi_u8s8_gemm_strip_bytes`
 * long and laid out as
 *   int32 bias_folded[NR]
 *   weights, ceil(K / 4) groups of 4 consecutive k:
 *     c4 int8 layout  (w_bytes 1, VNNI and scalar kernels):
 *       int8  w[g][j][t]    = B[n0 + j][4g + t]          (j < NR, t < 4)
 *     c2 int16 layout (w_bytes 2, AVX2 kernel, for vpmaddwd):
 *       int16 w[g][p][j][t] = B[n0 + j][4g + 2p + t]     (p, t < 2)
 *   float mult[NR]
 * Entries past N or past K are zero. Strips are multiples of 4*NR bytes;
 * with NR >= 16 a 64-byte aligned buffer keeps every strip 64-byte aligned
 * (the kernels use unaligned loads, so alignment is for speed only).
 */
static inline size_t qi_u8s8_gemm_strip_bytes(size_t k, size_t nr,
                                              size_t w_bytes) {
  size_t kpad = (k + 3) & ~(size_t)3;
  return nr * 4 + kpad * nr * w_bytes + nr * 4;
}

static inline size_t qi_u8s8_gemm_packed_bytes(size_t n, size_t k, size_t nr,
                                               size_t w_bytes) {
  return (n + nr - 1) / nr * qi_u8s8_gemm_strip_bytes(k, nr, w_bytes);
}

/* Packs B [n x k] (row stride ldb) for a kernel with tile width nr.
 * bias may be NULL (zero); mult holds n floats. Writes
 * qi_u8s8_gemm_packed_bytes(n, k, nr, w_bytes) bytes to `packed`.
 * Returns -1 on success, or the first channel whose accumulator could
 * overflow int32 (see the header comment); nothing is written then. */
typedef int64_t (*qi_u8s8_gemm_pack_fn)(size_t n, size_t k, size_t nr,
                                        const int8_t *b, size_t ldb,
                                        const int32_t *bias, int32_t za,
                                        const float *mult, void *packed);

int64_t qi_u8s8_gemm_pack_c4_i8(size_t n, size_t k, size_t nr,
                                const int8_t *b, size_t ldb,
                                const int32_t *bias, int32_t za,
                                const float *mult, void *packed);
int64_t qi_u8s8_gemm_pack_c2_i16(size_t n, size_t k, size_t nr,
                                 const int8_t *b, size_t ldb,
                                 const int32_t *bias, int32_t za,
                                 const float *mult, void *packed);

/*
 * Microkernel: computes an mr x nc tile (1 <= mr, 1 <= nc <= NR) over the
 * whole of K and writes its epilogue. Any mr is taken and run MR rows at a
 * time, so that a driver makes one call per strip and row tile: the
 * per-call set-up (bias, multipliers, epilogue constants) is then paid once
 * per strip instead of once per MR rows, which matters for small K.
 *   a    row 0 of the tile; row i at a + i*lda bytes. For kernels without
 *        A packing this is A itself, and exactly k bytes of each of the mr
 *        rows are read (no over-read). Kernels with A packing (the config
 *        says which) read rows packed by their qi_u8s8_gemm_apack_fn,
 *        exactly qi_u8s8_gemm_apack_stride(k) bytes of each.
 *   w    the start of one packed strip (layout above).
 *   c    the tile's first output; row i at c + i*ldc elements (uint8 or
 *        float per p->out_f32); writes exactly nc elements of mr rows.
 *   r    residual uint8 rows (row i at r + i*ldr), or NULL for none; reads
 *        exactly nc bytes of mr rows.
 * Kernels never allocate and keep no state.
 */
typedef void (*qi_u8s8_gemm_ukernel_fn)(size_t mr, size_t nc, size_t k,
                                        const uint8_t *a, size_t lda,
                                        const void *w, void *c, size_t ldc,
                                        const uint8_t *r, size_t ldr,
                                        const qi_u8s8_gemm_params *p);

/*
 * A packing, for kernels that want A widened (the AVX2 kernel: vpmaddwd
 * takes int16). Row i of A (stride lda) becomes row i of `packed` (stride
 * qi_u8s8_gemm_apack_stride(k) bytes): its k bytes zero-extended to uint16,
 * then zeros up to a multiple of 4 k. Little-endian, so each int32 of a
 * packed row is one k pair (a[2p] | a[2p+1] << 16).
 */
typedef void (*qi_u8s8_gemm_apack_fn)(size_t m, size_t k, const uint8_t *a,
                                      size_t lda, void *packed);

static inline size_t qi_u8s8_gemm_apack_stride(size_t k) {
  return ((k + 3) & ~(size_t)3) * sizeof(uint16_t);
}

void qi_u8s8_gemm_apack_u16__avx2(size_t m, size_t k, const uint8_t *a,
                                  size_t lda, void *packed);

void qi_u8s8_gemm_requant_ukernel_4x8c4__scalar(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p);
void qi_u8s8_gemm_requant_ukernel_4x16c2__avx2(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p);
void qi_u8s8_gemm_requant_ukernel_6x16c4__avxvnni(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p);
void qi_u8s8_gemm_requant_ukernel_8x32c4__avx512vnni(
    size_t mr, size_t nc, size_t k, const uint8_t *a, size_t lda,
    const void *w, void *c, size_t ldc, const uint8_t *r, size_t ldr,
    const qi_u8s8_gemm_params *p);

#endif
