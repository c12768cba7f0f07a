/*
 * Clipping ranges from an observer's statistics: minmax, percentile,
 * entropy (KL divergence) and mse. Every histogram method works on the
 * occupied bins clipped to the exact [min, max] (the first and last bins
 * hold samples only from min and up to max), takes the exact zeros out of
 * bin 0 as an atom at 0 (spread over the bin, the zeros of a post-ReLU
 * tensor would look like quantization error), and evaluates a candidate
 * range with the grid it would really get: the uint8 (or `levels`-step)
 * grid of qi_uint8_qparams, zero point rounding and the inclusion of 0
 * included.
 */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/observer_internal.h"
#include "calib/qparams.h"
#include "core/error.h"

#define QI_PERCENTILE_DEFAULT 99.99
#define QI_LEVELS_DEFAULT 255
#define QI_LEVELS_MAX 65536
/* Coordinate-descent rounds of the mse method (each optimises hi, then lo,
 * over all bin edges); it stops earlier when a round changes nothing. */
#define QI_MSE_MAX_ROUNDS 8
/* Q of a bin that holds only clipped samples, in counts (see kl_divergence). */
#define QI_KL_EPS 1e-4

/* The quantization grid of a candidate range: points g0 + k*s, k = 0..qmax;
 * a value maps to the nearest point (clamped to the ends). */
typedef struct qgrid {
  double g0, s;
  int32_t qmax;
} qgrid;

/* The grid qi_uint8_qparams gives [lo, hi] when qmax == 255, and the same
 * construction with qmax steps otherwise. */
static qgrid grid_for_range(double lo, double hi, int32_t qmax) {
  qgrid g;
  g.qmax = qmax;
  float scale;
  int32_t zp;
  if (qmax == 255) {
    /* Both ends lie inside a float [min, max]: cannot fail. */
    (void)qi_uint8_qparams((float)lo, (float)hi, &scale, &zp, NULL);
  } else {
    double l = lo < 0 ? lo : 0, h = hi > 0 ? hi : 0;
    scale = (float)((h - l) / qmax);
    if (!(scale >= FLT_MIN)) {
      scale = QI_DEGENERATE_SCALE;
      zp = 0;
    } else {
      double z = nearbyint(-l / (double)scale);
      zp = (int32_t)(z < 0 ? 0 : (z > qmax ? qmax : z));
    }
  }
  g.s = scale;
  g.g0 = -(double)zp * scale;
  return g;
}

/* Index of the grid point nearest x (clamped to 0..qmax). */
static int64_t grid_index(const qgrid *g, double x) {
  double k = floor((x - g->g0) / g->s + 0.5);
  if (k < 0) return 0;
  if (k > g->qmax) return g->qmax;
  return (int64_t)k;
}

/* The histogram as the range methods see it. */
typedef struct hist {
  const qi_observer *o;
  double w;       /* bin width */
  int64_t j0;     /* absolute bin index of counts[0] */
  int64_t ia, ib; /* window indices of the bins holding min and max */
  int64_t iz;     /* window index of bin [0, w), which holds the zeros */
} hist;

static hist hist_make(const qi_observer *o) {
  hist h;
  h.o = o;
  h.w = ldexp(1.0, o->exp);
  h.j0 = qi_observer_first_bin(o);
  h.ia = (int64_t)floor((double)o->min / h.w) - h.j0;
  h.ib = (int64_t)floor((double)o->max / h.w) - h.j0;
  h.iz = -h.j0;
  return h;
}

/* Samples of window bin i other than the atom of zeros. */
static double bin_spread_count(const hist *h, int64_t i) {
  double c = (double)h->o->counts[i];
  return i == h->iz ? c - (double)h->o->zeros : c;
}

/* Support of window bin i: the bin clipped to [min, max]. */
static void bin_support(const hist *h, int64_t i, double *u, double *v) {
  double a = (double)(i + h->j0) * h->w;
  double b = a + h->w;
  *u = a > h->o->min ? a : h->o->min;
  *v = b < h->o->max ? b : h->o->max;
}

/* ---- percentile ---------------------------------------------------- */

/* The value below which a fraction q of the samples lies, the histogram's
 * CDF interpolated linearly inside each bin (after the atom of zeros in
 * bin 0). The CDF is exact at bin edges, so the answer lies in the same bin
 * as the sample quantile. */
static double hist_quantile(const hist *h, double q) {
  const qi_observer *o = h->o;
  double target = q * (double)o->finite, cum = 0;
  for (int64_t i = h->ia; i <= h->ib; i++) {
    double c = (double)o->counts[i];
    if (c == 0) continue;
    if (cum + c >= target) {
      if (i == h->iz && o->zeros) {
        double z = (double)o->zeros;
        if (target - cum <= z) return 0;
        cum += z;
        c -= z;
      }
      double frac = (target - cum) / c, u, v;
      if (frac < 0) frac = 0;
      if (frac > 1) frac = 1;
      bin_support(h, i, &u, &v);
      return u + frac * (v - u);
    }
    cum += c;
  }
  return o->max;
}

/* ---- entropy ------------------------------------------------------- */

/*
 * KL(P || Q) for the candidate whose clipped range covers window bins
 * [a, b), as in MXNet's reference implementation of TensorRT's method:
 *   P  the counts of bins [a, b), the samples below a added to the first
 *      bin and those above b to the last (what clipping does);
 *   Q  the counts of bins [a, b) without those outliers, quantized by the
 *      grid's rounding cells: each cell's mass spread uniformly over the
 *      bins (and fractions of bins) it covers where P is nonzero.
 * Q lacks the clipped mass, which is what makes clipping cost: an edge bin
 * that holds only outliers gets Q = QI_KL_EPS counts (MXNet's smoothing
 * constant). The zeros are an atom of both P and Q (0 quantizes exactly)
 * and are left out of the bins. Cells are in bin units, relative to bin a.
 */
static double kl_divergence(const hist *h, const uint64_t *prefix, int64_t a,
                            int64_t b, const qgrid *g, double *p, double *q) {
  const qi_observer *o = h->o;
  int64_t m = b - a;
  double total = (double)o->finite;
  /* raw[i] = P without the outliers, in p for now */
  for (int64_t i = 0; i < m; i++) {
    p[i] = bin_spread_count(h, a + i);
    q[i] = 0;
  }
  double *raw = q + m; /* the caller gives q room for 2 m */
  memcpy(raw, p, (size_t)m * sizeof *raw);
  p[0] += (double)prefix[a];
  p[m - 1] += total - (double)prefix[b];

  double base = (double)(a + h->j0) * h->w; /* real value at bin a's edge */
  double half = 0.5 * g->s / h->w;          /* half a cell, in bins */
  int64_t k0 = grid_index(g, base), k1 = grid_index(g, base + m * h->w);
  for (int64_t k = k0; k <= k1; k++) {
    double c = (g->g0 + (double)k * g->s - base) / h->w;
    double lo = k == 0 ? 0 : c - half, hi = k == g->qmax ? (double)m : c + half;
    if (lo < 0) lo = 0;
    if (hi > m) hi = (double)m;
    if (hi <= lo) continue;
    int64_t i0 = (int64_t)floor(lo), i1 = (int64_t)ceil(hi);
    if (i1 > m) i1 = m;
    double mass = 0, nz = 0;
    for (int64_t i = i0; i < i1; i++) {
      double ov = fmin(hi, (double)(i + 1)) - fmax(lo, (double)i);
      if (ov <= 0) continue;
      mass += ov * raw[i];
      if (p[i] != 0) nz += ov;
    }
    if (nz == 0 || mass == 0) continue;
    for (int64_t i = i0; i < i1; i++) {
      double ov = fmin(hi, (double)(i + 1)) - fmax(lo, (double)i);
      if (ov > 0 && p[i] != 0) q[i] += ov * mass / nz;
    }
  }
  for (int64_t i = 0; i < m; i++)
    if (p[i] != 0 && q[i] == 0) q[i] = QI_KL_EPS;
  double z = (double)o->zeros, sq = z;
  for (int64_t i = 0; i < m; i++) sq += q[i];
  double kl = z > 0 ? z / total * log(sq / total) : 0;
  for (int64_t i = 0; i < m; i++)
    if (p[i] > 0) kl += p[i] / total * log((p[i] / total) / (q[i] / sq));
  return kl;
}

/* KL over a sparse histogram (a small tensor, few samples) compares
 * shapes of a few spikes and can prefer a window that drops most of the
 * samples; candidates clipping more than this share of the nonzero samples
 * are not compared. Real calibrations clip far less (< 0.1%). */
#define QI_ENTROPY_MAX_CLIP 0.01

static qi_status range_entropy(const hist *h, int32_t levels, double *lo,
                               double *hi, qi_error *err) {
  const qi_observer *o = h->o;
  int64_t n = o->nbins;
  uint64_t *prefix = malloc((size_t)(n + 1) * sizeof *prefix);
  double *p = malloc((size_t)n * sizeof *p);
  double *q = malloc((size_t)n * 2 * sizeof *q);
  if (!prefix || !p || !q) {
    free(prefix);
    free(p);
    free(q);
    return qi_fail(err, QI_ERR_NOMEM, "entropy range: no scratch memory");
  }
  prefix[0] = 0;
  for (int64_t i = 0; i < n; i++) prefix[i + 1] = prefix[i] + o->counts[i];

  /* Candidates: symmetric magnitude T = k*w, each side stopping at the
   * data. ja/jb: absolute bins of min and max. */
  int64_t ja = h->ia + h->j0, jb = h->ib + h->j0;
  int64_t kmax = -ja > jb + 1 ? -ja : jb + 1;
  double best = INFINITY;
  *lo = o->min;
  *hi = o->max;
  for (int64_t k = 1; k <= kmax; k++) {
    int64_t a = ja > -k ? ja : -k, b = jb + 1 < k ? jb + 1 : k;
    if (b <= a) continue;
    double clo = fmax((double)a * h->w, o->min);
    double chi = fmin((double)b * h->w, o->max);
    qgrid g = grid_for_range(clo, chi, levels);
    /* Cells narrower than a bin make Q copy P: the histogram cannot see
     * the quantization error there, so such candidates are not compared. */
    if (g.s < h->w) continue;
    uint64_t clipped = prefix[a - h->j0] + (prefix[n] - prefix[b - h->j0]);
    if ((double)clipped > QI_ENTROPY_MAX_CLIP * (double)prefix[n]) continue;
    double kl = kl_divergence(h, prefix, a - h->j0, b - h->j0, &g, p, q);
    if (kl < best) {
      best = kl;
      *lo = clo;
      *hi = chi;
    }
  }
  free(prefix);
  free(p);
  free(q);
  return QI_OK;
}

/* ---- mse ----------------------------------------------------------- */

typedef struct occupied_bin {
  double u, v, count; /* support [u, v] (u == v: a point) and its samples */
} occupied_bin;

/* integral over [p, t] of (x - c)^2 dx */
static double sq_integral(double c, double p, double t) {
  double a = p - c, b = t - c;
  return (b * b * b - a * a * a) / 3.0;
}

/* integral over [p, r] of (x - dequant(quant(x)))^2 dx for the grid g. The
 * middle part is split at the cell edges: the partial first and last
 * cells, and s^3/12 for each full cell between them. */
static double seg_sq_err(double p, double r, const qgrid *g) {
  double top = g->g0 + g->qmax * g->s, e = 0;
  if (p < g->g0) e += sq_integral(g->g0, p, fmin(r, g->g0));
  if (r > top) e += sq_integral(top, fmax(p, top), r);
  double mp = fmax(p, g->g0), mr = fmin(r, top);
  if (mr <= mp) return e;
  int64_t k0 = grid_index(g, mp), k1 = grid_index(g, mr);
  double c0 = g->g0 + k0 * g->s, c1 = g->g0 + k1 * g->s;
  if (k0 == k1) return e + sq_integral(c0, mp, mr);
  e += sq_integral(c0, mp, c0 + 0.5 * g->s);
  e += sq_integral(c1, c1 - 0.5 * g->s, mr);
  e += (double)(k1 - k0 - 1) * g->s * g->s * g->s / 12.0;
  return e;
}

/* Expected squared error summed over the samples, each bin's samples
 * uniform over its support. */
static double total_sq_err(const occupied_bin *bins, size_t nb, double lo,
                           double hi, int32_t levels) {
  qgrid g = grid_for_range(lo, hi, levels);
  double e = 0;
  for (size_t i = 0; i < nb; i++) {
    const occupied_bin *x = &bins[i];
    if (x->v > x->u) {
      e += x->count * seg_sq_err(x->u, x->v, &g) / (x->v - x->u);
    } else {
      double d = x->u - (g.g0 + (double)grid_index(&g, x->u) * g.s);
      e += x->count * d * d;
    }
  }
  return e;
}

/* The bins holding samples other than zeros (0 is a point of every grid,
 * so the zeros add no error); bins has room for ib - ia + 1. */
static size_t occupied_bins(const hist *h, occupied_bin *bins) {
  size_t nb = 0;
  for (int64_t i = h->ia; i <= h->ib; i++) {
    double c = bin_spread_count(h, i);
    if (c > 0) {
      bin_support(h, i, &bins[nb].u, &bins[nb].v);
      bins[nb++].count = c;
    }
  }
  return nb;
}

/* Best value of one end (the other fixed) over cands[0..nc). */
static void mse_scan(const occupied_bin *bins, size_t nb, const double *cands,
                     size_t nc, int is_hi, double *lo, double *hi,
                     int32_t levels, double *best, int *changed) {
  for (size_t i = 0; i < nc; i++) {
    double l = is_hi ? *lo : cands[i], r = is_hi ? cands[i] : *hi;
    double e = total_sq_err(bins, nb, l, r, levels);
    if (e < *best) {
      *best = e;
      if (is_hi)
        *hi = r;
      else
        *lo = l;
      *changed = 1;
    }
  }
}

static qi_status range_mse(const hist *h, int32_t levels, double *lo,
                           double *hi, qi_error *err) {
  const qi_observer *o = h->o;
  size_t n = (size_t)(h->ib - h->ia + 1);
  occupied_bin *bins = malloc(n * sizeof *bins);
  double *lo_c = malloc((n + 1) * sizeof *lo_c);
  double *hi_c = malloc((n + 1) * sizeof *hi_c);
  if (!bins || !lo_c || !hi_c) {
    free(bins);
    free(lo_c);
    free(hi_c);
    return qi_fail(err, QI_ERR_NOMEM, "mse range: no scratch memory");
  }
  size_t nb = occupied_bins(h, bins), nl = 0, nh = 0;
  double mn = o->min, mx = o->max;
  /* Candidates: the data's own ends, and every bin edge on the side of 0
   * that each end can move to (clipping past 0 means nothing: qparams
   * keeps 0 in the range). */
  lo_c[nl++] = mn;
  hi_c[nh++] = mx;
  for (int64_t i = h->ia + 1; i <= h->ib; i++) {
    double edge = (double)(i + h->j0) * h->w;
    if (edge > mn && edge <= 0) lo_c[nl++] = edge;
    if (edge < mx && edge >= 0) hi_c[nh++] = edge;
  }
  *lo = mn;
  *hi = mx;
  double best = total_sq_err(bins, nb, *lo, *hi, levels);
  for (int round = 0; round < QI_MSE_MAX_ROUNDS; round++) {
    int changed = 0;
    mse_scan(bins, nb, hi_c, nh, 1, lo, hi, levels, &best, &changed);
    mse_scan(bins, nb, lo_c, nl, 0, lo, hi, levels, &best, &changed);
    if (!changed) break;
  }
  free(bins);
  free(lo_c);
  free(hi_c);
  return QI_OK;
}

/* ---- entry points -------------------------------------------------- */

static qi_status parse_levels(qi_range_method method, float param,
                              int32_t *levels, qi_error *err) {
  double lv = param == 0 ? QI_LEVELS_DEFAULT : (double)param;
  if (!(lv >= 2 && lv <= QI_LEVELS_MAX) || lv != floor(lv))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "%s: %g levels (want an integer in [2, %d])",
                   qi_range_method_name(method), lv, QI_LEVELS_MAX);
  *levels = (int32_t)lv;
  return QI_OK;
}

qi_status qi_observer_expected_sq_error(const qi_observer *o, float lo,
                                        float hi, float levels, double *mse,
                                        qi_error *err) {
  if (!o || !mse)
    return qi_fail(err, QI_ERR_INVALID_ARG, "expected error: NULL argument");
  if (!o->finite)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "expected error: no finite calibration sample");
  if (!isfinite(lo) || !isfinite(hi) || lo > hi)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "expected error: range [%g, %g] is not finite and ordered",
                   (double)lo, (double)hi);
  int32_t lv;
  QI_TRY(parse_levels(QI_RANGE_MSE, levels, &lv, err));
  hist h = hist_make(o);
  size_t n = (size_t)(h.ib - h.ia + 1), nb = 0;
  occupied_bin *bins = malloc(n * sizeof *bins);
  if (!bins)
    return qi_fail(err, QI_ERR_NOMEM, "expected error: no scratch memory");
  nb = occupied_bins(&h, bins);
  *mse = total_sq_err(bins, nb, lo, hi, lv) / (double)o->finite;
  free(bins);
  return QI_OK;
}

qi_status qi_observer_range(const qi_observer *o, qi_range_method method,
                            float param, float *lo, float *hi, qi_error *err) {
  if (!o || !lo || !hi)
    return qi_fail(err, QI_ERR_INVALID_ARG, "observer range: NULL argument");
  if (!o->finite)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "no finite calibration sample (%llu NaN, %llu +Inf, "
                   "%llu -Inf)",
                   (unsigned long long)o->nan, (unsigned long long)o->pos_inf,
                   (unsigned long long)o->neg_inf);
  hist h = hist_make(o);
  double l = o->min, r = o->max;
  switch (method) {
    case QI_RANGE_MINMAX:
      break;
    case QI_RANGE_PERCENTILE: {
      double pct = param == 0 ? QI_PERCENTILE_DEFAULT : (double)param;
      if (!(pct >= 50 && pct <= 100))
        return qi_fail(err, QI_ERR_INVALID_ARG,
                       "percentile %g is outside [50, 100]", pct);
      l = hist_quantile(&h, (100 - pct) / 100);
      r = hist_quantile(&h, pct / 100);
      break;
    }
    case QI_RANGE_ENTROPY:
    case QI_RANGE_MSE: {
      int32_t lv;
      QI_TRY(parse_levels(method, param, &lv, err));
      if (method == QI_RANGE_ENTROPY)
        QI_TRY(range_entropy(&h, lv, &l, &r, err));
      else
        QI_TRY(range_mse(&h, lv, &l, &r, err));
      break;
    }
    default:
      return qi_fail(err, QI_ERR_INVALID_ARG, "unknown range method %d",
                     (int)method);
  }
  /* Keep min <= lo <= hi <= max whatever rounding did. */
  if (l < o->min) l = o->min;
  if (r > o->max) r = o->max;
  if (l > r) l = r;
  *lo = (float)l;
  *hi = (float)r;
  return QI_OK;
}

static const char *const k_method_names[] = {"minmax", "percentile", "entropy",
                                             "mse"};

const char *qi_range_method_name(qi_range_method m) {
  if ((int)m < 0 || (size_t)m >= sizeof k_method_names / sizeof *k_method_names)
    return "unknown";
  return k_method_names[m];
}

qi_status qi_range_method_parse(const char *name, qi_range_method *m,
                                qi_error *err) {
  if (!name || !m)
    return qi_fail(err, QI_ERR_INVALID_ARG, "range method: NULL argument");
  for (size_t i = 0; i < sizeof k_method_names / sizeof *k_method_names; i++)
    if (strcmp(name, k_method_names[i]) == 0) {
      *m = (qi_range_method)i;
      return QI_OK;
    }
  return qi_fail(err, QI_ERR_INVALID_ARG,
                 "unknown range method '%s' (minmax, percentile, entropy, "
                 "mse)",
                 name);
}
