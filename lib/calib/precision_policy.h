/*
 * The default precision policy of calibrated models: which nodes stay in
 * higher precision when the user asked for INT8 without naming them. The
 * rules and the measurements behind them are in docs/quantization.md.
 */
#ifndef QI_CALIB_PRECISION_POLICY_H
#define QI_CALIB_PRECISION_POLICY_H

#include "core/error.h"
#include "graph/graph.h"

/* Sets QI_PREC_FP32 on every node of `g` whose result reaches a graph
 * output through data movement only (Reshape, Flatten, Transpose, Squeeze,
 * Unsqueeze, Identity, Concat, Slice, Split, Softmax), walking back from
 * each output until the first node that computes new values, which is
 * marked too. Other nodes are left as they are. QI_ERR_NOMEM is the only
 * failure. */
qi_status qi_precision_policy_outputs(qi_graph *g, qi_error *err);

#endif
