/*
 * The Resize interpolation: per-axis tap tables (the coordinate math is
 * written down in op_resize.c) and the row loops, with flat fast paths for
 * nearest (a gather) and bilinear float32 (separable, with cached rows).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_resize.h"
#include "ops/op_tensor_util.h"

static double coord_of(const resize_cfg *c, int a, int64_t x, int64_t in_len,
                       int *outside) {
  double xf = (double)x, s = c->scale[a], in = (double)in_len;
  double out = (double)c->out[a];
  *outside = 0;
  switch (c->coord) {
    case CT_HALF_PIXEL: return (xf + 0.5) / s - 0.5;
    case CT_HALF_PIXEL_SYMMETRIC: {
      double adj = out / (s * in), center = in / 2.0;
      return center * (1.0 - adj) + (xf + 0.5) / s - 0.5;
    }
    case CT_PYTORCH_HALF_PIXEL: return out > 1 ? (xf + 0.5) / s - 0.5 : 0.0;
    case CT_ALIGN_CORNERS: return out > 1 ? xf * (in - 1) / (out - 1) : 0.0;
    case CT_ASYMMETRIC: return xf / s;
    case CT_TF_HALF_PIXEL_FOR_NN: return (xf + 0.5) / s;
    case CT_TF_CROP_AND_RESIZE: {
      double lo = c->roi_lo[a], hi = c->roi_hi[a];
      double v = out > 1 ? lo * (in - 1) + xf * (hi - lo) * (in - 1) / (out - 1)
                         : 0.5 * (lo + hi) * (in - 1);
      *outside = v < 0.0 || v > in - 1;
      return v;
    }
  }
  return xf;
}

static int64_t nearest_index(const resize_cfg *c, int a, double v) {
  double f = floor(v), r = v - f;
  switch (c->nearest) {
    case NM_ROUND_PREFER_FLOOR: return (int64_t)(r > 0.5 ? f + 1 : f);
    case NM_ROUND_PREFER_CEIL: return (int64_t)(r >= 0.5 ? f + 1 : f);
    case NM_FLOOR: return (int64_t)f;
    case NM_CEIL: return (int64_t)ceil(v);
    case NM_LEGACY: return (int64_t)(c->scale[a] < 1.0 ? ceil(v) : trunc(v));
  }
  return (int64_t)f;
}

static int64_t clamp_idx(double v, int64_t len) {
  return v < 0 ? 0 : (v > (double)(len - 1) ? len - 1 : (int64_t)v);
}

/* Keys cubic convolution weights for taps at floor-1 .. floor+2. */
static void cubic_coeffs(double r, double A, double *w) {
  double a1 = r + 1, b = 1 - r, b1 = b + 1;
  w[0] = ((A * a1 - 5 * A) * a1 + 8 * A) * a1 - 4 * A;
  w[1] = ((A + 2) * r - (A + 3)) * r * r + 1;
  w[2] = ((A + 2) * b - (A + 3)) * b * b + 1;
  w[3] = ((A * b1 - 5 * A) * b1 + 8 * A) * b1 - 4 * A;
}

static void make_taps(const resize_cfg *c, int a, int64_t in_len,
                      int64_t stride, resize_tap *tab) {
  for (int64_t x = 0; x < c->out[a]; x++) {
    resize_tap *t = &tab[x];
    memset(t, 0, sizeof *t);
    if (!c->resized[a]) {
      t->n = 1;
      t->off[0] = x * stride;
      t->w[0] = 1.0;
      continue;
    }
    int outside;
    double v = coord_of(c, a, x, in_len, &outside);
    if (outside) continue; /* n = 0: extrapolation value */
    double f = floor(v), r = v - f;
    if (c->mode == RM_NEAREST || r == 0.0) {
      double at = c->mode == RM_NEAREST ? (double)nearest_index(c, a, v) : f;
      t->n = 1;
      t->off[0] = clamp_idx(at, in_len) * stride;
      t->w[0] = 1.0;
      continue;
    }
    if (c->mode == RM_LINEAR) {
      int64_t i0 = clamp_idx(f, in_len), i1 = clamp_idx(f + 1, in_len);
      if (i0 == i1) {
        t->n = 1;
        t->off[0] = i0 * stride;
        t->w[0] = 1.0;
      } else {
        t->n = 2;
        t->off[0] = i0 * stride;
        t->off[1] = i1 * stride;
        t->w[0] = 1.0 - r;
        t->w[1] = r;
      }
      continue;
    }
    double w[4], sum = 0.0;
    cubic_coeffs(r, c->cubic_a, w);
    for (int k = 0; k < 4; k++) {
      double idx = f - 1 + k;
      if (c->exclude_outside && (idx < 0 || idx > (double)(in_len - 1)))
        w[k] = 0.0;
      sum += w[k];
    }
    t->n = 4;
    for (int k = 0; k < 4; k++) {
      t->off[k] = clamp_idx(f - 1 + k, in_len) * stride;
      t->w[k] = c->exclude_outside ? w[k] / sum : w[k];
    }
  }
}

/* ---- kernel ------------------------------------------------------------- */

typedef struct resize_job {
  const resize_cfg *cfg;
  const resize_tap *tab[QI_MAX_RANK];
  const char *src;
  char *dst;
  qi_dtype dt;
  size_t es;
  int64_t rows, rows_per_task, width;
  unsigned char extrap[8]; /* extrapolation value as one element */
  /* The last axis as flat arrays when every output element there has one
   * or two taps (nearest and linear, no extrapolation): tap offsets and
   * weights, a single tap being (o0, o0) with weights (1, 0). NULL
   * otherwise. */
  const int64_t *xo0, *xo1;
  const double *xw0, *xw1;
  /* Two rows of doubles per thread for bilinear float32 (see
   * blend_rows); NULL when that path does not apply. */
  double *rowbuf;
} resize_job;

static double load_el(qi_dtype dt, const char *p) {
  if (dt == QI_FLOAT64) return *(const double *)p;
  if (dt == QI_FLOAT16) return qi_opt_f16_to_f32(*(const uint16_t *)p);
  return *(const float *)p;
}

#define GATHER_ROW(T)                                           \
  do {                                                          \
    const T *s = (const T *)j->src + coff[0];                   \
    T *o = (T *)d;                                              \
    for (int64_t x = 0; x < j->width; x++) o[x] = s[j->xo0[x]]; \
  } while (0)

/* Rows over the flat last-axis arrays: a gather for nearest, two taps per
 * input row for linear float32 (one or two rows of outer taps). A single
 * tap reads its element twice with weight 0 on the second read, as
 * onnxruntime does, so an infinite input gives NaN next to it. */
static int resize_row_flat(const resize_job *j, const int64_t *coff,
                           const double *cw, int nc, char *d) {
  if (!j->xo0) return 0;
  if (j->cfg->mode == RM_NEAREST) {
    switch (j->es) {
      case 1: GATHER_ROW(uint8_t); return 1;
      case 2: GATHER_ROW(uint16_t); return 1;
      case 4: GATHER_ROW(uint32_t); return 1;
      case 8: GATHER_ROW(uint64_t); return 1;
      default: return 0;
    }
  }
  if (j->dt != QI_FLOAT32 || nc > 2) return 0;
  const int64_t *o0 = j->xo0, *o1 = j->xo1;
  const double *w0 = j->xw0, *w1 = j->xw1;
  const float *a = (const float *)j->src + coff[0];
  float *out = (float *)d;
  if (nc == 1) {
    for (int64_t x = 0; x < j->width; x++)
      out[x] = (float)(w0[x] * a[o0[x]] + w1[x] * a[o1[x]]);
    return 1;
  }
  const float *b = (const float *)j->src + coff[1];
  double ca = cw[0], cb = cw[1];
  for (int64_t x = 0; x < j->width; x++)
    out[x] = (float)(ca * (w0[x] * a[o0[x]] + w1[x] * a[o1[x]]) +
                     cb * (w0[x] * b[o0[x]] + w1[x] * b[o1[x]]));
  return 1;
}
#undef GATHER_ROW

static void resize_row(const resize_job *j, const int64_t *coff,
                       const double *cw, int nc, char *d) {
  const resize_tap *tx = j->tab[j->cfg->rank - 1];
  size_t es = j->es;
  if (resize_row_flat(j, coff, cw, nc, d)) return;
  if (j->cfg->mode == RM_NEAREST) {
    const char *s = j->src + (size_t)coff[0] * es;
    const char *ex = (const char *)j->extrap;
    switch (es) {
#define NEAREST_ROW(T)                   \
  for (int64_t x = 0; x < j->width; x++) \
    memcpy(d + (size_t)x * sizeof(T),    \
           tx[x].n ? s + (size_t)tx[x].off[0] * sizeof(T) : ex, sizeof(T));
      case 1: NEAREST_ROW(uint8_t); break;
      case 2: NEAREST_ROW(uint16_t); break;
      case 4: NEAREST_ROW(uint32_t); break;
      case 8: NEAREST_ROW(uint64_t); break;
#undef NEAREST_ROW
      default:
        for (int64_t x = 0; x < j->width; x++)
          memcpy(d + (size_t)x * es,
                 tx[x].n ? s + (size_t)tx[x].off[0] * es : ex, es);
    }
    return;
  }
  /* Accumulate in double: the cost is the same in this scalar loop and the
   * result is the correctly rounded float of the double sum. */
  if (j->dt == QI_FLOAT32) {
    const float *s = (const float *)j->src;
    float *o = (float *)d;
    for (int64_t x = 0; x < j->width; x++) {
      const resize_tap *t = &tx[x];
      if (!t->n) {
        o[x] = (float)j->cfg->extrapolation;
        continue;
      }
      double acc = 0.0;
      for (int c = 0; c < nc; c++) {
        const float *sr = s + coff[c];
        double v = 0.0;
        for (int k = 0; k < t->n; k++) v += t->w[k] * sr[t->off[k]];
        acc += cw[c] * v;
      }
      o[x] = (float)acc;
    }
    return;
  }
  for (int64_t x = 0; x < j->width; x++) {
    const resize_tap *t = &tx[x];
    double acc = j->cfg->extrapolation;
    if (t->n) {
      acc = 0.0;
      for (int c = 0; c < nc; c++) {
        double v = 0.0;
        for (int k = 0; k < t->n; k++)
          v += t->w[k] *
               load_el(j->dt, j->src + (size_t)(coff[c] + t->off[k]) * es);
        acc += cw[c] * v;
      }
    }
    qi_opt_store_real(j->dt, d + (size_t)x * es, acc);
  }
}

/* Bilinear float32 over the flat arrays, separably: each input row is
 * interpolated along the last axis once into a cache of two rows (h =
 * w0 * a[o0] + w1 * a[o1], the same arithmetic as resize_row_flat), and
 * an output row blends two cached rows. Upsampling reuses every input
 * row for several output rows. */
typedef struct row_cache {
  double *slot[2];
  int64_t key[2];
} row_cache;

static const double *cached_row(const resize_job *j, row_cache *rc, int64_t off,
                                int64_t keep) {
  if (rc->key[0] == off) return rc->slot[0];
  if (rc->key[1] == off) return rc->slot[1];
  int v = rc->key[0] == keep; /* evict the row not needed next */
  double *h = rc->slot[v];
  const float *a = (const float *)j->src + off;
  for (int64_t x = 0; x < j->width; x++)
    h[x] = j->xw0[x] * a[j->xo0[x]] + j->xw1[x] * a[j->xo1[x]];
  rc->key[v] = off;
  return h;
}

static void blend_rows(const resize_job *j, row_cache *rc, const int64_t *coff,
                       const double *cw, float *out) {
  const double *restrict ha = cached_row(j, rc, coff[0], coff[1]);
  const double *restrict hb = cached_row(j, rc, coff[1], coff[0]);
  double ca = cw[0], cb = cw[1];
  for (int64_t x = 0; x < j->width; x++)
    out[x] = (float)(ca * ha[x] + cb * hb[x]);
}

static void resize_rows(void *arg, size_t task, int thread) {
  const resize_job *j = arg;
  row_cache rc = {{NULL, NULL}, {-1, -1}};
  if (j->rowbuf) {
    rc.slot[0] = j->rowbuf + (size_t)thread * 2 * (size_t)j->width;
    rc.slot[1] = rc.slot[0] + j->width;
  }
  int na = j->cfg->rank - 1;
  int64_t r0 = (int64_t)task * j->rows_per_task;
  int64_t r1 =
      r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
  int64_t coord[QI_MAX_RANK], rem = r0;
  for (int a = na - 1; a >= 0; a--) {
    coord[a] = rem % j->cfg->out[a];
    rem /= j->cfg->out[a];
  }
  size_t row_bytes = (size_t)j->width * j->es;
  int64_t prev_off = -1;
  for (int64_t r = r0; r < r1; r++) {
    char *d = j->dst + (size_t)r * row_bytes;
    /* Combinations of the taps of the outer axes: offset and weight. */
    int64_t coff[RESIZE_MAX_COMBOS];
    double cw[RESIZE_MAX_COMBOS];
    int nc = 1, extrap = 0;
    coff[0] = 0;
    cw[0] = 1.0;
    for (int a = 0; a < na && !extrap; a++) {
      const resize_tap *t = &j->tab[a][coord[a]];
      if (!t->n) {
        extrap = 1;
        break;
      }
      for (int c = nc - 1; c >= 0; c--)
        for (int k = t->n - 1; k >= 0; k--) {
          coff[c * t->n + k] = coff[c] + t->off[k];
          cw[c * t->n + k] = cw[c] * t->w[k];
        }
      nc *= t->n;
    }
    if (extrap) {
      qi_opt_fill(d, j->extrap, j->es, j->width);
      prev_off = -1;
    } else if (nc == 1 && cw[0] == 1.0 && coff[0] == prev_off && r > r0) {
      /* Same source row as the previous output row (upsampling). */
      memcpy(d, d - row_bytes, row_bytes);
    } else if (nc == 2 && j->rowbuf) {
      blend_rows(j, &rc, coff, cw, (float *)d);
      prev_off = -1;
    } else {
      resize_row(j, coff, cw, nc, d);
      prev_off = nc == 1 && cw[0] == 1.0 ? coff[0] : -1;
    }
    for (int a = na - 1; a >= 0; a--) {
      if (++coord[a] < j->cfg->out[a]) break;
      coord[a] = 0;
    }
  }
}

/* Tap tables of every axis, the four flat arrays of the last one, and two
 * rows of doubles per thread. */
static size_t tables_bytes(const int64_t *out, int rank, int nthreads) {
  size_t b = 0;
  for (int a = 0; a < rank; a++) b += (size_t)out[a] * sizeof(resize_tap);
  return b + (4 + 2 * (size_t)nthreads) * (size_t)out[rank - 1] * 8;
}

/* Fills the flat last-axis arrays at `mem` when the taps allow it. */
static void make_flat(resize_job *j, const resize_tap *tx, void *mem) {
  int64_t w = j->width;
  for (int64_t x = 0; x < w; x++)
    if (tx[x].n < 1 || tx[x].n > 2) return;
  int64_t *o0 = mem, *o1 = o0 + w;
  double *w0 = (double *)(o1 + w), *w1 = w0 + w;
  for (int64_t x = 0; x < w; x++) {
    int two = tx[x].n == 2;
    o0[x] = tx[x].off[0];
    o1[x] = tx[x].off[two];
    w0[x] = tx[x].w[0];
    w1[x] = two ? tx[x].w[1] : 0.0;
  }
  j->xo0 = o0;
  j->xo1 = o1;
  j->xw0 = w0;
  j->xw1 = w1;
  if (j->cfg->mode == RM_LINEAR && j->dt == QI_FLOAT32) j->rowbuf = w1 + w;
}

size_t qi_resize_scratch_bytes(const int64_t *out, int rank, int nthreads) {
  return tables_bytes(out, rank, nthreads);
}

qi_status qi_resize_execute(const resize_cfg *c, const qi_buf *x, qi_buf *y,
                            qi_pool *pool, void *scratch,
                            size_t scratch_bytes) {
  int64_t total = qi_shape_numel(&y->shape);
  if (total == 0) return QI_OK;
  int threads = qi_pool_size(pool);
  size_t need = tables_bytes(c->out, c->rank, threads);
  void *mem = NULL;
  resize_tap *tabs =
      scratch && scratch_bytes >= need ? scratch : (mem = malloc(need));
  if (!tabs) return QI_ERR_NOMEM;
  resize_job j;
  memset(&j, 0, sizeof j);
  int64_t ist[QI_MAX_RANK];
  qi_opt_strides(&x->shape, ist);
  for (int a = 0; a < c->rank; a++) {
    make_taps(c, a, x->shape.d[a], ist[a], tabs);
    j.tab[a] = tabs;
    tabs += c->out[a];
  }
  j.cfg = c;
  j.src = x->data;
  j.dst = y->data;
  j.dt = x->dtype;
  j.es = qi_dtype_size(j.dt);
  j.width = c->out[c->rank - 1];
  j.rows = total / j.width;
  make_flat(&j, j.tab[c->rank - 1], tabs);
  qi_opt_store_real(j.dt, j.extrap, c->extrapolation);
  int par = threads > 1 && (size_t)total * j.es >= ((size_t)1 << 18);
  int64_t ntask = par ? (int64_t)threads * 4 : 1;
  if (ntask > j.rows) ntask = j.rows;
  j.rows_per_task = (j.rows + ntask - 1) / ntask;
  ntask = (j.rows + j.rows_per_task - 1) / j.rows_per_task;
  qi_pool_run(par ? pool : NULL, resize_rows, &j, (size_t)ntask);
  free(mem);
  return QI_OK;
}
