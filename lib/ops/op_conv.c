/*
 * Conv (ONNX opsets 1..21), FP32, NCHW / NCW / NCDHW, with the fused
 * residual ("qi_sum": input 3, added after the bias and before the
 * activation) and activation ("qi_act").
 *
 * prepare picks one way to run (conv_plan.h):
 *  - depthwise (one input channel per group, 1-D or 2-D): direct kernels
 *    (conv_run_dw.c);
 *  - packed (AVX2 CPU, constant weights): weights packed once, our
 *    microkernel over the pool (conv_run_packed.c);
 *  - otherwise OpenBLAS on the input (1x1) or on im2col tiles
 *    (conv_run_blas.c): CPUs without AVX2, weights computed at run time.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/conv_dispatch.h"
#include "ops/conv_plan.h"

/* Column-matrix budget per im2col tile of the BLAS path (floats). */
#define CONV_TILE_FLOATS ((int64_t)1 << 19)
#define CONV_TILE_MIN_COLS 64

static int has_sum_input(const qi_node *n) {
  return qi_attr_int(n, "qi_sum", 0) != 0;
}

static int weights_const(const qi_graph *g, const qi_node *n) {
  return n->nin > 1 && n->in[1] >= 0 &&
         g->tensors[n->in[1]].kind == QI_TK_CONST &&
         g->tensors[n->in[1]].data != NULL;
}

/* Chooses the algorithm and its sizes; allocates nothing. */
static void plan_make(const qi_node *n, const qi_conv_geom *geo,
                      int w_const, conv_plan *p) {
  memset(p, 0, sizeof *p);
  p->geo = *geo;
  p->has_sum = has_sum_input(n);
  p->epi = qi_epilogue_make(n);
  qi_f32_conv_kernels k = qi_f32_conv_kernels_get();
  int64_t cg = geo->cin / geo->group;
  int unit = 1;
  for (int a = 0; a < 3; a++)
    if (geo->k[a] != 1 || geo->stride[a] != 1 || geo->pad_b[a] != 0 ||
        geo->pad_e[a] != 0)
      unit = 0;
  if (cg == 1 && geo->nsp <= 2) {
    p->algo = CONV_DEPTHWISE;
    p->dw = k.dwconv2d;
    /* Eight planes at a time wins except on wide stride-1 rows with small
     * kernels, where the single-plane kernel streams rows directly. */
    p->dw8 = geo->stride[2] == 1 && geo->k[2] <= 5 && geo->out[2] >= 48
                 ? NULL
                 : k.dwconv2d_x8;
  } else if (w_const && k.gemm_ukernel != qi_f32_gemm_ukernel_6x16__scalar &&
             conv_packed_layout(p)) {
    p->algo = CONV_PACKED;
    p->pk.ukernel = k.gemm_ukernel;
    p->pk.pack_b = k.pack_b;
  } else if (unit) {
    p->algo = CONV_BLAS_POINTWISE;
  } else {
    p->algo = CONV_BLAS_IM2COL;
    int64_t kg = cg * qi_conv_geom_ksize(geo), ohw = qi_conv_geom_out_plane(geo);
    int64_t tile = CONV_TILE_FLOATS / kg;
    if (tile < CONV_TILE_MIN_COLS) tile = CONV_TILE_MIN_COLS;
    tile &= ~(int64_t)15;
    p->tile = tile >= ohw ? ohw : tile;
  }
}

static size_t plan_scratch(const conv_plan *p, int nthreads) {
  switch (p->algo) {
    case CONV_DEPTHWISE: return conv_dw_scratch(p, nthreads);
    case CONV_PACKED: return conv_packed_scratch(p, nthreads);
    default: return conv_blas_scratch(p);
  }
}

static qi_status check_f32(const qi_node *n, qi_dtype dt, const char *what,
                           qi_error *err) {
  if (dt != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s has dtype %s; only float32 runs here",
                   n->name, n->op_type, what, qi_dtype_name(dt));
  return QI_OK;
}

static qi_status conv_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, has_sum_input(n) ? 4 : 3, err));
  if (has_sum_input(n) && (n->nin < 4 || n->in[3] < 0))
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Conv): qi_sum is set but input 3 is missing",
                   n->name);
  return qi_conv_check_act(n, err);
}

static qi_status conv_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(conv_check(g, n, err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 0), "input X", err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 1), "weights W", err));
  qi_conv_geom geo;
  QI_TRY(qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 0,
                           &geo, err));
  const qi_shape *b = qi_in_shape(g, n, 2);
  if (b) {
    QI_TRY(check_f32(n, qi_in_dtype(g, n, 2), "bias B", err));
    if (b->rank != 1 || b->d[0] != geo.cout)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Conv): bias must have shape [%lld]", n->name,
                     (long long)geo.cout);
  }
  qi_shape out = qi_conv_geom_out_shape(&geo);
  if (has_sum_input(n)) {
    QI_TRY(check_f32(n, qi_in_dtype(g, n, 3), "fused residual", err));
    const qi_shape *s = qi_in_shape(g, n, 3);
    int same = s->rank == out.rank;
    for (int i = 0; same && i < out.rank; i++) same = s->d[i] == out.d[i];
    if (!same) {
      char a[96], c[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (Conv): fused residual %s must match the "
                     "output %s",
                     n->name, qi_shape_str(s, a, sizeof a),
                     qi_shape_str(&out, c, sizeof c));
    }
  }
  qi_set_output(g, n, 0, QI_FLOAT32, &out);
  return QI_OK;
}

static void conv_free_state(void *state) {
  conv_plan *p = state;
  if (!p) return;
  conv_packed_free(&p->pk);
  free(p);
}

static qi_status conv_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  qi_conv_geom geo;
  QI_TRY(qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 0,
                           &geo, err));
  conv_plan *p = malloc(sizeof *p);
  if (!p)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (Conv): out of memory",
                   n->name);
  int w_const = weights_const(g, n);
  plan_make(n, &geo, w_const, p);
  if (p->algo == CONV_PACKED) {
    qi_status st = conv_packed_build(p, g->tensors[n->in[1]].data, n->name,
                                     err);
    if (st != QI_OK) {
      free(p);
      return st;
    }
  }
  conv_free_state(n->state);
  n->state = p;
  return QI_OK;
}

static size_t conv_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  if (n->state) return plan_scratch(n->state, nthreads);
  /* Not prepared yet: enough for either plan run may end up with (an
   * unprepared run plans as for non-constant weights). */
  conv_plan p;
  qi_conv_geom geo;
  if (qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 0,
                        &geo, NULL) != QI_OK)
    return 0;
  plan_make(n, &geo, weights_const(g, n), &p);
  size_t a = plan_scratch(&p, nthreads);
  plan_make(n, &geo, 0, &p);
  size_t b = plan_scratch(&p, nthreads);
  return a > b ? a : b;
}

static qi_status conv_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  conv_plan local;
  const conv_plan *p = n->state;
  if (!p) {
    /* Not prepared: no packed weights, so plan as for non-constant ones. */
    qi_conv_geom geo;
    QI_TRY(qi_conv_geom_make(n, &in[0].shape, &in[1].shape, 0, &geo,
                             ctx->err));
    plan_make(n, &geo, 0, &local);
    p = &local;
  }
  const qi_conv_geom *g = &p->geo;
  if (in[0].dtype != QI_FLOAT32 || in[1].dtype != QI_FLOAT32 ||
      out[0].dtype != QI_FLOAT32 || !in[0].data || !in[1].data ||
      !out[0].data)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (Conv): run needs float32 buffers", n->name);
  if (in[0].shape.d[1] != g->cin || in[0].shape.d[0] != g->batch)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (Conv): input shape differs from the one "
                   "prepared",
                   n->name);
  /* Per-thread scratch is indexed by the pool's thread number. */
  int nth = qi_pool_size(ctx->pool);
  size_t need = plan_scratch(p, nth > ctx->nthreads ? nth : ctx->nthreads);
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (Conv): scratch of %zu bytes given, %zu needed",
                   n->name, ctx->scratch_bytes, need);
  conv_io io = {in[0].data, in[1].data,
                n->nin > 2 && in[2].data ? in[2].data : NULL, NULL,
                out[0].data};
  if (p->has_sum) {
    if (n->nin < 4 || !in[3].data)
      return qi_fail(ctx->err, QI_ERR_INTERNAL,
                     "node '%s' (Conv): fused residual buffer missing",
                     n->name);
    io.res = in[3].data;
  }
  switch (p->algo) {
    case CONV_DEPTHWISE: conv_run_depthwise(ctx, p, &io); break;
    case CONV_PACKED: conv_run_packed(ctx, p, &io); break;
    default: conv_run_blas(ctx, p, &io); break;
  }
  return QI_OK;
}

const qi_op_def qi_op_conv = {
    .op_type = "Conv",
    .check = conv_check,
    .infer = conv_infer,
    .prepare = conv_prepare,
    .free_state = conv_free_state,
    .scratch_bytes = conv_scratch_bytes,
    .run = conv_run,
    .foldable = 0,
};
