/*
 * FP16 on the CPU: IEEE binary16 in storage (activations and weights),
 * float32 arithmetic. Values are widened to float32 exactly, computed as
 * in the FP32 kernels and rounded back to binary16 once, at the output,
 * round to nearest even (F16C vcvtps2ph with imm 0 = RNE).
 *
 * This header: the element conversions (the scalar rows give the same
 * bits as F16C on every input: NaN payloads are kept and quieted, Inf,
 * subnormals, overflow to Inf), the epilogue shared by every FP16 op and
 * the kernel set of one ISA. The GEMM (fp16/gemm.h) and the convolutions
 * (fp16/conv.h) build on them and on the FP32 microkernels.
 */
#ifndef QI_KERNELS_FP16_FP16_H
#define QI_KERNELS_FP16_FP16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fp32/conv_gemm.h"
#include "fp32/dwconv.h"

/* ---- one element (static inline: the rows, the tests and the graph
 * lowering share them) --------------------------------------------------- */

/* Exact widening. A signalling NaN is quieted (bit 22 set), as
 * vcvtph2ps does; its payload is kept. */
static inline float qi_f16_to_f32_one(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (ex == 0) {
    /* Zero or subnormal: man * 2^-24, exact in float32. */
    float v = (float)man * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  if (ex == 31)
    bits = sign | 0x7f800000u | (man << 13) | (man ? 0x400000u : 0u);
  else
    bits = sign | ((ex + 112u) << 23) | (man << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Round to nearest even. NaN: sign and the top 10 payload bits kept,
 * quiet bit set (vcvtps2ph). |x| >= 65520 becomes Inf; |x| <= 2^-25
 * becomes a signed zero (2^-25 is the tie between 0 and the smallest
 * subnormal 2^-24; zero is even). */
static inline uint16_t qi_f16_from_f32_one(float f) {
  uint32_t b;
  memcpy(&b, &f, sizeof b);
  uint16_t sign = (uint16_t)((b >> 16) & 0x8000u);
  uint32_t a = b & 0x7fffffffu;
  if (a > 0x7f800000u) /* NaN */
    return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
  if (a >= 0x47800000u) return (uint16_t)(sign | 0x7c00u); /* >= 2^16 */
  if (a >= 0x38800000u) {
    /* Normal half: rebias the exponent (127 - 15 = 112), drop 13 bits
     * with RNE; a carry out of the fraction bumps the exponent, out of
     * exponent 30 it gives 0x7c00 (Inf), which is right for >= 65520. */
    uint32_t m = a - 0x38000000u;
    return (uint16_t)(sign | ((m + 0xfffu + ((m >> 13) & 1u)) >> 13));
  }
  if (a <= 0x33000000u) return sign; /* <= 2^-25 */
  /* Subnormal half in units of 2^-24: (1.f * 2^23) * 2^(e - 150 + 24). */
  uint32_t e = a >> 23, mant = (a & 0x7fffffu) | 0x800000u;
  uint32_t shift = 126u - e; /* 14..24 here */
  uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u);
  uint32_t half = 1u << (shift - 1u);
  if (rem > half || (rem == half && (q & 1u))) q++;
  return (uint16_t)(sign | q);
}

/* ---- rows --------------------------------------------------------------- */

typedef void (*qi_f16_to_f32_fn)(const uint16_t *src, float *dst, size_t n);
typedef void (*qi_f16_from_f32_fn)(const float *src, uint16_t *dst, size_t n);

void qi_f16_to_f32__scalar(const uint16_t *src, float *dst, size_t n);
void qi_f16_from_f32__scalar(const float *src, uint16_t *dst, size_t n);
/* Need F16C (and AVX). Read and write exactly n elements. */
void qi_f16_to_f32__f16c(const uint16_t *src, float *dst, size_t n);
void qi_f16_from_f32__f16c(const float *src, uint16_t *dst, size_t n);

/* ---- epilogue ------------------------------------------------------------
 *   v = (src[i] + (bias_vec ? bias_vec[i] : bias)) + res[i]   (res optional,
 *       fp16, widened exactly)
 *   v = act(v)   NONE; RELU v > 0 ? v : 0 (NaN -> 0); CLIP v < lo ? lo :
 *       (v > hi ? hi : v) (NaN passes), the formulas of fp32/bias_act.h
 *   dst[i] = fp16 RNE of v, or v itself when dst_f32.
 * The order (bias, residual, activation) is the unfused graph's. res may
 * alias dst when both are fp16 (same index only). */
typedef struct qi_f16_act {
  int kind;          /* QI_F32_ACT_NONE, _RELU or _CLIP (fp32/bias_act.h) */
  float alpha, beta; /* CLIP: min, max */
} qi_f16_act;

typedef void (*qi_f16_epilogue_fn)(const qi_f16_act *act, const float *src,
                                   const float *bias_vec, float bias,
                                   const uint16_t *res, void *dst, int dst_f32,
                                   size_t n);

void qi_f16_epilogue__scalar(const qi_f16_act *act, const float *src,
                             const float *bias_vec, float bias,
                             const uint16_t *res, void *dst, int dst_f32,
                             size_t n);
/* Needs AVX2 and F16C. */
void qi_f16_epilogue__f16c(const qi_f16_act *act, const float *src,
                           const float *bias_vec, float bias,
                           const uint16_t *res, void *dst, int dst_f32,
                           size_t n);

/* ---- GEMM microkernel with fp16 weights ----------------------------------
 *   C[i][j] (+)= sum_{p < kc} A[p * 6 + i] * float(B[p * 16 + j])
 * for i < mr (<= 6), all 16 j: A a float32 panel (k-major, 6 rows per p,
 * rows past the matrix zero), B a packed fp16 weight panel (16 columns per
 * p, zero past the matrix). C holds 16 floats per row (row stride ldc);
 * accumulate = 0 overwrites, 1 adds. */
typedef void (*qi_f16_gemm_ukernel_fn)(size_t kc, const float *a,
                                       const uint16_t *b, float *c, size_t ldc,
                                       size_t mr, int accumulate);

void qi_f16_gemm_ukernel_6x16__scalar(size_t kc, const float *a,
                                      const uint16_t *b, float *c, size_t ldc,
                                      size_t mr, int accumulate);
/* Needs AVX2, FMA and F16C. */
void qi_f16_gemm_ukernel_6x16__f16c(size_t kc, const float *a,
                                    const uint16_t *b, float *c, size_t ldc,
                                    size_t mr, int accumulate);

/* ---- the kernel set of one ISA ------------------------------------------ */

typedef struct qi_f16_kernels {
  qi_f16_to_f32_fn to_f32;
  qi_f16_from_f32_fn from_f32;
  qi_f16_epilogue_fn epilogue;
  qi_f16_gemm_ukernel_fn gemm;     /* GEMM: fp16 weights, float A */
  qi_f32_gemm_ukernel_fn f32_gemm; /* convolution tiles (fp32/conv_gemm.h) */
  qi_f32_gemm_pack_b_fn f32_pack_b;
  qi_f32_dwconv2d_fn f32_dw; /* depthwise planes (fp32/dwconv.h) */
} qi_f16_kernels;

/* Scalar C: always available. */
qi_f16_kernels qi_f16_kernels_scalar(void);
/* AVX2 + FMA + F16C: only where the CPU and OS run them. */
qi_f16_kernels qi_f16_kernels_f16c(void);

#endif
