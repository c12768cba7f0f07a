/* uint8 table activations (kernels/qlut): the tables built by
 * qi_u8_lut_build against tables computed here from independently written
 * float64 formulas of each activation (exact, except one step at a value
 * within QL_TIE_SLACK of a rounding tie, where two correct double
 * evaluations may differ), known values of the functions, and the table
 * kernels of every config this CPU runs byte for byte against table[x] on
 * every byte value, awkward lengths and strides, in place, with guard
 * pages. QINFER_LONG_TESTS=1 adds a random sweep. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qelt_util.h"
#include "qlut/qlut.h"
#include "ref/qlut_ref.h"

/* Two double evaluations of one function by different formulas agree to a
 * few ulps; relative to the value in output units this band decides ties. */
#define QL_TIE_SLACK 1e-9
/* Agreement of the two formulas themselves (relative, plus absolute near
 * zero). */
#define QL_FORMULA_REL 1e-12
#define QL_FORMULA_ABS 1e-15

/* ---- independent float64 activations ---- */

static double relu6_over6(double x) { /* min(max(x + 3, 0), 6) / 6 */
  double t = x + 3.0;
  t = t < 0.0 ? 0.0 : t > 6.0 ? 6.0 : t;
  return t / 6.0;
}

static double indep_eval(const qi_u8_act *a, double x) {
  switch (a->kind) {
    case QI_U8_ACT_IDENTITY:
      return x;
    case QI_U8_ACT_RELU:
      return fmax(x, 0.0);
    case QI_U8_ACT_CLIP:
      return x < a->alpha ? a->alpha : x > a->beta ? a->beta : x;
    case QI_U8_ACT_LEAKY_RELU:
      return x < 0.0 ? x * a->alpha : x;
    case QI_U8_ACT_SIGMOID:
      return 0.5 + 0.5 * tanh(0.5 * x);
    case QI_U8_ACT_HARD_SIGMOID:
      return fmax(0.0, fmin(1.0, a->alpha * x + a->beta));
    case QI_U8_ACT_HARD_SWISH:
      return x * relu6_over6(x);
    case QI_U8_ACT_SILU:
      return x * (0.5 + 0.5 * tanh(0.5 * x));
    case QI_U8_ACT_GELU:
      return 0.5 * x * erfc(-x / sqrt(2.0));
    case QI_U8_ACT_GELU_TANH: {
      double u =
          sqrt(2.0 / 3.14159265358979323846) * (x + 0.044715 * pow(x, 3.0));
      return x * (1.0 - 1.0 / (1.0 + exp(2.0 * u)));
    }
    case QI_U8_ACT_TANH:
      return 2.0 / (1.0 + exp(-2.0 * x)) - 1.0;
    case QI_U8_ACT_AFFINE:
      return fma(a->alpha, x, a->beta);
    default:
      return NAN;
  }
}

static const char *const k_act_names[QI_U8_ACT_COUNT] = {
    "identity",   "relu", "clip", "leaky_relu", "sigmoid", "hard_sigmoid",
    "hard_swish", "silu", "gelu", "gelu_tanh",  "tanh",    "affine"};

static qi_u8_act act_of(int kind, size_t idx) {
  qi_u8_act a = {(qi_u8_act_kind)kind, 0.0, 0.0};
  if (kind == QI_U8_ACT_CLIP) {
    a.alpha = idx % 2 ? 0.0 : -1.5;
    a.beta = idx % 3 ? 6.0 : 0.75;
  } else if (kind == QI_U8_ACT_LEAKY_RELU) {
    a.alpha = idx % 2 ? 0.01 : 0.2;
  } else if (kind == QI_U8_ACT_HARD_SIGMOID) {
    a.alpha = idx % 2 ? 0.2 : 1.0 / 6.0; /* ONNX default; PyTorch's */
    a.beta = 0.5;
  } else if (kind == QI_U8_ACT_AFFINE) {
    a.alpha = idx % 2 ? -1.75 : 0.3; /* negative: the grid flips */
    a.beta = idx % 3 ? 0.25 : -2.0;
  }
  return a;
}

/* ---- the functions at known points ---- */

static void test_act_values(qt_state *st) {
  qi_u8_act a = {QI_U8_ACT_SIGMOID, 0, 0};
  QT_CHECK(st, qi_u8_act_eval(&a, 0.0) == 0.5);
  QT_CHECK(st, qi_u8_act_eval(&a, -800.0) == 0.0);
  a.kind = QI_U8_ACT_TANH;
  QT_CHECK(st, qi_u8_act_eval(&a, 0.0) == 0.0 && qi_u8_act_eval(&a, 50) == 1);
  a.kind = QI_U8_ACT_HARD_SWISH;
  QT_CHECK(st, qi_u8_act_eval(&a, 3.0) == 3.0);
  QT_CHECK(st, qi_u8_act_eval(&a, -3.0) == 0.0);
  QT_CHECK(st, qi_u8_act_eval(&a, 1.5) == 1.5 * 0.75);
  a = (qi_u8_act){QI_U8_ACT_HARD_SIGMOID, 0.2, 0.5};
  QT_CHECK(st, qi_u8_act_eval(&a, 1.0) == 0.2 + 0.5);
  QT_CHECK(st, qi_u8_act_eval(&a, 10.0) == 1.0);
  a = (qi_u8_act){QI_U8_ACT_LEAKY_RELU, 0.1, 0};
  QT_CHECK(st, qi_u8_act_eval(&a, -2.0) == -0.2);
  a = (qi_u8_act){QI_U8_ACT_CLIP, 0.0, 6.0};
  QT_CHECK(st, qi_u8_act_eval(&a, 7.0) == 6.0 && qi_u8_act_eval(&a, -1) == 0);
  a.kind = QI_U8_ACT_GELU;
  QT_CHECK(st, qi_u8_act_eval(&a, 0.0) == 0.0);
  QT_CHECK(st, fabs(qi_u8_act_eval(&a, 1.0) - 0.8413447460685429) < 1e-15);
  a.kind = QI_U8_ACT_GELU_TANH;
  QT_CHECK(st, fabs(qi_u8_act_eval(&a, 1.0) - 0.8411919906082768) < 1e-15);
  a.kind = QI_U8_ACT_SILU;
  QT_CHECK(st, fabs(qi_u8_act_eval(&a, 1.0) - 0.7310585786300049) < 1e-15);
  /* The two formulas of every function agree on a fine grid. */
  for (int k = 0; k < QI_U8_ACT_COUNT; k++)
    for (int i = -4000; i <= 4000; i++) {
      qi_u8_act b = act_of(k, (size_t)i & 7);
      double x = i / 250.0, f = qi_u8_act_eval(&b, x), g = indep_eval(&b, x);
      if (!(fabs(f - g) <= QL_FORMULA_REL * fabs(g) + QL_FORMULA_ABS)) {
        QT_CHECKF(st, 0, "%s(%g): %.17g vs %.17g", k_act_names[k], x, f, g);
        break;
      }
    }
}

/* ---- tables against the independent float64 tables ---- */

static int check_table(qt_state *st, const qi_u8_act *a, qi_u8_quant in,
                       qi_u8_quant out, int32_t qmin, int32_t qmax) {
  uint8_t t[256];
  qi_u8_lut_build(a, in, out, qmin, qmax, t);
  for (int q = 0; q < 256; q++) {
    double v = indep_eval(a, (q - in.zero) * in.scale) / out.scale;
    double slack = QL_TIE_SLACK * (fabs(v) + 1.0);
    /* Exact except one step exactly at a tie band; the reference rule's
     * own result must then be one of the two neighbours. */
    if (!qe_near_f64(t[q], v, slack, out.zero, qmin, qmax)) {
      QT_CHECKF(st, 0,
                "%s q=%d in(%g,%d) out(%g,%d) [%d,%d]: table %d, f64 %d "
                "(v=%.17g)",
                k_act_names[a->kind], q, in.scale, in.zero, out.scale, out.zero,
                qmin, qmax, t[q], qe_requant_f64(v, out.zero, qmin, qmax), v);
      return 0;
    }
    if (qmin > t[q] || t[q] > qmax) {
      QT_CHECKF(st, 0, "%s: table[%d] = %d outside [%d,%d]",
                k_act_names[a->kind], q, t[q], qmin, qmax);
      return 0;
    }
  }
  return 1;
}

static void test_tables(qt_state *st) {
  qe_rng r = {0x7AB1E};
  size_t n = qe_long_tests() ? 400 : 60;
  for (int k = 0; k < QI_U8_ACT_COUNT; k++)
    for (size_t idx = 0; idx < n; idx++) {
      qi_u8_act a = act_of(k, idx);
      /* Input ranges from +-0.03 to +-300 real units. */
      qi_u8_quant in = {pow(10.0, -3.5 + 4.0 * qe_unit(&r)),
                        qe_zero_points[idx % QE_NZP]};
      qi_u8_quant out = {pow(10.0, -3.0 + 3.0 * qe_unit(&r)),
                         qe_zero_points[(idx / 2 + 3) % QE_NZP]};
      if (idx % 5 == 0) out.scale = in.scale; /* a common QDQ choice */
      if (idx % 7 == 1) {
        out.scale = 1.0 / 256;
        out.zero = 0;
      } /* sigmoid */
      int32_t qmin, qmax;
      qe_clamp_of(idx / 3, out.zero, &qmin, &qmax);
      if (!check_table(st, &a, in, out, qmin, qmax)) return;
    }
  /* Ties decided by the rule: identity at half the scale puts every odd
   * q - zx on x.5, rounded to even. */
  qi_u8_act id = {QI_U8_ACT_IDENTITY, 0, 0};
  uint8_t t[256];
  qi_u8_lut_build(&id, (qi_u8_quant){0.5, 128}, (qi_u8_quant){1.0, 128}, 0, 255,
                  t);
  QT_CHECK(st, t[129] == 128 && t[131] == 130 && t[127] == 128 &&
                   t[125] == 126 && t[133] == 130);
  /* Relu with the output's zero point clamps at it. */
  qi_u8_act relu = {QI_U8_ACT_RELU, 0, 0};
  qi_u8_lut_build(&relu, (qi_u8_quant){0.1, 100}, (qi_u8_quant){0.1, 20}, 0,
                  255, t);
  QT_CHECK(st, t[0] == 20 && t[100] == 20 && t[101] == 21 && t[255] == 175);
}

/* ---- the kernels against table[x] ---- */

static void random_table(qe_rng *r, uint8_t t[256]) { qe_fill(r, t, 256); }

/* rows of c bytes, strides ldx = c + padx and ldy = c + pady; every byte
 * value appears (the input cycles through 0..255 from a random start). */
static int check_lut(qt_state *st, size_t rows, size_t c, size_t padx,
                     size_t pady, int in_place, size_t idx) {
  if (in_place) pady = padx;
  size_t ldx = c + padx, ldy = c + pady;
  size_t nx = rows ? (rows - 1) * ldx + c : 0, ny = rows * ldy;
  qe_rng r = {0x1B7ull + idx * 131 + c};
  uint8_t table[256];
  random_table(&r, table);
  qe_buf bx, by;
  uint8_t *x = qe_buf_make(st, &bx, nx, idx & 1);
  uint8_t *y = in_place ? x : qe_buf_make(st, &by, ny, 0);
  uint8_t *orig = malloc(nx ? nx : 1), *want = malloc(ny ? ny : 1);
  int ok = x && y && orig && want;
  if (ok) {
    uint8_t start = (uint8_t)qe_next(&r);
    for (size_t i = 0; i < nx; i++)
      x[i] = idx % 3 == 2 ? (uint8_t)qe_next(&r) : (uint8_t)(start + i);
    memcpy(orig, x, nx);
    memset(want, QE_SENTINEL, ny);
    if (in_place) memcpy(want, orig, nx);
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < c; j++)
        want[i * ldy + j] = qi_u8_lut_ref(orig[i * ldx + j], table);
    const qi_qelt_config *cfgs[QI_ISA_COUNT];
    size_t ncfg = qe_configs(cfgs);
    for (size_t ci = 0; ci < ncfg && ok; ci++) {
      if (in_place)
        memcpy(x, orig, nx);
      else
        memset(y, QE_SENTINEL, ny);
      cfgs[ci]->lut(rows, c, x, ldx, y, ldy, table);
      long d = qe_diff(y, want, in_place ? nx : ny);
      if (d >= 0) {
        QT_CHECKF(st, 0,
                  "%s rows=%zu c=%zu ldx=%zu ldy=%zu in_place=%d: byte %ld "
                  "got %d want %d",
                  qi_isa_name(cfgs[ci]->kernel_isa), rows, c, ldx, ldy,
                  in_place, d, y[d], want[d]);
        ok = 0;
      }
    }
  }
  free(orig);
  free(want);
  qe_buf_free(&bx);
  if (!in_place) qe_buf_free(&by);
  return ok;
}

static void test_lut_kernels(qt_state *st) {
  static const size_t lens[] = {0,  1,  3,   7,   15,  16,  17,   31,  32,
                                33, 63, 100, 255, 256, 257, 1000, 4133};
  static const size_t rows[] = {1, 2, 9};
  static const size_t pads[] = {0, 1, 13};
  size_t idx = 0;
  for (size_t il = 0; il < QE_LEN(lens); il++)
    for (size_t ir = 0; ir < QE_LEN(rows); ir++)
      for (size_t ip = 0; ip < QE_LEN(pads); ip++)
        for (int in_place = 0; in_place < 2; in_place++, idx++)
          if (!check_lut(st, rows[ir], lens[il], pads[ip],
                         pads[(ip + 2) % QE_LEN(pads)], in_place, idx))
            return;
  if (qe_long_tests()) {
    qe_rng r = {0x10F7};
    for (int t = 0; t < 2000; t++, idx++)
      if (!check_lut(st, (size_t)qe_range(&r, 1, 20),
                     (size_t)qe_range(&r, 1, 900), (size_t)qe_range(&r, 0, 40),
                     (size_t)qe_range(&r, 0, 40), t % 4 == 0, idx))
        return;
  }
}

/* The vpshufb lookup on tables built to expose slice mix-ups: entry q is
 * q itself, its complement, its high nibble, one spike per slice. */
static void test_lut_patterns(qt_state *st) {
  uint8_t x[256], y[256], t[256];
  for (int i = 0; i < 256; i++) x[i] = (uint8_t)(255 - i);
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (int pat = 0; pat < 4 + 16; pat++) {
    for (int q = 0; q < 256; q++)
      t[q] = pat == 0   ? (uint8_t)q
             : pat == 1 ? (uint8_t)~q
             : pat == 2 ? (uint8_t)(q >> 4)
             : pat == 3 ? (uint8_t)(q * 37 + 11)
                        : (uint8_t)((q >> 4) == pat - 4 ? 0xFF : 0);
    for (size_t ci = 0; ci < ncfg; ci++) {
      cfgs[ci]->lut(1, 256, x, 256, y, 256, t);
      for (int i = 0; i < 256; i++)
        if (y[i] != t[x[i]]) {
          QT_CHECKF(st, 0, "%s pattern %d: x=%d got %d want %d",
                    qi_isa_name(cfgs[ci]->kernel_isa), pat, x[i], y[i],
                    t[x[i]]);
          return;
        }
    }
  }
}

/* A built table through the kernels: the whole path of a quantized
 * activation node. */
static void test_activation_end_to_end(qt_state *st) {
  uint8_t t[256], x[300], y[300];
  qi_u8_act a = {QI_U8_ACT_HARD_SWISH, 0, 0};
  qi_u8_lut_build(&a, (qi_u8_quant){0.05, 140}, (qi_u8_quant){0.03, 18}, 0, 255,
                  t);
  for (int i = 0; i < 300; i++) x[i] = (uint8_t)(i * 7);
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (size_t ci = 0; ci < ncfg; ci++) {
    cfgs[ci]->lut(1, 300, x, 300, y, 300, t);
    for (int i = 0; i < 300; i++) {
      double v = indep_eval(&a, (x[i] - 140) * 0.05) / 0.03;
      if (!qe_near_f64(y[i], v, QL_TIE_SLACK * (fabs(v) + 1), 18, 0, 255)) {
        QT_CHECKF(st, 0, "%s x=%d: %d", qi_isa_name(cfgs[ci]->kernel_isa), x[i],
                  y[i]);
        return;
      }
    }
  }
}

int main(void) {
  qt_state st = {0};
  qe_catch_faults(&st);
  QT_RUN(&st, test_act_values);
  QT_RUN(&st, test_tables);
  QT_RUN(&st, test_lut_kernels);
  QT_RUN(&st, test_lut_patterns);
  QT_RUN(&st, test_activation_end_to_end);
  return qt_summary(&st);
}
