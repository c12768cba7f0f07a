/*
 * MaxPool, AveragePool (1-D, 2-D, 3-D), GlobalAveragePool, GlobalMaxPool,
 * FP32, NCHW.
 *
 * Output lengths and pads per spatial dim as pool_geom.h writes them down
 * (VALID: explicit pads of 0). Window o starts at o * s - pb. MaxPool takes the max over taps inside the
 * input (NaN propagates). AveragePool divides the sum of taps inside the
 * input by their count, or with count_include_pad by the count of taps inside
 * the padded extent [-pb, in + pe): so a ceil_mode window that runs past the
 * right padding does not count the part beyond it (as PyTorch does).
 *
 * Pools over at most two spatial dims without dilation (nearly all of them)
 * run on the plane kernels of kernels/fp32/pool.h: per output row, the
 * window's input rows reduce into a row buffer that holds the identity
 * (-inf, or 0 for sums) where windows hang over the padding, then each
 * output reduces its k taps of that buffer; neither pass checks bounds.
 * Everything else takes the generic path below, window by window.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/norm_dispatch.h"
#include "ops/op.h"
#include "ops/pool_geom.h"

/* Fast path bound on the row buffer and kernel extents: scratch stays
 * below 6 MiB per thread (AveragePool: two row buffers and a row of
 * reciprocal counts, in doubles). */
#define POOL_ROW_LIMIT ((int64_t)1 << 18)
/* Taps (input reads) one task should do at least, so that waking the
 * pool's threads pays for itself. */
#define POOL_TASK_WORK 32768

typedef struct pool_plan {
  int sr;                    /* spatial rank given by the model */
  int is_max, count_pad;
  int64_t planes;            /* N * C */
  /* 3-D view, unused leading dims have in = out = k = s = d = 1, no pads */
  int64_t in[3], out[3], k[3], s[3], d[3], pb[3], pe[3];
  qi_shape out_shape;
} pool_plan;

typedef struct pool_job {
  const float *x;
  float *y;
  const pool_plan *p;
  size_t units, per_task;
} pool_job;

/* Taps of one window along one dim: valid taps are [lo, hi); `padded` counts
 * the taps inside the padded extent. */
typedef struct tap_range {
  int64_t lo, hi, padded, start;
} tap_range;

/* Element count of a known shape, or -1 if unknown or beyond NUMEL_LIMIT
 * (shapes come from model files and must not overflow later products). */
#define NUMEL_LIMIT ((int64_t)1 << 46)
static int64_t numel_safe(const qi_shape *s) {
  if (!s || s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++)
    if (s->d[i] < 0 || __builtin_mul_overflow(n, s->d[i], &n) || n > NUMEL_LIMIT)
      return -1;
  return n;
}

static int64_t div_ceil(int64_t a, int64_t b) { /* b > 0 */
  return a >= 0 ? (a + b - 1) / b : -((-a) / b);
}

static tap_range taps_of(const pool_plan *p, int dim, int64_t o) {
  tap_range t;
  int64_t k = p->k[dim], d = p->d[dim], in = p->in[dim];
  t.start = o * p->s[dim] - p->pb[dim];
  t.lo = t.start >= 0 ? 0 : div_ceil(-t.start, d);
  t.hi = div_ceil(in - t.start, d);
  if (t.hi > k) t.hi = k;
  if (t.hi < t.lo) t.hi = t.lo;
  t.padded = div_ceil(in + p->pe[dim] - t.start, d);
  if (t.padded > k) t.padded = k;
  if (t.padded < 0) t.padded = 0;
  return t;
}

/* Max or mean of one window given its taps along each dim. */
static float pool_window(const pool_plan *p, const float *x, const tap_range *td,
                         const tap_range *th, const tap_range *tw) {
  int64_t hw = p->in[1] * p->in[2];
  if (p->is_max) {
    float m = -INFINITY;
    int nan = 0;
    for (int64_t a = td->lo; a < td->hi; a++)
      for (int64_t b = th->lo; b < th->hi; b++) {
        int64_t base = (td->start + a * p->d[0]) * hw +
                       (th->start + b * p->d[1]) * p->in[2] + tw->start;
        for (int64_t c = tw->lo; c < tw->hi; c++) {
          float v = x[base + c * p->d[2]];
          m = v > m ? v : m;
          nan |= v != v;
        }
      }
    return nan ? NAN : m;
  }
  double sum = 0.0;
  for (int64_t a = td->lo; a < td->hi; a++)
    for (int64_t b = th->lo; b < th->hi; b++) {
      int64_t base = (td->start + a * p->d[0]) * hw +
                     (th->start + b * p->d[1]) * p->in[2] + tw->start;
      for (int64_t c = tw->lo; c < tw->hi; c++) sum += x[base + c * p->d[2]];
    }
  int64_t cnt = p->count_pad
                    ? td->padded * th->padded * tw->padded
                    : (td->hi - td->lo) * (th->hi - th->lo) * (tw->hi - tw->lo);
  return (float)(sum / (double)cnt);
}

static void pool_task(void *arg, size_t task, int thread) {
  (void)thread;
  const pool_job *j = arg;
  const pool_plan *p = j->p;
  int64_t in_plane = p->in[0] * p->in[1] * p->in[2];
  int64_t rows = p->out[0] * p->out[1];
  /* Outputs [w0, w1) along W have every tap inside the input: no division
   * per output there. */
  int64_t kw = p->k[2], sw = p->s[2];
  int64_t last = p->in[2] - 1 - (kw - 1) * p->d[2] + p->pb[2];
  int64_t w0 = div_ceil(p->pb[2], sw), w1 = last >= 0 ? last / sw + 1 : 0;
  if (w1 > p->out[2]) w1 = p->out[2];
  if (w0 > w1) w0 = w1;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t u = task * j->per_task; u < u1; u++) {
    int64_t plane = (int64_t)u / rows, row = (int64_t)u % rows;
    tap_range td = taps_of(p, 0, row / p->out[1]);
    tap_range th = taps_of(p, 1, row % p->out[1]);
    const float *x = j->x + plane * in_plane;
    float *y = j->y + (int64_t)u * p->out[2];
    for (int64_t ow = 0; ow < p->out[2]; ow++) {
      tap_range tw;
      if (ow >= w0 && ow < w1) {
        tw.lo = 0;
        tw.hi = tw.padded = kw;
        tw.start = ow * sw - p->pb[2];
      } else {
        tw = taps_of(p, 2, ow);
      }
      y[ow] = pool_window(p, x, &td, &th, &tw);
    }
  }
}

/* Tasks for `units` units of `work_per_unit` taps each: one when the work
 * is too small to share, else up to 4 per thread. */
static size_t split_tasks(size_t units, double work_per_unit, int nthreads,
                          size_t *per_task) {
  double want = nthreads > 1 ? (double)units * work_per_unit / POOL_TASK_WORK : 1;
  if (want > (double)nthreads * 4) want = (double)nthreads * 4;
  size_t ntasks = want < 1 ? 1 : (size_t)want;
  if (ntasks > units) ntasks = units;
  *per_task = (units + ntasks - 1) / ntasks;
  return (units + *per_task - 1) / *per_task;
}

/* ---- Fast path: plane kernels ----------------------------------------- */

/* The kernel geometry of p when it runs on kernels/fp32/pool.h: at most two
 * spatial dims (the 3-D view's first unused), no dilation, and a row buffer
 * of bounded size. */
static int fast_geom(const pool_plan *p, qi_f32_pool2d *g) {
  if (p->in[0] != 1 || p->k[0] != 1 || p->d[1] != 1 || p->d[2] != 1) return 0;
  if (p->out[2] > POOL_ROW_LIMIT || p->k[2] > POOL_ROW_LIMIT ||
      p->s[2] > POOL_ROW_LIMIT || p->k[1] > POOL_ROW_LIMIT)
    return 0;
  *g = (qi_f32_pool2d){.in_h = p->in[1], .in_w = p->in[2],
                       .out_h = p->out[1], .out_w = p->out[2],
                       .k_h = p->k[1], .k_w = p->k[2],
                       .stride_h = p->s[1], .stride_w = p->s[2],
                       .pad_t = p->pb[1], .pad_l = p->pb[2],
                       .pad_b = p->pe[1], .pad_r = p->pe[2],
                       .count_pad = p->count_pad};
  return qi_f32_pool2d_row_len(g) <= POOL_ROW_LIMIT;
}

/* Scratch of one kernel call, rounded to whole cache lines. */
static size_t fast_thread_bytes(const pool_plan *p, const qi_f32_pool2d *g) {
  return (qi_f32_pool2d_scratch(g, p->is_max) + 63) & ~(size_t)63;
}

typedef struct fast_job {
  const float *x;
  float *y;
  qi_f32_pool2d g;
  qi_f32_pool2d_fn kernel;
  unsigned char *scratch; /* thread_bytes per thread */
  size_t thread_bytes;
  int64_t band_rows, bands; /* output rows of one unit; units per plane */
  size_t units, per_task;
} fast_job;

static void fast_task(void *arg, size_t task, int thread) {
  const fast_job *j = arg;
  int64_t in_plane = j->g.in_h * j->g.in_w, out_plane = j->g.out_h * j->g.out_w;
  void *scratch = j->scratch + (size_t)thread * j->thread_bytes;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t u = task * j->per_task; u < u1; u++) {
    int64_t plane = (int64_t)u / j->bands, oh0 = ((int64_t)u % j->bands) * j->band_rows;
    int64_t oh1 = oh0 + j->band_rows < j->g.out_h ? oh0 + j->band_rows : j->g.out_h;
    j->kernel(&j->g, j->x + plane * in_plane, j->y + plane * out_plane, oh0, oh1,
              scratch);
  }
}

static qi_status fast_pool_run(const qi_run_ctx *ctx, const qi_node *n,
                               const pool_plan *p, const qi_f32_pool2d *g,
                               const float *x, float *y) {
  qi_f32_norm_kernels k = qi_f32_norm_kernels_get();
  int nthreads = ctx->nthreads > 1 ? ctx->nthreads : 1;
  fast_job j = {.x = x, .y = y, .g = *g,
                .kernel = p->is_max ? k.maxpool2d : k.avgpool2d,
                .thread_bytes = fast_thread_bytes(p, g)};
  /* Few planes: split them into bands of output rows for the threads. */
  int64_t want = nthreads > 1 ? 4 * (int64_t)nthreads : 1;
  j.bands = p->planes >= want ? 1 : (want + p->planes - 1) / p->planes;
  if (j.bands > g->out_h) j.bands = g->out_h;
  j.band_rows = (g->out_h + j.bands - 1) / j.bands;
  j.bands = (g->out_h + j.band_rows - 1) / j.band_rows;
  j.units = (size_t)(p->planes * j.bands);
  size_t need = (size_t)nthreads * j.thread_bytes;
  void *own = NULL;
  if (ctx->scratch && ctx->scratch_bytes >= need) {
    j.scratch = ctx->scratch;
  } else {
    own = malloc(need);
    if (!own)
      return qi_fail(ctx->err, QI_ERR_NOMEM,
                     "node '%s' (%s): cannot allocate %zu bytes of row buffers",
                     n->name, n->op_type, need);
    j.scratch = own;
  }
  double work = (double)j.band_rows * (double)(g->k_h * g->in_w + g->k_w * g->out_w);
  size_t ntasks = split_tasks(j.units, work, nthreads, &j.per_task);
  qi_pool_run(ctx->pool, fast_task, &j, ntasks);
  free(own);
  return QI_OK;
}

static qi_status in_shape_ok(const qi_node *n, const qi_shape *x, int min_rank,
                             qi_error *err) {
  if (!x || x->rank < min_rank)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input rank %d < %d",
                   n->name, n->op_type, x ? x->rank : -1, min_rank);
  if (numel_safe(x) < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): input shape unknown or too large", n->name,
                   n->op_type);
  return QI_OK;
}

static qi_status pool_plan_make(const qi_node *n, const qi_shape *x,
                                pool_plan *p, qi_error *err) {
  memset(p, 0, sizeof *p);
  QI_TRY(in_shape_ok(n, x, 3, err));
  int sr = x->rank - 2;
  if (sr > QI_POOL_MAX_SPATIAL)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %d spatial dims, at most %d supported",
                   n->name, n->op_type, sr, QI_POOL_MAX_SPATIAL);
  p->sr = sr;
  p->is_max = strcmp(n->op_type, "MaxPool") == 0;
  p->count_pad = !p->is_max && qi_attr_int(n, "count_include_pad", 0) != 0;
  p->planes = x->d[0] * x->d[1];
  qi_pool_window w;
  QI_TRY(qi_pool_window_read(n, sr, &w, err));
  const char *auto_pad = qi_attr_str(n, "auto_pad", "NOTSET");
  int same_upper = strcmp(auto_pad, "SAME_UPPER") == 0;
  int same_lower = strcmp(auto_pad, "SAME_LOWER") == 0;
  int valid = strcmp(auto_pad, "VALID") == 0;
  if (!same_upper && !same_lower && !valid && strcmp(auto_pad, "NOTSET") != 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): bad auto_pad '%s'",
                   n->name, n->op_type, auto_pad);
  p->out_shape = *x;
  int off = 3 - sr;
  for (int i = 0; i < 3; i++) {
    p->in[i] = p->out[i] = p->k[i] = p->s[i] = p->d[i] = 1;
    p->pb[i] = p->pe[i] = 0;
  }
  for (int i = 0; i < sr; i++) {
    int64_t in = x->d[2 + i], out, pb, pe;
    if (same_upper || same_lower) {
      qi_pool_same_pads(in, w.k[i], w.s[i], w.d[i], same_upper, &out, &pb,
                        &pe);
    } else {
      pb = valid ? 0 : w.pb[i];
      pe = valid ? 0 : w.pe[i];
      out = qi_pool_out_len(in, w.k[i], w.s[i], w.d[i], pb, pe, w.ceil_mode);
      if (out < 0)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): window %lld exceeds padded input %lld "
                       "in spatial dim %d",
                       n->name, n->op_type,
                       (long long)((w.k[i] - 1) * w.d[i] + 1),
                       (long long)(in + pb + pe), i);
    }
    p->in[off + i] = in;
    p->out[off + i] = out;
    p->k[off + i] = w.k[i];
    p->s[off + i] = w.s[i];
    p->d[off + i] = w.d[i];
    p->pb[off + i] = pb;
    p->pe[off + i] = pe;
    p->out_shape.d[2 + i] = out;
  }
  if (numel_safe(&p->out_shape) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): output too large",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status pool_check(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  if (n->nout > 1 && n->out[1] >= 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): the Indices output is not supported",
                   n->name, n->op_type);
  return QI_OK;
}

static qi_status pool_common_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  if (n->nout < 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): output 0 is missing",
                   n->name, n->op_type);
  QI_TRY(pool_check(g, n, err));
  if (qi_in_dtype(g, n, 0) != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): input type %s, only float32 is supported",
                   n->name, n->op_type, qi_dtype_name(qi_in_dtype(g, n, 0)));
  return QI_OK;
}

static qi_status pool_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(pool_common_infer(g, n, err));
  pool_plan p;
  QI_TRY(pool_plan_make(n, qi_in_shape(g, n, 0), &p, err));
  qi_set_output(g, n, 0, QI_FLOAT32, &p.out_shape);
  return QI_OK;
}

static qi_status pool_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  if (in[0].dtype != QI_FLOAT32 || out[0].dtype != QI_FLOAT32)
    return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only float32 is supported", n->name,
                   n->op_type);
  pool_plan p;
  QI_TRY(pool_plan_make(n, &in[0].shape, &p, ctx->err));
  pool_job j = {.x = in[0].data, .y = out[0].data, .p = &p};
  j.units = (size_t)(p.planes * p.out[0] * p.out[1]);
  if (j.units == 0 || p.out[2] == 0) return QI_OK;
  qi_f32_pool2d g;
  if (fast_geom(&p, &g))
    return fast_pool_run(ctx, n, &p, &g, in[0].data, out[0].data);
  double work = (double)p.k[0] * (double)p.k[1] * (double)p.k[2] * (double)p.out[2];
  size_t ntasks = split_tasks(j.units, work, ctx->nthreads, &j.per_task);
  qi_pool_run(ctx->pool, pool_task, &j, ntasks);
  return QI_OK;
}

/* Row buffers of the fast path, one per thread; 0 on the generic path. */
static size_t pool_scratch_bytes(const qi_graph *g, const qi_node *n,
                                 int nthreads) {
  pool_plan p;
  qi_f32_pool2d geom;
  if (pool_plan_make(n, qi_in_shape(g, n, 0), &p, NULL) != QI_OK ||
      !fast_geom(&p, &geom))
    return 0;
  return (size_t)(nthreads > 1 ? nthreads : 1) * fast_thread_bytes(&p, &geom);
}

/* ---- Global pools: one value per (n, c) plane ------------------------- */

typedef struct global_job {
  const float *x;
  float *y;
  int64_t plane;
  int is_max;
  qi_f32_norm_kernels k;
  size_t units, per_task;
} global_job;

/* Max with NaN propagation, or the mean with the sum in double (8 lanes in
 * the kernels: float lanes would lose 1e-5 relative on planes whose mean
 * cancels to near zero). */
static void global_task(void *arg, size_t task, int thread) {
  (void)thread;
  const global_job *j = arg;
  size_t u1 = (task + 1) * j->per_task;
  if (u1 > j->units) u1 = j->units;
  for (size_t u = task * j->per_task; u < u1; u++) {
    const float *x = j->x + (int64_t)u * j->plane;
    if (j->is_max)
      j->y[u] = j->k.rowmax(x, (size_t)j->plane);
    else
      j->y[u] = (float)(j->k.sum_f64(x, (size_t)j->plane) / (double)j->plane);
  }
}

static qi_status global_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(pool_common_infer(g, n, err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  QI_TRY(in_shape_ok(n, x, 2, err));
  qi_shape o = *x;
  for (int i = 2; i < o.rank; i++) o.d[i] = 1;
  qi_set_output(g, n, 0, QI_FLOAT32, &o);
  return QI_OK;
}

static qi_status global_run(const qi_run_ctx *ctx, const qi_node *n,
                            const qi_buf *in, qi_buf *out) {
  if (in[0].dtype != QI_FLOAT32 || out[0].dtype != QI_FLOAT32)
    return qi_fail(ctx->err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): only float32 is supported", n->name,
                   n->op_type);
  const qi_shape *x = &in[0].shape;
  QI_TRY(in_shape_ok(n, x, 2, ctx->err));
  global_job j = {.x = in[0].data, .y = out[0].data, .plane = 1,
                  .is_max = strcmp(n->op_type, "GlobalMaxPool") == 0,
                  .k = qi_f32_norm_kernels_get()};
  for (int i = 2; i < x->rank; i++) j.plane *= x->d[i];
  j.units = (size_t)(x->d[0] * x->d[1]);
  if (j.units == 0) return QI_OK;
  size_t ntasks = split_tasks(j.units, (double)j.plane, ctx->nthreads, &j.per_task);
  qi_pool_run(ctx->pool, global_task, &j, ntasks);
  return QI_OK;
}

const qi_op_def qi_op_max_pool = {.op_type = "MaxPool",
                                  .check = pool_check,
                                  .infer = pool_infer,
                                  .scratch_bytes = pool_scratch_bytes,
                                  .run = pool_run};
const qi_op_def qi_op_average_pool = {.op_type = "AveragePool",
                                      .infer = pool_infer,
                                      .scratch_bytes = pool_scratch_bytes,
                                      .run = pool_run};
const qi_op_def qi_op_global_average_pool = {
    .op_type = "GlobalAveragePool", .infer = global_infer, .run = global_run};
const qi_op_def qi_op_global_max_pool = {
    .op_type = "GlobalMaxPool", .infer = global_infer, .run = global_run};
