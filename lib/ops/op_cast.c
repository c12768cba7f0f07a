/* Cast and CastLike between float32/float16/float64, int64/int32/int8,
 * uint8 and bool; the conversion rules are in op_tensor_util.h. */
#include "ops/op.h"
#include "ops/op_tensor_util.h"

static qi_status cast_check_types(const qi_node *n, qi_dtype from, qi_dtype to,
                                  qi_error *err) {
  if (qi_opt_movable(from) && qi_opt_movable(to)) return QI_OK;
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): cast from type %d to type %d is not "
                 "supported",
                 n->name, n->op_type, (int)from, (int)to);
}

static qi_status cast_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  const qi_attr *to = qi_attr_find(n, "to");
  if (!to || to->type != QI_ATTR_INT)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (Cast): attribute 'to' "
                   "is missing",
                   n->name);
  qi_dtype dt = (qi_dtype)to->i;
  QI_TRY(cast_check_types(n, qi_in_dtype(g, n, 0), dt, err));
  qi_set_output(g, n, 0, dt, qi_in_shape(g, n, 0));
  return QI_OK;
}

static qi_status castlike_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  qi_dtype dt = qi_in_dtype(g, n, 1);
  QI_TRY(cast_check_types(n, qi_in_dtype(g, n, 0), dt, err));
  qi_set_output(g, n, 0, dt, qi_in_shape(g, n, 0));
  return QI_OK;
}

static qi_status cast_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  (void)ctx;
  (void)n;
  qi_opt_convert(out[0].dtype, out[0].data, in[0].dtype, in[0].data,
                 qi_shape_numel(&out[0].shape));
  return QI_OK;
}

const qi_op_def qi_op_cast = {
    .op_type = "Cast", .infer = cast_infer, .run = cast_run, .foldable = 1};

const qi_op_def qi_op_cast_like = {.op_type = "CastLike",
                                   .infer = castlike_infer,
                                   .run = cast_run,
                                   .foldable = 1};
