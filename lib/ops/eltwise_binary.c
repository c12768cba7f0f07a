/* Row kernels of the binary element-wise ops (see eltwise_binary.h). */
#define QI_VEC_BYTES 16
#include "ops/eltwise_binary.h"

#include <math.h>
#include <string.h>

#include "ops/eltwise_vec.h"

/* ---- float32 ---- */

/* o = EXPR(x, y) over the row: whole vectors for the three stride
 * patterns, then the rest (or a row where both inputs are scalars) in
 * zero-padded vectors, so every element sees the same lane arithmetic. */
#define F32_ROW(EXPR)                                   \
  do {                                                  \
    int64_t i = 0;                                      \
    if (sa && sb) {                                     \
      for (; i + QI_VW <= n; i += QI_VW) {              \
        qi_vf x = qi_vload(a + i), y = qi_vload(b + i); \
        (void)y;                                        \
        qi_vstore(o + i, (EXPR));                       \
      }                                                 \
    } else if (sa) {                                    \
      const qi_vf y = qi_vsplat(b[0]);                  \
      (void)y;                                          \
      for (; i + QI_VW <= n; i += QI_VW) {              \
        qi_vf x = qi_vload(a + i);                      \
        qi_vstore(o + i, (EXPR));                       \
      }                                                 \
    } else if (sb) {                                    \
      const qi_vf x = qi_vsplat(a[0]);                  \
      for (; i + QI_VW <= n; i += QI_VW) {              \
        qi_vf y = qi_vload(b + i);                      \
        (void)y;                                        \
        qi_vstore(o + i, (EXPR));                       \
      }                                                 \
    }                                                   \
    for (; i < n; i += QI_VW) {                         \
      float ta_[QI_VW] = {0}, tb_[QI_VW] = {0};         \
      int64_t r_ = n - i < QI_VW ? n - i : QI_VW;       \
      for (int64_t j_ = 0; j_ < r_; j_++) {             \
        ta_[j_] = a[(i + j_) * sa];                     \
        tb_[j_] = b[(i + j_) * sb];                     \
      }                                                 \
      qi_vf x = qi_vload(ta_), y = qi_vload(tb_);       \
      (void)y;                                          \
      qi_vstore(ta_, (EXPR));                           \
      memcpy(o + i, ta_, (size_t)r_ * sizeof(float));   \
    }                                                   \
  } while (0)

/* Pow with the exponents 2 and 0.5 (the common LayerNorm / RMS forms)
 * computed exactly as x*x and sqrtf when the exponent is one scalar. */
static void pow_row(const float *a, int64_t sa, const float *b, int64_t sb,
                    float *o, int64_t n) {
  if (!sb && sa) {
    float e = b[0];
    if (e == 2.0f) {
      F32_ROW(x * x);
      return;
    }
    if (e == 0.5f) {
      for (int64_t i = 0; i < n; i++) o[i] = sqrtf(a[i]);
      return;
    }
  }
  for (int64_t i = 0; i < n; i++) o[i] = powf(a[i * sa], b[i * sb]);
}

/* numpy.mod on floats: the remainder takes the divisor's sign (a zero
 * remainder too); fmodf is exact, so adding y back rounds once. */
static float mod_f32(float x, float y) {
  float r = fmodf(x, y);
  if (r == 0.0f) return copysignf(0.0f, y);
  return (r < 0.0f) != (y < 0.0f) ? r + y : r;
}

void qi_binary_row_f32(qi_bin_op op, const float *a, int64_t sa, const float *b,
                       int64_t sb, float *o, int64_t n) {
  switch (op) {
    case QI_BIN_ADD: F32_ROW(x + y); break;
    case QI_BIN_SUB: F32_ROW(x - y); break;
    case QI_BIN_MUL: F32_ROW(x * y); break;
    case QI_BIN_DIV: F32_ROW(x / y); break;
    case QI_BIN_MAX: F32_ROW(qi_vsel((x > y) | (x != x), x, y)); break;
    case QI_BIN_MIN: F32_ROW(qi_vsel((x < y) | (x != x), x, y)); break;
    case QI_BIN_PRELU: F32_ROW(qi_vsel(x < 0.0f, x * y, x)); break;
    case QI_BIN_POW: pow_row(a, sa, b, sb, o, n); break;
    case QI_BIN_FMOD:
      for (int64_t i = 0; i < n; i++) o[i] = fmodf(a[i * sa], b[i * sb]);
      break;
    case QI_BIN_MOD:
      for (int64_t i = 0; i < n; i++) o[i] = mod_f32(a[i * sa], b[i * sb]);
      break;
    default: break;
  }
}

/* ---- integers: shape arithmetic, small; plain loops ---- */

/* Division and remainder in int64 (no int8..int32 overflow; INT64_MIN/-1
 * wraps). A zero divisor gives 0, as numpy does, instead of a trap. */
static inline int64_t int_div(int64_t x, int64_t y) {
  if (y == 0) return 0;
  return y == -1 ? (int64_t)(0 - (uint64_t)x) : x / y;
}
static inline int64_t int_fmod(int64_t x, int64_t y) {
  return y == 0 || y == -1 ? 0 : x % y;
}
static inline int64_t int_mod(int64_t x, int64_t y) {
  int64_t r = int_fmod(x, y);
  return r != 0 && ((r < 0) != (y < 0)) ? r + y : r;
}

#define INT_LOOP(T, EXPR)           \
  for (int64_t i = 0; i < n; i++) { \
    T x = a[i * sa], y = b[i * sb]; \
    o[i] = (T)(EXPR);               \
  }

/* Sums and products wrap through the unsigned type. */
#define INT_ROW(T, UT)                                     \
  do {                                                     \
    const T *a = a_, *b = b_;                              \
    T *o = o_;                                             \
    switch (op) {                                          \
      case QI_BIN_ADD: INT_LOOP(T, (UT)x + (UT)y) break;   \
      case QI_BIN_SUB: INT_LOOP(T, (UT)x - (UT)y) break;   \
      case QI_BIN_MUL: INT_LOOP(T, (UT)x *(UT)y) break;    \
      case QI_BIN_DIV: INT_LOOP(T, int_div(x, y)) break;   \
      case QI_BIN_MOD: INT_LOOP(T, int_mod(x, y)) break;   \
      case QI_BIN_FMOD: INT_LOOP(T, int_fmod(x, y)) break; \
      case QI_BIN_MAX: INT_LOOP(T, x > y ? x : y) break;   \
      case QI_BIN_MIN: INT_LOOP(T, x < y ? x : y) break;   \
      default: break;                                      \
    }                                                      \
  } while (0)

void qi_binary_row_int(qi_dtype dt, qi_bin_op op, const void *a_, int64_t sa,
                       const void *b_, int64_t sb, void *o_, int64_t n) {
  switch (dt) {
    case QI_INT8: INT_ROW(int8_t, uint8_t); break;
    case QI_UINT8: INT_ROW(uint8_t, uint32_t); break;
    case QI_INT32: INT_ROW(int32_t, uint32_t); break;
    case QI_INT64: INT_ROW(int64_t, uint64_t); break;
    default: break;
  }
}

/* Pow with an int32/int64 base. Integer exponents: exact powers by
 * squaring that wrap like numpy's; a negative exponent truncates 1/x^e
 * toward zero (0 unless |x| = 1). Float exponents: pow in double truncated
 * toward zero and saturated, as ONNX Runtime's cast does. */
static int64_t ipow_wrap(int64_t x, int64_t e) {
  if (e < 0) return x == 1 ? 1 : (x == -1 ? ((e & 1) ? -1 : 1) : 0);
  uint64_t r = 1, b = (uint64_t)x;
  for (; e; e >>= 1) {
    if (e & 1) r *= b;
    b *= b;
  }
  return (int64_t)r;
}

static int64_t fpow_trunc(double x, double e) {
  double r = trunc(pow(x, e));
  if (r != r) return 0;
  if (r >= 9223372036854775807.0) return INT64_MAX;
  if (r <= -9223372036854775808.0) return INT64_MIN;
  return (int64_t)r;
}

static int64_t load_i64(qi_dtype dt, const void *p, int64_t i) {
  return dt == QI_INT32 ? ((const int32_t *)p)[i] : ((const int64_t *)p)[i];
}

void qi_pow_row_int(qi_dtype xdt, const void *a, int64_t sa, qi_dtype edt,
                    const void *b, int64_t sb, void *o, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    int64_t x = load_i64(xdt, a, i * sa), r;
    if (edt == QI_FLOAT32)
      r = fpow_trunc((double)x, ((const float *)b)[i * sb]);
    else
      r = ipow_wrap(x, load_i64(edt, b, i * sb));
    if (xdt == QI_INT32)
      ((int32_t *)o)[i] = (int32_t)(uint32_t)(uint64_t)r;
    else
      ((int64_t *)o)[i] = r;
  }
}

/* ---- comparisons and logic: bool out ---- */

#define CMP_LOOP(T, EXPR)           \
  for (int64_t i = 0; i < n; i++) { \
    T x = a[i * sa], y = b[i * sb]; \
    o[i] = (uint8_t)(EXPR);         \
  }

#define CMP_ROW(T)                                             \
  do {                                                         \
    const T *a = a_, *b = b_;                                  \
    switch (op) {                                              \
      case QI_BIN_EQ: CMP_LOOP(T, x == y) break;               \
      case QI_BIN_LT: CMP_LOOP(T, x < y) break;                \
      case QI_BIN_GT: CMP_LOOP(T, x > y) break;                \
      case QI_BIN_LE: CMP_LOOP(T, x <= y) break;               \
      case QI_BIN_GE: CMP_LOOP(T, x >= y) break;               \
      case QI_BIN_AND: CMP_LOOP(T, (x != 0) & (y != 0)) break; \
      case QI_BIN_OR: CMP_LOOP(T, (x != 0) | (y != 0)) break;  \
      case QI_BIN_XOR: CMP_LOOP(T, (x != 0) ^ (y != 0)) break; \
      default: break;                                          \
    }                                                          \
  } while (0)

void qi_binary_row_bool(qi_dtype dt, qi_bin_op op, const void *a_, int64_t sa,
                        const void *b_, int64_t sb, uint8_t *o, int64_t n) {
  switch (dt) {
    case QI_FLOAT32: CMP_ROW(float); break;
    case QI_INT8: CMP_ROW(int8_t); break;
    case QI_UINT8:
    case QI_BOOL: CMP_ROW(uint8_t); break;
    case QI_INT32: CMP_ROW(int32_t); break;
    case QI_INT64: CMP_ROW(int64_t); break;
    default: break;
  }
}

/* ---- Where ---- */

#define WHERE_ROW(T)                               \
  do {                                             \
    const T *xp = x, *yp = y;                      \
    T *op = o;                                     \
    for (int64_t i = 0; i < n; i++)                \
      op[i] = c[i * sc] ? xp[i * sx] : yp[i * sy]; \
  } while (0)

void qi_where_row(size_t elem, const uint8_t *c, int64_t sc, const void *x,
                  int64_t sx, const void *y, int64_t sy, void *o, int64_t n) {
  switch (elem) {
    case 1: WHERE_ROW(uint8_t); break;
    case 2: WHERE_ROW(uint16_t); break;
    case 4: WHERE_ROW(uint32_t); break;
    case 8: WHERE_ROW(uint64_t); break;
    default: break;
  }
}
