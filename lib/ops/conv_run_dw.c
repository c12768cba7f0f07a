/*
 * Depthwise Conv (one input channel per group, 1-D or 2-D): direct kernels,
 * per-channel GEMMs would be tiny and slow. With AVX2, kernels three taps
 * wide at stride_w 1 or 2 on wide enough output rows (DW3_MIN_OUT_W) run
 * straight on the NCHW planes (kernels/fp32/dwconv3.h) with the residual
 * and ReLU/Clip fused into the store; other shapes go eight output
 * channels at a time through an interleaved copy (kernels/fp32/dwconv8.h),
 * residual and ReLU/Clip fused into the store too; without AVX2 tasks are
 * single planes. Each task's epilogue (residual, activation) follows right
 * after, while its planes are in cache.
 */
#include "fp32/dwconv3.h"
#include "fp32/dwconv8.h"
#include "ops/conv_plan.h"

/* Narrower output rows leave the direct kernel mostly in its masked row-end
 * blocks, and the eight-plane kernel (full registers whatever the width,
 * epilogue fused) wins; measured on Zen 3 with MobileNetV2's layers:
 * stride 1, 28 wide: eight-plane 1.2x faster, 56 wide: direct 1.2x;
 * stride 2, 56 -> 28: direct 1.1x (its input rows are twice as wide). */
#define DW3_MIN_OUT_W 32
#define DW3_MIN_OUT_W_S2 24

/* The eight-plane kernel with the residual and activation fused. */
static int fused8(const conv_plan *p) {
  return p->dw8 == qi_f32_dwconv2d_x8__avx2;
}

static qi_f32_dw2d dw_shape(const qi_conv_geom *g) {
  qi_f32_dw2d s = {0};
  s.in_h = g->in[1];
  s.in_w = g->in[2];
  s.out_h = g->out[1];
  s.out_w = g->out[2];
  s.k_h = g->k[1];
  s.k_w = g->k[2];
  s.stride_h = g->stride[1];
  s.stride_w = g->stride[2];
  s.dil_h = g->dil[1];
  s.dil_w = g->dil[2];
  s.pad_t = g->pad_b[1];
  s.pad_l = g->pad_b[2];
  qi_f32_dw2d_derive(&s);
  return s;
}

/* Per thread, in floats rounded to 16: the single-plane kernel's scratch
 * plus, when a residual may share the output buffer, a plane to compute
 * into; or the eight-plane kernel's scratch, whichever is larger. */
static size_t per_thread_floats(const conv_plan *p) {
  qi_f32_dw2d s = dw_shape(&p->geo);
  size_t n = (qi_f32_dwconv2d_scratch(&s) + 15) & ~(size_t)15;
  if (p->has_sum)
    n += ((size_t)qi_conv_geom_out_plane(&p->geo) + 15) & ~(size_t)15;
  if (p->dw8) {
    size_t n8 = (qi_f32_dwconv2d_x8_scratch(&s) + 15) & ~(size_t)15;
    if (n8 > n) n = n8;
  }
  return n;
}

size_t conv_dw_scratch(const conv_plan *p, int nthreads) {
  return sizeof(float) * per_thread_floats(p) *
         (size_t)(nthreads > 0 ? nthreads : 1);
}

typedef struct dw_job {
  const conv_plan *p;
  const conv_io *io;
  qi_f32_dw2d shape;
  float *scratch;
  size_t per_thread;  /* floats */
  int64_t mult;       /* output channels per input channel */
} dw_job;

/* Output plane t (batch-major, channel m): its input plane, output,
 * residual (or NULL) and bias. */
typedef struct dw_plane {
  int64_t m, op;
  const float *x, *res;
  float *y;
  float bias;
} dw_plane;

static dw_plane plane_of(const dw_job *j, size_t t) {
  const qi_conv_geom *g = &j->p->geo;
  dw_plane p;
  p.m = (int64_t)t % g->cout;
  p.op = qi_conv_geom_out_plane(g);
  p.x = j->io->x +
        ((int64_t)t / g->cout * g->cin + p.m / j->mult) * qi_conv_geom_in_plane(g);
  p.y = j->io->y + (int64_t)t * p.op;
  p.res = j->io->res ? j->io->res + (int64_t)t * p.op : NULL;
  p.bias = j->io->bias ? j->io->bias[p.m] : 0.0f;
  return p;
}

static void dw_task(void *arg, size_t t, int thread) {
  const dw_job *j = arg;
  const qi_conv_geom *g = &j->p->geo;
  dw_plane pl = plane_of(j, t);
  int64_t m = pl.m, op = pl.op;
  const float *x = pl.x, *res = pl.res;
  float *y = pl.y, bias = pl.bias;
  float *ks = j->scratch + (size_t)thread * j->per_thread;
  /* A residual living in the output buffer must not be overwritten before
   * it is read: compute into this thread's plane instead. */
  float *dst = y;
  if (res == y)
    dst = ks + ((qi_f32_dwconv2d_scratch(&j->shape) + 15) & ~(size_t)15);
  j->p->dw(&j->shape, x, j->io->w + m * g->k[1] * g->k[2], bias, dst, ks);
  qi_epilogue_span(&j->p->epi, 0.0f, res, dst, y, (size_t)op);
}

/* Task t: output channels [8c, 8c + 8) of batch b, t = b * groups + c.
 * With AVX2 the kernel adds the residual and applies ReLU/Clip as it
 * writes each output (read before write: the residual may be the output
 * buffer); other activations run on the planes right after. */
static void dw8_task(void *arg, size_t t, int thread) {
  const dw_job *j = arg;
  const qi_conv_geom *g = &j->p->geo;
  const int64_t groups = (g->cout + 7) / 8;
  const int64_t b = (int64_t)t / groups, m0 = (int64_t)t % groups * 8;
  const int64_t ip = qi_conv_geom_in_plane(g), op = qi_conv_geom_out_plane(g);
  const int64_t ks = g->k[1] * g->k[2];
  const float *in[8], *w[8], *res[8];
  float bias[8], *out[8];
  for (int i = 0; i < 8; i++) {
    int64_t m = m0 + i;
    int valid = m < g->cout;
    in[i] = valid ? j->io->x + (b * g->cin + m / j->mult) * ip : NULL;
    w[i] = valid ? j->io->w + m * ks : NULL;
    bias[i] = valid && j->io->bias ? j->io->bias[m] : 0.0f;
    out[i] = valid ? j->io->y + (b * g->cout + m) * op : NULL;
    res[i] = valid && j->io->res ? j->io->res + (b * g->cout + m) * op : NULL;
  }
  float *ks8 = j->scratch + (size_t)thread * j->per_thread;
  const qi_f32_act *act = &j->p->epi.act;
  if (fused8(j->p)) {
    const qi_f32_act none = {QI_F32_ACT_NONE, 0.0f, 0.0f};
    const int fuse_act = qi_f32_dwconv2d_x8_fuses(act);
    qi_f32_dwconv2d_x8_fused__avx2(&j->shape, in, w, bias, res,
                                   fuse_act ? act : &none, out, ks8);
    if (!fuse_act)
      for (int i = 0; i < 8 && out[i]; i++)
        qi_epilogue_span(&j->p->epi, 0.0f, NULL, out[i], out[i], (size_t)op);
    return;
  }
  j->p->dw8(&j->shape, in, w, bias, out, ks8);
  for (int i = 0; i < 8 && out[i]; i++)
    qi_epilogue_span(&j->p->epi, 0.0f, res[i], out[i], out[i], (size_t)op);
}

/* Task t: output plane t of the direct three-tap kernel, epilogue fused
 * (activations it cannot fuse run on the plane right after). */
static void dw3_task(void *arg, size_t t, int thread) {
  (void)thread;
  const dw_job *j = arg;
  const qi_conv_geom *g = &j->p->geo;
  dw_plane pl = plane_of(j, t);
  int64_t m = pl.m, op = pl.op;
  const float *x = pl.x, *res = pl.res;
  float *y = pl.y, bias = pl.bias;
  const qi_f32_act *act = &j->p->epi.act;
  if (qi_f32_dwconv3_fuses(act)) {
    qi_f32_dwconv3_plane__avx2(&j->shape, x, j->io->w + m * 3 * g->k[1], bias,
                               res, act, y);
  } else {
    const qi_f32_act none = {QI_F32_ACT_NONE, 0.0f, 0.0f};
    qi_f32_dwconv3_plane__avx2(&j->shape, x, j->io->w + m * 3 * g->k[1], bias,
                               res, &none, y);
    qi_epilogue_span(&j->p->epi, 0.0f, NULL, y, y, (size_t)op);
  }
}

/* The direct kernel applies: AVX2 chosen for this plan (the scalar
 * single-plane kernel means QINFER_ISA=scalar or no AVX2) and its shape. */
static int use_dw3(const conv_plan *p, const qi_f32_dw2d *s) {
  return p->dw == qi_f32_dwconv2d__avx2 && qi_f32_dwconv3_applies(s) &&
         s->out_w >= (s->stride_w == 2 ? DW3_MIN_OUT_W_S2 : DW3_MIN_OUT_W);
}

void conv_run_depthwise(const qi_run_ctx *ctx, const conv_plan *p,
                        const conv_io *io) {
  const qi_conv_geom *g = &p->geo;
  dw_job j = {p, io, dw_shape(g), ctx->scratch, per_thread_floats(p),
              g->cout / g->cin};
  if (use_dw3(p, &j.shape))
    qi_pool_run(ctx->pool, dw3_task, &j, (size_t)(g->batch * g->cout));
  else if (p->dw8 && (fused8(p) || !(io->res && io->res == io->y)))
    qi_pool_run(ctx->pool, dw8_task, &j,
                (size_t)(g->batch * ((g->cout + 7) / 8)));
  else
    qi_pool_run(ctx->pool, dw_task, &j, (size_t)(g->batch * g->cout));
}
