/* Lowering of an annotated FP32 graph to the INT8 graph of README.md. */
#ifndef QI_QUANT_LOWER_H
#define QI_QUANT_LOWER_H

#include "graph/graph.h"
#include "qinfer.h"

/* Rewrites every node of `g` whose precision is QI_PREC_INT8 and that has
 * an INT8 form into Qi* ops over uint8 twins, inserting QiQuantize and
 * QiDequantize at precision boundaries; other nodes are set to
 * QI_PREC_FP32. `g` must be bound and shape-inferred; afterwards the caller
 * binds, infers and prepares again. Graph inputs and outputs keep their
 * names, types and layouts. */
qi_status qi_quant_lower(qi_graph *g, qi_error *err);

/* The FP16 part (lower_fp16.c), run first by qi_quant_lower: nodes with
 * precision FP16 that have an FP16 form become QiH* ops over ":f16" twins
 * (NCHW, like FP32) with QiToHalf/QiFromHalf at boundaries. */
qi_status qi_fp16_lower(qi_graph *g, qi_error *err);
/* Restores QI_PREC_FP16 on the QiH* nodes after INT8 matching. */
void qi_fp16_mark_precisions(qi_graph *g);

#endif
