/*
 * Resize and Upsample against a transcription of the ONNX reference
 * algorithm (onnx/reference/ops/op_resize.py): per axis, the coordinate
 * transform, the coefficients of the mode, and the n input points closest
 * to x_ori in the edge-padded axis, interpolated axis after axis in double.
 * Nearest is compared exactly; linear and cubic within RESIZE_MAX_REL_ERR
 * of the largest reference magnitude.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qtest.h"
#include "tensor_op_harness.h"

#define RESIZE_MAX_REL_ERR 1e-6
/* float16 output: half an ulp of the value plus the float error above. */
#define RESIZE_F16_REL_ERR (1.0 / 2048 + 1e-6)

typedef struct ref_resize {
  const char *mode, *coord, *nearest;
  double cubic_a, extrapolation;
  int exclude_outside;
  int legacy; /* opset 10 Resize / Upsample rounding */
  int rank;
  int64_t in[QI_MAX_RANK], out[QI_MAX_RANK];
  double scale[QI_MAX_RANK], roi_lo[QI_MAX_RANK], roi_hi[QI_MAX_RANK];
  int resized[QI_MAX_RANK];
} ref_resize;

static int is(const char *a, const char *b) { return strcmp(a, b) == 0; }

/* Coefficients for ratio in (0, 1] (1 when x_ori is an integer). */
static int ref_coeffs(const ref_resize *r, double ratio, double *c) {
  if (is(r->mode, "nearest")) {
    if (ratio == 1.0) {
      c[0] = 0;
      c[1] = 1;
      return 2;
    }
    const char *m = r->nearest;
    int right = is(m, "round_prefer_floor")  ? ratio > 0.5
                : is(m, "round_prefer_ceil") ? ratio >= 0.5
                : is(m, "floor")             ? 0
                                             : 1;
    c[0] = !right;
    c[1] = right;
    return 2;
  }
  if (is(r->mode, "linear")) {
    c[0] = 1 - ratio;
    c[1] = ratio;
    return 2;
  }
  double A = r->cubic_a, x = ratio;
  c[0] = ((A * (x + 1) - 5 * A) * (x + 1) + 8 * A) * (x + 1) - 4 * A;
  c[1] = ((A + 2) * x - (A + 3)) * x * x + 1;
  c[2] = ((A + 2) * (1 - x) - (A + 3)) * (1 - x) * (1 - x) + 1;
  c[3] = ((A * ((1 - x) + 1) - 5 * A) * ((1 - x) + 1) + 8 * A) * ((1 - x) + 1) -
         4 * A;
  return 4;
}

static double ref_x_ori(const ref_resize *r, int a, int64_t x, int *outside) {
  double in = (double)r->in[a], out = (double)r->out[a], s = r->scale[a];
  const char *m = r->coord;
  *outside = 0;
  if (is(m, "align_corners")) return out == 1 ? 0 : x * (in - 1) / (out - 1);
  if (is(m, "asymmetric")) return x / s;
  if (is(m, "tf_half_pixel_for_nn")) return (x + 0.5) / s;
  if (is(m, "pytorch_half_pixel")) return out == 1 ? 0 : (x + 0.5) / s - 0.5;
  if (is(m, "half_pixel_symmetric")) {
    double adj = out / (s * in), center = in / 2;
    return center * (1 - adj) + (x + 0.5) / s - 0.5;
  }
  if (is(m, "tf_crop_and_resize")) {
    double lo = r->roi_lo[a], hi = r->roi_hi[a];
    double v = out > 1 ? lo * (in - 1) + x * (hi - lo) * (in - 1) / (out - 1)
                       : 0.5 * (lo + hi) * (in - 1);
    *outside = v < 0 || v > in - 1;
    return v;
  }
  return (x + 0.5) / s - 0.5; /* half_pixel */
}

/* The value at output coordinate oc, interpolating axis a onwards over the
 * input block at `base`. */
static double ref_interp(const ref_resize *r, const double *data,
                         const int64_t *ist, int a, int64_t base,
                         const int64_t *oc) {
  if (a == r->rank) return data[base];
  if (!r->resized[a])
    return ref_interp(r, data, ist, a + 1, base + oc[a] * ist[a], oc);
  int outside;
  double x = ref_x_ori(r, a, oc[a], &outside);
  if (outside) return r->extrapolation;
  int64_t len = r->in[a];
  if (r->legacy && is(r->mode, "nearest")) {
    double v = r->scale[a] < 1 ? ceil(x) : trunc(x);
    int64_t i = v < 0 ? 0 : v > len - 1 ? len - 1 : (int64_t)v;
    return ref_interp(r, data, ist, a + 1, base + i * ist[a], oc);
  }
  double ratio = x == floor(x) ? 1.0 : x - floor(x), c[4];
  int n = ref_coeffs(r, ratio, c);
  /* The n indices closest to x (ties to the lower), within the axis padded
   * by ceil(n/2) on each side; values by edge padding. */
  int64_t pad = (n + 1) / 2, idx[4];
  int taken[64] = {0};
  for (int k = 0; k < n; k++) {
    int64_t best = 0;
    double bd = INFINITY;
    for (int64_t i = -pad; i < len + pad; i++) {
      if (taken[i + pad]) continue;
      double dd = fabs(x - (double)i);
      if (dd < bd) {
        bd = dd;
        best = i;
      }
    }
    taken[best + pad] = 1;
    idx[k] = best;
  }
  for (int k = 0; k < n; k++) /* sort ascending */
    for (int q = k + 1; q < n; q++)
      if (idx[q] < idx[k]) {
        int64_t t = idx[k];
        idx[k] = idx[q];
        idx[q] = t;
      }
  if (r->exclude_outside) {
    double sum = 0;
    for (int k = 0; k < n; k++) {
      if (idx[k] < 0 || idx[k] >= len) c[k] = 0;
      sum += c[k];
    }
    for (int k = 0; k < n; k++) c[k] /= sum;
  }
  double v = 0;
  for (int k = 0; k < n; k++) {
    int64_t i = idx[k] < 0 ? 0 : idx[k] >= len ? len - 1 : idx[k];
    if (c[k] != 0)
      v += c[k] * ref_interp(r, data, ist, a + 1, base + i * ist[a], oc);
  }
  return v;
}

/* One Resize case: X of shape r->in (float32 unless dt says otherwise),
 * scales or sizes over `axes` (all axes when naxes < 0). */
typedef struct resize_case {
  const char *op; /* "Resize" or "Upsample" */
  int64_t opset;
  const char *mode, *coord, *nearest;
  int rank;
  int64_t in[QI_MAX_RANK];
  int nvals; /* scales or sizes given (over axes) */
  float scales[QI_MAX_RANK];
  int64_t sizes[QI_MAX_RANK];
  int use_sizes;
  int naxes;
  int64_t axes[QI_MAX_RANK];
  float roi[2 * QI_MAX_RANK];
  double cubic_a;
  int exclude_outside;
  float extrapolation;
  int scales_attr; /* Upsample 7: scales as attribute */
  qi_dtype dt;
} resize_case;

static int run_resize(qt_state *st, const resize_case *rc, qi_pool *pool,
                      qi_status want) {
  qi_dtype dt = rc->dt ? rc->dt : QI_FLOAT32;
  ref_resize r;
  memset(&r, 0, sizeof r);
  r.mode = !rc->mode                  ? "nearest"
           : is(rc->mode, "bilinear") ? "linear"
                                      : rc->mode;
  int legacy = is(rc->op, "Upsample") || rc->opset < 11;
  r.coord = legacy ? "asymmetric" : rc->coord ? rc->coord : "half_pixel";
  r.nearest = rc->nearest ? rc->nearest : "round_prefer_floor";
  r.cubic_a = rc->cubic_a ? rc->cubic_a : -0.75;
  r.extrapolation = rc->extrapolation;
  r.exclude_outside = rc->exclude_outside;
  r.legacy = legacy;
  r.rank = rc->rank;
  int na = rc->naxes ? rc->naxes : rc->rank;
  for (int a = 0; a < rc->rank; a++) {
    r.in[a] = r.out[a] = rc->in[a];
    r.scale[a] = 1;
    r.roi_lo[a] = 0;
    r.roi_hi[a] = 1;
    r.resized[a] = rc->naxes == 0;
  }
  for (int i = 0; i < na; i++) {
    int a = (int)(rc->naxes ? (rc->axes[i] + rc->rank) % rc->rank : i);
    r.resized[a] = 1;
    if (rc->use_sizes) {
      r.out[a] = rc->sizes[i];
      r.scale[a] = (double)rc->sizes[i] / (double)rc->in[a];
    } else {
      r.scale[a] = rc->scales[i];
      r.out[a] = (int64_t)floor((double)rc->scales[i] * (double)rc->in[a]);
    }
    r.roi_lo[a] = rc->roi[i];
    r.roi_hi[a] = rc->roi[na + i];
  }
  int64_t n_in = th_numel(rc->rank, rc->in), n_out = th_numel(rc->rank, r.out);
  double *xd = malloc(sizeof(double) * (size_t)n_in);
  void *x = malloc((size_t)n_in * 8);
  for (int64_t i = 0; i < n_in; i++) {
    float f = th_randf();
    if (dt == QI_FLOAT32) ((float *)x)[i] = f;
    if (dt == QI_FLOAT64) ((double *)x)[i] = f;
    if (dt == QI_FLOAT16) { /* values exact in half precision */
      f = (float)((int)(f * 512)) / 512;
      uint16_t h = 0;
      if (f != 0) {
        int e;
        double m = frexp(fabs(f), &e); /* f = m * 2^e, m in [0.5, 1) */
        h = (uint16_t)(((e + 14) << 10) | ((int)(m * 2048) & 1023));
        if (f < 0) h |= 0x8000;
      }
      ((uint16_t *)x)[i] = h;
    }
    if (dt == QI_UINT8) ((uint8_t *)x)[i] = (uint8_t)th_rand();
    if (dt == QI_INT64) ((int64_t *)x)[i] = (int64_t)th_rand() * 1000;
    xd[i] = dt == QI_FLOAT32 || dt == QI_FLOAT64 || dt == QI_FLOAT16 ? f : 0;
  }
  qi_graph *g = th_graph(rc->opset);
  int ins[4] = {th_act(g, "x", dt, rc->rank, rc->in), -1, -1, -1};
  int64_t dn[1] = {na}, d2[1] = {2 * na};
  int nin = 1;
  if (is(rc->op, "Upsample")) {
    if (!rc->scales_attr)
      ins[1] = th_const(g, "scales", QI_FLOAT32, 1, dn, rc->scales), nin = 2;
  } else if (rc->opset < 11) {
    ins[1] = th_const(g, "scales", QI_FLOAT32, 1, dn, rc->scales);
    nin = 2;
  } else {
    if (rc->coord && is(rc->coord, "tf_crop_and_resize"))
      ins[1] = th_const(g, "roi", QI_FLOAT32, 1, d2, rc->roi);
    if (rc->use_sizes) {
      ins[3] = th_const_i64(g, "sizes", na, rc->sizes);
      nin = 4;
      if (rc->opset < 13) { /* an empty scales tensor before opset 13 */
        int64_t zero[1] = {0};
        ins[2] = th_const(g, "scales", QI_FLOAT32, 1, zero, rc->scales);
      }
    } else {
      ins[2] = th_const(g, "scales", QI_FLOAT32, 1, dn, rc->scales);
      nin = 3;
    }
  }
  int ni = th_node(g, rc->op, nin, ins, 1);
  if (rc->mode) th_attr_str(g, ni, "mode", rc->mode);
  if (rc->coord)
    th_attr_str(g, ni, "coordinate_transformation_mode", rc->coord);
  if (rc->nearest) th_attr_str(g, ni, "nearest_mode", rc->nearest);
  if (rc->cubic_a) th_attr_float(g, ni, "cubic_coeff_a", (float)rc->cubic_a);
  if (rc->exclude_outside) th_attr_int(g, ni, "exclude_outside", 1);
  if (rc->extrapolation)
    th_attr_float(g, ni, "extrapolation_value", rc->extrapolation);
  if (rc->naxes) th_attr_ints(g, ni, "axes", rc->naxes, rc->axes);
  if (rc->scales_attr) th_attr_floats(g, ni, "scales", na, rc->scales);
  th_out o;
  void *act[4] = {x, NULL, NULL, NULL};
  qi_status s = th_run_pool(g, ni, act, &o, pool);
  int bad = s != want;
  if (!bad && s == QI_OK) {
    bad = !th_shape_is(&o.buf[0], rc->rank, r.out);
    int64_t ist[QI_MAX_RANK], oc[QI_MAX_RANK];
    th_strides(rc->rank, rc->in, ist);
    double maxref = 0, maxerr = 0;
    for (int64_t i = 0; !bad && i < n_out; i++) {
      th_unravel(i, rc->rank, r.out, oc);
      if (dt == QI_UINT8 || dt == QI_INT64) { /* nearest: exact source */
        ref_resize rr = r; /* interpolate indices instead of values */
        double *pos = malloc(sizeof(double) * (size_t)n_in);
        for (int64_t k = 0; k < n_in; k++) pos[k] = (double)k;
        int64_t k = (int64_t)ref_interp(&rr, pos, ist, 0, 0, oc);
        free(pos);
        size_t es = qi_dtype_size(dt);
        bad = memcmp((char *)o.buf[0].data + i * (int64_t)es,
                     (char *)x + k * (int64_t)es, es) != 0;
        continue;
      }
      double ref = ref_interp(&r, xd, ist, 0, 0, oc), got;
      if (dt == QI_FLOAT32)
        got = ((float *)o.buf[0].data)[i];
      else if (dt == QI_FLOAT64)
        got = ((double *)o.buf[0].data)[i];
      else {
        uint16_t h = ((uint16_t *)o.buf[0].data)[i];
        int e = (h >> 10) & 31, m = h & 1023;
        got = e ? ldexp(1024 + m, e - 25) : ldexp(m, -24);
        if (h & 0x8000) got = -got;
      }
      if (is(r.mode, "nearest") && got != (dt == QI_FLOAT32 ? (float)ref : ref))
        bad = 1;
      maxref = fmax(maxref, fabs(ref));
      maxerr = fmax(maxerr, fabs(got - ref));
    }
    double tol = dt == QI_FLOAT16 ? RESIZE_F16_REL_ERR : RESIZE_MAX_REL_ERR;
    if (maxerr > tol * fmax(maxref, 1e-30)) bad = 1;
    if (bad) fprintf(stderr, "  max err %.3g of max %.3g\n", maxerr, maxref);
  }
  QT_CHECKF(st, !bad,
            "%s opset %lld mode %s coord %s nearest %s %s: status %d (%s)",
            rc->op, (long long)rc->opset, r.mode, r.coord, r.nearest,
            rc->use_sizes ? "sizes" : "scales", (int)s, o.err.message);
  th_done(&o);
  qi_graph_free(g);
  free(x);
  free(xd);
  return bad;
}

static const char *const coords[] = {
    "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners",
    "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
static const char *const nearests[] = {"round_prefer_floor",
                                       "round_prefer_ceil", "floor", "ceil"};

/* NCHW shapes with spatial up- and downsampling, scales and sizes, odd
 * sizes and 1-element outputs. */
static const struct {
  int64_t in[4];
  float scales[4];
  int64_t sizes[4];
} spatial[] = {
    {{1, 2, 5, 7}, {1, 1, 2, 3}, {1, 2, 9, 4}},
    {{2, 1, 5, 7}, {1, 1, 0.6f, 0.43f}, {2, 1, 3, 10}},
    {{1, 3, 4, 4}, {1, 1, 1.7f, 0.5f}, {1, 3, 1, 1}},
    {{1, 1, 3, 1}, {1, 1, 2.5f, 3}, {1, 1, 7, 2}},
};

static void test_resize_modes(qt_state *st) {
  int bad = 0, runs = 0;
  static const char *const modes[3] = {"nearest", "linear", "cubic"};
  for (int m = 0; m < 3; m++)
    for (int c = 0; c < 7; c++)
      for (int nm = 0; nm < (m == 0 ? 4 : 1); nm++)
        for (size_t sp = 0; sp < sizeof spatial / sizeof spatial[0]; sp++)
          for (int use_sizes = 0; use_sizes <= 1; use_sizes++) {
            resize_case rc;
            memset(&rc, 0, sizeof rc);
            rc.op = "Resize";
            rc.opset = c == 1 ? 19 : 13;
            rc.mode = modes[m];
            rc.coord = coords[c];
            rc.nearest = m == 0 ? nearests[nm] : NULL;
            rc.rank = 4;
            memcpy(rc.in, spatial[sp].in, sizeof rc.in[0] * 4);
            memcpy(rc.scales, spatial[sp].scales, sizeof rc.scales[0] * 4);
            memcpy(rc.sizes, spatial[sp].sizes, sizeof rc.sizes[0] * 4);
            rc.use_sizes = use_sizes;
            float roi[8] = {0, 0, 0.2f, -0.1f, 1, 1, 0.85f, 1.3f};
            memcpy(rc.roi, roi, sizeof roi);
            rc.extrapolation = c == 6 ? 10.0f : 0.0f;
            bad += run_resize(st, &rc, NULL, QI_OK);
            runs++;
          }
  QT_CHECKF(st, bad == 0, "%d of %d cases failed", bad, runs);
}

static void test_resize_nd(qt_state *st) {
  resize_case rc;
  /* Trilinear on a 5-D tensor, sizes. */
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 13;
  rc.mode = "linear";
  rc.rank = 5;
  memcpy(rc.in, (int64_t[]){1, 2, 3, 4, 5}, 5 * sizeof(int64_t));
  memcpy(rc.sizes, (int64_t[]){1, 2, 5, 3, 7}, 5 * sizeof(int64_t));
  rc.use_sizes = 1;
  run_resize(st, &rc, NULL, QI_OK);
  /* Linear over N and C, spatial axes untouched. */
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 13;
  rc.mode = "linear";
  rc.rank = 4;
  rc.coord = "align_corners";
  memcpy(rc.in, (int64_t[]){3, 4, 2, 3}, 4 * sizeof(int64_t));
  memcpy(rc.scales, (float[]){2, 0.5f, 1, 1}, 4 * sizeof(float));
  run_resize(st, &rc, NULL, QI_OK);
  /* Cubic with A = -0.5 and exclude_outside; 1-D and 3-D. */
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 13;
  rc.mode = "cubic";
  rc.rank = 3;
  rc.cubic_a = -0.5;
  rc.exclude_outside = 1;
  memcpy(rc.in, (int64_t[]){2, 5, 6}, 3 * sizeof(int64_t));
  memcpy(rc.scales, (float[]){1, 1.6f, 0.7f}, 3 * sizeof(float));
  run_resize(st, &rc, NULL, QI_OK);
  rc.rank = 1;
  rc.in[0] = 9;
  rc.scales[0] = 2.3f;
  run_resize(st, &rc, NULL, QI_OK);
  /* Opset 18 axes attribute with negative axes; sizes for H, W only. */
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 18;
  rc.mode = "linear";
  rc.rank = 4;
  memcpy(rc.in, (int64_t[]){1, 3, 4, 5}, 4 * sizeof(int64_t));
  rc.naxes = 2;
  rc.axes[0] = -1;
  rc.axes[1] = 2;
  rc.use_sizes = 1;
  rc.sizes[0] = 9;
  rc.sizes[1] = 3;
  run_resize(st, &rc, NULL, QI_OK);
  /* Opset 11: sizes with an empty scales input. */
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 11;
  rc.mode = "nearest";
  rc.rank = 4;
  rc.coord = "asymmetric";
  rc.nearest = "floor";
  memcpy(rc.in, (int64_t[]){1, 2, 3, 3}, 4 * sizeof(int64_t));
  memcpy(rc.sizes, (int64_t[]){1, 2, 8, 5}, 4 * sizeof(int64_t));
  rc.use_sizes = 1;
  run_resize(st, &rc, NULL, QI_OK);
  /* Other dtypes: nearest moves uint8 and int64; linear on float16/64. */
  rc.opset = 13;
  rc.dt = QI_UINT8;
  run_resize(st, &rc, NULL, QI_OK);
  rc.dt = QI_INT64;
  rc.nearest = "round_prefer_ceil";
  rc.coord = "half_pixel";
  run_resize(st, &rc, NULL, QI_OK);
  rc.mode = "linear";
  rc.dt = QI_FLOAT16;
  run_resize(st, &rc, NULL, QI_OK);
  rc.dt = QI_FLOAT64;
  rc.mode = "cubic";
  run_resize(st, &rc, NULL, QI_OK);
  rc.dt = QI_UINT8;
  rc.mode = "linear";
  run_resize(st, &rc, NULL, QI_ERR_UNSUPPORTED);
  /* Large enough for the thread pool. */
  qi_pool *pool = qi_pool_create(2);
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 13;
  rc.mode = "linear";
  rc.rank = 4;
  memcpy(rc.in, (int64_t[]){1, 8, 48, 40}, 4 * sizeof(int64_t));
  memcpy(rc.scales, (float[]){1, 1, 2, 2}, 4 * sizeof(float));
  run_resize(st, &rc, pool, QI_OK);
  rc.mode = "nearest";
  memcpy(rc.scales, (float[]){1, 1, 2, 3}, 4 * sizeof(float));
  run_resize(st, &rc, pool, QI_OK);
  qi_pool_free(pool);
}

/* Opset 10 Resize and Upsample 7/9: asymmetric, legacy nearest rounding. */
static void test_resize_legacy(qt_state *st) {
  static const float sc[][4] = {
      {1, 1, 2, 3}, {1, 1, 0.5f, 0.6f}, {1, 1, 1.5f, 2.5f}};
  for (int v = 0; v < 4; v++)
    for (int s = 0; s < 3; s++)
      for (int lin = 0; lin <= 1; lin++) {
        resize_case rc;
        memset(&rc, 0, sizeof rc);
        rc.op = v == 0 ? "Resize" : "Upsample";
        rc.opset = v == 0 ? 10 : v == 1 ? 7 : 9;
        rc.scales_attr = v == 1;
        rc.mode = lin ? (v == 2 ? "bilinear" : "linear") : "nearest";
        rc.rank = 4;
        memcpy(rc.in, (int64_t[]){1, 2, 5, 4}, 4 * sizeof(int64_t));
        memcpy(rc.scales, sc[s], sizeof sc[s]);
        run_resize(st, &rc, NULL, QI_OK);
      }
}

static void test_resize_errors(qt_state *st) {
  resize_case rc;
  memset(&rc, 0, sizeof rc);
  rc.op = "Resize";
  rc.opset = 13;
  rc.mode = "nearest";
  rc.rank = 4;
  memcpy(rc.in, (int64_t[]){1, 1, 4, 4}, 4 * sizeof(int64_t));
  memcpy(rc.scales, (float[]){1, 1, 2, 2}, 4 * sizeof(float));
  rc.mode = "area";
  run_resize(st, &rc, NULL, QI_ERR_UNSUPPORTED);
  rc.mode = "linear";
  rc.scales[2] = 0;
  run_resize(st, &rc, NULL, QI_ERR_SHAPE);
  /* antialias, keep_aspect_ratio_policy and a non-constant scales input. */
  const char *attr[2] = {"antialias", "keep_aspect_ratio_policy"};
  for (int k = 0; k < 3; k++) {
    qi_graph *g = th_graph(18);
    int64_t d[4] = {1, 1, 4, 4}, d4[1] = {4};
    float sc[4] = {1, 1, 0.5f, 0.5f};
    int ins[3] = {th_act(g, "x", QI_FLOAT32, 4, d), -1,
                  k == 2 ? th_act(g, "s", QI_FLOAT32, 1, d4)
                         : th_const(g, "s", QI_FLOAT32, 1, d4, sc)};
    int ni = th_node(g, "Resize", 3, ins, 1);
    th_attr_str(g, ni, "mode", "linear");
    if (k == 0) th_attr_int(g, ni, attr[0], 1);
    if (k == 1) th_attr_str(g, ni, attr[1], "not_larger");
    th_out o;
    void *act[3] = {NULL, NULL, NULL};
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_UNSUPPORTED);
    QT_CHECK(st, strstr(o.err.message, k == 2 ? "not constant" : attr[k]));
    th_done(&o);
    qi_graph_free(g);
  }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_resize_modes);
  QT_RUN(&st, test_resize_nd);
  QT_RUN(&st, test_resize_legacy);
  QT_RUN(&st, test_resize_errors);
  return qt_summary(&st);
}
