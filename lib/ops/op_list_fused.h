/* X-macro list: QI_OP(symbol) for each qi_op_def defined in lib/ops. */
