/*
 * The CUDA kernels on a real GPU against the CPU oracles, byte for byte
 * (float outputs bit for bit, any NaN equal to any NaN), on the cases of
 * cuda_cases.h; plus the device checks of the session glue and the error
 * paths (bad device index, an allocation the device refuses, bad sizes).
 * Output buffers are filled with CC_SENTINEL on the device first, so gaps
 * written or outputs left unwritten show.
 *
 * Without a usable GPU it checks that the glue reports the missing device
 * and prints exactly one line, "cuda tests: skipped (no CUDA device: ...)",
 * and exits 0 (no "N passed" line: nothing ran). Run by tests/cuda/run.sh.
 */
#include <stdio.h>

#include "cuda/qi_cuda.h"
#include "cuda_cases.h"
#include "qtest.h"
#include "runtime/backend_cuda_glue.h"

/* A ctx for one test case; NULL (and the case failed) if it cannot be
 * had. */
static qi_cuda_ctx *ctx_open(qt_state *st) {
  qi_cuda_ctx *ctx = NULL;
  qi_error e = {0};
  qi_status s = qi_cuda_ctx_create(0, &ctx, &e);
  QT_CHECKF(st, s == QI_OK, "qi_cuda_ctx_create: %s", e.message);
  return s == QI_OK ? ctx : NULL;
}

/* Device copy of `bytes` host bytes (NULL host: filled with CC_SENTINEL). */
static void *dev_from(qt_state *st, qi_cuda_ctx *ctx, const void *host,
                      size_t bytes) {
  void *d = NULL;
  qi_error e = {0};
  qi_status s = qi_cuda_alloc(ctx, bytes, &d, &e);
  if (s == QI_OK)
    s = host ? qi_cuda_upload(ctx, d, host, bytes, &e)
             : qi_cuda_fill(ctx, d, CC_SENTINEL, bytes, &e);
  QT_CHECKF(st, s == QI_OK, "device buffer of %zu bytes: %s", bytes, e.message);
  if (s != QI_OK) {
    qi_cuda_free(ctx, d);
    return NULL;
  }
  return d;
}

/* Downloads `bytes` of dev after waiting for the stream; 1 on success. */
static int dev_to(qt_state *st, qi_cuda_ctx *ctx, void *host, const void *dev,
                  size_t bytes) {
  qi_error e = {0};
  qi_status s = qi_cuda_sync(ctx, &e);
  if (s == QI_OK) s = qi_cuda_download(ctx, host, dev, bytes, &e);
  QT_CHECKF(st, s == QI_OK, "download: %s", e.message);
  return s == QI_OK;
}

static int same_floats(const float *a, const float *b, size_t n, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) && isnan(b[i])) continue;
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      *bad = i;
      return 0;
    }
  }
  return 1;
}

static int same_bytes(const uint8_t *a, const uint8_t *b, size_t n,
                      size_t *bad) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      *bad = i;
      return 0;
    }
  return 1;
}

#define CALL_OK(st, call)                                              \
  do {                                                                 \
    qi_error call_e_ = {0};                                            \
    qi_status call_s_ = (call);                                        \
    QT_CHECKF(st, call_s_ == QI_OK, "%s: %s", #call, call_e_.message); \
  } while (0)
/* CALL_OK's calls pass &call_e_ as their error argument. */
#define ERR (&call_e_)

static void test_convert(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {31};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_convert_cases); ci++) {
    const cc_convert_case *cs = &cc_convert_cases[ci];
    size_t count = cs->n * cs->c * cs->hw, bad = 0;
    float *x = cc_alloc(count * sizeof(float), 0);
    uint8_t *q = cc_alloc(count, 0), *want_q = cc_alloc(count, CC_SENTINEL);
    uint8_t *got_q = cc_alloc(count, 0);
    float *want_y = cc_alloc(count * sizeof(float), CC_SENTINEL);
    float *got_y = cc_alloc(count * sizeof(float), 0);
    cc_convert_input(&r, cs, x, count);
    cc_fill(&r, q, count);
    cc_quantize_ref(cs, x, want_q);
    cc_dequantize_ref(cs, q, want_y);
    float *dx = dev_from(st, ctx, x, count * sizeof(float));
    uint8_t *dq = dev_from(st, ctx, q, count),
            *dyq = dev_from(st, ctx, NULL, count);
    float *dy = dev_from(st, ctx, NULL, count * sizeof(float));
    if (dx && dq && dyq && dy) {
      if (cs->layout) {
        CALL_OK(st, qi_cuda_quantize_nchw_nhwc(ctx, cs->n, cs->c, cs->hw, dx,
                                               dyq, cs->scale, cs->zp, ERR));
        CALL_OK(st, qi_cuda_dequantize_nhwc_nchw(ctx, cs->n, cs->c, cs->hw, dq,
                                                 dy, cs->scale, cs->zp, ERR));
      } else {
        CALL_OK(st,
                qi_cuda_quantize(ctx, count, dx, dyq, cs->scale, cs->zp, ERR));
        CALL_OK(st,
                qi_cuda_dequantize(ctx, count, dq, dy, cs->scale, cs->zp, ERR));
      }
      if (dev_to(st, ctx, got_q, dyq, count) &&
          dev_to(st, ctx, got_y, dy, count * sizeof(float))) {
        QT_CHECKF(st, same_bytes(want_q, got_q, count, &bad),
                  "quantize case %zu: element %zu: %u, CPU %u", ci, bad,
                  got_q[bad], want_q[bad]);
        QT_CHECKF(st, same_floats(want_y, got_y, count, &bad),
                  "dequantize case %zu: element %zu: %a, CPU %a", ci, bad,
                  (double)got_y[bad], (double)want_y[bad]);
      }
    }
    qi_cuda_free(ctx, dx);
    qi_cuda_free(ctx, dq);
    qi_cuda_free(ctx, dyq);
    qi_cuda_free(ctx, dy);
    free(x);
    free(q);
    free(want_q);
    free(got_q);
    free(want_y);
    free(got_y);
  }
  qi_cuda_ctx_free(ctx);
}

static void test_requant(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {32};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_requant_cases); ci++) {
    const cc_requant_case *cs = &cc_requant_cases[ci];
    cc_requant_data d;
    size_t bytes = cc_requant_out_bytes(cs), bad = 0;
    void *want = cc_alloc(bytes, CC_SENTINEL), *got = cc_alloc(bytes, 0);
    QT_CHECK(st, cc_requant_make(&r, cs, ci, &d) && want && got);
    cc_requant_ref(cs, &d, want);
    int32_t *dacc = dev_from(st, ctx, d.acc, cs->m * cs->ldacc * 4);
    int32_t *dbias = dev_from(st, ctx, d.bias, cs->n * 4);
    float *dmult = dev_from(st, ctx, d.mult, cs->n * 4);
    uint8_t *dr = dev_from(st, ctx, d.r, cs->m * cs->ldr);
    void *dc = dev_from(st, ctx, NULL, bytes);
    if (dacc && dbias && dmult && dr && dc) {
      CALL_OK(st, qi_cuda_requant(ctx, cs->m, cs->n, dacc, cs->ldacc,
                                  cs->with_bias ? dbias : NULL, dmult,
                                  cs->residual ? dr : NULL, cs->ldr, dc,
                                  cs->ldc, &d.p, ERR));
      if (dev_to(st, ctx, got, dc, bytes)) {
        if (cs->out_f32)
          QT_CHECKF(st, same_floats(want, got, bytes / 4, &bad),
                    "case %zu: float %zu differs", ci, bad);
        else
          QT_CHECKF(st, same_bytes(want, got, bytes, &bad),
                    "case %zu: byte %zu: %u, CPU %u", ci, bad,
                    ((uint8_t *)got)[bad], ((uint8_t *)want)[bad]);
      }
    }
    qi_cuda_free(ctx, dacc);
    qi_cuda_free(ctx, dbias);
    qi_cuda_free(ctx, dmult);
    qi_cuda_free(ctx, dr);
    qi_cuda_free(ctx, dc);
    cc_requant_free(&d);
    free(want);
    free(got);
  }
  qi_cuda_ctx_free(ctx);
}

static void test_qgemm(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  qi_cuda_blas *bl = NULL;
  if (ctx) CALL_OK(st, qi_cuda_blas_create(ctx, 0, &bl, ERR));
  cc_rng r = {33};
  for (size_t ci = 0; bl && ci < CC_LEN(cc_gemm_cases); ci++) {
    const cc_gemm_case *cs = &cc_gemm_cases[ci];
    cc_gemm_data d;
    size_t bytes = cc_gemm_out_bytes(cs), bad = 0;
    void *want = cc_alloc(bytes, CC_SENTINEL), *got = cc_alloc(bytes, 0);
    QT_CHECK(st, cc_gemm_make(&r, cs, ci, &d) && want && got);
    cc_gemm_ref(cs, &d, want);
    qi_cuda_qgemm_weights *w = NULL;
    CALL_OK(st, qi_cuda_qgemm_weights_create(ctx, cs->n, cs->k, d.b, cs->k,
                                             d.bias, d.za, d.mult, &w, ERR));
    size_t sb = qi_cuda_qgemm_scratch_bytes(cs->m, w);
    uint8_t *da = dev_from(st, ctx, d.a, cs->m * cs->lda);
    uint8_t *dr = dev_from(st, ctx, d.r, cs->m * cs->ldc);
    void *dc = dev_from(st, ctx, NULL, bytes);
    void *scratch = w && sb ? dev_from(st, ctx, NULL, sb) : NULL;
    if (w && da && dr && dc && scratch) {
      CALL_OK(st,
              qi_cuda_qgemm(bl, cs->m, da, cs->lda, w, cs->residual ? dr : NULL,
                            cs->ldc, dc, cs->ldc, &d.p, scratch, sb, ERR));
      if (dev_to(st, ctx, got, dc, bytes)) {
        if (cs->out_f32)
          QT_CHECKF(st, same_floats(want, got, bytes / 4, &bad),
                    "case %zu (%zux%zux%zu): float %zu differs", ci, cs->m,
                    cs->n, cs->k, bad);
        else
          QT_CHECKF(st, same_bytes(want, got, bytes, &bad),
                    "case %zu (%zux%zux%zu): byte %zu: %u, CPU %u", ci, cs->m,
                    cs->n, cs->k, bad, ((uint8_t *)got)[bad],
                    ((uint8_t *)want)[bad]);
      }
    }
    qi_cuda_free(ctx, da);
    qi_cuda_free(ctx, dr);
    qi_cuda_free(ctx, dc);
    qi_cuda_free(ctx, scratch);
    qi_cuda_qgemm_weights_free(w);
    cc_gemm_free(&d);
    free(want);
    free(got);
  }
  qi_cuda_blas_free(bl);
  qi_cuda_ctx_free(ctx);
}

/* The raw int8 product against an exact CPU loop, on sizes the IMMA path
 * takes (n, k multiples of 4). */
static void test_gemm_s8s8s32(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  qi_cuda_blas *bl = NULL;
  if (ctx) CALL_OK(st, qi_cuda_blas_create(ctx, 0, &bl, ERR));
  static const size_t dims[][3] = {
      {1, 4, 4}, {3, 8, 12}, {65, 36, 260}, {128, 128, 128}};
  cc_rng r = {34};
  for (size_t ci = 0; bl && ci < CC_LEN(dims); ci++) {
    size_t m = dims[ci][0], n = dims[ci][1], k = dims[ci][2], bad = 0;
    int8_t *a = cc_alloc(m * k, 0), *b = cc_alloc(n * k, 0);
    int32_t *want = cc_alloc(m * n * 4, 0), *got = cc_alloc(m * n * 4, 0);
    for (size_t i = 0; i < m * k; i++) a[i] = (int8_t)cc_next(&r);
    for (size_t i = 0; i < n * k; i++) b[i] = (int8_t)cc_next(&r);
    for (size_t i = 0; i < m; i++)
      for (size_t j = 0; j < n; j++) {
        int32_t s = 0;
        for (size_t t = 0; t < k; t++) s += a[i * k + t] * b[j * k + t];
        want[i * n + j] = s;
      }
    int8_t *da = dev_from(st, ctx, a, m * k), *db = dev_from(st, ctx, b, n * k);
    int32_t *dc = dev_from(st, ctx, NULL, m * n * 4);
    if (da && db && dc) {
      CALL_OK(st, qi_cuda_gemm_s8s8s32(bl, m, n, k, da, db, dc, ERR));
      if (dev_to(st, ctx, got, dc, m * n * 4))
        QT_CHECKF(st,
                  same_bytes((uint8_t *)want, (uint8_t *)got, m * n * 4, &bad),
                  "%zux%zux%zu: element %zu: %d, CPU %d", m, n, k, bad / 4,
                  got[bad / 4], want[bad / 4]);
    }
    qi_cuda_free(ctx, da);
    qi_cuda_free(ctx, db);
    qi_cuda_free(ctx, dc);
    free(a);
    free(b);
    free(want);
    free(got);
  }
  qi_cuda_blas_free(bl);
  qi_cuda_ctx_free(ctx);
}

static void test_u8_binary(qt_state *st, int mul) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {35u + (uint64_t)mul};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_binary_cases); ci++) {
    const cc_binary_case *cs = &cc_binary_cases[ci];
    size_t n = cs->rows * cs->c, nb = cc_binary_b_len(cs), bad = 0;
    qi_u8_binary_params p = cc_binary_params(&r, ci, mul);
    uint8_t *a = cc_alloc(n, 0), *b = cc_alloc(nb, 0);
    uint8_t *want = cc_alloc(n, CC_SENTINEL), *got = cc_alloc(n, 0);
    cc_fill(&r, a, n);
    cc_fill(&r, b, nb);
    (mul ? qi_u8_mul__scalar : qi_u8_add__scalar)(cs->rows, cs->c, a, b,
                                                  cs->bcast, want, &p);
    uint8_t *da = dev_from(st, ctx, a, n), *db = dev_from(st, ctx, b, nb);
    uint8_t *dy = dev_from(st, ctx, NULL, n);
    if (da && db && dy) {
      if (mul)
        CALL_OK(st, qi_cuda_u8_mul(ctx, cs->rows, cs->c, da, db, cs->bcast, dy,
                                   &p, ERR));
      else
        CALL_OK(st, qi_cuda_u8_add(ctx, cs->rows, cs->c, da, db, cs->bcast, dy,
                                   &p, ERR));
      if (dev_to(st, ctx, got, dy, n))
        QT_CHECKF(st, same_bytes(want, got, n, &bad),
                  "%s case %zu: element %zu: %u, CPU %u", mul ? "mul" : "add",
                  ci, bad, got[bad], want[bad]);
    }
    qi_cuda_free(ctx, da);
    qi_cuda_free(ctx, db);
    qi_cuda_free(ctx, dy);
    free(a);
    free(b);
    free(want);
    free(got);
  }
  qi_cuda_ctx_free(ctx);
}

static void test_u8_add(qt_state *st) { test_u8_binary(st, 0); }
static void test_u8_mul(qt_state *st) { test_u8_binary(st, 1); }

static void test_u8_lut(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {37};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_lut_cases); ci++) {
    const cc_lut_case *cs = &cc_lut_cases[ci];
    uint8_t table[256];
    cc_fill(&r, table, sizeof table);
    size_t xb = (cs->rows - 1) * cs->ldx + cs->c;
    size_t yb = (cs->rows - 1) * cs->ldy + cs->c, bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(yb, CC_SENTINEL);
    uint8_t *got = cc_alloc(yb, 0);
    cc_fill(&r, x, xb);
    qi_u8_lut__scalar(cs->rows, cs->c, x, cs->ldx, want, cs->ldy, table);
    uint8_t *dx = dev_from(st, ctx, x, xb), *dy = dev_from(st, ctx, NULL, yb);
    if (dx && dy) {
      CALL_OK(st, qi_cuda_u8_lut(ctx, cs->rows, cs->c, dx, cs->ldx, dy, cs->ldy,
                                 table, ERR));
      if (dev_to(st, ctx, got, dy, yb))
        QT_CHECKF(st, same_bytes(want, got, yb, &bad),
                  "case %zu: byte %zu: %u, CPU %u", ci, bad, got[bad],
                  want[bad]);
    }
    qi_cuda_free(ctx, dx);
    qi_cuda_free(ctx, dy);
    free(x);
    free(want);
    free(got);
  }
  qi_cuda_ctx_free(ctx);
}

static void test_u8_pool(qt_state *st, int avg) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {38u + (uint64_t)avg};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_pool_cases); ci++) {
    const qi_u8_pool_geom *g = &cc_pool_cases[ci].g;
    qi_u8_avgpool_params p =
        cc_avgpool_params(&r, ci, cc_pool_cases[ci].count_include_pad);
    size_t xb = cc_pool_x_bytes(g), yb = cc_pool_y_bytes(g), bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(yb, CC_SENTINEL);
    uint8_t *got = cc_alloc(yb, 0);
    cc_fill(&r, x, xb);
    if (avg)
      qi_u8_avgpool__scalar(g, &p, x, want, 0, g->out_h);
    else
      qi_u8_maxpool__scalar(g, x, want, 0, g->out_h);
    uint8_t *dx = dev_from(st, ctx, x, xb), *dy = dev_from(st, ctx, NULL, yb);
    if (dx && dy) {
      if (avg)
        CALL_OK(st, qi_cuda_u8_avgpool(ctx, g, &p, dx, dy, ERR));
      else
        CALL_OK(st, qi_cuda_u8_maxpool(ctx, g, dx, dy, ERR));
      if (dev_to(st, ctx, got, dy, yb))
        QT_CHECKF(st, same_bytes(want, got, yb, &bad),
                  "%s case %zu: byte %zu: %u, CPU %u", avg ? "avg" : "max", ci,
                  bad, got[bad], want[bad]);
    }
    qi_cuda_free(ctx, dx);
    qi_cuda_free(ctx, dy);
    free(x);
    free(want);
    free(got);
  }
  qi_cuda_ctx_free(ctx);
}

static void test_u8_maxpool(qt_state *st) { test_u8_pool(st, 0); }
static void test_u8_avgpool(qt_state *st) { test_u8_pool(st, 1); }

static void test_u8_gap(qt_state *st) {
  qi_cuda_ctx *ctx = ctx_open(st);
  cc_rng r = {40};
  for (size_t ci = 0; ctx && ci < CC_LEN(cc_gap_cases); ci++) {
    const cc_gap_case *cs = &cc_gap_cases[ci];
    qi_u8_avgpool_params p = cc_avgpool_params(&r, ci, 0);
    size_t xb = (cs->npix - 1) * cs->x_pix + cs->c, bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(cs->c, CC_SENTINEL);
    uint8_t *got = cc_alloc(cs->c, 0);
    cc_fill(&r, x, xb);
    qi_u8_gap__scalar(cs->npix, cs->c, x, cs->x_pix, want, &p);
    uint8_t *dx = dev_from(st, ctx, x, xb),
            *dy = dev_from(st, ctx, NULL, cs->c);
    if (dx && dy) {
      CALL_OK(st,
              qi_cuda_u8_gap(ctx, cs->npix, cs->c, dx, cs->x_pix, dy, &p, ERR));
      if (dev_to(st, ctx, got, dy, cs->c))
        QT_CHECKF(st, same_bytes(want, got, cs->c, &bad),
                  "case %zu: channel %zu: %u, CPU %u", ci, bad, got[bad],
                  want[bad]);
    }
    qi_cuda_free(ctx, dx);
    qi_cuda_free(ctx, dy);
    free(x);
    free(want);
    free(got);
  }
  qi_cuda_ctx_free(ctx);
}

/* The session glue and the error paths, on a machine with a device. */
static void test_errors(qt_state *st) {
  int n = 0;
  qi_error e = {0};
  QT_CHECK(st, qi_cuda_device_count(&n, &e) == QI_OK && n >= 1);
  QT_CHECK(st, qi_backend_cuda_built() == 1);
  qi_status s = qi_backend_cuda_session_check(0, &e);
  QT_CHECKF(st,
            s == QI_ERR_UNSUPPORTED && strstr(e.message,
                                              "whole-model execution is not "
                                              "implemented yet"),
            "glue on device 0: %s", e.message);
  s = qi_backend_cuda_session_check(n, &e);
  QT_CHECKF(st, s == QI_ERR_DEVICE && strstr(e.message, "device_index"),
            "glue on device %d: %s", n, e.message);
  s = qi_backend_cuda_session_check(-1, &e);
  QT_CHECKF(st, s == QI_ERR_DEVICE && strstr(e.message, "device_index -1"),
            "glue on device -1: %s", e.message);
  qi_cuda_ctx *bad = NULL;
  QT_CHECK(st,
           qi_cuda_ctx_create(n + 7, &bad, &e) == QI_ERR_DEVICE && bad == NULL);
  qi_cuda_ctx *ctx = ctx_open(st);
  if (!ctx) return;
  void *huge = NULL;
  s = qi_cuda_alloc(ctx, (size_t)1 << 62, &huge, &e);
  QT_CHECKF(st, s == QI_ERR_NOMEM && huge == NULL, "2^62-byte allocation: %s",
            e.message);
  /* The device still works after the refusal. */
  void *small = NULL;
  QT_CHECK(st, qi_cuda_alloc(ctx, 64, &small, &e) == QI_OK);
  QT_CHECK(st, qi_cuda_quantize(ctx, 4, small, small, 0.0f, 0, &e) ==
                   QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_cuda_quantize(ctx, 4, small, small, 1.0f, 256, &e) ==
                   QI_ERR_INVALID_ARG);
  qi_u8_pool_geom g = cc_pool_cases[0].g;
  g.s_h = 0;
  QT_CHECK(st,
           qi_cuda_u8_maxpool(ctx, &g, small, small, &e) == QI_ERR_INVALID_ARG);
  int8_t w[8] = {127, 127, 127, 127, 127, 127, 127, 127};
  int32_t bias = INT32_MAX;
  float mult = 1.0f;
  qi_cuda_qgemm_weights *qw = NULL;
  s = qi_cuda_qgemm_weights_create(ctx, 1, 8, w, 8, &bias, 0, &mult, &qw, &e);
  QT_CHECKF(
      st,
      s == QI_ERR_INVALID_ARG && qw == NULL && strstr(e.message, "channel 0"),
      "overflowing channel: %s", e.message);
  QT_CHECK(st, qi_cuda_sync(ctx, &e) == QI_OK);
  qi_cuda_free(ctx, small);
  qi_cuda_ctx_free(ctx);
}

int main(void) {
  qi_error e = {0};
  int n = 0;
  if (qi_cuda_device_count(&n, &e) != QI_OK) {
    /* The glue must see the same: a QI_ERR_DEVICE naming the cause. */
    qi_error ge = {0};
    qi_status gs = qi_backend_cuda_session_check(0, &ge);
    if (gs != QI_ERR_DEVICE || strncmp(ge.message, "no CUDA device: ", 16)) {
      printf("cuda tests: FAIL the session glue answered %s: %s\n",
             qi_status_string(gs), ge.message);
      return 1;
    }
    printf("cuda tests: skipped (%s)\n", e.message);
    return 0;
  }
  char name[128] = "?";
  int major = 0, minor = 0;
  if (qi_cuda_device_describe(0, name, sizeof name, &major, &minor, &e) ==
      QI_OK)
    printf("device 0: %s, compute capability %d.%d, %d device(s)\n", name,
           major, minor, n);
  qt_state st = {0};
  QT_RUN(&st, test_errors);
  QT_RUN(&st, test_convert);
  QT_RUN(&st, test_requant);
  QT_RUN(&st, test_gemm_s8s8s32);
  QT_RUN(&st, test_qgemm);
  QT_RUN(&st, test_u8_add);
  QT_RUN(&st, test_u8_mul);
  QT_RUN(&st, test_u8_lut);
  QT_RUN(&st, test_u8_maxpool);
  QT_RUN(&st, test_u8_avgpool);
  QT_RUN(&st, test_u8_gap);
  return qt_summary(&st);
}
