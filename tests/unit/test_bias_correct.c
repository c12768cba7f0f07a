/* Bias correction (lib/calib/bias_correct.h, qi_calib_options
 * .bias_correction): the corrected biases against the formula computed here
 * in double with an independent int8 rounding, the mean output error of a
 * calibrated model with inputs far from zero mean, and the default (off)
 * leaving built models byte-identical. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calib/bias_correct.h"
#include "calib_test_util.h"
#include "graph_build_util.h"
#include "onnx_build.h"
#include "qinfer.h"
#include "qtest.h"

/* Stored corrected bias vs the double reference b - delta: float rounding
 * of the result and of the reference's own sums, relative to the largest
 * term (REL_FLOAT_TOL of calib_test_util.h). A wrong channel mapping, scale
 * or code moves it by ~1e-3 of that. */
#define BIAS_REL_TOL REL_FLOAT_TOL
/* Calibrated model, held-out samples: the mean output error (per output
 * channel over samples and pixels, |.| averaged over channels) must drop
 * at least this much with correction on. Measured 69x (conv) and 12x
 * (gemm, where the zero-mean noise of 2048 samples is the floor); without
 * correction, or with a wrong channel mapping, it stays ~1x. */
#define MIN_MEAN_ERROR_DROP 5.0

/* ---- the formula on a hand-made graph ---------------------------------- */

static int64_t clamp_code(double v) {
  return v > 127 ? 127 : v < -127 ? -127 : (int64_t)v;
}

/* delta[c] of weights read as channel c, element i at
 * w[c * cs + i * es] (with alpha), input channel of element i of channel c
 * given by in_ch(c, i). Scales max|w| / 127 in float, codes rounded half to
 * even by the oracle of calib_test_util.h. */
typedef int64_t (*in_channel_fn)(int64_t c, int64_t i, const int64_t *p);

static void ref_delta(const float *w, int64_t ch, int64_t size, int64_t cs,
                      int64_t es, float alpha, const double *mean,
                      in_channel_fn in_ch, const int64_t *p, double *delta,
                      double *mag) {
  for (int64_t c = 0; c < ch; c++) {
    float mx = 0.0f;
    for (int64_t i = 0; i < size; i++) {
      float v = w[c * cs + i * es] * alpha;
      if (fabsf(v) > mx) mx = fabsf(v);
    }
    float s = mx / 127.0f;
    double d = 0, m = 0;
    for (int64_t i = 0; i < size; i++) {
      float v = w[c * cs + i * es] * alpha;
      int64_t q = clamp_code(round_half_even_ref((double)v / (double)s));
      double term = ((double)q * s - (double)alpha * w[c * cs + i * es]) *
                    mean[in_ch(c, i, p)];
      d += term;
      m += fabs(term);
    }
    delta[c] = d;
    mag[c] = m;
  }
}

/* Conv [M, C/g, kh, kw]: p = {M / g, C / g, kh * kw}. */
static int64_t conv_in_ch(int64_t c, int64_t i, const int64_t *p) {
  return (c / p[0]) * p[1] + i / p[2];
}
static int64_t dense_in_ch(int64_t c, int64_t i, const int64_t *p) {
  (void)c;
  (void)p;
  return i;
}

static float *rand_floats(int64_t n, double scale) {
  float *v = malloc(sizeof(float) * (size_t)n);
  for (int64_t i = 0; i < n; i++)
    v[i] = (float)(scale * (2 * rng_uniform() - 1));
  return v;
}

static int add_act(qi_graph *g, const char *name, qi_shape s, int quantized) {
  int t = qi_graph_add_tensor(g, name, QI_FLOAT32);
  g->tensors[t].shape = s;
  g->tensors[t].kind = QI_TK_ACT;
  if (quantized) {
    g->tensors[t].quant.has = 1;
    g->tensors[t].quant.scale = 0.05f;
    g->tensors[t].quant.zero_point = 128;
  }
  return t;
}

static int add_node(qi_graph *g, const char *name, const char *op,
                    const int *in, int nin, int out, qi_precision prec) {
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  for (int k = 0; k < nin; k++) g->nodes[n].in[k] = in[k];
  g->nodes[n].out[0] = out;
  g->nodes[n].precision = prec;
  return n;
}

/* Per-channel means of v (outer x ch x inner), skipping non-finite. */
static void acc_means(const float *v, int64_t outer, int64_t ch, int64_t inner,
                      double *sum, double *cnt) {
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < ch; c++)
      for (int64_t k = 0; k < inner; k++) {
        float x = v[(o * ch + c) * inner + k];
        if (isfinite(x)) sum[c] += x, cnt[c] += 1;
      }
}

/* Activations with channel means far from zero: offset(c) + noise. */
static float *biased_act(int64_t outer, int64_t ch, int64_t inner) {
  float *v = malloc(sizeof(float) * (size_t)(outer * ch * inner));
  for (int64_t o = 0; o < outer; o++)
    for (int64_t c = 0; c < ch; c++)
      for (int64_t k = 0; k < inner; k++)
        v[(o * ch + c) * inner + k] =
            (float)(3.0 * (double)c - 7.5 + rng_gauss());
  return v;
}

static int check_bias(qt_state *st, const qi_graph *g, int node, const float *b,
                      int64_t ch, int b_scalar, float beta,
                      const double *delta, const double *mag) {
  const qi_node *n = &g->nodes[node];
  if (n->nin < 3 || n->in[2] < 0) return 0;
  const qi_tensor *t = &g->tensors[n->in[2]];
  int ok = strstr(t->name, ":bias_corrected") != NULL &&
           t->kind == QI_TK_CONST && qi_shape_numel(&t->shape) == ch;
  QT_CHECKF(st, ok, "node %s: bias tensor %s", n->name, t->name);
  if (!ok) return 0;
  const float *got = t->data;
  int bad = 0;
  for (int64_t c = 0; c < ch; c++) {
    double base = b ? (double)(b[b_scalar ? 0 : c] * beta) : 0.0;
    double ref = base - delta[c];
    double tol = BIAS_REL_TOL * (fabs(base) + mag[c] + fabs(ref));
    if (!(fabs(got[c] - ref) <= tol)) {
      if (!bad)
        fprintf(stderr, "  %s channel %lld: got %.9g want %.9g (delta %.3g)\n",
                n->name, (long long)c, (double)got[c], ref, delta[c]);
      bad++;
    }
    /* The correction must be visible at all (not lost in rounding). */
    if (!(fabs(delta[c]) > 100 * tol)) bad++;
  }
  QT_CHECKF(st, bad == 0, "node %s: %d channels off", n->name, bad);
  return bad == 0;
}

/* Conv with 3 groups and 9 (odd) output channels, a depthwise Conv without
 * bias, Gemm transB + alpha + beta, Gemm with a scalar C, MatMul [.., K]
 * without bias; an FP32 node and a node with an unquantized input stay as
 * they were. */
static void test_formula(qt_state *st) {
  rng_seed(41);
  qi_graph *g = qi_graph_create();
  enum { N = 2, C = 6, H = 5, W = 4, M = 9, G = 3, K = 7, NN = 5 };
  int x = add_act(g, "x", SH(N, C, H, W), 1);
  int xu = add_act(g, "x_unquantized", SH(N, C, H, W), 0);
  int a = add_act(g, "a", SH(3, K), 1);
  int a3 = add_act(g, "a3", SH(2, 3, K), 1);
  float *wg = rand_floats(M * (C / G) * 9, 0.4), *bg = rand_floats(M, 0.2);
  float *wd = rand_floats(C * 9, 0.5);
  float *wt = rand_floats(NN * K, 0.3), *bt = rand_floats(NN, 0.2);
  float *wn = rand_floats(K * NN, 0.3), bs[1] = {0.25f};
  float *wm = rand_floats(K * NN, 0.3);
  int twg = const_f32(g, "wg", SH(M, C / G, 3, 3), wg);
  int tbg = const_f32(g, "bg", SH(M), bg);
  int twd = const_f32(g, "wd", SH(C, 1, 3, 3), wd);
  int twt = const_f32(g, "wt", SH(NN, K), wt);
  int tbt = const_f32(g, "bt", SH(NN), bt);
  int twn = const_f32(g, "wn", SH(K, NN), wn);
  int tbs = const_f32(g, "bs", SH(1), bs);
  int twm = const_f32(g, "wm", SH(K, NN), wm);
  int convg = add_node(g, "convg", "Conv", IDX(x, twg, tbg),
                       add_act(g, "yg", SH(N, M, 3, 2), 0), QI_PREC_INT8);
  attr_i(g, convg, "group", G);
  int dw = add_node(g, "dw", "Conv", IDX(x, twd),
                    add_act(g, "yd", SH(N, C, 3, 2), 0), QI_PREC_INT8);
  attr_i(g, dw, "group", C);
  int fc = add_node(g, "fc", "Gemm", IDX(a, twt, tbt),
                    add_act(g, "yt", SH(3, NN), 0), QI_PREC_INT8);
  attr_i(g, fc, "transB", 1);
  attr_f(g, fc, "alpha", 0.7f);
  attr_f(g, fc, "beta", 0.5f);
  int fc2 = add_node(g, "fc2", "Gemm", IDX(a, twn, tbs),
                     add_act(g, "yn", SH(3, NN), 0), QI_PREC_INT8);
  attr_f(g, fc2, "alpha", 1.3f);
  int mm = add_node(g, "mm", "MatMul", IDX(a3, twm),
                    add_act(g, "ym", SH(2, 3, NN), 0), QI_PREC_INT8);
  int f32 = add_node(g, "conv_fp32", "Conv", IDX(x, twg, tbg),
                     add_act(g, "yf", SH(N, M, 3, 2), 0), QI_PREC_FP32);
  attr_i(g, f32, "group", G);
  int unq = add_node(g, "conv_unq", "Conv", IDX(xu, twg, tbg),
                     add_act(g, "yu", SH(N, M, 3, 2), 0), QI_PREC_INT8);
  attr_i(g, unq, "group", G);

  qi_error e;
  qi_bias_means *m = NULL;
  QT_CHECK(st, qi_bias_means_create(g, &m, &e) == QI_OK && m);
  if (!m) {
    qi_graph_free(g);
    return;
  }
  double sx[C] = {0}, nx[C] = {0}, sa[K] = {0}, na[K] = {0};
  double sa3[K] = {0}, na3[K] = {0};
  for (int r = 0; r < 3; r++) {
    float *vx = biased_act(N, C, H * W), *va = biased_act(3, K, 1),
          *va3 = biased_act(6, K, 1);
    for (int i = 0; i < 6 * K; i++) va3[i] *= -0.5f; /* other means */
    if (r == 1) vx[37] = NAN, va[4] = INFINITY; /* left out of the means */
    acc_means(vx, N, C, H * W, sx, nx);
    acc_means(va, 3, K, 1, sa, na);
    acc_means(va3, 6, K, 1, sa3, na3);
    QT_CHECK(st, qi_bias_means_update(m, x, vx, 4, g->tensors[x].shape.d,
                                      &e) == QI_OK);
    QT_CHECK(st, qi_bias_means_update(m, a, va, 2, g->tensors[a].shape.d,
                                      &e) == QI_OK);
    QT_CHECK(st, qi_bias_means_update(m, a3, va3, 3, g->tensors[a3].shape.d,
                                      &e) == QI_OK);
    /* Untracked tensors are ignored. */
    QT_CHECK(st, qi_bias_means_update(m, twg, wg, 4, g->tensors[twg].shape.d,
                                      &e) == QI_OK);
    free(vx);
    free(va);
    free(va3);
  }
  double mx[C], ma[K], ma3[K];
  for (int c = 0; c < C; c++) mx[c] = sx[c] / nx[c];
  for (int k = 0; k < K; k++) ma[k] = sa[k] / na[k], ma3[k] = sa3[k] / na3[k];
  QT_CHECK(st, qi_bias_means_bytes(m) > 0);

  int corrected = -1;
  qi_status s = qi_bias_correct_graph(m, g, &corrected, &e);
  QT_CHECKF(st, s == QI_OK, "%s", e.message);
  QT_CHECKF(st, corrected == 5, "corrected %d nodes, want 5", corrected);
  qi_bias_means_free(m);

  double delta[M], mag[M];
  ref_delta(wg, M, (C / G) * 9, (C / G) * 9, 1, 1.0f, mx, conv_in_ch,
            (const int64_t[]){M / G, C / G, 9}, delta, mag);
  QT_CHECK(st, check_bias(st, g, convg, bg, M, 0, 1.0f, delta, mag));
  ref_delta(wd, C, 9, 9, 1, 1.0f, mx, conv_in_ch, (const int64_t[]){1, 1, 9},
            delta, mag);
  QT_CHECK(st, check_bias(st, g, dw, NULL, C, 0, 1.0f, delta, mag));
  ref_delta(wt, NN, K, K, 1, 0.7f, ma, dense_in_ch, NULL, delta, mag);
  QT_CHECK(st, check_bias(st, g, fc, bt, NN, 0, 0.5f, delta, mag));
  QT_CHECK(st, qi_attr_float(&g->nodes[fc], "beta", 0.0f) == 1.0f);
  QT_CHECK(st, qi_attr_float(&g->nodes[fc], "alpha", 0.0f) == 0.7f);
  ref_delta(wn, NN, K, 1, NN, 1.3f, ma, dense_in_ch, NULL, delta, mag);
  QT_CHECK(st, check_bias(st, g, fc2, bs, NN, 1, 1.0f, delta, mag));
  ref_delta(wm, NN, K, 1, NN, 1.0f, ma3, dense_in_ch, NULL, delta, mag);
  QT_CHECK(st, check_bias(st, g, mm, NULL, NN, 0, 1.0f, delta, mag));
  /* Not INT8, or not quantized: untouched, and the old biases too. */
  QT_CHECK(st, g->nodes[f32].in[2] == tbg && g->nodes[unq].in[2] == tbg);
  QT_CHECK(st, memcmp(g->tensors[tbg].data, bg, sizeof(float) * M) == 0);
  QT_CHECK(st, memcmp(g->tensors[tbt].data, bt, sizeof(float) * NN) == 0);
  qi_graph_free(g);
  free(wg), free(bg), free(wd), free(wt), free(bt), free(wn), free(wm);
}

/* Weights that lie on the grid of QDQ scales (coarser than max|w| / 127)
 * are kept on it by the lowering: no rounding error, no correction; fresh
 * scales would round them. */
static void test_qdq_weights(qt_state *st) {
  enum { CH = 3, SZ = 5 };
  float w[CH * SZ], scales[CH] = {0.02f, 0.05f, 0.125f};
  rng_seed(7);
  for (int c = 0; c < CH; c++)
    for (int i = 0; i < SZ; i++)
      w[c * SZ + i] = scales[c] * (float)((int)(rng_uniform() * 101) - 50);
  double mean[SZ] = {4, -3, 9, 1.5, -6}, delta[CH];
  qi_quant q = {.has = 1, .axis = 0, .nscales = CH, .scales = scales};
  qi_bias_delta_req r = {.w = w, .w_count = CH * SZ,
                         .lay = qi_weight_layout_rows(CH, SZ), .alpha = 1.0f,
                         .qdq = &q, .qdq_axis = 0, .groups = 1, .spatial = 1,
                         .in_means = mean};
  qi_error e;
  QT_CHECK(st, qi_bias_delta(&r, delta, &e) == QI_OK);
  /* Only the weights' own float rounding (w = float(k * s)) remains. */
  for (int c = 0; c < CH; c++) {
    double mag = 0;
    for (int i = 0; i < SZ; i++) mag += fabs(w[c * SZ + i] * mean[i]);
    QT_CHECKF(st, fabs(delta[c]) <= REL_FLOAT_TOL * mag, "channel %d: %g", c,
              delta[c]);
  }
  r.qdq = NULL; /* fresh scales: these weights round */
  QT_CHECK(st, qi_bias_delta(&r, delta, &e) == QI_OK);
  double any = 0;
  for (int c = 0; c < CH; c++) any += fabs(delta[c]);
  QT_CHECK(st, any > 1e-4);
  r.groups = 2; /* does not divide 3 channels */
  QT_CHECK(st, qi_bias_delta(&r, delta, &e) == QI_ERR_INVALID_ARG);
  r.groups = 1;
  w[4] = NAN; /* the lowering keeps such a node FP32 */
  QT_CHECK(st, qi_bias_delta(&r, delta, &e) == QI_ERR_INVALID_ARG);
}

/* ---- a calibrated model ------------------------------------------------ */

#define E_C 8  /* input channels */
#define E_HW 9
#define E_M 6  /* conv output channels */
#define E_OH 7 /* valid 3x3 */
#define E_F (E_M * E_OH * E_OH)
#define E_N 5
#define E_X (E_C * E_HW * E_HW)
#define E_CALIB 32
#define E_HELD 2048

/* Channel means far from 0 next to a spread of 1: the INT8 rounding of
 * weights then shifts every output by a visible constant. */
static const float e_mean[E_C] = {12, -9, 7, 15, -4, 10, 8, -11};

/* x[1,8,9,9] -> Conv 3x3 (no padding) -> c[1,6,7,7] -> Flatten -> Gemm
 * (transB, alpha 0.8) -> y[1,5]; c and y are outputs. */
static void write_mean_model(const char *path) {
  pbe g = {0};
  pbe_str(&g, 2, "bias_mean");
  static float w1[E_M * E_C * 9], b1[E_M], wf[E_N * E_F], bf[E_N];
  rng_seed(99);
  for (size_t i = 0; i < sizeof w1 / sizeof *w1; i++)
    w1[i] = (float)(0.3 * (2 * rng_uniform() - 1));
  for (int i = 0; i < E_M; i++) b1[i] = (float)(2 * rng_uniform() - 1);
  for (size_t i = 0; i < sizeof wf / sizeof *wf; i++)
    wf[i] = (float)(0.1 * (2 * rng_uniform() - 1));
  for (int i = 0; i < E_N; i++) bf[i] = (float)(2 * rng_uniform() - 1);
  float_init(&g, "w1", (int64_t[]){E_M, E_C, 3, 3}, 4, w1, E_M * E_C * 9);
  float_init(&g, "b1", (int64_t[]){E_M}, 1, b1, E_M);
  float_init(&g, "wf", (int64_t[]){E_N, E_F}, 2, wf, E_N * E_F);
  float_init(&g, "bf", (int64_t[]){E_N}, 1, bf, E_N);
  pbe ks = attr_hdr("kernel_shape", 7);
  pbe_int(&ks, 8, 3);
  pbe_int(&ks, 8, 3);
  node(&g, "Conv", "conv", (const char *[]){"x", "w1", "b1"}, 3,
       (const char *[]){"c"}, 1, &ks, 1);
  node1(&g, "Flatten", "flat", "c", "f");
  pbe at[2] = {attr_hdr("transB", 2), attr_hdr("alpha", 1)};
  pbe_int(&at[0], 3, 1);
  pbe_f32(&at[1], 2, 0.8f);
  node(&g, "Gemm", "fc", (const char *[]){"f", "wf", "bf"}, 3,
       (const char *[]){"y"}, 1, at, 2);
  value_info(&g, 11, "x", QI_FLOAT32, (int64_t[]){1, E_C, E_HW, E_HW}, 4);
  value_info(&g, 12, "c", QI_FLOAT32, (int64_t[]){1, E_M, E_OH, E_OH}, 4);
  value_info(&g, 12, "y", QI_FLOAT32, (int64_t[]){1, E_N}, 2);
  pbe m = model(13, &g);
  write_file(path, m.b, m.n);
  pbe_free(&m);
}

static const int64_t e_x_shape[4] = {1, E_C, E_HW, E_HW};

static void e_sample(float *x, uint64_t seed) {
  rng_seed(seed);
  for (int c = 0; c < E_C; c++)
    for (int i = 0; i < E_HW * E_HW; i++)
      x[c * E_HW * E_HW + i] = e_mean[c] + (float)rng_gauss();
}

static qi_binding e_input(const float *x) {
  qi_binding b = {.name = "x", .dtype = QI_FLOAT32, .rank = 4,
                  .shape = e_x_shape, .data = (void *)x,
                  .size_bytes = E_X * sizeof(float)};
  return b;
}

static char e_path[64];

/* A calibrator over E_CALIB samples; every node INT8 (no output policy) so
 * both the Conv and the Gemm are quantized. */
static qi_calibrator *e_calibrate(int bias_correction, qt_state *st) {
  qi_calib_options co = qi_calib_options_default();
  co.uniform_precision = 1;
  co.bias_correction = bias_correction;
  qi_calibrator *c = NULL;
  qi_error e;
  QT_CHECKF(st, qi_calibrator_create(e_path, NULL, &co, &c, &e) == QI_OK,
            "%s", e.message);
  static float x[E_X];
  for (int k = 0; c && k < E_CALIB; k++) {
    e_sample(x, 1000 + (uint64_t)k);
    qi_binding b = e_input(x);
    QT_CHECK(st, qi_calibrator_add_sample(c, &b, 1, &e) == QI_OK);
  }
  return c;
}

static qi_status e_run(const qi_model *m, const float *x, float *c, float *y,
                       qi_error *e) {
  qi_session *s = NULL;
  qi_status st = qi_session_create(m, NULL, &s, e);
  if (st != QI_OK) return st;
  qi_binding in = e_input(x);
  static const int64_t cs[4] = {1, E_M, E_OH, E_OH}, ys[2] = {1, E_N};
  qi_binding out[2] = {
      {.name = "c", .dtype = QI_FLOAT32, .rank = 4, .shape = cs, .data = c,
       .size_bytes = E_F * sizeof(float)},
      {.name = "y", .dtype = QI_FLOAT32, .rank = 2, .shape = ys, .data = y,
       .size_bytes = E_N * sizeof(float)}};
  st = qi_session_run(s, &in, 1, out, 2, e);
  qi_session_free(s);
  return st;
}

/* Mean over held-out samples of (INT8 - FP32) per output channel (the
 * conv's pixels and the samples pooled: weight rounding shifts a channel as
 * a whole), then |.| averaged over the channels of c and of y. */
static void mean_errors(const qi_model *fp32, const qi_model *q, double *err_c,
                        double *err_y, qt_state *st) {
  static float x[E_X], cf[E_F], cq[E_F];
  double sc[E_M] = {0}, sy[E_N] = {0};
  float yf[E_N], yq[E_N];
  qi_error e;
  for (int k = 0; k < E_HELD; k++) {
    e_sample(x, 5000 + (uint64_t)k);
    QT_CHECK(st, e_run(fp32, x, cf, yf, &e) == QI_OK);
    QT_CHECK(st, e_run(q, x, cq, yq, &e) == QI_OK);
    for (int i = 0; i < E_F; i++)
      sc[i / (E_OH * E_OH)] += (double)cq[i] - cf[i];
    for (int i = 0; i < E_N; i++) sy[i] += (double)yq[i] - yf[i];
  }
  *err_c = *err_y = 0;
  for (int i = 0; i < E_M; i++)
    *err_c += fabs(sc[i] / (E_HELD * E_OH * E_OH)) / E_M;
  for (int i = 0; i < E_N; i++) *err_y += fabs(sy[i] / E_HELD) / E_N;
}

/* The systematic error of weight rounding is what correction removes: with
 * these means it dominates the INT8 error. */
static void test_mean_error_drops(qt_state *st) {
  qi_error e;
  qi_model *fp32 = NULL, *plain = NULL, *fixed = NULL;
  QT_CHECK(st, qi_model_load_file(e_path, NULL, &fp32, &e) == QI_OK);
  qi_calibrator *c0 = e_calibrate(0, st), *c1 = e_calibrate(1, st);
  if (c0) QT_CHECK(st, qi_calibrator_build(c0, &plain, &e) == QI_OK);
  if (c1) QT_CHECKF(st, qi_calibrator_build(c1, &fixed, &e) == QI_OK, "%s",
                    e.message);
  if (fp32 && plain && fixed) {
    double c_off, y_off, c_on, y_on;
    mean_errors(fp32, plain, &c_off, &y_off, st);
    mean_errors(fp32, fixed, &c_on, &y_on, st);
    printf("    mean |error|: conv %.4g -> %.4g, gemm %.4g -> %.4g\n", c_off,
           c_on, y_off, y_on);
    QT_CHECKF(st, c_on * MIN_MEAN_ERROR_DROP < c_off, "conv %g -> %g", c_off,
              c_on);
    QT_CHECKF(st, y_on * MIN_MEAN_ERROR_DROP < y_off, "gemm %g -> %g", y_off,
              y_on);
    /* Both weighted nodes really are INT8 in both builds. */
    int qnodes = 0;
    for (int i = 0; i < qi_model_num_nodes(fixed); i++) {
      qi_node_info ni;
      if (qi_model_node_info(fixed, i, &ni, NULL) == QI_OK &&
          (!strcmp(ni.op_type, "QiQConv") || !strcmp(ni.op_type, "QiQMatMul")))
        qnodes++;
    }
    QT_CHECK(st, qnodes == 2);
  }
  qi_model_free(plain);
  qi_model_free(fixed);
  qi_model_free(fp32);
  qi_calibrator_free(c0);
  qi_calibrator_free(c1);
}

static int same_file(const char *a, const char *b) {
  FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
  int same = fa && fb;
  while (same) {
    int ca = fgetc(fa), cb = fgetc(fb);
    if (ca != cb) same = 0;
    if (ca == EOF) break;
  }
  if (fa) fclose(fa);
  if (fb) fclose(fb);
  return same;
}

static int save(qi_calibrator *c, const char *path, qt_state *st) {
  qi_model *q = NULL;
  qi_error e;
  int ok = c && qi_calibrator_build(c, &q, &e) == QI_OK &&
           qi_model_save(q, path, &e) == QI_OK;
  QT_CHECK(st, ok);
  qi_model_free(q);
  return ok;
}

/* Off by default: default options and bias_correction = 0 give the same
 * bytes build after build; on changes them; on with every node FP32
 * changes nothing. */
static void test_off_by_default(qt_state *st) {
  char p[4][96];
  for (int i = 0; i < 4; i++)
    snprintf(p[i], sizeof p[i], "%s.%d.qnf", e_path, i);
  QT_CHECK(st, qi_calib_options_default().bias_correction == 0);
  qi_calibrator *c0 = e_calibrate(0, st), *c1 = e_calibrate(1, st);
  qi_error e;
  if (save(c0, p[0], st) && save(c0, p[1], st) && save(c1, p[2], st)) {
    QT_CHECK(st, same_file(p[0], p[1]));
    QT_CHECK(st, !same_file(p[0], p[2]));
  }
  if (c0 && c1) {
    QT_CHECK(st, qi_calibrator_set_precision(c0, "*", QI_PREC_FP32, &e) ==
                     QI_OK);
    QT_CHECK(st, qi_calibrator_set_precision(c1, "*", QI_PREC_FP32, &e) ==
                     QI_OK);
    if (save(c0, p[0], st) && save(c1, p[3], st))
      QT_CHECK(st, same_file(p[0], p[3]));
  }
  qi_calibrator_free(c0);
  qi_calibrator_free(c1);
  for (int i = 0; i < 4; i++) unlink(p[i]);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_formula);
  QT_RUN(&st, test_qdq_weights);
  snprintf(e_path, sizeof e_path, "/tmp/qi_bias_mean_XXXXXX");
  int fd = mkstemp(e_path);
  if (fd < 0) return 1;
  close(fd);
  write_mean_model(e_path);
  QT_RUN(&st, test_mean_error_drops);
  QT_RUN(&st, test_off_by_default);
  unlink(e_path);
  return qt_summary(&st);
}
