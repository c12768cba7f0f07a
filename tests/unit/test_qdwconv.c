/* u8s8 depthwise convolution: the dispatch and its QINFER_ISA override,
 * packing (folded bias, layouts, overflow refusal), every microkernel this
 * CPU has on all channel counts 1..70 and tap counts 1..49 with every input
 * row, output row and residual row against its own guard page, and the
 * driver's depthwise path on awkward shapes byte for byte against the
 * scalar oracle (itself checked against float64), on 1 and 2 threads.
 * QINFER_LONG_TESTS=1 adds a random sweep. */
#include <stdio.h>

#include "core/cpu_features.h"
#include "qconv_cases.h"
#include "qtest.h"
#include "ref/requant.h"

static qi_pool *g_pool2;

static const qi_isa k_isas[] = {QI_ISA_SCALAR, QI_ISA_AVX2};
#define NISAS (sizeof k_isas / sizeof k_isas[0])

static int have(qi_isa isa) {
  return qi_cpu_features_have(qi_cpu_features_get(), isa);
}

static void test_dispatch(qt_state *st) {
  qi_cpu_features none, all;
  memset(&none, 0, sizeof none);
  memset(&all, 1, sizeof all);
  const qi_dwconv_config *cfg = NULL;
  qi_error err = {0};
  QT_CHECK(st, qi_dwconv_config_choose(&all, NULL, &cfg, &err) == QI_OK);
  QT_CHECK(st, cfg == qi_dwconv_config_of(QI_ISA_AVX2));
  QT_CHECK(st, qi_dwconv_config_choose(&none, NULL, &cfg, &err) == QI_OK);
  QT_CHECK(st, cfg == qi_dwconv_config_of(QI_ISA_SCALAR));
  QT_CHECK(st, qi_dwconv_config_choose(&all, "scalar", &cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR && cfg->w_bytes == 1);
  QT_CHECK(st, qi_dwconv_config_choose(&all, "avx512vnni", &cfg, &err) ==
                   QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_AVX2 && cfg->w_bytes == 2);
  QT_CHECK(st, qi_dwconv_config_choose(&none, "avx2", &cfg, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR);
  QT_CHECK(st, qi_dwconv_config_choose(&all, "sse9", &cfg, &err) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_AVX2);
  QT_CHECK(st, qi_dwconv_config_of(QI_ISA_COUNT) == NULL);
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_dwconv_config *c = qi_dwconv_config_of((qi_isa)i);
    QT_CHECK(st, c && c->ukernel && c->pack && c->isa <= (qi_isa)i);
    QT_CHECK(st, c && strstr(c->kernel_name, qi_isa_name(c->isa)) != NULL);
  }

  const char *saved = getenv("QINFER_ISA");
  char saved_copy[64] = "";
  if (saved) snprintf(saved_copy, sizeof saved_copy, "%s", saved);
  setenv("QINFER_ISA", "scalar", 1);
  QT_CHECK(st, qi_dwconv_config_default(&cfg, &err) == QI_OK);
  QT_CHECK(st, cfg && cfg->isa == QI_ISA_SCALAR);
  /* The driver follows it when given no config. */
  qv_shape s = {1, 4, 4, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 5};
  qi_u8s8_conv_params p = qv_params(&s, 3);
  int8_t w[45] = {0};
  float mult[5] = {1, 1, 1, 1, 1};
  qi_qconv_packed *pk = NULL;
  QT_CHECK(st, qi_qconv_pack(&p, w, NULL, mult, NULL, NULL, &pk, &err) ==
                   QI_OK);
  if (pk)
    QT_CHECK(st, strcmp(qi_qconv_kernel_name(pk),
                        qi_dwconv_config_of(QI_ISA_SCALAR)->kernel_name) == 0);
  qi_qconv_free(pk);
  unsetenv("QINFER_ISA");
  QT_CHECK(st, qi_dwconv_config_default(&cfg, &err) == QI_OK);
  QT_CHECK(st, cfg == qi_dwconv_config_of(
                          qi_cpu_features_best(qi_cpu_features_get())));
  if (saved) setenv("QINFER_ISA", saved_copy, 1);
}

static void test_pack(qt_state *st) {
  /* 17 channels x 3 taps: W[c][t] = c - t. */
  int8_t w[17 * 3];
  int32_t bias[17];
  float mult[17];
  for (int c = 0; c < 17; c++) {
    for (int t = 0; t < 3; t++) w[c * 3 + t] = (int8_t)(c - t);
    bias[c] = 100 * c;
    mult[c] = 0.25f * (float)c;
  }
  unsigned char buf8[2 * 256], buf16[512];
  QT_CHECK(st, qi_u8s8_dwconv_packed_bytes(17, 3, 1) <= sizeof buf8);
  QT_CHECK(st, qi_u8s8_dwconv_packed_bytes(17, 3, 2) <= sizeof buf16);
  QT_CHECK(st, qi_u8s8_dwconv_pack_i8(17, 3, w, bias, 5, mult, buf8) == -1);
  QT_CHECK(st, qi_u8s8_dwconv_pack_i16x2(17, 3, w, bias, 5, mult, buf16) ==
                   -1);
  size_t b8 = qi_u8s8_dwconv_block_bytes(3, 1);
  QT_CHECK(st, b8 % 64 == 0 && qi_u8s8_dwconv_block_bytes(3, 2) % 64 == 0);
  QT_CHECK(st, qi_u8s8_dwconv_packed_bytes(17, 3, 1) == 2 * b8);
  QT_CHECK(st, qi_u8s8_dwconv_packed_bytes(17, 3, 2) ==
                   qi_u8s8_dwconv_block_bytes(3, 2));
  /* i8, CT 16: channel 16 is block 1, lane 0; bias 1600 - 5 * (16+15+14). */
  int32_t folded;
  memcpy(&folded, buf8 + b8, 4);
  QT_CHECK(st, folded == 1600 - 5 * 45);
  /* i8: w[t][j]; channel 5 tap 2 = 3. */
  QT_CHECK(st, (int8_t)buf8[64 + 2 * 16 + 5] == 3);
  float m;
  memcpy(&m, buf8 + b8 + qi_u8s8_dwconv_mult_offset(3, 1), 4);
  QT_CHECK(st, m == 4.0f);
  /* i16x2, CT 32, perm32 order: channel 16 is vector 0 element 4 (slot 4),
   * channel 5 vector 1 element 1 (slot 9); slot 5 (channel 17) is empty. */
  QT_CHECK(st, qi_u8s8_dwconv_perm32(0, 4) == 16 &&
                   qi_u8s8_dwconv_perm32(1, 1) == 5 &&
                   qi_u8s8_dwconv_perm32(3, 7) == 31);
  memcpy(&folded, buf16 + 4 * 4, 4);
  QT_CHECK(st, folded == 1600 - 5 * 45);
  memcpy(&folded, buf16 + 9 * 4, 4);
  QT_CHECK(st, folded == 500 - 5 * (5 + 4 + 3));
  memcpy(&folded, buf16 + 5 * 4, 4);
  QT_CHECK(st, folded == 0);
  int16_t v; /* w[q][slot][s]: channel 5, tap 2 = pair 1 slot 0; tap 3 pad */
  memcpy(&v, buf16 + 128 + ((1 * 32 + 9) * 2 + 0) * 2, 2);
  QT_CHECK(st, v == 3);
  memcpy(&v, buf16 + 128 + ((1 * 32 + 9) * 2 + 1) * 2, 2);
  QT_CHECK(st, v == 0);
  memcpy(&v, buf16 + 128 + ((0 * 32 + 4) * 2 + 1) * 2, 2); /* ch 16 tap 1 */
  QT_CHECK(st, v == 15);
  memcpy(&m, buf16 + qi_u8s8_dwconv_mult_offset(3, 2) + 9 * 4, 4);
  QT_CHECK(st, m == 0.25f * 5); /* mult in perm32 order: slot 9 */
  /* A bias that the taps could push past int32: refused, naming it. */
  bias[9] = INT32_MAX - 100;
  QT_CHECK(st, qi_u8s8_dwconv_pack_i16x2(17, 3, w, bias, 5, mult, buf16) == 9);
  QT_CHECK(st, qi_u8s8_dwconv_pack_i8(17, 3, w, bias, 5, mult, buf8) == 9);
  qv_shape s = {1, 4, 4, 17, 17, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 17};
  qi_u8s8_conv_params p = qv_params(&s, 5);
  qi_qconv_packed *pk = NULL;
  qi_error err = {0};
  QT_CHECK(st, qi_qconv_pack(&p, w, bias, mult, NULL, NULL, &pk, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECK(st, pk == NULL && strstr(err.message, "channel 9") != NULL);
}

/* One microkernel call: `pixels` pixels of `channels` channels and `taps`
 * taps, every input row, output row and residual row against its own guard
 * page. Pixels share pointers (step < taps) in every other case; pointer i
 * is a padded tap when i % 4 == 3. */
static void ukernel_case(qt_state *st, const qi_dwconv_config *cfg,
                         size_t channels, size_t taps, size_t pixels,
                         size_t idx) {
  qc_case q = qc_case_make(1, 1, 1, idx);
  int residual = q.residual || idx % 3 == 0, out_f32 = q.out_f32 && !residual;
  int mult_kind = (int)((idx + idx / 4) % QC_MULT_KINDS);
  qc_rng rng = {0xD00Dull + idx * 977u + channels * 31u + taps};
  size_t step = idx % 2 ? taps : (taps + 2) / 3;
  size_t nrows = (pixels - 1) * step + taps, xs, ys, rs = 0;
  size_t es = out_f32 ? 4 : 1;
  qt_guard gx = {0}, gy = {0}, gr = {0}, gz = {0}, gw = {0};
  uint8_t *x = qt_guard_rows(&gx, nrows, channels, &xs);
  uint8_t *y = qt_guard_rows(&gy, pixels, channels * es, &ys);
  uint8_t *r = residual ? qt_guard_rows(&gr, pixels, channels, &rs) : NULL;
  uint8_t *zero = qt_guard_after(&gz, channels);
  size_t wbytes = qi_u8s8_dwconv_packed_bytes(channels, taps,
                                              (size_t)cfg->w_bytes);
  void *packed = qt_guard_after(&gw, wbytes);
  int8_t *w = malloc(channels * taps);
  int32_t *bias = malloc(channels * sizeof(int32_t));
  float *mult = malloc(channels * sizeof(float));
  const uint8_t **ptrs = malloc(nrows * sizeof *ptrs);
  if (!x || !y || (residual && !r) || !zero || !packed || !w || !bias ||
      !mult || !ptrs) {
    QT_CHECKF(st, 0, "allocation failed");
    goto out;
  }
  memset(zero, q.za, channels);
  for (size_t i = 0; i < nrows; i++) {
    for (size_t c = 0; c < channels; c++)
      x[i * xs + c] = qv_act(&rng, q.saturate);
    ptrs[i] = i % 4 == 3 ? zero : x + i * xs;
  }
  for (size_t i = 0; i < channels * taps; i++)
    w[i] = q.saturate == QC_SAT_NONE ? (int8_t)qc_range(&rng, -127, 127)
                                     : (qc_next(&rng) & 1 ? 127 : -127);
  for (size_t c = 0; c < channels; c++) {
    bias[c] = qc_range(&rng, -20000, 20000);
    mult[c] = mult_kind == QC_MULT_TINY    ? 1e-6f
              : mult_kind == QC_MULT_HALF  ? 0.5f
              : mult_kind == QC_MULT_THREE ? 3.0f
                                           : 0.0015f * (0.5f + qc_unit(&rng)) /
                                                 sqrtf((float)taps);
  }
  if (r)
    for (size_t j = 0; j < pixels; j++)
      for (size_t c = 0; c < channels; c++)
        r[j * rs + c] = (uint8_t)qc_next(&rng);
  float rmult = 0.3f + 1.2f * qc_unit(&rng);
  qi_u8s8_gemm_params p = qi_u8s8_gemm_params_make(out_f32, q.zy, q.qmin,
                                                   q.qmax, q.zr, rmult);
  QT_CHECK(st, cfg->pack(channels, taps, w, bias, q.za, mult, packed) == -1);
  cfg->ukernel(channels, pixels, taps, ptrs, step, packed, y, ys / es, r, rs,
               &p);

  size_t bad = 0;
  for (size_t j = 0; j < pixels && !bad; j++)
    for (size_t c = 0; c < channels && !bad; c++) {
      double s = bias[c]; /* float64, (x - za) * w: padded taps add 0 */
      for (size_t t = 0; t < taps; t++)
        s += ((double)ptrs[j * step + t][c] - q.za) * w[c * taps + t];
      float v = (float)(int32_t)s * mult[c];
      if (out_f32) {
        bad += memcmp(y + j * ys + c * 4, &v, 4) != 0;
        continue;
      }
      if (r) v = v + (float)((int32_t)r[j * rs + c] - q.zr) * rmult;
      double e = nearbyint((double)v) + q.zy;
      e = e < q.qmin ? q.qmin : e > q.qmax ? q.qmax : e;
      bad += y[j * ys + c] != (uint8_t)e;
    }
  QT_CHECKF(st, bad == 0,
            "%s C=%zu taps=%zu pixels=%zu step=%zu za=%d zy=%d res=%d f32=%d "
            "mult=%d",
            cfg->kernel_name, channels, taps, pixels, step, (int)q.za,
            (int)q.zy, residual, out_f32, mult_kind);
out:
  free(ptrs);
  free(mult);
  free(bias);
  free(w);
  qt_guard_free(&gw);
  qt_guard_free(&gz);
  qt_guard_free(&gr);
  qt_guard_free(&gy);
  qt_guard_free(&gx);
}

static void test_ukernels(qt_state *st) {
  static const size_t taps[] = {1, 2, 3, 9, 25, 49};
  for (size_t i = 0; i < NISAS; i++) {
    if (!have(k_isas[i])) {
      printf("  skip %s: this CPU lacks it\n", qi_isa_name(k_isas[i]));
      continue;
    }
    const qi_dwconv_config *cfg = qi_dwconv_config_of(k_isas[i]);
    size_t idx = 0;
    for (size_t c = 1; c <= 70; c++)
      for (size_t t = 0; t < sizeof taps / sizeof taps[0]; t++, idx++)
        if (c <= 34 || c % 3 == 0 || t < 2)
          ukernel_case(st, cfg, c, taps[t], 1 + idx % 3, idx);
  }
}

/* N H W C C KH KW SH SW DH DW PT PL PB PR G (G = C: depthwise) */
static const qv_shape k_shapes[] = {
    {1, 8, 8, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 3},
    {2, 9, 7, 7, 7, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 7},
    {1, 10, 9, 17, 17, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 17},
    {1, 13, 12, 33, 33, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 33},
    {1, 9, 11, 16, 16, 3, 5, 1, 2, 2, 2, 1, 2, 0, 3, 16},
    {1, 11, 10, 32, 32, 3, 3, 3, 3, 1, 1, 0, 1, 2, 0, 32},
    {1, 1, 9, 48, 48, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 48},   /* H = 1 */
    {2, 9, 1, 17, 17, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 17},   /* W = 1 */
    {1, 9, 9, 100, 100, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 100}, /* dilation 2 */
    {1, 3, 4, 7, 7, 3, 3, 1, 1, 1, 1, 3, 0, 1, 3, 7},      /* pad > kernel */
    {1, 6, 6, 31, 31, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 31},
    {1, 5, 5, 15, 15, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 15},   /* 1x1 */
    {1, 12, 12, 96, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 96},
    {1, 7, 7, 20, 20, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 20},
    {2, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 1, 1, 2},      /* 2x2, C = 2 */
    {1, 8, 8, 1, 1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},      /* C = 1: GEMM */
    {1, 10, 8, 24, 24, 3, 3, 1, 1, 2, 1, 2, 1, 2, 1, 24},  /* dil_h only */
    {1, 8, 10, 40, 40, 3, 3, 2, 1, 1, 2, 1, 2, 1, 2, 40},  /* dil_w only */
};
#define NSHAPES (sizeof k_shapes / sizeof k_shapes[0])

static qi_qconv_path expected_path(const qi_u8s8_conv_params *p) {
  return qi_u8s8_conv_is_depthwise(p)   ? QI_QCONV_DEPTHWISE
         : qi_u8s8_conv_is_pointwise(p) ? QI_QCONV_POINTWISE
                                        : QI_QCONV_IM2COL;
}

static void run_isa(qt_state *st, qi_isa isa) {
  const qi_dwconv_config *dcfg = qi_dwconv_config_of(isa);
  const qi_qgemm_config *gcfg = qi_qgemm_config_of(isa);
  size_t idx = 0;
  for (size_t i = 0; i < NSHAPES; i++)
    for (int v = 0; v < 7; v++, idx++) {
      qv_case c;
      QT_CHECKF(st, qv_case_make(&k_shapes[i], idx * 3 + i, &c),
                "shape %zu invalid", i);
      qv_data d;
      if (qv_data_make(st, &c, &d)) {
        qv_run(st, &d, gcfg, dcfg, NULL, expected_path(&c.p));
        qv_run(st, &d, gcfg, dcfg, g_pool2, expected_path(&c.p));
      }
      qv_data_free(&d);
    }
  if (!qc_long_tests()) return;
  qc_rng rng = {0xDEC0DEull + (uint64_t)isa};
  for (int t = 0; t < 400; t++) {
    qv_shape s = qv_random_shape(&rng, 1);
    qv_case c;
    QT_CHECK(st, qv_case_make(&s, (size_t)(qc_next(&rng) % 100000), &c));
    qv_data d;
    if (qv_data_make(st, &c, &d))
      qv_run(st, &d, gcfg, dcfg, t & 1 ? g_pool2 : NULL, expected_path(&c.p));
    qv_data_free(&d);
  }
}

static void test_scalar(qt_state *st) { run_isa(st, QI_ISA_SCALAR); }
static void test_avx2(qt_state *st) { run_isa(st, QI_ISA_AVX2); }

static void test_residual_in_place(qt_state *st) {
  qv_case c;
  QT_CHECK(st, qv_case_make(&k_shapes[12], 1, &c));
  c.residual = 1;
  c.out_f32 = 0;
  c.y_pad = 5;
  qv_data d;
  if (qv_data_make(st, &c, &d)) qv_run_in_place(st, &d, NULL, NULL, g_pool2);
  qv_data_free(&d);
}

/* The MobileNet and ConvNeXt layer shapes once each (larger than the
 * sweep: several column runs per row, many rows per thread). */
static void test_model_shapes(qt_state *st) {
  static const qv_shape shapes[] = {
      {1, 28, 28, 144, 144, 3, 3, 2, 2, 1, 1, 0, 0, 1, 1, 144}, /* TF pads */
      {1, 14, 14, 96, 96, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 96},
  };
  for (size_t i = 0; i < 2; i++) {
    qv_case c;
    QT_CHECK(st, qv_case_make(&shapes[i], 4 * i + 1, &c));
    qv_data d;
    if (qv_data_make(st, &c, &d))
      qv_run(st, &d, NULL, NULL, g_pool2, QI_QCONV_DEPTHWISE);
    qv_data_free(&d);
  }
}

int main(void) {
  qt_state st = {0};
  qc_catch_faults(&st);
  g_pool2 = qi_pool_create(2);
  if (!g_pool2) {
    fprintf(stderr, "cannot create a thread pool\n");
    return 1;
  }
  QT_RUN(&st, test_dispatch);
  QT_RUN(&st, test_pack);
  QT_RUN(&st, test_ukernels);
  QT_RUN(&st, test_scalar);
  if (have(QI_ISA_AVX2))
    QT_RUN(&st, test_avx2);
  else
    printf("skip test_avx2: this CPU lacks avx2\n");
  QT_RUN(&st, test_residual_in_place);
  QT_RUN(&st, test_model_shapes);
  qi_pool_free(g_pool2);
  printf("  %ld driver runs against the oracle, %ld outputs\n", qv_runs,
         qv_outputs);
  return qt_summary(&st);
}
