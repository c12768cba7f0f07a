/*
 * Slice and Pad. Both read shape-determining values that were attributes
 * in early opsets and inputs later (Slice: starts/ends/axes attributes
 * before opset 10, inputs with steps after; Pad: pads/value attributes
 * before opset 11, pads/constant_value inputs after, axes input at 18), so
 * both forms are accepted by looking at which one the node carries. `run`
 * reads the same values again from its bound inputs or attributes.
 */
#include <string.h>

#include "ops/op.h"
#include "ops/op_tensor_util.h"

/* ---- Slice -------------------------------------------------------------- */

/* Per input axis: first element, step and element count (full axes keep
 * start 0, step 1, count dim). */
typedef struct slice_plan {
  int64_t start[QI_MAX_RANK], step[QI_MAX_RANK], count[QI_MAX_RANK];
} slice_plan;

/* The values a Slice node was given, from inputs or attributes. */
typedef struct slice_args {
  int64_t starts[QI_MAX_RANK], ends[QI_MAX_RANK], axes[QI_MAX_RANK],
      steps[QI_MAX_RANK];
  int n, naxes, nsteps; /* naxes/nsteps -1 when absent */
} slice_args;

static int slice_uses_inputs(const qi_node *n) { return n->nin >= 3; }

static qi_status slice_args_from_attrs(const qi_node *n, slice_args *a,
                                       qi_error *err) {
  const int64_t *s, *e, *ax;
  int ns = qi_attr_ints(n, "starts", &s), ne = qi_attr_ints(n, "ends", &e);
  int na = qi_attr_ints(n, "axes", &ax);
  if (ns < 0 || ne != ns || ns > QI_MAX_RANK || na > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Slice): starts/ends attributes missing or of "
                   "different lengths",
                   n->name);
  a->n = ns;
  a->naxes = na;
  a->nsteps = -1;
  memcpy(a->starts, s, sizeof(int64_t) * (size_t)ns);
  memcpy(a->ends, e, sizeof(int64_t) * (size_t)ns);
  if (na > 0) memcpy(a->axes, ax, sizeof(int64_t) * (size_t)na);
  return QI_OK;
}

static qi_status slice_args_infer(const qi_graph *g, const qi_node *n,
                                  slice_args *a, qi_error *err) {
  if (!slice_uses_inputs(n)) return slice_args_from_attrs(n, a, err);
  int ne;
  QI_TRY(
      qi_opt_const_ints(g, n, 1, "starts", a->starts, QI_MAX_RANK, &a->n, err));
  QI_TRY(qi_opt_const_ints(g, n, 2, "ends", a->ends, QI_MAX_RANK, &ne, err));
  QI_TRY(
      qi_opt_const_ints(g, n, 3, "axes", a->axes, QI_MAX_RANK, &a->naxes, err));
  QI_TRY(qi_opt_const_ints(g, n, 4, "steps", a->steps, QI_MAX_RANK, &a->nsteps,
                           err));
  if (a->n < 0 || ne != a->n)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Slice): starts and ends differ in length",
                   n->name);
  return QI_OK;
}

static qi_status slice_args_run(const qi_node *n, const qi_buf *in,
                                slice_args *a, qi_error *err) {
  if (!slice_uses_inputs(n)) return slice_args_from_attrs(n, a, err);
  a->n = qi_opt_buf_ints(&in[1], a->starts, QI_MAX_RANK);
  int ne = qi_opt_buf_ints(&in[2], a->ends, QI_MAX_RANK);
  a->naxes = n->nin > 3 ? qi_opt_buf_ints(&in[3], a->axes, QI_MAX_RANK) : -1;
  a->nsteps = n->nin > 4 ? qi_opt_buf_ints(&in[4], a->steps, QI_MAX_RANK) : -1;
  if (a->n < 0 || ne != a->n)
    return qi_fail(err, QI_ERR_INTERNAL, "node '%s' (Slice): bad inputs",
                   n->name);
  return QI_OK;
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

/* ONNX clamping: negative starts/ends count from the back; for positive
 * steps both clamp to [0, dim], for negative steps start clamps to
 * [0, dim-1] and end to [-1, dim-1]. Count = ceil(span / |step|). This is
 * the operator text and onnxruntime. Like onnxruntime, an end of INT_MAX
 * (32- or 64-bit) means "through the last element in the step direction",
 * so a negative step with end INT64_MAX reverses the whole axis. numpy
 * (the ONNX reference) takes nothing there, and also for a start below
 * -dim with a negative step, where we take element 0. */
static qi_status slice_plan_make(const qi_node *n, const qi_shape *in,
                                 const slice_args *a, slice_plan *p,
                                 qi_error *err) {
  int seen[QI_MAX_RANK] = {0};
  for (int i = 0; i < in->rank; i++) {
    p->start[i] = 0;
    p->step[i] = 1;
    p->count[i] = in->d[i];
  }
  if ((a->naxes >= 0 && a->naxes != a->n) ||
      (a->nsteps >= 0 && a->nsteps != a->n))
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Slice): axes/steps lengths differ from starts",
                   n->name);
  for (int i = 0; i < a->n; i++) {
    int ax = qi_norm_axis(a->naxes >= 0 ? a->axes[i] : i, in->rank);
    if (ax < 0 || ax >= in->rank || seen[ax])
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Slice): axis %lld is out of range or "
                     "repeated for rank %d",
                     n->name, (long long)(a->naxes >= 0 ? a->axes[i] : i),
                     in->rank);
    seen[ax] = 1;
    int64_t dim = in->d[ax], step = a->nsteps >= 0 ? a->steps[i] : 1;
    if (step == 0)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (Slice): step is 0",
                     n->name);
    int64_t s = a->starts[i], e = a->ends[i];
    if (s < 0) s += dim;
    if (e == INT64_MAX || e == INT32_MAX)
      e = step > 0 ? dim : -1; /* "to the end" either way, as onnxruntime */
    else if (e < 0)
      e += dim;
    uint64_t span;
    if (step > 0) {
      s = clamp64(s, 0, dim);
      e = clamp64(e, 0, dim);
      span = e > s ? (uint64_t)(e - s) : 0;
    } else {
      s = clamp64(s, 0, dim - 1);
      e = clamp64(e, -1, dim - 1);
      span = s > e ? (uint64_t)(s - e) : 0;
    }
    uint64_t ustep = step > 0 ? (uint64_t)step : 0 - (uint64_t)step;
    if (!dim) span = 0; /* the clamps above assume a non-empty axis */
    p->start[ax] = dim ? s : 0;
    p->step[ax] = step;
    p->count[ax] = (int64_t)(span / ustep + (span % ustep != 0));
  }
  return QI_OK;
}

static qi_status slice_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, slice_uses_inputs(n) ? 3 : 1, 5, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  slice_args a;
  slice_plan p;
  QI_TRY(slice_args_infer(g, n, &a, err));
  QI_TRY(slice_plan_make(n, in, &a, &p, err));
  qi_shape o = {.rank = in->rank};
  for (int i = 0; i < in->rank; i++) o.d[i] = p.count[i];
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

#define SLICE_STRIDED(T)                                  \
  do {                                                    \
    const T *s = (const T *)src + off;                    \
    T *d = (T *)dst;                                      \
    for (int64_t j = 0; j < cnt; j++) d[j] = s[j * step]; \
  } while (0)

/* Trailing axes taken whole form one contiguous block per step of the last
 * sliced axis `k`; the axes before k are walked with an odometer. */
static qi_status slice_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  qi_error *err = ctx ? ctx->err : NULL;
  const qi_shape *is = &in[0].shape;
  slice_args a;
  slice_plan p;
  QI_TRY(slice_args_run(n, in, &a, err));
  QI_TRY(slice_plan_make(n, is, &a, &p, err));
  size_t es = qi_dtype_size(in[0].dtype);
  int r = is->rank;
  int64_t total = qi_shape_numel(&out[0].shape);
  if (total == 0) return QI_OK;
  int k = r - 1;
  while (k >= 0 && p.start[k] == 0 && p.step[k] == 1 && p.count[k] == is->d[k])
    k--;
  if (k < 0) {
    qi_opt_copy(out[0].data, in[0].data, (size_t)total * es);
    return QI_OK;
  }
  int64_t ist[QI_MAX_RANK];
  qi_opt_strides(is, ist);
  int64_t inner = ist[k]; /* elements per step of axis k */
  int64_t cnt = p.count[k], step = p.step[k];
  int64_t rows = total / (cnt * inner);
  int64_t coord[QI_MAX_RANK] = {0};
  int64_t base = 0;
  for (int i = 0; i <= k; i++) base += p.start[i] * ist[i];
  const char *src = in[0].data;
  char *dst = out[0].data;
  size_t row_bytes = (size_t)(cnt * inner) * es;
  for (int64_t row = 0; row < rows; row++, dst += row_bytes) {
    int64_t off = base;
    for (int i = 0; i < k; i++) off += coord[i] * p.step[i] * ist[i];
    if (step == 1) {
      memcpy(dst, src + (size_t)off * es, row_bytes);
    } else if (inner == 1 && (es == 1 || es == 2 || es == 4 || es == 8)) {
      switch (es) {
        case 1: SLICE_STRIDED(uint8_t); break;
        case 2: SLICE_STRIDED(uint16_t); break;
        case 4: SLICE_STRIDED(uint32_t); break;
        default: SLICE_STRIDED(uint64_t); break;
      }
    } else {
      size_t blk = (size_t)inner * es;
      for (int64_t j = 0; j < cnt; j++)
        memcpy(dst + (size_t)j * blk,
               src + (size_t)(off + j * step * inner) * es, blk);
    }
    for (int i = k - 1; i >= 0; i--) {
      if (++coord[i] < p.count[i]) break;
      coord[i] = 0;
    }
  }
  return QI_OK;
}

const qi_op_def qi_op_slice = {
    .op_type = "Slice", .infer = slice_infer, .run = slice_run, .foldable = 1};

/* ---- Pad ---------------------------------------------------------------- */

typedef enum pad_mode {
  PAD_CONSTANT,
  PAD_REFLECT,
  PAD_EDGE,
  PAD_WRAP
} pad_mode;

/* Per axis: negative pads crop first (the window [lo, lo + m) of the input
 * is kept), then `before` elements are added in front by the mode, the way
 * the ONNX reference defines it. */
typedef struct pad_plan {
  pad_mode mode;
  int64_t before[QI_MAX_RANK], lo[QI_MAX_RANK], m[QI_MAX_RANK];
  int overcropped; /* a crop larger than its axis: all constant */
} pad_plan;

static int pad_uses_inputs(const qi_node *n) {
  return n->nin >= 2 && n->in[1] >= 0;
}

static qi_status pad_mode_of(const qi_node *n, pad_mode *m, qi_error *err) {
  const char *s = qi_attr_str(n, "mode", "constant");
  if (strcmp(s, "constant") == 0)
    *m = PAD_CONSTANT;
  else if (strcmp(s, "reflect") == 0)
    *m = PAD_REFLECT;
  else if (strcmp(s, "edge") == 0)
    *m = PAD_EDGE;
  else if (strcmp(s, "wrap") == 0)
    *m = PAD_WRAP;
  else
    return qi_fail(err, QI_ERR_UNSUPPORTED, "node '%s' (Pad): mode '%s'",
                   n->name, s);
  return QI_OK;
}

/* pads holds [begin_0.., end_0..] over `axes` (all axes when naxes < 0). */
static qi_status pad_plan_make(const qi_node *n, const qi_shape *in,
                               const int64_t *pads, int npads,
                               const int64_t *axes, int naxes, pad_plan *p,
                               qi_shape *out, qi_error *err) {
  QI_TRY(pad_mode_of(n, &p->mode, err));
  int na = naxes >= 0 ? naxes : in->rank;
  if (npads != 2 * na)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (Pad): %d pads for %d axes",
                   n->name, npads, na);
  int64_t b[QI_MAX_RANK] = {0}, e[QI_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int ax = qi_norm_axis(naxes >= 0 ? axes[i] : i, in->rank);
    if (ax < 0 || ax >= in->rank)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Pad): axis %lld is out "
                     "of range",
                     n->name, (long long)axes[i]);
    b[ax] = pads[i];
    e[ax] = pads[na + i];
    if (b[ax] < -QI_OPT_MAX_NUMEL || b[ax] > QI_OPT_MAX_NUMEL ||
        e[ax] < -QI_OPT_MAX_NUMEL || e[ax] > QI_OPT_MAX_NUMEL)
      return qi_fail(err, QI_ERR_SHAPE, "node '%s' (Pad): pad beyond limits",
                     n->name);
  }
  out->rank = in->rank;
  p->overcropped = 0;
  for (int i = 0; i < in->rank; i++) {
    int64_t dim = in->d[i];
    out->d[i] = dim + b[i] + e[i];
    if (out->d[i] < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Pad): pads make axis %d negative", n->name, i);
    p->before[i] = b[i] > 0 ? b[i] : 0;
    p->lo[i] = b[i] < 0 ? -b[i] : 0;
    p->m[i] = dim - p->lo[i] - (e[i] < 0 ? -e[i] : 0);
    int64_t after = e[i] > 0 ? e[i] : 0;
    if (p->m[i] < 0) p->overcropped = 1;
    if (p->mode == PAD_CONSTANT || (!p->before[i] && !after)) continue;
    if (p->m[i] < (p->mode == PAD_REFLECT ? 2 : 1) ||
        (p->mode == PAD_REFLECT &&
         (p->before[i] > p->m[i] - 1 || after > p->m[i] - 1)))
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Pad): axis %d of %lld elements (after "
                     "cropping) cannot be padded by %lld/%lld in this mode",
                     n->name, i, (long long)p->m[i], (long long)p->before[i],
                     (long long)after);
  }
  return qi_opt_check_numel(n, out, err);
}

static qi_status pad_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 4, err));
  qi_dtype dt = qi_in_dtype(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, dt, err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  int64_t pads[2 * QI_MAX_RANK], axes[QI_MAX_RANK];
  int np, na = -1;
  if (pad_uses_inputs(n)) {
    QI_TRY(qi_opt_const_ints(g, n, 1, "pads", pads, 2 * QI_MAX_RANK, &np, err));
    QI_TRY(qi_opt_const_ints(g, n, 3, "axes", axes, QI_MAX_RANK, &na, err));
    if (n->nin > 2 && n->in[2] >= 0 &&
        (qi_in_dtype(g, n, 2) != dt ||
         qi_shape_numel(qi_in_shape(g, n, 2)) != 1))
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Pad): constant_value must be one %s", n->name,
                     qi_dtype_name(dt));
  } else {
    const int64_t *p;
    np = qi_attr_ints(n, "pads", &p);
    if (np < 0 || np > 2 * QI_MAX_RANK)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (Pad): no pads given",
                     n->name);
    memcpy(pads, p, sizeof(int64_t) * (size_t)np);
  }
  pad_plan plan;
  qi_shape o;
  QI_TRY(pad_plan_make(n, in, pads, np, axes, na, &plan, &o, err));
  qi_set_output(g, n, 0, dt, &o);
  return QI_OK;
}

/* Input index (within the whole axis) for output index o, or -1 for the
 * constant. */
static int64_t pad_src(const pad_plan *p, int ax, int64_t o) {
  int64_t c = o - p->before[ax], m = p->m[ax];
  if (c < 0 || c >= m) {
    switch (p->mode) {
      case PAD_CONSTANT: return -1;
      case PAD_EDGE: c = c < 0 ? 0 : m - 1; break;
      case PAD_WRAP: c = ((c % m) + m) % m; break;
      case PAD_REFLECT: {
        int64_t period = 2 * (m - 1);
        c = ((c % period) + period) % period;
        if (c >= m) c = period - c;
        break;
      }
    }
  }
  return p->lo[ax] + c;
}

static qi_status pad_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  qi_error *err = ctx ? ctx->err : NULL;
  const qi_shape *is = &in[0].shape, *os = &out[0].shape;
  size_t es = qi_dtype_size(in[0].dtype);
  int64_t pads[2 * QI_MAX_RANK], axes[QI_MAX_RANK];
  int np, na = -1;
  unsigned char value[8] = {0};
  if (pad_uses_inputs(n)) {
    np = qi_opt_buf_ints(&in[1], pads, 2 * QI_MAX_RANK);
    if (n->nin > 3 && in[3].data)
      na = qi_opt_buf_ints(&in[3], axes, QI_MAX_RANK);
    if (n->nin > 2 && in[2].data) memcpy(value, in[2].data, es);
  } else {
    const int64_t *p;
    np = qi_attr_ints(n, "pads", &p);
    if (np < 0 || np > 2 * QI_MAX_RANK)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (Pad): no pads", n->name);
    memcpy(pads, p, sizeof(int64_t) * (size_t)np);
    qi_opt_store_real(in[0].dtype, value, qi_attr_float(n, "value", 0.0f));
  }
  pad_plan p;
  qi_shape o;
  QI_TRY(pad_plan_make(n, is, pads, np, axes, na, &p, &o, err));
  int64_t total = qi_shape_numel(os);
  if (total == 0) return QI_OK;
  char *dst = out[0].data;
  if (p.overcropped || qi_shape_numel(is) == 0) {
    qi_opt_fill(dst, value, es, total);
    return QI_OK;
  }
  int r = os->rank;
  if (r == 0) {
    memcpy(dst, in[0].data, es);
    return QI_OK;
  }
  int64_t ist[QI_MAX_RANK], coord[QI_MAX_RANK] = {0};
  qi_opt_strides(is, ist);
  const char *src = in[0].data;
  int64_t w = os->d[r - 1], rows = total / w;
  int64_t mid0 = p.before[r - 1], mid1 = mid0 + p.m[r - 1];
  for (int64_t row = 0; row < rows; row++, dst += (size_t)w * es) {
    int64_t off = 0;
    int constant_row = 0;
    for (int a = 0; a < r - 1; a++) {
      int64_t s = pad_src(&p, a, coord[a]);
      if (s < 0) constant_row = 1;
      off += s * ist[a];
    }
    if (constant_row) {
      qi_opt_fill(dst, value, es, w);
    } else {
      const char *srow = src + (size_t)off * es;
      for (int64_t x = 0; x < mid0; x++) {
        int64_t s = pad_src(&p, r - 1, x);
        memcpy(dst + (size_t)x * es,
               s < 0 ? (const char *)value : srow + (size_t)s * es, es);
      }
      memcpy(dst + (size_t)mid0 * es, srow + (size_t)p.lo[r - 1] * es,
             (size_t)(mid1 - mid0) * es);
      for (int64_t x = mid1; x < w; x++) {
        int64_t s = pad_src(&p, r - 1, x);
        memcpy(dst + (size_t)x * es,
               s < 0 ? (const char *)value : srow + (size_t)s * es, es);
      }
    }
    for (int a = r - 2; a >= 0; a--) {
      if (++coord[a] < os->d[a]) break;
      coord[a] = 0;
    }
  }
  return QI_OK;
}

const qi_op_def qi_op_pad = {
    .op_type = "Pad", .infer = pad_infer, .run = pad_run, .foldable = 1};
