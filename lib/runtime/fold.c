/* Op binding, shape inference and constant folding. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/pool.h"
#include "ops/op.h"
#include "runtime/model.h"

/* Folding evaluates ops at load; cap what it may materialise so a hostile
 * model cannot make the loader allocate without bound. */
#define QI_FOLD_MAX_BYTES ((size_t)64 << 20)

/* Attribute names whose type is the same in every ONNX op that has them.
 * The getters treat a wrong type as absent, which would run the op with
 * defaults (a Conv with strides given as floats would silently use 1), so
 * a mismatch is refused here, for every op at once. */
static const struct {
  const char *name;
  qi_attr_type type;
} k_attr_types[] = {
    {"strides", QI_ATTR_INTS},      {"pads", QI_ATTR_INTS},
    {"dilations", QI_ATTR_INTS},    {"kernel_shape", QI_ATTR_INTS},
    {"output_padding", QI_ATTR_INTS}, {"output_shape", QI_ATTR_INTS},
    {"perm", QI_ATTR_INTS},         {"group", QI_ATTR_INT},
    {"axis", QI_ATTR_INT},          {"keepdims", QI_ATTR_INT},
    {"transA", QI_ATTR_INT},        {"transB", QI_ATTR_INT},
    {"ceil_mode", QI_ATTR_INT},     {"count_include_pad", QI_ATTR_INT},
    {"to", QI_ATTR_INT},            {"epsilon", QI_ATTR_FLOAT},
    {"alpha", QI_ATTR_FLOAT},       {"beta", QI_ATTR_FLOAT},
    {"auto_pad", QI_ATTR_STRING},   {"mode", QI_ATTR_STRING},
    {"coordinate_transformation_mode", QI_ATTR_STRING},
    {"nearest_mode", QI_ATTR_STRING}, {"approximate", QI_ATTR_STRING},
};

static const char *attr_type_name(qi_attr_type t) {
  static const char *const names[] = {"?",     "FLOAT", "INT",    "STRING",
                                      "TENSOR", "GRAPH", "FLOATS", "INTS",
                                      "STRINGS"};
  return t >= 1 && t <= 8 ? names[t] : names[0];
}

static qi_status check_attr_types(const qi_node *n, qi_error *err) {
  /* Internal Qi* ops define their own attributes (QiQResize's mode is an
   * int). */
  if (strncmp(n->op_type, "Qi", 2) == 0) return QI_OK;
  for (int a = 0; a < n->nattr; a++)
    for (size_t k = 0; k < sizeof k_attr_types / sizeof *k_attr_types; k++)
      if (strcmp(n->attrs[a].name, k_attr_types[k].name) == 0 &&
          n->attrs[a].type != k_attr_types[k].type)
        return qi_fail(err, QI_ERR_PARSE,
                       "node '%s' (%s): attribute '%s' is %s, expected %s",
                       n->name, n->op_type, n->attrs[a].name,
                       attr_type_name(n->attrs[a].type),
                       attr_type_name(k_attr_types[k].type));
  return QI_OK;
}

qi_status qi_graph_bind_ops(qi_graph *g, qi_error *err) {
  /* Collect every unsupported op type with the nodes using it, so a user
   * learns the whole gap in one message. */
  char msg[sizeof(((qi_error *)0)->message)];
  size_t used = 0;
  int nbad = 0;
  msg[0] = '\0';
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    n->op = qi_op_lookup(n->domain, n->op_type);
    if (n->op) continue;
    int seen = 0;
    for (int j = 0; j < i; j++)
      if (!g->nodes[j].op && strcmp(g->nodes[j].op_type, n->op_type) == 0 &&
          strcmp(g->nodes[j].domain, n->domain) == 0)
        seen = 1;
    if (seen) continue;
    nbad++;
    int uses = 0;
    char nodes[200];
    size_t no = 0;
    nodes[0] = '\0';
    for (int j = i; j < g->nnodes; j++) {
      if (strcmp(g->nodes[j].op_type, n->op_type) != 0 ||
          strcmp(g->nodes[j].domain, n->domain) != 0)
        continue;
      if (uses < 3 && no < sizeof nodes)
        no += (size_t)snprintf(nodes + no, sizeof nodes - no, "%s'%s'",
                               uses ? ", " : "", g->nodes[j].name);
      uses++;
    }
    if (used < sizeof msg)
      used += (size_t)snprintf(
          msg + used, sizeof msg - used, "%s%s%s%s (%d node%s: %s%s)",
          nbad > 1 ? "; " : "", n->domain[0] ? n->domain : "",
          n->domain[0] ? "." : "", n->op_type, uses, uses > 1 ? "s" : "",
          nodes, uses > 3 ? ", ..." : "");
  }
  if (nbad)
    return qi_fail(err, QI_ERR_UNSUPPORTED, "unsupported op%s: %s",
                   nbad > 1 ? "s" : "", msg);
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    QI_TRY(check_attr_types(n, err));
    if (n->op->check) QI_TRY(n->op->check(g, n, err));
  }
  return QI_OK;
}

static int all_inputs_const(const qi_graph *g, const qi_node *n) {
  for (int k = 0; k < n->nin; k++)
    if (n->in[k] >= 0 && g->tensors[n->in[k]].kind != QI_TK_CONST) return 0;
  return 1;
}

/* Evaluates node n on constant inputs and turns its outputs into constants. */
static qi_status fold_node(qi_graph *g, qi_node *n, qi_error *err) {
  qi_buf in[16], out[16];
  if (n->nin > 16 || n->nout > 16) return QI_OK;
  for (int k = 0; k < n->nout; k++) {
    if (n->out[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->out[k]];
    int64_t cnt = qi_shape_numel(&t->shape);
    size_t es = qi_dtype_size(t->dtype);
    if (cnt < 0 || !es || (size_t)cnt > QI_FOLD_MAX_BYTES / es) return QI_OK;
  }
  for (int k = 0; k < n->nin; k++) {
    memset(&in[k], 0, sizeof in[k]);
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->data;
  }
  qi_status st = QI_OK;
  int k;
  for (k = 0; k < n->nout; k++) {
    memset(&out[k], 0, sizeof out[k]);
    if (n->out[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->out[k]];
    size_t bytes = (size_t)qi_shape_numel(&t->shape) * qi_dtype_size(t->dtype);
    out[k].dtype = t->dtype;
    out[k].shape = t->shape;
    out[k].data = malloc(bytes ? bytes : 1);
    if (!out[k].data) {
      st = qi_fail(err, QI_ERR_NOMEM, "out of memory folding node '%s'",
                   n->name);
      break;
    }
  }
  if (st == QI_OK) {
    qi_run_ctx ctx = {.pool = NULL, .nthreads = 1, .err = err};
    size_t sb = n->op->scratch_bytes ? n->op->scratch_bytes(g, n, 1) : 0;
    void *scratch = NULL;
    if (sb) {
      scratch = aligned_alloc(64, (sb + 63) & ~(size_t)63);
      if (!scratch) st = qi_fail(err, QI_ERR_NOMEM, "out of memory folding");
      ctx.scratch = scratch;
      ctx.scratch_bytes = sb;
    }
    if (st == QI_OK && n->op->prepare) st = n->op->prepare(g, n, err);
    if (st == QI_OK) st = n->op->run(&ctx, n, in, out);
    free(scratch);
  }
  if (st != QI_OK) {
    for (int j = 0; j < n->nout; j++) free(out[j].data);
    return st;
  }
  for (int j = 0; j < n->nout; j++) {
    if (n->out[j] < 0) continue;
    qi_tensor *t = &g->tensors[n->out[j]];
    qi_tensor_set_const(t, out[j].data,
                        (size_t)qi_shape_numel(&t->shape) *
                            qi_dtype_size(t->dtype));
    t->producer = -1;
  }
  n->dead = 1;
  return QI_OK;
}

qi_status qi_graph_infer_and_fold(qi_graph *g, int fold, qi_error *err) {
  for (int i = 0; i < g->nnodes; i++) {
    qi_node *n = &g->nodes[i];
    if (n->dead) continue;
    for (int k = 0; k < n->nin; k++) {
      if (n->in[k] < 0) continue;
      const qi_tensor *t = &g->tensors[n->in[k]];
      if (t->shape.rank < 0 || qi_shape_numel(&t->shape) < 0)
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): input '%s' has no static shape",
                       n->name, n->op_type, t->name);
    }
    qi_status st = n->op->infer(g, n, err);
    if (st != QI_OK) {
      if (err && !strstr(err->message, n->name))
        qi_error_prefix(err, "node '%s' (%s)", n->name, n->op_type);
      return st;
    }
    for (int k = 0; k < n->nout; k++) {
      if (n->out[k] < 0) continue;
      const qi_tensor *t = &g->tensors[n->out[k]];
      char buf[160];
      if (t->shape.rank >= 0 && qi_dtype_size(t->dtype) &&
          !qi_shape_fits(&t->shape, t->dtype))
        return qi_fail(err, QI_ERR_SHAPE,
                       "node '%s' (%s): output '%s' of shape %s is larger "
                       "than the %llu-byte tensor limit",
                       n->name, n->op_type, t->name,
                       qi_shape_str(&t->shape, buf, sizeof buf),
                       (unsigned long long)QI_MAX_TENSOR_BYTES);
      if (t->shape.rank < 0 || qi_shape_numel(&t->shape) < 0 ||
          !qi_dtype_size(t->dtype))
        return qi_fail(err, QI_ERR_INTERNAL,
                       "node '%s' (%s): output '%s' has no inferred shape "
                       "or type",
                       n->name, n->op_type, t->name);
    }
    /* Shape depends only on the (static) input shape, so it folds even when
     * its input is an activation. */
    int shape_only = strcmp(n->op_type, "Shape") == 0;
    if (fold && n->op->foldable && (shape_only || all_inputs_const(g, n))) {
      st = fold_node(g, n, err);
      if (st != QI_OK) {
        if (err && !strstr(err->message, n->name))
          qi_error_prefix(err, "folding node '%s' (%s)", n->name, n->op_type);
        return st;
      }
    }
  }
  return qi_graph_compact(g, err);
}

typedef struct prep_job {
  qi_graph *g;
  const int *nodes;   /* indices of the nodes with a prepare */
  qi_status *st;      /* per task */
  qi_error *errs;     /* per task */
} prep_job;

static void prep_task(void *arg, size_t t, int thread) {
  (void)thread;
  const prep_job *j = arg;
  qi_node *n = &j->g->nodes[j->nodes[t]];
  j->st[t] = n->op->prepare(j->g, n, &j->errs[t]);
}

/* prepare only writes its own node (the graph is const to it), so nodes
 * prepare in parallel; packing large weights is most of a .qnf's load. */
qi_status qi_graph_prepare(qi_graph *g, int nthreads, qi_error *err) {
  int count = 0;
  for (int i = 0; i < g->nnodes; i++)
    if (g->nodes[i].op->prepare) count++;
  if (count == 0) return QI_OK;
  if (nthreads <= 0) {
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    nthreads = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (int)ncpu;
  }
  if (nthreads > count) nthreads = count;
  int *nodes = malloc(sizeof(int) * (size_t)count);
  qi_status *st = calloc((size_t)count, sizeof *st);
  qi_error *errs = calloc((size_t)count, sizeof *errs);
  qi_pool *pool = nodes && st && errs && nthreads > 1
                      ? qi_pool_create(nthreads)
                      : NULL;
  qi_status res = QI_OK;
  if (!nodes || !st || !errs) {
    res = qi_fail(err, QI_ERR_NOMEM, "out of memory preparing the graph");
  } else {
    count = 0;
    for (int i = 0; i < g->nnodes; i++)
      if (g->nodes[i].op->prepare) nodes[count++] = i;
    prep_job j = {g, nodes, st, errs};
    qi_pool_run(pool, prep_task, &j, (size_t)count); /* NULL pool: here */
    for (int t = 0; t < count && res == QI_OK; t++) {
      if (st[t] == QI_OK) continue;
      const qi_node *n = &g->nodes[nodes[t]];
      if (err) *err = errs[t];
      if (err && !strstr(err->message, n->name))
        qi_error_prefix(err, "node '%s' (%s)", n->name, n->op_type);
      res = st[t];
    }
  }
  qi_pool_free(pool);
  free(nodes);
  free(st);
  free(errs);
  return res;
}
