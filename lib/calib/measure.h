/* Error measures between a reference tensor and a test tensor (an FP32
 * output and its quantized twin), for the per-layer sensitivity report.
 * Accumulated in double; the arrays are borrowed for the call. */
#ifndef QI_CALIB_MEASURE_H
#define QI_CALIB_MEASURE_H

#include <stddef.h>

/* Signal-to-quantization-noise ratio in dB:
 *   10 * log10(sum ref^2 / sum (ref - test)^2).
 * +INFINITY when test == ref (n == 0 included); -INFINITY when ref is all
 * zero and test is not; NaN if any input is NaN or infinite. */
double qi_sqnr_db(const float *ref, const float *test, size_t n);

/* sum ref*test / (|ref| * |test|), in [-1, 1]. Two zero vectors (or n == 0)
 * give 1 (identical); one zero vector gives 0; NaN if any input is NaN or
 * infinite. */
double qi_cosine_similarity(const float *ref, const float *test, size_t n);

#endif
