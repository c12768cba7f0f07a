/* The catalog's calibration cases: an empty calibration set, samples of
 * the wrong shape or type or with NaN/Inf, patterns and options out of
 * range, and hostile model files given to the calibrator. They compile in
 * once lib/calib/calibrator.c exists (the API is declared in qinfer.h
 * before it is implemented); until then the runner reports them skipped.
 * Every case uses ok_conv.onnx (x [1,3,8,8] -> y [1,4,8,8]) unless it
 * names another file. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "bad_cases.h"

#if defined(__has_include)
#if __has_include("calib/calibrator.c")
#define BAD_HAVE_CALIBRATOR 1
#endif
#endif

const bad_case *bad_calib_cases(void);

#ifndef BAD_HAVE_CALIBRATOR
const bad_case *bad_calib_cases(void) {
  static const bad_case none[] = {{NULL, NULL}};
  return none;
}
#else

static const int64_t x_shape[4] = {1, 3, 8, 8};
#define X_COUNT (3 * 8 * 8)

static qi_status create(const char *dir, const char *file,
                        const qi_calib_options *o, qi_calibrator **c,
                        qi_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  *c = NULL;
  return qi_calibrator_create(path, NULL, o, c, err);
}

/* Creates a calibrator on ok_conv.onnx and adds one sample whose binding
 * `edit` changes; the status of the add. */
static qi_status add_edited(const char *dir, qi_error *err,
                            void (*edit)(qi_binding *b, float *x)) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st != QI_OK) return st;
  float x[X_COUNT];
  for (int i = 0; i < X_COUNT; i++) x[i] = (float)(i % 9) - 4.0f;
  qi_binding b = {"x", QI_FLOAT32, 4, x_shape, x, sizeof x};
  edit(&b, x);
  st = qi_calibrator_add_sample(c, &b, 1, err);
  qi_calibrator_free(c);
  return st;
}

static const int64_t wrong_shape[4] = {1, 3, 9, 8};
static void edit_shape(qi_binding *b, float *x) { (void)x; b->shape = wrong_shape; }
static void edit_dtype(qi_binding *b, float *x) { (void)x; b->dtype = QI_UINT8; }
static void edit_name(qi_binding *b, float *x) { (void)x; b->name = "image"; }
static void edit_nan(qi_binding *b, float *x) { (void)b; x[17] = NAN; }
static void edit_inf(qi_binding *b, float *x) { (void)b; x[0] = -INFINITY; }
static void edit_short(qi_binding *b, float *x) { (void)x; b->size_bytes -= 4; }

static qi_status sample_wrong_shape(const char *d, qi_error *e) { return add_edited(d, e, edit_shape); }
static qi_status sample_wrong_dtype(const char *d, qi_error *e) { return add_edited(d, e, edit_dtype); }
static qi_status sample_unknown_input(const char *d, qi_error *e) { return add_edited(d, e, edit_name); }
static qi_status sample_nan(const char *d, qi_error *e) { return add_edited(d, e, edit_nan); }
static qi_status sample_inf(const char *d, qi_error *e) { return add_edited(d, e, edit_inf); }
static qi_status sample_short_buffer(const char *d, qi_error *e) { return add_edited(d, e, edit_short); }

static qi_status sample_unbound(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st == QI_OK) st = qi_calibrator_add_sample(c, NULL, 0, err);
  qi_calibrator_free(c);
  return st;
}

/* No calibration data at all: build must refuse. */
static qi_status build_without_samples(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_model *q = (qi_model *)(uintptr_t)1;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st == QI_OK) st = qi_calibrator_build(c, &q, err);
  if (st == QI_OK) qi_model_free(q);
  qi_calibrator_free(c);
  return st;
}

/* Only rejected samples: as empty as no sample. */
static qi_status build_after_rejected_samples(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_model *q = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  float x[X_COUNT];
  for (int i = 0; i < X_COUNT; i++) x[i] = NAN;
  qi_binding b = {"x", QI_FLOAT32, 4, x_shape, x, sizeof x};
  qi_error ignored;
  for (int k = 0; st == QI_OK && k < 3; k++)
    if (qi_calibrator_add_sample(c, &b, 1, &ignored) == QI_OK) st = QI_ERR_INTERNAL;
  if (st == QI_OK && qi_calibrator_num_samples(c) != 0) st = QI_ERR_INTERNAL;
  if (st == QI_OK) st = qi_calibrator_build(c, &q, err);
  if (st == QI_OK) qi_model_free(q);
  qi_calibrator_free(c);
  return st;
}

static qi_status options(const char *dir, qi_error *err, qi_calib_options o) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", &o, &c, err);
  if (st != QI_OK && c) st = QI_ERR_INTERNAL;
  qi_calibrator_free(c);
  return st;
}

static qi_status bins_negative(const char *d, qi_error *e) {
  qi_calib_options o = qi_calib_options_default();
  o.histogram_bins = -5;
  return options(d, e, o);
}
static qi_status bins_2_30(const char *d, qi_error *e) {
  qi_calib_options o = qi_calib_options_default();
  o.histogram_bins = 1 << 30;
  return options(d, e, o);
}
static qi_status threads_negative(const char *d, qi_error *e) {
  qi_calib_options o = qi_calib_options_default();
  o.num_threads = -1;
  return options(d, e, o);
}
static qi_status method_99(const char *d, qi_error *e) {
  qi_calib_options o = qi_calib_options_default();
  o.method = (qi_calib_method)99;
  return options(d, e, o);
}
static qi_status percentile_150(const char *d, qi_error *e) {
  qi_calib_options o = qi_calib_options_default();
  o.method = QI_CALIB_PERCENTILE;
  o.method_param = 150.0f;
  return options(d, e, o);
}

static qi_status set_method_99(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st == QI_OK) st = qi_calibrator_set_method(c, (qi_calib_method)99, 0, err);
  qi_calibrator_free(c);
  return st;
}

static qi_status precision_matches_nothing(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st == QI_OK) st = qi_calibrator_set_precision(c, "zzz_no_node*", QI_PREC_FP32, err);
  qi_calibrator_free(c);
  return st;
}

static qi_status precision_null_pattern(const char *dir, qi_error *err) {
  qi_calibrator *c = NULL;
  qi_status st = create(dir, "ok_conv.onnx", NULL, &c, err);
  if (st == QI_OK) st = qi_calibrator_set_precision(c, NULL, QI_PREC_FP32, err);
  qi_calibrator_free(c);
  return st;
}

static qi_status null_calibrator(const char *dir, qi_error *err) {
  (void)dir;
  qi_model *q = NULL;
  qi_calibrator_free(NULL);
  qi_status a = qi_calibrator_add_sample(NULL, NULL, 0, err);
  qi_status b = qi_calibrator_build(NULL, &q, err);
  return a == b ? a : QI_ERR_INTERNAL;
}

static qi_status create_null_path(const char *dir, qi_error *err) {
  (void)dir;
  qi_calibrator *c = NULL;
  return qi_calibrator_create(NULL, NULL, NULL, &c, err);
}

static qi_status create_null_out(const char *dir, qi_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ok_conv.onnx", dir);
  return qi_calibrator_create(path, NULL, NULL, NULL, err);
}

static qi_status hostile(const char *dir, qi_error *err, const char *file) {
  qi_calibrator *c = (qi_calibrator *)(uintptr_t)1;
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  qi_status st = qi_calibrator_create(path, NULL, NULL, &c, err);
  if (st != QI_OK && c) return QI_ERR_INTERNAL;
  if (st == QI_OK) qi_calibrator_free(c);
  return st;
}
static qi_status create_missing_file(const char *d, qi_error *e) { return hostile(d, e, "no_such_model.onnx"); }
static qi_status create_cycle(const char *d, qi_error *e) { return hostile(d, e, "cycle.onnx"); }
static qi_status create_truncated(const char *d, qi_error *e) { return hostile(d, e, "truncated_in_weights.onnx"); }
static qi_status create_unknown_op(const char *d, qi_error *e) { return hostile(d, e, "unknown_op.onnx"); }

const bad_case *bad_calib_cases(void) {
  static const bad_case cases[] = {
      {"create_null_path", create_null_path},
      {"create_null_out", create_null_out},
      {"create_missing_file", create_missing_file},
      {"create_cycle", create_cycle},
      {"create_truncated", create_truncated},
      {"create_unknown_op", create_unknown_op},
      {"histogram_bins_negative", bins_negative},
      {"histogram_bins_2_30", bins_2_30},
      {"num_threads_negative", threads_negative},
      {"method_99", method_99},
      {"percentile_150", percentile_150},
      {"build_without_samples", build_without_samples},
      {"build_after_rejected_samples", build_after_rejected_samples},
      {"sample_wrong_shape", sample_wrong_shape},
      {"sample_wrong_dtype", sample_wrong_dtype},
      {"sample_unknown_input", sample_unknown_input},
      {"sample_unbound", sample_unbound},
      {"sample_short_buffer", sample_short_buffer},
      {"sample_nan", sample_nan},
      {"sample_inf", sample_inf},
      {"set_method_99", set_method_99},
      {"precision_matches_nothing", precision_matches_nothing},
      {"precision_null_pattern", precision_null_pattern},
      {"null_calibrator", null_calibrator},
      {NULL, NULL}};
  return cases;
}
#endif
