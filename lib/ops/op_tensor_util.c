/* Helpers shared by the tensor-manipulation ops; see op_tensor_util.h. */
#include "ops/op_tensor_util.h"

#include <math.h>
#include <string.h>

/* ---- constant inputs ---------------------------------------------------- */

static qi_status const_input(const qi_graph *g, const qi_node *n, int k,
                             const char *what, int maxvals,
                             const qi_tensor **out, int *count, qi_error *err) {
  *out = NULL;
  *count = -1;
  if (k >= n->nin || n->in[k] < 0) return QI_OK;
  const qi_tensor *t = &g->tensors[n->in[k]];
  if (t->kind != QI_TK_CONST || (!t->data && t->nbytes))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s input '%s' is not constant; qinfer "
                   "needs static shapes",
                   n->name, n->op_type, what, t->name);
  int64_t cnt = qi_shape_numel(&t->shape);
  size_t es = qi_dtype_size(t->dtype);
  if (cnt < 0 || cnt > maxvals)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): %s input '%s' has %lld values, at most "
                   "%d expected",
                   n->name, n->op_type, what, t->name, (long long)cnt, maxvals);
  if (!es || (size_t)cnt * es > t->nbytes)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): %s input '%s' holds %zu bytes, too few "
                   "for its shape and type %s",
                   n->name, n->op_type, what, t->name, t->nbytes,
                   qi_dtype_name(t->dtype));
  *out = t;
  *count = (int)cnt;
  return QI_OK;
}

qi_status qi_opt_const_ints(const qi_graph *g, const qi_node *n, int k,
                            const char *what, int64_t *vals, int maxvals,
                            int *count, qi_error *err) {
  const qi_tensor *t;
  QI_TRY(const_input(g, n, k, what, maxvals, &t, count, err));
  if (!t) return QI_OK;
  if (t->dtype != QI_INT64 && t->dtype != QI_INT32)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): %s input '%s' is %s, expected int64",
                   n->name, n->op_type, what, t->name, qi_dtype_name(t->dtype));
  qi_buf b = {t->dtype, t->shape, t->data};
  qi_opt_buf_ints(&b, vals, maxvals);
  return QI_OK;
}

qi_status qi_opt_const_reals(const qi_graph *g, const qi_node *n, int k,
                             const char *what, double *vals, int maxvals,
                             int *count, qi_error *err) {
  const qi_tensor *t;
  QI_TRY(const_input(g, n, k, what, maxvals, &t, count, err));
  if (!t) return QI_OK;
  qi_buf b = {t->dtype, t->shape, t->data};
  if (qi_opt_buf_reals(&b, vals, maxvals) < 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s input '%s' has type %s", n->name,
                   n->op_type, what, t->name, qi_dtype_name(t->dtype));
  return QI_OK;
}

qi_status qi_opt_const_buf(const qi_graph *g, const qi_node *n, int k,
                           const char *what, qi_buf *out, qi_error *err) {
  const qi_tensor *t;
  int count;
  memset(out, 0, sizeof *out);
  QI_TRY(const_input(g, n, k, what, INT32_MAX, &t, &count, err));
  if (t) *out = (qi_buf){t->dtype, t->shape, t->data};
  return QI_OK;
}

int qi_opt_buf_ints(const qi_buf *b, int64_t *vals, int maxvals) {
  if (!b || !b->data) return -1;
  int64_t cnt = qi_shape_numel(&b->shape);
  if (cnt < 0 || cnt > maxvals) return -1;
  for (int64_t i = 0; i < cnt; i++) {
    if (b->dtype == QI_INT64)
      memcpy(&vals[i], (const int64_t *)b->data + i, sizeof(int64_t));
    else if (b->dtype == QI_INT32) {
      int32_t v;
      memcpy(&v, (const int32_t *)b->data + i, sizeof v);
      vals[i] = v;
    } else {
      return -1;
    }
  }
  return (int)cnt;
}

static double load_real(qi_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case QI_FLOAT32: return ((const float *)p)[i];
    case QI_FLOAT64: return ((const double *)p)[i];
    case QI_FLOAT16: return qi_opt_f16_to_f32(((const uint16_t *)p)[i]);
    case QI_INT64: return (double)((const int64_t *)p)[i];
    case QI_INT32: return ((const int32_t *)p)[i];
    case QI_INT8: return ((const int8_t *)p)[i];
    case QI_UINT8: return ((const uint8_t *)p)[i];
    case QI_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0.0;
  }
}

int qi_opt_buf_reals(const qi_buf *b, double *vals, int maxvals) {
  if (!b || !b->data || !qi_dtype_size(b->dtype)) return -1;
  int64_t cnt = qi_shape_numel(&b->shape);
  if (cnt < 0 || cnt > maxvals) return -1;
  for (int64_t i = 0; i < cnt; i++) vals[i] = load_real(b->dtype, b->data, i);
  return (int)cnt;
}

/* ---- sizes -------------------------------------------------------------- */

int64_t qi_opt_numel(const qi_shape *s) {
  if (s->rank < 0) return -1;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < 0) return -1;
    if (s->d[i] == 0) n = 0;
  }
  if (n == 0) return 0;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] > QI_OPT_MAX_NUMEL / n) return -1;
    n *= s->d[i];
  }
  return n;
}

qi_status qi_opt_check_numel(const qi_node *n, const qi_shape *s,
                             qi_error *err) {
  if (qi_opt_numel(s) >= 0) return QI_OK;
  char b[160];
  return qi_fail(err, QI_ERR_NOMEM,
                 "node '%s' (%s): output shape %s is invalid or beyond "
                 "limits",
                 n->name, n->op_type, qi_shape_str(s, b, sizeof b));
}

void qi_opt_strides(const qi_shape *s, int64_t *strides) {
  int64_t st = 1;
  for (int i = s->rank - 1; i >= 0; i--) {
    strides[i] = st;
    st *= s->d[i];
  }
}

int qi_opt_movable(qi_dtype dt) { return qi_dtype_size(dt) != 0; }

qi_status qi_opt_check_movable(const qi_node *n, qi_dtype dt, qi_error *err) {
  if (qi_opt_movable(dt)) return QI_OK;
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): data type %d is not supported", n->name,
                 n->op_type, (int)dt);
}

void qi_opt_copy(void *dst, const void *src, size_t nbytes) {
  if (dst != src && nbytes) memcpy(dst, src, nbytes);
}

void qi_opt_fill(void *dst, const void *value, size_t esize, int64_t count) {
  if (count <= 0) return;
  char *d = dst;
  memcpy(d, value, esize);
  /* Doubling copies: log2(count) memcpy calls. */
  int64_t done = 1;
  while (done < count) {
    int64_t m = done < count - done ? done : count - done;
    memcpy(d + (size_t)done * esize, d, (size_t)m * esize);
    done += m;
  }
}

/* ---- half precision ----------------------------------------------------- */

float qi_opt_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
  uint32_t ex = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  uint32_t bits;
  if (ex == 0) {
    float v = (float)man * 5.9604644775390625e-8f; /* man * 2^-24, exact */
    return sign ? -v : v;
  }
  if (ex == 31)
    bits = sign | 0x7f800000u | (man << 13);
  else
    bits = sign | ((ex + 112u) << 23) | (man << 13);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Rounds the 53-bit significand m (hidden bit included) shifted right by
 * `shift` bits to nearest, ties to even. */
static uint32_t round_shift(uint64_t m, int shift) {
  uint64_t q = m >> shift, rem = m & ((UINT64_C(1) << shift) - 1);
  uint64_t half = UINT64_C(1) << (shift - 1);
  if (rem > half || (rem == half && (q & 1))) q++;
  return (uint32_t)q;
}

uint16_t qi_opt_f16_from_f64(double x) {
  uint64_t b;
  memcpy(&b, &x, sizeof b);
  uint16_t sign = (uint16_t)((b >> 48) & 0x8000u);
  int ex = (int)((b >> 52) & 0x7ff);
  uint64_t man = b & ((UINT64_C(1) << 52) - 1);
  if (ex == 0x7ff)
    return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 42) : 0));
  int e = ex - 1023;
  if (e > 15) return (uint16_t)(sign | 0x7c00u);
  uint64_t m = man | (ex ? UINT64_C(1) << 52 : 0);
  if (e >= -14) {
    /* Normal half: 10 fraction bits; a carry out of the fraction bumps the
     * exponent, and out of exponent 30 gives the infinity encoding. */
    uint32_t q = round_shift(m, 42); /* includes the hidden bit (0x400) */
    return (uint16_t)(sign + ((uint32_t)(e + 14) << 10) + q);
  }
  if (e < -25) return sign; /* below half of the smallest subnormal */
  /* Subnormal half in units of 2^-24: value = m * 2^(e-52). */
  return (uint16_t)(sign | round_shift(m, 28 - e));
}

/* ---- element conversion ------------------------------------------------- */

static int is_real(qi_dtype dt) {
  return dt == QI_FLOAT32 || dt == QI_FLOAT64 || dt == QI_FLOAT16;
}

static int64_t load_int(qi_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case QI_INT64: return ((const int64_t *)p)[i];
    case QI_INT32: return ((const int32_t *)p)[i];
    case QI_INT8: return ((const int8_t *)p)[i];
    case QI_UINT8: return ((const uint8_t *)p)[i];
    case QI_BOOL: return ((const uint8_t *)p)[i] != 0;
    default: return 0;
  }
}

/* Two's-complement wrap to the target width (what C compilers do for an
 * out-of-range conversion to a signed type; spelled out to avoid relying on
 * implementation-defined behaviour). */
static void store_int(qi_dtype dt, void *p, int64_t i, int64_t v) {
  uint64_t u = (uint64_t)v;
  switch (dt) {
    case QI_INT64: ((int64_t *)p)[i] = v; break;
    case QI_INT32: {
      uint32_t w = (uint32_t)u;
      int32_t s;
      memcpy(&s, &w, sizeof s);
      ((int32_t *)p)[i] = s;
      break;
    }
    case QI_INT8: {
      uint8_t w = (uint8_t)u;
      int8_t s;
      memcpy(&s, &w, sizeof s);
      ((int8_t *)p)[i] = s;
      break;
    }
    case QI_UINT8: ((uint8_t *)p)[i] = (uint8_t)u; break;
    case QI_BOOL: ((uint8_t *)p)[i] = v != 0; break;
    case QI_FLOAT32: ((float *)p)[i] = (float)v; break;
    case QI_FLOAT64: ((double *)p)[i] = (double)v; break;
    case QI_FLOAT16: ((uint16_t *)p)[i] = qi_opt_f16_from_f64((double)v); break;
    default: break;
  }
}

/* C truncation toward zero; NaN and out-of-range give INT_MIN of the
 * conversion width, as cvttss2si/cvttsd2si do. */
static int64_t trunc_i64(double x) {
  if (x >= -9223372036854775808.0 && x < 9223372036854775808.0)
    return (int64_t)x;
  return INT64_MIN;
}

static int64_t trunc_i32(double x) {
  if (x > -2147483649.0 && x < 2147483648.0) return (int64_t)x;
  return INT32_MIN;
}

static void store_real_at(qi_dtype dt, void *p, int64_t i, double v) {
  switch (dt) {
    case QI_FLOAT32: ((float *)p)[i] = (float)v; break;
    case QI_FLOAT64: ((double *)p)[i] = v; break;
    case QI_FLOAT16: ((uint16_t *)p)[i] = qi_opt_f16_from_f64(v); break;
    case QI_BOOL: ((uint8_t *)p)[i] = v != 0.0; break;
    case QI_INT64: store_int(dt, p, i, trunc_i64(v)); break;
    case QI_INT32:
    case QI_INT8:
    case QI_UINT8: store_int(dt, p, i, trunc_i32(v)); break;
    default: break;
  }
}

void qi_opt_store_real(qi_dtype dt, void *dst, double v) {
  store_real_at(dt, dst, 0, v);
}

void qi_opt_convert(qi_dtype ddt, void *dst, qi_dtype sdt, const void *src,
                    int64_t count) {
  if (ddt == sdt) {
    qi_opt_copy(dst, src, (size_t)count * qi_dtype_size(sdt));
    return;
  }
  /* The two conversions on the FP16 path get plain loops. */
  if (sdt == QI_FLOAT32 && ddt == QI_FLOAT16) {
    for (int64_t i = 0; i < count; i++)
      ((uint16_t *)dst)[i] = qi_opt_f16_from_f64(((const float *)src)[i]);
    return;
  }
  if (sdt == QI_FLOAT16 && ddt == QI_FLOAT32) {
    for (int64_t i = 0; i < count; i++)
      ((float *)dst)[i] = qi_opt_f16_to_f32(((const uint16_t *)src)[i]);
    return;
  }
  if (is_real(sdt)) {
    for (int64_t i = 0; i < count; i++)
      store_real_at(ddt, dst, i, load_real(sdt, src, i));
  } else {
    for (int64_t i = 0; i < count; i++)
      store_int(ddt, dst, i, load_int(sdt, src, i));
  }
}

/* ---- N-D permutation ---------------------------------------------------- */

enum { PERMUTE_TILE = 32 };

typedef struct permute_job {
  const char *src;
  char *dst;
  size_t esize;
  int rank;                /* after coalescing, >= 2 */
  int64_t od[QI_MAX_RANK]; /* output dims */
  int64_t is[QI_MAX_RANK]; /* input element stride of each output axis */
  int64_t rows;            /* block mode: product of od[0..rank-2] */
  int64_t rows_per_task;
  int64_t row_tiles; /* tiled mode: tiles along od[rank-2] */
} permute_job;

/* Input offset of output row `r` (coordinates over axes 0..naxes-1). */
static int64_t row_offset(const permute_job *j, int naxes, int64_t r,
                          int64_t *coord) {
  int64_t off = 0;
  for (int a = naxes - 1; a >= 0; a--) {
    coord[a] = r % j->od[a];
    r /= j->od[a];
    off += coord[a] * j->is[a];
  }
  return off;
}

/* The last output axis is contiguous in the input: copy whole rows. */
static void permute_blocks(void *arg, size_t task, int thread) {
  (void)thread;
  const permute_job *j = arg;
  int na = j->rank - 1;
  size_t blk = (size_t)j->od[na] * j->esize;
  int64_t r0 = (int64_t)task * j->rows_per_task;
  int64_t r1 =
      r0 + j->rows_per_task < j->rows ? r0 + j->rows_per_task : j->rows;
  int64_t coord[QI_MAX_RANK];
  int64_t off = row_offset(j, na, r0, coord);
  for (int64_t r = r0; r < r1; r++) {
    memcpy(j->dst + (size_t)r * blk, j->src + (size_t)off * j->esize, blk);
    for (int a = na - 1; a >= 0; a--) { /* odometer step */
      off += j->is[a];
      if (++coord[a] < j->od[a]) break;
      off -= coord[a] * j->is[a];
      coord[a] = 0;
    }
  }
}

#define PERMUTE_TILE_LOOP(T)                  \
  do {                                        \
    const T *s = (const T *)j->src + base;    \
    T *d = (T *)j->dst + dbase;               \
    for (int64_t i = i0; i < i1; i++)         \
      for (int64_t jj = j0; jj < j1; jj++)    \
        d[i * nb + jj] = s[i * sa + jj * sb]; \
  } while (0)

/* General case: tiles over the last two output axes keep both the reads and
 * the writes within a few cache lines per row. */
static void permute_tiles(void *arg, size_t task, int thread) {
  (void)thread;
  const permute_job *j = arg;
  int r = j->rank;
  int64_t outer = (int64_t)task / j->row_tiles;
  int64_t tile = (int64_t)task % j->row_tiles;
  int64_t coord[QI_MAX_RANK];
  int64_t base = row_offset(j, r - 2, outer, coord);
  int64_t na = j->od[r - 2], nb = j->od[r - 1];
  int64_t sa = j->is[r - 2], sb = j->is[r - 1];
  int64_t dbase = outer * na * nb;
  int64_t i0 = tile * PERMUTE_TILE;
  int64_t i1 = i0 + PERMUTE_TILE < na ? i0 + PERMUTE_TILE : na;
  for (int64_t j0 = 0; j0 < nb; j0 += PERMUTE_TILE) {
    int64_t j1 = j0 + PERMUTE_TILE < nb ? j0 + PERMUTE_TILE : nb;
    switch (j->esize) {
      case 1: PERMUTE_TILE_LOOP(uint8_t); break;
      case 2: PERMUTE_TILE_LOOP(uint16_t); break;
      case 4: PERMUTE_TILE_LOOP(uint32_t); break;
      case 8: PERMUTE_TILE_LOOP(uint64_t); break;
      default:
        for (int64_t i = i0; i < i1; i++)
          for (int64_t jj = j0; jj < j1; jj++)
            memcpy(j->dst + (size_t)(dbase + i * nb + jj) * j->esize,
                   j->src + (size_t)(base + i * sa + jj * sb) * j->esize,
                   j->esize);
    }
  }
}

void qi_opt_permute(qi_pool *pool, const void *src, void *dst, size_t esize,
                    int rank, const int64_t *in_dims, const int *perm) {
  int64_t total = 1;
  for (int i = 0; i < rank; i++) total *= in_dims[i];
  if (total == 0) return;
  /* Drop unit axes, then merge runs of output axes that are consecutive
   * input axes: [N,C,H,W] -> [N,H,W,C] becomes [C,HW] -> [HW,C]. */
  int newidx[QI_MAX_RANK], p[QI_MAX_RANK], np = 0, nkeep = 0;
  for (int i = 0; i < rank; i++) newidx[i] = in_dims[i] == 1 ? -1 : nkeep++;
  for (int i = 0; i < rank; i++)
    if (newidx[perm[i]] >= 0) p[np++] = newidx[perm[i]];
  int64_t kd[QI_MAX_RANK];
  for (int i = 0; i < rank; i++)
    if (newidx[i] >= 0) kd[newidx[i]] = in_dims[i];
  /* group_of[input axis] = output group; a group starts where the input
   * axis does not follow the previous output axis. */
  int ng = 0, group_of[QI_MAX_RANK];
  for (int i = 0; i < np; i++) {
    if (i == 0 || p[i] != p[i - 1] + 1) ng++;
    group_of[p[i]] = ng - 1;
  }
  if (ng <= 1) {
    qi_opt_copy(dst, src, (size_t)total * esize);
    return;
  }
  /* Each group is a run of consecutive input axes: its dim is their
   * product, its stride the product of the input dims after it. */
  int64_t gdim[QI_MAX_RANK], gstride[QI_MAX_RANK];
  for (int g = 0; g < ng; g++) gdim[g] = 1;
  for (int a = 0; a < nkeep; a++) gdim[group_of[a]] *= kd[a];
  for (int g = 0; g < ng; g++) {
    int64_t st = 1;
    for (int a = nkeep - 1; a >= 0; a--) {
      if (group_of[a] == g) break;
      st *= kd[a];
    }
    gstride[g] = st;
  }
  permute_job j;
  memset(&j, 0, sizeof j);
  j.src = src;
  j.dst = dst;
  j.esize = esize;
  j.rank = ng;
  for (int g = 0; g < ng; g++) {
    j.od[g] = gdim[g];
    j.is[g] = gstride[g];
  }
  int threads = qi_pool_size(pool);
  int par = threads > 1 && (size_t)total * esize >= ((size_t)1 << 18);
  if (j.is[ng - 1] == 1) {
    j.rows = total / j.od[ng - 1];
    int64_t ntask = par ? (int64_t)threads * 4 : 1;
    if (ntask > j.rows) ntask = j.rows;
    j.rows_per_task = (j.rows + ntask - 1) / ntask;
    ntask = (j.rows + j.rows_per_task - 1) / j.rows_per_task;
    qi_pool_run(par ? pool : NULL, permute_blocks, &j, (size_t)ntask);
  } else {
    j.row_tiles = (j.od[ng - 2] + PERMUTE_TILE - 1) / PERMUTE_TILE;
    int64_t outer = total / (j.od[ng - 2] * j.od[ng - 1]);
    qi_pool_run(par ? pool : NULL, permute_tiles, &j,
                (size_t)(outer * j.row_tiles));
  }
}
