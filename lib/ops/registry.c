/* The table of every op the runtime accepts, built from the op_list_*.h
 * X-macro files (one per op family file owner). */
#include <string.h>

#include "ops/op.h"

#define QI_OP(sym) extern const qi_op_def sym;
#include "ops/op_list_conv.h"
#include "ops/op_list_norm.h"
#include "ops/op_list_tensor.h"
#include "ops/op_list_eltwise.h"
#include "ops/op_list_fused.h"
#include "ops/op_list_qconv.h"
#include "ops/op_list_qelt.h"
#include "ops/op_list_qdq.h"
#include "ops/op_list_fp16.h"
#include "ops/op_list_qattn.h"
#undef QI_OP

static const qi_op_def *const op_table[] = {
#define QI_OP(sym) &sym,
#include "ops/op_list_conv.h"
#include "ops/op_list_norm.h"
#include "ops/op_list_tensor.h"
#include "ops/op_list_eltwise.h"
#include "ops/op_list_fused.h"
#include "ops/op_list_qconv.h"
#include "ops/op_list_qelt.h"
#include "ops/op_list_qdq.h"
#include "ops/op_list_fp16.h"
#include "ops/op_list_qattn.h"
#undef QI_OP
    NULL};

const qi_op_def *qi_op_lookup(const char *domain, const char *op_type) {
  if (domain && domain[0] && strcmp(domain, "ai.onnx") != 0 &&
      strcmp(domain, "qinfer") != 0)
    return NULL;
  for (int i = 0; op_table[i]; i++)
    if (strcmp(op_table[i]->op_type, op_type) == 0) return op_table[i];
  return NULL;
}
