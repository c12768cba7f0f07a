/* X-macro list: QI_OP(symbol) for the INT8 qelt ops (lib/quant/README.md). */
QI_OP(qi_op_qadd)
QI_OP(qi_op_qmul)
QI_OP(qi_op_qconcat)
QI_OP(qi_op_qmax_pool)
QI_OP(qi_op_qaverage_pool)
QI_OP(qi_op_qglobal_average_pool)
QI_OP(qi_op_qresize)
QI_OP(qi_op_qlut)
