/*
 * GEMM throughput on the GPU through cuda/qgemm.cu: cuBLASLt int8
 * (int8 x int8 -> int32, CUBLAS_COMPUTE_32I), cuBLASLt fp16 (fp16 in and
 * out, float32 accumulation), and the whole u8s8 GEMM of the INT8 path
 * (shift + int8 product + requantizing epilogue), in TOPS = 2*M*N*K / s.
 *
 *   bench_cuda_gemm [M N K]     (default 4096 4096 4096)
 *
 * Timing: device events around batches of calls after warm-up; the median
 * of the batches. Inputs are random (never zeros), rotated between
 * several buffer sets so repeated calls do not run from L2 alone; the
 * outputs of the timed calls are checked on sampled elements (int8 exactly,
 * fp16 against float64 with a relative tolerance). Without a GPU it prints
 * one "skipped" line and exits 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/qi_cuda.h"
#include "cuda_cases.h"

enum { SETS = 3, WARMUP = 3, BATCH = 10, SAMPLES = 11, CHECKS = 64 };

/* fp16 products of inputs in [-1, 1) summed in float32 and rounded to fp16
 * once: relative error far below this on sums of K random terms, unless a
 * sum cancels to near zero (those samples are skipped). */
#define F16_REL_TOL 4e-3

#define TRY(call)                                                 \
  do {                                                            \
    if ((call) != QI_OK) {                                        \
      printf("bench_cuda_gemm: FAIL %s: %s\n", #call, e.message); \
      return 1;                                                   \
    }                                                             \
  } while (0)

static int cmp_float(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return x < y ? -1 : x > y;
}

/* IEEE half from a float in [-1, 1) (round to nearest even), and back. */
static uint16_t f16_of(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint32_t sign = (u >> 16) & 0x8000u;
  float a = fabsf(f);
  if (a < 6.1035156e-05f) { /* subnormal half: a multiple of 2^-24 */
    return (uint16_t)(sign | (uint32_t)lrintf(a * 16777216.0f));
  }
  uint32_t ua;
  memcpy(&ua, &a, 4);
  uint32_t mant = ua & 0x7FFFFFu, exp = (ua >> 23) - 127 + 15;
  uint32_t h = (exp << 10) | (mant >> 13), rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

static double f16_to_double(uint16_t h) {
  int exp = (h >> 10) & 0x1F, mant = h & 0x3FF;
  double v = exp ? ldexp(1.0 + mant / 1024.0, exp - 15) : ldexp(mant, -24);
  return h & 0x8000u ? -v : v;
}

typedef qi_status (*gemm_call)(void *user, int set, qi_error *err);

/* Median milliseconds per call. */
static qi_status time_calls(qi_cuda_ctx *ctx, gemm_call call, void *user,
                            float *ms_per_call, qi_error *err) {
  qi_cuda_timer *t = NULL;
  float samples[SAMPLES];
  qi_status s = qi_cuda_timer_create(ctx, &t, err);
  if (s != QI_OK) return s;
  for (int i = 0; s == QI_OK && i < WARMUP; i++) s = call(user, i % SETS, err);
  if (s == QI_OK) s = qi_cuda_sync(ctx, err);
  for (int b = 0; s == QI_OK && b < SAMPLES; b++) {
    s = qi_cuda_timer_start(t, err);
    for (int i = 0; s == QI_OK && i < BATCH; i++)
      s = call(user, (b * BATCH + i) % SETS, err);
    float ms = 0.0f;
    if (s == QI_OK) s = qi_cuda_timer_stop(t, &ms, err);
    samples[b] = ms / BATCH;
  }
  qi_cuda_timer_free(t);
  if (s != QI_OK) return s;
  qsort(samples, SAMPLES, sizeof samples[0], cmp_float);
  *ms_per_call = samples[SAMPLES / 2];
  return QI_OK;
}

typedef struct bench {
  qi_cuda_ctx *ctx;
  qi_cuda_blas *bl;
  size_t m, n, k;
  int8_t *a8[SETS], *b8[SETS];
  int32_t *c32;
  uint16_t *a16[SETS], *b16[SETS], *c16;
  uint8_t *au[SETS], *cu;
  qi_cuda_qgemm_weights *w;
  void *scratch;
  size_t scratch_bytes;
  qi_u8s8_gemm_params p;
} bench;

static qi_status call_s8(void *u, int set, qi_error *err) {
  bench *b = u;
  return qi_cuda_gemm_s8s8s32(b->bl, b->m, b->n, b->k, b->a8[set], b->b8[set],
                              b->c32, err);
}
static qi_status call_f16(void *u, int set, qi_error *err) {
  bench *b = u;
  return qi_cuda_gemm_f16(b->bl, b->m, b->n, b->k, b->a16[set], b->b16[set],
                          b->c16, err);
}
static qi_status call_u8(void *u, int set, qi_error *err) {
  bench *b = u;
  return qi_cuda_qgemm(b->bl, b->m, b->au[set], b->k, b->w, NULL, 0, b->cu,
                       b->n, &b->p, b->scratch, b->scratch_bytes, err);
}

static double tops(size_t m, size_t n, size_t k, float ms) {
  return 2.0 * (double)m * (double)n * (double)k / ((double)ms * 1e-3) / 1e12;
}

int main(int argc, char **argv) {
  qi_error e = {0};
  bench b;
  memset(&b, 0, sizeof b);
  b.m = b.n = b.k = 4096;
  if (argc == 4) {
    b.m = (size_t)strtoull(argv[1], NULL, 10);
    b.n = (size_t)strtoull(argv[2], NULL, 10);
    b.k = (size_t)strtoull(argv[3], NULL, 10);
  }
  if (!b.m || b.n % 8 || b.k % 8 || !b.n || !b.k) {
    printf("bench_cuda_gemm: M >= 1, N and K multiples of 8\n");
    return 2;
  }
  int ndev = 0;
  if (qi_cuda_device_count(&ndev, &e) != QI_OK) {
    printf("bench_cuda_gemm: skipped (%s)\n", e.message);
    return 0;
  }
  char name[128] = "?";
  int major = 0, minor = 0;
  TRY(qi_cuda_device_describe(0, name, sizeof name, &major, &minor, &e));
  TRY(qi_cuda_ctx_create(0, &b.ctx, &e));
  TRY(qi_cuda_blas_create(b.ctx, 0, &b.bl, &e));
  size_t mk = b.m * b.k, nk = b.n * b.k, mn = b.m * b.n;
  int8_t *ha = malloc(mk), *hb = malloc(nk);
  uint16_t *ha16 = malloc(mk * 2), *hb16 = malloc(nk * 2);
  int32_t *hc32 = malloc(mn * 4);
  uint16_t *hc16 = malloc(mn * 2);
  float *mult = malloc(b.n * sizeof(float));
  if (!ha || !hb || !ha16 || !hb16 || !hc32 || !hc16 || !mult) {
    printf("bench_cuda_gemm: FAIL out of host memory\n");
    return 1;
  }
  cc_rng r = {77};
  for (int s = 0; s < SETS; s++) {
    for (size_t i = 0; i < mk; i++) {
      ha[i] = (int8_t)cc_next(&r);
      ha16[i] = f16_of((float)(cc_unit(&r) * 2.0 - 1.0));
    }
    for (size_t i = 0; i < nk; i++) {
      hb[i] = (int8_t)cc_range(&r, -127, 127);
      hb16[i] = f16_of((float)(cc_unit(&r) * 2.0 - 1.0));
    }
    TRY(qi_cuda_alloc(b.ctx, mk, (void **)&b.a8[s], &e));
    TRY(qi_cuda_alloc(b.ctx, nk, (void **)&b.b8[s], &e));
    TRY(qi_cuda_alloc(b.ctx, mk * 2, (void **)&b.a16[s], &e));
    TRY(qi_cuda_alloc(b.ctx, nk * 2, (void **)&b.b16[s], &e));
    TRY(qi_cuda_alloc(b.ctx, mk, (void **)&b.au[s], &e));
    TRY(qi_cuda_upload(b.ctx, b.a8[s], ha, mk, &e));
    TRY(qi_cuda_upload(b.ctx, b.b8[s], hb, nk, &e));
    TRY(qi_cuda_upload(b.ctx, b.a16[s], ha16, mk * 2, &e));
    TRY(qi_cuda_upload(b.ctx, b.b16[s], hb16, nk * 2, &e));
    TRY(qi_cuda_upload(b.ctx, b.au[s], ha, mk, &e)); /* same bytes as uint8 */
  }
  /* The last set stays in ha/hb/ha16/hb16 for the checks below. */
  TRY(qi_cuda_alloc(b.ctx, mn * 4, (void **)&b.c32, &e));
  TRY(qi_cuda_alloc(b.ctx, mn * 2, (void **)&b.c16, &e));
  TRY(qi_cuda_alloc(b.ctx, mn, (void **)&b.cu, &e));
  for (size_t j = 0; j < b.n; j++) mult[j] = 1.0f / 4096.0f;
  TRY(qi_cuda_qgemm_weights_create(b.ctx, b.n, b.k, hb, b.k, NULL, 128, mult,
                                   &b.w, &e));
  b.scratch_bytes = qi_cuda_qgemm_scratch_bytes(b.m, b.w);
  TRY(qi_cuda_alloc(b.ctx, b.scratch_bytes, &b.scratch, &e));
  b.p = qi_u8s8_gemm_params_make(0, 128, 0, 255, 0, 0.0f);

  float ms_s8 = 0, ms_f16 = 0, ms_u8 = 0;
  TRY(time_calls(b.ctx, call_s8, &b, &ms_s8, &e));
  TRY(time_calls(b.ctx, call_f16, &b, &ms_f16, &e));
  TRY(time_calls(b.ctx, call_u8, &b, &ms_u8, &e));

  /* The host copies hold the last set: run on it once more and check
   * sampled outputs. */
  TRY(call_s8(&b, SETS - 1, &e));
  TRY(call_f16(&b, SETS - 1, &e));
  TRY(qi_cuda_sync(b.ctx, &e));
  TRY(qi_cuda_download(b.ctx, hc32, b.c32, mn * 4, &e));
  TRY(qi_cuda_download(b.ctx, hc16, b.c16, mn * 2, &e));
  int bad_s8 = 0, bad_f16 = 0, checked_f16 = 0;
  for (int c = 0; c < CHECKS; c++) {
    size_t i = (size_t)cc_next(&r) % b.m, j = (size_t)cc_next(&r) % b.n;
    int64_t s = 0;
    double f = 0.0, fabs_sum = 0.0;
    for (size_t t = 0; t < b.k; t++) {
      s += (int64_t)ha[i * b.k + t] * hb[j * b.k + t];
      double x =
          f16_to_double(ha16[i * b.k + t]) * f16_to_double(hb16[j * b.k + t]);
      f += x;
      fabs_sum += fabs(x);
    }
    bad_s8 += s != hc32[i * b.n + j];
    if (fabs(f) > 0.05 * fabs_sum) { /* skip sums that cancel */
      checked_f16++;
      double got = f16_to_double(hc16[i * b.n + j]);
      bad_f16 += !(fabs(got - f) <= F16_REL_TOL * fabs(f));
    }
  }

  printf("device 0: %s (compute capability %d.%d)\n", name, major, minor);
  printf("GEMM %zu x %zu x %zu, median of %d batches of %d calls\n", b.m, b.n,
         b.k, SAMPLES, BATCH);
  printf("%-34s %10s %10s %s\n", "path", "ms/call", "TOPS", "check");
  printf("%-34s %10.4f %10.1f %d/%d exact\n", "cuBLASLt int8 (s8 x s8 -> s32)",
         (double)ms_s8, tops(b.m, b.n, b.k, ms_s8), CHECKS - bad_s8, CHECKS);
  printf("%-34s %10.4f %10.1f %d/%d within %.0e\n",
         "cuBLASLt fp16 (fp32 accumulate)", (double)ms_f16,
         tops(b.m, b.n, b.k, ms_f16), checked_f16 - bad_f16, checked_f16,
         F16_REL_TOL);
  printf("%-34s %10.4f %10.1f %s\n", "qinfer u8s8 GEMM (shift+s8+requant)",
         (double)ms_u8, tops(b.m, b.n, b.k, ms_u8), "(test_cuda_kernels)");

  for (int s = 0; s < SETS; s++) {
    qi_cuda_free(b.ctx, b.a8[s]);
    qi_cuda_free(b.ctx, b.b8[s]);
    qi_cuda_free(b.ctx, b.a16[s]);
    qi_cuda_free(b.ctx, b.b16[s]);
    qi_cuda_free(b.ctx, b.au[s]);
  }
  qi_cuda_free(b.ctx, b.c32);
  qi_cuda_free(b.ctx, b.c16);
  qi_cuda_free(b.ctx, b.cu);
  qi_cuda_free(b.ctx, b.scratch);
  qi_cuda_qgemm_weights_free(b.w);
  qi_cuda_blas_free(b.bl);
  qi_cuda_ctx_free(b.ctx);
  free(ha);
  free(hb);
  free(ha16);
  free(hb16);
  free(hc32);
  free(hc16);
  free(mult);
  return bad_s8 || bad_f16 ? 1 : 0;
}
