/*
 * Ops that move elements between layouts without arithmetic: Transpose,
 * Concat, Split, Gather, Tile, DepthToSpace and SpaceToDepth. Elements are
 * moved by size, so every dtype with a known size works; contiguous runs go
 * through memcpy since these run on large activations.
 */
#include <string.h>

#include "ops/op.h"
#include "ops/op_tensor_util.h"

static qi_status need_rank(const qi_node *n, const qi_shape *s, int lo, int hi,
                           qi_error *err) {
  if (s->rank >= lo && s->rank <= hi) return QI_OK;
  return qi_fail(err, QI_ERR_SHAPE,
                 "node '%s' (%s): input rank %d, expected %d to %d", n->name,
                 n->op_type, s->rank, lo, hi);
}

/* ---- Transpose ---------------------------------------------------------- */

/* perm attribute, or the reversed axes by default. */
static qi_status transpose_perm(const qi_node *n, int rank, int *perm,
                                qi_error *err) {
  const int64_t *p;
  int np = qi_attr_ints(n, "perm", &p);
  if (np < 0) {
    for (int i = 0; i < rank; i++) perm[i] = rank - 1 - i;
    return QI_OK;
  }
  int seen[QI_MAX_RANK] = {0};
  if (np != rank)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Transpose): perm has %d entries for rank %d",
                   n->name, np, rank);
  for (int i = 0; i < rank; i++) {
    if (p[i] < 0 || p[i] >= rank || seen[p[i]])
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Transpose): perm is not a permutation",
                     n->name);
    seen[p[i]] = 1;
    perm[i] = (int)p[i];
  }
  return QI_OK;
}

static qi_status transpose_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  int perm[QI_MAX_RANK];
  QI_TRY(transpose_perm(n, in->rank, perm, err));
  qi_shape o = {.rank = in->rank};
  for (int i = 0; i < in->rank; i++) o.d[i] = in->d[perm[i]];
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

static qi_status transpose_run(const qi_run_ctx *ctx, const qi_node *n,
                               const qi_buf *in, qi_buf *out) {
  int perm[QI_MAX_RANK];
  QI_TRY(transpose_perm(n, in[0].shape.rank, perm, ctx ? ctx->err : NULL));
  qi_opt_permute(ctx ? ctx->pool : NULL, in[0].data, out[0].data,
                 qi_dtype_size(in[0].dtype), in[0].shape.rank, in[0].shape.d,
                 perm);
  return QI_OK;
}

const qi_op_def qi_op_transpose = {.op_type = "Transpose",
                                   .infer = transpose_infer,
                                   .run = transpose_run,
                                   .foldable = 1};

/* ---- Concat ------------------------------------------------------------- */

static qi_status concat_infer(qi_graph *g, qi_node *n, qi_error *err) {
  if (n->nin < 1)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (Concat): no inputs", n->name);
  QI_TRY(qi_check_inputs(n, n->nin, n->nin, err));
  const qi_attr *ax = qi_attr_find(n, "axis");
  if (!ax || ax->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Concat): attribute 'axis' is missing", n->name);
  qi_dtype dt = qi_in_dtype(g, n, 0);
  QI_TRY(qi_opt_check_movable(n, dt, err));
  qi_shape o = *qi_in_shape(g, n, 0);
  int axis = qi_norm_axis(ax->i, o.rank);
  if (o.rank < 1 || axis < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Concat): axis %lld is out of range for rank "
                   "%d",
                   n->name, (long long)ax->i, o.rank);
  for (int k = 1; k < n->nin; k++) {
    const qi_shape *s = qi_in_shape(g, n, k);
    int same = s->rank == o.rank && qi_in_dtype(g, n, k) == dt;
    for (int i = 0; same && i < o.rank; i++)
      if (i != axis && s->d[i] != o.d[i]) same = 0;
    if (!same) {
      char a[160], b[160];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Concat): input %d %s %s does not match "
                     "input 0 %s %s on axis %d",
                     n->name, k, qi_dtype_name(qi_in_dtype(g, n, k)),
                     qi_shape_str(s, a, sizeof a), qi_dtype_name(dt),
                     qi_shape_str(qi_in_shape(g, n, 0), b, sizeof b), axis);
    }
    o.d[axis] += s->d[axis];
  }
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, dt, &o);
  return QI_OK;
}

/* out viewed as [outer, sum(d_k * inner)]: each input contributes one
 * contiguous block per outer index. An input the memory plan placed in
 * the output already (runtime/plan.c) is not copied. */
static qi_status concat_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  (void)ctx;
  const qi_shape *os = &out[0].shape;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), os->rank);
  size_t es = qi_dtype_size(out[0].dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= os->d[i];
  for (int i = axis + 1; i < os->rank; i++) inner *= os->d[i];
  size_t out_row = (size_t)os->d[axis] * (size_t)inner * es;
  size_t col = 0;
  for (int k = 0; k < n->nin; k++) {
    size_t blk = (size_t)in[k].shape.d[axis] * (size_t)inner * es;
    if (!blk) continue;
    const char *src = in[k].data;
    char *dst = (char *)out[0].data + col;
    if (outer == 1 && src == dst) {
      col += blk;
      continue;
    }
    for (int64_t o = 0; o < outer; o++)
      memcpy(dst + (size_t)o * out_row, src + (size_t)o * blk, blk);
    col += blk;
  }
  return QI_OK;
}

const qi_op_def qi_op_concat = {.op_type = "Concat",
                                .infer = concat_infer,
                                .run = concat_run,
                                .foldable = 1};

/* ---- Split -------------------------------------------------------------- */

/* Size of output k along the axis of length `dim`, from (in order) the
 * split input (opset 13+), the split attribute (before 13), or else equal
 * chunks of ceil(dim / count) with a smaller last one, count being
 * num_outputs (opset 18) or the number of outputs, as the ONNX reference
 * does. -1 when the sizes are unusable. */
static int64_t split_size(const qi_node *n, const qi_buf *split, int64_t dim,
                          int k) {
  int nout = n->nout;
  if (split && split->data) {
    int64_t v[1];
    qi_buf one = *split;
    if (qi_shape_numel(&split->shape) != nout) return -1;
    size_t es = qi_dtype_size(split->dtype);
    one.shape.rank = 0;
    one.data = (char *)split->data + (size_t)k * es;
    return qi_opt_buf_ints(&one, v, 1) == 1 ? v[0] : -1;
  }
  const int64_t *a;
  int na = qi_attr_ints(n, "split", &a);
  if (na >= 0) return na == nout ? a[k] : -1;
  int64_t num = qi_attr_int(n, "num_outputs", nout);
  if (num != nout) return -1;
  int64_t chunk = (dim + num - 1) / num;
  return k < nout - 1 ? chunk : dim - chunk * (nout - 1);
}

static qi_status split_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 2, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), in->rank);
  if (in->rank < 1 || axis < 0 || n->nout < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Split): axis %lld is out of range for rank %d",
                   n->name, (long long)qi_attr_int(n, "axis", 0), in->rank);
  qi_buf split;
  QI_TRY(qi_opt_const_buf(g, n, 1, "split", &split, err));
  if (split.data && split.dtype != QI_INT64 && split.dtype != QI_INT32)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (Split): split input is %s",
                   n->name, qi_dtype_name(split.dtype));
  int64_t sum = 0;
  for (int k = 0; k < n->nout; k++) {
    int64_t s = split_size(n, &split, in->d[axis], k);
    if (s < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Split): cannot split dim %lld into %d "
                     "outputs with the given sizes",
                     n->name, (long long)in->d[axis], n->nout);
    sum += s;
    qi_shape o = *in;
    o.d[axis] = s;
    qi_set_output(g, n, k, qi_in_dtype(g, n, 0), &o);
  }
  if (sum != in->d[axis])
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Split): sizes add up to %lld, dim is %lld",
                   n->name, (long long)sum, (long long)in->d[axis]);
  return QI_OK;
}

static qi_status split_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  (void)ctx;
  const qi_shape *is = &in[0].shape;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), is->rank);
  size_t es = qi_dtype_size(in[0].dtype);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < axis; i++) outer *= is->d[i];
  for (int i = axis + 1; i < is->rank; i++) inner *= is->d[i];
  size_t in_row = (size_t)is->d[axis] * (size_t)inner * es;
  size_t col = 0;
  const qi_buf *split = n->nin > 1 ? &in[1] : NULL;
  for (int k = 0; k < n->nout; k++) {
    size_t blk =
        (size_t)split_size(n, split, is->d[axis], k) * (size_t)inner * es;
    if (out[k].data && blk) {
      const char *src = (const char *)in[0].data + col;
      char *dst = out[k].data;
      for (int64_t o = 0; o < outer; o++)
        memcpy(dst + (size_t)o * blk, src + (size_t)o * in_row, blk);
    }
    col += blk;
  }
  return QI_OK;
}

const qi_op_def qi_op_split = {
    .op_type = "Split", .infer = split_infer, .run = split_run, .foldable = 1};

/* ---- Gather ------------------------------------------------------------- */

static qi_status gather_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *ds = qi_in_shape(g, n, 0), *is = qi_in_shape(g, n, 1);
  qi_dtype it = qi_in_dtype(g, n, 1);
  if (it != QI_INT64 && it != QI_INT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Gather): indices of type %s", n->name,
                   qi_dtype_name(it));
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), ds->rank);
  if (ds->rank < 1 || axis < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Gather): axis %lld is out of range for rank "
                   "%d",
                   n->name, (long long)qi_attr_int(n, "axis", 0), ds->rank);
  int r = ds->rank - 1 + is->rank;
  if (r > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Gather): output rank %d is above %d", n->name, r,
                   QI_MAX_RANK);
  qi_shape o = {.rank = r};
  int k = 0;
  for (int i = 0; i < axis; i++) o.d[k++] = ds->d[i];
  for (int i = 0; i < is->rank; i++) o.d[k++] = is->d[i];
  for (int i = axis + 1; i < ds->rank; i++) o.d[k++] = ds->d[i];
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

static int64_t gather_index(const qi_buf *idx, int64_t j) {
  return idx->dtype == QI_INT64 ? ((const int64_t *)idx->data)[j]
                                : ((const int32_t *)idx->data)[j];
}

static qi_status gather_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  const qi_shape *ds = &in[0].shape;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 0), ds->rank);
  size_t es = qi_dtype_size(in[0].dtype);
  int64_t outer = 1, inner = 1, dim = ds->d[axis];
  for (int i = 0; i < axis; i++) outer *= ds->d[i];
  for (int i = axis + 1; i < ds->rank; i++) inner *= ds->d[i];
  int64_t nidx = qi_shape_numel(&in[1].shape);
  /* Validate every index first so a bad one leaves no partial output. */
  for (int64_t j = 0; j < nidx; j++) {
    int64_t v = gather_index(&in[1], j);
    if (v < -dim || v >= dim)
      return qi_fail(ctx ? ctx->err : NULL, QI_ERR_INVALID_ARG,
                     "node '%s' (Gather): index %lld at %lld is out of "
                     "range for dim %lld",
                     n->name, (long long)v, (long long)j, (long long)dim);
  }
  size_t blk = (size_t)inner * es;
  if (!blk) return QI_OK;
  const char *src = in[0].data;
  char *dst = out[0].data;
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < nidx; j++) {
      int64_t v = gather_index(&in[1], j);
      if (v < 0) v += dim;
      memcpy(dst, src + (size_t)(o * dim + v) * blk, blk);
      dst += blk;
    }
  return QI_OK;
}

const qi_op_def qi_op_gather = {.op_type = "Gather",
                                .infer = gather_infer,
                                .run = gather_run,
                                .foldable = 1};

/* ---- Tile --------------------------------------------------------------- */

static qi_status tile_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  int64_t rep[QI_MAX_RANK];
  int cnt;
  QI_TRY(qi_opt_const_ints(g, n, 1, "repeats", rep, QI_MAX_RANK, &cnt, err));
  if (cnt != in->rank)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (Tile): %d repeats for rank %d", n->name, cnt,
                   in->rank);
  qi_shape o = {.rank = in->rank};
  for (int i = 0; i < in->rank; i++) {
    if (rep[i] < 0 || (in->d[i] && rep[i] > QI_OPT_MAX_NUMEL / in->d[i]))
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Tile): repeat %lld on axis %d is invalid",
                     n->name, (long long)rep[i], i);
    o.d[i] = in->d[i] * rep[i];
  }
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

/* Output row r (last axis) is the input row at (coord % in_dim) on the
 * outer axes, repeated along the last axis. */
static qi_status tile_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  (void)ctx;
  (void)n;
  const qi_shape *is = &in[0].shape, *os = &out[0].shape;
  size_t es = qi_dtype_size(in[0].dtype);
  int64_t total = qi_shape_numel(os);
  if (total == 0) return QI_OK;
  int r = os->rank;
  if (r == 0) {
    memcpy(out[0].data, in[0].data, es);
    return QI_OK;
  }
  int64_t ist[QI_MAX_RANK], coord[QI_MAX_RANK] = {0};
  qi_opt_strides(is, ist);
  int64_t in_w = is->d[r - 1], out_w = os->d[r - 1], rows = total / out_w;
  size_t in_row = (size_t)in_w * es, out_row = (size_t)out_w * es;
  const char *src = in[0].data;
  char *dst = out[0].data;
  for (int64_t row = 0; row < rows; row++) {
    int64_t soff = 0;
    for (int a = 0; a < r - 1; a++) soff += (coord[a] % is->d[a]) * ist[a];
    char *d = dst + (size_t)row * out_row;
    for (int64_t c = 0; c < out_w; c += in_w, d += in_row)
      memcpy(d, src + (size_t)soff * es, in_row);
    for (int a = r - 2; a >= 0; a--) {
      if (++coord[a] < os->d[a]) break;
      coord[a] = 0;
    }
  }
  return QI_OK;
}

const qi_op_def qi_op_tile = {
    .op_type = "Tile", .infer = tile_infer, .run = tile_run, .foldable = 1};

/* ---- DepthToSpace / SpaceToDepth ---------------------------------------- */

static qi_status blocksize(const qi_node *n, int64_t *b, qi_error *err) {
  *b = qi_attr_int(n, "blocksize", 0);
  if (*b >= 1 && *b <= (INT64_C(1) << 20)) return QI_OK;
  return qi_fail(err, QI_ERR_PARSE,
                 "node '%s' (%s): blocksize %lld is "
                 "invalid",
                 n->name, n->op_type, (long long)*b);
}

static int d2s_crd(const qi_node *n) {
  return strcmp(qi_attr_str(n, "mode", "DCR"), "CRD") == 0;
}

static qi_status d2s_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(need_rank(n, in, 4, 4, err));
  int64_t b;
  QI_TRY(blocksize(n, &b, err));
  const char *mode = qi_attr_str(n, "mode", "DCR");
  if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (DepthToSpace): mode '%s'", n->name, mode);
  if (in->d[1] % (b * b))
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (DepthToSpace): %lld channels do not divide "
                   "by blocksize^2 = %lld",
                   n->name, (long long)in->d[1], (long long)(b * b));
  qi_shape o = {
      .rank = 4,
      .d = {in->d[0], in->d[1] / (b * b), in->d[2] * b, in->d[3] * b}};
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

/* DCR: [N, b, b, C', H, W] -> [N, C', H, b, W, b];
 * CRD: [N, C', b, b, H, W] -> [N, C', H, b, W, b]. */
static qi_status d2s_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  const int64_t *d = in[0].shape.d;
  int64_t b = qi_attr_int(n, "blocksize", 1), c = d[1] / (b * b);
  static const int dcr[6] = {0, 3, 4, 1, 5, 2}, crd[6] = {0, 1, 4, 2, 5, 3};
  int crd_mode = d2s_crd(n);
  int64_t dims_dcr[6] = {d[0], b, b, c, d[2], d[3]};
  int64_t dims_crd[6] = {d[0], c, b, b, d[2], d[3]};
  qi_opt_permute(ctx ? ctx->pool : NULL, in[0].data, out[0].data,
                 qi_dtype_size(in[0].dtype), 6, crd_mode ? dims_crd : dims_dcr,
                 crd_mode ? crd : dcr);
  return QI_OK;
}

const qi_op_def qi_op_depth_to_space = {.op_type = "DepthToSpace",
                                        .infer = d2s_infer,
                                        .run = d2s_run,
                                        .foldable = 1};

static qi_status s2d_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_opt_check_movable(n, qi_in_dtype(g, n, 0), err));
  const qi_shape *in = qi_in_shape(g, n, 0);
  QI_TRY(need_rank(n, in, 4, 4, err));
  const char *mode = qi_attr_str(n, "mode", "DCR");
  if (strcmp(mode, "DCR") != 0 && strcmp(mode, "CRD") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (SpaceToDepth): mode '%s' is not DCR or CRD",
                   n->name, mode);
  int64_t b;
  QI_TRY(blocksize(n, &b, err));
  if (in->d[2] % b || in->d[3] % b)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (SpaceToDepth): %lldx%lld does not divide by "
                   "blocksize %lld",
                   n->name, (long long)in->d[2], (long long)in->d[3],
                   (long long)b);
  qi_shape o = {.rank = 4,
                .d = {in->d[0], in->d[1] * b * b, in->d[2] / b, in->d[3] / b}};
  QI_TRY(qi_opt_check_numel(n, &o, err));
  qi_set_output(g, n, 0, qi_in_dtype(g, n, 0), &o);
  return QI_OK;
}

/* DCR: [N, C, H', b, W', b] -> [N, b, b, C, H', W'];
 * CRD (opset 24 mode attribute): -> [N, C, b, b, H', W']. */
static qi_status s2d_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  const int64_t *d = in[0].shape.d;
  int64_t b = qi_attr_int(n, "blocksize", 1);
  static const int perm_dcr[6] = {0, 3, 5, 1, 2, 4};
  static const int perm_crd[6] = {0, 1, 3, 5, 2, 4};
  const int *perm = strcmp(qi_attr_str(n, "mode", "DCR"), "CRD") == 0 ? perm_crd : perm_dcr;
  int64_t dims[6] = {d[0], d[1], d[2] / b, b, d[3] / b, b};
  qi_opt_permute(ctx ? ctx->pool : NULL, in[0].data, out[0].data,
                 qi_dtype_size(in[0].dtype), 6, dims, perm);
  return QI_OK;
}

const qi_op_def qi_op_space_to_depth = {.op_type = "SpaceToDepth",
                                        .infer = s2d_infer,
                                        .run = s2d_run,
                                        .foldable = 1};
