/* X-macro list: QI_OP(symbol) for the INT8 qconv ops (lib/quant/README.md). */
QI_OP(qi_op_qquantize)
QI_OP(qi_op_qdequantize)
QI_OP(qi_op_qconv)
QI_OP(qi_op_qmatmul)
