/*
 * uint8 element-wise kernels of the INT8 path: Add and Mul of two quantized
 * tensors, and the channel Concat with requantization. Activations are
 * uint8, one scale s and zero point z per tensor: real = s * (q - z).
 *
 * The output rule (shared with gemm/gemm.h, and by the qpool and qlut
 * families through qi_u8_out): from a float32 v in units of the output
 * scale,
 *   v = max(v, lo); v = min(v, hi)    lo = (float)(qmin - zy),
 *                                     hi = (float)(qmax - zy),
 *                                     max(x,y) = x > y ? x : y (maxps),
 *                                     min(x,y) = x < y ? x : y (minps)
 *   y = (int32)round_half_even(v) + zy       (lrintf, cvtps2dq)
 * = saturate_[qmin,qmax](round_half_even(v) + zy); a NaN v gives qmin.
 * qmin/qmax are 0/255, or narrower for a fused Relu (qmin = zy) or Clip.
 *
 * Add (float32, in this order, no FMA; every path does the same operations
 * and so writes the same bytes):
 *   v = (float)(a - za) * ma + (float)(b - zb) * mb,   ma = sa/sy, mb = sb/sy
 * Mul:
 *   v = (float)((a - za) * (b - zb)) * mab,             mab = sa*sb/sy
 *   (the product is an integer of magnitude <= 65025, exact in float32, so
 *   the vector paths may form it as a float product of the two differences)
 * then the output rule. The multipliers are rounded to float32 once, by
 * the *_params_make functions below (from double).
 *
 * Layout and broadcast: a and y hold n = rows * c contiguous elements; b
 * holds n elements (QI_U8_BCAST_NONE), one row of c elements repeated for
 * every row (QI_U8_BCAST_ROW: NHWC [.., C] op [C]) or a single element
 * (QI_U8_BCAST_SCALAR). Both formulas are symmetric in (a, za, ma) and
 * (b, zb, mb) bit for bit (float addition and integer products commute),
 * so a caller with the broadcast operand first swaps the operands. y may
 * be a itself, or b for QI_U8_BCAST_NONE; no other overlap. Kernels read
 * and write exactly those elements (no over-read).
 */
#ifndef QI_KERNELS_QELT_H
#define QI_KERNELS_QELT_H

#include <stddef.h>
#include <stdint.h>

/* The uint8 output rule's parameters; build with qi_u8_out_make. */
typedef struct qi_u8_out {
  int32_t zy;         /* output zero point, 0..255 */
  int32_t qmin, qmax; /* 0 <= qmin <= qmax <= 255 */
  float lo, hi;       /* (float)(qmin - zy), (float)(qmax - zy) */
} qi_u8_out;

static inline qi_u8_out qi_u8_out_make(int32_t zy, int32_t qmin, int32_t qmax) {
  qi_u8_out o;
  o.zy = zy;
  o.qmin = qmin;
  o.qmax = qmax;
  o.lo = (float)(qmin - zy);
  o.hi = (float)(qmax - zy);
  return o;
}

typedef enum qi_u8_bcast {
  QI_U8_BCAST_NONE = 0, /* b has n elements */
  QI_U8_BCAST_ROW,      /* b has c elements, one per channel */
  QI_U8_BCAST_SCALAR    /* b has 1 element */
} qi_u8_bcast;

typedef struct qi_u8_binary_params {
  int32_t za, zb; /* 0..255 */
  float ma, mb;   /* Add: sa/sy, sb/sy. Mul: ma = sa*sb/sy, mb unused */
  qi_u8_out out;
} qi_u8_binary_params;

static inline qi_u8_binary_params qi_u8_add_params_make(double sa, int32_t za,
                                                        double sb, int32_t zb,
                                                        double sy, int32_t zy,
                                                        int32_t qmin,
                                                        int32_t qmax) {
  qi_u8_binary_params p;
  p.za = za;
  p.zb = zb;
  p.ma = (float)(sa / sy);
  p.mb = (float)(sb / sy);
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

static inline qi_u8_binary_params qi_u8_mul_params_make(double sa, int32_t za,
                                                        double sb, int32_t zb,
                                                        double sy, int32_t zy,
                                                        int32_t qmin,
                                                        int32_t qmax) {
  qi_u8_binary_params p;
  p.za = za;
  p.zb = zb;
  p.ma = (float)(sa * sb / sy);
  p.mb = 0.0f;
  p.out = qi_u8_out_make(zy, qmin, qmax);
  return p;
}

typedef void (*qi_u8_binary_fn)(size_t rows, size_t c, const uint8_t *a,
                                const uint8_t *b, qi_u8_bcast bcast, uint8_t *y,
                                const qi_u8_binary_params *p);

void qi_u8_add__scalar(size_t rows, size_t c, const uint8_t *a,
                       const uint8_t *b, qi_u8_bcast bcast, uint8_t *y,
                       const qi_u8_binary_params *p);
void qi_u8_add__avx2(size_t rows, size_t c, const uint8_t *a, const uint8_t *b,
                     qi_u8_bcast bcast, uint8_t *y,
                     const qi_u8_binary_params *p);
void qi_u8_mul__scalar(size_t rows, size_t c, const uint8_t *a,
                       const uint8_t *b, qi_u8_bcast bcast, uint8_t *y,
                       const qi_u8_binary_params *p);
void qi_u8_mul__avx2(size_t rows, size_t c, const uint8_t *a, const uint8_t *b,
                     qi_u8_bcast bcast, uint8_t *y,
                     const qi_u8_binary_params *p);

/*
 * Concat along channels (NHWC), one input at a time: for each of `rows`
 * pixels, the c channels of x (pixel i at x + i*ldx) go to y + i*ldy, either
 * copied (table == NULL: the input has the output's scale and zero point)
 * or through a 256-entry table, y = table[x]. The requantizing table is
 * qi_u8_requant_table (qlut/qlut.h): table[q] is the output rule applied to
 * v = (float)(q - zx) * mxy, mxy = sx/sy, so a Concat input costs one
 * lookup per byte whatever its scales. ldx >= c, ldy >= c; exactly c bytes
 * of each pixel are read and written.
 */
typedef void (*qi_u8_concat_fn)(size_t rows, size_t c, const uint8_t *x,
                                size_t ldx, uint8_t *y, size_t ldy,
                                const uint8_t *table);

void qi_u8_concat__scalar(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                          uint8_t *y, size_t ldy, const uint8_t *table);
void qi_u8_concat__avx2(size_t rows, size_t c, const uint8_t *x, size_t ldx,
                        uint8_t *y, size_t ldy, const uint8_t *table);

#endif
