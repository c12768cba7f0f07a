/* X-macro list: QI_OP(symbol) for each qi_op_def defined in lib/ops. */
/* op_norm.c */
QI_OP(qi_op_batch_norm)
QI_OP(qi_op_layer_norm)
QI_OP(qi_op_instance_norm)
QI_OP(qi_op_group_norm)
/* op_pool.c */
QI_OP(qi_op_max_pool)
QI_OP(qi_op_average_pool)
QI_OP(qi_op_global_average_pool)
QI_OP(qi_op_global_max_pool)
/* op_reduce.c */
QI_OP(qi_op_reduce_sum)
QI_OP(qi_op_reduce_mean)
QI_OP(qi_op_reduce_max)
QI_OP(qi_op_reduce_min)
QI_OP(qi_op_reduce_prod)
QI_OP(qi_op_reduce_l1)
QI_OP(qi_op_reduce_l2)
QI_OP(qi_op_reduce_sum_square)
QI_OP(qi_op_reduce_log_sum)
QI_OP(qi_op_reduce_log_sum_exp)
/* op_softmax.c */
QI_OP(qi_op_softmax)
QI_OP(qi_op_log_softmax)
