/* Benchmark of the uint8 element-wise, pooling, resize and table kernels
 * (a program, not a test). For every kernel config this CPU runs, on
 * shapes from ResNet-50, MobileNet and YOLO, one thread: the best of the
 * repeats (each the mean of as many runs as fit in 10 ms; the best, not
 * the median, because the build machines are shared and loaded) as GB/s
 * of the bytes the kernel must move (inputs read once plus output
 * written), beside memcpy of 56x56x256 bytes for scale.
 * Usage: bench_qelt [--reps N] [--isa NAME] */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/cpu_features.h"
#include "core/qelt_dispatch.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct bench_ctx {
  const qi_qelt_config *cfg;
  uint8_t *a, *b, *y;
  uint8_t table[256];
  qi_u8_binary_params bp;
  qi_u8_avgpool_params ap;
  qi_u8_resize_params rp;
  qi_u8_pool_geom pg;
  qi_u8_resize_geom rg;
  size_t *iy, *ix, *y0, *y1, *x0, *x1;
  int32_t *wy, *wx;
  qi_resize_linear_axis ay, ax;
} bench_ctx;

typedef struct bench_case {
  const char *name;
  void (*setup)(bench_ctx *); /* NULL or the geometry, before timing */
  void (*run)(bench_ctx *);
  double bytes; /* moved per run */
} bench_case;

/* ---- the runs ---- */
#define HW56 (56 * 56)
static void run_add(bench_ctx *k) {
  k->cfg->add(HW56, 256, k->a, k->b, QI_U8_BCAST_NONE, k->y, &k->bp);
}
static void run_add_bcast(bench_ctx *k) {
  k->cfg->add(HW56, 256, k->a, k->b, QI_U8_BCAST_ROW, k->y, &k->bp);
}
static void run_mul_bcast(bench_ctx *k) {
  k->cfg->mul(HW56, 256, k->a, k->b, QI_U8_BCAST_ROW, k->y, &k->bp);
}
static void run_mul(bench_ctx *k) {
  k->cfg->mul(HW56, 256, k->a, k->b, QI_U8_BCAST_NONE, k->y, &k->bp);
}
static void run_lut(bench_ctx *k) {
  k->cfg->lut(1, HW56 * 256, k->a, 0, k->y, 0, k->table);
}
static void run_concat(bench_ctx *k) { /* 2 inputs of 128 into 256 */
  k->cfg->concat(HW56, 128, k->a, 128, k->y, 256, k->table);
  k->cfg->concat(HW56, 128, k->b, 128, k->y + 128, 256, NULL);
}
static void pool_geom(bench_ctx *k, size_t hw, size_t c, size_t kk, size_t s,
                      size_t pad) {
  qi_u8_pool_geom g = {0};
  g.in_h = g.in_w = hw;
  g.c = c;
  g.k_h = g.k_w = kk;
  g.s_h = g.s_w = s;
  g.d_h = g.d_w = 1;
  g.pad_t = g.pad_l = g.pad_b = g.pad_r = pad;
  g.out_h = g.out_w = (hw + 2 * pad - kk) / s + 1;
  g.x_pix = g.y_pix = c;
  k->pg = g;
}
static void setup_maxpool(bench_ctx *k) { pool_geom(k, 112, 64, 3, 2, 1); }
static void setup_avgpool(bench_ctx *k) { pool_geom(k, 56, 256, 2, 2, 0); }
static void setup_avgpool3(bench_ctx *k) { pool_geom(k, 56, 256, 3, 1, 1); }
static void run_maxpool(bench_ctx *k) {
  k->cfg->maxpool(&k->pg, k->a, k->y, 0, k->pg.out_h);
}
static void run_avgpool(bench_ctx *k) {
  k->cfg->avgpool(&k->pg, &k->ap, k->a, k->y, 0, k->pg.out_h);
}
static void run_avgpool3(bench_ctx *k) {
  k->cfg->avgpool(&k->pg, &k->ap, k->a, k->y, 0, k->pg.out_h);
}
static void run_gap(bench_ctx *k) {
  k->cfg->gap(49, 2048, k->a, 2048, k->y, &k->ap);
}
static void run_gap_big(bench_ctx *k) {
  k->cfg->gap(HW56, 256, k->a, 256, k->y, &k->ap);
}
static void resize_geom(bench_ctx *k, size_t in, size_t out, size_t c) {
  qi_u8_resize_geom g = {in, in, c, out, out, c, c};
  k->rg = g;
  double s = (double)out / (double)in;
  qi_resize_nearest_plan(QI_RESIZE_ASYMMETRIC, QI_RESIZE_FLOOR, in, out, s,
                         k->iy);
  memcpy(k->ix, k->iy, out * sizeof(size_t));
  qi_resize_linear_plan(QI_RESIZE_HALF_PIXEL, in, out, s, k->y0, k->y1, k->wy);
  memcpy(k->x0, k->y0, out * sizeof(size_t));
  memcpy(k->x1, k->y1, out * sizeof(size_t));
  memcpy(k->wx, k->wy, out * sizeof(int32_t));
  k->ay = (qi_resize_linear_axis){k->y0, k->y1, k->wy};
  k->ax = (qi_resize_linear_axis){k->x0, k->x1, k->wx};
}
static void setup_nearest(bench_ctx *k) { resize_geom(k, 20, 40, 256); }
static void setup_bilinear(bench_ctx *k) { resize_geom(k, 28, 56, 256); }
static void run_nearest(bench_ctx *k) {
  k->cfg->resize_nearest(&k->rg, k->iy, k->ix, k->a, k->y, 0, 40);
}
static void run_bilinear(bench_ctx *k) {
  k->cfg->resize_bilinear(&k->rg, &k->ay, &k->ax, &k->rp, k->a, k->y, 0, 56);
}

static const bench_case k_cases[] = {
    {"add 56x56x256", NULL, run_add, 3.0 * HW56 * 256},
    {"add 56x56x256 + [256]", NULL, run_add_bcast, 2.0 * HW56 * 256},
    {"mul 56x56x256", NULL, run_mul, 3.0 * HW56 * 256},
    {"mul 56x56x256 * [256] (SE scale)", NULL, run_mul_bcast, 2.0 * HW56 * 256},
    {"lut sigmoid 56x56x256", NULL, run_lut, 2.0 * HW56 * 256},
    {"concat 2x(56x56x128) one requant", NULL, run_concat, 2.0 * HW56 * 256},
    {"maxpool 112x112x64 3x3/2 p1", setup_maxpool, run_maxpool,
     112.0 * 112 * 64 + 56.0 * 56 * 64},
    {"avgpool 56x56x256 2x2/2", setup_avgpool, run_avgpool, HW56 * 256 * 1.25},
    {"avgpool 56x56x256 3x3/1 p1", setup_avgpool3, run_avgpool3,
     HW56 * 256 * 2.0},
    {"gap 7x7x2048", NULL, run_gap, 49.0 * 2048 + 2048},
    {"gap 56x56x256", NULL, run_gap_big, HW56 * 256.0 + 256},
    {"resize nearest 20x20x256 -> 40x40", setup_nearest, run_nearest,
     (400.0 + 1600.0) * 256},
    {"resize bilinear 28x28x256 -> 56x56", setup_bilinear, run_bilinear,
     (784.0 + 3136.0) * 256},
};
#define NCASES (sizeof k_cases / sizeof k_cases[0])

static double time_runs(void (*fn)(bench_ctx *), bench_ctx *k, int reps) {
  double best = 1e30;
  fn(k); /* warm */
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    int inner = 0;
    do {
      fn(k);
      inner++;
    } while (now_s() - t0 < 0.01);
    double t = (now_s() - t0) / inner;
    best = t < best ? t : best;
  }
  return best;
}

static void run_memcpy(bench_ctx *k) { memcpy(k->y, k->a, HW56 * 256); }

int main(int argc, char **argv) {
  int reps = 15;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--isa") && i + 1 < argc)
      only = argv[++i];
    else {
      fprintf(stderr, "usage: bench_qelt [--reps N] [--isa NAME]\n");
      return 2;
    }
  }
  size_t nbuf = 112 * 112 * 256;
  bench_ctx k;
  memset(&k, 0, sizeof k);
  k.a = aligned_alloc(64, nbuf);
  k.b = aligned_alloc(64, nbuf);
  k.y = aligned_alloc(64, nbuf);
  size_t np = 256;
  k.iy = calloc(np, sizeof(size_t));
  k.ix = calloc(np, sizeof(size_t));
  k.y0 = calloc(np, sizeof(size_t));
  k.y1 = calloc(np, sizeof(size_t));
  k.x0 = calloc(np, sizeof(size_t));
  k.x1 = calloc(np, sizeof(size_t));
  k.wy = calloc(np, sizeof(int32_t));
  k.wx = calloc(np, sizeof(int32_t));
  if (!k.a || !k.b || !k.y || !k.iy || !k.ix || !k.y0 || !k.y1 || !k.x0 ||
      !k.x1 || !k.wy || !k.wx) {
    fprintf(stderr, "out of memory\n");
    return 1;
  }
  uint32_t s = 12345;
  for (size_t i = 0; i < nbuf; i++) {
    s = s * 1664525u + 1013904223u;
    k.a[i] = (uint8_t)(s >> 24);
    k.b[i] = (uint8_t)(s >> 16);
  }
  qi_u8_act sig = {QI_U8_ACT_SIGMOID, 0, 0};
  qi_u8_lut_build(&sig, (qi_u8_quant){0.05, 128}, (qi_u8_quant){1.0 / 256, 0},
                  0, 255, k.table);
  k.bp = qi_u8_add_params_make(0.031, 120, 0.047, 131, 0.05, 100, 100, 255);
  k.ap = qi_u8_avgpool_params_make(0.03, 128, 0.02, 120, 0, 255, 0);
  k.rp = qi_u8_resize_params_make(0.03, 128, 0.03, 128, 0, 255);

  const qi_cpu_features *f = qi_cpu_features_get();
  printf(
      "bench_qelt: 1 thread, best of %d repeats; GB/s of bytes moved "
      "(inputs + output)\n",
      reps);
  bench_ctx mk = k;
  double tm = time_runs(run_memcpy, &mk, reps);
  printf("memcpy 802816 B: %.1f GB/s (both directions counted)\n",
         2.0 * HW56 * 256 / tm * 1e-9);
  printf("%-36s", "kernel");
  int isas[QI_ISA_COUNT], nisa = 0;
  for (int i = 0; i <= QI_ISA_AVX2; i++) {
    if (!qi_cpu_features_have(f, (qi_isa)i)) continue;
    if (only && strcmp(only, qi_isa_name((qi_isa)i))) continue;
    isas[nisa++] = i;
    printf(" %10s GB/s %8s", qi_isa_name((qi_isa)i), "us");
  }
  printf("\n");
  for (size_t c = 0; c < NCASES; c++) {
    printf("%-36s", k_cases[c].name);
    for (int i = 0; i < nisa; i++) {
      k.cfg = qi_qelt_config_of((qi_isa)isas[i]);
      if (k_cases[c].setup) k_cases[c].setup(&k);
      double t = time_runs(k_cases[c].run, &k, reps);
      printf(" %15.2f %8.1f", k_cases[c].bytes / t * 1e-9, t * 1e6);
    }
    printf("\n");
    fflush(stdout);
  }
  free(k.a);
  free(k.b);
  free(k.y);
  free(k.iy);
  free(k.ix);
  free(k.y0);
  free(k.y1);
  free(k.x0);
  free(k.x1);
  free(k.wy);
  free(k.wx);
  return 0;
}
