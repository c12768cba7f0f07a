/*
 * Depthwise Conv (one input channel per group, 1-D or 2-D): the direct
 * kernel per output-channel plane, planes split over the pool, each plane's
 * epilogue (residual, activation) done right after while it is in cache.
 * Per-channel GEMMs would be tiny and slow.
 */
#include "ops/conv_plan.h"

size_t conv_dw_scratch(const conv_plan *p, int nthreads) {
  /* A residual sharing the output buffer needs a plane to compute into. */
  if (!p->has_sum) return 0;
  return sizeof(float) * (size_t)qi_conv_geom_out_plane(&p->geo) *
         (size_t)(nthreads > 0 ? nthreads : 1);
}

typedef struct dw_job {
  const conv_plan *p;
  const conv_io *io;
  qi_f32_dw2d shape;
  float *scratch;
  int64_t mult;   /* output channels per input channel */
} dw_job;

static void dw_task(void *arg, size_t t, int thread) {
  const dw_job *j = arg;
  const qi_conv_geom *g = &j->p->geo;
  int64_t m = (int64_t)t % g->cout;
  int64_t ip = qi_conv_geom_in_plane(g), op = qi_conv_geom_out_plane(g);
  const float *x =
      j->io->x + ((int64_t)t / g->cout * g->cin + m / j->mult) * ip;
  float *y = j->io->y + (int64_t)t * op;
  const float *res = j->io->res ? j->io->res + (int64_t)t * op : NULL;
  float bias = j->io->bias ? j->io->bias[m] : 0.0f;
  float *dst = res == y ? j->scratch + (int64_t)thread * op : y;
  j->p->dw(&j->shape, x, j->io->w + m * g->k[1] * g->k[2], bias, dst);
  qi_epilogue_span(&j->p->epi, 0.0f, res, dst, y, (size_t)op);
}

void conv_run_depthwise(const qi_run_ctx *ctx, const conv_plan *p,
                        const conv_io *io) {
  const qi_conv_geom *g = &p->geo;
  dw_job j = {p, io, {0}, ctx->scratch, g->cout / g->cin};
  j.shape.in_h = g->in[1];
  j.shape.in_w = g->in[2];
  j.shape.out_h = g->out[1];
  j.shape.out_w = g->out[2];
  j.shape.k_h = g->k[1];
  j.shape.k_w = g->k[2];
  j.shape.stride_h = g->stride[1];
  j.shape.stride_w = g->stride[2];
  j.shape.dil_h = g->dil[1];
  j.shape.dil_w = g->dil[2];
  j.shape.pad_t = g->pad_b[1];
  j.shape.pad_l = g->pad_b[2];
  qi_pool_run(ctx->pool, dw_task, &j, (size_t)(g->batch * g->cout));
}
