/*
 * Normalization, pooling, reduction and softmax ops against plain float64
 * references written here (independent of the ops' loop structure), on
 * awkward shapes. Every case builds a one-node graph, calls infer, then run
 * single-threaded and on a 3-thread pool (norm_harness.h); the two runs
 * must agree bit for bit and match the reference within TOL_MAX_REL (max /
 * min / max-pool exactly). The whole suite runs twice: with the kernels the
 * CPU picks and with the scalar ones. The 2-D pooling fast path has its own
 * sweep in test_ops_pool_fast.c.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/cpu_features.h"
#include "norm_harness.h"
#include "qtest.h"

/* ======================================================================== */
/* Softmax / LogSoftmax                                                     */

/* Reference: the set of elements sharing a softmax group is found by the
 * coordinates outside the normalized range [a0, a1). */
static void softmax_ref(const float *x, int rank, const int64_t *d, int a0,
                        int a1, int log_out, double *y) {
  int64_t n = numel_of(rank, d), idx[QI_MAX_RANK], jdx[QI_MAX_RANK];
  for (int64_t i = 0; i < n; i++) {
    unravel(i, rank, d, idx);
    double m = -INFINITY, s = 0.0;
    for (int pass = 0; pass < 2; pass++)
      for (int64_t j = 0; j < n; j++) {
        unravel(j, rank, d, jdx);
        int same = 1;
        for (int k = 0; k < rank; k++)
          if ((k < a0 || k >= a1) && jdx[k] != idx[k]) same = 0;
        if (!same) continue;
        if (pass == 0) m = fmax(m, x[j]);
        else s += exp((double)x[j] - m);
      }
    y[i] = log_out ? ((double)x[i] - m) - log(s) : exp((double)x[i] - m) / s;
  }
}

/* Runs Softmax / LogSoftmax on x and compares with softmax_ref. */
static void check_softmax_x(qt_state *st, const char *op, int64_t opset,
                            int rank, const int64_t *d, int64_t axis,
                            int has_axis, const float *x_in) {
  int64_t n = numel_of(rank, d);
  float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
  memcpy(x, x_in, sizeof(float) * (size_t)n);
  tcase t;
  tc_init(&t, op, 1, 1, opset);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  if (has_axis) attr_i(&t, "axis", axis);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  int legacy = opset < 13;
  int64_t ax = has_axis ? axis : (legacy ? 1 : -1);
  if (ax < 0) ax += rank;
  double *ref = malloc(sizeof(double) * (size_t)n);
  softmax_ref(x, rank, d, (int)ax, legacy ? rank : (int)ax + 1,
              strcmp(op, "LogSoftmax") == 0, ref);
  if (t.out[0].data) {
    double e = max_rel_err(tc_out(&t, 0), ref, n);
    QT_CHECKF(st, e <= TOL_MAX_REL, "%s opset %lld axis %lld: max rel err %g",
              op, (long long)opset, (long long)axis, e);
  }
  free(ref);
  free(x);
  tc_free(&t);
}

static void check_softmax(qt_state *st, const char *op, int64_t opset, int rank,
                          const int64_t *d, int64_t axis, int has_axis,
                          double lo, double hi) {
  rng r = {(uint64_t)(rank * 131 + axis * 7 + opset)};
  float *x = rand_f(&r, numel_of(rank, d), lo, hi);
  check_softmax_x(st, op, opset, rank, d, axis, has_axis, x);
  free(x);
}

/* Contiguous rows (the row kernels): lengths around the vector width and
 * the kernels' sum block of 256, spreads whose exp terms reach the
 * denormal range (x - max < -87) and underflow, -inf entries (masks), a
 * row of -inf only and a row with a NaN (both all NaN, as the formula
 * gives). */
static void test_softmax_rows(qt_state *st) {
  static const int64_t lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 197,
                                 255, 256, 257, 300, 513};
  const char *ops[2] = {"Softmax", "LogSoftmax"};
  static const double spread[3] = {6, 100, 300};
  for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
    for (int o = 0; o < 2; o++)
      for (int sp = 0; sp < 3; sp++) {
        int64_t len = lens[li], d[2] = {4, len}, n = 4 * len;
        rng r = {(uint64_t)(len * 7 + sp * 3 + o)};
        float *x = rand_f(&r, n, -spread[sp], spread[sp] * 0.1);
        if (sp == 1) {
          for (int64_t i = 0; i < len; i += 3) x[i] = -INFINITY; /* row 0 */
          for (int64_t i = len; i < 2 * len; i++) x[i] = -INFINITY;
          x[len + len / 2] = len > 1 ? 2.0f : -INFINITY; /* row 1: one finite */
        }
        if (sp == 2) {
          for (int64_t i = 2 * len; i < 3 * len; i++) x[i] = -INFINITY;
          x[3 * len + len / 3] = NAN;
        }
        check_softmax_x(st, ops[o], 13, 2, d, -1, 1, x);
        free(x);
      }
}

static void test_softmax_every_axis(qt_state *st) {
  const int64_t d[4] = {2, 3, 4, 5};
  const char *ops[2] = {"Softmax", "LogSoftmax"};
  const int64_t opsets[2] = {11, 13};
  for (int o = 0; o < 2; o++)
    for (int v = 0; v < 2; v++) {
      for (int64_t a = -4; a < 4; a++)
        check_softmax(st, ops[o], opsets[v], 4, d, a, 1, -3, 3);
      check_softmax(st, ops[o], opsets[v], 4, d, 0, 0, -3, 3); /* default */
    }
}

static void test_softmax_wide_and_odd(qt_state *st) {
  const int64_t wide[3] = {3, 5, 70};  /* strided axis, > 64 columns */
  const int64_t one[3] = {1, 1, 1};
  const int64_t row[1] = {1000};
  const char *ops[2] = {"Softmax", "LogSoftmax"};
  for (int o = 0; o < 2; o++) {
    check_softmax(st, ops[o], 13, 3, wide, 1, 1, -5, 5);
    check_softmax(st, ops[o], 13, 3, wide, 0, 1, -5, 5);
    check_softmax(st, ops[o], 11, 3, wide, 1, 1, -5, 5);
    check_softmax(st, ops[o], 13, 3, one, 1, 1, -5, 5);
    check_softmax(st, ops[o], 13, 1, row, 0, 1, -5, 5);
    /* large values: exp would overflow without subtracting the max */
    check_softmax(st, ops[o], 13, 3, wide, 2, 1, 1000, 1010);
    check_softmax(st, ops[o], 13, 3, wide, 1, 1, -1010, -1000);
  }
}

static void test_softmax_errors(qt_state *st) {
  const int64_t d[2] = {2, 3};
  int32_t xi[6] = {0};
  float xf[6] = {0};
  tcase t;
  tc_init(&t, "Softmax", 1, 1, 13);
  tc_input(&t, 0, QI_INT32, 2, d, xi, 0);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  const int64_t huge[3] = {(int64_t)1 << 30, (int64_t)1 << 30, (int64_t)1 << 30};
  tc_init(&t, "Softmax", 1, 1, 13); /* element count overflows the limit */
  tc_input(&t, 0, QI_FLOAT32, 3, huge, xf, 0);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  tc_init(&t, "LogSoftmax", 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 2, d, xf, 0);
  attr_i(&t, "axis", 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
}

/* ======================================================================== */
/* Reductions                                                               */

enum { R_SUM, R_MEAN, R_MAX, R_MIN, R_PROD, R_L1, R_L2, R_SUMSQ, R_LOGSUM,
       R_LSE, R_COUNT };
static const char *const reduce_names[R_COUNT] = {
    "ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
    "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSum",
    "ReduceLogSumExp"};

/* Reference: every input element adds into the output element found by
 * zeroing its reduced coordinates. */
static void reduce_ref(int kind, const float *x, int rank, const int64_t *d,
                       const int *red, double *y, int64_t nout) {
  int64_t n = numel_of(rank, d), idx[QI_MAX_RANK];
  double *acc = malloc(sizeof(double) * (size_t)nout);
  double *mx = malloc(sizeof(double) * (size_t)nout);
  int64_t *cnt = calloc((size_t)nout, sizeof(int64_t));
  for (int64_t o = 0; o < nout; o++) {
    acc[o] = kind == R_PROD ? 1.0 : kind == R_MAX ? -INFINITY
             : kind == R_MIN ? INFINITY : 0.0;
    mx[o] = -INFINITY;
  }
  for (int pass = 0; pass < 2; pass++)
    for (int64_t i = 0; i < n; i++) {
      unravel(i, rank, d, idx);
      int64_t o = 0;
      for (int k = 0; k < rank; k++) o = o * (red[k] ? 1 : d[k]) + (red[k] ? 0 : idx[k]);
      double v = x[i];
      if (pass == 0) {
        mx[o] = fmax(mx[o], v);
        cnt[o]++;
        continue;
      }
      switch (kind) {
        case R_SUM: case R_MEAN: case R_LOGSUM: acc[o] += v; break;
        case R_MAX: acc[o] = fmax(acc[o], v); break;
        case R_MIN: acc[o] = fmin(acc[o], v); break;
        case R_PROD: acc[o] *= v; break;
        case R_L1: acc[o] += fabs(v); break;
        case R_L2: case R_SUMSQ: acc[o] += v * v; break;
        case R_LSE: acc[o] += exp(v - mx[o]); break;
      }
    }
  for (int64_t o = 0; o < nout; o++) {
    switch (kind) {
      case R_MEAN: y[o] = acc[o] / (double)cnt[o]; break;
      case R_L2: y[o] = sqrt(acc[o]); break;
      case R_LOGSUM: y[o] = log(acc[o]); break;
      case R_LSE: y[o] = mx[o] + log(acc[o]); break;
      default: y[o] = acc[o];
    }
  }
  free(acc);
  free(mx);
  free(cnt);
}

/* axes == NULL: no axes at all. as_input: axes as a constant input (opset 18). */
static void check_reduce(qt_state *st, int kind, int rank, const int64_t *d,
                         const int64_t *axes, int naxes, int keepdims,
                         int as_input) {
  rng r = {(uint64_t)(kind * 1000 + rank * 100 + naxes * 10 + keepdims)};
  int64_t n = numel_of(rank, d);
  /* Positive data near 1 keeps products and logs well conditioned. */
  int positive = kind == R_PROD || kind == R_LOGSUM;
  float *x = rand_f(&r, n, positive ? 0.5 : -2.0, positive ? 1.5 : 2.0);
  int64_t opset = as_input ? 18 : (kind == R_SUM ? 11 : 13);
  tcase t;
  tc_init(&t, reduce_names[kind], as_input ? 2 : 1, 1, opset);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  int64_t axes_copy[QI_MAX_RANK];
  if (naxes) memcpy(axes_copy, axes, sizeof(int64_t) * (size_t)naxes);
  if (as_input) {
    int64_t ad[1] = {naxes};
    tc_input(&t, 1, QI_INT64, 1, ad, axes_copy, 1);
  } else if (axes) {
    attr_ints(&t, "axes", axes, naxes);
  }
  if (keepdims != 1) attr_i(&t, "keepdims", keepdims);
  qi_status s = tc_run(st, &t);
  QT_CHECKF(st, s == QI_OK, "%s: %s", reduce_names[kind], t.err.message);
  int red[QI_MAX_RANK] = {0};
  int64_t od[QI_MAX_RANK];
  int orank = 0;
  for (int i = 0; i < naxes; i++) red[axes[i] < 0 ? axes[i] + rank : axes[i]] = 1;
  if (naxes == 0)
    for (int i = 0; i < rank; i++) red[i] = 1;
  int64_t nout = 1;
  for (int i = 0; i < rank; i++) {
    if (!red[i]) nout *= d[i];
    if (!red[i] || keepdims) od[orank++] = red[i] ? 1 : d[i];
  }
  if (s == QI_OK) {
    QT_CHECKF(st, shape_is(out_shape(&t, 0), orank, od), "%s: output shape",
              reduce_names[kind]);
    double *ref = malloc(sizeof(double) * (size_t)nout);
    reduce_ref(kind, x, rank, d, red, ref, nout);
    if (kind == R_MAX || kind == R_MIN) {
      QT_CHECKF(st, exact_equal(tc_out(&t, 0), ref, nout), "%s not exact",
                reduce_names[kind]);
    } else {
      double e = max_rel_err(tc_out(&t, 0), ref, nout);
      QT_CHECKF(st, e <= TOL_MAX_REL, "%s naxes %d keepdims %d: max rel err %g",
                reduce_names[kind], naxes, keepdims, e);
    }
    free(ref);
  }
  free(x);
  tc_free(&t);
}

static void test_reduce_axes_sweep(qt_state *st) {
  const int64_t d4[4] = {3, 4, 5, 6};
  static const struct { int n; int64_t a[4]; } sets[] = {
      {1, {0}}, {1, {1}}, {1, {3}}, {1, {-1}}, {1, {-3}}, {2, {0, 2}},
      {2, {1, 3}}, {2, {-1, 1}}, {3, {0, 1, 3}}, {4, {0, 1, 2, 3}},
      {2, {2, 3}}, {2, {0, 1}}};
  for (int k = 0; k < R_COUNT; k++)
    for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++)
      for (int keep = 0; keep < 2; keep++)
        check_reduce(st, k, 4, d4, sets[s].a, sets[s].n, keep, (s + keep) % 2);
}

static void test_reduce_odd_shapes(qt_state *st) {
  const int64_t odd[3] = {7, 1, 5};   /* size-1 middle dim */
  const int64_t wide[2] = {4, 130};   /* kept row of > 64 columns */
  const int64_t one[3] = {1, 1, 1};
  const int64_t vec[1] = {9};
  const int64_t a0[1] = {0}, a1[1] = {1}, a2[2] = {0, 2}, am1[1] = {-1};
  for (int k = 0; k < R_COUNT; k++)
    for (int keep = 0; keep < 2; keep++) {
      check_reduce(st, k, 3, odd, a1, 1, keep, 0);
      check_reduce(st, k, 3, odd, a2, 2, keep, 1);
      check_reduce(st, k, 2, wide, a0, 1, keep, 1);
      check_reduce(st, k, 2, wide, am1, 1, keep, 0);
      check_reduce(st, k, 3, one, a1, 1, keep, 0);
      check_reduce(st, k, 1, vec, a0, 1, keep, 1);
      check_reduce(st, k, 3, odd, NULL, 0, keep, 0); /* all axes, attribute */
      check_reduce(st, k, 3, odd, NULL, 0, keep, 1); /* empty axes input */
    }
}

static void test_reduce_noop_and_errors(qt_state *st) {
  const int64_t d[3] = {2, 3, 4};
  rng r = {77};
  float *x = rand_f(&r, 24, -1, 1);
  int64_t none[1] = {0};
  int64_t ad[1] = {0};
  tcase t;
  /* noop_with_empty_axes with an empty axes input: identity */
  tc_init(&t, "ReduceSum", 2, 1, 18);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  tc_input(&t, 1, QI_INT64, 1, ad, none, 1);
  attr_i(&t, "noop_with_empty_axes", 1);
  QT_CHECK(st, tc_run(st, &t) == QI_OK);
  QT_CHECK(st, shape_is(out_shape(&t, 0), 3, d));
  QT_CHECK(st, t.out[0].data && memcmp(t.out[0].data, x, sizeof(float) * 24) == 0);
  tc_free(&t);
  /* same without an axes input at all */
  tc_init(&t, "ReduceMax", 1, 1, 18);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  attr_i(&t, "noop_with_empty_axes", 1);
  QT_CHECK(st, tc_run(st, &t) == QI_OK);
  QT_CHECK(st, t.out[0].data && memcmp(t.out[0].data, x, sizeof(float) * 24) == 0);
  tc_free(&t);
  /* axes input that is not constant */
  int64_t axes[1] = {1};
  tc_init(&t, "ReduceMean", 2, 1, 18);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  int64_t one[1] = {1};
  tc_input(&t, 1, QI_INT64, 1, one, axes, 0);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  /* axis out of range, repeated axis */
  const int64_t bad[2] = {3, 0}, rep[2] = {1, -2};
  tc_init(&t, "ReduceMin", 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  attr_ints(&t, "axes", bad, 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  tc_init(&t, "ReduceMin", 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  attr_ints(&t, "axes", rep, 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  /* non-float data */
  int32_t xi[24] = {0};
  tc_init(&t, "ReduceSum", 1, 1, 13);
  tc_input(&t, 0, QI_INT32, 3, d, xi, 0);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  free(x);
}

/* ======================================================================== */
/* BatchNormalization                                                       */

static void check_batchnorm(qt_state *st, int rank, const int64_t *d, float eps) {
  rng r = {(uint64_t)(rank * 17 + d[1])};
  int64_t n = numel_of(rank, d), c = d[1], cd[1] = {c};
  int64_t plane = n / (d[0] * c);
  float *x = rand_f(&r, n, -3, 3);
  float *scale = rand_f(&r, c, -2, 2), *bias = rand_f(&r, c, -1, 1);
  float *mean = rand_f(&r, c, -1, 1), *var = rand_f(&r, c, 0.1, 4);
  tcase t;
  tc_init(&t, "BatchNormalization", 5, 1, 15);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, cd, scale, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, cd, bias, 1);
  tc_input(&t, 3, QI_FLOAT32, 1, cd, mean, 1);
  tc_input(&t, 4, QI_FLOAT32, 1, cd, var, 1);
  if (eps != 1e-5f) attr_f(&t, "epsilon", eps);
  attr_f(&t, "momentum", 0.9f);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  double *ref = malloc(sizeof(double) * (size_t)n);
  for (int64_t i = 0; i < n; i++) {
    int64_t ch = (i / plane) % c;
    ref[i] = ((double)x[i] - mean[ch]) / sqrt((double)var[ch] + (double)eps) *
                 scale[ch] + bias[ch];
  }
  if (t.out[0].data) {
    QT_CHECK(st, shape_is(out_shape(&t, 0), rank, d));
    double e = max_rel_err(tc_out(&t, 0), ref, n);
    QT_CHECKF(st, e <= TOL_MAX_REL, "rank %d: max rel err %g", rank, e);
  }
  free(ref);
  free(x); free(scale); free(bias); free(mean); free(var);
  tc_free(&t);
}

static void test_batchnorm(qt_state *st) {
  const int64_t d4[4] = {2, 3, 4, 5}, d1x1[4] = {1, 5, 1, 1}, d2[2] = {3, 7},
                d3[3] = {2, 3, 5}, d5[5] = {1, 2, 3, 2, 2};
  check_batchnorm(st, 4, d4, 1e-5f);
  check_batchnorm(st, 4, d1x1, 1e-3f);
  check_batchnorm(st, 2, d2, 1e-5f);
  check_batchnorm(st, 3, d3, 0.5f);
  check_batchnorm(st, 5, d5, 1e-5f);
  const int64_t big[4] = {1, 2, 130, 131}; /* planes split into chunks */
  check_batchnorm(st, 4, big, 1e-5f);
}

static void test_batchnorm_errors(qt_state *st) {
  const int64_t d[4] = {1, 3, 2, 2}, cd[1] = {3}, c4[1] = {4};
  float x[12] = {0}, v[4] = {1, 1, 1, 1};
  tcase t;
  tc_init(&t, "BatchNormalization", 5, 1, 15);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  for (int k = 1; k < 5; k++) tc_input(&t, k, QI_FLOAT32, 1, cd, v, 1);
  attr_i(&t, "training_mode", 1);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  tc_init(&t, "BatchNormalization", 5, 3, 15);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  for (int k = 1; k < 5; k++) tc_input(&t, k, QI_FLOAT32, 1, cd, v, 1);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED); /* running-stat outputs */
  tc_free(&t);
  tc_init(&t, "BatchNormalization", 5, 1, 15);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  for (int k = 1; k < 5; k++) tc_input(&t, k, QI_FLOAT32, 1, k == 3 ? c4 : cd, v, 1);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(t.err.message, "input_mean") != NULL);
  tc_free(&t);
}

/* ======================================================================== */
/* LayerNormalization                                                       */

/* Index of the element of a broadcast parameter of shape ps seen at X index
 * idx (numpy right alignment). */
static int64_t bcast_index(int xrank, const int64_t *idx, int prank,
                           const int64_t *ps) {
  int64_t o = 0;
  for (int i = 0; i < prank; i++) {
    int xi = xrank - prank + i;
    o = o * ps[i] + (ps[i] == 1 ? 0 : idx[xi]);
  }
  return o;
}

static void check_layernorm(qt_state *st, int rank, const int64_t *d,
                            int64_t axis, int srank, const int64_t *sd,
                            int with_bias, int want_stats) {
  rng r = {(uint64_t)(rank * 31 + axis * 3 + srank + with_bias)};
  int64_t n = numel_of(rank, d), sn = numel_of(srank, sd);
  float *x = rand_f(&r, n, -2, 4);
  float *scale = rand_f(&r, sn, -2, 2), *bias = rand_f(&r, sn, -1, 1);
  tcase t;
  tc_init(&t, "LayerNormalization", with_bias ? 3 : 2, want_stats ? 3 : 1, 17);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, srank, sd, scale, 1);
  if (with_bias) tc_input(&t, 2, QI_FLOAT32, srank, sd, bias, 1);
  attr_i(&t, "axis", axis);
  attr_f(&t, "epsilon", 1e-4f);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  int ax = (int)(axis < 0 ? axis + rank : axis);
  int64_t rows = numel_of(ax, d), len = n / rows, idx[QI_MAX_RANK];
  double *ref = malloc(sizeof(double) * (size_t)n);
  double *rmean = malloc(sizeof(double) * (size_t)rows);
  double *rinv = malloc(sizeof(double) * (size_t)rows);
  for (int64_t row = 0; row < rows; row++) {
    const float *xr = x + row * len;
    double m = 0, v = 0;
    for (int64_t i = 0; i < len; i++) m += xr[i];
    m /= (double)len;
    for (int64_t i = 0; i < len; i++) v += ((double)xr[i] - m) * ((double)xr[i] - m);
    double inv = 1.0 / sqrt(v / (double)len + (double)1e-4f);
    rmean[row] = m;
    rinv[row] = inv;
    for (int64_t i = 0; i < len; i++) {
      int64_t e = row * len + i;
      unravel(e, rank, d, idx);
      int64_t p = bcast_index(rank, idx, srank, sd);
      ref[e] = ((double)xr[i] - m) * inv * scale[p] + (with_bias ? bias[p] : 0.0);
    }
  }
  if (t.out[0].data) {
    double e = max_rel_err(tc_out(&t, 0), ref, n);
    QT_CHECKF(st, e <= TOL_MAX_REL, "rank %d axis %lld: max rel err %g", rank,
              (long long)axis, e);
    if (want_stats) {
      int64_t sdims[QI_MAX_RANK];
      for (int i = 0; i < rank; i++) sdims[i] = i < ax ? d[i] : 1;
      QT_CHECK(st, shape_is(out_shape(&t, 1), rank, sdims));
      QT_CHECK(st, shape_is(out_shape(&t, 2), rank, sdims));
      double e1 = max_rel_err(tc_out(&t, 1), rmean, rows);
      double e2 = max_rel_err(tc_out(&t, 2), rinv, rows);
      QT_CHECKF(st, e1 <= TOL_MAX_REL && e2 <= TOL_MAX_REL,
                "stats: mean err %g inv_std err %g", e1, e2);
    }
  }
  free(ref); free(rmean); free(rinv);
  free(x); free(scale); free(bias);
  tc_free(&t);
}

static void test_layernorm(qt_state *st) {
  const int64_t d3[3] = {2, 3, 5}, d4[4] = {2, 3, 1, 7};
  const int64_t s5[1] = {5}, s35[2] = {3, 5}, s1[1] = {1}, s31[2] = {3, 1},
                s135[3] = {1, 3, 5}, s2351[3] = {2, 3, 5};
  check_layernorm(st, 3, d3, -1, 1, s5, 1, 0);
  check_layernorm(st, 3, d3, 2, 1, s5, 0, 1);
  check_layernorm(st, 3, d3, 1, 2, s35, 1, 1);
  check_layernorm(st, 3, d3, -2, 1, s1, 1, 0);   /* scalar scale */
  check_layernorm(st, 3, d3, 1, 2, s31, 1, 0);   /* broadcast over last dim */
  check_layernorm(st, 3, d3, 1, 1, s5, 1, 1);    /* broadcast over dim 1 */
  check_layernorm(st, 3, d3, 1, 3, s135, 1, 0);  /* leading 1 */
  check_layernorm(st, 3, d3, 0, 3, s2351, 1, 1); /* whole tensor */
  const int64_t s7[1] = {7}, s17[2] = {1, 7};
  check_layernorm(st, 4, d4, -1, 1, s7, 1, 1);
  check_layernorm(st, 4, d4, 2, 2, s17, 1, 0);
  const int64_t dv[3] = {1, 197, 768}, sv[1] = {768}; /* ViT token rows */
  check_layernorm(st, 3, dv, -1, 1, sv, 1, 0);
}

/* Last-axis LayerNorm on rows of every length class of the row kernels,
 * with data offset far from zero (the deviations must be taken in double)
 * and both statistics outputs. */
static void check_layernorm_rows(qt_state *st, int64_t rows, int64_t len,
                                 double offset, double spread) {
  rng r = {(uint64_t)(rows * 1000 + len)};
  int64_t n = rows * len, d[2] = {rows, len}, sd[1] = {len};
  float *x = rand_f(&r, n, offset - spread, offset + spread);
  float *scale = rand_f(&r, len, -2, 2), *bias = rand_f(&r, len, -1, 1);
  tcase t;
  tc_init(&t, "LayerNormalization", 3, 3, 17);
  tc_input(&t, 0, QI_FLOAT32, 2, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, sd, scale, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, sd, bias, 1);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  double *ref = malloc(sizeof(double) * (size_t)n);
  double *rmean = malloc(sizeof(double) * (size_t)rows);
  double *rinv = malloc(sizeof(double) * (size_t)rows);
  for (int64_t row = 0; row < rows; row++) {
    const float *xr = x + row * len;
    double m = 0, v = 0;
    for (int64_t i = 0; i < len; i++) m += xr[i];
    m /= (double)len;
    for (int64_t i = 0; i < len; i++) v += ((double)xr[i] - m) * ((double)xr[i] - m);
    rmean[row] = m;
    rinv[row] = 1.0 / sqrt(v / (double)len + (double)1e-5f);
    for (int64_t i = 0; i < len; i++)
      ref[row * len + i] = ((double)xr[i] - m) * rinv[row] * scale[i] + bias[i];
  }
  if (t.out[0].data) {
    double e = max_rel_err(tc_out(&t, 0), ref, n);
    double e1 = max_rel_err(tc_out(&t, 1), rmean, rows);
    double e2 = max_rel_err(tc_out(&t, 2), rinv, rows);
    QT_CHECKF(st, e <= TOL_MAX_REL && e1 <= TOL_MAX_REL && e2 <= TOL_MAX_REL,
              "rows %lld len %lld offset %g: max rel err %g, mean %g, inv_std %g",
              (long long)rows, (long long)len, offset, e, e1, e2);
  }
  free(ref); free(rmean); free(rinv);
  free(x); free(scale); free(bias);
  tc_free(&t);
}

static void test_layernorm_rows(qt_state *st) {
  static const int64_t lens[] = {1, 3, 8, 9, 16, 17, 33, 96, 192, 255, 768};
  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    check_layernorm_rows(st, 5, lens[i], 0.0, 3.0);
    check_layernorm_rows(st, 3, lens[i], 1000.0, 0.5);
  }
}

static void test_layernorm_errors(qt_state *st) {
  const int64_t d[3] = {2, 3, 5}, s3[1] = {3}, s35[2] = {3, 5};
  float x[30] = {0}, s[15] = {0};
  tcase t;
  tc_init(&t, "LayerNormalization", 2, 1, 17);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, s3, s, 1);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  /* a scale varying over a dim before the axis */
  tc_init(&t, "LayerNormalization", 2, 1, 17);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 2, s35, s, 1);
  attr_i(&t, "axis", 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  tc_init(&t, "LayerNormalization", 2, 1, 17);
  tc_input(&t, 0, QI_FLOAT32, 3, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, s3, s, 1);
  attr_i(&t, "axis", -4);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
}

/* ======================================================================== */
/* GroupNormalization / InstanceNormalization                               */

static void check_groupnorm(qt_state *st, const char *op, int64_t opset,
                            int rank, const int64_t *d, int64_t groups,
                            int64_t nparams) {
  rng r = {(uint64_t)(opset * 7 + groups * 3 + nparams + rank)};
  int64_t n = numel_of(rank, d), c = d[1], pd[1] = {nparams};
  int64_t plane = n / (d[0] * c), cpg = c / groups;
  float *x = rand_f(&r, n, -1, 3);
  float *scale = rand_f(&r, nparams, -2, 2), *bias = rand_f(&r, nparams, -1, 1);
  tcase t;
  tc_init(&t, op, 3, 1, opset);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, pd, scale, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, pd, bias, 1);
  if (strcmp(op, "GroupNormalization") == 0) attr_i(&t, "num_groups", groups);
  attr_f(&t, "epsilon", 1e-3f);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  double *ref = malloc(sizeof(double) * (size_t)n);
  int64_t len = cpg * plane;
  for (int64_t blk = 0; blk < d[0] * groups; blk++) {
    const float *xb = x + blk * len;
    double m = 0, v = 0;
    for (int64_t i = 0; i < len; i++) m += xb[i];
    m /= (double)len;
    for (int64_t i = 0; i < len; i++) v += ((double)xb[i] - m) * ((double)xb[i] - m);
    double inv = 1.0 / sqrt(v / (double)len + (double)1e-3f);
    for (int64_t i = 0; i < len; i++) {
      int64_t ch = (blk % groups) * cpg + i / plane;
      int64_t p = nparams == c ? ch : blk % groups;
      ref[blk * len + i] = ((double)xb[i] - m) * inv * scale[p] + bias[p];
    }
  }
  if (t.out[0].data) {
    double e = max_rel_err(tc_out(&t, 0), ref, n);
    QT_CHECKF(st, e <= TOL_MAX_REL, "%s opset %lld groups %lld: max rel err %g",
              op, (long long)opset, (long long)groups, e);
  }
  free(ref); free(x); free(scale); free(bias);
  tc_free(&t);
}

static void test_groupnorm(qt_state *st) {
  const int64_t d6[4] = {2, 6, 3, 5}, d5[3] = {3, 5, 7}, d4[4] = {1, 4, 1, 1};
  check_groupnorm(st, "GroupNormalization", 18, 4, d6, 3, 3);  /* per group */
  check_groupnorm(st, "GroupNormalization", 21, 4, d6, 3, 6);  /* per channel */
  check_groupnorm(st, "GroupNormalization", 18, 4, d6, 2, 6);  /* C accepted */
  check_groupnorm(st, "GroupNormalization", 21, 3, d5, 1, 5);
  check_groupnorm(st, "GroupNormalization", 18, 3, d5, 5, 5);
  check_groupnorm(st, "GroupNormalization", 21, 4, d6, 6, 6);
  const int64_t d3[4] = {1, 4, 2, 3};
  check_groupnorm(st, "GroupNormalization", 18, 4, d3, 4, 4);
  check_groupnorm(st, "InstanceNormalization", 13, 4, d6, 6, 6);
  check_groupnorm(st, "InstanceNormalization", 13, 3, d5, 5, 5);
  check_groupnorm(st, "InstanceNormalization", 13, 4, d4, 4, 4); /* 1x1 */
  const int64_t d3d[5] = {2, 3, 2, 3, 4};
  check_groupnorm(st, "InstanceNormalization", 13, 5, d3d, 3, 3);
  const int64_t dwide[4] = {1, 8, 17, 19}; /* blocks of 646 and 323 */
  check_groupnorm(st, "GroupNormalization", 21, 4, dwide, 4, 8);
  check_groupnorm(st, "InstanceNormalization", 13, 4, dwide, 8, 8);
}

static void test_groupnorm_errors(qt_state *st) {
  const int64_t d[4] = {1, 6, 2, 2}, p3[1] = {3}, p6[1] = {6};
  float x[24] = {0}, p[6] = {0};
  tcase t;
  /* opset 21 wants C entries, a per-group scale is an error */
  tc_init(&t, "GroupNormalization", 3, 1, 21);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, p3, p, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, p3, p, 1);
  attr_i(&t, "num_groups", 3);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  /* groups must divide channels */
  tc_init(&t, "GroupNormalization", 3, 1, 18);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, p6, p, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, p6, p, 1);
  attr_i(&t, "num_groups", 4);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  /* InstanceNorm scale of the wrong length */
  tc_init(&t, "InstanceNormalization", 3, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  tc_input(&t, 1, QI_FLOAT32, 1, p3, p, 1);
  tc_input(&t, 2, QI_FLOAT32, 1, p3, p, 1);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
}

static void test_pool_2d_sweep(qt_state *st) {
  const int64_t shapes[3][4] = {{1, 3, 7, 7}, {2, 1, 8, 5}, {1, 2, 9, 11}};
  const int64_t ks[4] = {1, 2, 3, 7}, ss[3] = {1, 2, 3};
  const int64_t asym[4] = {1, 0, 0, 2}, sym[4] = {1, 1, 1, 1};
  const char *ops[2] = {"MaxPool", "AveragePool"};
  for (int o = 0; o < 2; o++)
    for (int si = 0; si < 3; si++)
      for (int ki = 0; ki < 4; ki++)
        for (int sti = 0; sti < 3; sti++)
          for (int dil = 1; dil <= 2; dil++)
            for (int pi = 0; pi < 3; pi++)
              for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++)
                for (int cip = 0; cip < (o ? 2 : 1); cip++) {
                  const int64_t *pads = pi == 0 ? NULL : pi == 1 ? asym : sym;
                  pool_cfg c = cfg2d(ks[ki], ss[sti], dil, pads);
                  int64_t dk = (ks[ki] - 1) * dil + 1;
                  int64_t minpad = pads ? pads[0] + pads[2] : 0;
                  if (dk > shapes[si][3] + minpad || dk > shapes[si][2] + minpad)
                    continue; /* window larger than the padded input */
                  if (pads && ks[ki] == 1) continue; /* window all in padding */
                  c.ceil_mode = ceil_mode;
                  c.count_pad = cip;
                  check_pool(st, ops[o], &c, shapes[si], NULL);
                }
}

static void test_pool_auto_pad(qt_state *st) {
  const char *modes[4] = {"NOTSET", "VALID", "SAME_UPPER", "SAME_LOWER"};
  const int64_t shapes[2][4] = {{1, 3, 7, 6}, {2, 2, 5, 5}};
  const int64_t ks[3] = {2, 3, 4}, ss[2] = {1, 2};
  const char *ops[2] = {"MaxPool", "AveragePool"};
  for (int o = 0; o < 2; o++)
    for (int m = 0; m < 4; m++)
      for (int si = 0; si < 2; si++)
        for (int ki = 0; ki < 3; ki++)
          for (int sti = 0; sti < 2; sti++)
            for (int cip = 0; cip < 2; cip++) {
              pool_cfg c = cfg2d(ks[ki], ss[sti], 1, NULL);
              c.auto_pad = modes[m];
              c.count_pad = o ? cip : 0;
              check_pool(st, ops[o], &c, shapes[si], NULL);
              c.set_dil = 1; /* dilated SAME / VALID windows */
              c.dil[0] = 2;
              int64_t small = shapes[si][2] < shapes[si][3] ? shapes[si][2] : shapes[si][3];
              if ((c.k[0] - 1) * 2 + 1 <= small) check_pool(st, ops[o], &c, shapes[si], NULL);
            }
}

/* ceil_mode shapes worked out by hand with PyTorch's rule. */
static void test_pool_ceil_mode_shapes(qt_state *st) {
  static const struct {
    int64_t in, k, s, pb, pe, floor_out, ceil_out;
  } cases[] = {
      {6, 3, 2, 0, 0, 2, 3},   /* extra window starts inside the input */
      {5, 2, 2, 1, 1, 3, 3},   /* extra window would start in the right pad */
      {7, 3, 2, 0, 0, 3, 3},   /* exact fit */
      {8, 3, 3, 1, 0, 3, 3},
      {10, 3, 4, 0, 2, 3, 3},  /* dropped: would start at 12 >= 10 */
      {9, 2, 4, 0, 0, 2, 3},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    for (int cm = 0; cm < 2; cm++)
      for (int o = 0; o < 2; o++) {
        int64_t pads[4] = {cases[i].pb, 0, cases[i].pe, 0};
        pool_cfg c = cfg2d(cases[i].k, cases[i].s, 1, pads);
        c.k[1] = 1;
        c.s[1] = 1;
        c.ceil_mode = cm;
        c.count_pad = o;
        int64_t xd[4] = {1, 2, cases[i].in, 3}, od[4] = {0};
        check_pool(st, o ? "AveragePool" : "MaxPool", &c, xd, od);
        QT_CHECKF(st, od[2] == (cm ? cases[i].ceil_out : cases[i].floor_out),
                  "case %zu ceil %d: out %lld", i, cm, (long long)od[2]);
      }
}

static void test_pool_1d_3d(qt_state *st) {
  const int64_t x1[3] = {2, 3, 11}, x3[5] = {1, 2, 5, 6, 7};
  const char *ops[2] = {"MaxPool", "AveragePool"};
  for (int o = 0; o < 2; o++)
    for (int cm = 0; cm < 2; cm++)
      for (int cip = 0; cip < 2; cip++) {
        pool_cfg c = {.sr = 1, .k = {3}, .s = {2}, .dil = {1}, .pads = {2, 1},
                      .set_strides = 1, .set_pads = 1, .ceil_mode = cm,
                      .count_pad = o ? cip : 0};
        check_pool(st, ops[o], &c, x1, NULL);
        c.dil[0] = 3;
        c.set_dil = 1;
        check_pool(st, ops[o], &c, x1, NULL);
        pool_cfg c3 = {.sr = 3, .k = {2, 3, 2}, .s = {2, 1, 3}, .dil = {1, 2, 1},
                       .pads = {1, 0, 1, 0, 1, 1}, .set_strides = 1,
                       .set_dil = 1, .set_pads = 1, .ceil_mode = cm,
                       .count_pad = o ? cip : 0};
        check_pool(st, ops[o], &c3, x3, NULL);
        c3.auto_pad = "SAME_LOWER";
        c3.ceil_mode = 0;
        check_pool(st, ops[o], &c3, x3, NULL);
      }
}

static void check_global(qt_state *st, const char *op, int rank,
                         const int64_t *d) {
  rng r = {(uint64_t)(rank * 5 + d[1])};
  int64_t n = numel_of(rank, d), planes = d[0] * d[1], plane = n / planes;
  float *x = rand_f(&r, n, -3, 3);
  tcase t;
  tc_init(&t, op, 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, rank, d, x, 0);
  QT_CHECKF(st, tc_run(st, &t) == QI_OK, "%s", t.err.message);
  int64_t od[QI_MAX_RANK];
  for (int i = 0; i < rank; i++) od[i] = i < 2 ? d[i] : 1;
  double *ref = malloc(sizeof(double) * (size_t)planes);
  int is_max = !strcmp(op, "GlobalMaxPool");
  for (int64_t p = 0; p < planes; p++) {
    double m = -INFINITY, s = 0;
    for (int64_t i = 0; i < plane; i++) {
      m = fmax(m, x[p * plane + i]);
      s += x[p * plane + i];
    }
    ref[p] = is_max ? m : s / (double)plane;
  }
  if (t.out[0].data) {
    QT_CHECK(st, shape_is(out_shape(&t, 0), rank, od));
    if (is_max)
      QT_CHECK(st, exact_equal(tc_out(&t, 0), ref, planes));
    else
      QT_CHECK(st, max_rel_err(tc_out(&t, 0), ref, planes) <= TOL_MAX_REL);
  }
  free(ref);
  free(x);
  tc_free(&t);
}

static void test_global_pools(qt_state *st) {
  const int64_t d4[4] = {2, 3, 4, 5}, d1[4] = {1, 5, 1, 1}, d3[3] = {2, 3, 7},
                d5[5] = {1, 2, 3, 4, 5}, dbig[4] = {1, 7, 56, 56},
                d13[4] = {1, 40, 13, 13}, d7[4] = {2, 64, 7, 7},
                dlong[3] = {1, 3, 4099};
  const char *ops[2] = {"GlobalMaxPool", "GlobalAveragePool"};
  for (int o = 0; o < 2; o++) {
    check_global(st, ops[o], 4, d4);
    check_global(st, ops[o], 4, d1);
    check_global(st, ops[o], 3, d3);
    check_global(st, ops[o], 5, d5);
    check_global(st, ops[o], 4, dbig);
    check_global(st, ops[o], 4, d13);
    check_global(st, ops[o], 4, d7);
    check_global(st, ops[o], 3, dlong);
  }
}

static void test_pool_errors(qt_state *st) {
  const int64_t d[4] = {1, 1, 4, 4};
  float x[16] = {0};
  int8_t xi[16] = {0};
  const int64_t k2[2] = {2, 2}, k5[2] = {5, 5}, k3[3] = {2, 2, 2};
  tcase t;
  tc_init(&t, "MaxPool", 1, 1, 13); /* kernel_shape missing */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_PARSE);
  QT_CHECK(st, strstr(t.err.message, "node_under_test") != NULL);
  tc_free(&t);
  tc_init(&t, "AveragePool", 1, 1, 13); /* window larger than input */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k5, 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  tc_init(&t, "AveragePool", 1, 1, 13); /* kernel rank mismatch */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k3, 3);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_PARSE);
  tc_free(&t);
  tc_init(&t, "MaxPool", 1, 2, 13); /* Indices requested */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k2, 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  tc_free(&t);
  tc_init(&t, "MaxPool", 1, 2, 13); /* Indices declared but unused: fine */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k2, 2);
  tc_drop_output(&t, 1);
  QT_CHECK(st, tc_infer(&t) == QI_OK);
  tc_free(&t);
  tc_init(&t, "MaxPool", 1, 1, 13); /* int8 data */
  tc_input(&t, 0, QI_INT8, 4, d, xi, 0);
  attr_ints(&t, "kernel_shape", k2, 2);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_UNSUPPORTED);
  tc_free(&t);
  const int64_t d3[5] = {1, 1, 4, 4, 4}, k1[3] = {1, 1, 1};
  const int64_t big_pads[6] = {1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1 << 30};
  tc_init(&t, "AveragePool", 1, 1, 13); /* padding makes the output huge */
  tc_input(&t, 0, QI_FLOAT32, 5, d3, x, 0);
  attr_ints(&t, "kernel_shape", k1, 3);
  attr_ints(&t, "pads", big_pads, 6);
  QT_CHECK(st, tc_infer(&t) == QI_ERR_SHAPE);
  tc_free(&t);
  tc_init(&t, "MaxPool", 1, 1, 13); /* bad auto_pad */
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k2, 2);
  attr_s(&t, "auto_pad", "SAME");
  QT_CHECK(st, tc_infer(&t) == QI_ERR_PARSE);
  tc_free(&t);
}

/* Max-type ops propagate NaN (as numpy and PyTorch do) instead of skipping
 * it. */
static void test_max_nan_propagation(qt_state *st) {
  const int64_t d[4] = {1, 1, 4, 4}, k2[2] = {2, 2};
  float x[16];
  for (int i = 0; i < 16; i++) x[i] = (float)i;
  x[5] = NAN; /* inside the top-left 2x2 window */
  tcase t;
  tc_init(&t, "MaxPool", 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 4, d, x, 0);
  attr_ints(&t, "kernel_shape", k2, 2);
  attr_ints(&t, "strides", k2, 2);
  QT_CHECK(st, tc_run(st, &t) == QI_OK);
  if (t.out[0].data) {
    const float *y = tc_out(&t, 0);
    QT_CHECK(st, isnan(y[0]) && y[1] == 7.0f && y[2] == 13.0f && y[3] == 15.0f);
  }
  tc_free(&t);
  const char *ops[2] = {"ReduceMax", "ReduceMin"};
  const int64_t d2[2] = {4, 4}, axis[1] = {-1};
  for (int o = 0; o < 2; o++) {
    tc_init(&t, ops[o], 1, 1, 13);
    tc_input(&t, 0, QI_FLOAT32, 2, d2, x, 0);
    attr_ints(&t, "axes", axis, 1);
    QT_CHECK(st, tc_run(st, &t) == QI_OK);
    if (t.out[0].data) {
      const float *y = tc_out(&t, 0);
      QT_CHECK(st, !isnan(y[0]) && isnan(y[1]) && !isnan(y[2]) && !isnan(y[3]));
    }
    tc_free(&t);
  }
  const int64_t dg[4] = {1, 4, 2, 2};
  tc_init(&t, "GlobalMaxPool", 1, 1, 13);
  tc_input(&t, 0, QI_FLOAT32, 4, dg, x, 0);
  QT_CHECK(st, tc_run(st, &t) == QI_OK);
  if (t.out[0].data) {
    const float *y = tc_out(&t, 0);
    QT_CHECK(st, !isnan(y[0]) && isnan(y[1]) && y[2] == 11.0f && y[3] == 15.0f);
  }
  tc_free(&t);
}

/* Every case runs with the kernels the dispatcher picks, then again with
 * the scalar ones forced (QINFER_ISA=scalar) where it would pick others. */
static void run_all(qt_state *st) {
  QT_RUN(st, test_softmax_every_axis);
  QT_RUN(st, test_softmax_wide_and_odd);
  QT_RUN(st, test_softmax_rows);
  QT_RUN(st, test_softmax_errors);
  QT_RUN(st, test_reduce_axes_sweep);
  QT_RUN(st, test_reduce_odd_shapes);
  QT_RUN(st, test_reduce_noop_and_errors);
  QT_RUN(st, test_batchnorm);
  QT_RUN(st, test_batchnorm_errors);
  QT_RUN(st, test_layernorm);
  QT_RUN(st, test_layernorm_rows);
  QT_RUN(st, test_layernorm_errors);
  QT_RUN(st, test_groupnorm);
  QT_RUN(st, test_groupnorm_errors);
  QT_RUN(st, test_pool_2d_sweep);
  QT_RUN(st, test_pool_auto_pad);
  QT_RUN(st, test_pool_ceil_mode_shapes);
  QT_RUN(st, test_pool_1d_3d);
  QT_RUN(st, test_global_pools);
  QT_RUN(st, test_pool_errors);
  QT_RUN(st, test_max_nan_propagation);
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
