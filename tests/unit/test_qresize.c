/* uint8 NHWC Resize (kernels/qpool/resize.h): the per-axis plans on
 * worked ONNX examples and on their invariants, nearest (an exact copy of
 * the planned pixels) and bilinear (the reference against float64 with the
 * plan's fixed-point weights, and within the weights' quantization of the
 * exact bilinear value), and every kernel config this CPU runs byte for
 * byte against the references on integer and arbitrary scales, all
 * coordinate modes, awkward channel counts and pixel strides, split into
 * row ranges, with guard pages. QINFER_LONG_TESTS=1 adds a random sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qelt_util.h"
#include "ref/resize_ref.h"

/* |w / 2048 - true fraction| <= 2^-12: the plan's rounding of a weight. */
#define QR_WEIGHT_ERR (1.0 / 4096.0)

static int same_idx(const size_t *a, const size_t *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

/* ---- plans ---- */

static void test_plans_examples(qt_state *st) {
  size_t idx[16], i0[16], i1[16];
  int32_t w[16];
  /* 4 -> 8, half_pixel: sources -0.25, 0.25, 0.75, 1.25, ... 3.25. */
  qi_resize_nearest_plan(QI_RESIZE_HALF_PIXEL, QI_RESIZE_ROUND_PREFER_FLOOR, 4,
                         8, 2.0, idx);
  QT_CHECK(st, same_idx(idx, (size_t[]){0, 0, 1, 1, 2, 2, 3, 3}, 8));
  qi_resize_linear_plan(QI_RESIZE_HALF_PIXEL, 4, 8, 2.0, i0, i1, w);
  QT_CHECK(st, same_idx(i0, (size_t[]){0, 0, 0, 1, 1, 2, 2, 3}, 8));
  QT_CHECK(st, same_idx(i1, (size_t[]){1, 1, 1, 2, 2, 3, 3, 3}, 8));
  int32_t w_half[8] = {0, 512, 1536, 512, 1536, 512, 1536, 0};
  QT_CHECK(st, memcmp(w, w_half, sizeof w_half) == 0);
  /* 3 -> 5, align_corners: sources 0, 0.5, 1, 1.5, 2; ties go to the
   * floor or the ceiling as the mode says. */
  qi_resize_nearest_plan(QI_RESIZE_ALIGN_CORNERS, QI_RESIZE_ROUND_PREFER_FLOOR,
                         3, 5, 5.0 / 3, idx);
  QT_CHECK(st, same_idx(idx, (size_t[]){0, 0, 1, 1, 2}, 5));
  qi_resize_nearest_plan(QI_RESIZE_ALIGN_CORNERS, QI_RESIZE_ROUND_PREFER_CEIL,
                         3, 5, 5.0 / 3, idx);
  QT_CHECK(st, same_idx(idx, (size_t[]){0, 1, 1, 2, 2}, 5));
  qi_resize_linear_plan(QI_RESIZE_ALIGN_CORNERS, 3, 5, 5.0 / 3, i0, i1, w);
  QT_CHECK(st, same_idx(i0, (size_t[]){0, 0, 1, 1, 2}, 5));
  QT_CHECK(st,
           w[0] == 0 && w[1] == 1024 && w[2] == 0 && w[3] == 1024 && w[4] == 0);
  /* 5 -> 3, asymmetric, scale 0.6: sources 0, 1.667, 3.333. */
  qi_resize_nearest_plan(QI_RESIZE_ASYMMETRIC, QI_RESIZE_FLOOR, 5, 3, 0.6, idx);
  QT_CHECK(st, same_idx(idx, (size_t[]){0, 1, 3}, 3));
  qi_resize_nearest_plan(QI_RESIZE_ASYMMETRIC, QI_RESIZE_CEIL, 5, 3, 0.6, idx);
  QT_CHECK(st, same_idx(idx, (size_t[]){0, 2, 4}, 3));
  qi_resize_linear_plan(QI_RESIZE_ASYMMETRIC, 5, 3, 0.6, i0, i1, w);
  QT_CHECK(st,
           same_idx(i0, (size_t[]){0, 1, 3}, 3) && w[1] == 1365 && w[2] == 683);
  /* pytorch_half_pixel with one output: source 0; half_pixel: the middle
   * (4 -> 1: (0.5) / 0.25 - 0.5 = 1.5, prefer floor -> 1). */
  qi_resize_nearest_plan(QI_RESIZE_PYTORCH_HALF_PIXEL,
                         QI_RESIZE_ROUND_PREFER_FLOOR, 4, 1, 0.25, idx);
  QT_CHECK(st, idx[0] == 0);
  qi_resize_nearest_plan(QI_RESIZE_HALF_PIXEL, QI_RESIZE_ROUND_PREFER_FLOOR, 4,
                         1, 0.25, idx);
  QT_CHECK(st, idx[0] == 1);
  qi_resize_nearest_plan(QI_RESIZE_HALF_PIXEL, QI_RESIZE_ROUND_PREFER_CEIL, 4,
                         1, 0.25, idx);
  QT_CHECK(st, idx[0] == 2);
}

/* Invariants on many axes: indices in range and non-decreasing, linear
 * neighbours adjacent, weights the rounded fraction of the coordinate. */
static void test_plans_invariants(qt_state *st) {
  size_t idx[64], i0[64], i1[64];
  int32_t w[64];
  for (size_t in = 1; in <= 20; in++)
    for (size_t out = 1; out <= 64; out += 3)
      for (int mode = 0; mode < 4; mode++) {
        double scale = (double)out / (double)in;
        for (int nm = 0; nm < 4; nm++) {
          qi_resize_nearest_plan((qi_resize_coord)mode,
                                 (qi_resize_nearest_mode)nm, in, out, scale,
                                 idx);
          for (size_t i = 0; i < out; i++)
            if (idx[i] >= in || (i && idx[i] < idx[i - 1])) {
              QT_CHECKF(st, 0, "nearest in=%zu out=%zu mode=%d nm=%d i=%zu", in,
                        out, mode, nm, i);
              return;
            }
        }
        qi_resize_linear_plan((qi_resize_coord)mode, in, out, scale, i0, i1, w);
        for (size_t i = 0; i < out; i++) {
          double s =
              qi_resize_src_coord((qi_resize_coord)mode, i, in, out, scale);
          s = s < 0 ? 0 : s > (double)(in - 1) ? (double)(in - 1) : s;
          double frac = s - (double)i0[i];
          int bad = i0[i] >= in || i1[i] >= in || i1[i] < i0[i] ||
                    i1[i] > i0[i] + 1 || w[i] < 0 || w[i] > QI_RESIZE_WONE ||
                    frac < 0 || frac >= 1 ||
                    fabs(w[i] / (double)QI_RESIZE_WONE - frac) > QR_WEIGHT_ERR;
          if (bad) {
            QT_CHECKF(st, 0, "linear in=%zu out=%zu mode=%d i=%zu: %zu %zu %d",
                      in, out, mode, i, i0[i], i1[i], w[i]);
            return;
          }
        }
      }
}

/* ---- kernels ---- */

typedef struct rs_case {
  qi_u8_resize_geom g;
  qi_resize_coord mode;
  qi_resize_nearest_mode nearest;
  double scale_h, scale_w;
  int32_t zx, zy, qmin, qmax;
  double sx, sy;
  size_t idx;
} rs_case;

static size_t image_bytes(size_t h, size_t w, size_t pix, size_t c) {
  return h && w ? (h * w - 1) * pix + c : 0;
}

static rs_case rs_case_make(size_t ih, size_t iw, size_t oh, size_t ow,
                            size_t c, size_t idx, qe_rng *r) {
  rs_case k;
  memset(&k, 0, sizeof k);
  k.g.in_h = ih;
  k.g.in_w = iw;
  k.g.out_h = oh;
  k.g.out_w = ow;
  k.g.c = c;
  k.g.x_pix = c + (idx % 3 == 1 ? 2 : 0);
  k.g.y_pix = c + (idx % 4 == 3 ? 7 : 0);
  k.mode = (qi_resize_coord)(idx % 4);
  k.nearest = (qi_resize_nearest_mode)(idx / 4 % 4);
  k.scale_h = (double)oh / (double)ih;
  k.scale_w = (double)ow / (double)iw;
  k.zx = qe_zero_points[idx % QE_NZP];
  k.zy = qe_zero_points[(idx / 3 + 2) % QE_NZP];
  qe_clamp_of(idx / 5, k.zy, &k.qmin, &k.qmax);
  k.sy = 0.02 + 0.05 * qe_unit(r);
  k.sx = k.sy * qe_ratio_of(idx / 2, r);
  if (idx % 3 == 0) { /* the usual case: one quantization */
    k.sx = k.sy;
    k.zx = k.zy;
    k.qmin = 0;
    k.qmax = 255;
  }
  k.idx = idx;
  return k;
}

typedef struct rs_plan {
  size_t *iy, *ix, *y0, *y1, *x0, *x1;
  int32_t *wy, *wx;
  qi_resize_linear_axis ay, ax;
} rs_plan;

static int rs_plan_make(const rs_case *k, rs_plan *p) {
  size_t oh = k->g.out_h, ow = k->g.out_w;
  memset(p, 0, sizeof *p);
  p->iy = malloc(oh * sizeof(size_t));
  p->y0 = malloc(oh * sizeof(size_t));
  p->y1 = malloc(oh * sizeof(size_t));
  p->wy = malloc(oh * sizeof(int32_t));
  p->ix = malloc(ow * sizeof(size_t));
  p->x0 = malloc(ow * sizeof(size_t));
  p->x1 = malloc(ow * sizeof(size_t));
  p->wx = malloc(ow * sizeof(int32_t));
  if (!p->iy || !p->y0 || !p->y1 || !p->wy || !p->ix || !p->x0 || !p->x1 ||
      !p->wx)
    return 0;
  qi_resize_nearest_plan(k->mode, k->nearest, k->g.in_h, oh, k->scale_h, p->iy);
  qi_resize_nearest_plan(k->mode, k->nearest, k->g.in_w, ow, k->scale_w, p->ix);
  qi_resize_linear_plan(k->mode, k->g.in_h, oh, k->scale_h, p->y0, p->y1,
                        p->wy);
  qi_resize_linear_plan(k->mode, k->g.in_w, ow, k->scale_w, p->x0, p->x1,
                        p->wx);
  p->ay = (qi_resize_linear_axis){p->y0, p->y1, p->wy};
  p->ax = (qi_resize_linear_axis){p->x0, p->x1, p->wx};
  return 1;
}

static void rs_plan_free(rs_plan *p) {
  free(p->iy);
  free(p->y0);
  free(p->y1);
  free(p->wy);
  free(p->ix);
  free(p->x0);
  free(p->x1);
  free(p->wx);
}

/* The bilinear reference against float64: exact with the plan's weights
 * (but for ties within the float32 slack), and within the weights'
 * quantization of the bilinear value at the true coordinates. */
static int check_bilinear_f64(qt_state *st, const rs_case *k, const rs_plan *pl,
                              const uint8_t *x, const qi_u8_resize_params *p) {
  const qi_u8_resize_geom *g = &k->g;
  uint8_t *y = malloc(g->c);
  if (!y) return 0;
  double ratio = k->sx / k->sy;
  int ok = 1;
  for (size_t oh = 0; oh < g->out_h && ok; oh++)
    for (size_t ow = 0; ow < g->out_w && ok; ow++) {
      qi_u8_resize_bilinear_pixel_ref(g, &pl->ay, &pl->ax, p, x, oh, ow, y);
      double sh =
          qi_resize_src_coord(k->mode, oh, g->in_h, g->out_h, k->scale_h);
      double sw =
          qi_resize_src_coord(k->mode, ow, g->in_w, g->out_w, k->scale_w);
      sh = fmin(fmax(sh, 0.0), (double)(g->in_h - 1));
      sw = fmin(fmax(sw, 0.0), (double)(g->in_w - 1));
      double fy = sh - floor(sh), fx = sw - floor(sw);
      double qy = pl->wy[oh] / 2048.0, qx = pl->wx[ow] / 2048.0;
      const uint8_t *c00 = x + (pl->y0[oh] * g->in_w + pl->x0[ow]) * g->x_pix;
      const uint8_t *c01 = x + (pl->y0[oh] * g->in_w + pl->x1[ow]) * g->x_pix;
      const uint8_t *c10 = x + (pl->y1[oh] * g->in_w + pl->x0[ow]) * g->x_pix;
      const uint8_t *c11 = x + (pl->y1[oh] * g->in_w + pl->x1[ow]) * g->x_pix;
      for (size_t ch = 0; ch < g->c && ok; ch++) {
        double d00 = c00[ch] - k->zx, d01 = c01[ch] - k->zx;
        double d10 = c10[ch] - k->zx, d11 = c11[ch] - k->zx;
        double vq = ((1 - qy) * ((1 - qx) * d00 + qx * d01) +
                     qy * ((1 - qx) * d10 + qx * d11)) *
                    ratio;
        double vt = ((1 - fy) * ((1 - fx) * d00 + fx * d01) +
                     fy * ((1 - fx) * d10 + fx * d11)) *
                    ratio;
        double err =
            2 * QR_WEIGHT_ERR * 255 * ratio + QE_F32_REL_SLACK * (fabs(vt) + 1);
        int32_t lo = qe_requant_f64(vt - err, k->zy, k->qmin, k->qmax);
        int32_t hi = qe_requant_f64(vt + err, k->zy, k->qmin, k->qmax);
        if (!qe_near_f64(y[ch], vq, QE_F32_REL_SLACK * (fabs(vq) + 1), k->zy,
                         k->qmin, k->qmax) ||
            y[ch] < lo || y[ch] > hi) {
          QT_CHECKF(st, 0,
                    "bilinear ref idx=%zu (%zu,%zu,%zu): %d, f64 %d, true "
                    "range [%d,%d]",
                    k->idx, oh, ow, ch, y[ch],
                    qe_requant_f64(vq, k->zy, k->qmin, k->qmax), lo, hi);
          ok = 0;
        }
      }
    }
  free(y);
  return ok;
}

static int check_resize(qt_state *st, const rs_case *k) {
  const qi_u8_resize_geom *g = &k->g;
  size_t nx = image_bytes(g->in_h, g->in_w, g->x_pix, g->c);
  size_t ny = image_bytes(g->out_h, g->out_w, g->y_pix, g->c);
  qe_rng r = {0x4E512Eull + k->idx * 17};
  qi_u8_resize_params p =
      qi_u8_resize_params_make(k->sx, k->zx, k->sy, k->zy, k->qmin, k->qmax);
  rs_plan pl;
  qe_buf bx, by;
  uint8_t *x = qe_buf_make(st, &bx, nx, k->idx & 1);
  uint8_t *y = qe_buf_make(st, &by, ny, 0);
  uint8_t *want = malloc(ny);
  int ok = rs_plan_make(k, &pl) && x && y && want;
  if (ok) {
    qe_fill(&r, x, nx);
    ok = check_bilinear_f64(st, k, &pl, x, &p);
  }
  const qi_qelt_config *cfgs[QI_ISA_COUNT];
  size_t ncfg = qe_configs(cfgs);
  for (int bil = 0; bil < 2 && ok; bil++) {
    memset(want, QE_SENTINEL, ny);
    for (size_t oh = 0; oh < g->out_h; oh++)
      for (size_t ow = 0; ow < g->out_w; ow++) {
        uint8_t *yp = want + (oh * g->out_w + ow) * g->y_pix;
        if (bil)
          qi_u8_resize_bilinear_pixel_ref(g, &pl.ay, &pl.ax, &p, x, oh, ow, yp);
        else
          memcpy(yp, x + (pl.iy[oh] * g->in_w + pl.ix[ow]) * g->x_pix, g->c);
      }
    for (size_t ci = 0; ci < ncfg && ok; ci++)
      for (int split = 0; split < 2 && ok; split++) {
        size_t mid = split ? (g->out_h + 1) / 2 : g->out_h;
        memset(y, QE_SENTINEL, ny);
        if (bil) {
          cfgs[ci]->resize_bilinear(g, &pl.ay, &pl.ax, &p, x, y, 0, mid);
          cfgs[ci]->resize_bilinear(g, &pl.ay, &pl.ax, &p, x, y, mid, g->out_h);
        } else {
          cfgs[ci]->resize_nearest(g, pl.iy, pl.ix, x, y, 0, mid);
          cfgs[ci]->resize_nearest(g, pl.iy, pl.ix, x, y, mid, g->out_h);
        }
        long d = qe_diff(y, want, ny);
        if (d >= 0) {
          QT_CHECKF(st, 0,
                    "%s %s idx=%zu %zux%zu -> %zux%zu c=%zu pix %zu/%zu mode "
                    "%d nearest %d: byte %ld got %d want %d",
                    bil ? "bilinear" : "nearest",
                    qi_isa_name(cfgs[ci]->kernel_isa), k->idx, g->in_h, g->in_w,
                    g->out_h, g->out_w, g->c, g->x_pix, g->y_pix, (int)k->mode,
                    (int)k->nearest, d, y[d], want[d]);
          ok = 0;
        }
      }
  }
  free(want);
  rs_plan_free(&pl);
  qe_buf_free(&bx);
  qe_buf_free(&by);
  return ok;
}

static void test_resize_kernels(qt_state *st) {
  static const size_t in_sizes[][2] = {{1, 1}, {1, 4}, {2, 2}, {3, 5}, {8, 7}};
  /* Output = in * factor (integer scales) or a fixed odd size. */
  static const int factors[] = {1, 2, 3, -5, -9, -1};
  static const size_t cs[] = {1, 3, 7, 8, 17, 33, 100};
  qe_rng r = {0x4E5};
  size_t idx = 0;
  for (size_t is = 0; is < QE_LEN(in_sizes); is++)
    for (size_t fi = 0; fi < QE_LEN(factors); fi++)
      for (size_t ic = 0; ic < QE_LEN(cs); ic++, idx++) {
        size_t ih = in_sizes[is][0], iw = in_sizes[is][1];
        int f = factors[fi];
        size_t oh = f > 0 ? ih * (size_t)f : (size_t)-f;
        size_t ow = f > 0 ? iw * (size_t)f : (size_t)(-f + 2);
        rs_case k = rs_case_make(ih, iw, oh, ow, cs[ic], idx, &r);
        if (!check_resize(st, &k)) return;
      }
  /* A YOLO-style 2x nearest upsample and a segmentation-head 4x bilinear
   * at real sizes. */
  rs_case k = rs_case_make(20, 20, 40, 40, 256, 3, &r);
  if (!check_resize(st, &k)) return;
  k = rs_case_make(28, 28, 112, 112, 21, 6, &r);
  if (!check_resize(st, &k)) return;
  if (qe_long_tests()) {
    for (int t = 0; t < 1500; t++, idx++) {
      rs_case kk =
          rs_case_make((size_t)qe_range(&r, 1, 12), (size_t)qe_range(&r, 1, 12),
                       (size_t)qe_range(&r, 1, 30), (size_t)qe_range(&r, 1, 30),
                       (size_t)qe_range(&r, 1, 70), idx, &r);
      if (!check_resize(st, &kk)) return;
    }
  }
}

int main(void) {
  qt_state st = {0};
  qe_catch_faults(&st);
  QT_RUN(&st, test_plans_examples);
  QT_RUN(&st, test_plans_invariants);
  QT_RUN(&st, test_resize_kernels);
  return qt_summary(&st);
}
