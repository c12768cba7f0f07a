/* QDQ import: turns the QuantizeLinear / DequantizeLinear pairs of an
 * already quantized ONNX model (ONNX Runtime quantize_static QDQ format,
 * PyTorch QAT export, NVIDIA ModelOpt) into the annotations INT8 lowering
 * reads (README.md: tensor quant, node precision), so the model runs in
 * INT8 with its own scales. */
#ifndef QI_QUANT_QDQ_IMPORT_H
#define QI_QUANT_QDQ_IMPORT_H

#include "graph/graph.h"
#include "qinfer.h"

typedef struct qi_qdq_report {
  int found;          /* QuantizeLinear + DequantizeLinear nodes in the graph */
  int pairs_removed;  /* activation Q -> DQ(s) groups turned into quant */
  int clips;          /* of those, groups whose saturation became a Clip */
  int weights;        /* constant DQs (and Q -> DQ of constants) folded */
  int kept;           /* Q / DQ nodes left to run as FP32 ops */
  int int8_nodes;     /* nodes given precision QI_PREC_INT8 */
} qi_qdq_report;

/* Runs on the graph straight from qi_onnx_import (topologically sorted,
 * constants with data, activations without shapes):
 *
 * - DequantizeLinear of a constant (int8 / uint8 / int32) with constant
 *   scale and zero point becomes an FP32 constant (x - z) * s in the DQ's
 *   output tensor. Symmetric int8 weights (zero point 0; or uint8 with
 *   zero point 128) keep their scales in `quant`: has = 1, zero_point 0,
 *   axis = the DQ's axis (Conv weights: 0; MatMul weights [K, N]: 1) with
 *   the per-axis scales, or axis -1 and `scale` per tensor. Q -> DQ of a
 *   float constant (fake-quantized QAT weights) is folded the same way.
 * - An activation x -> QuantizeLinear(s, z) -> DequantizeLinear(s, z) ->
 *   readers (one Q may feed several DQs) with equal per-tensor parameters:
 *   x gets quant (s, z) on the uint8 grid (int8 zero point z becomes
 *   z + 128), the pair is dropped and the readers read x. The pair's
 *   saturation to [(qmin - z) s, (qmax - z) s] is kept as a Clip node
 *   (fused into a Conv/Gemm/MatMul/Add producer later) where it is more
 *   than rounding: when the grid starts at 0 (z = qmin: a Relu the
 *   quantizer dropped because the pair clamps) and x is made by a node
 *   (not a graph input) whose values may be negative (not Relu, Clip at
 *   >= 0, or pooling / data movement of such values); and when the DQ output is a graph output (the
 *   Clip keeps its name). Elsewhere the bounds are calibrated extremes and
 *   are dropped: INT8 nodes saturate anyway, and only an FP32 node read by
 *   FP32 nodes sees values beyond them.
 * - Pairs whose parameters differ, per-axis activation pairs and anything
 *   with non-constant parameters stay as FP32 QuantizeLinear /
 *   DequantizeLinear nodes; the output of a remaining per-tensor DQ (e.g.
 *   of a uint8 graph input) and the input of a remaining Q still get quant.
 * - Every node that read a DQ output gets QI_PREC_INT8, except a Conv,
 *   ConvTranspose, Gemm or MatMul whose constant weights (input 1) did not
 *   come from a DQ; every other node keeps its precision.
 *
 * Dead nodes are compacted; node order stays topological. `rep` (may be
 * NULL) receives the counts. Fails only on allocation failure. */
qi_status qi_qdq_import(qi_graph *g, qi_qdq_report *rep, qi_error *err);

#endif
