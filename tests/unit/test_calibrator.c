/* The calibration API (qi_calibrator_*) on a small hand-made CNN: sample
 * validation, precision overrides, methods, build, save/reload, and the
 * INT8 model against the FP32 one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_build.h"
#include "qinfer.h"
#include "qtest.h"

/* The INT8 model's output against FP32: relative L2 error. Eight-bit
 * activations through four layers land around 1%; 5% still catches a
 * wrong scale, zero point or layout (those give O(1) errors). */
#define INT8_REL_L2_TOL 0.05
/* FP16 storage with float32 arithmetic: about 2^-11 per rounding. */
#define FP16_REL_L2_TOL 1e-3

#define IN_C 3
#define IN_HW 12
#define MID_C 6
#define OUT_N 5

static unsigned rng_state = 12345u;
static float frand(void) {
  rng_state = rng_state * 1664525u + 1013904223u;
  return (float)((rng_state >> 8) & 0xffff) / 65536.0f * 2.0f - 1.0f;
}

static pbe ints_attr(const char *name, const int64_t *v, int n) {
  pbe a = attr_hdr(name, 7);
  for (int i = 0; i < n; i++) pbe_int(&a, 8, v[i]);
  return a;
}

/* x[1,3,12,12] -> Conv 3x3 pad 1 -> Relu -> MaxPool 2x2 -> Conv 1x1 ->
 * Sigmoid -> GlobalAveragePool -> Flatten -> Gemm -> y[1,5] */
static void write_model(const char *path) {
  pbe g = {0};
  pbe_str(&g, 2, "calib_cnn");
  float w1[MID_C * IN_C * 9], b1[MID_C], w2[MID_C * MID_C], b2[MID_C];
  float wf[OUT_N * MID_C], bf[OUT_N];
  for (size_t i = 0; i < sizeof w1 / sizeof *w1; i++) w1[i] = 0.4f * frand();
  for (int i = 0; i < MID_C; i++) b1[i] = 0.1f * frand();
  for (size_t i = 0; i < sizeof w2 / sizeof *w2; i++) w2[i] = 0.5f * frand();
  for (int i = 0; i < MID_C; i++) b2[i] = 0.1f * frand();
  for (size_t i = 0; i < sizeof wf / sizeof *wf; i++) wf[i] = frand();
  for (int i = 0; i < OUT_N; i++) bf[i] = 0.1f * frand();
  float_init(&g, "w1", (int64_t[]){MID_C, IN_C, 3, 3}, 4, w1, MID_C * IN_C * 9);
  float_init(&g, "b1", (int64_t[]){MID_C}, 1, b1, MID_C);
  float_init(&g, "w2", (int64_t[]){MID_C, MID_C, 1, 1}, 4, w2, MID_C * MID_C);
  float_init(&g, "b2", (int64_t[]){MID_C}, 1, b2, MID_C);
  float_init(&g, "wf", (int64_t[]){OUT_N, MID_C}, 2, wf, OUT_N * MID_C);
  float_init(&g, "bf", (int64_t[]){OUT_N}, 1, bf, OUT_N);
  pbe a1[2] = {ints_attr("pads", (int64_t[]){1, 1, 1, 1}, 4),
               ints_attr("kernel_shape", (int64_t[]){3, 3}, 2)};
  node(&g, "Conv", "conv1", (const char *[]){"x", "w1", "b1"}, 3,
       (const char *[]){"c1"}, 1, a1, 2);
  node1(&g, "Relu", "relu1", "c1", "r1");
  pbe a2[2] = {ints_attr("kernel_shape", (int64_t[]){2, 2}, 2),
               ints_attr("strides", (int64_t[]){2, 2}, 2)};
  node(&g, "MaxPool", "pool1", (const char *[]){"r1"}, 1,
       (const char *[]){"p1"}, 1, a2, 2);
  node(&g, "Conv", "conv2", (const char *[]){"p1", "w2", "b2"}, 3,
       (const char *[]){"c2"}, 1, NULL, 0);
  node1(&g, "Sigmoid", "sig2", "c2", "s2");
  node1(&g, "GlobalAveragePool", "gap", "s2", "gp");
  node1(&g, "Flatten", "flat", "gp", "fl");
  pbe at = attr_hdr("transB", 2);
  pbe_int(&at, 3, 1);
  node(&g, "Gemm", "fc", (const char *[]){"fl", "wf", "bf"}, 3,
       (const char *[]){"y"}, 1, &at, 1);
  value_info(&g, 11, "x", QI_FLOAT32, (int64_t[]){1, IN_C, IN_HW, IN_HW}, 4);
  value_info(&g, 12, "y", QI_FLOAT32, (int64_t[]){1, OUT_N}, 2);
  pbe m = model(13, &g);
  write_file(path, m.b, m.n);
  pbe_free(&m);
}

static const int64_t x_shape[4] = {1, IN_C, IN_HW, IN_HW};
#define X_N (IN_C * IN_HW * IN_HW)

static qi_binding in_binding(const float *x) {
  qi_binding b = {.name = "x", .dtype = QI_FLOAT32, .rank = 4,
                  .shape = x_shape, .data = (void *)x,
                  .size_bytes = X_N * sizeof(float)};
  return b;
}

static qi_status run(const qi_model *m, const float *x, float *y,
                     qi_error *e) {
  qi_session *s = NULL;
  qi_status st = qi_session_create(m, NULL, &s, e);
  if (st != QI_OK) return st;
  qi_binding in = in_binding(x);
  const int64_t ys[2] = {1, OUT_N};
  qi_binding out = {.name = "y", .dtype = QI_FLOAT32, .rank = 2, .shape = ys,
                    .data = y, .size_bytes = OUT_N * sizeof(float)};
  st = qi_session_run(s, &in, 1, &out, 1, e);
  qi_session_free(s);
  return st;
}

static void sample(float *x, int k) {
  for (int i = 0; i < X_N; i++) x[i] = frand() * (1.0f + 0.1f * (float)k);
}

static int count_precision(const qi_model *m, qi_precision p) {
  int n = 0;
  for (int i = 0; i < qi_model_num_nodes(m); i++) {
    qi_node_info ni;
    if (qi_model_node_info(m, i, &ni, NULL) == QI_OK && ni.precision == p) n++;
  }
  return n;
}

static double rel_l2(const float *a, const float *ref, int n) {
  double num = 0, den = 0;
  for (int i = 0; i < n; i++) {
    num += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
    den += (double)ref[i] * ref[i];
  }
  return sqrt(num / (den > 0 ? den : 1));
}

static qi_calibrator *calibrated(const char *path, qi_calib_method method,
                                 int nsamples, qt_state *st) {
  qi_calib_options co = qi_calib_options_default();
  co.method = method;
  qi_calibrator *c = NULL;
  qi_error e;
  QT_CHECK(st, qi_calibrator_create(path, NULL, &co, &c, &e) == QI_OK);
  float x[X_N];
  for (int k = 0; c && k < nsamples; k++) {
    sample(x, k);
    qi_binding b = in_binding(x);
    QT_CHECK(st, qi_calibrator_add_sample(c, &b, 1, &e) == QI_OK);
  }
  return c;
}

static char path[64], qnf[96];

static void test_errors(qt_state *st) {
  qi_error e;
  qi_calibrator *c = NULL;
  QT_CHECK(st, qi_calibrator_create("/nonexistent.onnx", NULL, NULL, &c,
                                    &e) == QI_ERR_IO && c == NULL);
  qi_calib_options co = qi_calib_options_default();
  co.method = (qi_calib_method)9;
  QT_CHECK(st, qi_calibrator_create(path, NULL, &co, &c, &e) ==
                   QI_ERR_INVALID_ARG);
  co = qi_calib_options_default();
  co.method_param = 20.0f; /* percentile below 50 */
  QT_CHECK(st, qi_calibrator_create(path, NULL, &co, &c, &e) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_calibrator_create(path, NULL, NULL, &c, &e) == QI_OK);
  if (!c) return;
  qi_model *q = NULL;
  QT_CHECK(st, qi_calibrator_build(c, &q, &e) == QI_ERR_INVALID_ARG &&
                   strstr(e.message, "no calibration samples"));
  float x[X_N];
  sample(x, 0);
  x[17] = NAN;
  qi_binding b = in_binding(x);
  QT_CHECK(st, qi_calibrator_add_sample(c, &b, 1, &e) == QI_ERR_INVALID_ARG &&
                   strstr(e.message, "'x'") && strstr(e.message, "17"));
  sample(x, 0);
  b.size_bytes = 8; /* wrong size */
  QT_CHECK(st, qi_calibrator_add_sample(c, &b, 1, &e) != QI_OK);
  b = in_binding(x);
  b.name = "nope";
  QT_CHECK(st, qi_calibrator_add_sample(c, &b, 1, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_calibrator_num_samples(c) == 0);
  QT_CHECK(st, qi_calibrator_set_precision(c, "NoSuchOp*", QI_PREC_FP32,
                                           &e) == QI_ERR_INVALID_ARG &&
                   strstr(e.message, "NoSuchOp*"));
  QT_CHECK(st, qi_calibrator_set_precision(c, "Conv", (qi_precision)7, &e) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_calibrator_set_method(c, QI_CALIB_ENTROPY, 1.0f, &e) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_calibrator_add_sample(NULL, &b, 1, &e) ==
                   QI_ERR_INVALID_ARG);
  qi_calibrator_free(c);
  qi_calibrator_free(NULL);
}

/* Every method quantizes the whole CNN and stays close to FP32. */
static void test_methods(qt_state *st) {
  qi_model *fp32 = NULL;
  qi_error e;
  QT_CHECK(st, qi_model_load_file(path, NULL, &fp32, &e) == QI_OK);
  if (!fp32) return;
  float x[X_N], ref[OUT_N], y[OUT_N];
  sample(x, 3);
  QT_CHECK(st, run(fp32, x, ref, &e) == QI_OK);
  for (int m = QI_CALIB_MINMAX; m <= QI_CALIB_MSE; m++) {
    qi_calibrator *c = calibrated(path, (qi_calib_method)m, 16, st);
    if (!c) continue;
    QT_CHECK(st, qi_calibrator_num_samples(c) == 16);
    QT_CHECK(st, qi_calibrator_observer_bytes(c) > 0);
    qi_model *q = NULL;
    qi_status s = qi_calibrator_build(c, &q, &e);
    QT_CHECKF(st, s == QI_OK, "method %d: %s", m, e.message);
    if (q) {
      QT_CHECK(st, run(q, x, y, &e) == QI_OK);
      double err = rel_l2(y, ref, OUT_N);
      QT_CHECKF(st, err < INT8_REL_L2_TOL, "method %d: rel L2 %.4f", m, err);
      /* conv1, pool1, conv2, sig2, gap (and fc) are INT8. */
      QT_CHECKF(st, count_precision(q, QI_PREC_INT8) >= 5, "method %d: %d",
                m, count_precision(q, QI_PREC_INT8));
    }
    qi_model_free(q);
    qi_calibrator_free(c);
  }
  qi_model_free(fp32);
}

/* Overrides: all FP32 gives the FP32 model's numbers; one Conv kept FP32
 * is visible in the node precisions; save and reload gives the same
 * bytes. */
static void test_precision_and_save(qt_state *st) {
  qi_error e;
  qi_model *fp32 = NULL;
  QT_CHECK(st, qi_model_load_file(path, NULL, &fp32, &e) == QI_OK);
  qi_calibrator *c = calibrated(path, QI_CALIB_PERCENTILE, 8, st);
  if (!c || !fp32) {
    qi_model_free(fp32);
    qi_calibrator_free(c);
    return;
  }
  float x[X_N], ref[OUT_N], y[OUT_N], y2[OUT_N];
  sample(x, 5);
  QT_CHECK(st, run(fp32, x, ref, &e) == QI_OK);

  QT_CHECK(st, qi_calibrator_set_precision(c, "*", QI_PREC_FP32, &e) == QI_OK);
  qi_model *q = NULL;
  QT_CHECK(st, qi_calibrator_build(c, &q, &e) == QI_OK);
  if (q) {
    QT_CHECK(st, count_precision(q, QI_PREC_INT8) == 0);
    QT_CHECK(st, run(q, x, y, &e) == QI_OK);
    QT_CHECK(st, rel_l2(y, ref, OUT_N) < 1e-6);
  }
  qi_model_free(q);
  q = NULL;

  qi_calibrator_clear_precision(c);
  QT_CHECK(st, qi_calibrator_set_precision(c, "conv2,fc", QI_PREC_FP32,
                                           &e) == QI_OK);
  QT_CHECK(st, qi_calibrator_build(c, &q, &e) == QI_OK);
  if (q) {
    int conv2_fp32 = 0, conv1_int8 = 0;
    for (int i = 0; i < qi_model_num_nodes(q); i++) {
      qi_node_info ni;
      if (qi_model_node_info(q, i, &ni, NULL) != QI_OK) continue;
      if (!strcmp(ni.name, "conv2") && ni.precision == QI_PREC_FP32)
        conv2_fp32 = 1;
      if (!strncmp(ni.name, "conv1", 5) && ni.precision == QI_PREC_INT8)
        conv1_int8 = 1;
    }
    QT_CHECK(st, conv2_fp32 && conv1_int8);
    QT_CHECK(st, run(q, x, y, &e) == QI_OK);
    QT_CHECK(st, rel_l2(y, ref, OUT_N) < INT8_REL_L2_TOL);
    QT_CHECK(st, qi_model_save(q, qnf, &e) == QI_OK);
    qi_model *r = NULL;
    QT_CHECK(st, qi_model_load_file(qnf, NULL, &r, &e) == QI_OK);
    if (r) {
      QT_CHECK(st, run(r, x, y2, &e) == QI_OK);
      QT_CHECK(st, memcmp(y, y2, sizeof y) == 0);
      QT_CHECK(st, count_precision(r, QI_PREC_INT8) ==
                       count_precision(q, QI_PREC_INT8));
    }
    qi_model_free(r);
  }
  qi_model_free(q);
  QT_CHECK(st, qi_calibrator_set_precision(c, "*", QI_PREC_FP16, &e) == QI_OK);
  q = NULL;
  /* conv1, conv2 and fc have FP16 kernels; the rest falls back to FP32. */
  QT_CHECK(st, qi_calibrator_build(c, &q, &e) == QI_OK && q &&
                   count_precision(q, QI_PREC_FP16) == 3);
  if (q) {
    QT_CHECK(st, run(q, x, y, &e) == QI_OK);
    QT_CHECK(st, rel_l2(y, ref, OUT_N) < FP16_REL_L2_TOL);
  }
  qi_model_free(q);
  qi_calibrator_free(c);
  qi_model_free(fp32);
}

/* Calibration sees exactly what the histogram merge guarantees: the same
 * samples give the same model bytes. */
static void test_deterministic(qt_state *st) {
  char qnf2[128];
  snprintf(qnf2, sizeof qnf2, "%s.2", qnf);
  const char *outs[2] = {qnf, qnf2};
  for (int r = 0; r < 2; r++) {
    rng_state = 777u;
    qi_calibrator *c = calibrated(path, QI_CALIB_ENTROPY, 6, st);
    qi_model *q = NULL;
    qi_error e;
    if (c) QT_CHECK(st, qi_calibrator_build(c, &q, &e) == QI_OK);
    if (q) QT_CHECK(st, qi_model_save(q, outs[r], &e) == QI_OK);
    qi_model_free(q);
    qi_calibrator_free(c);
  }
  FILE *a = fopen(qnf, "rb"), *b = fopen(qnf2, "rb");
  int same = a && b;
  while (same) {
    int ca = fgetc(a), cb = fgetc(b);
    if (ca != cb) same = 0;
    if (ca == EOF) break;
  }
  if (a) fclose(a);
  if (b) fclose(b);
  QT_CHECK(st, same);
  unlink(qnf2);
}

int main(void) {
  qt_state st = {0};
  snprintf(path, sizeof path, "/tmp/qi_calib_cnn_XXXXXX");
  int fd = mkstemp(path);
  if (fd < 0) return 1;
  close(fd);
  snprintf(qnf, sizeof qnf, "%s.qnf", path);
  write_model(path);
  QT_RUN(&st, test_errors);
  QT_RUN(&st, test_methods);
  QT_RUN(&st, test_precision_and_save);
  QT_RUN(&st, test_deterministic);
  unlink(path);
  unlink(qnf);
  return qt_summary(&st);
}
