/* Streaming statistics of one tensor: counts, exact min/max, and a
 * power-of-two-width histogram that re-bins by exact merging (see
 * observer.h for the invariant that makes it order-independent). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/observer_internal.h"
#include "core/error.h"

qi_status qi_observer_create(int nbins, qi_observer **obs, qi_error *err) {
  if (!obs) return qi_fail(err, QI_ERR_INVALID_ARG, "observer: NULL output");
  *obs = NULL;
  if (nbins == 0) nbins = QI_OBSERVER_DEFAULT_BINS;
  if (nbins < QI_OBSERVER_MIN_BINS || nbins > QI_OBSERVER_MAX_BINS ||
      nbins % 2 != 0)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "observer: %d bins (want an even number in [%d, %d])", nbins,
                   QI_OBSERVER_MIN_BINS, QI_OBSERVER_MAX_BINS);
  qi_observer *o = calloc(1, sizeof *o);
  uint64_t *counts = calloc((size_t)nbins, sizeof *counts);
  uint64_t *scratch = calloc((size_t)nbins, sizeof *scratch);
  if (!o || !counts || !scratch) {
    free(o);
    free(counts);
    free(scratch);
    return qi_fail(err, QI_ERR_NOMEM, "observer: cannot allocate %d bins",
                   nbins);
  }
  o->nbins = nbins;
  o->exp = QI_OBSERVER_EXP_MIN;
  o->counts = counts;
  o->scratch = scratch;
  *obs = o;
  return QI_OK;
}

void qi_observer_free(qi_observer *obs) {
  if (!obs) return;
  free(obs->counts);
  free(obs->scratch);
  free(obs);
}

size_t qi_observer_bytes(const qi_observer *obs) {
  return sizeof *obs + 2 * (size_t)obs->nbins * sizeof *obs->counts;
}

void qi_observer_get_stats(const qi_observer *o, qi_observer_stats *s) {
  s->finite = o->finite;
  s->nan = o->nan;
  s->pos_inf = o->pos_inf;
  s->neg_inf = o->neg_inf;
  s->zeros = o->zeros;
  s->min = o->min;
  s->max = o->max;
  s->nbins = o->nbins;
  s->has_negative = o->has_negative;
  s->bin_width = ldexp(1.0, o->exp);
}

/* floor(j / 2^d) for d >= 0, without relying on the sign behaviour of >>. */
static int64_t floor_div_pow2(int64_t j, int d) {
  if (d == 0) return j;
  if (d >= 62) return j < 0 ? -1 : 0;
  int64_t p = (int64_t)1 << d;
  int64_t q = j / p;
  if (j % p != 0 && j < 0) q--;
  return q;
}

/* Whether finite samples in [mn, mx] all fall in the window of bin width
 * 2^e. x * 2^-e is exact in double for every float x and every e the
 * observer can reach, so floor() gives the exact bin. */
static int window_holds(int has_negative, int32_t nbins, int e, float mn,
                        float mx) {
  int64_t j0 = has_negative ? -(int64_t)(nbins / 2) : 0;
  double jlo = floor(ldexp((double)mn, -e));
  double jhi = floor(ldexp((double)mx, -e));
  return jlo >= (double)j0 && jhi < (double)(j0 + nbins);
}

/* The smallest e >= e_floor whose window holds [mn, mx]. */
static int needed_exp(int has_negative, int32_t nbins, int e_floor, float mn,
                      float mx) {
  double m = fmax(fabs((double)mn), fabs((double)mx));
  int e = e_floor;
  if (m > 0) {
    /* Start from a lower bound of the answer, then step up: with
     * 2^(k-1) <= m and the window reaching below nbins * 2^e < 2^(l+2+e),
     * l = floor(log2(nbins/2)), any e that holds m has e >= k - l - 2. */
    int k = 0, l = 0;
    (void)frexp(m, &k);
    while (((int32_t)2 << l) <= nbins / 2) l++;
    if (k - l - 3 > e) e = k - l - 3;
  }
  while (!window_holds(has_negative, nbins, e, mn, mx)) e++;
  return e;
}

/* Moves the counts of `src` (window and exponent of src_*) into `dst`'s
 * current window, adding to what dst holds. e_dst >= e_src, and a signed
 * destination when the source is signed. */
static qi_status add_rebinned(qi_observer *dst, const uint64_t *src_counts,
                              int src_has_negative, int src_exp,
                              qi_error *err) {
  int64_t src_j0 = src_has_negative ? -(int64_t)(dst->nbins / 2) : 0;
  int64_t dst_j0 = qi_observer_first_bin(dst);
  int d = dst->exp - src_exp;
  for (int32_t i = 0; i < dst->nbins; i++) {
    uint64_t c = src_counts[i];
    if (!c) continue;
    int64_t t = floor_div_pow2(src_j0 + i, d) - dst_j0;
    if (t < 0 || t >= dst->nbins)
      return qi_fail(err, QI_ERR_INTERNAL,
                     "observer: bin %lld leaves the window on re-binning",
                     (long long)(src_j0 + i));
    dst->scratch[t] += c;
  }
  return QI_OK;
}

/* Grows the window (exponent and sign mode only ever increase) so that it
 * holds [mn, mx] and has exponent >= e_floor, merging bins exactly. */
static qi_status grow_window(qi_observer *o, int has_negative, int e_floor,
                             float mn, float mx, qi_error *err) {
  has_negative = has_negative || o->has_negative;
  if (e_floor < o->exp) e_floor = o->exp;
  int e = needed_exp(has_negative, o->nbins, e_floor, mn, mx);
  if (e == o->exp && has_negative == o->has_negative) return QI_OK;
  int old_neg = o->has_negative, old_exp = o->exp;
  o->has_negative = has_negative;
  o->exp = e;
  memset(o->scratch, 0, (size_t)o->nbins * sizeof *o->scratch);
  QI_TRY(add_rebinned(o, o->counts, old_neg, old_exp, err));
  uint64_t *t = o->counts;
  o->counts = o->scratch;
  o->scratch = t;
  return QI_OK;
}

qi_status qi_observer_update(qi_observer *o, const float *x, size_t n,
                             qi_error *err) {
  if (!o || (!x && n))
    return qi_fail(err, QI_ERR_INVALID_ARG, "observer update: NULL argument");
  uint64_t finite = 0, nan = 0, pinf = 0, ninf = 0, zeros = 0;
  float mn = INFINITY, mx = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    if (isnan(v)) {
      nan++;
    } else if (isinf(v)) {
      if (v > 0)
        pinf++;
      else
        ninf++;
    } else {
      finite++;
      zeros += v == 0;
      if (v < mn) mn = v;
      if (v > mx) mx = v;
    }
  }
  o->nan += nan;
  o->pos_inf += pinf;
  o->neg_inf += ninf;
  if (!finite) return QI_OK;
  if (o->finite) {
    if (o->min < mn) mn = o->min;
    if (o->max > mx) mx = o->max;
  }
  /* -0.0f < 0 is false: a negative zero bins as zero and keeps the
   * non-negative window. */
  QI_TRY(grow_window(o, mn < 0, o->exp, mn, mx, err));
  o->finite += finite;
  o->zeros += zeros;
  o->min = mn;
  o->max = mx;

  double inv_w = ldexp(1.0, -o->exp);
  int64_t j0 = qi_observer_first_bin(o);
  /* Zeros (often half a post-ReLU tensor) go to their bin in one addition:
   * incrementing one counter per zero would serialise on that counter. */
  o->counts[-j0] += zeros;
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    if (v == 0 || !isfinite(v)) continue;
    /* floor by truncation and a correction: |y| < 2^20 here, and x86-64's
     * baseline has no inline floor (libm's costs more than the rest). */
    double y = (double)v * inv_w;
    int64_t t = (int64_t)y;
    t -= y < (double)t;
    t -= j0;
    if (t < 0 || t >= o->nbins) /* unreachable: grow_window placed it */
      return qi_fail(err, QI_ERR_INTERNAL,
                     "observer update: sample %zu outside the window", i);
    o->counts[t]++;
  }
  return QI_OK;
}

qi_status qi_observer_merge(qi_observer *dst, const qi_observer *src,
                            qi_error *err) {
  if (!dst || !src || dst == src)
    return qi_fail(err, QI_ERR_INVALID_ARG, "observer merge: bad arguments");
  if (dst->nbins != src->nbins)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "observer merge: %d bins into %d bins", src->nbins,
                   dst->nbins);
  dst->nan += src->nan;
  dst->pos_inf += src->pos_inf;
  dst->neg_inf += src->neg_inf;
  if (!src->finite) return QI_OK;
  float mn = src->min, mx = src->max;
  if (dst->finite) {
    if (dst->min < mn) mn = dst->min;
    if (dst->max > mx) mx = dst->max;
  }
  QI_TRY(grow_window(dst, mn < 0, src->exp, mn, mx, err));
  memset(dst->scratch, 0, (size_t)dst->nbins * sizeof *dst->scratch);
  QI_TRY(add_rebinned(dst, src->counts, src->has_negative, src->exp, err));
  for (int32_t i = 0; i < dst->nbins; i++) dst->counts[i] += dst->scratch[i];
  dst->finite += src->finite;
  dst->zeros += src->zeros;
  dst->min = mn;
  dst->max = mx;
  return QI_OK;
}
