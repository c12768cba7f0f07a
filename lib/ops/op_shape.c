/*
 * Ops that change only the description of a tensor or make small ones:
 * Shape, Reshape, Flatten, Squeeze, Unsqueeze, Identity, Dropout
 * (inference), Expand, ConstantOfShape and Range. They also run at load
 * time when constant folding evaluates shape subgraphs
 * (Shape -> Gather -> Unsqueeze -> Concat -> Reshape), hence int64 support
 * throughout. Attributes that became inputs in later opsets are taken from
 * whichever form the node carries.
 */
#include <math.h>
#include <string.h>

#include "ops/op.h"
#include "ops/op_tensor_util.h"

/* Output 0 holds the bytes of input 0 unchanged. */
static qi_status run_copy(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  (void)ctx;
  (void)n;
  int64_t cnt = qi_shape_numel(&out[0].shape);
  qi_opt_copy(out[0].data, in[0].data,
              (size_t)cnt * qi_dtype_size(out[0].dtype));
  return QI_OK;
}

static qi_status check_reshape_size(const qi_node *n, const qi_shape *in,
                                    const qi_shape *out, qi_error *err) {
  QI_TRY(qi_opt_check_numel(n, out, err));
  if (qi_opt_numel(in) == qi_opt_numel(out)) return QI_OK;
  char a[160], b[160];
  return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): cannot reshape %s into %s",
                 n->name, n->op_type, qi_shape_str(in, a, sizeof a),
                 qi_shape_str(out, b, sizeof b));
}

/* ---- Shape -------------------------------------------------------------- */

/* Opset 15 start/end: negative counts from the back, both clamped. */
static void shape_range(const qi_node *n, int rank, int *start, int *end) {
  int64_t s = qi_attr_int(n, "start", 0), e = qi_attr_int(n, "end", rank);
  if (s < 0) s += rank;
  if (e < 0) e += rank;
  s = s < 0 ? 0 : (s > rank ? rank : s);
  e = e < 0 ? 0 : (e > rank ? rank : e);
  *start = (int)s;
  *end = (int)(e > s ? e : s);
}

static qi_status shape_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  int s, e;
  shape_range(n, qi_in_shape(g, n, 0)->rank, &s, &e);
  qi_shape o = {.rank = 1, .d = {e - s}};
  qi_set_output(g, n, 0, QI_INT64, &o);
  return QI_OK;
}

static qi_status shape_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  (void)ctx;
  int s, e;
  shape_range(n, in[0].shape.rank, &s, &e);
  for (int i = s; i < e; i++)
    ((int64_t *)out[0].data)[i - s] = in[0].shape.d[i];
  return QI_OK;
}

const qi_op_def qi_op_shape = {
    .op_type = "Shape", .infer = shape_infer, .run = shape_run, .foldable = 1};

/* ---- Reshape ------------------------------------------------------------ */

static qi_status reshape_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  int64_t v[QI_MAX_RANK];
  int cnt;
  QI_TRY(qi_opt_const_ints(g, n, 1, "shape", v, QI_MAX_RANK, &cnt, err));
  int allowzero = qi_attr_int(n, "allowzero", 0) != 0;
  qi_shape o = {.rank = cnt};
  int infer_at = -1;
  int64_t known = 1;
  for (int i = 0; i < cnt; i++) {
    if (v[i] == -1) {
      if (infer_at >= 0)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (Reshape): more than one -1 in the shape",
                       n->name);
      infer_at = i;
      o.d[i] = 1;
      continue;
    }
    if (v[i] < -1)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Reshape): shape value %lld at %d is invalid",
                     n->name, (long long)v[i], i);
    if (v[i] == 0 && !allowzero) {
      if (i >= in->rank)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (Reshape): shape value 0 at %d copies a "
                       "dim the input (rank %d) does not have",
                       n->name, i, in->rank);
      o.d[i] = in->d[i];
    } else {
      o.d[i] = v[i];
    }
    if (o.d[i] && known > QI_OPT_MAX_NUMEL / o.d[i])
      return qi_fail(err, QI_ERR_NOMEM,
                     "node '%s' (Reshape): shape values beyond limits",
                     n->name);
    known *= o.d[i];
  }
  if (infer_at >= 0) {
    int64_t total = qi_opt_numel(in);
    if (known == 0 || total % known)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Reshape): cannot infer the -1 dim: %lld "
                     "elements over %lld",
                     n->name, (long long)total, (long long)known);
    o.d[infer_at] = total / known;
  }
  QI_TRY(check_reshape_size(n, in, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

const qi_op_def qi_op_reshape = {.op_type = "Reshape",
                                 .infer = reshape_infer,
                                 .run = run_copy,
                                 .foldable = 1};

/* ---- Flatten ------------------------------------------------------------ */

static qi_status flatten_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  int64_t axis = qi_attr_int(n, "axis", 1);
  if (axis < 0) axis += in->rank;
  if (axis < 0 || axis > in->rank)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Flatten): axis %lld is out of range for rank "
                   "%d",
                   n->name, (long long)qi_attr_int(n, "axis", 1), in->rank);
  qi_shape o = {.rank = 2, .d = {1, 1}};
  for (int i = 0; i < in->rank; i++) o.d[i >= axis] *= in->d[i];
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

const qi_op_def qi_op_flatten = {.op_type = "Flatten",
                                 .infer = flatten_infer,
                                 .run = run_copy,
                                 .foldable = 1};

/* ---- Squeeze / Unsqueeze ------------------------------------------------ */

/* Axes come from input 1 (opset 13+) or the "axes" attribute (before).
 * *count = -1 when neither is given. */
static qi_status read_axes(const qi_graph *g, const qi_node *n, int64_t *axes,
                           int *count, qi_error *err) {
  QI_TRY(qi_opt_const_ints(g, n, 1, "axes", axes, QI_MAX_RANK, count, err));
  if (*count >= 0) return QI_OK;
  const int64_t *a;
  int na = qi_attr_ints(n, "axes", &a);
  if (na > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): %d axes given", n->name,
                   n->op_type, na);
  for (int i = 0; i < na; i++) axes[i] = a[i];
  *count = na;
  return QI_OK;
}

static qi_status squeeze_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 2, err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  int64_t axes[QI_MAX_RANK];
  int na;
  QI_TRY(read_axes(g, n, axes, &na, err));
  int drop[QI_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int a = qi_norm_axis(axes[i], in->rank);
    if (a < 0 || a >= in->rank)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Squeeze): axis %lld is out of range for "
                     "rank %d",
                     n->name, (long long)axes[i], in->rank);
    if (in->d[a] != 1)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Squeeze): dim %d has size %lld, not 1",
                     n->name, a, (long long)in->d[a]);
    drop[a] = 1;
  }
  qi_shape o = {.rank = 0};
  for (int i = 0; i < in->rank; i++)
    if (!(na > 0 ? drop[i] : in->d[i] == 1)) o.d[o.rank++] = in->d[i];
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

const qi_op_def qi_op_squeeze = {.op_type = "Squeeze",
                                 .infer = squeeze_infer,
                                 .run = run_copy,
                                 .foldable = 1};

static qi_status unsqueeze_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 2, err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  int64_t axes[QI_MAX_RANK];
  int na;
  QI_TRY(read_axes(g, n, axes, &na, err));
  if (na <= 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (Unsqueeze): no axes given",
                   n->name);
  int r = in->rank + na;
  if (r > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Unsqueeze): output rank %d is above %d", n->name,
                   r, QI_MAX_RANK);
  int add[QI_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int a = qi_norm_axis(axes[i], r);
    if (a < 0 || add[a])
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Unsqueeze): axis %lld is out of range or "
                     "repeated for output rank %d",
                     n->name, (long long)axes[i], r);
    add[a] = 1;
  }
  qi_shape o = {.rank = r};
  for (int i = 0, k = 0; i < r; i++) o.d[i] = add[i] ? 1 : in->d[k++];
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

const qi_op_def qi_op_unsqueeze = {.op_type = "Unsqueeze",
                                   .infer = unsqueeze_infer,
                                   .run = run_copy,
                                   .foldable = 1};

/* ---- Identity / Dropout ------------------------------------------------- */

static qi_status identity_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), qi_in_shape(g, n, 0));
  return QI_OK;
}

const qi_op_def qi_op_identity = {.op_type = "Identity",
                                  .infer = identity_infer,
                                  .run = run_copy,
                                  .foldable = 1};

/* Inference Dropout is the identity; the optional mask is all true. A
 * training_mode input (opset 12) must be a constant false. */
static qi_status dropout_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 3, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  if (n->nin > 2 && n->in[2] >= 0) {
    double mode[1];
    int cnt;
    QI_TRY(qi_opt_const_reals(g, n, 2, "training_mode", mode, 1, &cnt, err));
    if (cnt != 1 || mode[0] != 0.0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (Dropout): training_mode must be false",
                     n->name);
  }
  const qi_shape *s = qi_in_shape(g, n, 0);
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), s);
  qi_set_output(g, n, 1, QI_BOOL, s);
  return QI_OK;
}

static qi_status dropout_run(const qi_run_ctx *ctx, const qi_node *n,
                             const qi_buf *in, qi_buf *out) {
  QI_TRY(run_copy(ctx, n, in, out));
  if (n->nout > 1 && out[1].data)
    memset(out[1].data, 1, (size_t)qi_shape_numel(&out[1].shape));
  return QI_OK;
}

const qi_op_def qi_op_dropout = {.op_type = "Dropout",
                                 .infer = dropout_infer,
                                 .run = dropout_run,
                                 .foldable = 1};

/* ---- Expand ------------------------------------------------------------- */

static qi_status expand_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  int64_t v[QI_MAX_RANK];
  int cnt;
  QI_TRY(qi_opt_const_ints(g, n, 1, "shape", v, QI_MAX_RANK, &cnt, err));
  qi_shape want = {.rank = cnt}, o;
  for (int i = 0; i < cnt; i++) {
    if (v[i] < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Expand): shape value %lld is negative",
                     n->name, (long long)v[i]);
    want.d[i] = v[i];
  }
  qi_status st = qi_broadcast_shapes(qi_in_shape(g, n, 0), &want, &o, err);
  if (st != QI_OK) {
    qi_error_prefix(err, "node '%s' (Expand)", n->name);
    return st;
  }
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

/* Broadcast copy: each output row (last dim) is either a copy of an input
 * row or one input element repeated. */
static qi_status expand_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  (void)ctx;
  (void)n;
  const qi_shape *os = &out[0].shape;
  size_t es = qi_dtype_size(out[0].dtype);
  int64_t total = qi_shape_numel(os);
  if (total == 0) return QI_OK;
  int r = os->rank;
  if (r == 0) {
    memcpy(out[0].data, in[0].data, es);
    return QI_OK;
  }
  int64_t ist[QI_MAX_RANK], is_full[QI_MAX_RANK];
  qi_shape ish = {.rank = r};
  int off = r - in[0].shape.rank;
  for (int i = 0; i < r; i++) ish.d[i] = i < off ? 1 : in[0].shape.d[i - off];
  qi_opt_strides(&ish, is_full);
  for (int i = 0; i < r; i++) ist[i] = ish.d[i] == 1 ? 0 : is_full[i];
  int64_t inner = os->d[r - 1], rows = total / inner;
  size_t row_bytes = (size_t)inner * es;
  const char *src = in[0].data;
  char *dst = out[0].data;
  int64_t coord[QI_MAX_RANK] = {0}, soff = 0;
  for (int64_t row = 0; row < rows; row++) {
    if (ist[r - 1])
      memcpy(dst + (size_t)row * row_bytes, src + (size_t)soff * es, row_bytes);
    else
      qi_opt_fill(dst + (size_t)row * row_bytes, src + (size_t)soff * es, es,
                  inner);
    for (int a = r - 2; a >= 0; a--) {
      soff += ist[a];
      if (++coord[a] < os->d[a]) break;
      soff -= coord[a] * ist[a];
      coord[a] = 0;
    }
  }
  return QI_OK;
}

const qi_op_def qi_op_expand = {.op_type = "Expand",
                                .infer = expand_infer,
                                .run = expand_run,
                                .foldable = 1};

/* ---- ConstantOfShape ---------------------------------------------------- */

static const qi_tensor *cos_value(const qi_node *n) {
  const qi_attr *a = qi_attr_find(n, "value");
  return a && a->type == QI_ATTR_TENSOR ? a->t : NULL;
}

static qi_status cos_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  int64_t v[QI_MAX_RANK];
  int cnt;
  QI_TRY(qi_opt_const_ints(g, n, 0, "shape", v, QI_MAX_RANK, &cnt, err));
  qi_shape o = {.rank = cnt};
  for (int i = 0; i < cnt; i++) {
    if (v[i] < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (ConstantOfShape): dim %lld is negative",
                     n->name, (long long)v[i]);
    o.d[i] = v[i];
  }
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_dtype dt = QI_FLOAT32;
  const qi_tensor *t = cos_value(n);
  if (t) {
    dt = t->dtype;
    if (!qi_opt_movable(dt) || !t->data || t->nbytes < qi_dtype_size(dt))
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (ConstantOfShape): value tensor of type %s "
                     "with %zu bytes",
                     n->name, qi_dtype_name(dt), t->nbytes);
  }
  qi_set_output(g, n, 0, dt, &o);
  return QI_OK;
}

static qi_status cos_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  (void)ctx;
  (void)in;
  const qi_tensor *t = cos_value(n);
  static const float zero = 0.0f;
  qi_opt_fill(out[0].data, t ? t->data : &zero, qi_dtype_size(out[0].dtype),
              qi_shape_numel(&out[0].shape));
  return QI_OK;
}

const qi_op_def qi_op_constant_of_shape = {.op_type = "ConstantOfShape",
                                           .infer = cos_infer,
                                           .run = cos_run,
                                           .foldable = 1};

/* ---- Range -------------------------------------------------------------- */

static int range_is_int(qi_dtype dt) {
  return dt == QI_INT64 || dt == QI_INT32;
}

/* Element count max(ceil((limit - start) / delta), 0), exact for integers
 * (unsigned arithmetic cannot overflow here). -1 if too many. */
static int64_t range_count_int(int64_t start, int64_t limit, int64_t delta) {
  if (delta > 0 ? limit <= start : limit >= start) return 0;
  uint64_t diff = delta > 0 ? (uint64_t)limit - (uint64_t)start
                            : (uint64_t)start - (uint64_t)limit;
  uint64_t step = delta > 0 ? (uint64_t)delta : 0 - (uint64_t)delta;
  uint64_t cnt = diff / step + (diff % step != 0);
  return cnt > (uint64_t)QI_OPT_MAX_NUMEL ? -1 : (int64_t)cnt;
}

static int64_t range_count_real(double start, double limit, double delta) {
  double c = ceil((limit - start) / delta);
  if (!(c < (double)QI_OPT_MAX_NUMEL)) return -1; /* also NaN */
  return c > 0 ? (int64_t)c : 0;
}

static qi_status range_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 3, 3, err));
  qi_dtype dt = qi_in_dtype(g, n, 0);
  if (!range_is_int(dt) && dt != QI_FLOAT32 && dt != QI_FLOAT64)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Range): type %s is not supported", n->name,
                   qi_dtype_name(dt));
  static const char *const names[3] = {"start", "limit", "delta"};
  int64_t iv[3];
  double rv[3];
  for (int k = 0; k < 3; k++) {
    int cnt;
    if (qi_in_dtype(g, n, k) != dt)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Range): inputs have different types", n->name);
    if (range_is_int(dt))
      QI_TRY(qi_opt_const_ints(g, n, k, names[k], &iv[k], 1, &cnt, err));
    else
      QI_TRY(qi_opt_const_reals(g, n, k, names[k], &rv[k], 1, &cnt, err));
    if (cnt != 1)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (Range): %s is not a scalar",
                     n->name, names[k]);
  }
  if (range_is_int(dt) ? iv[2] == 0 : rv[2] == 0.0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (Range): delta is zero",
                   n->name);
  int64_t cnt = range_is_int(dt) ? range_count_int(iv[0], iv[1], iv[2])
                                 : range_count_real(rv[0], rv[1], rv[2]);
  qi_shape o = {.rank = 1, .d = {cnt}};
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, dt, &o);
  return QI_OK;
}

/* out[i] = start + i * delta (no accumulated rounding for floats). */
static qi_status range_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  (void)ctx;
  int64_t cnt = out[0].shape.d[0];
  qi_dtype dt = out[0].dtype;
  if (range_is_int(dt)) {
    int64_t v[3];
    for (int k = 0; k < 3; k++)
      if (qi_opt_buf_ints(&in[k], &v[k], 1) != 1)
        return qi_fail(ctx ? ctx->err : NULL, QI_ERR_INTERNAL,
                       "node '%s' (Range): input %d unreadable", n->name, k);
    for (int64_t i = 0; i < cnt; i++) {
      /* Wrapping arithmetic: the true value lies between start and limit
       * even where i * delta alone would not fit. */
      int64_t x = (int64_t)((uint64_t)v[0] + (uint64_t)i * (uint64_t)v[2]);
      if (dt == QI_INT64)
        ((int64_t *)out[0].data)[i] = x;
      else
        ((int32_t *)out[0].data)[i] = (int32_t)x;
    }
    return QI_OK;
  }
  double v[3];
  for (int k = 0; k < 3; k++)
    if (qi_opt_buf_reals(&in[k], &v[k], 1) != 1)
      return qi_fail(ctx ? ctx->err : NULL, QI_ERR_INTERNAL,
                     "node '%s' (Range): input %d unreadable", n->name, k);
  for (int64_t i = 0; i < cnt; i++) {
    double x = v[0] + (double)i * v[2];
    if (dt == QI_FLOAT32)
      ((float *)out[0].data)[i] = (float)x;
    else
      ((double *)out[0].data)[i] = x;
  }
  return QI_OK;
}

const qi_op_def qi_op_range = {
    .op_type = "Range", .infer = range_infer, .run = range_run, .foldable = 1};
