/* X-macro list: QI_OP(symbol) for the ONNX quantization ops of op_qdq.c
 * (FP32-graph QuantizeLinear / DequantizeLinear). */
QI_OP(qi_op_quantize_linear)
QI_OP(qi_op_dequantize_linear)
