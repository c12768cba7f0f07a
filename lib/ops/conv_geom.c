/* Conv / ConvTranspose geometry (ONNX opsets 1..21 semantics).
 *
 * Conv, per spatial axis, with e = (k - 1) * d + 1 the dilated extent:
 *   explicit pads: out = floor((in + pb + pe - e) / s) + 1
 *   VALID:         out = floor((in - e) / s) + 1, no padding
 *   SAME_*:        out = ceil(in / s), total = max(0, (out-1)*s + e - in),
 *                  SAME_UPPER puts the odd pixel at the end, SAME_LOWER at
 *                  the beginning.
 * ConvTranspose:
 *   out = s * (in - 1) + output_padding + e - pb - pe
 *   with output_shape (or SAME_*, where out = in * s):
 *   total = s * (in - 1) + output_padding + e - out, split as the ONNX spec
 *   writes (floor division): SAME_UPPER pb = total // 2, otherwise
 *   pb = total - total // 2.
 */
#include "ops/conv_geom.h"

#include <limits.h>
#include <string.h>

/* Each extent and every product we hand to BLAS must fit in an int. */
#define GEOM_DIM_MAX ((int64_t)INT_MAX)

static int mul_ok(int64_t a, int64_t b, int64_t *r) {
  if (a < 0 || b < 0) return 0;
  if (a != 0 && b > GEOM_DIM_MAX / a) return 0;
  *r = a * b;
  return 1;
}

typedef enum pad_mode { PAD_NOTSET, PAD_VALID, PAD_SAME_UPPER, PAD_SAME_LOWER } pad_mode;

static qi_status read_pad_mode(const qi_node *n, pad_mode *m, qi_error *err) {
  const char *s = qi_attr_str(n, "auto_pad", "NOTSET");
  if (!strcmp(s, "NOTSET") || !s[0]) *m = PAD_NOTSET;
  else if (!strcmp(s, "VALID")) *m = PAD_VALID;
  else if (!strcmp(s, "SAME_UPPER")) *m = PAD_SAME_UPPER;
  else if (!strcmp(s, "SAME_LOWER")) *m = PAD_SAME_LOWER;
  else
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): unknown auto_pad '%s'", n->name,
                   n->op_type, s);
  return QI_OK;
}

/* Reads an INTS attribute of `want` values into dst[3 - want ..]; absent
 * leaves the defaults. */
static qi_status read_axes(const qi_node *n, const char *name, int want,
                           int64_t minval, int64_t *dst, qi_error *err) {
  const int64_t *v;
  int cnt = qi_attr_ints(n, name, &v);
  if (cnt < 0) return QI_OK;
  if (cnt != want)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): attribute %s has %d values, expected %d",
                   n->name, n->op_type, name, cnt, want);
  for (int i = 0; i < want; i++) {
    if (v[i] < minval || v[i] > GEOM_DIM_MAX)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): attribute %s[%d] = %lld is out of range",
                     n->name, n->op_type, name, i, (long long)v[i]);
    dst[3 - want + i] = v[i];
  }
  return QI_OK;
}

static qi_status read_pads(const qi_node *n, int nsp, int allow_negative,
                           qi_conv_geom *g, qi_error *err) {
  const int64_t *v;
  int cnt = qi_attr_ints(n, "pads", &v);
  if (cnt < 0) return QI_OK;
  if (cnt != 2 * nsp)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): pads has %d values, expected %d", n->name,
                   n->op_type, cnt, 2 * nsp);
  for (int i = 0; i < 2 * nsp; i++)
    if ((!allow_negative && v[i] < 0) || v[i] > GEOM_DIM_MAX ||
        v[i] < -GEOM_DIM_MAX)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): pads[%d] = %lld is out of range",
                     n->name, n->op_type, i, (long long)v[i]);
  for (int i = 0; i < nsp; i++) {
    g->pad_b[3 - nsp + i] = v[i];
    g->pad_e[3 - nsp + i] = v[nsp + i];
  }
  return QI_OK;
}

static qi_status conv_spatial(const qi_node *n, pad_mode mode,
                              qi_conv_geom *g, qi_error *err) {
  for (int a = 3 - g->nsp; a < 3; a++) {
    int64_t ext = (g->k[a] - 1) * g->dil[a] + 1;
    if (mode == PAD_VALID) {
      g->pad_b[a] = g->pad_e[a] = 0;
    } else if (mode != PAD_NOTSET) {
      int64_t out = (g->in[a] + g->stride[a] - 1) / g->stride[a];
      int64_t total = (out - 1) * g->stride[a] + ext - g->in[a];
      if (total < 0) total = 0;
      g->pad_b[a] = mode == PAD_SAME_UPPER ? total / 2 : total - total / 2;
      g->pad_e[a] = total - g->pad_b[a];
    }
    int64_t span = g->in[a] + g->pad_b[a] + g->pad_e[a] - ext;
    if (span < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Conv): kernel extent %lld exceeds the padded "
                     "input %lld on spatial axis %d",
                     n->name, (long long)ext,
                     (long long)(g->in[a] + g->pad_b[a] + g->pad_e[a]),
                     a - (3 - g->nsp));
    g->out[a] = span / g->stride[a] + 1;
  }
  return QI_OK;
}

static qi_status transpose_spatial(const qi_node *n, pad_mode mode,
                                   qi_conv_geom *g, qi_error *err) {
  int64_t opad[3] = {0, 0, 0};
  QI_TRY(read_axes(n, "output_padding", g->nsp, 0, opad, err));
  const int64_t *oshape;
  int ocnt = qi_attr_ints(n, "output_shape", &oshape);
  if (ocnt >= 0 && ocnt != g->nsp && ocnt != g->nsp + 2)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (ConvTranspose): output_shape has %d values, "
                   "expected %d",
                   n->name, ocnt, g->nsp);
  for (int a = 3 - g->nsp; a < 3; a++) {
    int sp = a - (3 - g->nsp);
    if (opad[a] >= g->stride[a] && opad[a] >= g->dil[a])
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (ConvTranspose): output_padding[%d] = %lld "
                     "must be below the stride or the dilation",
                     n->name, sp, (long long)opad[a]);
    int64_t ext = (g->k[a] - 1) * g->dil[a] + 1;
    int64_t full = g->stride[a] * (g->in[a] - 1) + opad[a] + ext;
    int64_t want = -1;
    if (ocnt >= 0)
      want = oshape[ocnt - g->nsp + sp];
    else if (mode == PAD_SAME_UPPER || mode == PAD_SAME_LOWER)
      want = g->in[a] * g->stride[a];
    if (mode == PAD_VALID && ocnt < 0) {
      g->pad_b[a] = g->pad_e[a] = 0;
    } else if (want >= 0) {
      if (want < 1 || want > GEOM_DIM_MAX)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (ConvTranspose): output size %lld on "
                       "spatial axis %d is out of range",
                       n->name, (long long)want, sp);
      int64_t total = full - want;
      /* The spec's split uses floor division, which matters when output_shape
       * asks for more than `full` (negative total: extra output at the end). */
      int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      g->pad_b[a] = mode == PAD_SAME_UPPER ? half : total - half;
      g->pad_e[a] = total - g->pad_b[a];
    }
    g->out[a] = full - g->pad_b[a] - g->pad_e[a];
    if (g->out[a] < 1 || g->out[a] > GEOM_DIM_MAX)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (ConvTranspose): output size %lld on spatial "
                     "axis %d is out of range",
                     n->name, (long long)g->out[a], sp);
  }
  return QI_OK;
}

qi_status qi_conv_geom_make(const qi_node *n, const qi_shape *x,
                            const qi_shape *w, int transpose,
                            qi_conv_geom *geo, qi_error *err) {
  const char *op = transpose ? "ConvTranspose" : "Conv";
  char sx[96], sw[96];
  if (!x || !w || x->rank < 3 || x->rank > 5 || w->rank != x->rank)
    return qi_fail(err, x && x->rank > 5 ? QI_ERR_UNSUPPORTED : QI_ERR_SHAPE,
                   "node '%s' (%s): input %s and weights %s must both have "
                   "rank 3, 4 or 5",
                   n->name, op, x ? qi_shape_str(x, sx, sizeof sx) : "(none)",
                   w ? qi_shape_str(w, sw, sizeof sw) : "(none)");
  for (int i = 0; i < x->rank; i++)
    if (x->d[i] < (i == 0 ? 0 : 1) || x->d[i] > GEOM_DIM_MAX ||
        w->d[i] < 1 || w->d[i] > GEOM_DIM_MAX)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): input %s or weights %s has a bad dim",
                     n->name, op, qi_shape_str(x, sx, sizeof sx),
                     qi_shape_str(w, sw, sizeof sw));
  qi_conv_geom g;
  memset(&g, 0, sizeof g);
  g.nsp = x->rank - 2;
  g.transpose = transpose;
  for (int a = 0; a < 3; a++) {
    g.in[a] = g.out[a] = g.k[a] = g.stride[a] = g.dil[a] = 1;
  }
  g.batch = x->d[0];
  g.cin = x->d[1];
  g.group = qi_attr_int(n, "group", 1);
  if (g.group < 1 || g.group > g.cin || g.cin % g.group != 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): group %lld does not divide the %lld "
                   "input channels",
                   n->name, op, (long long)g.group, (long long)g.cin);
  if (transpose) {
    if (w->d[0] != g.cin)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (ConvTranspose): weights %s need %lld input "
                     "channels in dim 0 to match input %s",
                     n->name, qi_shape_str(w, sw, sizeof sw),
                     (long long)g.cin, qi_shape_str(x, sx, sizeof sx));
    if (!mul_ok(w->d[1], g.group, &g.cout))
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (ConvTranspose): too many "
                     "output channels", n->name);
  } else {
    g.cout = w->d[0];
    if (w->d[1] * g.group != g.cin || g.cout % g.group != 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Conv): weights %s do not fit input %s with "
                     "group %lld (need [M, C/group, k...] with M %% group == "
                     "0)",
                     n->name, qi_shape_str(w, sw, sizeof sw),
                     qi_shape_str(x, sx, sizeof sx), (long long)g.group);
  }
  for (int i = 0; i < g.nsp; i++) {
    g.in[3 - g.nsp + i] = x->d[2 + i];
    g.k[3 - g.nsp + i] = w->d[2 + i];
  }
  int64_t kattr[3] = {g.k[0], g.k[1], g.k[2]};
  QI_TRY(read_axes(n, "kernel_shape", g.nsp, 1, kattr, err));
  for (int a = 0; a < 3; a++)
    if (kattr[a] != g.k[a])
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): kernel_shape does not match weights %s",
                     n->name, op, qi_shape_str(w, sw, sizeof sw));
  QI_TRY(read_axes(n, "strides", g.nsp, 1, g.stride, err));
  QI_TRY(read_axes(n, "dilations", g.nsp, 1, g.dil, err));
  pad_mode mode = PAD_NOTSET;
  QI_TRY(read_pad_mode(n, &mode, err));
  QI_TRY(read_pads(n, g.nsp, transpose, &g, err));
  for (int a = 0; a < 3; a++) {
    int64_t e;
    if (!mul_ok(g.k[a] - 1, g.dil[a], &e) || e >= GEOM_DIM_MAX / 4 ||
        !mul_ok(g.in[a], g.stride[a], &e) || e >= GEOM_DIM_MAX / 4)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): spatial sizes are beyond limits",
                     n->name, op);
  }
  if (transpose)
    QI_TRY(transpose_spatial(n, mode, &g, err));
  else
    QI_TRY(conv_spatial(n, mode, &g, err));
  /* Sizes the kernels index with: per-plane extents, the GEMM depth and
   * the column-matrix height must stay within int. */
  int64_t t, kg;
  int64_t ksz = g.k[0] * g.k[1] * g.k[2];
  if (!mul_ok(g.in[0] * g.in[1], g.in[2], &t) ||
      !mul_ok(g.out[0] * g.out[1], g.out[2], &t) ||
      !mul_ok(g.cin / g.group, ksz, &kg) ||
      !mul_ok(g.cout / g.group, ksz, &kg) ||
      !mul_ok(g.batch, g.cout, &t) || !mul_ok(g.batch, g.cin, &t))
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (%s): tensor sizes are beyond limits", n->name,
                   op);
  *geo = g;
  return QI_OK;
}

qi_shape qi_conv_geom_out_shape(const qi_conv_geom *g) {
  qi_shape s;
  memset(&s, 0, sizeof s);
  s.rank = g->nsp + 2;
  s.d[0] = g->batch;
  s.d[1] = g->cout;
  for (int i = 0; i < g->nsp; i++) s.d[2 + i] = g->out[3 - g->nsp + i];
  return s;
}

qi_f32_window qi_conv_geom_window(const qi_conv_geom *g) {
  qi_f32_window w;
  for (int a = 0; a < 3; a++) {
    w.img[a] = g->transpose ? g->out[a] : g->in[a];
    w.grid[a] = g->transpose ? g->in[a] : g->out[a];
    w.k[a] = g->k[a];
    w.stride[a] = g->stride[a];
    w.dil[a] = g->dil[a];
    w.pad[a] = g->pad_b[a];
  }
  return w;
}

qi_status qi_conv_check_act(const qi_node *n, qi_error *err) {
  int64_t a = qi_attr_int(n, "qi_act", QI_ACT_NONE);
  if (a < QI_ACT_NONE || a > QI_ACT_TANH)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): unknown fused activation %lld", n->name,
                   n->op_type, (long long)a);
  return QI_OK;
}
