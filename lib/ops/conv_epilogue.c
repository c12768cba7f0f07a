/* Fused bias / residual / activation tail; see conv_epilogue.h. */
#include "ops/conv_epilogue.h"

#include "ops/conv_dispatch.h"

_Static_assert(QI_F32_ACT_RELU == (int)QI_ACT_RELU &&
                   QI_F32_ACT_CLIP == (int)QI_ACT_CLIP &&
                   QI_F32_ACT_LEAKY == (int)QI_ACT_LEAKY &&
                   QI_F32_ACT_SIGMOID == (int)QI_ACT_SIGMOID &&
                   QI_F32_ACT_HARDSWISH == (int)QI_ACT_HARDSWISH &&
                   QI_F32_ACT_SILU == (int)QI_ACT_SILU &&
                   QI_F32_ACT_GELU == (int)QI_ACT_GELU &&
                   QI_F32_ACT_HARDSIGMOID == (int)QI_ACT_HARDSIGMOID &&
                   QI_F32_ACT_TANH == (int)QI_ACT_TANH,
               "kernel activation numbering follows qi_act");

qi_epilogue qi_epilogue_make(const qi_node *n) {
  qi_act_params p = qi_node_act(n);
  qi_epilogue e;
  e.act.kind = (int)p.act;
  e.act.alpha = p.alpha;
  e.act.beta = p.beta;
  e.fn = qi_f32_conv_kernels_get().bias_act;
  return e;
}

void qi_epilogue_span(const qi_epilogue *e, float bias, const float *res,
                      const float *src, float *dst, size_t n) {
  if (e->act.kind == QI_F32_ACT_NONE && !res && bias == 0.0f && src == dst)
    return;
  e->fn(&e->act, bias, src, res, dst, n);
}

typedef struct planes_job {
  const qi_epilogue *e;
  const float *bias, *res;
  float *y;
  int64_t channels, nplanes, plane, chunk;
} planes_job;

/* Task t covers elements [t * chunk, (t + 1) * chunk) of the block. */
static void planes_task(void *arg, size_t t, int thread) {
  (void)thread;
  const planes_job *j = arg;
  int64_t total = j->nplanes * j->plane;
  int64_t e0 = (int64_t)t * j->chunk, e1 = e0 + j->chunk;
  if (e1 > total) e1 = total;
  while (e0 < e1) {
    int64_t p = e0 / j->plane, off = e0 % j->plane;
    int64_t len = j->plane - off;
    if (len > e1 - e0) len = e1 - e0;
    float b = j->bias ? j->bias[p % j->channels] : 0.0f;
    float *y = j->y + e0;
    qi_epilogue_span(j->e, b, j->res ? j->res + e0 : NULL, y, y, (size_t)len);
    e0 += len;
  }
}

void qi_epilogue_planes(qi_pool *pool, const qi_epilogue *e,
                        const float *bias, int64_t channels, const float *res,
                        float *y, int64_t nplanes, int64_t plane) {
  int64_t total = nplanes * plane;
  if (total <= 0 || !qi_epilogue_needed(e, bias, res)) return;
  planes_job j = {e, bias, res, y, channels, nplanes, plane, total};
  int nth = qi_pool_size(pool);
  if (nth > 1 && total >= QI_EPILOGUE_PARALLEL_MIN) {
    /* A few chunks per thread, multiples of 16 floats (cache lines). */
    int64_t chunk = (total + 4 * nth - 1) / (4 * nth);
    chunk = (chunk + 15) & ~(int64_t)15;
    j.chunk = chunk;
    qi_pool_run(pool, planes_task, &j, (size_t)((total + chunk - 1) / chunk));
  } else {
    planes_task(&j, 0, 0);
  }
}

typedef struct rows_job {
  const qi_epilogue *e;
  const float *bias, *res;
  float *y;
  int64_t nrows, ncols, ld, rows_per_task;
} rows_job;

static void rows_task(void *arg, size_t t, int thread) {
  (void)thread;
  const rows_job *j = arg;
  int64_t r0 = (int64_t)t * j->rows_per_task, r1 = r0 + j->rows_per_task;
  if (r1 > j->nrows) r1 = j->nrows;
  for (int64_t r = r0; r < r1; r++) {
    float *y = j->y + r * j->ld;
    qi_epilogue_span(j->e, j->bias ? j->bias[r] : 0.0f,
                     j->res ? j->res + r * j->ld : NULL, y, y,
                     (size_t)j->ncols);
  }
}

void qi_epilogue_rows(qi_pool *pool, const qi_epilogue *e, const float *bias,
                      const float *res, float *y, int64_t nrows,
                      int64_t ncols, int64_t ld) {
  if (nrows <= 0 || ncols <= 0 || !qi_epilogue_needed(e, bias, res)) return;
  rows_job j = {e, bias, res, y, nrows, ncols, ld, nrows};
  int nth = qi_pool_size(pool);
  if (nth > 1 && nrows > 1 && nrows * ncols >= QI_EPILOGUE_PARALLEL_MIN) {
    int64_t per = (nrows + 4 * nth - 1) / (4 * nth);
    j.rows_per_task = per;
    qi_pool_run(pool, rows_task, &j, (size_t)((nrows + per - 1) / per));
  } else {
    rows_task(&j, 0, 0);
  }
}
