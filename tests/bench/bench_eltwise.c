/* Benchmark of the element-wise ops (a program, not a test).
 *
 * Runs each op through its qi_op_def, as the session does, on activation
 * shapes from ResNet-50, MobileNetV3, EfficientNet/YOLO and ViT-B, with 1,
 * 2, 4 ... threads up to the CPU count: the median time of the repeats as
 * ns per output element and GB/s of tensor traffic, beside
 *   - memcpy of the same bytes on one thread (the bandwidth a
 *     memory-bound op can hope for), and
 *   - for the transcendental ops, a scalar libm loop (expf, erff).
 * Usage: bench_eltwise [--reps N] [--threads N] */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/pool.h"
#include "graph/graph.h"
#include "ops/eltwise.h"
#include "ops/op.h"

typedef struct bench_case {
  const char *op;
  int act;    /* qi_act fused into Add */
  int ra, rb; /* rb = 0: unary */
  int64_t da[4], db[4];
  const char *what;
} bench_case;

static const bench_case k_cases[] = {
    {"Relu", 0, 4, 0, {1, 64, 112, 112}, {0}, "resnet50 stem relu"},
    {"Add", 0, 4, 4, {1, 256, 56, 56}, {1, 256, 56, 56}, "resnet50 residual"},
    {"Add",
     QI_ACT_RELU,
     4,
     4,
     {1, 256, 56, 56},
     {1, 256, 56, 56},
     "resnet50 residual+relu"},
    {"Add", 0, 4, 3, {1, 64, 112, 112}, {64, 1, 1}, "per-channel bias"},
    {"Mul", 0, 4, 4, {1, 480, 28, 28}, {1, 480, 1, 1}, "SE scale"},
    {"HardSwish", 0, 4, 0, {1, 16, 112, 112}, {0}, "mobilenetv3 stem"},
    {"Sigmoid", 0, 4, 0, {1, 480, 28, 28}, {0}, "sigmoid"},
    {"QiSilu", 0, 4, 0, {1, 64, 160, 160}, {0}, "yolov8 silu"},
    {"Gelu", 0, 3, 0, {1, 197, 3072}, {0}, "vit-b mlp gelu"},
    {"Add", 0, 3, 1, {1, 197, 768}, {768}, "vit-b bias add"},
    {"Div", 0, 3, 3, {1, 197, 768}, {1, 197, 1}, "layernorm divide"},
    {"Pow", 0, 3, 0, {1, 197, 768}, {0}, "layernorm square (Pow 2)"},
};
#define NCASES (sizeof k_cases / sizeof k_cases[0])

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

static int64_t numel(int r, const int64_t *d) {
  int64_t n = 1;
  for (int i = 0; i < r; i++) n *= d[i];
  return n;
}

static float *random_floats(int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  uint32_t s = 12345;
  for (int64_t i = 0; i < n; i++) {
    s = s * 1664525u + 1013904223u;
    p[i] = (float)(s >> 8) / 16777216.0f * 8.0f - 4.0f;
  }
  return p;
}

/* Median seconds per run of case c with pool p. */
static double time_case(const bench_case *c, qi_pool *pool, int reps) {
  qi_graph *g = qi_graph_create();
  g->opset = 20;
  int pow2 = strcmp(c->op, "Pow") == 0;
  int nin = c->rb || pow2 ? 2 : 1;
  int ni = qi_graph_add_node(g, "n", c->op, "", nin, 1);
  int ta = qi_graph_add_tensor(g, "a", QI_FLOAT32);
  g->tensors[ta].shape.rank = c->ra;
  memcpy(g->tensors[ta].shape.d, c->da, sizeof c->da);
  g->nodes[ni].in[0] = ta;
  int64_t na = numel(c->ra, c->da), nb = c->rb ? numel(c->rb, c->db) : 1;
  float *a = random_floats(na), *b = random_floats(nb);
  if (pow2) b[0] = 2.0f;
  if (nin == 2) {
    int tb = qi_graph_add_tensor(g, "b", QI_FLOAT32);
    g->tensors[tb].shape.rank = c->rb;
    memcpy(g->tensors[tb].shape.d, c->db, sizeof c->db);
    g->nodes[ni].in[1] = tb;
  }
  g->nodes[ni].out[0] = qi_graph_add_tensor(g, "y", QI_UNDEFINED);
  if (c->act)
    qi_node_add_attr(&g->nodes[ni], "qi_act", QI_ATTR_INT)->i = c->act;
  const qi_op_def *op = qi_op_lookup("", c->op);
  qi_error err = {0};
  double t = -1;
  if (op && op->infer(g, &g->nodes[ni], &err) == QI_OK) {
    const qi_tensor *yt = &g->tensors[g->nodes[ni].out[0]];
    qi_buf in[2] = {{QI_FLOAT32, g->tensors[ta].shape, a},
                    {QI_FLOAT32, {0}, b}};
    if (nin == 2) in[1].shape = g->tensors[g->nodes[ni].in[1]].shape;
    qi_buf out = {
        QI_FLOAT32, yt->shape,
        malloc(sizeof(float) * (size_t)numel(yt->shape.rank, yt->shape.d))};
    qi_run_ctx ctx = {
        .pool = pool, .nthreads = qi_pool_size(pool), .err = &err};
    double *ts = malloc(sizeof(double) * (size_t)reps);
    op->run(&ctx, &g->nodes[ni], in, &out); /* warm up */
    for (int r = 0; r < reps; r++) {
      double t0 = now_s();
      op->run(&ctx, &g->nodes[ni], in, &out);
      ts[r] = now_s() - t0;
    }
    t = median(ts, reps);
    free(ts);
    free(out.data);
  } else {
    fprintf(stderr, "%s: %s\n", c->op, err.message);
  }
  free(a);
  free(b);
  qi_graph_free(g);
  return t;
}

static double time_memcpy(size_t bytes, int reps) {
  char *s = malloc(bytes), *d = malloc(bytes);
  memset(s, 1, bytes);
  memset(d, 0, bytes);
  double *ts = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    memcpy(d, s, bytes);
    ts[r] = now_s() - t0;
  }
  double t = median(ts, reps);
  free(ts);
  free(s);
  free(d);
  return t;
}

/* ns per element of a scalar libm loop over n floats. */
static double libm_ns(int gelu, int64_t n, int reps) {
  float *x = random_floats(n), *y = malloc(sizeof(float) * (size_t)n);
  double *ts = malloc(sizeof(double) * (size_t)reps);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    if (gelu)
      for (int64_t i = 0; i < n; i++)
        y[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
    else
      for (int64_t i = 0; i < n; i++) y[i] = 1.0f / (1.0f + expf(-x[i]));
    ts[r] = now_s() - t0;
  }
  double t = median(ts, reps) / (double)n * 1e9;
  free(ts);
  free(x);
  free(y);
  return t;
}

int main(int argc, char **argv) {
  int reps = 21, max_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
    if (!strcmp(argv[i], "--threads")) max_threads = atoi(argv[i + 1]);
  }
  if (reps < 1) reps = 1;
  if (max_threads < 1) max_threads = 1;
  printf("element-wise ops: median of %d runs; unary kernel ISA: %s\n", reps,
         qi_unary_has_avx2() ? "avx2" : "sse2");
  for (size_t k = 0; k < NCASES; k++) {
    const bench_case *c = &k_cases[k];
    int64_t n = numel(c->ra, c->da);
    /* Read the input and write the output; read the second operand. */
    double bytes = 8.0 * (double)n;
    if (c->rb) bytes += 4.0 * (double)numel(c->rb, c->db);
    double tm = time_memcpy((size_t)n * 4, reps);
    printf("%-10s %-26s %8lld elems  memcpy(out) %5.1f GB/s\n", c->op, c->what,
           (long long)n, 8.0 * (double)n / tm / 1e9);
    for (int t = 1; t <= max_threads; t *= 2) {
      qi_pool *pool = t > 1 ? qi_pool_create(t) : NULL;
      double s = time_case(c, pool, reps);
      printf("    %2d thr: %8.3f ms  %6.3f ns/elem  %6.1f GB/s\n", t, s * 1e3,
             s / (double)n * 1e9, bytes / s / 1e9);
      qi_pool_free(pool);
    }
    if (!strcmp(c->op, "Sigmoid") || !strcmp(c->op, "Gelu"))
      printf("    libm scalar loop, 1 thr: %6.3f ns/elem\n",
             libm_ns(!strcmp(c->op, "Gelu"), n, reps));
  }
  return 0;
}
