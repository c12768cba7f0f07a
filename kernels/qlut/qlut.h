/*
 * uint8 -> uint8 table kernels: any function of one quantized input whose
 * output is quantized is a 256-entry table, built once per node and
 * applied per byte (y = table[x]). Exact by construction: every path
 * reads the same table.
 *
 * Activation tables (qi_u8_lut_build), for each q in 0..255, in double:
 *   x = (q - zx) * sx                           dequantize
 *   r = f(x)                                    the activation, below
 *   v = r / sy
 *   table[q] = qmin                       if v is NaN,
 *              clamp_[qmin,qmax](rint(v) + zy)  otherwise
 * where rint rounds half to even (the default rounding mode) and the clamp
 * happens on v first (v = min(max(v, qmin - zy), qmax - zy)), so infinite
 * v saturates. This is the requantization rule of gemm/gemm.h evaluated in
 * double, as the table is built once.
 * The functions (ONNX definitions; alpha/beta from the node):
 *   RELU        max(x, 0)
 *   CLIP        min(max(x, alpha), beta)        (alpha = min, beta = max)
 *   LEAKY_RELU  x >= 0 ? x : alpha * x
 *   SIGMOID     1 / (1 + exp(-x))
 *   HARD_SIGMOID max(0, min(1, alpha * x + beta))   (ONNX: 0.2, 0.5)
 *   HARD_SWISH  x * max(0, min(1, x / 6 + 0.5))
 *   SILU        x / (1 + exp(-x))
 *   GELU        0.5 * x * (1 + erf(x / sqrt(2)))
 *   GELU_TANH   0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
 *   TANH        tanh(x)
 *   IDENTITY    x                               (a pure requantization)
 *   AFFINE      alpha * x + beta                (Mul or Add by a constant
 *                                               scalar, e.g. PP-LCNet's
 *                                               learnable affine blocks)
 *
 * Requantization tables (qi_u8_requant_table) use the float32 rule of
 * gemm/gemm.h and qelt/qelt.h exactly, so that a requantized Concat input
 * has the bytes a fused epilogue would give:
 *   v = (float)(q - zx) * mxy                   (float32, mxy = (float)(sx/sy))
 *   table[q] = the output rule of qelt/qelt.h on v.
 * With mxy == 1 and zx == zy this is the identity.
 *
 * Application: rows of c bytes, row i of x at x + i*ldx, of y at y + i*ldy;
 * exactly c bytes of each row read and written. y may equal x (with
 * ldy == ldx); no other overlap.
 */
#ifndef QI_KERNELS_QLUT_H
#define QI_KERNELS_QLUT_H

#include <stddef.h>
#include <stdint.h>

#include "qelt/qelt.h"

typedef enum qi_u8_act_kind {
  QI_U8_ACT_IDENTITY = 0,
  QI_U8_ACT_RELU,
  QI_U8_ACT_CLIP,
  QI_U8_ACT_LEAKY_RELU,
  QI_U8_ACT_SIGMOID,
  QI_U8_ACT_HARD_SIGMOID,
  QI_U8_ACT_HARD_SWISH,
  QI_U8_ACT_SILU,
  QI_U8_ACT_GELU,
  QI_U8_ACT_GELU_TANH,
  QI_U8_ACT_TANH,
  QI_U8_ACT_AFFINE,
  QI_U8_ACT_COUNT
} qi_u8_act_kind;

typedef struct qi_u8_act {
  qi_u8_act_kind kind;
  double alpha, beta; /* see the table above; ignored where unused */
} qi_u8_act;

/* The quantization of one side of a table. */
typedef struct qi_u8_quant {
  double scale; /* > 0 */
  int32_t zero; /* 0..255 */
} qi_u8_quant;

/* f(x) of the header comment, in double. */
double qi_u8_act_eval(const qi_u8_act *act, double x);

/* Fills table[256] for `act` from input quantization `in` to output `out`
 * with the output clamped to [qmin, qmax] (0 <= qmin <= qmax <= 255). */
void qi_u8_lut_build(const qi_u8_act *act, qi_u8_quant in, qi_u8_quant out,
                     int32_t qmin, int32_t qmax, uint8_t table[256]);

/* The float32 requantization table (header comment) for mxy and zx. */
void qi_u8_requant_table(int32_t zx, float mxy, const qi_u8_out *out,
                         uint8_t table[256]);

/* Whether that table is the identity, so a Concat input can be copied. */
static inline int qi_u8_requant_is_identity(int32_t zx, float mxy,
                                            const qi_u8_out *out) {
  return mxy == 1.0f && zx == out->zy && out->qmin == 0 && out->qmax == 255;
}

typedef void (*qi_u8_lut_fn)(size_t rows, size_t c, const uint8_t *x,
                             size_t ldx, uint8_t *y, size_t ldy,
                             const uint8_t table[256]);

void qi_u8_lut__scalar(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                       uint8_t *y, size_t ldy, const uint8_t table[256]);
/* vpshufb-based: 16 shuffles of 16-byte table slices per 32 bytes. */
void qi_u8_lut__avx2(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                     uint8_t *y, size_t ldy, const uint8_t table[256]);

#endif
