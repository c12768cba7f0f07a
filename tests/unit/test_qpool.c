/* uint8 NHWC pooling (kernels/qpool): MaxPool, AveragePool (both
 * count_include_pad settings) and GlobalAveragePool. The references are
 * checked against float64 computations written here from the definitions
 * (every tap tested against the input and pad bounds one by one); every
 * kernel config this CPU runs is checked byte for byte against them on
 * awkward geometries (1x1 images, odd sizes, strides, dilations,
 * asymmetric pads, ceil_mode overhang, pixel strides with untouched gaps),
 * split into row ranges, with guard pages. QINFER_LONG_TESTS=1 adds a
 * random sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qelt_util.h"
#include "ref/qpool_ref.h"

/* ---- geometry ---- */

/* Output length of one axis (ONNX / PyTorch rule; ceil_mode drops a last
 * window that would start in the end padding). 0 if none fits. */
static size_t out_len(size_t in, size_t k, size_t s, size_t d, size_t p0,
                      size_t p1, int ceil_mode) {
  size_t span = d * (k - 1) + 1, full = in + p0 + p1;
  if (full < span) return 0;
  size_t n = (full - span) / s + 1;
  if (ceil_mode && (full - span) % s) {
    n++;
    if ((n - 1) * s >= in + p0) n--;
  }
  return n;
}

typedef struct pool_case {
  qi_u8_pool_geom g;
  int ceil_mode;
  int32_t zx, zy, qmin, qmax;
  double sx, sy;
  int include_pad;
  size_t idx;
} pool_case;

/* Bytes of an image whose last pixel ends at its last channel. */
static size_t image_bytes(size_t h, size_t w, size_t pix, size_t c) {
  return h && w ? (h * w - 1) * pix + c : 0;
}

static int case_make(pool_case *k, size_t h, size_t w, size_t c, size_t kh,
                     size_t kw, size_t s, size_t d, size_t idx, qe_rng *r) {
  memset(k, 0, sizeof *k);
  qi_u8_pool_geom *g = &k->g;
  g->in_h = h;
  g->in_w = w;
  g->c = c;
  g->k_h = kh;
  g->k_w = kw;
  g->s_h = s;
  g->s_w = idx % 4 == 3 ? 1 : s; /* asymmetric strides too */
  g->d_h = d;
  g->d_w = idx % 5 == 4 ? 1 : d;
  /* Pads below the window span, asymmetric. */
  size_t sh = d * (kh - 1) + 1, sw = g->d_w * (kw - 1) + 1;
  g->pad_t = (idx / 2) % sh;
  g->pad_b = (idx / 3) % sh;
  g->pad_l = (idx / 5) % sw;
  g->pad_r = (idx / 7) % sw;
  if (idx % 11 == 0) g->pad_t = g->pad_b = g->pad_l = g->pad_r = 0;
  k->ceil_mode = (int)(idx % 2);
  g->out_h = out_len(h, kh, g->s_h, g->d_h, g->pad_t, g->pad_b, k->ceil_mode);
  g->out_w = out_len(w, kw, g->s_w, g->d_w, g->pad_l, g->pad_r, k->ceil_mode);
  g->x_pix = c + (idx % 3 == 1 ? 3 : 0);
  g->y_pix = c + (idx % 4 == 2 ? 5 : 0);
  k->zx = qe_zero_points[idx % QE_NZP];
  k->zy = qe_zero_points[(idx / 2 + 4) % QE_NZP];
  qe_clamp_of(idx / 7, k->zy, &k->qmin, &k->qmax);
  k->sy = 0.01 + 0.1 * qe_unit(r);
  k->sx = k->sy * qe_ratio_of(idx / 2, r);
  if (idx % 9 == 0) { /* same quantization: a plain average */
    k->sx = k->sy;
    k->zx = k->zy;
  }
  k->include_pad = (int)(idx / 2 % 2);
  k->idx = idx;
  return g->out_h > 0 && g->out_w > 0;
}

static qi_u8_avgpool_params avg_params(const pool_case *k) {
  return qi_u8_avgpool_params_make(k->sx, k->zx, k->sy, k->zy, k->qmin, k->qmax,
                                   k->include_pad);
}

/* ---- float64 definitions ---- */

/* Tap (kh, kw) of output (oh, ow): -1 outside the input; *in_pad says
 * whether it lies inside the padded input. */
static long tap_index(const qi_u8_pool_geom *g, size_t oh, size_t ow, size_t kh,
                      size_t kw, int *in_pad) {
  long ih = (long)(oh * g->s_h + kh * g->d_h) - (long)g->pad_t;
  long iw = (long)(ow * g->s_w + kw * g->d_w) - (long)g->pad_l;
  *in_pad = ih >= -(long)g->pad_t && ih < (long)(g->in_h + g->pad_b) &&
            iw >= -(long)g->pad_l && iw < (long)(g->in_w + g->pad_r);
  if (ih < 0 || iw < 0 || ih >= (long)g->in_h || iw >= (long)g->in_w) return -1;
  return ih * (long)g->in_w + iw;
}

static int check_refs_f64(qt_state *st, const pool_case *k, const uint8_t *x) {
  const qi_u8_pool_geom *g = &k->g;
  qi_u8_avgpool_params p = avg_params(k);
  uint8_t *ymax = malloc(g->c), *yavg = malloc(g->c);
  int ok = ymax && yavg;
  double ratio = k->sx / k->sy;
  int exact = ratio == 1.0 || ratio == 0.5;
  for (size_t oh = 0; ok && oh < g->out_h; oh++)
    for (size_t ow = 0; ok && ow < g->out_w; ow++) {
      qi_u8_maxpool_pixel_ref(g, x, oh, ow, ymax);
      qi_u8_avgpool_pixel_ref(g, &p, x, oh, ow, yavg);
      for (size_t ch = 0; ok && ch < g->c; ch++) {
        int mx = -1;
        double sum = 0;
        size_t n = 0, npad = 0;
        for (size_t kh = 0; kh < g->k_h; kh++)
          for (size_t kw = 0; kw < g->k_w; kw++) {
            int in_pad;
            long t = tap_index(g, oh, ow, kh, kw, &in_pad);
            npad += (size_t)in_pad;
            if (t < 0) continue;
            int v = x[(size_t)t * g->x_pix + ch];
            mx = v > mx ? v : mx;
            sum += v - k->zx;
            n++;
          }
        size_t count = k->include_pad ? npad : n;
        double v = count ? sum / (double)count * ratio : 0.0;
        /* The divisor is exact in the f64 value only when it is 1 or 2. */
        double slack = exact && count <= 2 ? 0.0 : QE_F32_REL_SLACK * fabs(v);
        if (ymax[ch] != (mx < 0 ? 0 : mx) ||
            !qe_near_f64(yavg[ch], v, slack, k->zy, k->qmin, k->qmax)) {
          QT_CHECKF(st, 0,
                    "idx=%zu (%zu,%zu,%zu): max %d want %d; avg %d, f64 %d "
                    "(v=%.9g count=%zu)",
                    k->idx, oh, ow, ch, ymax[ch], mx, yavg[ch],
                    qe_requant_f64(v, k->zy, k->qmin, k->qmax), v, count);
          ok = 0;
        }
      }
    }
  free(ymax);
  free(yavg);
  return ok;
}

/* ---- kernels against the references ---- */

/* The reference output image, gaps between pixels left as the sentinel. */
static void ref_image(const pool_case *k, const uint8_t *x, int avg,
                      uint8_t *want, size_t ny) {
  const qi_u8_pool_geom *g = &k->g;
  qi_u8_avgpool_params p = avg_params(k);
  memset(want, QE_SENTINEL, ny);
  for (size_t oh = 0; oh < g->out_h; oh++)
    for (size_t ow = 0; ow < g->out_w; ow++) {
      uint8_t *y = want + (oh * g->out_w + ow) * g->y_pix;
      if (avg)
        qi_u8_avgpool_pixel_ref(g, &p, x, oh, ow, y);
      else
        qi_u8_maxpool_pixel_ref(g, x, oh, ow, y);
    }
}

static int check_pool(qt_state *st, pool_case *k) {
  const qi_u8_pool_geom *g = &k->g;
  size_t nx = image_bytes(g->in_h, g->in_w, g->x_pix, g->c);
  size_t ny = image_bytes(g->out_h, g->out_w, g->y_pix, g->c);
  qe_rng r = {0x9001ull + k->idx * 7};
  qe_buf bx, by;
  uint8_t *x = qe_buf_make(st, &bx, nx, k->idx & 1);
  uint8_t *y = qe_buf_make(st, &by, ny, 0);
  uint8_t *want = malloc(ny);
  int ok = x && y && want;
  if (ok) {
    qe_fill(&r, x, nx);
    if (k->idx % 8 == 5) /* flat regions: equal taps, sums of one value */
      for (size_t i = 0; i < nx; i++) x[i] = (uint8_t)(i % 3 ? k->zx : 255);
    ok = check_refs_f64(st, k, x);
  }
  qi_u8_avgpool_params p = avg_params(k);
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (int avg = 0; avg < 2 && ok; avg++) {
    ref_image(k, x, avg, want, ny);
    for (size_t ci = 0; ci < ncfg && ok; ci++)
      for (int split = 0; split < 2 && ok; split++) {
        memset(y, QE_SENTINEL, ny);
        /* Whole image, or two row ranges as two threads would run them. */
        size_t mid = split ? g->out_h / 2 : g->out_h;
        if (avg) {
          cfgs[ci]->avgpool(g, &p, x, y, 0, mid);
          cfgs[ci]->avgpool(g, &p, x, y, mid, g->out_h);
        } else {
          cfgs[ci]->maxpool(g, x, y, 0, mid);
          cfgs[ci]->maxpool(g, x, y, mid, g->out_h);
        }
        long d = qe_diff(y, want, ny);
        if (d >= 0) {
          QT_CHECKF(st, 0,
                    "%s %s idx=%zu in %zux%zux%zu k %zux%zu s %zu,%zu d "
                    "%zu,%zu pads %zu,%zu,%zu,%zu out %zux%zu pix %zu/%zu "
                    "incl_pad %d: byte %ld got %d want %d",
                    avg ? "avgpool" : "maxpool",
                    qi_isa_name(cfgs[ci]->kernel_isa), k->idx, g->in_h, g->in_w,
                    g->c, g->k_h, g->k_w, g->s_h, g->s_w, g->d_h, g->d_w,
                    g->pad_t, g->pad_l, g->pad_b, g->pad_r, g->out_h, g->out_w,
                    g->x_pix, g->y_pix, k->include_pad, d, y[d], want[d]);
          ok = 0;
        }
      }
  }
  free(want);
  qe_buf_free(&bx);
  qe_buf_free(&by);
  return ok;
}

static const size_t k_channels[] = {1, 3, 7, 8, 17, 32, 33, 100};

typedef struct win {
  size_t kh, kw, s, d;
} win;

static void test_pools(qt_state *st) {
  static const size_t sizes[][2] = {{1, 1}, {1, 5}, {2, 2},
                                    {5, 3}, {7, 7}, {8, 13}};
  static const win wins[] = {{1, 1, 1, 1}, {2, 2, 2, 1}, {3, 3, 2, 1},
                             {3, 3, 1, 2}, {2, 3, 3, 1}, {3, 1, 1, 1},
                             {7, 7, 1, 1}, {3, 2, 2, 2}};
  qe_rng r = {0x9007};
  size_t idx = 0, ran = 0;
  for (size_t is = 0; is < QE_LEN(sizes); is++)
    for (size_t iw = 0; iw < QE_LEN(wins); iw++)
      for (size_t ic = 0; ic < QE_LEN(k_channels); ic++, idx++) {
        pool_case k;
        const win *w = &wins[iw];
        if (!case_make(&k, sizes[is][0], sizes[is][1], k_channels[ic], w->kh,
                       w->kw, w->s, w->d, idx, &r))
          continue;
        ran++;
        if (!check_pool(st, &k)) return;
      }
  QT_CHECKF(st, ran > idx / 2, "only %zu of %zu geometries fit", ran, idx);
  printf("  %zu pool geometries (of %zu tried) x max/avg x configs\n", ran,
         idx);
  if (qe_long_tests()) {
    for (int t = 0; t < 3000; t++, idx++) {
      pool_case k;
      if (!case_make(&k, (size_t)qe_range(&r, 1, 20),
                     (size_t)qe_range(&r, 1, 20), (size_t)qe_range(&r, 1, 80),
                     (size_t)qe_range(&r, 1, 5), (size_t)qe_range(&r, 1, 5),
                     (size_t)qe_range(&r, 1, 3), (size_t)qe_range(&r, 1, 2),
                     idx, &r))
        continue;
      if (!check_pool(st, &k)) return;
    }
  }
}

/* A 112x112x64 MaxPool 3x3/2 pad 1 (ResNet's stem) and an AveragePool
 * 2x2/2 of 56x56x256: real sizes through every config. */
static void test_pools_resnet(qt_state *st) {
  qe_rng r = {0x4E5};
  pool_case k;
  case_make(&k, 112, 112, 64, 3, 3, 2, 1, 0, &r);
  k.g.s_w = 2;
  k.g.d_w = 1;
  k.g.pad_t = k.g.pad_l = k.g.pad_b = k.g.pad_r = 1;
  k.g.out_h = k.g.out_w = 56;
  k.g.x_pix = k.g.y_pix = 64;
  k.idx = 1;
  if (!check_pool(st, &k)) return;
  case_make(&k, 56, 56, 256, 2, 2, 2, 1, 3, &r);
  k.g.s_w = 2;
  k.g.pad_t = k.g.pad_l = k.g.pad_b = k.g.pad_r = 0;
  k.g.out_h = k.g.out_w = 28;
  k.g.x_pix = k.g.y_pix = 256;
  k.idx = 2;
  check_pool(st, &k);
}

/* Pads never win and count only when asked; the windows of the last row
 * and column hang over the end pads (ceil_mode), which never count. */
static void test_pool_pads(qt_state *st) {
  uint8_t x[4] = {250, 10, 10, 130}; /* 2x2x1, zx = 10 */
  qi_u8_pool_geom g = {0};
  g.in_h = g.in_w = 2;
  g.c = 1;
  g.out_h = g.out_w = 2;
  g.k_h = g.k_w = 3;
  g.s_h = g.s_w = 2;
  g.d_h = g.d_w = 1;
  g.pad_t = g.pad_l = g.pad_b = g.pad_r = 1;
  g.x_pix = g.y_pix = 1;
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (size_t ci = 0; ci < ncfg; ci++) {
    uint8_t y[4];
    cfgs[ci]->maxpool(&g, x, y, 0, 2);
    QT_CHECK(st, y[0] == 250 && y[1] == 130 && y[2] == 130 && y[3] == 130);
    /* Sums of x - 10: 360 over 4 taps, 120 over 2, 120 over 1. */
    qi_u8_avgpool_params p =
        qi_u8_avgpool_params_make(1.0, 10, 1.0, 0, 0, 255, 0);
    cfgs[ci]->avgpool(&g, &p, x, y, 0, 2);
    QT_CHECK(st, y[0] == 90 && y[1] == 60 && y[2] == 60 && y[3] == 120);
    /* With the pads: 9, 6 and 4 taps inside the padded 4x4 input. */
    p.count_include_pad = 1;
    cfgs[ci]->avgpool(&g, &p, x, y, 0, 2);
    QT_CHECK(st, y[0] == 40 && y[1] == 20 && y[2] == 20 && y[3] == 30);
  }
}

/* ---- GlobalAveragePool ---- */

static int check_gap(qt_state *st, size_t npix, size_t c, size_t padx,
                     size_t idx) {
  qe_rng r = {0x6A9ull + idx * 13};
  int32_t zx = qe_zero_points[idx % QE_NZP];
  int32_t zy = qe_zero_points[(idx / 2 + 1) % QE_NZP], qmin, qmax;
  qe_clamp_of(idx / 3, zy, &qmin, &qmax);
  double sy = 0.05, sx = sy * qe_ratio_of(idx / 4, &r);
  qi_u8_avgpool_params p =
      qi_u8_avgpool_params_make(sx, zx, sy, zy, qmin, qmax, 0);
  size_t x_pix = c + padx, nx = image_bytes(1, npix, x_pix, c);
  qe_buf bx, by;
  uint8_t *x = qe_buf_make(st, &bx, nx, idx & 1);
  uint8_t *y = qe_buf_make(st, &by, c, 0);
  uint8_t *want = malloc(c);
  int ok = x && y && want;
  if (!ok) goto done;
  qe_fill(&r, x, nx);
  if (idx % 5 == 4) memset(x, 255, nx); /* the largest sums */
  /* The reference against float64, and against AveragePool with one
   * window covering the image (the same formula). */
  qi_u8_pool_geom g = {0};
  g.in_h = g.out_h = g.out_w = g.k_h = 1;
  g.in_w = g.k_w = npix;
  g.c = c;
  g.s_h = g.s_w = g.d_h = g.d_w = 1;
  g.x_pix = x_pix;
  g.y_pix = c;
  qi_u8_avgpool_pixel_ref(&g, &p, x, 0, 0, want);
  for (size_t ch = 0; ch < c && ok; ch++) {
    double sum = 0;
    for (size_t i = 0; i < npix; i++) sum += x[i * x_pix + ch] - zx;
    double v = sum / (double)npix * (sx / sy);
    uint8_t got = qi_u8_gap_channel_ref(npix, x, x_pix, ch, &p);
    if (got != want[ch] ||
        !qe_near_f64(got, v, QE_F32_REL_SLACK * fabs(v), zy, qmin, qmax)) {
      QT_CHECKF(st, 0, "gap ref npix=%zu c=%zu ch=%zu: %d (pool %d) v=%.9g",
                npix, c, ch, got, want[ch], v);
      ok = 0;
    }
  }
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (size_t ci = 0; ci < ncfg && ok; ci++) {
    memset(y, QE_SENTINEL, c);
    cfgs[ci]->gap(npix, c, x, x_pix, y, &p);
    long d = qe_diff(y, want, c);
    if (d >= 0) {
      QT_CHECKF(st, 0,
                "gap %s npix=%zu c=%zu x_pix=%zu: byte %ld got %d "
                "want %d",
                qi_isa_name(cfgs[ci]->kernel_isa), npix, c, x_pix, d, y[d],
                want[d]);
      ok = 0;
    }
  }
done:
  free(want);
  qe_buf_free(&bx);
  qe_buf_free(&by);
  return ok;
}

static void test_gap(qt_state *st) {
  static const size_t npix[] = {1, 2, 7, 49, 196, 3136};
  static const size_t cs[] = {1, 3, 7, 17, 33, 100, 2048};
  size_t idx = 0;
  for (size_t ip = 0; ip < QE_LEN(npix); ip++)
    for (size_t ic = 0; ic < QE_LEN(cs); ic++, idx++)
      if (!check_gap(st, npix[ip], cs[ic], idx % 3 == 2 ? 9 : 0, idx)) return;
  /* Pixels of 255 (case 4): the largest sums, past the 257 taps a uint16
   * lane holds, and 224 x 224 of them as a stem would see. */
  if (!check_gap(st, 3000, 40, 0, 4)) return;
  if (!check_gap(st, 224 * 224, 3, 0, 4)) return;
  if (qe_long_tests()) {
    qe_rng r = {0x6A7};
    for (int t = 0; t < 400; t++, idx++)
      if (!check_gap(st, (size_t)qe_range(&r, 1, 3000),
                     (size_t)qe_range(&r, 1, 300), (size_t)qe_range(&r, 0, 5),
                     idx))
        return;
  }
}

int main(void) {
  qt_state st = {0};
  qe_catch_faults(&st);
  QT_RUN(&st, test_pool_pads);
  QT_RUN(&st, test_pools);
  QT_RUN(&st, test_pools_resnet);
  QT_RUN(&st, test_gap);
  return qt_summary(&st);
}
