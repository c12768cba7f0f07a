/* X-macro list: QI_OP(symbol) for each qi_op_def defined in lib/ops. */
/* op_shape.c */
QI_OP(qi_op_shape)
QI_OP(qi_op_reshape)
QI_OP(qi_op_flatten)
QI_OP(qi_op_squeeze)
QI_OP(qi_op_unsqueeze)
QI_OP(qi_op_identity)
QI_OP(qi_op_dropout)
QI_OP(qi_op_expand)
QI_OP(qi_op_constant_of_shape)
QI_OP(qi_op_range)
/* op_cast.c */
QI_OP(qi_op_cast)
QI_OP(qi_op_cast_like)
/* op_layout.c */
QI_OP(qi_op_transpose)
QI_OP(qi_op_concat)
QI_OP(qi_op_split)
QI_OP(qi_op_gather)
QI_OP(qi_op_tile)
QI_OP(qi_op_depth_to_space)
QI_OP(qi_op_space_to_depth)
/* op_slice_pad.c */
QI_OP(qi_op_slice)
QI_OP(qi_op_pad)
/* op_resize.c */
QI_OP(qi_op_resize)
QI_OP(qi_op_upsample)
