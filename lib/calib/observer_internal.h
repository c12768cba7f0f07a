/* The observer's layout, shared by observer.c (updates) and
 * range_methods.c (range choice); nothing outside lib/calib uses it. */
#ifndef QI_CALIB_OBSERVER_INTERNAL_H
#define QI_CALIB_OBSERVER_INTERNAL_H

#include "calib/observer.h"

struct qi_observer {
  int32_t nbins;        /* even */
  int32_t has_negative; /* window of absolute bins [j0, j0 + nbins) with
                           j0 = -nbins/2, else j0 = 0 */
  int32_t exp;          /* bin width 2^exp */
  uint64_t finite, nan, pos_inf, neg_inf;
  uint64_t zeros;    /* finite samples equal to 0 (either sign) */
  float min, max;    /* of the finite samples, when finite > 0 */
  uint64_t *counts;  /* nbins: counts[i] is absolute bin i + j0 */
  uint64_t *scratch; /* nbins, for re-binning without allocating */
};

static inline int64_t qi_observer_first_bin(const qi_observer *o) {
  return o->has_negative ? -(int64_t)(o->nbins / 2) : 0;
}

#endif
