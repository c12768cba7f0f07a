/*
 * Depthwise Conv (one input channel per group, 1-D or 2-D): the direct
 * kernel per output-channel plane, planes split over the pool, each plane's
 * epilogue (residual, activation) done right after while it is in cache.
 * Per-channel GEMMs would be tiny and slow.
 */
#include "ops/conv_plan.h"

static qi_f32_dw2d dw_shape(const qi_conv_geom *g) {
  qi_f32_dw2d s;
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
  return s;
}

/* Per thread: the kernel's scratch and, when a residual may share the
 * output buffer, a plane to compute into. In floats, rounded to 16. */
static size_t per_thread_floats(const conv_plan *p) {
  qi_f32_dw2d s = dw_shape(&p->geo);
  size_t n = (qi_f32_dwconv2d_scratch(&s) + 15) & ~(size_t)15;
  if (p->has_sum)
    n += ((size_t)qi_conv_geom_out_plane(&p->geo) + 15) & ~(size_t)15;
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
  float *ks = j->scratch + (size_t)thread * j->per_thread;
  /* A residual living in the output buffer must not be overwritten before
   * it is read: compute into this thread's plane instead. */
  float *dst = y;
  if (res == y)
    dst = ks + ((qi_f32_dwconv2d_scratch(&j->shape) + 15) & ~(size_t)15);
  j->p->dw(&j->shape, x, j->io->w + m * g->k[1] * g->k[2], bias, dst, ks);
  qi_epilogue_span(&j->p->epi, 0.0f, res, dst, y, (size_t)op);
}

void conv_run_depthwise(const qi_run_ctx *ctx, const conv_plan *p,
                        const conv_io *io) {
  const qi_conv_geom *g = &p->geo;
  dw_job j = {p, io, dw_shape(g), ctx->scratch, per_thread_floats(p),
              g->cout / g->cin};
  qi_pool_run(ctx->pool, dw_task, &j, (size_t)(g->batch * g->cout));
}
