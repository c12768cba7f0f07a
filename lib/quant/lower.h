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

#endif
