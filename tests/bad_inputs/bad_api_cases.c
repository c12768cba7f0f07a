/* The catalog's cases that are calls rather than files: run-time misuse of
 * a session on a valid model, NULL pointers and out-of-range arguments at
 * the API, freed handles, and (once lib/calib/calibrator.c exists) the
 * calibration API. The expected status of each is in manifest.txt. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bad_cases.h"

#if defined(__has_include)
#if __has_include("calib/calibrator.c")
#define BAD_HAVE_CALIBRATOR 1
#endif
#endif
#ifndef BAD_HAVE_CALIBRATOR
#define BAD_HAVE_CALIBRATOR 0
#endif

#if defined(__SANITIZE_ADDRESS__)
#define BAD_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BAD_HAVE_ASAN 1
#endif
#endif
#ifndef BAD_HAVE_ASAN
#define BAD_HAVE_ASAN 0
#endif

int bad_have_calibrator(void) { return BAD_HAVE_CALIBRATOR; }

static const int64_t conv_x_shape[4] = {1, 3, 8, 8};
static const int64_t conv_y_shape[4] = {1, 4, 8, 8};
#define CONV_X_COUNT (3 * 8 * 8)
#define CONV_Y_COUNT (4 * 8 * 8)

static qi_status note(qi_error *err, qi_status st, const char *msg) {
  snprintf(err->message, sizeof err->message, "%s", msg);
  err->status = st;
  return st;
}

/* ---- run-time misuse of a session ----------------------------------------- */

static qi_status run_conv(qi_session *s, const char *scenario, qi_error *err) {
  float x[CONV_X_COUNT], y[CONV_Y_COUNT];
  for (int i = 0; i < CONV_X_COUNT; i++) x[i] = (float)(i % 13) - 6.0f;
  int64_t shape9[9] = {1, 3, 8, 8, 1, 1, 1, 1, 1}, wrong[4] = {1, 3, 9, 8};
  qi_binding in[2] = {{"x", QI_FLOAT32, 4, conv_x_shape, x, sizeof x}};
  qi_binding out = {"y", QI_FLOAT32, 4, conv_y_shape, y, sizeof y};
  int nin = 1;
  const qi_binding *inputs = in;
  if (!strcmp(scenario, "ok")) {
  } else if (!strcmp(scenario, "wrong_shape")) {
    in[0].shape = wrong;
  } else if (!strcmp(scenario, "wrong_rank")) {
    in[0].rank = 3;
  } else if (!strcmp(scenario, "rank_9")) {
    in[0].rank = 9;
    in[0].shape = shape9;
  } else if (!strcmp(scenario, "negative_rank")) {
    in[0].rank = -1;
  } else if (!strcmp(scenario, "null_shape")) {
    in[0].shape = NULL;
  } else if (!strcmp(scenario, "wrong_dtype")) {
    in[0].dtype = QI_UINT8;
  } else if (!strcmp(scenario, "short_buffer")) {
    in[0].size_bytes -= 1;
  } else if (!strcmp(scenario, "null_data")) {
    in[0].data = NULL;
  } else if (!strcmp(scenario, "unbound_input")) {
    nin = 0;
  } else if (!strcmp(scenario, "unknown_input")) {
    in[0].name = "image";
  } else if (!strcmp(scenario, "null_input_name")) {
    in[0].name = NULL;
  } else if (!strcmp(scenario, "duplicate_input")) {
    in[1] = in[0];
    nin = 2;
  } else if (!strcmp(scenario, "unknown_output")) {
    out.name = "z";
  } else if (!strcmp(scenario, "short_output")) {
    out.size_bytes -= 4;
  } else if (!strcmp(scenario, "null_output_data")) {
    out.data = NULL;
  } else if (!strcmp(scenario, "negative_num_inputs")) {
    nin = -1;
  } else if (!strcmp(scenario, "null_inputs_array")) {
    inputs = NULL;
  } else if (!strcmp(scenario, "nan_input")) {
    for (int i = 0; i < CONV_X_COUNT; i++) x[i] = NAN;
  } else if (!strcmp(scenario, "inf_input")) {
    for (int i = 0; i < CONV_X_COUNT; i++) x[i] = i % 2 ? INFINITY : -INFINITY;
  } else if (!strcmp(scenario, "subnormal_input")) {
    for (int i = 0; i < CONV_X_COUNT; i++) x[i] = 1e-42f * (float)(i % 5);
  } else {
    return note(err, QI_ERR_INTERNAL, "runner: unknown scenario");
  }
  return qi_session_run(s, inputs, nin, &out, 1, err);
}

/* After a failed run the session must still work, and give what a fresh
 * session gives. */
static qi_status run_after_failure(const qi_model *m, qi_session *s,
                                   qi_error *err) {
  qi_error ignored;
  if (run_conv(s, "wrong_shape", &ignored) == QI_OK)
    return note(err, QI_ERR_INTERNAL, "runner: the wrong shape was accepted");
  float x[CONV_X_COUNT], y1[CONV_Y_COUNT], y2[CONV_Y_COUNT];
  for (int i = 0; i < CONV_X_COUNT; i++) x[i] = (float)(i % 7) - 3.0f;
  qi_binding in = {"x", QI_FLOAT32, 4, conv_x_shape, x, sizeof x};
  qi_binding o1 = {"y", QI_FLOAT32, 4, conv_y_shape, y1, sizeof y1};
  qi_binding o2 = {"y", QI_FLOAT32, 4, conv_y_shape, y2, sizeof y2};
  qi_session *fresh = NULL;
  qi_status st = qi_session_run(s, &in, 1, &o1, 1, err);
  if (st == QI_OK) st = qi_session_create(m, NULL, &fresh, err);
  if (st == QI_OK) st = qi_session_run(fresh, &in, 1, &o2, 1, err);
  qi_session_free(fresh);
  if (st == QI_OK && memcmp(y1, y2, sizeof y1))
    return note(err, QI_ERR_INTERNAL, "runner: output differs from a fresh session's");
  return st;
}

static qi_status run_gather(qi_session *s, const char *scenario, qi_error *err) {
  float data[12], y[8];
  for (int i = 0; i < 12; i++) data[i] = (float)i;
  int64_t idx[2] = {0, 2};
  if (!strcmp(scenario, "gather_index_3_of_3")) idx[1] = 3;
  else if (!strcmp(scenario, "gather_index_minus_3")) idx[0] = -3;
  else if (!strcmp(scenario, "gather_index_minus_4")) idx[0] = -4;
  else if (!strcmp(scenario, "gather_index_int64_min")) idx[1] = INT64_MIN;
  else if (strcmp(scenario, "gather_ok"))
    return note(err, QI_ERR_INTERNAL, "runner: unknown scenario");
  const int64_t ds[2] = {3, 4}, is[1] = {2}, ys[2] = {2, 4};
  qi_binding in[2] = {{"data", QI_FLOAT32, 2, ds, data, sizeof data},
                      {"idx", QI_INT64, 1, is, idx, sizeof idx}};
  qi_binding out = {"y", QI_FLOAT32, 2, ys, y, sizeof y};
  qi_status st = qi_session_run(s, in, 2, &out, 1, err);
  /* Row -3 is row 0: what a valid negative index must give. */
  if (st == QI_OK && !strcmp(scenario, "gather_index_minus_3") && y[1] != 1.0f)
    return note(err, QI_ERR_INTERNAL, "runner: index -3 did not read row 0");
  return st;
}

qi_status bad_run_scenario(const char *path, const char *scenario,
                           qi_error *err) {
  qi_model *m = NULL;
  qi_session *s = NULL;
  qi_status st = qi_model_load_file(path, NULL, &m, err);
  if (st == QI_OK) st = qi_session_create(m, NULL, &s, err);
  if (st != QI_OK) {
    qi_model_free(m);
    return note(err, QI_ERR_INTERNAL, "runner: the scenario's model does not load");
  }
  if (!strcmp(scenario, "run_after_failed_run"))
    st = run_after_failure(m, s, err);
  else if (!strncmp(scenario, "gather_", 7))
    st = run_gather(s, scenario, err);
  else
    st = run_conv(s, scenario, err);
  qi_session_free(s);
  qi_model_free(m);
  return st;
}

/* ---- the API with NULL and out-of-range arguments ------------------------- */

static qi_model *load_conv(const char *dir) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ok_conv.onnx", dir);
  qi_model *m = NULL;
  qi_error e;
  return qi_model_load_file(path, NULL, &m, &e) == QI_OK ? m : NULL;
}

/* Loads ok_conv.onnx with model options `o`. */
static qi_status load_with(const char *dir, const qi_model_options *o,
                           qi_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ok_conv.onnx", dir);
  qi_model *m = (qi_model *)(uintptr_t)1;
  qi_status st = qi_model_load_file(path, o, &m, err);
  if (st != QI_OK && m) return note(err, QI_ERR_INTERNAL, "runner: model left after failure");
  qi_model_free(st == QI_OK ? m : NULL);
  return st;
}

static qi_status load_file_null_path(const char *dir, qi_error *err) {
  (void)dir;
  qi_model *m = NULL;
  return qi_model_load_file(NULL, NULL, &m, err);
}

static qi_status load_file_null_out(const char *dir, qi_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/ok_conv.onnx", dir);
  return qi_model_load_file(path, NULL, NULL, err);
}

static qi_status load_file_missing(const char *dir, qi_error *err) {
  char path[4096];
  snprintf(path, sizeof path, "%s/no_such_model.onnx", dir);
  qi_model *m = NULL;
  return qi_model_load_file(path, NULL, &m, err);
}

static qi_status load_file_directory(const char *dir, qi_error *err) {
  qi_model *m = NULL;
  return qi_model_load_file(dir, NULL, &m, err);
}

static qi_status load_file_dev_zero(const char *dir, qi_error *err) {
  (void)dir;
  qi_model *m = NULL;
  return qi_model_load_file("/dev/zero", NULL, &m, err);
}

static qi_status load_memory_null(const char *dir, qi_error *err) {
  (void)dir;
  qi_model *m = NULL;
  return qi_model_load_memory(NULL, 100, NULL, &m, err);
}

static qi_status load_memory_size_0(const char *dir, qi_error *err) {
  (void)dir;
  qi_model *m = NULL;
  return qi_model_load_memory("x", 0, NULL, &m, err);
}

/* err may be NULL everywhere: the status still comes back. */
static qi_status null_error_report(const char *dir, qi_error *err) {
  qi_model *m = NULL;
  qi_status a = qi_model_load_file(NULL, NULL, &m, NULL);
  qi_status b = qi_session_create(NULL, NULL, NULL, NULL);
  qi_status c = qi_session_run(NULL, NULL, 0, NULL, 0, NULL);
  char path[4096];
  snprintf(path, sizeof path, "%s/cycle.onnx", dir);
  qi_status d = qi_model_load_file(path, NULL, &m, NULL);
  if (a != QI_ERR_INVALID_ARG || b != QI_ERR_INVALID_ARG ||
      c != QI_ERR_INVALID_ARG || d != QI_ERR_PARSE || m)
    return note(err, QI_ERR_INTERNAL, "runner: wrong status with err == NULL");
  return QI_OK;
}

static qi_status shape_option(const char *dir, qi_error *err, qi_input_shape s) {
  qi_model_options o = qi_model_options_default();
  o.input_shapes = &s;
  o.num_input_shapes = 1;
  return load_with(dir, &o, err);
}

static qi_status input_shapes_unknown_name(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){"image", 4, {1, 3, 8, 8}});
}
static qi_status input_shapes_null_name(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){NULL, 4, {1, 3, 8, 8}});
}
static qi_status input_shapes_rank_9(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){"x", 9, {1, 3, 8, 8, 1, 1, 1, 1}});
}
static qi_status input_shapes_dim_0(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){"x", 4, {1, 3, 0, 8}});
}
static qi_status input_shapes_dim_2_40(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){"x", 4, {1, 3, (int64_t)1 << 40, 8}});
}
static qi_status input_shapes_conflict(const char *dir, qi_error *err) {
  return shape_option(dir, err, (qi_input_shape){"x", 4, {1, 3, 16, 16}});
}

static qi_status frozen_input(const char *dir, qi_error *err, const char *name,
                              void *data) {
  qi_model_options o = qi_model_options_default();
  qi_binding b = {name, QI_FLOAT32, 4, conv_x_shape, data, CONV_X_COUNT * 4};
  o.frozen_inputs = &b;
  o.num_frozen_inputs = 1;
  return load_with(dir, &o, err);
}
static qi_status frozen_input_null_data(const char *dir, qi_error *err) {
  return frozen_input(dir, err, "x", NULL);
}
static qi_status frozen_input_unknown(const char *dir, qi_error *err) {
  float x[CONV_X_COUNT] = {0};
  return frozen_input(dir, err, "image", x);
}

static qi_status session_with(const char *dir, qi_error *err,
                              qi_session_options so) {
  qi_model *m = load_conv(dir);
  if (!m) return note(err, QI_ERR_INTERNAL, "runner: ok_conv.onnx does not load");
  qi_session *s = (qi_session *)(uintptr_t)1;
  qi_status st = qi_session_create(m, &so, &s, err);
  if (st != QI_OK && s) st = note(err, QI_ERR_INTERNAL, "runner: session left after failure");
  if (st == QI_OK) qi_session_free(s);
  qi_model_free(m);
  return st;
}

static qi_status session_threads_negative(const char *dir, qi_error *err) {
  qi_session_options so = qi_session_options_default();
  so.num_threads = -2;
  return session_with(dir, err, so);
}
static qi_status session_threads_5000(const char *dir, qi_error *err) {
  qi_session_options so = qi_session_options_default();
  so.num_threads = 5000;
  return session_with(dir, err, so);
}
static qi_status session_backend_cuda(const char *dir, qi_error *err) {
  qi_session_options so = qi_session_options_default();
  so.backend = QI_BACKEND_CUDA;
  return session_with(dir, err, so);
}
static qi_status session_backend_7(const char *dir, qi_error *err) {
  qi_session_options so = qi_session_options_default();
  so.backend = (qi_backend)7;
  return session_with(dir, err, so);
}

static qi_status session_create_null_model(const char *dir, qi_error *err) {
  (void)dir;
  qi_session *s = NULL;
  return qi_session_create(NULL, NULL, &s, err);
}

static qi_status session_create_null_out(const char *dir, qi_error *err) {
  qi_model *m = load_conv(dir);
  qi_status st = qi_session_create(m, NULL, NULL, err);
  qi_model_free(m);
  return st;
}

static qi_status session_run_null_session(const char *dir, qi_error *err) {
  (void)dir;
  return qi_session_run(NULL, NULL, 0, NULL, 0, err);
}

static qi_status session_profile_off(const char *dir, qi_error *err) {
  qi_model *m = load_conv(dir);
  qi_session *s = NULL;
  const qi_node_profile *p;
  int n;
  qi_status st = qi_session_create(m, NULL, &s, err);
  if (st == QI_OK) st = qi_session_profile(s, &p, &n, err);
  qi_session_free(s);
  qi_model_free(m);
  return st;
}

static qi_status session_profile_null(const char *dir, qi_error *err) {
  (void)dir;
  return qi_session_profile(NULL, NULL, NULL, err);
}

static qi_status info_index(const char *dir, qi_error *err, int which) {
  qi_model *m = load_conv(dir);
  qi_tensor_info ti;
  qi_node_info ni;
  qi_status st = which == 0   ? qi_model_input_info(m, -1, &ti, err)
                 : which == 1 ? qi_model_output_info(m, 99, &ti, err)
                 : which == 2 ? qi_model_node_info(m, 0, NULL, err)
                 : which == 3 ? qi_model_tensor_info(m, "no_such_tensor", &ti, err)
                 : which == 4 ? qi_model_tensor_info(m, NULL, &ti, err)
                              : qi_model_node_info(m, 1 << 30, &ni, err);
  qi_model_free(m);
  return st;
}
static qi_status input_info_index_minus_1(const char *d, qi_error *e) { return info_index(d, e, 0); }
static qi_status output_info_index_99(const char *d, qi_error *e) { return info_index(d, e, 1); }
static qi_status node_info_null_out(const char *d, qi_error *e) { return info_index(d, e, 2); }
static qi_status tensor_info_unknown(const char *d, qi_error *e) { return info_index(d, e, 3); }
static qi_status tensor_info_null_name(const char *d, qi_error *e) { return info_index(d, e, 4); }
static qi_status node_info_index_2_30(const char *d, qi_error *e) { return info_index(d, e, 5); }

/* Queries on NULL handles answer 0 / NULL; frees accept NULL. */
static qi_status null_handles(const char *dir, qi_error *err) {
  (void)dir;
  qi_model_free(NULL);
  qi_session_free(NULL);
  if (qi_model_num_inputs(NULL) || qi_model_num_outputs(NULL) ||
      qi_model_num_nodes(NULL) || qi_session_arena_bytes(NULL) ||
      !qi_status_string((qi_status)99) || !qi_status_string(QI_ERR_NOMEM))
    return note(err, QI_ERR_INTERNAL, "runner: a NULL-handle query misbehaved");
  return QI_OK;
}

static qi_status save_null_model(const char *dir, qi_error *err) {
  (void)dir;
  return qi_model_save(NULL, "/tmp/never_written.qnf", err);
}

static qi_status save_to_missing_dir(const char *dir, qi_error *err) {
  qi_model *m = load_conv(dir);
  qi_status st = qi_model_save(m, "/nonexistent-dir/model.qnf", err);
  qi_model_free(m);
  return st;
}

/* A freed handle is not detected by the library (documented: undefined
 * behaviour); ASan reports it. Checked in a child process so the report
 * does not end the runner. */
static qi_status freed_session_use(const char *dir, qi_error *err) {
  if (!BAD_HAVE_ASAN) return note(err, BAD_SKIPPED, "needs an ASan build");
  char log[] = "/tmp/bad_inputs_uaf_XXXXXX";
  int fd = mkstemp(log);
  if (fd < 0) return note(err, QI_ERR_INTERNAL, "runner: mkstemp failed");
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fd, 2);
    qi_model *m = load_conv(dir);
    qi_session *s = NULL;
    qi_error e;
    if (!m || qi_session_create(m, NULL, &s, &e) != QI_OK) _exit(3);
    qi_session_free(s);
    qi_session_run(s, NULL, 0, NULL, 0, &e); /* use after free */
    _exit(0);
  }
  int wst = 0;
  waitpid(pid, &wst, 0);
  char text[8192] = {0};
  lseek(fd, 0, SEEK_SET);
  ssize_t got = read(fd, text, sizeof text - 1);
  close(fd);
  unlink(log);
  int reported = got > 0 && strstr(text, "heap-use-after-free");
  if (WIFEXITED(wst) && WEXITSTATUS(wst) == 0)
    return note(err, QI_ERR_INTERNAL, "runner: the freed session ran unnoticed");
  return reported ? note(err, QI_OK, "heap-use-after-free reported by ASan")
                  : note(err, QI_ERR_INTERNAL, "runner: child died without an ASan report");
}

const bad_case *bad_calib_cases(void); /* bad_calib_cases.c */

static const bad_case api_cases[] = {
    {"load_file_null_path", load_file_null_path},
    {"load_file_null_out", load_file_null_out},
    {"load_file_missing", load_file_missing},
    {"load_file_directory", load_file_directory},
    {"load_file_dev_zero", load_file_dev_zero},
    {"load_memory_null", load_memory_null},
    {"load_memory_size_0", load_memory_size_0},
    {"null_error_report", null_error_report},
    {"input_shapes_unknown_name", input_shapes_unknown_name},
    {"input_shapes_null_name", input_shapes_null_name},
    {"input_shapes_rank_9", input_shapes_rank_9},
    {"input_shapes_dim_0", input_shapes_dim_0},
    {"input_shapes_dim_2_40", input_shapes_dim_2_40},
    {"input_shapes_conflict", input_shapes_conflict},
    {"frozen_input_null_data", frozen_input_null_data},
    {"frozen_input_unknown", frozen_input_unknown},
    {"session_threads_negative", session_threads_negative},
    {"session_threads_5000", session_threads_5000},
    {"session_backend_cuda", session_backend_cuda},
    {"session_backend_7", session_backend_7},
    {"session_create_null_model", session_create_null_model},
    {"session_create_null_out", session_create_null_out},
    {"session_run_null_session", session_run_null_session},
    {"session_profile_off", session_profile_off},
    {"session_profile_null", session_profile_null},
    {"input_info_index_minus_1", input_info_index_minus_1},
    {"output_info_index_99", output_info_index_99},
    {"node_info_null_out", node_info_null_out},
    {"node_info_index_2_30", node_info_index_2_30},
    {"tensor_info_unknown", tensor_info_unknown},
    {"tensor_info_null_name", tensor_info_null_name},
    {"null_handles", null_handles},
    {"save_null_model", save_null_model},
    {"save_to_missing_dir", save_to_missing_dir},
    {"freed_session_use", freed_session_use},
    {NULL, NULL}};

const bad_case *bad_find_case(const char *kind, const char *name) {
  const bad_case *list = !strcmp(kind, "api")     ? api_cases
                         : !strcmp(kind, "calib") ? bad_calib_cases()
                                                  : NULL;
  for (int i = 0; list && list[i].name; i++)
    if (!strcmp(list[i].name, name)) return &list[i];
  return NULL;
}
