/*
 * Conv through OpenBLAS: per (batch, group), pointwise convolutions are one
 * GEMM W_g [M_g x C_g] * X_g [C_g x HW] reading the input in place; others
 * build the column matrix [C_g*k x tile] of a tile of output pixels in
 * scratch (rows split over the pool) and multiply it by W_g, OpenBLAS's own
 * threads splitting the GEMM. The epilogue runs on each tile while it is
 * still in cache. A residual that shares the output buffer is accumulated
 * onto by the GEMM (beta = 1) instead of being read afterwards.
 */
#include <cblas.h>

#include "fp32/im2col.h"
#include "ops/conv_plan.h"

/* Column-matrix elements per im2col task below which one thread does all. */
#define CONV_IM2COL_PARALLEL_MIN 32768

size_t conv_blas_scratch(const conv_plan *p) {
  if (p->algo != CONV_BLAS_IM2COL) return 0;
  int64_t kg = p->geo.cin / p->geo.group * qi_conv_geom_ksize(&p->geo);
  return sizeof(float) * (size_t)(kg * p->tile);
}

typedef struct im2col_job {
  const qi_f32_window *win;
  const float *img;
  float *col;
  int64_t rows, rows_per_task, col0, col1;
} im2col_job;

static void im2col_task(void *arg, size_t t, int thread) {
  (void)thread;
  const im2col_job *j = arg;
  int64_t r0 = (int64_t)t * j->rows_per_task, r1 = r0 + j->rows_per_task;
  if (r1 > j->rows) r1 = j->rows;
  qi_f32_im2col(j->win, j->img, r0, r1, j->col0, j->col1,
                j->col + r0 * (j->col1 - j->col0), j->col1 - j->col0);
}

static void im2col_parallel(qi_pool *pool, const qi_f32_window *win,
                            const float *img, int64_t rows, int64_t col0,
                            int64_t col1, float *col) {
  im2col_job j = {win, img, col, rows, rows, col0, col1};
  int nth = qi_pool_size(pool);
  if (nth > 1 && rows > 1 && rows * (col1 - col0) >= CONV_IM2COL_PARALLEL_MIN) {
    int64_t per = (rows + 4 * nth - 1) / (4 * nth);
    j.rows_per_task = per;
    qi_pool_run(pool, im2col_task, &j, (size_t)((rows + per - 1) / per));
  } else {
    im2col_task(&j, 0, 0);
  }
}

void conv_run_blas(const qi_run_ctx *ctx, const conv_plan *p,
                   const conv_io *io) {
  const qi_conv_geom *g = &p->geo;
  const int64_t cg = g->cin / g->group, mg = g->cout / g->group;
  const int64_t kg = cg * qi_conv_geom_ksize(g);
  const int64_t ip = qi_conv_geom_in_plane(g), ohw = qi_conv_geom_out_plane(g);
  const qi_f32_window win = qi_conv_geom_window(g);
  const float *res = io->res;
  /* Residual already in the output buffer: accumulate onto it. */
  const int accumulate = res && res == io->y;
  const float beta = accumulate ? 1.0f : 0.0f;
  if (accumulate) res = NULL;
  for (int64_t b = 0; b < g->batch; b++) {
    for (int64_t gi = 0; gi < g->group; gi++) {
      const float *xg = io->x + (b * g->cin + gi * cg) * ip;
      const float *wg = io->w + gi * mg * kg;
      int64_t yoff = (b * g->cout + gi * mg) * ohw;
      float *yg = io->y + yoff;
      const float *rg = res ? res + yoff : NULL;
      const float *bg = io->bias ? io->bias + gi * mg : NULL;
      if (p->algo == CONV_BLAS_POINTWISE) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg,
                    (int)ohw, (int)kg, 1.0f, wg, (int)kg, xg, (int)ohw, beta,
                    yg, (int)ohw);
        qi_epilogue_rows(ctx->pool, &p->epi, bg, rg, yg, mg, ohw, ohw);
        continue;
      }
      float *col = ctx->scratch;
      for (int64_t j0 = 0; j0 < ohw; j0 += p->tile) {
        int64_t nt = ohw - j0 < p->tile ? ohw - j0 : p->tile;
        im2col_parallel(ctx->pool, &win, xg, kg, j0, j0 + nt, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)mg,
                    (int)nt, (int)kg, 1.0f, wg, (int)kg, col, (int)nt, beta,
                    yg + j0, (int)ohw);
        qi_epilogue_rows(ctx->pool, &p->epi, bg, rg ? rg + j0 : NULL, yg + j0,
                         mg, nt, ohw);
      }
    }
  }
}
