/* X-macro list: QI_OP(symbol) for the FP16 ops of op_fp16.c (fp16
 * storage, float32 arithmetic; lib/quant/lower_fp16.c makes them). */
QI_OP(qi_op_to_half)
QI_OP(qi_op_from_half)
QI_OP(qi_op_hconv)
QI_OP(qi_op_hmatmul)
