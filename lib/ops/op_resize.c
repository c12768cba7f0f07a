/*
 * Resize (opsets 10..21) and Upsample (7..9).
 *
 * Every output coordinate x along an axis maps to an input coordinate
 * x_ori by the coordinate transformation mode (with `scale` the given
 * scale, or out/in when sizes are given):
 *   half_pixel            (x + 0.5) / scale - 0.5
 *   half_pixel_symmetric  c * (1 - out / (scale * in)) + (x + 0.5) / scale
 *                         - 0.5, with c = in / 2
 *   pytorch_half_pixel    out > 1 ? (x + 0.5) / scale - 0.5 : 0
 *   align_corners         out > 1 ? x * (in - 1) / (out - 1) : 0
 *   asymmetric            x / scale
 *   tf_half_pixel_for_nn  (x + 0.5) / scale
 *   tf_crop_and_resize    out > 1 ? lo * (in - 1) + x * (hi - lo) * (in - 1)
 *                         / (out - 1) : (lo + hi) / 2 * (in - 1); outside
 *                         [0, in - 1] gives extrapolation_value
 * and from x_ori to at most four taps (input index, weight) per axis:
 * nearest rounds by nearest_mode, linear weights the two neighbours by
 * 1 - r and r (r = x_ori - floor(x_ori)), cubic uses the four Keys
 * coefficients with cubic_coeff_a. Indices outside the axis are clamped
 * (edge padding), as the ONNX reference does. N-D interpolation is the
 * product of the per-axis taps, so bilinear/trilinear and resizing of any
 * axis (N and C included) come out of one kernel.
 *
 * Opset 10 Resize and Upsample use asymmetric coordinates and the legacy
 * nearest rounding (ceil when downsampling, truncation otherwise).
 *
 * `out` above is the integer output length, as in onnxruntime. The ONNX
 * Python reference uses scale * in instead, which differs only when that
 * product is fractional: its align_corners downsampling tests
 * (test_resize_downsample_scales_{linear,cubic}_align_corners) expect
 * other values, and onnxruntime fails them the same way.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"
#include "ops/op_resize.h"
#include "ops/op_tensor_util.h"

static int is_upsample(const qi_node *n) {
  return strcmp(n->op_type, "Upsample") == 0;
}

/* Opset 10 Resize has exactly (X, scales); 11+ has roi in second place. */
static int is_legacy(const qi_node *n) { return is_upsample(n) || n->nin == 2; }

static qi_status pick(const qi_node *n, const char *attr, const char *def,
                      const char *const *names, int count, int *out,
                      qi_error *err) {
  const char *s = qi_attr_str(n, attr, def);
  for (int i = 0; i < count; i++)
    if (strcmp(s, names[i]) == 0) {
      *out = i;
      return QI_OK;
    }
  return qi_fail(err, QI_ERR_UNSUPPORTED, "node '%s' (%s): %s '%s'", n->name,
                 n->op_type, attr, s);
}

static qi_status cfg_attrs(const qi_node *n, resize_cfg *c, qi_error *err) {
  static const char *const modes[] = {"nearest", "linear", "cubic", "bilinear"};
  static const char *const coords[] = {
      "half_pixel",        "half_pixel_symmetric", "pytorch_half_pixel",
      "align_corners",     "asymmetric",           "tf_half_pixel_for_nn",
      "tf_crop_and_resize"};
  static const char *const nearests[] = {"round_prefer_floor",
                                         "round_prefer_ceil", "floor", "ceil"};
  int m = 0, ct = CT_ASYMMETRIC, nm = NM_LEGACY;
  QI_TRY(pick(n, "mode", "nearest", modes, is_upsample(n) ? 4 : 3, &m, err));
  c->mode = m == 3 ? RM_LINEAR : (resize_mode)m;
  if (!is_legacy(n)) {
    QI_TRY(pick(n, "coordinate_transformation_mode", "half_pixel", coords, 7,
                &ct, err));
    QI_TRY(
        pick(n, "nearest_mode", "round_prefer_floor", nearests, 4, &nm, err));
  }
  c->coord = (coord_mode)ct;
  c->nearest = (nearest_mode)nm;
  c->cubic_a = qi_attr_float(n, "cubic_coeff_a", -0.75f);
  c->exclude_outside = qi_attr_int(n, "exclude_outside", 0) != 0;
  c->extrapolation = qi_attr_float(n, "extrapolation_value", 0.0f);
  if (qi_attr_int(n, "antialias", 0) != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Resize): antialias=1 is not supported", n->name);
  if (strcmp(qi_attr_str(n, "keep_aspect_ratio_policy", "stretch"),
             "stretch") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Resize): keep_aspect_ratio_policy '%s' is not "
                   "supported",
                   n->name,
                   qi_attr_str(n, "keep_aspect_ratio_policy", "stretch"));
  return QI_OK;
}

/* v[0..3] are X, roi, scales, sizes in the opset 11 layout (opset 10 and
 * Upsample are mapped onto it by the callers); data == NULL when absent. */
static qi_status cfg_make(const qi_node *n, const qi_shape *in, const qi_buf *v,
                          resize_cfg *c, qi_error *err) {
  QI_TRY(cfg_attrs(n, c, err));
  int r = in->rank;
  if (r < 1)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input is a scalar",
                   n->name, n->op_type);
  c->rank = r;
  int axes[QI_MAX_RANK], na = r;
  const int64_t *ax;
  int nax = qi_attr_ints(n, "axes", &ax);
  if (nax >= 0) {
    if (nax > r)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): %d axes for rank %d",
                     n->name, n->op_type, nax, r);
    na = nax;
  }
  for (int i = 0; i < r; i++) {
    c->resized[i] = nax < 0;
    c->scale[i] = 1.0;
    c->roi_lo[i] = 0.0;
    c->roi_hi[i] = 1.0;
    c->out[i] = in->d[i];
  }
  for (int i = 0; i < na; i++) {
    axes[i] = nax < 0 ? i : qi_norm_axis(ax[i], r);
    if (axes[i] < 0 || (nax >= 0 && c->resized[axes[i]]))
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): axis %lld out of range or repeated",
                     n->name, n->op_type, (long long)(nax < 0 ? i : ax[i]));
    c->resized[axes[i]] = 1;
  }
  double scales[QI_MAX_RANK], roi[2 * QI_MAX_RANK];
  int64_t sizes[QI_MAX_RANK];
  int ns = v[2].data ? qi_opt_buf_reals(&v[2], scales, QI_MAX_RANK) : 0;
  int nz = v[3].data ? qi_opt_buf_ints(&v[3], sizes, QI_MAX_RANK) : 0;
  if (ns < 0 || nz < 0 || (ns > 0) == (nz > 0) || (ns && ns != na) ||
      (nz && nz != na))
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): needs either %d scales or %d sizes",
                   n->name, n->op_type, na, na);
  for (int i = 0; i < na; i++) {
    int a = axes[i];
    if (ns) {
      double o = floor(scales[i] * (double)in->d[a]);
      if (!(scales[i] > 0.0) || !(o <= (double)QI_OPT_MAX_NUMEL))
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): scale %g on axis %d is invalid",
                       n->name, n->op_type, scales[i], a);
      c->scale[a] = scales[i];
      c->out[a] = (int64_t)o;
    } else {
      if (sizes[i] < 1 || in->d[a] < 1 || sizes[i] > QI_OPT_MAX_NUMEL)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): size %lld on axis %d is invalid",
                       n->name, n->op_type, (long long)sizes[i], a);
      c->out[a] = sizes[i];
      c->scale[a] = (double)sizes[i] / (double)in->d[a];
    }
  }
  if (c->coord == CT_TF_CROP_AND_RESIZE) {
    int nr = v[1].data ? qi_opt_buf_reals(&v[1], roi, 2 * QI_MAX_RANK) : -1;
    if (nr != 2 * na)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): tf_crop_and_resize needs %d roi values",
                     n->name, n->op_type, 2 * na);
    for (int i = 0; i < na; i++) {
      c->roi_lo[axes[i]] = roi[i];
      c->roi_hi[axes[i]] = roi[na + i];
    }
  }
  return QI_OK;
}

/* Maps the node's inputs onto the opset 11 layout of cfg_make. */
static void map_inputs(const qi_node *n, const qi_buf *in, qi_buf *v,
                       double *attr_scales, int64_t nattr) {
  memset(v, 0, 4 * sizeof *v);
  v[0] = in[0];
  if (is_legacy(n)) {
    if (n->nin > 1) v[2] = in[1];
    if (nattr >= 0) {
      v[2].dtype = QI_FLOAT64;
      v[2].shape = (qi_shape){.rank = 1, .d = {nattr}};
      v[2].data = attr_scales;
    }
  } else {
    for (int k = 1; k < 4 && k < n->nin; k++) v[k] = in[k];
  }
}

/* Upsample 7/8 keeps its scales in an attribute. */
static int attr_scales(const qi_node *n, double *out) {
  const float *f;
  int cnt = qi_attr_floats(n, "scales", &f);
  if (cnt > QI_MAX_RANK) return QI_MAX_RANK + 1;
  for (int i = 0; i < cnt; i++) out[i] = f[i];
  return cnt;
}

static qi_status resize_infer(qi_graph *g, qi_node *n, qi_error *err) {
  int up = is_upsample(n);
  QI_TRY(qi_check_inputs(n, 1, up ? 2 : 4, err));
  if (!up && n->nin < 2)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Resize): no scales or "
                   "sizes input",
                   n->name);
  if (!up && n->nin == 2 && g->opset >= 11)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Resize): opset %lld needs scales or sizes "
                   "after roi",
                   n->name, (long long)g->opset);
  qi_dtype dt = qi_in_dtype(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, dt, err));
  /* Bind constant inputs as buffers; the shape-determining ones must be
   * constant. roi matters only for tf_crop_and_resize. */
  static const char *const what_new[4] = {"X", "roi", "scales", "sizes"};
  qi_buf in[4];
  memset(in, 0, sizeof in);
  in[0] = (qi_buf){dt, *qi_in_shape(g, n, 0), NULL};
  resize_cfg c;
  QI_TRY(cfg_attrs(n, &c, err));
  for (int k = 1; k < n->nin; k++) {
    if (n->in[k] < 0) continue;
    int legacy = is_legacy(n);
    if (!legacy && k == 1 && c.coord != CT_TF_CROP_AND_RESIZE) continue;
    QI_TRY(qi_opt_const_buf(g, n, k, legacy ? "scales" : what_new[k], &in[k],
                            err));
  }
  double as[QI_MAX_RANK + 1];
  int nas = attr_scales(n, as);
  qi_buf v[4];
  map_inputs(n, in, v, as, nas);
  QI_TRY(cfg_make(n, &in[0].shape, v, &c, err));
  if (c.mode != RM_NEAREST && dt != QI_FLOAT32 && dt != QI_FLOAT64 &&
      dt != QI_FLOAT16)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s interpolation of %s data", n->name,
                   n->op_type, c.mode == RM_LINEAR ? "linear" : "cubic",
                   qi_dtype_name(dt));
  /* Interpolation over many axes multiplies taps: keep it bounded. */
  int64_t combos = 1;
  for (int a = 0; a + 1 < c.rank; a++)
    if (c.resized[a] && c.mode != RM_NEAREST)
      combos *= c.mode == RM_LINEAR ? 2 : 4;
  if (combos > RESIZE_MAX_COMBOS)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): interpolation over %d axes", n->name,
                   n->op_type, c.rank);
  qi_shape o = {.rank = c.rank};
  memcpy(o.d, c.out, sizeof(int64_t) * (size_t)c.rank);
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, dt, &o);
  return QI_OK;
}

static size_t resize_scratch(const qi_graph *g, const qi_node *n,
                             int nthreads) {
  if (n->nout < 1 || n->out[0] < 0) return 0;
  const qi_shape *s = &g->tensors[n->out[0]].shape;
  return s->rank > 0 ? qi_resize_scratch_bytes(s->d, s->rank,
                                               nthreads > 1 ? nthreads : 1)
                     : 0;
}

static qi_status resize_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  qi_error *err = ctx ? ctx->err : NULL;
  double as[QI_MAX_RANK + 1];
  int nas = attr_scales(n, as);
  qi_buf v[4];
  map_inputs(n, in, v, as, nas);
  resize_cfg c;
  QI_TRY(cfg_make(n, &in[0].shape, v, &c, err));
  if (memcmp(c.out, out[0].shape.d, sizeof(int64_t) * (size_t)c.rank) != 0)
    return qi_fail(err, QI_ERR_INTERNAL,
                   "node '%s' (%s): output shape differs from inference",
                   n->name, n->op_type);
  if (qi_resize_execute(&c, &in[0], &out[0], ctx ? ctx->pool : NULL,
                        ctx ? ctx->scratch : NULL,
                        ctx ? ctx->scratch_bytes : 0) != QI_OK)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): no memory for tables",
                   n->name, n->op_type);
  return QI_OK;
}

const qi_op_def qi_op_resize = {.op_type = "Resize",
                                .infer = resize_infer,
                                .scratch_bytes = resize_scratch,
                                .run = resize_run,
                                .foldable = 0};

const qi_op_def qi_op_upsample = {.op_type = "Upsample",
                                  .infer = resize_infer,
                                  .scratch_bytes = resize_scratch,
                                  .run = resize_run,
                                  .foldable = 0};
