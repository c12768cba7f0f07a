/* SQNR and cosine similarity (see measure.h for the edge cases). */
#include "calib/measure.h"

#include <math.h>

double qi_sqnr_db(const float *ref, const float *test, size_t n) {
  double signal = 0, noise = 0;
  for (size_t i = 0; i < n; i++) {
    double r = ref[i], d = (double)test[i] - r;
    signal += r * r;
    noise += d * d;
  }
  if (isnan(signal) || isnan(noise) || isinf(signal) || isinf(noise))
    return NAN;
  if (noise == 0) return INFINITY;
  if (signal == 0) return -INFINITY;
  return 10.0 * log10(signal / noise);
}

double qi_cosine_similarity(const float *ref, const float *test, size_t n) {
  double dot = 0, rr = 0, tt = 0;
  for (size_t i = 0; i < n; i++) {
    double r = ref[i], t = test[i];
    dot += r * t;
    rr += r * r;
    tt += t * t;
  }
  if (!isfinite(dot) || !isfinite(rr) || !isfinite(tt)) return NAN;
  if (rr == 0 && tt == 0) return 1.0;
  if (rr == 0 || tt == 0) return 0.0;
  double c = dot / (sqrt(rr) * sqrt(tt));
  return c > 1 ? 1 : (c < -1 ? -1 : c);
}
