/* Shared machinery of the u8s8 convolution tests (test_qconv.c for the
 * GEMM paths, test_qdwconv.c for depthwise). Every case is checked in two
 * steps, both with tolerance 0, as in qgemm_cases.h:
 *   1. the scalar oracle (kernels/ref/conv_ref.c: padded taps read as the
 *      zero point, zero point folded into the bias) against a float64
 *      convolution of the dequantized values ((x - za) * w, padded taps
 *      contributing real zero): the int32 accumulators must equal the
 *      float64 sums (exact: integers < 2^53), and the output bytes must
 *      equal the requantization rule written out literally (float product,
 *      [+ float residual term], round half even, + zy, clamp);
 *   2. the driver (core/qconv.h) with given kernels, on 1 and 2 threads,
 *      against the oracle's bytes, with the input, output, residual and
 *      scratch against guard pages and the output's pixel padding filled
 *      with a sentinel that must survive. */
#ifndef QT_QCONV_CASES_H
#define QT_QCONV_CASES_H

#include "core/qconv.h"
#include "qgemm_cases.h"
#include "ref/conv_ref.h"

/* Driver runs compared byte for byte, and the outputs they covered (the
 * closing count of each test program). */
static long qv_runs, qv_outputs;

/* Geometry in the order N H W Cin Cout KH KW SH SW DH DW PT PL PB PR G. */
typedef struct qv_shape {
  int64_t n, h, w, c_in, c_out, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
} qv_shape;

typedef struct qv_case {
  qi_u8s8_conv_params p; /* derived */
  int32_t zy, qmin, qmax, zr;
  int mult_kind, saturate, residual, out_f32;
  size_t x_pad, y_pad; /* extra elements per pixel in the strides */
  int x_guard_before;
  uint64_t seed;
} qv_case;

static inline qi_u8s8_conv_params qv_params(const qv_shape *s, int32_t za) {
  qi_u8s8_conv_params p;
  memset(&p, 0, sizeof p);
  p.n = s->n;
  p.h = s->h;
  p.w = s->w;
  p.c_in = s->c_in;
  p.c_out = s->c_out;
  p.kh = s->kh;
  p.kw = s->kw;
  p.stride_h = s->sh;
  p.stride_w = s->sw;
  p.dil_h = s->dh;
  p.dil_w = s->dw;
  p.pad_t = s->pt;
  p.pad_l = s->pl;
  p.pad_b = s->pb;
  p.pad_r = s->pr;
  p.groups = s->g;
  p.za = za;
  return p;
}

/* A case from a sweep index: cycles the zero points through the MLAS list
 * and every epilogue parameter independently (as qc_case_make). Returns 0
 * if the geometry is invalid (a bug in the test's shape list). */
static inline int qv_case_make(const qv_shape *s, size_t idx, qv_case *c) {
  memset(c, 0, sizeof *c);
  qc_case q = qc_case_make(1, 1, 1, idx);
  c->p = qv_params(s, q.za);
  if (qi_u8s8_conv_derive(&c->p) != NULL) return 0;
  c->zy = q.zy;
  c->qmin = q.qmin;
  c->qmax = q.qmax;
  c->zr = q.zr;
  /* qc_case_make ties the multiplier kind to the residual (both idx % 4):
   * shift it so residual cases see every kind, the unsaturated ones too. */
  c->mult_kind = (int)((idx + idx / 4) % QC_MULT_KINDS);
  c->saturate = q.saturate;
  c->residual = q.residual;
  c->out_f32 = q.out_f32;
  c->x_pad = idx % 3 == 1 ? idx % 5 + 1 : 0;
  c->y_pad = idx % 2 == 1 ? idx % 7 + 1 : 0;
  c->x_guard_before = idx % 4 == 3;
  c->seed = 0xC0DEull + idx * 7919u + (uint64_t)(s->c_in * 131 + s->c_out * 31 +
                                                 s->kh * 7 + s->h);
  return 1;
}

typedef struct qv_data {
  qv_case c;
  int64_t in_px, out_px, taps; /* taps = K per group */
  uint8_t *x;
  size_t xs;
  qt_guard gx;
  int8_t *w; /* OIHW */
  int32_t *bias;
  float *mult, rmult;
  uint8_t *r; /* residual, pixel stride rs */
  size_t rs;
  qt_guard gr;
  int32_t *acc;  /* oracle accumulators [out_px][c_out] */
  uint8_t *yref; /* oracle output, dense [out_px][c_out] (float if f32) */
  qi_u8s8_gemm_params params;
} qv_data;

static inline void qv_data_free(qv_data *d) {
  qt_guard_free(&d->gx);
  qt_guard_free(&d->gr);
  free(d->w);
  free(d->bias);
  free(d->mult);
  free(d->acc);
  free(d->yref);
  memset(d, 0, sizeof *d);
}

static inline const char *qv_describe(const qv_case *c, char *buf,
                                      size_t size) {
  const qi_u8s8_conv_params *p = &c->p;
  snprintf(buf, size,
           "N%lld H%lld W%lld C%lld->%lld k%lldx%lld s%lld,%lld d%lld,%lld "
           "pad %lld,%lld,%lld,%lld g%lld za=%d zy=%d q=[%d,%d] mult=%d "
           "sat=%d res=%d f32=%d xpad=%zu ypad=%zu",
           (long long)p->n, (long long)p->h, (long long)p->w,
           (long long)p->c_in, (long long)p->c_out, (long long)p->kh,
           (long long)p->kw, (long long)p->stride_h, (long long)p->stride_w,
           (long long)p->dil_h, (long long)p->dil_w, (long long)p->pad_t,
           (long long)p->pad_l, (long long)p->pad_b, (long long)p->pad_r,
           (long long)p->groups, (int)p->za, (int)c->zy, (int)c->qmin,
           (int)c->qmax, c->mult_kind, c->saturate, c->residual, c->out_f32,
           c->x_pad, c->y_pad);
  return buf;
}

/* Step 1 for one output: the float64 convolution and the literal rule. */
static inline int qv_check_one(const qv_data *d, int64_t pix, int64_t co,
                               char *msg, size_t msize) {
  const qv_case *c = &d->c;
  const qi_u8s8_conv_params *p = &c->p;
  const int64_t cg_in = p->c_in / p->groups, cg_out = p->c_out / p->groups;
  const int64_t g = co / cg_out, ohw = p->out_h * p->out_w;
  const int64_t b = pix / ohw, oy = pix % ohw / p->out_w, ox = pix % p->out_w;
  double s = d->bias[co];
  for (int64_t ci = 0; ci < cg_in; ci++)
    for (int64_t ky = 0; ky < p->kh; ky++)
      for (int64_t kx = 0; kx < p->kw; kx++) {
        int64_t iy = oy * p->stride_h - p->pad_t + ky * p->dil_h;
        int64_t ix = ox * p->stride_w - p->pad_l + kx * p->dil_w;
        if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) continue;
        double xv = d->x[(size_t)((b * p->h + iy) * p->w + ix) * d->xs +
                         (size_t)(g * cg_in + ci)];
        double wv = d->w[((co * cg_in + ci) * p->kh + ky) * p->kw + kx];
        s += (xv - p->za) * wv;
      }
  int32_t acc = d->acc[pix * p->c_out + co];
  if (s != (double)acc) {
    snprintf(msg, msize, "oracle acc[%lld][%lld] %d != float64 %.0f",
             (long long)pix, (long long)co, (int)acc, s);
    return 0;
  }
  float v = (float)acc * d->mult[co];
  size_t o = (size_t)(pix * p->c_out + co);
  if (c->out_f32) {
    float got;
    memcpy(&got, d->yref + o * sizeof(float), sizeof got);
    if (memcmp(&got, &v, sizeof v) == 0) return 1;
    snprintf(msg, msize, "oracle f32[%lld][%lld] %.9g != %.9g",
             (long long)pix, (long long)co, got, v);
    return 0;
  }
  if (c->residual) {
    float t = (float)((int32_t)d->r[(size_t)pix * d->rs + (size_t)co] - c->zr) *
              d->rmult;
    v = v + t;
  }
  double y = nearbyint((double)v) + c->zy;
  y = y < c->qmin ? c->qmin : y > c->qmax ? c->qmax : y;
  if (d->yref[o] == (uint8_t)y) return 1;
  snprintf(msg, msize, "oracle out[%lld][%lld] %d != rule %d (v=%.9g)",
           (long long)pix, (long long)co, d->yref[o], (int)y, v);
  return 0;
}

static inline uint8_t qv_act(qc_rng *rng, int saturate) {
  return saturate == QC_SAT_ALL     ? 255
         : saturate == QC_SAT_MIXED ? (qc_next(rng) & 1 ? 255 : 0)
                                    : (uint8_t)qc_next(rng);
}

/* Generates inputs and the oracle output and checks the oracle (step 1).
 * Returns 0 if allocation failed. */
static inline int qv_data_make(qt_state *st, const qv_case *c, qv_data *d) {
  memset(d, 0, sizeof *d);
  d->c = *c;
  const qi_u8s8_conv_params *p = &c->p;
  if (p->out_h < 1 || p->out_w < 1) {
    QT_CHECKF(st, 0, "invalid geometry (qv_case_make failed)");
    return 0;
  }
  qc_rng rng = {c->seed};
  d->in_px = p->n * p->h * p->w;
  d->out_px = p->n * p->out_h * p->out_w;
  d->taps = qi_u8s8_conv_k(p);
  d->xs = (size_t)p->c_in + c->x_pad;
  size_t x_bytes = (size_t)(d->in_px - 1) * d->xs + (size_t)p->c_in;
  d->x = c->x_guard_before ? qt_guard_before(&d->gx, x_bytes)
                           : qt_guard_after(&d->gx, x_bytes);
  size_t nw = (size_t)(p->c_out * d->taps), ny = (size_t)(d->out_px * p->c_out);
  d->w = malloc(nw);
  d->bias = malloc((size_t)p->c_out * sizeof(int32_t));
  d->mult = malloc((size_t)p->c_out * sizeof(float));
  d->acc = malloc(ny * sizeof(int32_t));
  d->yref = malloc(ny * sizeof(float));
  if (!d->x || !d->w || !d->bias || !d->mult || !d->acc || !d->yref) {
    QT_CHECKF(st, 0, "allocation failed");
    return 0;
  }
  for (size_t i = 0; i < x_bytes; i++) d->x[i] = qv_act(&rng, c->saturate);
  for (size_t i = 0; i < nw; i++)
    d->w[i] = c->saturate == QC_SAT_ALL
                  ? (i / (size_t)d->taps % 2 ? -127 : 127)
                  : c->saturate == QC_SAT_MIXED
                        ? (qc_next(&rng) & 1 ? -127 : 127)
                        : (int8_t)qc_range(&rng, -127, 127);
  float spread = 0.011f / sqrtf((float)d->taps);
  int32_t bias_span = 8192 * (int32_t)sqrtf((float)d->taps);
  for (int64_t j = 0; j < p->c_out; j++) {
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
    d->rs = (size_t)p->c_out + (c->y_pad ? c->y_pad + 2 : 0);
    size_t r_bytes = (size_t)(d->out_px - 1) * d->rs + (size_t)p->c_out;
    d->r = qt_guard_after(&d->gr, r_bytes);
    if (!d->r) {
      QT_CHECKF(st, 0, "allocation failed");
      return 0;
    }
    for (size_t i = 0; i < r_bytes; i++) d->r[i] = (uint8_t)qc_next(&rng);
  }
  d->params = qi_u8s8_gemm_params_make(c->out_f32, c->zy, c->qmin, c->qmax,
                                       c->zr, d->rmult);
  qi_u8s8_conv_ref(p, d->x, d->xs, d->w, d->bias, d->mult, &d->params, d->r,
                   d->rs, d->yref, (size_t)p->c_out, d->acc);
  char msg[160], desc[320];
  for (int64_t pix = 0; pix < d->out_px; pix++)
    for (int64_t co = 0; co < p->c_out; co++)
      if (!qv_check_one(d, pix, co, msg, sizeof msg)) {
        QT_CHECKF(st, 0, "%s: %s", qv_describe(c, desc, sizeof desc), msg);
        return 1;
      }
  return 1;
}

static inline qi_requant_params qv_requant(const qv_data *d) {
  qi_requant_params rp = qi_requant_params_default();
  rp.out_f32 = d->c.out_f32;
  rp.zy = d->c.zy;
  rp.qmin = d->c.qmin;
  rp.qmax = d->c.qmax;
  rp.residual = d->r;
  rp.ldr = d->rs;
  rp.zr = d->c.zr;
  rp.rmult = d->rmult;
  return rp;
}

/* Step 2: the driver with the given kernels (NULL: default) on `pool`
 * (NULL: inline), against the oracle. `path` is the path the driver must
 * have chosen. */
static inline void qv_run(qt_state *st, const qv_data *d,
                          const qi_qgemm_config *gcfg,
                          const qi_dwconv_config *dcfg, qi_pool *pool,
                          qi_qconv_path path) {
  const qv_case *c = &d->c;
  const qi_u8s8_conv_params *p = &c->p;
  char desc[320];
  qi_error err = {0};
  qi_qconv_packed *w = NULL;
  qi_status s = qi_qconv_pack(&c->p, d->w, d->bias, d->mult, gcfg, dcfg, &w,
                              &err);
  QT_CHECKF(st, s == QI_OK, "pack %s: %s", qv_describe(c, desc, sizeof desc),
            err.message);
  if (s != QI_OK) return;
  QT_CHECKF(st, qi_qconv_path_of(w) == path, "path %d, want %d: %s",
            (int)qi_qconv_path_of(w), (int)path,
            qv_describe(c, desc, sizeof desc));
  const qi_u8s8_conv_params *wp = qi_qconv_params(w);
  QT_CHECK(st, wp->out_h == p->out_h && wp->out_w == p->out_w);

  size_t es = c->out_f32 ? sizeof(float) : 1;
  size_t ys = (size_t)p->c_out + c->y_pad;
  size_t y_bytes = ((size_t)(d->out_px - 1) * ys + (size_t)p->c_out) * es;
  qt_guard gy = {0}, gs = {0};
  uint8_t *y = qt_guard_after(&gy, y_bytes);
  size_t ssize = qi_qconv_workspace_size(w, qi_pool_size(pool));
  void *scratch = ssize ? qt_guard_after(&gs, ssize) : NULL;
  if (!y || (ssize && !scratch)) {
    QT_CHECKF(st, 0, "allocation failed");
    goto out;
  }
  memset(y, QC_SENTINEL, y_bytes);
  qi_requant_params rp = qv_requant(d);
  s = qi_qconv_run(w, d->x, d->xs, &rp, y, ys, pool, scratch, ssize, &err);
  QT_CHECKF(st, s == QI_OK, "run: %s", err.message);
  qv_runs++;
  qv_outputs += d->out_px * p->c_out;
  size_t bad = 0, bad_pad = 0, first = 0;
  for (int64_t pix = 0; pix < d->out_px; pix++) {
    for (int64_t co = 0; co < p->c_out; co++)
      if (memcmp(y + ((size_t)pix * ys + (size_t)co) * es,
                 d->yref + (size_t)(pix * p->c_out + co) * es, es) != 0 &&
          !bad++)
        first = (size_t)(pix * p->c_out + co);
    if (pix + 1 < d->out_px)
      for (size_t b = (size_t)p->c_out * es; b < ys * es; b++)
        bad_pad += y[(size_t)pix * ys * es + b] != QC_SENTINEL;
  }
  QT_CHECKF(st, bad == 0,
            "%s threads=%d %s: %zu wrong, first pixel %zu channel %zu",
            qi_qconv_kernel_name(w), qi_pool_size(pool),
            qv_describe(c, desc, sizeof desc), bad,
            first / (size_t)p->c_out, first % (size_t)p->c_out);
  QT_CHECKF(st, bad_pad == 0, "%s %s: %zu padding bytes overwritten",
            qi_qconv_kernel_name(w), qv_describe(c, desc, sizeof desc),
            bad_pad);
out:
  qt_guard_free(&gs);
  qt_guard_free(&gy);
  qi_qconv_free(w);
}

/* The output written over its own residual (rp.residual == y). */
static inline void qv_run_in_place(qt_state *st, const qv_data *d,
                                   const qi_qgemm_config *gcfg,
                                   const qi_dwconv_config *dcfg,
                                   qi_pool *pool) {
  const qv_case *c = &d->c;
  qi_qconv_packed *w = NULL;
  qi_error err = {0};
  QT_CHECK(st, c->residual && !c->out_f32);
  if (!c->residual || c->out_f32 ||
      qi_qconv_pack(&c->p, d->w, d->bias, d->mult, gcfg, dcfg, &w, &err) !=
          QI_OK) {
    QT_CHECKF(st, 0, "pack: %s", err.message);
    return;
  }
  size_t n = (size_t)(d->out_px - 1) * d->rs + (size_t)c->p.c_out;
  uint8_t *buf = malloc(n);
  size_t ssize = qi_qconv_workspace_size(w, qi_pool_size(pool));
  void *scratch = ssize ? malloc(ssize) : NULL;
  if (buf && (scratch || !ssize)) {
    memcpy(buf, d->r, n);
    qi_requant_params rp = qv_requant(d);
    rp.residual = buf;
    QT_CHECK(st, qi_qconv_run(w, d->x, d->xs, &rp, buf, d->rs, pool, scratch,
                              ssize, &err) == QI_OK);
    size_t bad = 0;
    for (int64_t pix = 0; pix < d->out_px; pix++)
      for (int64_t co = 0; co < c->p.c_out; co++)
        bad += buf[(size_t)pix * d->rs + (size_t)co] !=
               d->yref[pix * c->p.c_out + co];
    QT_CHECKF(st, bad == 0, "%s in place: %zu wrong", qi_qconv_kernel_name(w),
              bad);
  } else {
    QT_CHECKF(st, 0, "allocation failed");
  }
  free(scratch);
  free(buf);
  qi_qconv_free(w);
}

/* A random valid geometry for the long sweeps; depthwise when `dw`. */
static inline qv_shape qv_random_shape(qc_rng *rng, int dw) {
  for (;;) {
    qv_shape s;
    s.n = qc_range(rng, 1, 2);
    s.h = qc_range(rng, 1, 14);
    s.w = qc_range(rng, 1, 14);
    s.kh = qc_range(rng, 1, 7);
    s.kw = qc_next(rng) % 3 ? s.kh : qc_range(rng, 1, 7);
    s.sh = qc_range(rng, 1, 3);
    s.sw = qc_next(rng) % 3 ? s.sh : qc_range(rng, 1, 3);
    s.dh = qc_next(rng) % 4 ? 1 : 2;
    s.dw = qc_next(rng) % 4 ? s.dh : qc_range(rng, 1, 2);
    s.pt = qc_range(rng, 0, 3);
    s.pl = qc_range(rng, 0, 3);
    s.pb = qc_range(rng, 0, 3);
    s.pr = qc_range(rng, 0, 3);
    if (dw) {
      s.c_in = s.c_out = s.g = qc_range(rng, 1, 70);
      if (s.g == 1) s.c_in = s.c_out = s.g = 2;
    } else {
      s.g = qc_next(rng) % 4 ? 1 : qc_range(rng, 2, 4);
      s.c_in = s.g * qc_range(rng, 1, 24);
      s.c_out = s.g * qc_range(rng, 1, 40);
      if (s.g > 1 && s.c_in == s.g && s.c_out == s.g) s.c_out *= 2;
    }
    qi_u8s8_conv_params p = qv_params(&s, 0);
    if (qi_u8s8_conv_derive(&p) == NULL) return s;
  }
}

#endif
