/*
 * OpenBLAS sgemm throughput on one thread, with the kernel family OpenBLAS
 * picked (openblas_get_corename): run it with OPENBLAS_CORETYPE set and
 * unset to see what the setting costs on this CPU (docs/benchmarks.md).
 * A benchmark, not a test: prints GFLOP/s, median of REPS calls.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 7

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median seconds of C[m x n] = A[m x k] B[k x n], row-major. */
static double time_sgemm(int m, int n, int k) {
  float *a = malloc(sizeof(float) * (size_t)m * (size_t)k);
  float *b = malloc(sizeof(float) * (size_t)k * (size_t)n);
  float *c = malloc(sizeof(float) * (size_t)m * (size_t)n);
  double t[REPS], med = -1;
  if (a && b && c) {
    for (size_t i = 0; i < (size_t)m * (size_t)k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (size_t i = 0; i < (size_t)k * (size_t)n; i++) b[i] = (float)(i % 5) * 0.2f;
    for (int r = 0; r < REPS; r++) {
      double t0 = now_s();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n,
                  0.0f, c, n);
      t[r] = now_s() - t0;
    }
    qsort(t, REPS, sizeof t[0], cmp_double);
    med = t[REPS / 2];
  }
  free(a);
  free(b);
  free(c);
  return med;
}

int main(void) {
  static const int shapes[][3] = {{1024, 1024, 1024}, {64, 3136, 576}, {256, 196, 2304},
                                  {768, 197, 768}};
  openblas_set_num_threads(1);
  const char *env = getenv("OPENBLAS_CORETYPE");
  printf("# OpenBLAS sgemm, 1 thread: core %s (OPENBLAS_CORETYPE=%s)\n",
         openblas_get_corename(), env ? env : "unset");
  printf("%-18s %10s %9s\n", "MxNxK", "ms", "GFLOP/s");
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    int m = shapes[i][0], n = shapes[i][1], k = shapes[i][2];
    double s = time_sgemm(m, n, k);
    if (s <= 0) {
      printf("%dx%dx%d: out of memory\n", m, n, k);
      return 1;
    }
    char name[32];
    snprintf(name, sizeof name, "%dx%dx%d", m, n, k);
    printf("%-18s %10.3f %9.1f\n", name, 1e3 * s, 2.0 * m * n * k / s / 1e9);
  }
  return 0;
}
