/* u8s8 convolution through the GEMM paths (pointwise, im2col, grouped):
 * geometry checks, the im2col rows, argument errors, and every case on
 * awkward shapes byte for byte against the scalar oracle (itself checked
 * against float64), for every GEMM kernel this CPU has and, over emulated
 * intrinsics (x86_emu.h), for the VNNI kernels it may lack, whose other
 * tile sizes (6x16, 8x32) exercise the driver's tiling. 1 and 2 threads.
 * QINFER_LONG_TESTS=1 adds a random sweep. */
#include <stdio.h>

#include "core/cpu_features.h"
#include "core/qconv_internal.h"
#include "qconv_cases.h"
#include "qtest.h"

#include "x86_emu.h"

#include "emu_vnni_kernels.h"

static qi_pool *g_pool2;

/* N H W Cin Cout KH KW SH SW DH DW PT PL PB PR G */
static const qv_shape k_shapes[] = {
    {1, 5, 7, 17, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* pointwise */
    {2, 4, 3, 6, 10, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2},    /* pw, groups 2 */
    {1, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},     /* 1 channel */
    {1, 9, 8, 7, 17, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1},    /* 1x1 stride 2 */
    {1, 3, 3, 3, 5, 1, 1, 1, 1, 1, 1, 1, 0, 2, 1, 1},     /* 1x1 padded */
    {1, 8, 8, 3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},     /* 3x3 */
    {2, 9, 7, 17, 33, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},   /* 3x3 s2 */
    {1, 7, 9, 7, 17, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1},    /* 5x5 */
    {1, 15, 13, 3, 16, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1},  /* 7x7 s2 stem */
    {1, 8, 11, 5, 9, 3, 5, 1, 2, 2, 2, 1, 2, 0, 3, 1},    /* 3x5 d2 asym */
    {1, 11, 10, 7, 9, 3, 3, 3, 3, 1, 1, 0, 1, 2, 0, 1},   /* stride 3 */
    {1, 6, 6, 6, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},    /* groups 2 */
    {2, 5, 4, 9, 6, 3, 3, 2, 1, 1, 1, 1, 0, 1, 1, 3},     /* groups 3 */
    {1, 1, 9, 7, 5, 1, 3, 1, 1, 1, 1, 0, 1, 0, 1, 1},     /* H = 1 */
    {2, 9, 1, 5, 3, 3, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1},     /* W = 1 */
    {1, 9, 9, 17, 7, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1},    /* dilation 2 */
    {1, 6, 5, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4},     /* dw x2 mult */
    {1, 3, 4, 5, 6, 3, 3, 1, 1, 1, 1, 3, 0, 1, 3, 1},     /* pad > kernel */
    {1, 12, 12, 33, 100, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, /* strips */
    {1, 14, 14, 64, 40, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1}, /* M tiles */
    {1, 2, 2, 64, 80, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1},   /* few pixels */
    {2, 6, 7, 16, 32, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* pw batch 2 */
    {1, 10, 9, 5, 7, 3, 3, 1, 2, 2, 1, 2, 1, 2, 0, 1},    /* dil_h only */
};
#define NSHAPES (sizeof k_shapes / sizeof k_shapes[0])

static qi_qconv_path expected_path(const qi_u8s8_conv_params *p) {
  return qi_u8s8_conv_is_pointwise(p) ? QI_QCONV_POINTWISE : QI_QCONV_IM2COL;
}

/* Every shape under a few epilogue settings (`variants` sweep indices per
 * shape), on 1 and 2 threads. */
static void sweep(qt_state *st, const qi_qgemm_config *cfg, int variants) {
  size_t idx = 0;
  for (size_t i = 0; i < NSHAPES; i++)
    for (int v = 0; v < variants; v++, idx++) {
      qv_case c;
      QT_CHECKF(st, qv_case_make(&k_shapes[i], idx * 5 + i, &c),
                "shape %zu invalid", i);
      qv_data d;
      if (qv_data_make(st, &c, &d)) {
        qv_run(st, &d, cfg, NULL, NULL, expected_path(&c.p));
        qv_run(st, &d, cfg, NULL, g_pool2, expected_path(&c.p));
      }
      qv_data_free(&d);
    }
}

static void sweep_random(qt_state *st, const qi_qgemm_config *cfg, int n) {
  qc_rng rng = {0xBADC0DEull + (uint64_t)cfg->isa};
  for (int t = 0; t < n; t++) {
    qv_shape s = qv_random_shape(&rng, 0);
    qv_case c;
    QT_CHECK(st, qv_case_make(&s, (size_t)(qc_next(&rng) % 100000), &c));
    qv_data d;
    if (qv_data_make(st, &c, &d))
      qv_run(st, &d, cfg, NULL, t & 1 ? g_pool2 : NULL, expected_path(&c.p));
    qv_data_free(&d);
  }
}

static void run_isa(qt_state *st, qi_isa isa) {
  const qi_qgemm_config *cfg = qi_qgemm_config_of(isa);
  sweep(st, cfg, 6);
  if (qc_long_tests()) sweep_random(st, cfg, 300);
}

static void test_scalar(qt_state *st) { run_isa(st, QI_ISA_SCALAR); }
static void test_avx2(qt_state *st) { run_isa(st, QI_ISA_AVX2); }
static void test_avxvnni(qt_state *st) { run_isa(st, QI_ISA_AVXVNNI); }
static void test_avx512vnni(qt_state *st) { run_isa(st, QI_ISA_AVX512VNNI); }

static qi_qgemm_config emulated(qi_isa isa, qi_u8s8_gemm_ukernel_fn fn) {
  qi_qgemm_config cfg = *qi_qgemm_config_of(isa);
  cfg.ukernel = fn;
  return cfg;
}

static void test_emu_avxvnni(qt_state *st) {
  qi_qgemm_config cfg = emulated(QI_ISA_AVXVNNI, emu_ukernel_6x16c4);
  sweep(st, &cfg, 2);
  if (qc_long_tests()) sweep_random(st, &cfg, 60);
}

static void test_emu_avx512vnni(qt_state *st) {
  qi_qgemm_config cfg = emulated(QI_ISA_AVX512VNNI, emu_ukernel_8x32c4);
  sweep(st, &cfg, 2);
  if (qc_long_tests()) sweep_random(st, &cfg, 60);
}

/* The residual may be the output tensor itself. */
static void test_residual_in_place(qt_state *st) {
  static const qv_shape shapes[] = {
      {1, 5, 7, 17, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1},
      {1, 6, 6, 6, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2},
  };
  for (size_t i = 0; i < 2; i++) {
    qv_case c;
    QT_CHECK(st, qv_case_make(&shapes[i], 1, &c)); /* idx 1: residual */
    c.residual = 1;
    c.out_f32 = 0;
    c.y_pad = 3;
    qv_data d;
    if (qv_data_make(st, &c, &d)) qv_run_in_place(st, &d, NULL, NULL, g_pool2);
    qv_data_free(&d);
  }
}

static void test_derive(qt_state *st) {
  qv_shape s = {1, 7, 9, 4, 6, 3, 3, 2, 1, 1, 2, 1, 0, 2, 1, 2};
  qi_u8s8_conv_params p = qv_params(&s, 0);
  QT_CHECK(st, qi_u8s8_conv_derive(&p) == NULL);
  /* oh = (7 + 3 - 3) / 2 + 1 = 4; ow = (9 + 1 - 5) / 1 + 1 = 6 */
  QT_CHECK(st, p.out_h == 4 && p.out_w == 6);
  QT_CHECK(st, qi_u8s8_conv_k(&p) == 18);
  qi_u8s8_conv_params q = p;
  q.groups = 3;
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.kw = 7; /* dilated 13 > 10 padded columns */
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.stride_h = 0;
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.pad_l = -1;
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.za = 256;
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.n = q.h = q.w = (int64_t)1 << 30; /* 2^90 pixels */
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
  q = p;
  q.c_in = 0;
  QT_CHECK(st, qi_u8s8_conv_derive(&q) != NULL);
}

/* The im2col rows of a tiny case, written out by hand. */
static void test_im2col_rows(qt_state *st) {
  /* 1x3x3x2 input, 2x2 kernel, stride 1, pad top 1 left 1, za 9. */
  qv_shape s = {1, 3, 3, 2, 1, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0, 1};
  qi_u8s8_conv_params p = qv_params(&s, 9);
  QT_CHECK(st, qi_u8s8_conv_derive(&p) == NULL && p.out_h == 3 &&
                   p.out_w == 3);
  uint8_t x[18];
  for (int i = 0; i < 18; i++) x[i] = (uint8_t)(i + 1);
  uint8_t tile[3 * 8];
  memset(tile, 0xEE, sizeof tile);
  qi_u8_conv_im2col(&p, x, 2, 0, 3, 3, tile, 8); /* output row 1 */
  static const uint8_t want[3 * 8] = {
      9, 9, 1, 2, 9, 9, 7, 8,      /* (1,0): taps (0,-1) (0,0) (1,-1) (1,0) */
      1, 2, 3, 4, 7, 8, 9, 10,     /* (1,1) */
      3, 4, 5, 6, 9, 10, 11, 12};  /* (1,2) */
  QT_CHECK(st, memcmp(tile, want, sizeof want) == 0);
  /* Group 1 of a 2-group view, from a strided input (stride 3). */
  p.groups = 2;
  p.c_in = 2;
  p.c_out = 2;
  QT_CHECK(st, qi_u8s8_conv_derive(&p) == NULL);
  uint8_t xs[27];
  for (int i = 0; i < 27; i++) xs[i] = (uint8_t)(100 + i);
  uint8_t t1[4];
  qi_u8_conv_im2col(&p, xs, 3, 1, 4, 1, t1, 4); /* pixel (1,1) */
  /* taps (0,0) (0,1) (1,0) (1,1) = input pixels 0, 1, 3, 4, channel 1 */
  QT_CHECK(st, t1[0] == 101 && t1[1] == 104 && t1[2] == 110 && t1[3] == 113);
}

/* The fused im2col of the AVX2 path writes exactly the rows that im2col
 * then widening would, on stem-like layers whose kernel rows are short
 * contiguous runs, with the input ending at a guard page (the last pixel's
 * kernel rows cannot be read with a whole vector) and the widened tile
 * followed only by the documented slack, also against a guard page. */
static void test_im2col_u16(qt_state *st) {
  if (!qi_cpu_features_have(qi_cpu_features_get(), QI_ISA_AVX2)) {
    (void)st; /* no AVX2: the fused path is never taken */
    printf("skip %s: this CPU lacks avx2\n", __func__);
    return;
  }
  /* N H W Cin Cout KH KW SH SW DH DW PT PL PB PR G */
  static const qv_shape shapes[] = {
      {1, 9, 11, 3, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1},  /* mbv2 stem */
      {1, 13, 12, 3, 4, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1}, /* resnet stem */
      {2, 5, 6, 3, 4, 3, 3, 1, 1, 1, 1, 0, 0, 0, 0, 1},   /* no padding */
      {1, 7, 7, 5, 4, 3, 3, 1, 1, 2, 1, 2, 1, 0, 2, 1},   /* 15-byte rows */
      {1, 6, 9, 1, 4, 5, 5, 1, 3, 1, 1, 2, 0, 1, 4, 1},   /* 1 channel */
      {1, 6, 8, 4, 4, 2, 8, 1, 1, 1, 1, 0, 3, 1, 0, 1},   /* 32-byte rows */
      {1, 4, 4, 2, 4, 3, 3, 1, 1, 1, 1, 3, 3, 3, 3, 1},   /* pads > kernel */
  };
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    qi_u8s8_conv_params p = qv_params(&shapes[i], (int32_t)((17 + 40 * i) & 255));
    if (qi_u8s8_conv_derive(&p) != NULL) {
      QT_CHECKF(st, 0, "shape %zu invalid", i);
      continue;
    }
    const size_t cin = (size_t)p.c_in;
    QT_CHECK(st, qi_qconv_im2col_u16_ok(&p, cin));
    const size_t xbytes = (size_t)(p.n * p.h * p.w) * cin;
    qt_guard gx = {0}, gt = {0};
    uint8_t *x = qt_guard_after(&gx, xbytes);
    for (size_t t = 0; t < xbytes; t++) x[t] = (uint8_t)(t * 37 + i);
    const size_t m = (size_t)(p.n * p.out_h * p.out_w);
    const size_t k = (size_t)qi_u8s8_conv_k(&p);
    const size_t ld = qi_u8s8_gemm_apack_stride(k) / sizeof(uint16_t);
    uint8_t *rows8 = malloc(m * k);
    uint16_t *want = malloc(m * ld * sizeof(uint16_t));
    qi_qconv_im2col_rows(&p, x, cin, 0, 0, m, rows8, k);
    qi_u8s8_gemm_apack_u16__avx2(m, k, rows8, k, want);
    /* All rows at once, then from a pixel in the middle to the end. */
    for (size_t m0 = 0; m0 < m; m0 += m / 2 + 1) {
      size_t rows = m - m0;
      uint16_t *got = qt_guard_after(
          &gt, rows * ld * sizeof(uint16_t) + QI_QCONV_U16_SLACK);
      qi_qconv_im2col_rows_u16__avx2(&p, x, cin, 0, (int64_t)m0, rows, got,
                                     ld);
      QT_CHECKF(st,
                memcmp(got, want + m0 * ld, rows * ld * sizeof(uint16_t)) ==
                    0,
                "shape %zu from row %zu: fused rows differ", i, m0);
      qt_guard_free(&gt);
    }
    free(rows8);
    free(want);
    qt_guard_free(&gx);
  }
  /* Not taken: strided pixels, dilated columns, long kernel rows. */
  qv_shape s = {1, 6, 6, 3, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  qi_u8s8_conv_params p = qv_params(&s, 0);
  QT_CHECK(st, qi_u8s8_conv_derive(&p) == NULL);
  QT_CHECK(st, !qi_qconv_im2col_u16_ok(&p, 4));
  p.dil_w = 2;
  QT_CHECK(st, !qi_qconv_im2col_u16_ok(&p, 3));
  p.dil_w = 1;
  p.c_in = 11;
  QT_CHECK(st, !qi_qconv_im2col_u16_ok(&p, 11));
}

static void test_errors(qt_state *st) {
  qv_shape s = {1, 4, 4, 3, 2, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1};
  qi_u8s8_conv_params p = qv_params(&s, 7);
  int8_t w[2 * 27];
  for (int i = 0; i < 54; i++) w[i] = (int8_t)(i % 5 - 2);
  int32_t bias[2] = {0, INT32_MAX - 1000};
  float mult[2] = {0.01f, 0.01f};
  qi_qconv_packed *pk = (qi_qconv_packed *)&p; /* must be reset to NULL */
  qi_error err = {0};
  QT_CHECK(st, qi_qconv_pack(&p, w, bias, mult, NULL, NULL, &pk, &err) ==
                   QI_ERR_UNSUPPORTED);
  QT_CHECK(st, pk == NULL && strstr(err.message, "channel 1") != NULL);
  bias[1] = 5;
  qi_u8s8_conv_params bad = p;
  bad.groups = 2;
  QT_CHECK(st, qi_qconv_pack(&bad, w, bias, mult, NULL, NULL, &pk, &err) ==
                   QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "groups") != NULL);
  QT_CHECK(st, qi_qconv_pack(&p, NULL, bias, mult, NULL, NULL, &pk, &err) ==
                   QI_ERR_INVALID_ARG);
  /* K = 9 * 7282 > 65536 */
  bad = p;
  bad.c_in = 7282;
  int8_t *big = calloc((size_t)(2 * 9 * 7282), 1);
  if (big)
    QT_CHECK(st, qi_qconv_pack(&bad, big, NULL, mult, NULL, NULL, &pk,
                               &err) == QI_ERR_UNSUPPORTED);
  free(big);

  QT_CHECK(st, qi_qconv_pack(&p, w, bias, mult, NULL, NULL, &pk, &err) ==
                   QI_OK);
  if (!pk) return;
  uint8_t x[16 * 3] = {0}, y[16 * 2];
  qi_requant_params rp = qi_requant_params_default();
  size_t ssize = qi_qconv_workspace_size(pk, 1);
  void *scratch = malloc(ssize ? ssize : 1);
  QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 2, NULL, scratch, ssize,
                            &err) == QI_OK);
  QT_CHECK(st, qi_qconv_run(pk, x, 2, &rp, y, 2, NULL, scratch, ssize,
                            &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 1, NULL, scratch, ssize,
                            &err) == QI_ERR_INVALID_ARG);
  if (ssize)
    QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 2, NULL, scratch, ssize - 64,
                              &err) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_qconv_run(pk, x, (size_t)1 << 62, &rp, y, 2, NULL, scratch,
                            ssize, &err) == QI_ERR_NOMEM);
  rp.qmin = 200;
  rp.qmax = 100;
  QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 2, NULL, scratch, ssize,
                            &err) == QI_ERR_INVALID_ARG);
  rp = qi_requant_params_default();
  rp.out_f32 = 1;
  rp.residual = y;
  rp.ldr = 2;
  QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 2, NULL, scratch, ssize,
                            &err) == QI_ERR_INVALID_ARG);
  rp.out_f32 = 0;
  rp.ldr = 1;
  QT_CHECK(st, qi_qconv_run(pk, x, 3, &rp, y, 2, NULL, scratch, ssize,
                            &err) == QI_ERR_INVALID_ARG);
  free(scratch);
  qi_qconv_free(pk);
  qi_qconv_free(NULL);
}

#define RUN_ISA(st, isa, fn)                                               \
  do {                                                                     \
    if (qi_cpu_features_have(qi_cpu_features_get(), isa))                  \
      QT_RUN(st, fn);                                                      \
    else                                                                   \
      printf("skip %s: this CPU lacks %s (emulated below)\n", #fn,         \
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
  QT_RUN(&st, test_derive);
  QT_RUN(&st, test_im2col_rows);
  QT_RUN(&st, test_im2col_u16);
  QT_RUN(&st, test_errors);
  QT_RUN(&st, test_residual_in_place);
  QT_RUN(&st, test_scalar);
  RUN_ISA(&st, QI_ISA_AVX2, test_avx2);
  RUN_ISA(&st, QI_ISA_AVXVNNI, test_avxvnni);
  RUN_ISA(&st, QI_ISA_AVX512VNNI, test_avx512vnni);
  QT_RUN(&st, test_emu_avxvnni);
  QT_RUN(&st, test_emu_avx512vnni);
  qi_pool_free(g_pool2);
  printf("  %ld driver runs against the oracle, %ld outputs\n", qv_runs,
         qv_outputs);
  return qt_summary(&st);
}
