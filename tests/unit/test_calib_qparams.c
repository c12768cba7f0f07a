/* Calibration arithmetic (lib/calib): uint8 scale and zero point from a
 * range, per-channel int8 weight scales and values, int32 bias, and the
 * SQNR / cosine measures, against hand-computed values and an independent
 * rounding oracle. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/measure.h"
#include "calib/qparams.h"
#include "calib_test_util.h"
#include "core/error.h"
#include "qtest.h"

/* ---- uint8 qparams ------------------------------------------------- */

static void expect_qparams(qt_state *st, float lo, float hi, float scale,
                           int32_t zp) {
  float s = -1;
  int32_t z = -1;
  qi_error err;
  QT_CHECKF(st, qi_uint8_qparams(lo, hi, &s, &z, &err) == QI_OK, "%s",
            err.message);
  QT_CHECKF(st, s == scale && z == zp,
            "[%g, %g]: got scale %.9g zp %d, want %.9g zp %d", (double)lo,
            (double)hi, (double)s, z, (double)scale, zp);
}

/* Values worked out by hand from real = scale * (q - zp). */
static void test_qparams_hand_computed(qt_state *st) {
  /* [-1, 3]: scale 4/255, -lo/scale = 63.75 -> 64. */
  expect_qparams(st, -1.0f, 3.0f, (float)(4.0 / 255.0), 64);
  /* scale exactly 1; -lo/scale = 2.5 and 3.5: ties go to even. */
  expect_qparams(st, -2.5f, 252.5f, 1.0f, 2);
  expect_qparams(st, -3.5f, 251.5f, 1.0f, 4);
  /* post-ReLU: zero point 0; all-negative: zero point 255. */
  expect_qparams(st, 0.0f, 6.0f, (float)(6.0 / 255.0), 0);
  expect_qparams(st, -10.0f, -2.0f, (float)(10.0 / 255.0), 255);
  /* A range not holding 0 is widened to it. */
  expect_qparams(st, 2.0f, 5.0f, (float)(5.0 / 255.0), 0);
  /* Degenerate: all zeros, a constant 0, a range under 255 * FLT_MIN. */
  expect_qparams(st, 0.0f, 0.0f, QI_DEGENERATE_SCALE, 0);
  expect_qparams(st, -0.0f, 0.0f, QI_DEGENERATE_SCALE, 0);
  expect_qparams(st, 0.0f, 1e-38f, QI_DEGENERATE_SCALE, 0);
  /* The widest finite range: scale stays finite; 127.5 ties to 128. */
  expect_qparams(st, -FLT_MAX, FLT_MAX, (float)(2.0 * FLT_MAX / 255.0), 128);

  float s;
  int32_t z;
  qi_error err;
  QT_CHECK(st, qi_uint8_qparams(NAN, 1, &s, &z, &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st,
           qi_uint8_qparams(0, INFINITY, &s, &z, &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_uint8_qparams(2, 1, &s, &z, &err) == QI_ERR_INVALID_ARG);
}

/* Over many ranges: 0 is exactly a grid point, and the nudged grid
 * [scale * -zp, scale * (255 - zp)] misses [lo', hi'] by at most scale/2
 * at each end. */
static void test_qparams_grid_covers_range(qt_state *st) {
  rng_seed(7);
  for (int t = 0; t < 20000; t++) {
    double mag = pow(10.0, -6 + 12 * rng_uniform());
    float lo = (float)(-mag * rng_uniform()), hi = (float)(mag * rng_uniform());
    if (t % 5 == 0) lo = 0;
    if (t % 7 == 0) hi = 0;
    float s;
    int32_t z;
    QT_CHECK(st, qi_uint8_qparams(lo, hi, &s, &z, NULL) == QI_OK);
    QT_CHECK(st, z >= 0 && z <= 255 && s > 0 && isfinite(s));
    if (lo == 0) QT_CHECK(st, z == 0);
    if (hi == 0 && lo < 0) QT_CHECK(st, z == 255);
    /* quantize(0) = zp exactly, dequantize(zp) = 0 exactly. */
    QT_CHECK(st, nearbyintf(0.0f / s) + (float)z == (float)z);
    double glo = (double)s * -z, ghi = (double)s * (255 - z);
    double slack = (double)s * (0.5 + REL_FLOAT_TOL * 255);
    QT_CHECKF(st, glo <= lo + slack && ghi >= hi - slack,
              "[%g, %g]: grid [%g, %g]", (double)lo, (double)hi, glo, ghi);
  }
}

/* ---- weights and bias ---------------------------------------------- */

static void test_weight_scales_per_channel(qt_state *st) {
  /* 3 channels x 5: max |w| 127 (scale exactly 1), 2.54, and all zero. */
  const float w[15] = {1.0f,   -127.0f, 3.0f, 0.5f, 126.5f, /**/
                       -2.54f, 1.0f,    2.5f, 0.0f, -0.25f, /**/
                       0.0f,   -0.0f,   0.0f, 0.0f, 0.0f};
  float want[3] = {1.0f, 2.54f / 127.0f, QI_DEGENERATE_SCALE};
  float s[3], t[15], s2[3];
  qi_error err;
  qi_weight_layout rows = qi_weight_layout_rows(3, 5);
  QT_CHECKF(st, qi_int8_weight_scales(w, 15, &rows, s, &err) == QI_OK, "%s",
            err.message);
  for (int c = 0; c < 3; c++)
    QT_CHECKF(st, s[c] == want[c], "channel %d: %.9g want %.9g", c,
              (double)s[c], (double)want[c]);
  /* The same weights as MatMul's [K, N] = [5, 3]. */
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < 5; i++) t[i * 3 + c] = w[c * 5 + i];
  qi_weight_layout cols = {3, 5, 1, 3};
  QT_CHECK(st, qi_int8_weight_scales(t, 15, &cols, s2, &err) == QI_OK);
  QT_CHECK(st, memcmp(s, s2, sizeof s) == 0);

  int8_t q[15], q2[15];
  QT_CHECK(st, qi_quantize_weights(w, 15, &rows, s, q, &err) == QI_OK);
  QT_CHECK(st, qi_quantize_weights(t, 15, &cols, s2, q2, &err) == QI_OK);
  QT_CHECK(st, memcmp(q, q2, sizeof q) == 0);
  /* Channel 0, scale 1: ties 0.5 -> 0 and 126.5 -> 126 (half to even). */
  static const int8_t want0[5] = {1, -127, 3, 0, 126};
  QT_CHECK(st, memcmp(q, want0, 5) == 0);
  QT_CHECK(st, q[5] == -127); /* the channel max maps to the end */
  for (int i = 10; i < 15; i++) QT_CHECK(st, q[i] == 0); /* zero channel */

  /* A channel below 127 * FLT_MIN is a zero channel. */
  const float tiny[2] = {1e-37f, -3e-38f};
  qi_weight_layout one = qi_weight_layout_rows(1, 2);
  QT_CHECK(st, qi_int8_weight_scales(tiny, 2, &one, s, &err) == QI_OK);
  QT_CHECK(st, s[0] == QI_DEGENERATE_SCALE);

  /* Bad input: non-finite weights name channel and element; layouts that
   * leave the buffer are refused. */
  float bad[15];
  memcpy(bad, w, sizeof bad);
  bad[7] = NAN;
  QT_CHECK(
      st, qi_int8_weight_scales(bad, 15, &rows, s, &err) == QI_ERR_INVALID_ARG);
  QT_CHECKF(st, strstr(err.message, "channel 1 element 2"), "%s", err.message);
  QT_CHECK(st, qi_int8_weight_scales(w, 14, &rows, s, &err) == QI_ERR_SHAPE);
  qi_weight_layout huge = {INT64_MAX / 2, 5, INT64_MAX / 4, 1};
  QT_CHECK(st, qi_int8_weight_scales(w, 15, &huge, s, &err) == QI_ERR_SHAPE);
  float zero_scale[3] = {1.0f, 0.0f, 1.0f};
  QT_CHECK(st, qi_quantize_weights(w, 15, &rows, zero_scale, q, &err) ==
                   QI_ERR_INVALID_ARG);
}

/* Every tie k + 0.5 in [-130, 130] with scale 1, and random weights with
 * random scales, against the independent rounding oracle; clamped to
 * [-127, 127] (never -128). */
static void test_quantize_weights_rounding(qt_state *st) {
  enum { N = 521 };
  float w[N];
  int8_t q[N];
  for (int i = 0; i < N; i++) w[i] = -130.0f + 0.5f * (float)i;
  float one = 1.0f;
  qi_weight_layout l = qi_weight_layout_rows(1, N);
  QT_CHECK(st, qi_quantize_weights(w, N, &l, &one, q, NULL) == QI_OK);
  for (int i = 0; i < N; i++) {
    double r = round_half_even_ref(w[i]);
    r = r > 127 ? 127 : (r < -127 ? -127 : r);
    QT_CHECKF(st, q[i] == (int8_t)r, "%g -> %d, want %g", (double)w[i], q[i],
              r);
  }
  QT_CHECK(st, q[0] == -127 && q[N - 1] == 127);

  rng_seed(99);
  enum { C = 7, K = 33 };
  float rw[C * K], sc[C];
  int8_t rq[C * K];
  for (int i = 0; i < C * K; i++)
    rw[i] = (float)((rng_uniform() - 0.5) * pow(10, 4 * rng_uniform() - 2));
  qi_weight_layout rl = qi_weight_layout_rows(C, K);
  QT_CHECK(st, qi_int8_weight_scales(rw, C * K, &rl, sc, NULL) == QI_OK);
  QT_CHECK(st, qi_quantize_weights(rw, C * K, &rl, sc, rq, NULL) == QI_OK);
  for (int c = 0; c < C; c++)
    for (int i = 0; i < K; i++) {
      double r = round_half_even_ref((double)rw[c * K + i] / sc[c]);
      QT_CHECK(st, r >= -127 && r <= 127 && rq[c * K + i] == (int8_t)r);
      /* dequantization error at most half a step */
      QT_CHECK(st, fabs((double)rq[c * K + i] * sc[c] - rw[c * K + i]) <=
                       0.5 * sc[c] * (1 + REL_FLOAT_TOL));
    }
}

static void test_quantize_bias(qt_state *st) {
  /* bias scale 0.5 * 0.25 = 0.125 exactly */
  const float ws[5] = {0.25f, 0.25f, 0.25f, 0.25f, 0.25f};
  const float bias[5] = {1.0f, 0.0625f, 0.1875f, -0.1875f, -0.0625f};
  static const int32_t want[5] = {8, 0, 2, -2, 0}; /* ties to even */
  int32_t q[5];
  qi_error err;
  QT_CHECK(st, qi_quantize_bias(bias, 5, 0.5f, ws, q, &err) == QI_OK);
  QT_CHECK(st, memcmp(q, want, sizeof q) == 0);

  /* bias scale 16 * 16 = 256: 2^31 - 128 steps fits, 2^31 does not. */
  const float big_ws[2] = {16.0f, 16.0f};
  float edge[2] = {2147483520.0f * 256.0f, -2147483520.0f * 256.0f};
  QT_CHECK(st, qi_quantize_bias(edge, 2, 16.0f, big_ws, q, &err) == QI_OK);
  QT_CHECK(st, q[0] == 2147483520 && q[1] == -2147483520);
  float over[2] = {1.0f, -2147483648.0f * 256.0f};
  QT_CHECK(st, qi_quantize_bias(over, 2, 16.0f, big_ws, q, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECKF(st, strstr(err.message, "channel 1"), "%s", err.message);
  /* A realistic overflow: a large bias over tiny input and weight scales. */
  const float tiny_ws[1] = {1e-6f};
  float b1[1] = {5000.0f};
  QT_CHECK(st, qi_quantize_bias(b1, 1, 1e-4f, tiny_ws, q, &err) ==
                   QI_ERR_UNSUPPORTED);
  /* Bad scales and values. */
  QT_CHECK(st,
           qi_quantize_bias(bias, 5, 0.0f, ws, q, &err) == QI_ERR_INVALID_ARG);
  float nanb[1] = {NAN};
  QT_CHECK(st,
           qi_quantize_bias(nanb, 1, 0.5f, ws, q, &err) == QI_ERR_INVALID_ARG);
}

/* ---- measures ------------------------------------------------------ */

static void test_measures(qt_state *st) {
  enum { N = 100 };
  float ref[N], test[N], zero[N], neg[N], orth[N];
  for (int i = 0; i < N; i++) {
    ref[i] = (float)(i % 5) - 2.0f;
    test[i] = ref[i] + (i % 2 ? 0.125f : -0.125f);
    zero[i] = 0;
    neg[i] = -3 * ref[i];
    orth[i] = (i % 10) < 5 ? ref[i] : -ref[i]; /* sum ref*orth = 0 */
  }
  double signal = 0;
  for (int i = 0; i < N; i++) signal += (double)ref[i] * ref[i];
  double want = 10 * log10(signal / (N / 64.0));
  QT_CHECKF(st, fabs(qi_sqnr_db(ref, test, N) - want) <= DOUBLE_TOL * want,
            "%g vs %g", qi_sqnr_db(ref, test, N), want);
  QT_CHECK(st, qi_sqnr_db(ref, ref, N) == INFINITY);
  QT_CHECK(st, qi_sqnr_db(zero, ref, N) == -INFINITY);
  QT_CHECK(st, qi_sqnr_db(ref, ref, 0) == INFINITY);
  QT_CHECK(st, fabs(qi_cosine_similarity(ref, neg, N) + 1) <= DOUBLE_TOL);
  QT_CHECK(st, fabs(qi_cosine_similarity(ref, ref, N) - 1) <= DOUBLE_TOL);
  QT_CHECK(st, fabs(qi_cosine_similarity(ref, orth, N)) <= DOUBLE_TOL);
  QT_CHECK(st, qi_cosine_similarity(zero, zero, N) == 1.0);
  QT_CHECK(st, qi_cosine_similarity(ref, zero, N) == 0.0);
  double c = qi_cosine_similarity(ref, test, N);
  QT_CHECK(st, c > 0.99 && c < 1);
  test[3] = NAN;
  QT_CHECK(st, isnan(qi_sqnr_db(ref, test, N)));
  QT_CHECK(st, isnan(qi_cosine_similarity(ref, test, N)));
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_qparams_hand_computed);
  QT_RUN(&st, test_qparams_grid_covers_range);
  QT_RUN(&st, test_weight_scales_per_channel);
  QT_RUN(&st, test_quantize_weights_rounding);
  QT_RUN(&st, test_quantize_bias);
  QT_RUN(&st, test_measures);
  return qt_summary(&st);
}
