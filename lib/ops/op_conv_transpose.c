/*
 * ConvTranspose (ONNX opsets 1..21), FP32, NCHW / NCW / NCDHW.
 *
 * The adjoint of im2col convolution: per (batch, group) and per tile of
 * input pixels, one GEMM forms the column matrix
 *   col [M_g*k x tile] = W_g^T [M_g*k x C_g] * X_g [C_g x tile]
 * (W is [C, M/group, k...], so W_g is read transposed in place), and
 * col2im scatters it into the zeroed output planes, channels split over the
 * pool. Bias and the fused activation ("qi_act") follow in one pass. The
 * GEMM is ours over the pool (gemm_f32.h), OpenBLAS without AVX2.
 */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>

#include "fp32/im2col.h"
#include "ops/conv_geom.h"
#include "ops/gemm_f32.h"

/* Column-matrix budget per tile (floats). */
#define CONVT_TILE_FLOATS ((int64_t)1 << 19)
#define CONVT_TILE_MIN_COLS 64

typedef struct convt_plan {
  qi_conv_geom geo;
  int64_t tile;   /* input pixels per tile */
  qi_epilogue epi;
} convt_plan;

static void plan_make(const qi_node *n, const qi_conv_geom *geo,
                      convt_plan *p) {
  memset(p, 0, sizeof *p);
  p->geo = *geo;
  p->epi = qi_epilogue_make(n);
  int64_t rows = geo->cout / geo->group * qi_conv_geom_ksize(geo);
  int64_t hw = qi_conv_geom_in_plane(geo);
  int64_t tile = CONVT_TILE_FLOATS / rows;
  if (tile < CONVT_TILE_MIN_COLS) tile = CONVT_TILE_MIN_COLS;
  tile &= ~(int64_t)15;
  if (tile > hw) tile = hw;
  p->tile = tile;
}

/* The column tile, 64-byte aligned, then the GEMM's per-thread areas. */
static size_t col_bytes(const convt_plan *p) {
  int64_t rows = p->geo.cout / p->geo.group * qi_conv_geom_ksize(&p->geo);
  return (sizeof(float) * (size_t)(rows * p->tile) + 63) & ~(size_t)63;
}

static size_t plan_scratch(const convt_plan *p, int nthreads) {
  qi_f32_conv_kernels k = qi_f32_conv_kernels_get();
  size_t gemm = k.gemm_ukernel != qi_f32_gemm_ukernel_6x16__scalar
                    ? qi_f32_gemm_scratch(nthreads)
                    : 0;
  return col_bytes(p) + gemm;
}

static qi_status check_f32(const qi_node *n, qi_dtype dt, const char *what,
                           qi_error *err) {
  if (dt != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (ConvTranspose): %s has dtype %s; only float32 "
                   "runs here",
                   n->name, what, qi_dtype_name(dt));
  return QI_OK;
}

static qi_status convt_check(const qi_graph *g, const qi_node *n,
                             qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  if (qi_attr_int(n, "qi_sum", 0) != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (ConvTranspose): a fused residual (qi_sum) is "
                   "not supported",
                   n->name);
  return qi_conv_check_act(n, err);
}

static qi_status convt_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(convt_check(g, n, err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 0), "input X", err));
  QI_TRY(check_f32(n, qi_in_dtype(g, n, 1), "weights W", err));
  qi_conv_geom geo;
  QI_TRY(qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 1,
                           &geo, err));
  const qi_shape *b = qi_in_shape(g, n, 2);
  if (b) {
    QI_TRY(check_f32(n, qi_in_dtype(g, n, 2), "bias B", err));
    if (b->rank != 1 || b->d[0] != geo.cout)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (ConvTranspose): bias must have shape [%lld]",
                     n->name, (long long)geo.cout);
  }
  qi_shape out = qi_conv_geom_out_shape(&geo);
  qi_set_output(g, n, 0, QI_FLOAT32, &out);
  return QI_OK;
}

static qi_status convt_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  qi_conv_geom geo;
  QI_TRY(qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 1,
                           &geo, err));
  convt_plan *p = malloc(sizeof *p);
  if (!p)
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (ConvTranspose): out of memory", n->name);
  plan_make(n, &geo, p);
  free(n->state);
  n->state = p;
  return QI_OK;
}

static void convt_free_state(void *state) { free(state); }

static size_t convt_scratch_bytes(const qi_graph *g, const qi_node *n,
                                  int nthreads) {
  if (n->state) return plan_scratch(n->state, nthreads);
  convt_plan p;
  if (qi_conv_geom_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), 1,
                        &p.geo, NULL) != QI_OK)
    return 0;
  plan_make(n, &p.geo, &p);
  return plan_scratch(&p, nthreads);
}

typedef struct col2im_job {
  const qi_f32_window *win;
  const float *col;
  float *img;
  int64_t channels, ksize, per_task, col0, col1;
} col2im_job;

/* Task t scatters whole output channels, so tasks never share a plane. */
static void col2im_task(void *arg, size_t t, int thread) {
  (void)thread;
  const col2im_job *j = arg;
  int64_t c0 = (int64_t)t * j->per_task, c1 = c0 + j->per_task;
  if (c1 > j->channels) c1 = j->channels;
  int64_t ld = j->col1 - j->col0;
  qi_f32_col2im_add(j->win, j->col + c0 * j->ksize * ld, c0 * j->ksize,
                    c1 * j->ksize, j->col0, j->col1, ld, j->img);
}

static qi_status convt_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  convt_plan local;
  const convt_plan *p = n->state;
  if (!p) {
    QI_TRY(qi_conv_geom_make(n, &in[0].shape, &in[1].shape, 1, &local.geo,
                             ctx->err));
    plan_make(n, &local.geo, &local);
    p = &local;
  }
  const qi_conv_geom *g = &p->geo;
  if (in[0].dtype != QI_FLOAT32 || in[1].dtype != QI_FLOAT32 ||
      out[0].dtype != QI_FLOAT32 || !in[0].data || !in[1].data ||
      !out[0].data || in[0].shape.d[1] != g->cin ||
      in[0].shape.d[0] != g->batch)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (ConvTranspose): buffers differ from the "
                   "prepared float32 shapes",
                   n->name);
  int nth = qi_pool_size(ctx->pool);
  if (nth < ctx->nthreads) nth = ctx->nthreads;
  /* Without room for our GEMM's areas, OpenBLAS runs it. */
  const size_t need = col_bytes(p);
  const qi_f32_conv_kernels kern = qi_f32_conv_kernels_get();
  const int ours = ctx->scratch_bytes >= plan_scratch(p, nth) &&
                   kern.gemm_ukernel != qi_f32_gemm_ukernel_6x16__scalar;
  if (need > ctx->scratch_bytes || !ctx->scratch)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (ConvTranspose): scratch of %zu bytes given, "
                   "%zu needed",
                   n->name, ctx->scratch_bytes, need);
  const float *x = in[0].data, *w = in[1].data;
  const float *bias = n->nin > 2 && in[2].data ? in[2].data : NULL;
  float *y = out[0].data, *col = ctx->scratch;
  const int64_t cg = g->cin / g->group, mg = g->cout / g->group;
  const int64_t ks = qi_conv_geom_ksize(g), rows = mg * ks;
  const int64_t hw = qi_conv_geom_in_plane(g), ohw = qi_conv_geom_out_plane(g);
  const qi_f32_window win = qi_conv_geom_window(g);
  memset(y, 0, sizeof(float) * (size_t)(g->batch * g->cout * ohw));
  for (int64_t b = 0; b < g->batch; b++) {
    for (int64_t gi = 0; gi < g->group; gi++) {
      const float *xg = x + (b * g->cin + gi * cg) * hw;
      const float *wg = w + gi * cg * rows;
      float *yg = y + (b * g->cout + gi * mg) * ohw;
      for (int64_t j0 = 0; j0 < hw; j0 += p->tile) {
        int64_t nt = hw - j0 < p->tile ? hw - j0 : p->tile;
        if (ours && qi_f32_gemm_supported(&kern, rows, nt, cg, 1)) {
          /* col = W_g^T X_g[:, j0:j0+nt]: A(i, p) = W_g[p][i]. */
          qi_f32_gemm gm = {rows, nt, cg, 1, wg, 1, rows, xg + j0, hw, 1, col,
                            1.0f, 0, NULL, NULL, NULL, NULL, NULL};
          qi_f32_gemm_run(ctx->pool, &kern, &gm,
                          (char *)ctx->scratch + col_bytes(p));
        } else {
          cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)rows,
                      (int)nt, (int)cg, 1.0f, wg, (int)rows, xg + j0,
                      (int)hw, 0.0f, col, (int)nt);
        }
        col2im_job j = {&win, col, yg, mg, ks, mg, j0, j0 + nt};
        if (nth > 1 && mg > 1 && rows * nt >= QI_EPILOGUE_PARALLEL_MIN) {
          j.per_task = (mg + 4 * nth - 1) / (4 * nth);
          qi_pool_run(ctx->pool, col2im_task, &j,
                      (size_t)((mg + j.per_task - 1) / j.per_task));
        } else {
          col2im_task(&j, 0, 0);
        }
      }
    }
  }
  qi_epilogue_planes(ctx->pool, &p->epi, bias, g->cout, NULL, y,
                     g->batch * g->cout, ohw);
  return QI_OK;
}

const qi_op_def qi_op_conv_transpose = {
    .op_type = "ConvTranspose",
    .check = convt_check,
    .infer = convt_infer,
    .prepare = convt_prepare,
    .free_state = convt_free_state,
    .scratch_bytes = convt_scratch_bytes,
    .run = convt_run,
    .foldable = 0,
};
