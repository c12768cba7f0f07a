/*
 * Activation-range observers for post-training calibration, and the
 * methods that choose a clipping range [lo, hi] from what they saw.
 *
 * An observer holds fixed-size statistics of one tensor, updated as
 * calibration samples stream past; it never keeps the activations:
 *   - counts of finite, NaN, +Inf and -Inf samples (non-finite ones are
 *     excluded from everything else);
 *   - the exact running min and max of the finite samples, and the count
 *     of exact zeros (the quantizer represents 0 exactly, so the range
 *     methods treat them as an atom rather than spread over bin 0: this
 *     matters for post-ReLU tensors, often half zeros);
 *   - a histogram of `nbins` bins of width w = 2^e on a grid anchored at 0:
 *     bin j covers [j*w, (j+1)*w). While no negative sample has been seen
 *     the window is bins 0..nbins-1 (so post-ReLU data starts exactly on a
 *     bin edge); after the first negative sample it is -nbins/2..nbins/2-1.
 *     When a sample falls outside, w doubles (e grows) and bins merge
 *     exactly: the bins of width 2w nest the bins of width w, so every
 *     count lands where the sample would have gone directly.
 * e is always the smallest exponent (>= QI_OBSERVER_EXP_MIN) whose window
 * holds every finite sample seen, so the histogram depends only on the
 * multiset of samples: chunking, order and merging give identical counts,
 * and therefore identical ranges. Memory is fixed at creation.
 *
 * Thread safety: one observer is updated by one thread at a time; observers
 * fed on different threads combine with qi_observer_merge.
 */
#ifndef QI_CALIB_OBSERVER_H
#define QI_CALIB_OBSERVER_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

#define QI_OBSERVER_DEFAULT_BINS 2048
#define QI_OBSERVER_MIN_BINS 16
#define QI_OBSERVER_MAX_BINS (1 << 20)
/* Bin widths never go below 2^-160, finer than any float32 spacing. */
#define QI_OBSERVER_EXP_MIN (-160)

typedef struct qi_observer qi_observer;

/* A snapshot of an observer's statistics. min/max are meaningful only when
 * finite > 0; bin_width is 2^e. */
typedef struct qi_observer_stats {
  uint64_t finite, nan, pos_inf, neg_inf;
  uint64_t zeros; /* finite samples equal to 0, also counted in `finite` */
  float min, max;
  int32_t nbins;
  int32_t has_negative; /* 1: the window is -nbins/2..nbins/2-1 */
  double bin_width;
} qi_observer_stats;

typedef enum qi_range_method {
  QI_RANGE_MINMAX = 0,
  QI_RANGE_PERCENTILE,
  QI_RANGE_ENTROPY,
  QI_RANGE_MSE
} qi_range_method;

/* Creates an observer with `nbins` histogram bins: 0 means
 * QI_OBSERVER_DEFAULT_BINS, otherwise an even number in
 * [QI_OBSERVER_MIN_BINS, QI_OBSERVER_MAX_BINS]. Memory: 2 * nbins * 8 bytes
 * plus the struct, allocated here and never grown. The caller owns *obs and
 * frees it with qi_observer_free. */
qi_status qi_observer_create(int nbins, qi_observer **obs, qi_error *err);
void qi_observer_free(qi_observer *obs); /* NULL is ignored */

/* Adds n samples (x is read during the call only; NULL only when n == 0).
 * NaN and +-Inf are counted and otherwise ignored. */
qi_status qi_observer_update(qi_observer *obs, const float *x, size_t n,
                             qi_error *err);

/* Adds everything `src` has seen to `dst` (src is unchanged). The result is
 * identical to one observer fed both streams. Both need the same nbins. */
qi_status qi_observer_merge(qi_observer *dst, const qi_observer *src,
                            qi_error *err);

void qi_observer_get_stats(const qi_observer *obs, qi_observer_stats *stats);

/* Bytes owned by the observer, fixed from creation on. */
size_t qi_observer_bytes(const qi_observer *obs);

/*
 * Chooses the clipping range [lo, hi] (min <= lo <= hi <= max of the finite
 * samples) by `method`; `param` (0 selects the default):
 *   QI_RANGE_MINMAX      exact running min and max; param unused.
 *   QI_RANGE_PERCENTILE  param = p in [50, 100], default 99.99. Per tail:
 *                        lo is the (100-p)-th and hi the p-th percentile,
 *                        so each tail loses (100-p)% of the samples (ONNX
 *                        Runtime's asymmetric mode splits (100-p)% over the
 *                        two tails instead). Interpolated linearly inside
 *                        the bin, so within one bin width of the sample
 *                        quantile.
 *   QI_RANGE_ENTROPY     param = levels L in [2, 65536], default 255 (the
 *                        steps of the uint8 grid; other values model a
 *                        narrower or wider grid). KL-divergence
 *                        minimisation as in TensorRT's legacy calibrator
 *                        (after MXNet's reference code), over candidate
 *                        ranges [max(min, -T), min(max, T)] for T on bin
 *                        edges (minmax if none spans `levels` bins):
 *                        post-ReLU data (min >= 0) searches hi only over
 *                        [0, T]; signed data searches a symmetric
 *                        magnitude T, each side stopping at the data;
 *                        candidates clipping more than 1% of the nonzero
 *                        samples are skipped (sparse histograms). See
 *                        range_methods.c and README.md.
 *   QI_RANGE_MSE         param = levels as for entropy. The range whose
 *                        grid (as built by qi_uint8_qparams) minimises the
 *                        expected squared error over the histogram,
 *                        clipping included, each bin's samples taken as
 *                        uniform over the bin and the zeros as exact; lo and
 *                        hi are optimised in turn over bin edges until
 *                        neither moves (coordinate descent, so an
 *                        asymmetric tensor gets an asymmetric clip).
 * The caller applies qi_uint8_qparams, which also widens the range to hold
 * 0. Fails with QI_ERR_INVALID_ARG when no finite sample was seen (the
 * caller prefixes the tensor name with qi_error_prefix) or on a bad param;
 * QI_ERR_NOMEM if scratch (a few nbins-sized arrays, freed before return)
 * cannot be had. *lo and *hi are written only on success.
 */
qi_status qi_observer_range(const qi_observer *obs, qi_range_method method,
                            float param, float *lo, float *hi, qi_error *err);

/* The mean squared quantize-dequantize error per finite sample of the grid
 * qi_uint8_qparams gives [lo, hi] (with `levels` steps; 0 means 255), under
 * the histogram model of QI_RANGE_MSE (zeros exact, each bin's other
 * samples uniform over it, clipping included): the expected activation
 * noise of a choice, for reports and for comparing methods. */
qi_status qi_observer_expected_sq_error(const qi_observer *obs, float lo,
                                        float hi, float levels, double *mse,
                                        qi_error *err);

/* "minmax", "percentile", "entropy", "mse" <-> the enum. */
qi_status qi_range_method_parse(const char *name, qi_range_method *method,
                                qi_error *err);
const char *qi_range_method_name(qi_range_method method);

#endif
