/* The public API on a real model (SqueezeNet 1.1 from ../shared/assets):
 * error paths with their documented statuses and messages, and a model
 * shared by sessions on several threads giving identical results. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qinfer.h"
#include "qtest.h"

#define MODEL "../shared/assets/models/squeezenet1.1.onnx"
#define UNSUPPORTED_MODEL "/usr/share/libonnx-testdata/data/node/test_lstm_defaults/model.onnx"
#define SPLIT_MODEL "/usr/share/libonnx-testdata/data/node/test_split_equal_parts_1d/model.onnx"

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *len = (size_t)ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(*len);
  if (b && fread(b, 1, *len, f) != *len) {
    free(b);
    b = NULL;
  }
  fclose(f);
  return b;
}

static const int64_t in_shape[4] = {1, 3, 224, 224};
static const int64_t out_shape[2] = {1, 1000};
#define IN_COUNT (3 * 224 * 224)

static void fill_input(float *x, unsigned seed) {
  for (int i = 0; i < IN_COUNT; i++) {
    seed = seed * 1664525u + 1013904223u;
    x[i] = (float)(seed >> 8) / 16777216.0f * 4.0f - 2.0f;
  }
}

static qi_status run_once(const qi_model *m, int threads, const float *x, float *y,
                          qi_error *e) {
  qi_session_options so = qi_session_options_default();
  so.num_threads = threads;
  qi_session *s = NULL;
  qi_status st = qi_session_create(m, &so, &s, e);
  qi_binding in = {"data", QI_FLOAT32, 4, in_shape, (void *)x, IN_COUNT * 4};
  qi_binding out = {"logits", QI_FLOAT32, 2, out_shape, y, 1000 * 4};
  if (st == QI_OK) st = qi_session_run(s, &in, 1, &out, 1, e);
  qi_session_free(s);
  return st;
}

static void test_missing_file(qt_state *st) {
  qi_model *m = (qi_model *)1;
  qi_error e;
  QT_CHECK(st, qi_model_load_file("/nonexistent/model.onnx", NULL, &m, &e) == QI_ERR_IO);
  QT_CHECK(st, m == NULL);
  QT_CHECK(st, strstr(e.message, "/nonexistent/model.onnx") != NULL);
  QT_CHECK(st, qi_model_load_file(NULL, NULL, &m, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_model_load_file(MODEL, NULL, NULL, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_model_load_memory(NULL, 10, NULL, &m, &e) == QI_ERR_INVALID_ARG);
}

static void test_truncated_and_corrupt(qt_state *st) {
  size_t len;
  uint8_t *buf = read_all(MODEL, &len);
  QT_CHECK(st, buf != NULL);
  if (!buf) return;
  qi_model *m = NULL;
  qi_error e;
  /* Truncations inside the weights and inside the header must fail cleanly. */
  size_t cuts[] = {1, 7, 100, len / 3, len / 2, len - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    qi_status s = qi_model_load_memory(buf, cuts[i], NULL, &m, &e);
    QT_CHECKF(st, s == QI_ERR_PARSE, "cut at %zu gave %s", cuts[i], qi_status_string(s));
    QT_CHECK(st, m == NULL);
    qi_model_free(m);
    m = NULL;
  }
  /* Byte flips: any status is acceptable, a crash is not; a load that
   * succeeds must give a model that runs. */
  unsigned seed = 7;
  float *x = malloc(IN_COUNT * 4), y[1000];
  fill_input(x, 1);
  for (int i = 0; i < 200; i++) {
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    seed = seed * 1664525u + 1013904223u;
    size_t pos = (seed >> 4) % 4096; /* the graph structure lives up front */
    copy[pos] ^= (uint8_t)(1u << (seed % 8));
    if (qi_model_load_memory(copy, len, NULL, &m, &e) == QI_OK) {
      qi_status s = run_once(m, 1, x, y, &e);
      QT_CHECK(st, s == QI_OK || s == QI_ERR_INVALID_ARG || s == QI_ERR_SHAPE);
      qi_model_free(m);
      m = NULL;
    } else {
      QT_CHECK(st, strlen(e.message) > 0);
    }
    free(copy);
  }
  free(x);
  free(buf);
}

static void test_unsupported_op(qt_state *st) {
  qi_model *m = NULL;
  qi_error e;
  qi_status s = qi_model_load_file(UNSUPPORTED_MODEL, NULL, &m, &e);
  QT_CHECKF(st, s == QI_ERR_UNSUPPORTED, "status %s: %s", qi_status_string(s), e.message);
  QT_CHECKF(st, strstr(e.message, "LSTM") != NULL, "message: %s", e.message);
  qi_model_free(m);
}

/* `path` loaded with one default session; on failure (a failed check)
 * nothing is left to free and 0 is returned. */
static int open_model(qt_state *st, const char *path, qi_model **m,
                      qi_session **s) {
  qi_error e;
  *m = NULL;
  *s = NULL;
  QT_CHECKF(st, qi_model_load_file(path, NULL, m, &e) == QI_OK, "%s",
            e.message);
  if (!*m) return 0;
  QT_CHECKF(st, qi_session_create(*m, NULL, s, &e) == QI_OK, "%s", e.message);
  if (*s) return 1;
  qi_model_free(*m);
  *m = NULL;
  return 0;
}

static void test_bad_bindings(qt_state *st) {
  qi_model *m;
  qi_session *s;
  qi_error e;
  if (!open_model(st, MODEL, &m, &s)) return;
  float *x = calloc(IN_COUNT, 4), y[1000];
  int64_t wrong[4] = {1, 3, 200, 224};
  qi_binding in = {"data", QI_FLOAT32, 4, in_shape, x, IN_COUNT * 4};
  qi_binding out = {"logits", QI_FLOAT32, 2, out_shape, y, sizeof y};
  qi_binding bad = in;
  bad.shape = wrong;
  QT_CHECK(st, qi_session_run(s, &bad, 1, &out, 1, &e) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(e.message, "data") && strstr(e.message, "[1,3,200,224]"));
  QT_CHECK(st, qi_session_run(s, NULL, 0, &out, 1, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, strstr(e.message, "'data' is not bound") != NULL);
  bad = in;
  bad.name = "image";
  QT_CHECK(st, qi_session_run(s, &bad, 1, &out, 1, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, strstr(e.message, "image") != NULL);
  bad = in;
  bad.dtype = QI_UINT8;
  QT_CHECK(st, qi_session_run(s, &bad, 1, &out, 1, &e) == QI_ERR_INVALID_ARG);
  bad = in;
  bad.size_bytes = 100;
  QT_CHECK(st, qi_session_run(s, &bad, 1, &out, 1, &e) == QI_ERR_INVALID_ARG);
  qi_binding small = out;
  small.size_bytes = 10;
  QT_CHECK(st, qi_session_run(s, &in, 1, &small, 1, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_session_run(s, &in, 1, &out, 1, &e) == QI_OK);
  QT_CHECK(st, qi_session_run(NULL, &in, 1, &out, 1, &e) == QI_ERR_INVALID_ARG);
  qi_session_options so = qi_session_options_default();
  so.backend = QI_BACKEND_CUDA;
  qi_session *cs = NULL;
  /* No CUDA build or no device: QI_ERR_DEVICE; a device but no whole-model
   * CUDA execution yet: QI_ERR_UNSUPPORTED. Never a session. */
  qi_status cst = qi_session_create(m, &so, &cs, &e);
  QT_CHECK(st, (cst == QI_ERR_DEVICE || cst == QI_ERR_UNSUPPORTED) && cs == NULL);
  so = qi_session_options_default();
  so.num_threads = -3;
  QT_CHECK(st, qi_session_create(m, &so, &cs, &e) == QI_ERR_INVALID_ARG);
  qi_model_options mo = qi_model_options_default();
  qi_input_shape shp = {"nope", 4, {1, 3, 224, 224}};
  mo.input_shapes = &shp;
  mo.num_input_shapes = 1;
  qi_model *m2 = NULL;
  QT_CHECK(st, qi_model_load_file(MODEL, &mo, &m2, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, strstr(e.message, "nope") != NULL);
  free(x);
  qi_session_free(s);
  qi_model_free(m);
}

/* Buffers are used in place (qi_session_run): the input is never written,
 * the output is written directly, an output overlapping the input is
 * filled at the end, one output bound twice fills both, and nothing of a
 * run's buffers leaks into the next run. Every way gives the same bytes. */
static void test_buffers_in_place(qt_state *st) {
  qi_model *m;
  qi_session *s;
  qi_error e;
  if (!open_model(st, MODEL, &m, &s)) return;
  float *x1 = malloc(IN_COUNT * 4), *x2 = malloc(IN_COUNT * 4);
  float *keep = malloc(IN_COUNT * 4), *big = malloc(IN_COUNT * 4);
  float y1[1000], y2[1000], y3[1000], y4[1000];
  fill_input(x1, 7);
  fill_input(x2, 8);
  memcpy(keep, x1, IN_COUNT * 4);
  qi_binding in = {"data", QI_FLOAT32, 4, in_shape, x1, IN_COUNT * 4};
  qi_binding out[2] = {{"logits", QI_FLOAT32, 2, out_shape, y1, sizeof y1},
                       {"logits", QI_FLOAT32, 2, out_shape, y4, sizeof y4}};
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 1, &e) == QI_OK);
  QT_CHECK(st, memcmp(x1, keep, IN_COUNT * 4) == 0);
  in.data = x2;
  out[0].data = y2;
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 1, &e) == QI_OK);
  QT_CHECK(st, memcmp(y1, y2, sizeof y1) != 0);
  /* x1 again from another buffer, output twice. */
  memcpy(big, x1, IN_COUNT * 4);
  in.data = big;
  out[0].data = y3;
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 2, &e) == QI_OK);
  QT_CHECK(st, memcmp(y1, y3, sizeof y1) == 0);
  QT_CHECK(st, memcmp(y1, y4, sizeof y1) == 0);
  /* Output inside the input buffer: read first, written at the end. */
  out[0].data = big + 5000;
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 1, &e) == QI_OK);
  QT_CHECK(st, memcmp(y1, big + 5000, sizeof y1) == 0);
  /* A failed run (wrong input size) leaves no binding behind. */
  in.data = x2;
  in.size_bytes = 16;
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 1, &e) == QI_ERR_INVALID_ARG);
  in.data = keep;
  in.size_bytes = IN_COUNT * 4;
  out[0].data = y2;
  QT_CHECK(st, qi_session_run(s, &in, 1, out, 1, &e) == QI_OK);
  QT_CHECK(st, memcmp(y1, y2, sizeof y1) == 0);
  free(x1);
  free(x2);
  free(keep);
  free(big);
  qi_session_free(s);
  qi_model_free(m);
}

/* Two outputs bound to one buffer: the run neither computes wrong values
 * through the shared memory nor fails; the buffer ends up holding the last
 * binding's values, as documented (overlapping outputs are copied at the
 * end, in binding order). Split of [1..6] into three [2] outputs. */
static void test_outputs_sharing_a_buffer(qt_state *st) {
  qi_model *m;
  qi_session *s;
  qi_error e;
  if (!open_model(st, SPLIT_MODEL, &m, &s)) return;
  const int64_t in_shape6[1] = {6}, out_shape2[1] = {2};
  float x[6] = {1, 2, 3, 4, 5, 6}, shared[2], third[2];
  qi_binding in = {"input", QI_FLOAT32, 1, in_shape6, x, sizeof x};
  /* Bound in the reverse of the order Split writes them: had both been
   * written in place, output_2 would win. */
  qi_binding out[3] = {
      {"output_2", QI_FLOAT32, 1, out_shape2, shared, sizeof shared},
      {"output_3", QI_FLOAT32, 1, out_shape2, third, sizeof third},
      {"output_1", QI_FLOAT32, 1, out_shape2, shared, sizeof shared}};
  QT_CHECKF(st, qi_session_run(s, &in, 1, out, 3, &e) == QI_OK, "%s",
            e.message);
  QT_CHECK(st, shared[0] == 1.0f && shared[1] == 2.0f);
  QT_CHECK(st, third[0] == 5.0f && third[1] == 6.0f);
  qi_session_free(s);
  qi_model_free(m);
}

static void test_info(qt_state *st) {
  qi_model *m = NULL;
  qi_error e;
  QT_CHECK(st, qi_model_load_file(MODEL, NULL, &m, &e) == QI_OK);
  if (!m) return;
  qi_tensor_info ti;
  QT_CHECK(st, qi_model_num_inputs(m) == 1 && qi_model_num_outputs(m) == 1);
  QT_CHECK(st, qi_model_input_info(m, 0, &ti, &e) == QI_OK);
  QT_CHECK(st, !strcmp(ti.name, "data") && ti.rank == 4 && ti.shape[2] == 224);
  QT_CHECK(st, qi_model_output_info(m, 0, &ti, &e) == QI_OK);
  QT_CHECK(st, !strcmp(ti.name, "logits") && ti.shape[1] == 1000);
  QT_CHECK(st, qi_model_input_info(m, 1, &ti, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_model_num_nodes(m) > 10);
  qi_node_info ni;
  QT_CHECK(st, qi_model_node_info(m, 0, &ni, &e) == QI_OK && ni.num_outputs >= 1);
  qi_model_free(m);
}

typedef struct thread_job {
  const qi_model *m;
  int threads;
  unsigned seed;
  float y[1000];
  qi_status st;
} thread_job;

static void *thread_main(void *p) {
  thread_job *j = p;
  float *x = malloc(IN_COUNT * 4);
  fill_input(x, j->seed);
  qi_error e;
  for (int r = 0; r < 3; r++) j->st = run_once(j->m, j->threads, x, j->y, &e);
  free(x);
  return NULL;
}

static void test_shared_model_threads(qt_state *st) {
  qi_model *m = NULL;
  qi_error e;
  QT_CHECK(st, qi_model_load_file(MODEL, NULL, &m, &e) == QI_OK);
  if (!m) return;
  enum { N = 4 };
  thread_job jobs[N];
  pthread_t th[N];
  for (int i = 0; i < N; i++) {
    jobs[i] = (thread_job){.m = m, .threads = 1 + i % 2, .seed = 100u + (unsigned)i % 2};
    pthread_create(&th[i], NULL, thread_main, &jobs[i]);
  }
  for (int i = 0; i < N; i++) pthread_join(th[i], NULL);
  for (int i = 0; i < N; i++) {
    float ref[1000], *x = malloc(IN_COUNT * 4);
    fill_input(x, jobs[i].seed);
    QT_CHECK(st, jobs[i].st == QI_OK);
    QT_CHECK(st, run_once(m, 1, x, ref, &e) == QI_OK);
    /* FP32 results may differ across thread counts only by summation order. */
    double maxd = 0, maxr = 0;
    for (int k = 0; k < 1000; k++) {
      double d = ref[k] - jobs[i].y[k];
      maxd = d > maxd ? d : (-d > maxd ? -d : maxd);
      maxr = ref[k] > maxr ? ref[k] : (-ref[k] > maxr ? -ref[k] : maxr);
    }
    QT_CHECKF(st, maxd <= 1e-5 * maxr, "thread %d differs by %g (max %g)", i, maxd, maxr);
    free(x);
  }
  qi_model_free(m);
}

/* Saving to .qnf and loading it back gives the same graph and bytes. */
static void test_save_reload(qt_state *st) {
  qi_model *m = NULL, *m2 = NULL;
  qi_error e;
  char path[] = "/tmp/qinfer_test_XXXXXX";
  int fd = mkstemp(path);
  QT_CHECK(st, fd >= 0);
  if (fd < 0) return;
  close(fd);
  QT_CHECK(st, qi_model_load_file(MODEL, NULL, &m, &e) == QI_OK);
  QT_CHECK(st, m && qi_model_save(m, path, &e) == QI_OK);
  QT_CHECKF(st, qi_model_load_file(path, NULL, &m2, &e) == QI_OK, "%s", e.message);
  if (m && m2) {
    QT_CHECK(st, qi_model_num_nodes(m) == qi_model_num_nodes(m2));
    float *x = malloc(IN_COUNT * 4), y1[1000], y2[1000];
    fill_input(x, 5);
    QT_CHECK(st, run_once(m, 1, x, y1, &e) == QI_OK && run_once(m2, 1, x, y2, &e) == QI_OK);
    QT_CHECK(st, memcmp(y1, y2, sizeof y1) == 0);
    free(x);
  }
  QT_CHECK(st, qi_model_save(NULL, path, &e) == QI_ERR_INVALID_ARG);
  qi_model_free(m);
  qi_model_free(m2);
  unlink(path);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_missing_file);
  QT_RUN(&st, test_truncated_and_corrupt);
  QT_RUN(&st, test_unsupported_op);
  QT_RUN(&st, test_bad_bindings);
  QT_RUN(&st, test_buffers_in_place);
  QT_RUN(&st, test_outputs_sharing_a_buffer);
  QT_RUN(&st, test_info);
  QT_RUN(&st, test_shared_model_threads);
  QT_RUN(&st, test_save_reload);
  return qt_summary(&st);
}
