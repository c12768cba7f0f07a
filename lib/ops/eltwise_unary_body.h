/*
 * Body of the float32 unary kernel, compiled once per vector width: the
 * including file defines QI_VEC_BYTES and QI_UNARY_FN (the function name)
 * and includes this file once. One switch on the kind outside the loops;
 * each loop is whole vectors plus one zero-padded vector for the tail, so
 * every element goes through the same lane arithmetic.
 */
#include <math.h>
#include <string.h>

#include "ops/eltwise.h"
#include "ops/eltwise_math.h"

/* max(v, lo) then min(., hi): with lo > hi every lane is hi, as ONNX
 * Clip specifies; NaN lanes stay NaN. */
static inline qi_vf qi_v_clip(qi_vf v, qi_vf lo, qi_vf hi) {
  v = qi_vsel(v < lo, lo, v);
  return qi_vsel(v > hi, hi, v);
}

/* Applies EXPR (an expression of the vector v) to x[0..n) into y. */
#define QI_UNARY_LOOP(EXPR)                           \
  do {                                                \
    size_t i_ = 0;                                    \
    for (; i_ + QI_VW <= n; i_ += QI_VW) {            \
      qi_vf v = qi_vload(x + i_);                     \
      qi_vstore(y + i_, (EXPR));                      \
    }                                                 \
    if (i_ < n) {                                     \
      float buf_[QI_VW] = {0};                        \
      memcpy(buf_, x + i_, (n - i_) * sizeof(float)); \
      qi_vf v = qi_vload(buf_);                       \
      qi_vstore(buf_, (EXPR));                        \
      memcpy(y + i_, buf_, (n - i_) * sizeof(float)); \
    }                                                 \
  } while (0)

void QI_UNARY_FN(const qi_unary_params *p, const float *x, float *y, size_t n) {
  const qi_vf alpha = qi_vsplat(p->alpha), beta = qi_vsplat(p->beta);
  const qi_vf gamma = qi_vsplat(p->gamma);
  const qi_vf zero = qi_vsplat(0.0f), one = qi_vsplat(1.0f);
  switch (p->kind) {
    case QI_UN_IDENTITY:
      if (x != y) memmove(y, x, n * sizeof(float));
      break;
    case QI_UN_RELU: QI_UNARY_LOOP(qi_vsel(v < 0.0f, zero, v)); break;
    case QI_UN_LEAKY_RELU:
      QI_UNARY_LOOP(qi_vsel(v < 0.0f, v * alpha, v));
      break;
    case QI_UN_CLIP:
      /* min then max, so min > max gives max as numpy.clip does. */
      QI_UNARY_LOOP(qi_v_clip(v, alpha, beta));
      break;
    case QI_UN_SIGMOID: QI_UNARY_LOOP(qi_v_sigmoid(v)); break;
    case QI_UN_HARD_SIGMOID: {
      QI_UNARY_LOOP(
          qi_vmin_keepnan(qi_vmax_keepnan(alpha * v + beta, 0.0f), 1.0f));
      break;
    }
    case QI_UN_HARD_SWISH: {
      const float sixth = 1.0f / 6.0f;
      QI_UNARY_LOOP(
          v * qi_vmin_keepnan(qi_vmax_keepnan(v * sixth + 0.5f, 0.0f), 1.0f));
      break;
    }
    case QI_UN_TANH: QI_UNARY_LOOP(qi_v_tanh(v)); break;
    case QI_UN_ERF: QI_UNARY_LOOP(qi_v_erf(v)); break;
    case QI_UN_GELU: QI_UNARY_LOOP(qi_v_gelu_erf(v)); break;
    case QI_UN_GELU_TANH: QI_UNARY_LOOP(qi_v_gelu_tanh(v)); break;
    case QI_UN_EXP: QI_UNARY_LOOP(qi_v_exp(v)); break;
    case QI_UN_LOG: QI_UNARY_LOOP(qi_v_log(v)); break;
    case QI_UN_SQRT:
      /* Rare and memory-bound; sqrtf is exact and the scalar loop keeps
       * errno semantics out of the vector code. */
      for (size_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
      break;
    case QI_UN_NEG: QI_UNARY_LOOP(-v); break;
    case QI_UN_ABS: QI_UNARY_LOOP(qi_vabs(v)); break;
    case QI_UN_RECIPROCAL: QI_UNARY_LOOP(one / v); break;
    case QI_UN_FLOOR: QI_UNARY_LOOP(qi_v_floor(v)); break;
    case QI_UN_CEIL: QI_UNARY_LOOP(qi_v_ceil(v)); break;
    case QI_UN_ROUND: QI_UNARY_LOOP(qi_v_round_even(v)); break;
    case QI_UN_SIGN:
      /* +-0 give +0, NaN stays NaN. */
      QI_UNARY_LOOP(qi_vsel(v > 0.0f, one,
                            qi_vsel(v < 0.0f, -one, qi_vsel(v != v, v, zero))));
      break;
    case QI_UN_SOFTPLUS: QI_UNARY_LOOP(qi_v_softplus(v)); break;
    case QI_UN_SOFTSIGN: QI_UNARY_LOOP(v / (one + qi_vabs(v))); break;
    case QI_UN_ELU:
      QI_UNARY_LOOP(qi_vsel(v > 0.0f, v, alpha * qi_v_expm1_neg(v)));
      break;
    case QI_UN_SELU:
      QI_UNARY_LOOP(gamma * qi_vsel(v > 0.0f, v, alpha * qi_v_expm1_neg(v)));
      break;
    case QI_UN_THRESHOLDED_RELU:
      QI_UNARY_LOOP(qi_vsel(v > alpha, v, zero));
      break;
    case QI_UN_SILU: QI_UNARY_LOOP(qi_v_mul_sigmoid(v, v)); break;
    case QI_UN_MISH: QI_UNARY_LOOP(v * qi_v_tanh(qi_v_softplus(v))); break;
    case QI_UN_COUNT: break;
  }
}

#undef QI_UNARY_LOOP
