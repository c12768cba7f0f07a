/*
 * Bias correction for INT8 weighted nodes (qi_calib_options.bias_correction).
 *
 * Rounding the weights of output channel c to int8 shifts the expected
 * output by
 *   delta_c = sum_{ci,k} (Wq[c,ci,k] * s_w[c] - W[c,ci,k]) * E[x_ci]
 * (Wq, s_w: the codes and scale the INT8 lowering will use; W: the real
 * weights, Gemm alpha included; E[x_ci]: the mean of input channel ci over
 * the calibration data). Storing b_c - delta_c as the FP32 bias before
 * lowering removes that systematic error; the zero-mean part stays.
 *
 * Two halves: qi_bias_means streams the per-channel means of the inputs of
 * every Conv / Gemm / MatMul with constant weights while the calibrator runs
 * the FP32 model (a fixed-size double sum and count per channel, nothing
 * per sample); qi_bias_correct_graph rewrites the biases of the INT8 nodes
 * of a graph copy from them. All pointers are borrowed for the duration of
 * a call unless written otherwise.
 */
#ifndef QI_CALIB_BIAS_CORRECT_H
#define QI_CALIB_BIAS_CORRECT_H

#include <stddef.h>
#include <stdint.h>

#include "calib/qparams.h"
#include "graph/graph.h"
#include "qinfer.h"

typedef struct qi_bias_means qi_bias_means;

/* Per-channel sums for the activation inputs of the weighted nodes of `g`
 * (the FP32 model being calibrated): Conv inputs NCHW by axis 1, Gemm and
 * MatMul inputs by their last axis. Memory is fixed here: 16 bytes per
 * channel of each tracked tensor. *out is caller-owned (possibly with no
 * tensor tracked). */
qi_status qi_bias_means_create(const qi_graph *g, qi_bias_means **out,
                               qi_error *err);
void qi_bias_means_free(qi_bias_means *m);
size_t qi_bias_means_bytes(const qi_bias_means *m);

/* Adds one value of tensor `t` (its index in the graph given to create,
 * `rank` dims in `shape`, float32 row-major) to the sums; a tensor not
 * tracked is ignored. Non-finite elements are left out of their channel's
 * sum and count. */
qi_status qi_bias_means_update(qi_bias_means *m, int t, const float *data,
                               int rank, const int64_t *shape, qi_error *err);

/* What the expected error of one node's int8 weights depends on. */
typedef struct qi_bias_delta_req {
  const float *w;         /* FP32 weights as stored, w_count floats */
  size_t w_count;
  qi_weight_layout lay;   /* how the lowering reads output channels */
  float alpha;            /* Gemm alpha (1 otherwise): the lowering
                           * quantizes float(w * alpha) */
  const qi_quant *qdq;    /* quantization a QDQ import left on the weights
                           * (used as the lowering does), or NULL */
  int qdq_axis;           /* channel axis of those scales */
  int64_t groups;         /* >= 1, divides lay.channels: output channel c
                           * reads input channels of group
                           * c / (channels / groups) */
  int64_t spatial;        /* >= 1, divides lay.channel_size: consecutive
                           * elements of one input channel (kH*kW; 1 for
                           * Gemm / MatMul) */
  const double *in_means; /* groups * channel_size / spatial values */
} qi_bias_delta_req;

/* delta[c] for c < lay.channels, as in the file comment, in double.
 * Fails with QI_ERR_INVALID_ARG where the lowering could not quantize the
 * weights either (non-finite values, bad layout). */
qi_status qi_bias_delta(const qi_bias_delta_req *r, double *delta,
                        qi_error *err);

/* For every node of `g` (a copy of the calibrated FP32 graph with ranges
 * and precisions written in) whose precision is QI_PREC_INT8 and that the
 * INT8 lowering can take (Conv NCHW with constant weights and an optional
 * [M] bias, Gemm without transA and with a [N], [1,N] or scalar C, MatMul
 * with constant [K,N] weights and an optional fused bias; input quantized;
 * all input channels seen): a new bias tensor "<node>:bias_corrected"
 * [channels] = b - delta (Gemm: beta * C - delta, beta set to 1) replaces
 * the old one, or is added where the node had none. The old bias stays in
 * the graph for other readers. *corrected (may be NULL) counts the nodes. */
qi_status qi_bias_correct_graph(const qi_bias_means *m, qi_graph *g,
                                int *corrected, qi_error *err);

#endif
