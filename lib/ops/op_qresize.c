/*
 * QiQResize (lib/quant/README.md): nearest or bilinear Resize of a uint8
 * NHWC tensor [N, H, W, C] over H and W, on the kernels of
 * kernels/qpool/resize.h (per-axis plans built once at prepare by
 * resize_plan.c; that header writes the coordinate transforms, the nearest
 * rounding and the fixed-point bilinear weights down).
 *
 * Attributes: mode (int: 0 nearest, 1 bilinear), coordinate_transformation_
 * mode (half_pixel, pytorch_half_pixel, align_corners or asymmetric; the
 * kernels have no half_pixel_symmetric, tf_half_pixel_for_nn or
 * tf_crop_and_resize), nearest_mode (round_prefer_floor, round_prefer_ceil,
 * floor, ceil), sizes (4 ints, the NHWC output shape; N and C unchanged).
 * The coordinate transforms use scale = out / in per axis, unless the
 * optional `scales` attribute (4 floats, NHWC, as the original node gave
 * them; floor(scale * in) must equal sizes) keeps ONNX's own scale.
 *
 * Nearest copies bytes; when the output quantization differs from the
 * input's (or the clamp is narrowed) the copied rows go through the
 * requantization table of Concat (qlut/qlut.h). Bilinear requantizes in
 * its own output rule.
 *
 * Threads: batch x output rows are split across the session's pool.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op.h"
#include "ops/qop_util.h"
#include "qlut/qlut.h"

#define QRESIZE_MAX_SIZE ((int64_t)1 << 30) /* bound on an output H or W */

typedef struct qresize_state {
  int bilinear;
  size_t batch;
  qi_u8_resize_geom g;
  int64_t in_numel, out_numel;
  qi_u8_resize_nearest_fn nearest_fn;
  qi_u8_resize_bilinear_fn bilinear_fn;
  qi_u8_lut_fn lut;
  /* Nearest: source rows and columns. Bilinear: per-axis taps/weights. */
  size_t *iy, *ix;
  size_t *y0, *y1, *x0, *x1;
  int32_t *wy, *wx;
  qi_u8_resize_params p;
  int requant; /* nearest: output through table */
  uint8_t table[256];
} qresize_state;

/* Attributes read and checked (shape-independent part). */
typedef struct qresize_attrs {
  int bilinear;
  qi_resize_coord coord;
  qi_resize_nearest_mode nearest;
  int64_t sizes[4];
  int have_scales;
  double scales[4];
} qresize_attrs;

static qi_status pick_string(const qi_node *n, const char *attr,
                             const char *def, const char *const *names,
                             int count, const char *unsupported, int *out,
                             qi_error *err) {
  const qi_attr *a = qi_attr_find(n, attr);
  if (a && a->type != QI_ATTR_STRING)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): attribute %s must be a string", n->name,
                   n->op_type, attr);
  const char *s = a && a->s ? a->s : def;
  for (int i = 0; i < count; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return QI_OK;
    }
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): %s '%s' is not supported by the uint8 "
                 "Resize (%s)",
                 n->name, n->op_type, attr, s, unsupported);
}

static qi_status qresize_attrs_read(const qi_node *n, qresize_attrs *at,
                                    qi_error *err) {
  /* Orders match qi_resize_coord and qi_resize_nearest_mode. */
  static const char *const coords[] = {"half_pixel", "pytorch_half_pixel",
                                       "align_corners", "asymmetric"};
  static const char *const nearests[] = {"round_prefer_floor",
                                         "round_prefer_ceil", "floor", "ceil"};
  memset(at, 0, sizeof *at);
  const qi_attr *m = qi_attr_find(n, "mode");
  if (m && m->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): attribute mode must be an int (0 nearest, "
                   "1 bilinear)",
                   n->name, n->op_type);
  int64_t mode = m ? m->i : 0;
  if (mode != 0 && mode != 1)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): mode %lld (0 nearest or 1 bilinear "
                   "supported)",
                   n->name, n->op_type, (long long)mode);
  at->bilinear = mode == 1;
  int c = 0, nm = 0;
  QI_TRY(pick_string(n, "coordinate_transformation_mode", "half_pixel", coords,
                     4, "half_pixel, pytorch_half_pixel, align_corners or "
                     "asymmetric", &c, err));
  QI_TRY(pick_string(n, "nearest_mode", "round_prefer_floor", nearests, 4,
                     "round_prefer_floor, round_prefer_ceil, floor or ceil",
                     &nm, err));
  at->coord = (qi_resize_coord)c;
  at->nearest = (qi_resize_nearest_mode)nm;
  const int64_t *sz;
  int cnt = qi_attr_ints(n, "sizes", &sz);
  if (cnt != 4)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): attribute sizes needs 4 ints (NHWC), has "
                   "%d",
                   n->name, n->op_type, cnt < 0 ? 0 : cnt);
  for (int i = 0; i < 4; i++) {
    if (sz[i] < 1 || sz[i] > QRESIZE_MAX_SIZE)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): sizes[%d] = %lld out of range", n->name,
                     n->op_type, i, (long long)sz[i]);
    at->sizes[i] = sz[i];
  }
  const float *sc;
  int ns = qi_attr_floats(n, "scales", &sc);
  if (ns >= 0) {
    if (ns != 4)
      return qi_fail(err, QI_ERR_PARSE,
                     "node '%s' (%s): attribute scales needs 4 floats "
                     "(NHWC), has %d",
                     n->name, n->op_type, ns);
    for (int i = 0; i < 4; i++) {
      if (!isfinite(sc[i]) || !(sc[i] > 0.0f))
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): scales[%d] = %g is not finite > 0",
                       n->name, n->op_type, i, (double)sc[i]);
      at->scales[i] = sc[i];
    }
    at->have_scales = 1;
  }
  return QI_OK;
}

static qi_status qresize_check(const qi_graph *g, const qi_node *n,
                               qi_error *err) {
  (void)g;
  qresize_attrs at;
  QI_TRY(qi_qop_check_unary(n, err));
  return qresize_attrs_read(n, &at, err);
}

/* Attributes checked against the input shape; the output shape. */
static qi_status qresize_shape(const qi_graph *g, const qi_node *n,
                               qresize_attrs *at, qi_shape *out,
                               qi_error *err) {
  QI_TRY(qresize_check(g, n, err));
  QI_TRY(qi_qop_check_u8_inputs(g, n, err));
  QI_TRY(qresize_attrs_read(n, at, err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  char sx[96];
  if (x->rank != 4)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input %s is not rank 4 NHWC", n->name,
                   n->op_type, qi_shape_str(x, sx, sizeof sx));
  if (at->sizes[0] != x->d[0] || at->sizes[3] != x->d[3])
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): sizes [%lld,%lld,%lld,%lld] change N or C "
                   "of input %s (only H and W are resized)",
                   n->name, n->op_type, (long long)at->sizes[0],
                   (long long)at->sizes[1], (long long)at->sizes[2],
                   (long long)at->sizes[3], qi_shape_str(x, sx, sizeof sx));
  if (x->d[1] < 1 || x->d[2] < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input %s has an empty image", n->name,
                   n->op_type, qi_shape_str(x, sx, sizeof sx));
  if (at->have_scales) {
    for (int i = 0; i < 4; i++) {
      double o = floor(at->scales[i] * (double)x->d[i]);
      if (o != (double)at->sizes[i])
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): scales[%d] = %g of input dim %lld "
                       "gives %g, but sizes[%d] = %lld",
                       n->name, n->op_type, i, at->scales[i],
                       (long long)x->d[i], o, i, (long long)at->sizes[i]);
    }
  } else {
    for (int i = 0; i < 4; i++)
      at->scales[i] = (double)at->sizes[i] / (double)x->d[i];
  }
  *out = (qi_shape){.rank = 4,
                    .d = {at->sizes[0], at->sizes[1], at->sizes[2],
                          at->sizes[3]}};
  if (qi_qop_numel(out) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): output too large",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status qresize_infer(qi_graph *g, qi_node *n, qi_error *err) {
  qresize_attrs at;
  qi_shape out;
  QI_TRY(qresize_shape(g, n, &at, &out, err));
  qi_set_output(g, n, 0, QI_UINT8, &out);
  return QI_OK;
}

static void qresize_free_state(void *state) {
  qresize_state *s = state;
  if (!s) return;
  free(s->iy);
  free(s->ix);
  free(s->y0);
  free(s->y1);
  free(s->x0);
  free(s->x1);
  free(s->wy);
  free(s->wx);
  free(s);
}

/* Allocates the plan arrays of s; 0 on no memory. */
static int plans_alloc(qresize_state *s) {
  size_t oh = s->g.out_h, ow = s->g.out_w;
  if (!s->bilinear) {
    s->iy = malloc(oh * sizeof(size_t));
    s->ix = malloc(ow * sizeof(size_t));
    return s->iy && s->ix;
  }
  s->y0 = malloc(oh * sizeof(size_t));
  s->y1 = malloc(oh * sizeof(size_t));
  s->x0 = malloc(ow * sizeof(size_t));
  s->x1 = malloc(ow * sizeof(size_t));
  s->wy = malloc(oh * sizeof(int32_t));
  s->wx = malloc(ow * sizeof(int32_t));
  return s->y0 && s->y1 && s->x0 && s->x1 && s->wy && s->wx;
}

static qi_status qresize_prepare(const qi_graph *g, qi_node *n,
                                 qi_error *err) {
  qresize_attrs at;
  qi_shape out;
  QI_TRY(qresize_shape(g, n, &at, &out, err));
  qi_qop_unary_quant q;
  QI_TRY(qi_qop_unary_quant_of(g, n, &q, err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  qresize_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  s->bilinear = at.bilinear;
  s->batch = (size_t)x->d[0];
  s->g = (qi_u8_resize_geom){.in_h = (size_t)x->d[1], .in_w = (size_t)x->d[2],
                             .c = (size_t)x->d[3], .out_h = (size_t)out.d[1],
                             .out_w = (size_t)out.d[2], .x_pix = (size_t)x->d[3],
                             .y_pix = (size_t)x->d[3]};
  s->in_numel = qi_qop_numel(x);
  s->out_numel = qi_qop_numel(&out);
  if (!plans_alloc(s)) {
    qresize_free_state(s);
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (%s): out of memory for the resize plans",
                   n->name, n->op_type);
  }
  const qi_qelt_config *cfg = qi_qop_qelt_config();
  s->nearest_fn = cfg->resize_nearest;
  s->bilinear_fn = cfg->resize_bilinear;
  s->lut = cfg->lut;
  const qi_u8_resize_geom *geo = &s->g;
  if (s->bilinear) {
    qi_resize_linear_plan(at.coord, geo->in_h, geo->out_h, at.scales[1], s->y0,
                          s->y1, s->wy);
    qi_resize_linear_plan(at.coord, geo->in_w, geo->out_w, at.scales[2], s->x0,
                          s->x1, s->wx);
    s->p = qi_u8_resize_params_make(q.x.scale, q.x.zero, q.y.scale, q.y.zero,
                                    q.qmin, q.qmax);
  } else {
    qi_resize_nearest_plan(at.coord, at.nearest, geo->in_h, geo->out_h,
                           at.scales[1], s->iy);
    qi_resize_nearest_plan(at.coord, at.nearest, geo->in_w, geo->out_w,
                           at.scales[2], s->ix);
    s->requant = qi_qop_requant_table(q.x, q.y, q.qmin, q.qmax, s->table);
  }
  qresize_free_state(n->state);
  n->state = s;
  return QI_OK;
}

typedef struct qresize_job {
  const qresize_state *s;
  const uint8_t *x;
  uint8_t *y;
} qresize_job;

/* Output rows [r0, r1) of image b (qi_qop_run_rows). */
static void qresize_rows(const void *arg, size_t b, size_t r0, size_t r1) {
  const qresize_job *j = arg;
  const qresize_state *s = j->s;
  const qi_u8_resize_geom *g = &s->g;
  size_t in_img = g->in_h * g->in_w * g->c, row = g->out_w * g->c;
  const uint8_t *x = j->x + b * in_img;
  uint8_t *y = j->y + b * g->out_h * row;
  if (s->bilinear) {
    qi_resize_linear_axis ay = {s->y0, s->y1, s->wy};
    qi_resize_linear_axis ax = {s->x0, s->x1, s->wx};
    s->bilinear_fn(g, &ay, &ax, &s->p, x, y, r0, r1);
  } else {
    s->nearest_fn(g, s->iy, s->ix, x, y, r0, r1);
    if (s->requant)
      s->lut(r1 - r0, row, y + r0 * row, row, y + r0 * row, row, s->table);
  }
}

static qi_status qresize_run(const qi_run_ctx *ctx, const qi_node *n,
                             const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qresize_state *s = n->state;
  QI_TRY(qi_qop_run_buf(ctx, n, &in[0], "input", 0, s->in_numel));
  QI_TRY(qi_qop_run_buf(ctx, n, &out[0], "output", 0, s->out_numel));
  if (s->out_numel == 0) return QI_OK;
  qresize_job j = {.s = s, .x = in[0].data, .y = out[0].data};
  double work = (double)(s->g.out_w * s->g.c) * (s->bilinear ? 4.0 : 1.0);
  qi_qop_run_rows(ctx->pool, ctx->nthreads, s->batch, s->g.out_h, work,
                  qresize_rows, &j);
  return QI_OK;
}

const qi_op_def qi_op_qresize = {.op_type = "QiQResize",
                                 .check = qresize_check,
                                 .infer = qresize_infer,
                                 .prepare = qresize_prepare,
                                 .free_state = qresize_free_state,
                                 .run = qresize_run};
