/* Shared machinery of the u8s8 GEMM tests (test_qgemm.c runs it on the real
 * ISA paths, test_qgemm_emu.c on kernels built over emulated intrinsics).
 *
 * Every case is checked in two steps, both with tolerance 0:
 *   1. the scalar oracle (kernels/ref) against a float64 computation: the
 *      int32 accumulators must equal sum_k (A-za)*B + bias computed in
 *      double (exact: every term and partial sum is an integer < 2^53), and
 *      the output bytes must equal the requantization rule written out
 *      literally (float product, round half even, + zy, then clamp);
 *   2. a kernel config, through the driver (with 1 and 2 threads) and
 *      directly on single tiles, against the oracle's bytes, with every
 *      input and output buffer placed against guard pages. */
#ifndef QT_QGEMM_CASES_H
#define QT_QGEMM_CASES_H

#include <float.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qgemm.h"
#include "guard.h"
#include "qtest.h"
#include "ref/gemm_ref.h"
#include "ref/requant.h"

/* A guard-page hit kills the program: say which test it was first. */
static qt_state *qc_crash_state;

static void qc_on_segv(int sig) {
  static const char msg[] = "FAIL (guard page hit: out-of-bounds access) in ";
  ssize_t unused = write(2, msg, sizeof msg - 1);
  const char *name = qc_crash_state && qc_crash_state->current
                         ? qc_crash_state->current
                         : "?";
  unused = write(2, name, strlen(name));
  unused = write(2, "\n", 1);
  (void)unused;
  signal(sig, SIG_DFL);
  raise(sig);
}

static inline void qc_catch_faults(qt_state *st) {
  qc_crash_state = st;
  signal(SIGSEGV, qc_on_segv);
  signal(SIGBUS, qc_on_segv);
}

/* The MLAS zero-point cycle: both ends and awkward values in between. */
static const int32_t qc_zero_points[] = {0, 18, 75, 128, 157, 231, 255};
#define QC_NZP ((int)(sizeof qc_zero_points / sizeof qc_zero_points[0]))
/* Fill of output padding (ldc > N): any change is an out-of-tile write. */
#define QC_SENTINEL 0xA5

typedef struct qc_rng {
  uint64_t s;
} qc_rng;

static inline uint64_t qc_next(qc_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline int32_t qc_range(qc_rng *r, int32_t lo, int32_t hi) {
  return lo + (int32_t)(qc_next(r) % (uint64_t)(hi - lo + 1));
}
static inline float qc_unit(qc_rng *r) {
  return (float)(qc_next(r) >> 40) / (float)(1 << 24);
}

enum { QC_MULT_TINY, QC_MULT_HALF, QC_MULT_THREE, QC_MULT_SPREAD,
       QC_MULT_KINDS };
enum { QC_SAT_NONE, QC_SAT_ALL, QC_SAT_MIXED, QC_SAT_KINDS };

typedef struct qc_case {
  size_t m, n, k;
  int32_t za, zy, qmin, qmax, zr;
  int mult_kind;   /* QC_MULT_*: 1e-6, 0.5 (ties), 3.0, realistic spread */
  int saturate;    /* QC_SAT_*: A = 255 with B = +-127 (vpmaddubsw trap) */
  int residual;    /* fused residual add */
  int out_f32;     /* float32 output */
  size_t lda_pad, ldc_pad;
  int a_guard_before; /* A against a guard before its start */
  uint64_t seed;
} qc_case;

/* A case from a sweep index: cycles every parameter independently. */
static inline qc_case qc_case_make(size_t m, size_t n, size_t k, size_t idx) {
  qc_case c;
  memset(&c, 0, sizeof c);
  c.m = m;
  c.n = n;
  c.k = k;
  c.za = qc_zero_points[idx % QC_NZP];
  c.zy = qc_zero_points[(idx / 3 + 2) % QC_NZP];
  c.zr = qc_zero_points[(idx / 5 + 4) % QC_NZP];
  switch (idx / 2 % 4) {
    case 0: c.qmin = 0; c.qmax = 255; break;
    case 1: c.qmin = c.zy; c.qmax = 255; break;                 /* ReLU */
    case 2: c.qmin = c.zy; c.qmax = c.zy + 40 > 255 ? 255 : c.zy + 40; break;
    default: c.qmin = 10; c.qmax = 200; break;
  }
  c.mult_kind = (int)(idx % QC_MULT_KINDS);
  c.saturate = (int)(idx / 7 % QC_SAT_KINDS);
  c.residual = idx % 4 == 1;
  c.out_f32 = idx % 5 == 3 && !c.residual;
  c.lda_pad = idx % 3 == 0 ? 0 : idx % 13 + 1;
  c.ldc_pad = idx % 2 == 0 ? 0 : idx % 11 + 1;
  c.a_guard_before = idx % 6 == 5;
  c.seed = 0x5EEDull + idx * 7919u + m * 131u + n * 31u + k;
  return c;
}

typedef struct qc_data {
  qc_case c;
  uint8_t *a;
  size_t lda;
  qt_guard ga;
  int8_t *b;
  int32_t *bias;
  float *mult;
  float rmult;
  uint8_t *r; /* residual [m x n], row stride ldr, NULL if none */
  size_t ldr;
  qt_guard gr;
  int32_t *acc;  /* oracle accumulators [m x n] */
  uint8_t *cref; /* oracle output, dense [m x n] elements (float if f32) */
  qi_u8s8_gemm_params params;
} qc_data;

static inline void qc_data_free(qc_data *d) {
  qt_guard_free(&d->ga);
  qt_guard_free(&d->gr);
  free(d->b);
  free(d->bias);
  free(d->mult);
  free(d->acc);
  free(d->cref);
  memset(d, 0, sizeof *d);
}

/* Generates inputs and the oracle output; checks the oracle (step 1).
 * Returns 0 if allocation failed. */
static inline int qc_data_make(qt_state *st, const qc_case *c, qc_data *d) {
  memset(d, 0, sizeof *d);
  d->c = *c;
  qc_rng rng = {c->seed};
  size_t m = c->m, n = c->n, k = c->k;
  d->lda = k + c->lda_pad;
  size_t a_bytes = (m - 1) * d->lda + k;
  d->a = c->a_guard_before ? qt_guard_before(&d->ga, a_bytes)
                           : qt_guard_after(&d->ga, a_bytes);
  d->b = malloc(n * k);
  d->bias = malloc(n * sizeof(int32_t));
  d->mult = malloc(n * sizeof(float));
  d->acc = malloc(m * n * sizeof(int32_t));
  d->cref = malloc(m * n * sizeof(float));
  if (!d->a || !d->b || !d->bias || !d->mult || !d->acc || !d->cref) {
    QT_CHECKF(st, 0, "allocation failed");
    return 0;
  }
  for (size_t i = 0; i < m; i++)
    for (size_t t = 0; t < d->lda && i * d->lda + t < a_bytes; t++)
      d->a[i * d->lda + t] = c->saturate == QC_SAT_ALL
                                 ? 255
                                 : c->saturate == QC_SAT_MIXED
                                       ? (qc_next(&rng) & 1 ? 255 : 0)
                                       : (uint8_t)qc_next(&rng);
  for (size_t j = 0; j < n; j++)
    for (size_t t = 0; t < k; t++)
      d->b[j * k + t] = c->saturate == QC_SAT_ALL
                            ? (j & 1 ? -127 : 127)
                            : c->saturate == QC_SAT_MIXED
                                  ? (qc_next(&rng) & 1 ? -127 : 127)
                                  : (int8_t)qc_range(&rng, -127, 127);
  float spread = 0.011f / sqrtf((float)k);
  int32_t bias_span = 8192 * (int32_t)sqrtf((float)k);
  for (size_t j = 0; j < n; j++) {
    d->bias[j] = qc_range(&rng, -bias_span, bias_span);
    switch (c->mult_kind) {
      case QC_MULT_TINY: d->mult[j] = 1e-6f; break;
      case QC_MULT_HALF: d->mult[j] = 0.5f; break;
      case QC_MULT_THREE: d->mult[j] = 3.0f; break;
      default: d->mult[j] = spread * (0.5f + qc_unit(&rng)); break;
    }
  }
  d->rmult = 0.3f + 1.2f * qc_unit(&rng);
  if (c->residual) {
    d->ldr = n + (c->ldc_pad ? c->ldc_pad + 3 : 0);
    d->r = qt_guard_after(&d->gr, (m - 1) * d->ldr + n);
    if (!d->r) {
      QT_CHECKF(st, 0, "allocation failed");
      return 0;
    }
    for (size_t i = 0; i < (m - 1) * d->ldr + n; i++)
      d->r[i] = (uint8_t)qc_next(&rng);
  }
  d->params = qi_u8s8_gemm_params_make(c->out_f32, c->zy, c->qmin, c->qmax,
                                       c->zr, d->rmult);
  qi_u8s8_gemm_ref(m, n, k, d->a, d->lda, d->b, k, d->bias, c->za, d->mult,
                   &d->params, d->r, d->ldr, d->cref, n, d->acc);

  /* Step 1: the oracle against float64 and the literal rule. */
  size_t bad = 0;
  for (size_t i = 0; i < m; i++) {
    for (size_t j = 0; j < n; j++) {
      double s = d->bias[j];
      for (size_t t = 0; t < k; t++)
        s += ((double)d->a[i * d->lda + t] - c->za) * (double)d->b[j * k + t];
      int32_t acc = d->acc[i * n + j];
      if (s != (double)acc) {
        if (!bad++)
          QT_CHECKF(st, s == (double)acc, "ref acc[%zu][%zu] %d != %.0f", i,
                    j, (int)acc, s);
        continue;
      }
      float v = (float)acc * d->mult[j];
      if (c->out_f32) {
        float got;
        memcpy(&got, d->cref + (i * n + j) * sizeof(float), sizeof got);
        if (memcmp(&got, &v, sizeof v) != 0 && !bad++)
          QT_CHECKF(st, 0, "ref f32 [%zu][%zu] %.9g != %.9g", i, j, got, v);
        continue;
      }
      if (c->residual) {
        float t = (float)((int32_t)d->r[i * d->ldr + j] - c->zr) * d->rmult;
        v = v + t;
      }
      double y = nearbyint((double)v) + c->zy;
      y = y < c->qmin ? c->qmin : y > c->qmax ? c->qmax : y;
      if (d->cref[i * n + j] != (uint8_t)y && !bad++)
        QT_CHECKF(st, 0, "ref out[%zu][%zu] %d != rule %d (v=%.9g)", i, j,
                  d->cref[i * n + j], (int)y, v);
    }
  }
  return 1;
}

static inline const char *qc_describe(const qc_case *c, char *buf,
                                      size_t size) {
  snprintf(buf, size,
           "M=%zu N=%zu K=%zu za=%d zy=%d q=[%d,%d] mult=%d sat=%d res=%d "
           "f32=%d lda+%zu ldc+%zu",
           c->m, c->n, c->k, (int)c->za, (int)c->zy, (int)c->qmin,
           (int)c->qmax, c->mult_kind, c->saturate, c->residual, c->out_f32,
           c->lda_pad, c->ldc_pad);
  return buf;
}

/* Packs d's weights for cfg into a buffer against a guard page. */
static inline int qc_pack(qt_state *st, const qi_qgemm_config *cfg,
                          const qc_data *d, size_t n, qt_guard *g,
                          qi_qgemm_packed *w) {
  size_t size = qi_qgemm_packed_size(cfg, (int64_t)n, (int64_t)d->c.k);
  void *buf = qt_guard_after(g, size);
  qi_error err = {0};
  qi_status s = buf ? qi_qgemm_pack(cfg, (int64_t)n, (int64_t)d->c.k, d->b,
                                    d->c.k, d->bias, d->c.za, d->mult, buf,
                                    size, w, &err)
                    : QI_ERR_NOMEM;
  QT_CHECKF(st, s == QI_OK, "%s: pack: %s", cfg->kernel_name, err.message);
  return s == QI_OK;
}

/* Compares rows x cols of an output (stride ldc elements) with the oracle. */
static inline size_t qc_compare(const qc_data *d, const uint8_t *c, size_t ldc,
                                size_t rows, size_t cols, size_t *bi,
                                size_t *bj) {
  size_t es = d->c.out_f32 ? sizeof(float) : 1, bad = 0;
  for (size_t i = 0; i < rows; i++)
    for (size_t j = 0; j < cols; j++)
      if (memcmp(c + (i * ldc + j) * es, d->cref + (i * d->c.n + j) * es,
                 es) != 0 && !bad++) {
        *bi = i;
        *bj = j;
      }
  return bad;
}

/* Step 2a: the whole GEMM through the driver, on `pool` (NULL: inline). */
static inline void qc_run_driver(qt_state *st, const qi_qgemm_config *cfg,
                                 const qc_data *d, qi_pool *pool) {
  const qc_case *c = &d->c;
  char desc[256];
  qt_guard gw = {0}, gc = {0};
  qi_qgemm_packed w;
  if (!qc_pack(st, cfg, d, c->n, &gw, &w)) return;
  size_t es = c->out_f32 ? sizeof(float) : 1, ldc = c->n + c->ldc_pad;
  size_t c_bytes = ((c->m - 1) * ldc + c->n) * es;
  uint8_t *out = qt_guard_after(&gc, c_bytes);
  if (!out) {
    QT_CHECKF(st, 0, "allocation failed");
    qt_guard_free(&gw);
    return;
  }
  memset(out, QC_SENTINEL, c_bytes);
  qi_requant_params rp = qi_requant_params_default();
  rp.out_f32 = c->out_f32;
  rp.zy = c->zy;
  rp.qmin = c->qmin;
  rp.qmax = c->qmax;
  rp.residual = d->r;
  rp.ldr = d->ldr;
  rp.zr = c->zr;
  rp.rmult = d->rmult;
  qi_error err = {0};
  qt_guard gs = {0};
  size_t ssize = qi_qgemm_workspace_size(&w, (int64_t)c->m, qi_pool_size(pool));
  void *scratch = ssize ? qt_guard_after(&gs, ssize) : NULL;
  qi_status s = qi_qgemm(&w, d->a, d->lda, (int64_t)c->m, &rp, out, ldc, pool,
                         scratch, ssize, &err);
  qt_guard_free(&gs);
  QT_CHECKF(st, s == QI_OK, "%s: %s", cfg->kernel_name, err.message);
  size_t bi = 0, bj = 0;
  size_t bad = qc_compare(d, out, ldc, c->m, c->n, &bi, &bj);
  QT_CHECKF(st, bad == 0, "%s threads=%d %s: %zu wrong, first [%zu][%zu]",
            cfg->kernel_name, qi_pool_size(pool),
            qc_describe(c, desc, sizeof desc), bad, bi, bj);
  size_t pad_bad = 0;
  for (size_t i = 0; i + 1 < c->m; i++)
    for (size_t b = c->n * es; b < ldc * es; b++)
      pad_bad += out[i * ldc * es + b] != QC_SENTINEL;
  QT_CHECKF(st, pad_bad == 0, "%s %s: %zu padding bytes overwritten",
            cfg->kernel_name, qc_describe(c, desc, sizeof desc), pad_bad);
  qt_guard_free(&gc);
  qt_guard_free(&gw);
}

/* Step 2b: one microkernel call on an mr x nc tile (the first rows and
 * channels of d), with every row of A, C and the residual ending against
 * its own guard page. d must have at least mr rows and nc channels. */
static inline void qc_run_tile(qt_state *st, const qi_qgemm_config *cfg,
                               const qc_data *d, size_t mr, size_t nc) {
  const qc_case *c = &d->c;
  char desc[256];
  qt_guard gw = {0}, ga = {0}, gc = {0}, gr = {0}, gp = {0};
  qi_qgemm_packed w;
  if (!qc_pack(st, cfg, d, nc, &gw, &w)) return;
  size_t es = c->out_f32 ? sizeof(float) : 1, lda, ldcb, ldr = 0;
  uint8_t *a = qt_guard_rows(&ga, mr, c->k, &lda);
  uint8_t *out = qt_guard_rows(&gc, mr, nc * es, &ldcb);
  uint8_t *r = d->r ? qt_guard_rows(&gr, mr, nc, &ldr) : NULL;
  if (!a || !out || (d->r && !r)) {
    QT_CHECKF(st, 0, "allocation failed");
  } else {
    for (size_t i = 0; i < mr; i++) {
      memcpy(a + i * lda, d->a + i * d->lda, c->k);
      if (r) memcpy(r + i * ldr, d->r + i * d->ldr, nc);
    }
    const uint8_t *ka = a;
    size_t klda = lda;
    if (cfg->apack) { /* the kernel reads packed rows, guarded one by one */
      size_t pstride;
      uint8_t *p = qt_guard_rows(&gp, mr, qi_u8s8_gemm_apack_stride(c->k),
                                 &pstride);
      QT_CHECKF(st, p != NULL, "allocation failed");
      if (!p) goto out;
      for (size_t i = 0; i < mr; i++)
        cfg->apack(1, c->k, a + i * lda, lda, p + i * pstride);
      ka = p;
      klda = pstride;
    }
    cfg->ukernel(mr, nc, c->k, ka, klda, w.data, out, ldcb / es, r, ldr,
                 &d->params);
    size_t bi = 0, bj = 0;
    size_t bad = qc_compare(d, out, ldcb / es, mr, nc, &bi, &bj);
    QT_CHECKF(st, bad == 0, "%s tile %zux%zu %s: %zu wrong, first [%zu][%zu]",
              cfg->kernel_name, mr, nc, qc_describe(c, desc, sizeof desc),
              bad, bi, bj);
  }
out:
  qt_guard_free(&gp);
  qt_guard_free(&gr);
  qt_guard_free(&gc);
  qt_guard_free(&ga);
  qt_guard_free(&gw);
}

static const size_t qc_sweep_n[] = {1, 7, 17, 33, 100};
static const size_t qc_sweep_k[] = {1, 2, 3, 4, 5, 7, 16, 63, 64, 65, 577};
#define QC_LEN(x) (sizeof(x) / sizeof((x)[0]))

static inline int qc_long_tests(void) {
  const char *v = getenv("QINFER_LONG_TESTS");
  return v && strcmp(v, "1") == 0;
}

/* The short sweep for one config: M in {1,2,3,MR-1,MR,MR+1,31,197} x the N
 * and K lists above, each case on 1 and 2 threads (pool2). */
static inline void qc_sweep_driver(qt_state *st, const qi_qgemm_config *cfg,
                                   qi_pool *pool2) {
  size_t mr = (size_t)cfg->mr;
  size_t ms[] = {1, 2, 3, mr - 1, mr, mr + 1, 31, 197};
  size_t idx = 0;
  for (size_t im = 0; im < QC_LEN(ms); im++)
    for (size_t in = 0; in < QC_LEN(qc_sweep_n); in++)
      for (size_t ik = 0; ik < QC_LEN(qc_sweep_k); ik++, idx++) {
        qc_case c = qc_case_make(ms[im], qc_sweep_n[in], qc_sweep_k[ik], idx);
        qc_data d;
        if (qc_data_make(st, &c, &d)) {
          qc_run_driver(st, cfg, &d, NULL);
          qc_run_driver(st, cfg, &d, pool2);
        }
        qc_data_free(&d);
      }
}

/* Every tile shape 1..MR x 1..NR for a few K, rows guarded one by one,
 * and calls over several MR-row blocks (MR+1 .. 3MR+2 rows: the kernel
 * walks them itself, with a partial last block or none). */
static inline void qc_sweep_tiles(qt_state *st, const qi_qgemm_config *cfg) {
  static const size_t ks[] = {1, 3, 4, 7, 64, 65};
  size_t mr = (size_t)cfg->mr, nr = (size_t)cfg->nr, idx = 0;
  size_t rows[64], nrows = 0;
  for (size_t m = 1; m <= mr; m++) rows[nrows++] = m;
  rows[nrows++] = mr + 1;
  rows[nrows++] = 2 * mr;
  rows[nrows++] = 2 * mr + 1;
  rows[nrows++] = 3 * mr + 2;
  const size_t mmax = 3 * mr + 2;
  for (size_t ik = 0; ik < QC_LEN(ks); ik++) {
    qc_case c = qc_case_make(mmax, nr, ks[ik], idx);
    for (size_t im = 0; im < nrows; im++)
      for (size_t n = 1; n <= nr; n++, idx++) {
        const size_t m = rows[im];
        /* Vary the epilogue parameters while keeping the shape's data. */
        qc_case v = qc_case_make(mmax, nr, ks[ik], idx);
        v.seed = c.seed;
        qc_data d;
        if (qc_data_make(st, &v, &d)) qc_run_tile(st, cfg, &d, m, n);
        qc_data_free(&d);
      }
  }
}

/* A widening (configs with apack): every K from 1 to 70, source rows and
 * packed rows each against a guard page (no byte read past k, no uint16
 * written past the padded row), packed = zero-extended bytes, then zeros. */
static inline void qc_apack_check(qt_state *st, const qi_qgemm_config *cfg) {
  if (!cfg->apack) return;
  size_t bad = 0;
  for (size_t k = 1; k <= 70; k++) {
    const size_t m = 3, stride = qi_u8s8_gemm_apack_stride(k);
    qt_guard ga = {0}, gp = {0};
    size_t lda, pstride;
    uint8_t *a = qt_guard_rows(&ga, m, k, &lda);
    uint8_t *p = qt_guard_rows(&gp, m, stride, &pstride);
    if (!a || !p) {
      QT_CHECKF(st, 0, "allocation failed");
    } else {
      for (size_t i = 0; i < m; i++)
        for (size_t t = 0; t < k; t++)
          a[i * lda + t] = (uint8_t)(251 - 7 * i - 13 * t);
      for (size_t i = 0; i < m; i++) {
        memset(p + i * pstride, 0xEE, stride);
        cfg->apack(1, k, a + i * lda, lda, p + i * pstride);
        for (size_t t = 0; t < stride / 2; t++) {
          uint16_t v;
          memcpy(&v, p + i * pstride + 2 * t, 2);
          uint16_t want = t < k ? a[i * lda + t] : 0;
          if (v != want && !bad++)
            QT_CHECKF(st, 0, "%s apack K=%zu row %zu [%zu]: %u, want %u",
                      cfg->kernel_name, k, i, t, v, want);
        }
      }
    }
    qt_guard_free(&gp);
    qt_guard_free(&ga);
  }
  QT_CHECKF(st, bad == 0, "%s apack: %zu wrong", cfg->kernel_name, bad);
}

/* The epilogue on the values a careless clamp gets wrong: NaN, infinite
 * and huge multipliers (and residual scales), accumulators at the int16
 * and int32 edges, ties, output ranges that exclude the zero point
 * (hi < 0, lo > 0) or are one value wide; one kernel call per strip over
 * 3MR+1 rows, against the reference requantization (ref/requant.h) with
 * tolerance 0. With za = 0 and zero weights, acc = bias exactly. */
static inline void qc_epilogue_edges(qt_state *st,
                                     const qi_qgemm_config *cfg) {
  static const float mults[] = {NAN,    INFINITY, -INFINITY, 1e30f, -1e30f,
                                0.0f,   -0.0f,    0.5f,      -0.5f, 1.0f,
                                3e-5f,  FLT_MAX,  1e-45f,    0.999f, 1.5f,
                                -2.5f,  1e-9f};
  static const int32_t biases[] = {
      0,      1,      -1,    3,     -3,       5,        255,
      -255,   256,    -256,  32767, -32768,   32769,    -32769,
      65536,  16777217, -16777217, 2000000000, -2000000000};
  static const int32_t ranges[][3] = {/* zy, qmin, qmax */
                                      {0, 0, 255},   {255, 0, 255},
                                      {128, 128, 255}, {200, 0, 100},
                                      {10, 50, 60},  {255, 255, 255},
                                      {0, 0, 0},     {7, 7, 7}};
  /* residual scale per mode; mode 0: no residual, mode 5: float output */
  static const float rmults[] = {0.0f, 0.7f, INFINITY, NAN, -1e30f, 0.0f};
  const size_t nb = QC_LEN(biases), nm = QC_LEN(mults);
  const size_t mr = (size_t)cfg->mr, nr = (size_t)cfg->nr;
  const size_t m = 3 * mr + 1, n = 2 * nr + 3, k = 5;
  const size_t strip = qi_u8s8_gemm_strip_bytes(k, nr, (size_t)cfg->w_bytes);
  const size_t astride = cfg->apack ? qi_u8s8_gemm_apack_stride(k) : k;
  int8_t *b = calloc(n * k, 1);
  int32_t *bias = malloc(n * sizeof *bias);
  float *mult = malloc(n * sizeof *mult);
  uint8_t *a = malloc(m * k), *ap = malloc(m * astride), *r = malloc(m * n);
  float *out = malloc(m * n * sizeof(float));
  void *packed = aligned_alloc(64, (n + nr - 1) / nr * strip);
  if (!b || !bias || !mult || !a || !ap || !r || !out || !packed) {
    QT_CHECKF(st, 0, "allocation failed");
    goto out;
  }
  qc_rng rng = {0xED6Eull};
  for (size_t i = 0; i < m * k; i++) a[i] = (uint8_t)qc_next(&rng);
  for (size_t i = 0; i < m * n; i++) r[i] = (uint8_t)qc_next(&rng);
  if (cfg->apack)
    cfg->apack(m, k, a, k, ap);
  else
    memcpy(ap, a, m * k);
  size_t bad = 0, cases = 0;
  for (size_t rot = 0; rot < nb; rot++) {
    for (size_t j = 0; j < n; j++) {
      bias[j] = biases[(j + rot) % nb];
      mult[j] = mults[(j + 3 * rot) % nm];
    }
    int64_t over = cfg->pack(n, k, nr, b, k, bias, 0, mult, packed);
    QT_CHECKF(st, over < 0, "edge pack refused channel %lld", (long long)over);
    if (over >= 0) break;
    for (size_t ir = 0; ir < QC_LEN(ranges); ir++)
      for (size_t mode = 0; mode < QC_LEN(rmults); mode++) {
        const int f32 = mode == QC_LEN(rmults) - 1;
        if (f32 && ir) continue;
        const int res = mode > 0 && !f32;
        qi_u8s8_gemm_params p = qi_u8s8_gemm_params_make(
            f32, ranges[ir][0], ranges[ir][1], ranges[ir][2], 131,
            rmults[mode]);
        const size_t es = f32 ? sizeof(float) : 1;
        memset(out, 0xA5, m * n * sizeof(float));
        for (size_t j0 = 0; j0 < n; j0 += nr)
          cfg->ukernel(m, n - j0 < nr ? n - j0 : nr, k, ap, astride,
                       (const char *)packed + j0 / nr * strip,
                       (char *)out + j0 * es, n, res ? r + j0 : NULL, n, &p);
        for (size_t i = 0; i < m; i++)
          for (size_t j = 0; j < n; j++) {
            const uint8_t *got = (const uint8_t *)out + (i * n + j) * es;
            int ok;
            if (f32) {
              float y = qi_dequant_f32(bias[j], mult[j]), g;
              memcpy(&g, got, sizeof g);
              ok = isnan(y) ? isnan(g) : memcmp(&g, &y, sizeof g) == 0;
            } else {
              uint8_t y = res ? qi_requant_u8_residual(bias[j], mult[j],
                                                       r[i * n + j], &p)
                              : qi_requant_u8(bias[j], mult[j], &p);
              ok = *got == y;
              if (!ok && !bad)
                QT_CHECKF(st, 0,
                          "%s edge: acc %d * mult %g, zy %d q [%d, %d], "
                          "residual %d (rmult %g): %d, want %d",
                          cfg->kernel_name, (int)bias[j], (double)mult[j],
                          (int)p.zy, (int)p.qmin, (int)p.qmax,
                          res ? r[i * n + j] : -1, (double)p.rmult, *got, y);
            }
            bad += !ok;
            cases++;
          }
      }
  }
  QT_CHECKF(st, bad == 0, "%s edge epilogue: %zu of %zu wrong",
            cfg->kernel_name, bad, cases);
out:
  free(b);
  free(bias);
  free(mult);
  free(a);
  free(ap);
  free(r);
  free(out);
  free(packed);
}

/* QINFER_LONG_TESTS=1: random shapes and parameters. */
static inline void qc_sweep_random(qt_state *st, const qi_qgemm_config *cfg,
                                   qi_pool *pool2, int cases) {
  qc_rng rng = {0xC0FFEEull + (uint64_t)cfg->isa};
  for (int t = 0; t < cases; t++) {
    size_t m = (size_t)qc_range(&rng, 1, 300);
    size_t n = (size_t)qc_range(&rng, 1, 260);
    size_t k = (size_t)qc_range(&rng, 1, t % 10 == 0 ? 4700 : 1200);
    qc_case c = qc_case_make(m, n, k, (size_t)qc_next(&rng) % 100000);
    qc_data d;
    if (qc_data_make(st, &c, &d)) qc_run_driver(st, cfg, &d, t & 1 ? pool2 : NULL);
    qc_data_free(&d);
  }
}

#endif
