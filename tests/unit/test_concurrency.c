/* One loaded model shared by 8 sessions on 8 threads, 1000 runs each on
 * inputs of their own: every output must be byte-identical to the same
 * input run alone, on one thread. Sessions with 2- and 3-thread pools take
 * part, so the pool's hand-off runs under contention too. tests/suites/tsan.sh
 * runs this program built with -fsanitize=thread (no data race), the
 * sanitizer suite with ASan and LeakSanitizer (no leak).
 *
 * Also here: determinism. The same model and input give the same bytes on
 * every run, and for FP32 ops whose kernels split the work without
 * changing any summation order the bytes do not depend on the thread count
 * (1, 2, 3) either. Each op type is measured on its own small model; the
 * paths that may change with the thread count are listed in
 * THREAD_VARIANT_OPS with a tolerance (docs/reliability.md).
 *
 * The models are built here as ONNX bytes, so the test needs no file. The
 * INT8 twin of the shared model comes from the calibrator, once
 * lib/calib/calibrator.c is in the tree. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "onnx_build.h"
#if defined(__has_include)
#if __has_include("calib/calibrator.c")
#define HAVE_CALIBRATOR 1
#endif
#endif
#include "qinfer.h"
#include "qtest.h"

#define NUM_WORKERS 8
#define RUNS_PER_WORKER 1000
/* The INT8 twin runs fewer: its kernels share the pool code the FP32 runs
 * already cover, and ThreadSanitizer makes them the slowest part. */
#define INT8_RUNS_PER_WORKER 250
/* Threads of each worker's own session pool: most run on the worker's
 * thread alone; some share their runs with pool threads. */
static const int worker_pool_threads[NUM_WORKERS] = {1, 1, 1, 2, 1, 3, 1, 2};
/* Op outputs that may legitimately change with the thread count are held
 * to this relative L2 error against the 1-thread result. */
#define THREAD_VARIANT_REL_L2 1e-6
/* Calibration samples for the INT8 twin of the shared model. */
#define CALIB_SAMPLES 16

/* ---- building models ---------------------------------------------------- */

static uint64_t rng_state;
static float rng_float(void) { /* uniform in [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)(rng_state >> 40) / 8388608.0f - 1.0f;
}

static void rand_init(pbe *g, const char *name, const int64_t *dims, int nd,
                      float scale) {
  size_t n = 1;
  for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
  float *v = malloc(n * sizeof *v);
  if (!v) abort();
  for (size_t i = 0; i < n; i++) v[i] = rng_float() * scale;
  float_init(g, name, dims, nd, v, n);
  free(v);
}

static pbe attr_int(const char *name, int64_t v) {
  pbe a = attr_hdr(name, 2);
  pbe_int(&a, 3, v);
  return a;
}

static pbe attr_ints(const char *name, const int64_t *v, int n) {
  pbe a = attr_hdr(name, 7);
  for (int i = 0; i < n; i++) pbe_int(&a, 8, v[i]);
  return a;
}

static pbe attr_float(const char *name, float v) {
  pbe a = attr_hdr(name, 1);
  pbe_f32(&a, 2, v);
  return a;
}

static void conv(pbe *g, const char *name, const char *x, const char *w,
                 const char *b, const char *y, int64_t k, int64_t stride,
                 int64_t group) {
  const char *in[3] = {x, w, b};
  int64_t ks[2] = {k, k}, st[2] = {stride, stride};
  int64_t p = k / 2, pads[4] = {p, p, p, p};
  pbe attrs[4] = {attr_ints("kernel_shape", ks, 2), attr_ints("strides", st, 2),
                  attr_ints("pads", pads, 4), attr_int("group", group)};
  node(g, "Conv", name, in, b ? 3 : 2, &y, 1, attrs, 4);
}

static qi_model *load(pbe *m, qi_error *e) {
  qi_model *model = NULL;
  qi_status st = qi_model_load_memory(m->b, m->n, NULL, &model, e);
  pbe_free(m);
  return st == QI_OK ? model : NULL;
}

/* The shared model: a small vision net touching the conv paths (3x3,
 * strided depthwise, 1x1), a residual Add, pooling, an element-wise op,
 * Gemm and Softmax. x [1,3,24,24] -> feat [1,24,6,6], y [1,10]. */
#define NET_IN_COUNT (3 * 24 * 24)
#define NET_FEAT_COUNT (24 * 6 * 6)
#define NET_Y_COUNT 10
static const int64_t net_in_shape[4] = {1, 3, 24, 24};
static const int64_t net_feat_shape[4] = {1, 24, 6, 6};
static const int64_t net_y_shape[2] = {1, 10};

static pbe net_onnx(void) {
  rng_state = 0x2545F4914F6CDD1Dull;
  pbe g = {0};
  const int64_t w1[4] = {16, 3, 3, 3}, b16[1] = {16}, w2[4] = {16, 1, 3, 3},
                w3[4] = {24, 16, 1, 1}, b24[1] = {24}, w5[2] = {10, 24},
                b10[1] = {10}, scalar[1] = {1};
  rand_init(&g, "w1", w1, 4, 0.5f);
  rand_init(&g, "b1", b16, 1, 0.1f);
  rand_init(&g, "w2", w2, 4, 0.5f);
  rand_init(&g, "b2", b16, 1, 0.1f);
  rand_init(&g, "w3", w3, 4, 0.3f);
  rand_init(&g, "b3", b24, 1, 0.1f);
  rand_init(&g, "w4", w3, 4, 0.3f);
  rand_init(&g, "w5", w5, 2, 0.4f);
  rand_init(&g, "b5", b10, 1, 0.1f);
  float lo = 0.0f, hi = 6.0f;
  float_init(&g, "clip_lo", scalar, 0, &lo, 1);
  float_init(&g, "clip_hi", scalar, 0, &hi, 1);
  conv(&g, "c1", "x", "w1", "b1", "a1", 3, 1, 1);
  node1(&g, "Relu", "r1", "a1", "a2");
  conv(&g, "dw", "a2", "w2", "b2", "a3", 3, 2, 16);
  const char *clip_in[3] = {"a3", "clip_lo", "clip_hi"}, *clip_out = "a4";
  node(&g, "Clip", "clip", clip_in, 3, &clip_out, 1, NULL, 0);
  conv(&g, "pw", "a4", "w3", "b3", "a5", 1, 1, 1);
  conv(&g, "skip", "a4", "w4", NULL, "a6", 1, 1, 1);
  const char *add_in[2] = {"a5", "a6"}, *add_out = "a7";
  node(&g, "Add", "add", add_in, 2, &add_out, 1, NULL, 0);
  int64_t k2[2] = {2, 2};
  pbe mp[2] = {attr_ints("kernel_shape", k2, 2), attr_ints("strides", k2, 2)};
  const char *mp_in = "a7", *mp_out = "feat";
  node(&g, "MaxPool", "pool", &mp_in, 1, &mp_out, 1, mp, 2);
  node1(&g, "Sigmoid", "sig", "feat", "a8");
  node1(&g, "GlobalAveragePool", "gap", "a8", "a9");
  node1(&g, "Flatten", "flat", "a9", "a10");
  const char *gemm_in[3] = {"a10", "w5", "b5"}, *gemm_out = "logits";
  pbe tb = attr_int("transB", 1);
  node(&g, "Gemm", "fc", gemm_in, 3, &gemm_out, 1, &tb, 1);
  pbe sm = attr_int("axis", 1);
  const char *sm_in = "logits", *sm_out = "y";
  node(&g, "Softmax", "softmax", &sm_in, 1, &sm_out, 1, &sm, 1);
  value_info(&g, 11, "x", QI_FLOAT32, net_in_shape, 4);
  value_info(&g, 12, "feat", QI_FLOAT32, net_feat_shape, 4);
  value_info(&g, 12, "y", QI_FLOAT32, net_y_shape, 2);
  return model(17, &g);
}

static qi_model *build_net(qi_error *e) {
  pbe m = net_onnx();
  return load(&m, e);
}

/* ---- running ------------------------------------------------------------- */

/* Input of run `run` of worker `worker`: distinct for every pair. */
static void net_input(float *x, int worker, int run) {
  uint64_t s = 0x9E3779B97F4A7C15ull * (uint64_t)(worker * RUNS_PER_WORKER + run + 1);
  for (int i = 0; i < NET_IN_COUNT; i++) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    x[i] = (float)(s >> 40) / 4194304.0f - 2.0f;
  }
}

/* FNV-1a over the output bytes: equal hashes stand for equal bytes. */
static uint64_t hash_bytes(const void *p, size_t n, uint64_t h) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001B3ull;
  return h;
}

static qi_status net_run(qi_session *s, const float *x, uint64_t *hash,
                         qi_error *e) {
  float feat[NET_FEAT_COUNT], y[NET_Y_COUNT];
  qi_binding in = {"x", QI_FLOAT32, 4, net_in_shape, (void *)x, sizeof(float) * NET_IN_COUNT};
  qi_binding out[2] = {{"y", QI_FLOAT32, 2, net_y_shape, y, sizeof y},
                       {"feat", QI_FLOAT32, 4, net_feat_shape, feat, sizeof feat}};
  qi_status st = qi_session_run(s, &in, 1, out, 2, e);
  *hash = hash_bytes(feat, sizeof feat, hash_bytes(y, sizeof y, 0xCBF29CE484222325ull));
  return st;
}

typedef struct worker_job {
  const qi_model *model;
  int index, num_threads;
  int runs;
  const uint64_t *expected;   /* `runs` hashes */
  int failed_runs, mismatches;
  pthread_barrier_t *start;
  qi_error err;               /* the first failure */
} worker_job;

static void *worker_main(void *arg) {
  worker_job *j = arg;
  qi_session_options so = qi_session_options_default();
  so.num_threads = j->num_threads;
  qi_session *s = NULL;
  qi_error e;
  float *x = malloc(sizeof(float) * NET_IN_COUNT);
  qi_status st = x ? qi_session_create(j->model, &so, &s, &e) : QI_ERR_NOMEM;
  pthread_barrier_wait(j->start); /* every session runs at once */
  for (int r = 0; r < j->runs && st == QI_OK; r++) {
    uint64_t h = 0;
    net_input(x, j->index, r);
    if (net_run(s, x, &h, &e) != QI_OK) {
      if (!j->failed_runs++) j->err = e;
    } else if (h != j->expected[r]) {
      j->mismatches++;
    }
  }
  if (st != QI_OK) {
    j->failed_runs = j->runs;
    j->err = e;
  }
  qi_session_free(s);
  free(x);
  return NULL;
}

/* The 8-worker check on model `m`, `runs` runs per worker (`what` names it
 * in failures). */
static void check_shared_model(qt_state *st, const qi_model *m, int runs,
                               const char *what) {
  qi_error e;
  /* The reference: every input run alone through one 1-thread session. */
  uint64_t *expected = malloc(sizeof(uint64_t) * NUM_WORKERS * (size_t)runs);
  float *x = malloc(sizeof(float) * NET_IN_COUNT);
  qi_session *ref = NULL;
  QT_CHECK(st, expected && x && qi_session_create(m, NULL, &ref, &e) == QI_OK);
  int ref_ok = expected && x && ref;
  for (int w = 0; w < NUM_WORKERS && ref_ok; w++)
    for (int r = 0; r < runs && ref_ok; r++) {
      net_input(x, w, r);
      ref_ok = net_run(ref, x, &expected[w * runs + r], &e) == QI_OK;
    }
  QT_CHECKF(st, ref_ok, "%s: reference run: %s", what, e.message);
  qi_session_free(ref);
  free(x);
  if (ref_ok) {
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, NUM_WORKERS);
    worker_job jobs[NUM_WORKERS];
    pthread_t th[NUM_WORKERS];
    for (int w = 0; w < NUM_WORKERS; w++) {
      jobs[w] = (worker_job){.model = m, .index = w,
                             .num_threads = worker_pool_threads[w],
                             .runs = runs,
                             .expected = expected + w * runs,
                             .start = &start};
      if (pthread_create(&th[w], NULL, worker_main, &jobs[w]) != 0) abort();
    }
    for (int w = 0; w < NUM_WORKERS; w++) pthread_join(th[w], NULL);
    pthread_barrier_destroy(&start);
    for (int w = 0; w < NUM_WORKERS; w++) {
      QT_CHECKF(st, jobs[w].failed_runs == 0, "%s: worker %d (%d threads): %d runs failed: %s",
                what, w, jobs[w].num_threads, jobs[w].failed_runs, jobs[w].err.message);
      QT_CHECKF(st, jobs[w].mismatches == 0,
                "%s: worker %d (%d threads): %d of %d outputs differ from the 1-thread run",
                what, w, jobs[w].num_threads, jobs[w].mismatches, runs);
    }
  }
  free(expected);
}

static void test_shared_model_8_threads(qt_state *st) {
  qi_error e;
  qi_model *m = build_net(&e);
  QT_CHECKF(st, m != NULL, "load: %s", e.message);
  if (!m) return;
  check_shared_model(st, m, RUNS_PER_WORKER, "fp32");
  qi_model_free(m);
}

#ifdef HAVE_CALIBRATOR
/* The shared model calibrated on CALIB_SAMPLES inputs and built INT8. */
static qi_model *build_net_int8(qi_error *e) {
  char path[] = "/tmp/qinfer_concurrency_XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) return NULL;
  pbe m = net_onnx();
  int written = write(fd, m.b, m.n) == (ssize_t)m.n;
  close(fd);
  pbe_free(&m);
  qi_calibrator *c = NULL;
  qi_model *q = NULL;
  qi_status s = written ? qi_calibrator_create(path, NULL, NULL, &c, e) : QI_ERR_IO;
  float *x = malloc(sizeof(float) * NET_IN_COUNT);
  for (int i = 0; i < CALIB_SAMPLES && s == QI_OK && x; i++) {
    net_input(x, NUM_WORKERS, i); /* inputs no worker uses */
    qi_binding in = {"x", QI_FLOAT32, 4, net_in_shape, x, sizeof(float) * NET_IN_COUNT};
    s = qi_calibrator_add_sample(c, &in, 1, e);
  }
  if (s == QI_OK && x) s = qi_calibrator_build(c, &q, e);
  free(x);
  qi_calibrator_free(c);
  unlink(path);
  return s == QI_OK ? q : NULL;
}

static void test_shared_int8_model_8_threads(qt_state *st) {
  qi_error e;
  qi_model *m = build_net_int8(&e);
  QT_CHECKF(st, m != NULL, "calibrate: %s", e.message);
  if (!m) return;
  int int8_nodes = 0;
  for (int i = 0; i < qi_model_num_nodes(m); i++) {
    qi_node_info ni;
    if (qi_model_node_info(m, i, &ni, &e) == QI_OK && ni.precision == QI_PREC_INT8)
      int8_nodes++;
  }
  /* The INT8 kernels must really be the ones running. */
  QT_CHECKF(st, int8_nodes >= 3, "only %d INT8 nodes", int8_nodes);
  printf("  int8 model: %d of %d nodes INT8\n", int8_nodes, qi_model_num_nodes(m));
  check_shared_model(st, m, INT8_RUNS_PER_WORKER, "int8");
  qi_model_free(m);
}
#endif

/* ---- determinism per op type --------------------------------------------- */

typedef struct op_case {
  const char *name;
  int64_t in_shape[4];
  int in_rank;
} op_case;

/* One node reading "x" and writing "y", with whatever weights it needs. */
static void op_node(pbe *g, const char *name) {
  const char *x = "x", *y = "y";
  if (!strcmp(name, "conv3x3")) {
    const int64_t w[4] = {32, 16, 3, 3}, b[1] = {32};
    rand_init(g, "w", w, 4, 0.2f);
    rand_init(g, "b", b, 1, 0.1f);
    conv(g, "op", "x", "w", "b", "y", 3, 1, 1);
  } else if (!strcmp(name, "conv1x1_k512")) {
    const int64_t w[4] = {64, 512, 1, 1};
    rand_init(g, "w", w, 4, 0.05f);
    conv(g, "op", "x", "w", NULL, "y", 1, 1, 1);
  } else if (!strcmp(name, "conv_grouped")) {
    const int64_t w[4] = {32, 8, 3, 3};
    rand_init(g, "w", w, 4, 0.2f);
    conv(g, "op", "x", "w", NULL, "y", 3, 2, 4);
  } else if (!strcmp(name, "conv_depthwise")) {
    const int64_t w[4] = {32, 1, 5, 5};
    rand_init(g, "w", w, 4, 0.2f);
    conv(g, "op", "x", "w", NULL, "y", 5, 1, 32);
  } else if (!strcmp(name, "conv_transpose")) {
    const int64_t w[4] = {16, 8, 4, 4};
    rand_init(g, "w", w, 4, 0.2f);
    const char *in[2] = {"x", "w"};
    int64_t ks[2] = {4, 4}, st2[2] = {2, 2}, pads[4] = {1, 1, 1, 1};
    pbe a[3] = {attr_ints("kernel_shape", ks, 2), attr_ints("strides", st2, 2),
                attr_ints("pads", pads, 4)};
    node(g, "ConvTranspose", "op", in, 2, &y, 1, a, 3);
  } else if (!strcmp(name, "gemm_k1024")) {
    const int64_t w[2] = {1024, 300}, b[1] = {300};
    rand_init(g, "w", w, 2, 0.05f);
    rand_init(g, "b", b, 1, 0.1f);
    const char *in[3] = {"x", "w", "b"};
    node(g, "Gemm", "op", in, 3, &y, 1, NULL, 0);
  } else if (!strcmp(name, "matmul_k384")) {
    const int64_t w[2] = {384, 96};
    rand_init(g, "w", w, 2, 0.05f);
    const char *in[2] = {"x", "w"};
    node(g, "MatMul", "op", in, 2, &y, 1, NULL, 0);
  } else if (!strcmp(name, "global_average_pool")) {
    node1(g, "GlobalAveragePool", "op", x, y);
  } else if (!strcmp(name, "average_pool")) {
    int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
    pbe a[2] = {attr_ints("kernel_shape", ks, 2), attr_ints("pads", pads, 4)};
    node(g, "AveragePool", "op", &x, 1, &y, 1, a, 2);
  } else if (!strcmp(name, "reduce_mean_hw")) {
    int64_t axes[2] = {2, 3};
    pbe a = attr_ints("axes", axes, 2);
    node(g, "ReduceMean", "op", &x, 1, &y, 1, &a, 1);
  } else if (!strcmp(name, "reduce_sum_c")) {
    int64_t axes[1] = {1};
    pbe a = attr_ints("axes", axes, 1);
    node(g, "ReduceSum", "op", &x, 1, &y, 1, &a, 1);
  } else if (!strcmp(name, "softmax")) {
    pbe a = attr_int("axis", -1);
    node(g, "Softmax", "op", &x, 1, &y, 1, &a, 1);
  } else if (!strcmp(name, "layer_norm")) {
    const int64_t c[1] = {384};
    rand_init(g, "scale", c, 1, 1.0f);
    rand_init(g, "bias", c, 1, 0.5f);
    const char *in[3] = {"x", "scale", "bias"};
    pbe a = attr_float("epsilon", 1e-5f);
    node(g, "LayerNormalization", "op", in, 3, &y, 1, &a, 1);
  } else if (!strcmp(name, "instance_norm")) {
    const int64_t c[1] = {32};
    rand_init(g, "scale", c, 1, 1.0f);
    rand_init(g, "bias", c, 1, 0.5f);
    const char *in[3] = {"x", "scale", "bias"};
    node(g, "InstanceNormalization", "op", in, 3, &y, 1, NULL, 0);
  } else if (!strcmp(name, "resize_linear")) {
    const int64_t four[1] = {4};
    float scales[4] = {1, 1, 2, 2};
    float_init(g, "scales", four, 1, scales, 4);
    const char *in[3] = {"x", "", "scales"};
    pbe a = attr_hdr("mode", 3);
    pbe_str(&a, 4, "linear");
    node(g, "Resize", "op", in, 3, &y, 1, &a, 1);
  } else if (!strcmp(name, "sigmoid")) {
    node1(g, "Sigmoid", "op", x, y);
  }
}

/* Ops whose output may change with the thread count (a split that changes
 * a summation order); measured, see docs/reliability.md. */
static const char *const THREAD_VARIANT_OPS[] = {NULL};

static int thread_variant(const char *name) {
  for (int i = 0; THREAD_VARIANT_OPS[i]; i++)
    if (!strcmp(THREAD_VARIANT_OPS[i], name)) return 1;
  return 0;
}

/* Runs the op model with `threads` threads, twice in one session and once
 * in a fresh one; *y gets the output, *repeatable whether all three runs
 * gave the same bytes. */
static qi_status run_op(const qi_model *m, int threads, const float *x,
                        size_t xcount, const int64_t *xshape, int xrank,
                        float **y, size_t *ycount, int *repeatable,
                        qi_error *e) {
  qi_tensor_info info;
  qi_status ist = qi_model_output_info(m, 0, &info, e);
  if (ist != QI_OK) return ist;
  size_t n = 1;
  for (int d = 0; d < info.rank; d++) n *= (size_t)info.shape[d];
  float *out[3] = {calloc(n, 4), calloc(n, 4), calloc(n, 4)};
  qi_status st = out[0] && out[1] && out[2] ? QI_OK : QI_ERR_NOMEM;
  qi_session *s = NULL;
  for (int k = 0; k < 3 && st == QI_OK; k++) {
    if (k != 1) {
      qi_session_free(s);
      s = NULL;
      qi_session_options so = qi_session_options_default();
      so.num_threads = threads;
      st = qi_session_create(m, &so, &s, e);
    }
    qi_binding in = {"x", QI_FLOAT32, xrank, xshape, (void *)x, xcount * 4};
    qi_binding ob = {"y", QI_FLOAT32, info.rank, info.shape, out[k], n * 4};
    if (st == QI_OK) st = qi_session_run(s, &in, 1, &ob, 1, e);
  }
  qi_session_free(s);
  *repeatable = st == QI_OK && !memcmp(out[0], out[1], n * 4) &&
                !memcmp(out[0], out[2], n * 4);
  *y = out[0];
  *ycount = n;
  free(out[1]);
  free(out[2]);
  return st;
}

static void test_determinism_per_op(qt_state *st) {
  static const op_case cases[] = {
      {"conv3x3", {1, 16, 20, 20}, 4},
      {"conv1x1_k512", {1, 512, 8, 8}, 4},
      {"conv_grouped", {1, 32, 17, 15}, 4},
      {"conv_depthwise", {1, 32, 19, 19}, 4},
      {"conv_transpose", {1, 16, 9, 9}, 4},
      {"gemm_k1024", {4, 1024}, 2},
      {"matmul_k384", {1, 50, 384}, 3},
      {"global_average_pool", {1, 64, 31, 31}, 4},
      {"average_pool", {1, 24, 20, 20}, 4},
      {"reduce_mean_hw", {1, 48, 16, 16}, 4},
      {"reduce_sum_c", {1, 256, 12, 12}, 4},
      {"softmax", {1, 8, 1000}, 3},
      {"layer_norm", {1, 50, 384}, 3},
      {"instance_norm", {1, 32, 16, 16}, 4},
      {"resize_linear", {1, 8, 15, 15}, 4},
      {"sigmoid", {1, 64, 40, 40}, 4},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const op_case *oc = &cases[c];
    rng_state = 0x853C49E6748FEA9Bull + c;
    pbe g = {0};
    op_node(&g, oc->name);
    value_info(&g, 11, "x", QI_FLOAT32, oc->in_shape, oc->in_rank);
    value_info(&g, 12, "y", QI_FLOAT32, NULL, -1);
    pbe mb = model(17, &g);
    qi_error e;
    qi_model *m = load(&mb, &e);
    QT_CHECKF(st, m != NULL, "%s: load: %s", oc->name, e.message);
    if (!m) continue;
    size_t xn = 1;
    for (int d = 0; d < oc->in_rank; d++) xn *= (size_t)oc->in_shape[d];
    float *x = malloc(xn * 4);
    for (size_t i = 0; i < xn; i++) x[i] = rng_float() * 3.0f;
    float *y1 = NULL;
    size_t n1 = 0;
    int rep = 0;
    qi_status s1 = run_op(m, 1, x, xn, oc->in_shape, oc->in_rank, &y1, &n1, &rep, &e);
    QT_CHECKF(st, s1 == QI_OK, "%s: %s", oc->name, e.message);
    QT_CHECKF(st, s1 != QI_OK || rep, "%s: two runs on 1 thread differ", oc->name);
    for (int threads = 2; threads <= 3 && s1 == QI_OK; threads++) {
      float *yt = NULL;
      size_t nt = 0;
      qi_status s2 = run_op(m, threads, x, xn, oc->in_shape, oc->in_rank, &yt, &nt, &rep, &e);
      QT_CHECKF(st, s2 == QI_OK, "%s, %d threads: %s", oc->name, threads, e.message);
      if (s2 == QI_OK) {
        QT_CHECKF(st, rep, "%s: two runs on %d threads differ", oc->name, threads);
        double num = 0, den = 0;
        for (size_t i = 0; i < n1; i++) {
          double d = (double)yt[i] - (double)y1[i];
          num += d * d;
          den += (double)y1[i] * y1[i];
        }
        double rel = den > 0 ? sqrt(num / den) : sqrt(num);
        int same = memcmp(y1, yt, n1 * 4) == 0;
        printf("  %-20s %d threads: %s (rel L2 %.3g)\n", oc->name, threads,
               same ? "identical bytes" : "differs", rel);
        if (thread_variant(oc->name))
          QT_CHECKF(st, rel <= THREAD_VARIANT_REL_L2, "%s, %d threads: rel L2 %g",
                    oc->name, threads, rel);
        else
          QT_CHECKF(st, same, "%s: %d threads differ from 1 (rel L2 %g)", oc->name,
                    threads, rel);
      }
      free(yt);
    }
    free(y1);
    free(x);
    qi_model_free(m);
  }
}

/* ---- determinism of whole models, tensor by tensor ------------------------ */

#define MAX_TRACE 4096
/* Hash of every tensor a run wrote, in the order the run wrote them. */
typedef struct trace {
  int n;
  uint64_t hash[MAX_TRACE];
  char name[MAX_TRACE][64];
} trace;

static qi_status trace_tensor(void *user, const qi_tensor_view *t, qi_error *err) {
  (void)err;
  trace *tr = user;
  if (tr->n >= MAX_TRACE) return QI_OK;
  size_t n = 1, es = t->dtype == QI_FLOAT64 || t->dtype == QI_INT64 ? 8
                     : t->dtype == QI_FLOAT16                        ? 2
                     : t->dtype == QI_FLOAT32 || t->dtype == QI_INT32 ? 4 : 1;
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  tr->hash[tr->n] = hash_bytes(t->data, n * es, 0xCBF29CE484222325ull);
  snprintf(tr->name[tr->n], sizeof tr->name[0], "%s", t->name);
  tr->n++;
  return QI_OK;
}

/* Runs `m` on fixed inputs with `threads` threads and records every
 * tensor; each float input gets values in [-2, 2), others zeros. */
static qi_status trace_model(const qi_model *m, int threads, trace *tr, qi_error *e) {
  int ni = qi_model_num_inputs(m);
  qi_binding in[16];
  qi_tensor_info info[16];
  if (ni > 16) return QI_ERR_UNSUPPORTED;
  qi_status st = QI_OK;
  int made = 0;
  for (int i = 0; i < ni && st == QI_OK; i++, made++) {
    st = qi_model_input_info(m, i, &info[i], e);
    size_t n = 1, es = info[i].dtype == QI_FLOAT32 || info[i].dtype == QI_INT32 ? 4
                       : info[i].dtype == QI_INT64 || info[i].dtype == QI_FLOAT64 ? 8
                       : info[i].dtype == QI_FLOAT16 ? 2 : 1;
    for (int d = 0; d < info[i].rank; d++) n *= (size_t)info[i].shape[d];
    void *data = calloc(n ? n : 1, es);
    if (!data) st = QI_ERR_NOMEM;
    uint64_t r = 0x9E3779B97F4A7C15ull + (uint64_t)i;
    for (size_t k = 0; data && info[i].dtype == QI_FLOAT32 && k < n; k++) {
      r ^= r << 13;
      r ^= r >> 7;
      r ^= r << 17;
      ((float *)data)[k] = (float)(r >> 40) / 4194304.0f - 2.0f;
    }
    in[i] = (qi_binding){info[i].name, info[i].dtype, info[i].rank, info[i].shape, data, n * es};
  }
  qi_session_options so = qi_session_options_default();
  so.num_threads = threads;
  qi_session *s = NULL;
  if (st == QI_OK) st = qi_session_create(m, &so, &s, e);
  tr->n = 0;
  if (st == QI_OK) st = qi_session_run_inspect(s, in, ni, NULL, 0, trace_tensor, tr, e);
  qi_session_free(s);
  for (int i = 0; i < made; i++) free(in[i].data);
  return st;
}

/* 1: same bytes everywhere; else 0 and the first tensor that differs. */
static int traces_equal(const trace *a, const trace *b, const char **first) {
  *first = NULL;
  if (a->n != b->n) return 0;
  for (int i = 0; i < a->n; i++)
    if (a->hash[i] != b->hash[i]) {
      *first = a->name[i];
      return 0;
    }
  return 1;
}

/* `m` repeated gives the same bytes; at 2 and 3 threads too (every FP32
 * and INT8 path we have splits work without changing a summation order;
 * docs/reliability.md). */
static void check_model_determinism(qt_state *st, const qi_model *m, const char *what) {
  trace *ref = malloc(sizeof *ref), *t = malloc(sizeof *t);
  qi_error e;
  QT_CHECK(st, ref && t);
  if (!ref || !t || trace_model(m, 1, ref, &e) != QI_OK) {
    QT_CHECKF(st, 0, "%s: %s", what, e.message);
    free(ref);
    free(t);
    return;
  }
  for (int threads = 1; threads <= 3; threads++) {
    const char *first = NULL;
    qi_status s = trace_model(m, threads, t, &e);
    QT_CHECKF(st, s == QI_OK, "%s, %d threads: %s", what, threads, e.message);
    int same = s == QI_OK && traces_equal(ref, t, &first);
    printf("  %-28s %d thread(s): %s%s%s (%d tensors)\n", what, threads,
           same ? "identical bytes" : "differs", first ? " from tensor " : "",
           first ? first : "", t->n);
    QT_CHECKF(st, same, "%s: %d threads differ from 1 at tensor %s", what, threads,
              first ? first : "(count)");
  }
  free(ref);
  free(t);
}

static void test_determinism_models(qt_state *st) {
  qi_error e;
  qi_model *m = build_net(&e);
  QT_CHECKF(st, m != NULL, "load: %s", e.message);
  if (m) check_model_determinism(st, m, "net fp32");
  qi_model_free(m);
#ifdef HAVE_CALIBRATOR
  m = build_net_int8(&e);
  QT_CHECKF(st, m != NULL, "calibrate: %s", e.message);
  if (m) check_model_determinism(st, m, "net int8");
  qi_model_free(m);
#endif
  /* Real models on demand (docs/reliability.md has the measurements):
   * QI_DETERMINISM_MODELS="a.onnx b.qnf" build/tests/test_concurrency */
  const char *list = getenv("QI_DETERMINISM_MODELS");
  char path[4096];
  while (list && *list) {
    size_t len = strcspn(list, " ");
    if (len && len < sizeof path) {
      memcpy(path, list, len);
      path[len] = '\0';
      m = NULL;
      QT_CHECKF(st, qi_model_load_file(path, NULL, &m, &e) == QI_OK, "%s", e.message);
      if (m) check_model_determinism(st, m, path);
      qi_model_free(m);
    }
    list += len + (list[len] == ' ');
  }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_shared_model_8_threads);
#ifdef HAVE_CALIBRATOR
  QT_RUN(&st, test_shared_int8_model_8_threads);
#endif
  QT_RUN(&st, test_determinism_per_op);
  QT_RUN(&st, test_determinism_models);
  return qt_summary(&st);
}
