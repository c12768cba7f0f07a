/* Benchmark of the u8s8 GEMM driver (a program, not a test).
 *
 * For every ISA path this CPU has, on shapes from ResNet-50 and ViT-B
 * (M x N x K: pixels x output channels x taps*input channels), with 1 and 2
 * threads: the median time of the repeats, as GMAC/s, beside
 *   - the measured peak of the instruction the path is built on (a loop of
 *     independent vpdpbusd zmm / vpdpbusd ymm / vpmaddwd ymm, one core;
 *     also vpmaddwd with each result added by a vpaddd, the AVX2 step), and
 *   - OpenBLAS sgemm on the same shape (its GFLOP/s / 2 = GMAC/s).
 * Usage: bench_qgemm [--reps N] [--isa NAME] [--no-scalar] [--peak-only]
 * --peak-only: just the instruction peaks (about a second; bench_models.py
 * reads them for its "INT8 % of peak" column). */
#include <cblas.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu_features.h"
#include "core/gemm_dispatch.h"
#include "core/pool.h"
#include "core/qgemm.h"

typedef struct shape {
  int64_t m, n, k;
  const char *what;
} shape;

static const shape k_shapes[] = {
    {1024, 1024, 1024, "square"},
    {3136, 64, 576, "resnet50 conv2 3x3"},
    {784, 128, 1152, "resnet50 conv3 3x3"},
    {196, 256, 2304, "resnet50 conv4 3x3"},
    {49, 512, 4608, "resnet50 conv5 3x3"},
    {197, 768, 768, "vit-b attn proj"},
    {197, 3072, 768, "vit-b mlp fc1"},
};
#define NSHAPES (sizeof k_shapes / sizeof k_shapes[0])

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
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- instruction peaks: 14 independent accumulators, one core ---- */
#define PEAK_ITERS 20000000L
#define REP14(op) op(0) op(1) op(2) op(3) op(4) op(5) op(6) op(7) op(8) \
    op(9) op(10) op(11) op(12) op(13)
#define ZMM_DP(i) "vpdpbusd %%zmm15, %%zmm14, %%zmm" #i "\n\t"
#define YMM_DP(i) "%{vex%} vpdpbusd %%ymm15, %%ymm14, %%ymm" #i "\n\t"
#define YMM_MADD(i) "vpmaddwd %%ymm15, %%ymm14, %%ymm" #i "\n\t"
#define CLOBBERS "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", \
    "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", \
    "xmm15", "cc"

static void loop_zmm_dpbusd(long n) {
  __asm__ volatile("vpxord %%zmm14, %%zmm14, %%zmm14\n\t"
                   "vpxord %%zmm15, %%zmm15, %%zmm15\n\t"
                   "1:\n\t" REP14(ZMM_DP) "dec %0\n\tjnz 1b\n\t"
                   "vzeroupper"
                   : "+r"(n)::CLOBBERS);
}
static void loop_ymm_dpbusd(long n) {
  __asm__ volatile("vpxor %%ymm14, %%ymm14, %%ymm14\n\t"
                   "vpxor %%ymm15, %%ymm15, %%ymm15\n\t"
                   "1:\n\t" REP14(YMM_DP) "dec %0\n\tjnz 1b\n\t"
                   "vzeroupper"
                   : "+r"(n)::CLOBBERS);
}
/* The exact AVX2 GEMM's step: each vpaddd adds a vpmaddwd's result into
 * its accumulator (ymm0..6), seven independent pairs per iteration. */
#define YMM_MADD_ADD(acc, tmp)                      \
  "vpmaddwd %%ymm15, %%ymm14, %%ymm" #tmp "\n\t"      \
  "vpaddd %%ymm" #tmp ", %%ymm" #acc ", %%ymm" #acc "\n\t"
static void loop_ymm_madd_add(long n) {
  __asm__ volatile("vpxor %%ymm14, %%ymm14, %%ymm14\n\t"
                   "vpxor %%ymm15, %%ymm15, %%ymm15\n\t"
                   "1:\n\t" YMM_MADD_ADD(0, 7) YMM_MADD_ADD(1, 8)
                   YMM_MADD_ADD(2, 9) YMM_MADD_ADD(3, 10) YMM_MADD_ADD(4, 11)
                   YMM_MADD_ADD(5, 12) YMM_MADD_ADD(6, 13)
                   "dec %0\n\tjnz 1b\n\t"
                   "vzeroupper"
                   : "+r"(n)::CLOBBERS);
}
static void loop_ymm_madd(long n) {
  __asm__ volatile("vpxor %%ymm14, %%ymm14, %%ymm14\n\t"
                   "vpxor %%ymm15, %%ymm15, %%ymm15\n\t"
                   "1:\n\t" REP14(YMM_MADD) "dec %0\n\tjnz 1b\n\t"
                   "vzeroupper"
                   : "+r"(n)::CLOBBERS);
}

/* GMAC/s of one core: best of 5 runs (a peak, so the maximum). */
static double peak_gmacs(void (*loop)(long), double macs_per_op) {
  double best = 0;
  loop(PEAK_ITERS / 10);
  for (int r = 0; r < 5; r++) {
    double t0 = now_s();
    loop(PEAK_ITERS);
    double g = 14.0 * PEAK_ITERS * macs_per_op / (now_s() - t0) / 1e9;
    if (g > best) best = g;
  }
  return best;
}

/* ---- GEMM timing ---- */
static void fill(uint8_t *a, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    a[i] = (uint8_t)(seed >> 56);
  }
}

static int reps_for(int64_t macs, int base) {
  /* Fewer repeats for big shapes on slow paths keeps the run short. */
  int r = macs > 500000000 ? base / 2 + 1 : base;
  return r < 3 ? 3 : r;
}

static double time_qgemm(const qi_qgemm_config *cfg, const shape *s,
                         qi_pool *pool, int reps, const uint8_t *a,
                         const int8_t *b, uint8_t *c) {
  size_t n = (size_t)s->n, k = (size_t)s->k;
  size_t wsize = qi_qgemm_packed_size(cfg, s->n, s->k);
  void *wbuf = aligned_alloc(64, (wsize + 63) / 64 * 64);
  int32_t *bias = calloc(n, sizeof *bias);
  float *mult = malloc(n * sizeof *mult);
  double *t = malloc((size_t)reps * sizeof *t);
  void *scratch = NULL;
  double result = -1;
  if (!wbuf || !bias || !mult || !t) goto done;
  for (size_t j = 0; j < n; j++) mult[j] = 0.0005f;
  qi_qgemm_packed w;
  qi_error err;
  if (qi_qgemm_pack(cfg, s->n, s->k, b, k, bias, 128, mult, wbuf, wsize, &w,
                    &err) != QI_OK) {
    fprintf(stderr, "pack: %s\n", err.message);
    goto done;
  }
  qi_requant_params rp = qi_requant_params_default();
  rp.zy = 128;
  size_t ssize = qi_qgemm_workspace_size(&w, s->m, qi_pool_size(pool));
  scratch = ssize ? aligned_alloc(64, (ssize + 63) / 64 * 64) : NULL;
  if (ssize && !scratch) goto done;
  if (qi_qgemm(&w, a, k, s->m, &rp, c, n, pool, scratch, ssize, &err) !=
      QI_OK) { /* also the warm-up */
    fprintf(stderr, "qgemm: %s\n", err.message);
    goto done;
  }
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    qi_qgemm(&w, a, k, s->m, &rp, c, n, pool, scratch, ssize, NULL);
    t[r] = now_s() - t0;
  }
  result = median(t, reps);
done:
  free(scratch);
  free(t);
  free(mult);
  free(bias);
  free(wbuf);
  return result;
}

static double time_sgemm(const shape *s, int threads, int reps, float *af,
                         float *bf, float *cf) {
  openblas_set_num_threads(threads);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) return -1;
  int m = (int)s->m, n = (int)s->n, k = (int)s->k;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, af, k,
              bf, k, 0.0f, cf, n);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, af, k,
                bf, k, 0.0f, cf, n);
    t[r] = now_s() - t0;
  }
  double med = median(t, reps);
  free(t);
  return med;
}

int main(int argc, char **argv) {
  int reps = 7, no_scalar = 0, peak_only = 0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
      only = argv[++i];
    else if (!strcmp(argv[i], "--no-scalar"))
      no_scalar = 1;
    else if (!strcmp(argv[i], "--peak-only"))
      peak_only = 1;
    else {
      fprintf(stderr,
              "usage: %s [--reps N] [--isa NAME] [--no-scalar] [--peak-only]\n",
              argv[0]);
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  const qi_cpu_features *f = qi_cpu_features_get();

  /* Peaks, one core, of the instruction each path is built on. */
  double peak[QI_ISA_COUNT] = {0};
  printf("# instruction peaks (one core, 14 independent accumulators)\n");
  if (qi_cpu_features_have(f, QI_ISA_AVX512VNNI)) {
    peak[QI_ISA_AVX512VNNI] = peak_gmacs(loop_zmm_dpbusd, 64);
    printf("vpdpbusd zmm: %.1f GMAC/s\n", peak[QI_ISA_AVX512VNNI]);
  } else {
    printf("vpdpbusd zmm: n/a (CPU lacks AVX-512 VNNI)\n");
  }
  if (qi_cpu_features_have(f, QI_ISA_AVXVNNI)) {
    peak[QI_ISA_AVXVNNI] = peak_gmacs(loop_ymm_dpbusd, 32);
    printf("vpdpbusd ymm: %.1f GMAC/s\n", peak[QI_ISA_AVXVNNI]);
  } else {
    printf("vpdpbusd ymm: n/a (CPU lacks AVX-VNNI)\n");
  }
  if (qi_cpu_features_have(f, QI_ISA_AVX2)) {
    peak[QI_ISA_AVX2] = peak_gmacs(loop_ymm_madd, 16);
    printf("vpmaddwd ymm: %.1f GMAC/s (the exact AVX2 path also needs a "
           "vpaddd per vpmaddwd)\n",
           peak[QI_ISA_AVX2]);
    /* 7 pairs of 16 MACs per iteration = 14 x 8. */
    printf("vpmaddwd, each followed by a vpaddd of its result, ymm: %.1f "
           "GMAC/s (the exact AVX2 kernel's step, in its plainest order)\n",
           peak_gmacs(loop_ymm_madd_add, 8));
  }
  if (peak_only) return 0;

  qi_pool *pool2 = qi_pool_create(2);
  if (!pool2) return 1;
  printf("\n# median of %d repeats (fewer for >0.5 GMAC shapes); "
         "%%peak = per thread vs the one-core peak above\n",
         reps);
  printf("%-18s %-11s %2s %9s %8s %6s %9s %6s\n", "MxNxK", "isa", "th", "ms",
         "GMAC/s", "%peak", "sgemm", "ratio");
  for (size_t si = 0; si < NSHAPES; si++) {
    const shape *s = &k_shapes[si];
    size_t asz = (size_t)(s->m * s->k), bsz = (size_t)(s->n * s->k);
    uint8_t *a = malloc(asz), *c = malloc((size_t)(s->m * s->n));
    int8_t *b = malloc(bsz);
    float *af = malloc(asz * sizeof(float)), *bf = malloc(bsz * sizeof(float));
    float *cf = malloc((size_t)(s->m * s->n) * sizeof(float));
    if (!a || !b || !c || !af || !bf || !cf) return 1;
    fill(a, asz, 1 + si);
    fill((uint8_t *)b, bsz, 100 + si);
    for (size_t i = 0; i < bsz; i++) {
      if (b[i] == -128) b[i] = -127;
      bf[i] = b[i];
    }
    for (size_t i = 0; i < asz; i++) af[i] = a[i];
    double macs = (double)s->m * (double)s->n * (double)s->k;
    int rp = reps_for((int64_t)macs, reps);
    for (int th = 1; th <= 2; th++) {
      double ts = time_sgemm(s, th, rp, af, bf, cf);
      double sg = macs / ts / 1e9;
      for (int isa = QI_ISA_COUNT - 1; isa >= 0; isa--) {
        if (!qi_cpu_features_have(f, (qi_isa)isa)) continue;
        if (only && strcmp(only, qi_isa_name((qi_isa)isa))) continue;
        if (no_scalar && isa == QI_ISA_SCALAR) continue;
        int r = isa == QI_ISA_SCALAR ? 1 : rp;
        double t = time_qgemm(qi_qgemm_config_of((qi_isa)isa), s,
                              th == 1 ? NULL : pool2, r, a, b, c);
        double g = macs / t / 1e9;
        char shape_s[32], pk[16] = "-";
        snprintf(shape_s, sizeof shape_s, "%lldx%lldx%lld", (long long)s->m,
                 (long long)s->n, (long long)s->k);
        if (peak[isa] > 0)
          snprintf(pk, sizeof pk, "%.0f%%", 100.0 * g / th / peak[isa]);
        printf("%-18s %-11s %2d %9.3f %8.1f %6s %9.1f %6.2f\n", shape_s,
               qi_isa_name((qi_isa)isa), th, t * 1e3, g, pk, sg, g / sg);
        fflush(stdout);
      }
    }
    free(a);
    free(b);
    free(c);
    free(af);
    free(bf);
    free(cf);
  }
  qi_pool_free(pool2);
  return 0;
}
