/* X-macro list: QI_OP(symbol) for each qi_op_def defined in lib/ops. */
QI_OP(qi_op_conv)
QI_OP(qi_op_conv_transpose)
QI_OP(qi_op_gemm)
QI_OP(qi_op_matmul)
