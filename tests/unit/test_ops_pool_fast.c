/*
 * The 2-D pooling fast path (kernels/fp32/pool.h behind MaxPool and
 * AveragePool) against the brute-force float64 reference of
 * norm_harness.h, on shapes chosen for its row buffers and vector blocks:
 * row widths around multiples of 8 (full blocks, tails, rows shorter than
 * one block), the specialised windows (k 2 or 3, stride 1 or 2) and others,
 * padding that puts windows over the left, right, top and bottom borders,
 * ceil_mode windows past the right padding, count_include_pad, 1x1 inputs,
 * and few planes over many rows (the op splits planes into bands of rows
 * for the threads), and a row too long for the fast path (the op falls back
 * to its generic path). NaN propagation is checked position by position. Every
 * case also runs on a 3-thread pool with exact-size guarded scratch, and
 * the suite runs twice: dispatcher's kernels, then QINFER_ISA=scalar.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/cpu_features.h"
#include "norm_harness.h"
#include "qtest.h"

/* Kernel, stride and pads ({top, left, bottom, right}) of one 2-D config. */
static pool_cfg cfg_2d(int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                       const int64_t *pads, int ceil_mode, int count_pad) {
  pool_cfg c = {.sr = 2, .k = {kh, kw}, .s = {sh, sw}, .dil = {1, 1},
                .set_strides = 1, .set_pads = pads != NULL,
                .ceil_mode = ceil_mode, .count_pad = count_pad};
  if (pads) memcpy(c.pads, pads, sizeof(int64_t) * 4);
  return c;
}

/* Whether every window of c on an h x w input has a tap in the padded
 * extent (the op rejects the rest at infer). */
static int cfg_fits(const pool_cfg *c, int64_t h, int64_t w) {
  return c->k[0] <= h + c->pads[0] + c->pads[2] &&
         c->k[1] <= w + c->pads[1] + c->pads[3];
}

static void test_pool_fast_widths(qt_state *st) {
  static const int64_t widths[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 57};
  static const int64_t heights[] = {1, 3, 8, 13};
  static const int64_t ks[][2] = {{2, 1}, {3, 1}, {2, 2}, {3, 2},
                                  {1, 1}, {4, 3}, {5, 2}};
  static const int64_t pads[3][4] = {{0, 0, 0, 0}, {1, 1, 1, 1}, {1, 0, 0, 2}};
  for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++)
    for (size_t hi = 0; hi < sizeof heights / sizeof heights[0]; hi++)
      for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
        for (int pi = 0; pi < 3; pi++)
          for (int cm = 0; cm < 2; cm++)
            for (int op = 0; op < 3; op++) {
              int64_t k = ks[ki][0], s = ks[ki][1];
              if (pi > 0 && k == 1) continue; /* windows wholly in padding */
              pool_cfg c = cfg_2d(k, k, s, s, pi ? pads[pi] : NULL, cm, op == 2);
              int64_t xd[4] = {1, 2, heights[hi], widths[wi]};
              if (!cfg_fits(&c, xd[2], xd[3])) continue;
              check_pool(st, op ? "AveragePool" : "MaxPool", &c, xd, NULL);
            }
}

/* Rectangular windows and strides that differ per axis, asymmetric pads. */
static void test_pool_fast_rect(qt_state *st) {
  static const int64_t cfgs[][8] = {
      /* kh kw sh sw  pt pl pb pr */
      {3, 2, 1, 2, 1, 0, 1, 1}, {2, 3, 2, 1, 0, 1, 1, 2},
      {1, 3, 1, 2, 0, 1, 0, 1}, {3, 1, 2, 1, 1, 0, 1, 0},
      {2, 2, 3, 2, 1, 1, 0, 0}, {3, 3, 2, 2, 0, 2, 2, 0}};
  const int64_t xd[4] = {2, 3, 11, 29};
  for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++)
    for (int cm = 0; cm < 2; cm++)
      for (int op = 0; op < 3; op++) {
        pool_cfg c = cfg_2d(cfgs[i][0], cfgs[i][1], cfgs[i][2], cfgs[i][3],
                            cfgs[i] + 4, cm, op == 2);
        check_pool(st, op ? "AveragePool" : "MaxPool", &c, xd, NULL);
      }
}

/* Shapes of real models, one plane split into bands, 1x1 inputs, 1-D. */
static void test_pool_fast_shapes(qt_state *st) {
  const int64_t p1[4] = {1, 1, 1, 1}, p0101[4] = {0, 0, 1, 1};
  for (int op = 0; op < 3; op++) {
    const char *name = op ? "AveragePool" : "MaxPool";
    pool_cfg sq = cfg_2d(3, 3, 2, 2, NULL, 1, op == 2); /* SqueezeNet */
    const int64_t sq_x[4] = {1, 4, 111, 111};
    check_pool(st, name, &sq, sq_x, NULL);
    pool_cfg rn = cfg_2d(3, 3, 2, 2, p1, 0, op == 2); /* ResNet stem */
    const int64_t rn_x[4] = {1, 3, 112, 112};
    check_pool(st, name, &rn, rn_x, NULL);
    pool_cfg inc = cfg_2d(3, 3, 1, 1, p1, 0, op == 2); /* Inception branch */
    const int64_t inc_x[4] = {1, 5, 28, 28};
    check_pool(st, name, &inc, inc_x, NULL);
    const int64_t band_x[4] = {1, 1, 61, 300}; /* one plane, many rows */
    check_pool(st, name, &rn, band_x, NULL);
    pool_cfg one = cfg_2d(1, 1, 1, 1, NULL, 0, op == 2);
    const int64_t one_x[4] = {3, 5, 1, 1};
    check_pool(st, name, &one, one_x, NULL);
    pool_cfg one_pad = cfg_2d(2, 2, 1, 1, p0101, 0, op == 2);
    check_pool(st, name, &one_pad, one_x, NULL);
    pool_cfg one_ceil = cfg_2d(2, 2, 2, 2, p1, 1, op == 2);
    check_pool(st, name, &one_ceil, one_x, NULL);
    pool_cfg c1 = {.sr = 1, .k = {3}, .s = {2}, .dil = {1}, .pads = {1, 2},
                   .set_strides = 1, .set_pads = 1, .ceil_mode = 1,
                   .count_pad = op == 2};
    const int64_t x1[3] = {2, 3, 37};
    check_pool(st, name, &c1, x1, NULL);
    const int64_t xlong[3] = {1, 1, 270001}; /* row buffer too long: generic */
    check_pool(st, name, &c1, xlong, NULL);
  }
}

/* MaxPool with a NaN at one input position: an output is NaN exactly when
 * its window holds that position, and otherwise the max of its taps. */
static void check_nan_at(qt_state *st, const pool_cfg *c, const int64_t *xd,
                         int64_t nan_h, int64_t nan_w) {
  int64_t h = xd[2], w = xd[3], n = h * w;
  rng r = {(uint64_t)(nan_h * 131 + nan_w)};
  float *x = rand_f(&r, n, -4, 4);
  x[nan_h * w + nan_w] = NAN;
  tcase t;
  tc_init(&t, "MaxPool", 1, 1, 19);
  tc_input(&t, 0, QI_FLOAT32, 4, xd, x, 0);
  attr_ints(&t, "kernel_shape", c->k, 2);
  attr_ints(&t, "strides", c->s, 2);
  attr_ints(&t, "pads", c->pads, 4);
  if (c->ceil_mode) attr_i(&t, "ceil_mode", 1);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  int64_t out[2], pb[2], pe[2];
  pool_ref_geom(c, xd + 2, out, pb, pe);
  const float *y = tc_out(&t, 0);
  int bad = 0;
  for (int64_t oh = 0; y && oh < out[0]; oh++)
    for (int64_t ow = 0; ow < out[1]; ow++) {
      double m = -INFINITY;
      int has_nan = 0;
      for (int64_t a = 0; a < c->k[0]; a++)
        for (int64_t b = 0; b < c->k[1]; b++) {
          int64_t ih = oh * c->s[0] - pb[0] + a, iw = ow * c->s[1] - pb[1] + b;
          if (ih < 0 || ih >= h || iw < 0 || iw >= w) continue;
          if (ih == nan_h && iw == nan_w) has_nan = 1;
          else m = fmax(m, x[ih * w + iw]);
        }
      float got = y[oh * out[1] + ow];
      if (has_nan ? !isnan(got) : (double)got != m) bad++;
    }
  QT_CHECKF(st, bad == 0, "NaN at (%lld, %lld): %d outputs wrong",
            (long long)nan_h, (long long)nan_w, bad);
  free(x);
  tc_free(&t);
}

static void test_pool_fast_nan(qt_state *st) {
  const int64_t p1[4] = {1, 1, 1, 1}, xd[4] = {1, 1, 9, 37};
  static const int64_t spots[][2] = {{0, 0}, {0, 36}, {8, 0}, {8, 36}, {4, 7},
                                     {4, 8}, {4, 15}, {4, 16}, {3, 31}, {5, 33}};
  static const int64_t ks[][2] = {{3, 2}, {2, 2}, {3, 1}, {4, 3}};
  for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++)
    for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
      pool_cfg c = cfg_2d(ks[ki][0], ks[ki][0], ks[ki][1], ks[ki][1], p1, 1, 0);
      check_nan_at(st, &c, xd, spots[i][0], spots[i][1]);
    }
}

/* Infinities, signed zeros, huge and denormal values through max and sum
 * (no values whose sum would depend on the order of the adds). */
static void test_pool_fast_specials(qt_state *st) {
  const int64_t xd[4] = {1, 2, 6, 19};
  int64_t n = numel_of(4, xd);
  static const float vals[2][8] = {
      {INFINITY, -INFINITY, 0.0f, -0.0f, 3.5f, -3e38f, 3e38f, 1e-40f},
      {INFINITY, -INFINITY, 0.0f, -0.0f, 3.5f, -2.0f, 2.0f, 1e-40f}};
  for (int op = 0; op < 2; op++) {
    float *x = malloc(sizeof(float) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = vals[op][(i * 7 + op) % 8];
    pool_cfg c = cfg_2d(3, 3, 2, 2, NULL, 1, 0);
    tcase t;
    tc_init(&t, op ? "AveragePool" : "MaxPool", 1, 1, 19);
    tc_input(&t, 0, QI_FLOAT32, 4, xd, x, 0);
    attr_ints(&t, "kernel_shape", c.k, 2);
    attr_ints(&t, "strides", c.s, 2);
    attr_i(&t, "ceil_mode", 1);
    QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
    int64_t out[2], pb[2], pe[2];
    pool_ref_geom(&c, xd + 2, out, pb, pe);
    int64_t nout = xd[0] * xd[1] * out[0] * out[1];
    double *ref = malloc(sizeof(double) * (size_t)nout);
    pool_ref(&c, op == 0, x, xd, ref);
    if (t.out[0].data) {
      if (op == 0)
        QT_CHECK(st, exact_equal(tc_out(&t, 0), ref, nout));
      else
        QT_CHECK(st, max_rel_err(tc_out(&t, 0), ref, nout) <= TOL_MAX_REL);
    }
    free(ref);
    free(x);
    tc_free(&t);
  }
}

static void run_all(qt_state *st) {
  QT_RUN(st, test_pool_fast_widths);
  QT_RUN(st, test_pool_fast_rect);
  QT_RUN(st, test_pool_fast_shapes);
  QT_RUN(st, test_pool_fast_nan);
  QT_RUN(st, test_pool_fast_specials);
}

int main(void) {
  qt_state st = {0};
  run_all(&st);
  if (qi_cpu_features_best(qi_cpu_features_get()) != QI_ISA_SCALAR) {
    printf("-- again with QINFER_ISA=scalar\n");
    setenv("QINFER_ISA", "scalar", 1);
    run_all(&st);
  }
  return qt_summary(&st);
}
