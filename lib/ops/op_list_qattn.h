/* X-macro list: QI_OP(symbol) for the INT8 attention ops of op_qattn.c and
 * the INT8 row ops of op_qnorm.c (lib/quant/README.md). */
QI_OP(qi_op_qmatmul_act)
QI_OP(qi_op_qsoftmax)
QI_OP(qi_op_qlayernorm)
