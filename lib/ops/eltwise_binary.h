/*
 * Row kernels of the binary element-wise ops: o[i] = a[i*sa] op b[i*sb]
 * for i < n, where the steps sa and sb are 0 (a broadcast scalar) or 1.
 * The op is switched on once per row; float32 rows run as vectors. Rows may
 * be written in place over an input of the same index (o == a or o == b).
 */
#ifndef QI_OPS_ELTWISE_BINARY_H
#define QI_OPS_ELTWISE_BINARY_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

typedef enum qi_bin_op {
  QI_BIN_ADD = 0,
  QI_BIN_SUB,
  QI_BIN_MUL,
  QI_BIN_DIV,  /* integers: truncated toward zero, like C and ONNX */
  QI_BIN_POW,  /* float32 (qi_binary_row_f32) or qi_pow_row_int */
  QI_BIN_MOD,  /* result takes the divisor's sign (Python, numpy.mod) */
  QI_BIN_FMOD, /* C fmod / %: result takes the dividend's sign */
  QI_BIN_MAX,  /* float32: NaN wins, like numpy.maximum */
  QI_BIN_MIN,
  QI_BIN_PRELU, /* a < 0 ? a*b : a; float32 only */
  QI_BIN_EQ,    /* comparisons write bool (uint8 0/1) */
  QI_BIN_LT,
  QI_BIN_GT,
  QI_BIN_LE,
  QI_BIN_GE,
  QI_BIN_AND, /* logic: bool inputs */
  QI_BIN_OR,
  QI_BIN_XOR
} qi_bin_op;

static inline int qi_bin_op_is_compare(qi_bin_op op) {
  return op >= QI_BIN_EQ && op <= QI_BIN_GE;
}
static inline int qi_bin_op_is_logic(qi_bin_op op) { return op >= QI_BIN_AND; }

/* Arithmetic (ADD..PRELU) on float32. */
void qi_binary_row_f32(qi_bin_op op, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *o, int64_t n);

/* Arithmetic (ADD..MIN except POW) on integers of type dt (INT8, UINT8,
 * INT32, INT64): wrapping, as numpy does; division or remainder by zero
 * gives 0 (numpy's result) rather than a trap. */
void qi_binary_row_int(qi_dtype dt, qi_bin_op op, const void *a, int64_t sa,
                       const void *b, int64_t sb, void *o, int64_t n);

/* Pow with an INT32 or INT64 base (output of the base's type) and an
 * INT32, INT64 or FLOAT32 exponent. */
void qi_pow_row_int(qi_dtype xdt, const void *a, int64_t sa, qi_dtype edt,
                    const void *b, int64_t sb, void *o, int64_t n);

/* Comparisons (EQ..GE) on FLOAT32, INT8, UINT8, INT32, INT64 or BOOL;
 * logic ops (AND..XOR) on BOOL. Writes 0/1 bytes. */
void qi_binary_row_bool(qi_dtype dt, qi_bin_op op, const void *a, int64_t sa,
                        const void *b, int64_t sb, uint8_t *o, int64_t n);

/* o[i] = c[i*sc] ? x[i*sx] : y[i*sy] for elements of `elem` bytes
 * (1, 2, 4 or 8). */
void qi_where_row(size_t elem, const uint8_t *c, int64_t sc, const void *x,
                  int64_t sx, const void *y, int64_t sy, void *o, int64_t n);

#endif
