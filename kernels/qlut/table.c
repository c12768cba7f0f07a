/* Building the 256-entry tables of qlut/qlut.h (ISA-independent, once per
 * node, so double precision and libm are affordable). */
#include <math.h>

#include "qlut/qlut.h"
#include "ref/qlut_ref.h"

static double clampd(double x, double lo, double hi) {
  return x < lo ? lo : x > hi ? hi : x;
}

double qi_u8_act_eval(const qi_u8_act *act, double x) {
  switch (act->kind) {
    case QI_U8_ACT_IDENTITY:
      return x;
    case QI_U8_ACT_RELU:
      return x > 0.0 ? x : 0.0;
    case QI_U8_ACT_CLIP:
      return fmin(fmax(x, act->alpha), act->beta);
    case QI_U8_ACT_LEAKY_RELU:
      return x >= 0.0 ? x : act->alpha * x;
    case QI_U8_ACT_SIGMOID:
      return 1.0 / (1.0 + exp(-x));
    case QI_U8_ACT_HARD_SIGMOID:
      return clampd(act->alpha * x + act->beta, 0.0, 1.0);
    case QI_U8_ACT_HARD_SWISH:
      return x * clampd(x / 6.0 + 0.5, 0.0, 1.0);
    case QI_U8_ACT_SILU:
      return x / (1.0 + exp(-x));
    case QI_U8_ACT_GELU:
      return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case QI_U8_ACT_GELU_TANH: {
      const double k = 0.79788456080286535588; /* sqrt(2 / pi) */
      return 0.5 * x * (1.0 + tanh(k * (x + 0.044715 * x * x * x)));
    }
    case QI_U8_ACT_TANH:
      return tanh(x);
    case QI_U8_ACT_AFFINE:
      return act->alpha * x + act->beta;
    default:
      return NAN;
  }
}

void qi_u8_lut_build(const qi_u8_act *act, qi_u8_quant in, qi_u8_quant out,
                     int32_t qmin, int32_t qmax, uint8_t table[256]) {
  for (int32_t q = 0; q < 256; q++) {
    double x = (double)(q - in.zero) * in.scale;
    double v = qi_u8_act_eval(act, x) / out.scale;
    table[q] = qi_u8_requant_f64(v, out.zero, qmin, qmax);
  }
}

void qi_u8_requant_table(int32_t zx, float mxy, const qi_u8_out *out,
                         uint8_t table[256]) {
  for (int32_t q = 0; q < 256; q++)
    table[q] = qi_u8_requant_entry(q, zx, mxy, out);
}
