/* u8s8 GEMM: CPU feature detection, ISA dispatch and its QINFER_ISA
 * override, packing checks, and every ISA path this CPU has, byte for byte
 * against the scalar oracle (itself checked against float64), through the
 * threaded driver and tile by tile against guard pages. Paths this CPU
 * lacks are reported as skipped here; test_qgemm_emu runs their kernel code
 * over emulated intrinsics. QINFER_LONG_TESTS=1 adds a random sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "core/gemm_dispatch.h"
#include "core/qgemm.h"
#include "qgemm_cases.h"
#include "qtest.h"

static qi_pool *g_pool2; /* the 2-thread pool of this test program */

/* Linux's name for a flag in /proc/cpuinfo, present or not. */
static int cpuinfo_has(const char *flags, const char *name) {
  size_t len = strlen(name);
  for (const char *p = flags; (p = strstr(p, name)) != NULL; p += len)
    if ((p == flags || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' ||
                                         p[len] == '\0'))
      return 1;
  return 0;
}

static void test_cpu_features(qt_state *st) {
  const qi_cpu_features *f = qi_cpu_features_get();
  QT_CHECK(st, f == qi_cpu_features_get()); /* one table */
  QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_SCALAR));
  qi_isa best = qi_cpu_features_best(f);
  QT_CHECK(st, qi_cpu_features_have(f, best));
  for (int i = best + 1; i < QI_ISA_COUNT; i++)
    QT_CHECK(st, !qi_cpu_features_have(f, (qi_isa)i));
  /* Each level implies the lower SIMD levels it is built with. */
  if (qi_cpu_features_have(f, QI_ISA_AVX512VNNI))
    QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_AVX2) && f->os_zmm);
  if (qi_cpu_features_have(f, QI_ISA_AVXVNNI))
    QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_AVX2));
  if (f->os_zmm) QT_CHECK(st, f->os_ymm);

  /* The kernel's view of the same cpuid bits must agree with ours. */
  FILE *fp = fopen("/proc/cpuinfo", "r");
  QT_CHECKF(st, fp != NULL, "cannot read /proc/cpuinfo");
  if (!fp) return;
  static char line[8192];
  int found = 0;
  while (fgets(line, sizeof line, fp))
    if (strncmp(line, "flags", 5) == 0) {
      found = 1;
      break;
    }
  fclose(fp);
  QT_CHECK(st, found);
  if (!found) return;
  /* Linux clears the flags of state the OS does not save, so compare the
   * usable levels, not raw cpuid bits. (Kernels older than 5.13 do not
   * name avx_vnni: only its presence is binding.) */
  int l_avx2 = cpuinfo_has(line, "avx") && cpuinfo_has(line, "avx2") &&
               cpuinfo_has(line, "fma") && cpuinfo_has(line, "f16c");
  int l_512 = cpuinfo_has(line, "avx512f") && cpuinfo_has(line, "avx512bw") &&
              cpuinfo_has(line, "avx512vl") && cpuinfo_has(line, "avx512dq") &&
              cpuinfo_has(line, "avx512_vnni");
  QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_AVX2) == l_avx2);
  QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_AVX512VNNI) == (l_avx2 && l_512));
  if (l_avx2 && cpuinfo_has(line, "avx_vnni"))
    QT_CHECK(st, qi_cpu_features_have(f, QI_ISA_AVXVNNI));
  printf("  cpu: best %s (avx2 %d avxvnni %d avx512vnni %d, os ymm %d zmm %d)\n",
         qi_isa_name(best), f->avx2, f->avxvnni, f->avx512vnni, f->os_ymm,
         f->os_zmm);
}

static void test_isa_override(qt_state *st) {
  qi_cpu_features none, all;
  memset(&none, 0, sizeof none);
  memset(&all, 1, sizeof all); /* every bool true */
  const qi_qgemm_config *cfg = NULL;
  qi_error err = {0};

  QT_CHECK(st, qi_qgemm_config_choose(&all, NULL, &cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_AVX512VNNI);
  QT_CHECK(st, qi_qgemm_config_choose(&none, "", &cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR);
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    QT_CHECK(st, qi_qgemm_config_choose(&all, qi_isa_name((qi_isa)i), &cfg,
                                        &err) == QI_OK);
    QT_CHECK(st, cfg && cfg->isa == (qi_isa)i);
  }
  /* Forcing what the CPU lacks falls back to its best, and says so. */
  qi_cpu_features avx2_only = none;
  avx2_only.avx = avx2_only.avx2 = avx2_only.fma = avx2_only.f16c = true;
  avx2_only.os_ymm = true;
  QT_CHECK(st, qi_qgemm_config_choose(&avx2_only, "avx512vnni", &cfg, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_AVX2);
  QT_CHECK(st, strstr(err.message, "avx512vnni") != NULL);
  /* AVX2 bits without the OS saving ymm state: no AVX2 path. */
  qi_cpu_features no_os = avx2_only;
  no_os.os_ymm = false;
  QT_CHECK(st, qi_qgemm_config_choose(&no_os, "avx2", &cfg, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR);
  QT_CHECK(st, qi_qgemm_config_choose(&all, "AVX2x", &cfg, &err) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_AVX512VNNI);

  /* The environment variable, on this CPU. */
  const char *saved = getenv("QINFER_ISA");
  char saved_copy[64] = "";
  if (saved) snprintf(saved_copy, sizeof saved_copy, "%s", saved);
  setenv("QINFER_ISA", "scalar", 1);
  QT_CHECK(st, qi_qgemm_config_default(&cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR);
  unsetenv("QINFER_ISA");
  QT_CHECK(st, qi_qgemm_config_default(&cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == qi_cpu_features_best(qi_cpu_features_get()));
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    setenv("QINFER_ISA", qi_isa_name((qi_isa)i), 1);
    qi_status s = qi_qgemm_config_default(&cfg, &err);
    int have = qi_cpu_features_have(qi_cpu_features_get(), (qi_isa)i);
    QT_CHECK(st, s == (have ? QI_OK : QI_ERR_UNSUPPORTED));
    QT_CHECK(st, cfg && qi_cpu_features_have(qi_cpu_features_get(), cfg->isa));
  }
  if (saved)
    setenv("QINFER_ISA", saved_copy, 1);
  else
    unsetenv("QINFER_ISA");
}

static void test_dispatch_table(qt_state *st) {
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_qgemm_config *cfg = qi_qgemm_config_of((qi_isa)i);
    QT_CHECK(st, cfg && cfg->isa == (qi_isa)i && cfg->ukernel && cfg->pack);
    if (!cfg) continue;
    char tile[32];
    snprintf(tile, sizeof tile, "_%dx%dc", cfg->mr, cfg->nr);
    QT_CHECKF(st, strstr(cfg->kernel_name, tile) != NULL, "%s vs %s",
              cfg->kernel_name, tile);
    QT_CHECK(st, strstr(cfg->kernel_name, qi_isa_name((qi_isa)i)) != NULL);
    QT_CHECK(st, cfg->kr == 4 && (cfg->w_bytes == 1 || cfg->w_bytes == 2));
  }
  QT_CHECK(st, qi_qgemm_config_of(QI_ISA_COUNT) == NULL);
}

static void test_pack_and_args(qt_state *st) {
  const qi_qgemm_config *cfg = qi_qgemm_config_of(QI_ISA_SCALAR);
  QT_CHECK(st, qi_qgemm_packed_size(cfg, 0, 5) == 0);
  QT_CHECK(st, qi_qgemm_packed_size(cfg, 5, 0) == 0);
  QT_CHECK(st, qi_qgemm_packed_size(cfg, 5, QI_U8S8_GEMM_MAX_K + 1) == 0);
  QT_CHECK(st, qi_qgemm_packed_size(cfg, 9, 5) ==
                   2 * qi_u8s8_gemm_strip_bytes(5, 8, 1));

  int8_t b[3 * 4] = {127, 127, 127, 127, -1, 2, -3, 4, 5, 6, 7, 8};
  int32_t bias[3] = {0, 0, 0};
  float mult[3] = {1, 1, 1};
  unsigned char buf[512];
  qi_qgemm_packed w;
  qi_error err = {0};
  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 4, bias, 7, mult, buf, sizeof buf,
                             &w, &err) == QI_OK);
  /* The folded bias of channel 1: -7 * (-1 + 2 - 3 + 4). */
  int32_t folded;
  memcpy(&folded, buf + 4, 4);
  QT_CHECK(st, folded == -14);
  /* A bias near INT32_MAX would overflow: refused, naming the channel. */
  bias[2] = INT32_MAX - 1000;
  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 4, bias, 0, mult, buf, sizeof buf,
                             &w, &err) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(err.message, "channel 2") != NULL);
  bias[2] = 0;
  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 3, bias, 0, mult, buf, sizeof buf,
                             &w, &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 4, bias, 256, mult, buf,
                             sizeof buf, &w, &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 4, bias, 0, mult, buf, 10, &w,
                             &err) == QI_ERR_INVALID_ARG);

  QT_CHECK(st, qi_qgemm_pack(cfg, 3, 4, b, 4, bias, 0, mult, buf, sizeof buf,
                             &w, &err) == QI_OK);
  uint8_t a[8] = {0}, c[8];
  qi_requant_params rp = qi_requant_params_default();
  QT_CHECK(st, qi_qgemm(&w, a, 4, 2, &rp, c, 3, NULL, NULL, 0, &err) == QI_OK);
  QT_CHECK(st, qi_qgemm(&w, a, 3, 2, &rp, c, 3, NULL, NULL, 0, &err) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qgemm(&w, a, 4, 2, &rp, c, 2, NULL, NULL, 0, &err) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qgemm(&w, a, 4, 0, &rp, NULL, 3, NULL, NULL, 0, &err) == QI_OK);
  rp.qmin = 9;
  rp.qmax = 8;
  QT_CHECK(st, qi_qgemm(&w, a, 4, 2, &rp, c, 3, NULL, NULL, 0, &err) ==
                   QI_ERR_INVALID_ARG);
  rp = qi_requant_params_default();
  rp.out_f32 = 1;
  rp.residual = a;
  rp.ldr = 3;
  QT_CHECK(st, qi_qgemm(&w, a, 4, 2, &rp, c, 3, NULL, NULL, 0, &err) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qgemm_workspace_size(&w, 2, 2) == 0);
}

/* The residual may be the output itself (in-place add). */
static void test_residual_in_place(qt_state *st) {
  const qi_qgemm_config *cfg = NULL;
  qi_qgemm_config_choose(qi_cpu_features_get(), NULL, &cfg, NULL);
  qc_case c = qc_case_make(37, 45, 70, 1); /* residual case */
  c.residual = 1;
  c.out_f32 = 0;
  c.ldc_pad = 0;
  qc_data d;
  if (qc_data_make(st, &c, &d)) {
    qt_guard gw = {0};
    qi_qgemm_packed w;
    if (qc_pack(st, cfg, &d, c.n, &gw, &w)) {
      uint8_t *buf = malloc(c.m * d.ldr);
      QT_CHECK(st, buf != NULL);
      if (buf) {
        memcpy(buf, d.r, (c.m - 1) * d.ldr + c.n);
        qi_requant_params rp = qi_requant_params_default();
        rp.zy = c.zy;
        rp.qmin = c.qmin;
        rp.qmax = c.qmax;
        rp.residual = buf;
        rp.ldr = d.ldr;
        rp.zr = c.zr;
        rp.rmult = d.rmult;
        size_t ssize = qi_qgemm_workspace_size(&w, (int64_t)c.m, 2);
        void *scratch = ssize ? malloc(ssize) : NULL;
        QT_CHECK(st, qi_qgemm(&w, d.a, d.lda, (int64_t)c.m, &rp, buf, d.ldr,
                              g_pool2, scratch, ssize, NULL) == QI_OK);
        free(scratch);
        size_t bi = 0, bj = 0;
        QT_CHECK(st, qc_compare(&d, buf, d.ldr, c.m, c.n, &bi, &bj) == 0);
        free(buf);
      }
    }
    qt_guard_free(&gw);
  }
  qc_data_free(&d);
}

/* The AVX2 kernel's full 4x16 blocks run two groups of 4 k per assembly
 * iteration and an odd last group in C, and tails of 1..3 rows have code
 * of their own: K of 1, 2, 3, 4, 5 and 1024+ groups (even and odd), one or
 * two full blocks with and without a tail, full and partial strips,
 * saturating data (A = 255, B = +-127) included, each on one guarded tile
 * against the oracle. */
static void test_avx2_k_loop(qt_state *st) {
  const qi_qgemm_config *cfg = qi_qgemm_config_of(QI_ISA_AVX2);
  static const size_t ks[] = {4, 8, 9, 12, 13, 17, 20, 4093, 4100};
  static const size_t ms[] = {4, 5, 6, 7, 8, 9};
  static const size_t ns[] = {16, 9, 8};
  size_t idx = 0;
  for (size_t ik = 0; ik < QC_LEN(ks); ik++)
    for (size_t im = 0; im < QC_LEN(ms); im++)
      for (size_t in = 0; in < QC_LEN(ns); in++, idx++) {
        qc_case c = qc_case_make(9, 16, ks[ik], idx);
        c.saturate = (int)(idx % QC_SAT_KINDS);
        qc_data d;
        if (qc_data_make(st, &c, &d))
          qc_run_tile(st, cfg, &d, ms[im], ns[in]);
        qc_data_free(&d);
      }
}

static void run_isa(qt_state *st, qi_isa isa) {
  const qi_qgemm_config *cfg = qi_qgemm_config_of(isa);
  qc_sweep_tiles(st, cfg);
  qc_epilogue_edges(st, cfg);
  qc_apack_check(st, cfg);
  qc_sweep_driver(st, cfg, g_pool2);
  if (qc_long_tests()) qc_sweep_random(st, cfg, g_pool2, 400);
}

static void test_scalar(qt_state *st) { run_isa(st, QI_ISA_SCALAR); }
static void test_avx2(qt_state *st) { run_isa(st, QI_ISA_AVX2); }
static void test_avxvnni(qt_state *st) { run_isa(st, QI_ISA_AVXVNNI); }
static void test_avx512vnni(qt_state *st) { run_isa(st, QI_ISA_AVX512VNNI); }

#define RUN_ISA(st, isa, fn)                                               \
  do {                                                                     \
    if (qi_cpu_features_have(qi_cpu_features_get(), isa))                  \
      QT_RUN(st, fn);                                                      \
    else                                                                   \
      printf("skip %s: this CPU lacks %s (see test_qgemm_emu)\n", #fn,     \
             qi_isa_name(isa));                                            \
  } while (0)

int main(void) {
  qt_state st = {0};
  qc_catch_faults(&st);
  g_pool2 = qi_pool_create(2);
  if (!g_pool2) {
    fprintf(stderr, "cannot create a thread pool\n");
    return 1;
  }
  QT_RUN(&st, test_cpu_features);
  QT_RUN(&st, test_isa_override);
  QT_RUN(&st, test_dispatch_table);
  QT_RUN(&st, test_pack_and_args);
  QT_RUN(&st, test_residual_in_place);
  QT_RUN(&st, test_scalar);
  RUN_ISA(&st, QI_ISA_AVX2, test_avx2);
  RUN_ISA(&st, QI_ISA_AVX2, test_avx2_k_loop);
  RUN_ISA(&st, QI_ISA_AVXVNNI, test_avxvnni);
  RUN_ISA(&st, QI_ISA_AVX512VNNI, test_avx512vnni);
  qi_pool_free(g_pool2);
  return qt_summary(&st);
}
