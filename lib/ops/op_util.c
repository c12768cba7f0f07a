/* Small helpers shared by op implementations: input checks, shape
 * broadcasting, constant reads and fused activations. */
#include <math.h>
#include <string.h>

#include "ops/op.h"

qi_status qi_check_inputs(const qi_node *n, int min_in, int max_in,
                          qi_error *err) {
  if (n->nin < min_in || n->nin > max_in)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (%s): has %d inputs, expected %d to %d", n->name,
                   n->op_type, n->nin, min_in, max_in);
  for (int k = 0; k < min_in; k++)
    if (n->in[k] < 0)
      return qi_fail(err, QI_ERR_PARSE,
                     "node '%s' (%s): required input %d is missing", n->name,
                     n->op_type, k);
  return QI_OK;
}

void qi_set_output(qi_graph *g, const qi_node *n, int k, qi_dtype dt,
                   const qi_shape *s) {
  if (k >= n->nout || n->out[k] < 0) return;
  qi_tensor *t = &g->tensors[n->out[k]];
  t->dtype = dt;
  t->shape = *s;
}

const qi_shape *qi_in_shape(const qi_graph *g, const qi_node *n, int k) {
  if (k >= n->nin || n->in[k] < 0) return NULL;
  return &g->tensors[n->in[k]].shape;
}

qi_dtype qi_in_dtype(const qi_graph *g, const qi_node *n, int k) {
  if (k >= n->nin || n->in[k] < 0) return QI_UNDEFINED;
  return g->tensors[n->in[k]].dtype;
}

int qi_in_const_i64(const qi_graph *g, const qi_node *n, int k, int64_t *vals,
                    int maxvals) {
  if (k >= n->nin || n->in[k] < 0) return -1;
  const qi_tensor *t = &g->tensors[n->in[k]];
  if (t->kind != QI_TK_CONST || (!t->data && t->nbytes)) return -1;
  int64_t cnt = qi_shape_numel(&t->shape);
  if (cnt < 0 || cnt > maxvals) return -1;
  for (int64_t i = 0; i < cnt; i++) {
    if (t->dtype == QI_INT64)
      vals[i] = ((const int64_t *)t->data)[i];
    else if (t->dtype == QI_INT32)
      vals[i] = ((const int32_t *)t->data)[i];
    else
      return -1;
  }
  return (int)cnt;
}

qi_status qi_broadcast_shapes(const qi_shape *a, const qi_shape *b,
                              qi_shape *out, qi_error *err) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  qi_shape s = {.rank = r};
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->d[ia] : 1, db = ib >= 0 ? b->d[ib] : 1;
    if (da != db && da != 1 && db != 1) {
      char sa[96], sb[96];
      return qi_fail(err, QI_ERR_SHAPE, "shapes %s and %s do not broadcast",
                     qi_shape_str(a, sa, sizeof sa),
                     qi_shape_str(b, sb, sizeof sb));
    }
    s.d[i] = da == 1 ? db : da;
  }
  *out = s;
  return QI_OK;
}

int qi_norm_axis(int64_t axis, int rank) {
  if (axis < 0) axis += rank;
  if (axis < 0 || axis >= (rank > 0 ? rank : 1)) return -1;
  return (int)axis;
}

qi_act_params qi_node_act(const qi_node *n) {
  qi_act_params p;
  p.act = (qi_act)qi_attr_int(n, "qi_act", QI_ACT_NONE);
  p.alpha = qi_attr_float(n, "qi_act_alpha", 0.0f);
  p.beta = qi_attr_float(n, "qi_act_beta", 0.0f);
  return p;
}

float qi_act_apply(const qi_act_params *p, float x) {
  switch (p->act) {
    case QI_ACT_NONE: return x;
    case QI_ACT_RELU: return x > 0.0f ? x : 0.0f;
    case QI_ACT_CLIP: return x < p->alpha ? p->alpha : (x > p->beta ? p->beta : x);
    case QI_ACT_LEAKY: return x >= 0.0f ? x : x * p->alpha;
    case QI_ACT_SIGMOID: return 1.0f / (1.0f + expf(-x));
    case QI_ACT_HARDSWISH: {
      float h = x / 6.0f + 0.5f;
      h = h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
      return x * h;
    }
    case QI_ACT_SILU: return x / (1.0f + expf(-x));
    case QI_ACT_GELU: return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
    case QI_ACT_HARDSIGMOID: {
      float h = p->alpha * x + p->beta;
      return h < 0.0f ? 0.0f : (h > 1.0f ? 1.0f : h);
    }
    case QI_ACT_TANH: return tanhf(x);
  }
  return x;
}
