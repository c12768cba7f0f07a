/* Validation shared by the .qnf writer (refuse to save what could not be
 * loaded) and reader (never hand a hostile file's graph to the runtime). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "qnf/qnf_internal.h"

void qnf_type_name(uint32_t type, char out[12]) {
  int printable = 1;
  for (int i = 0; i < 4; i++) {
    unsigned c = (type >> (8 * i)) & 0xffu;
    printable &= c >= 0x21 && c <= 0x7e;
  }
  if (printable) {
    for (int i = 0; i < 4; i++) out[i] = (char)((type >> (8 * i)) & 0xffu);
    out[4] = '\0';
  } else {
    snprintf(out, 12, "0x%08x", (unsigned)type);
  }
}

int qnf_dtype_valid(int64_t v) {
  switch (v) {
    case QI_UNDEFINED:
    case QI_FLOAT32:
    case QI_UINT8:
    case QI_INT8:
    case QI_INT32:
    case QI_INT64:
    case QI_BOOL:
    case QI_FLOAT16:
    case QI_FLOAT64:
      return 1;
    default:
      return 0;
  }
}

int qnf_precision_valid(int64_t v) {
  return v == QI_PREC_FP32 || v == QI_PREC_FP16 || v == QI_PREC_INT8;
}

int qnf_attr_type_valid(int64_t v) {
  return v >= QI_ATTR_FLOAT && v <= QI_ATTR_STRINGS;
}

static int problem(char *why, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int problem(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
  return 1;
}

int qnf_tensor_problem(const qi_tensor *t, int attr_tensor, char *why,
                       size_t len) {
  if (!t->name && !attr_tensor) return problem(why, len, "has no name");
  if (!qnf_dtype_valid(t->dtype))
    return problem(why, len, "has unknown data type %d", (int)t->dtype);
  if (t->kind != QI_TK_ACT && t->kind != QI_TK_CONST)
    return problem(why, len, "has unknown kind %d", (int)t->kind);
  const qi_shape *s = &t->shape;
  if (s->rank < -1 || s->rank > QI_MAX_RANK)
    return problem(why, len, "has rank %d (allowed: -1 for unknown, 0..%d)",
                   s->rank, QI_MAX_RANK);
  /* mag: the product of the known dims with 0 counted as 1, so that no
   * partial product of dims can overflow downstream either. */
  int64_t numel = 1, mag = 1;
  for (int i = 0; i < s->rank; i++) {
    if (s->d[i] < -1)
      return problem(why, len,
                     "has dim %d = %lld (allowed: -1 for unknown, "
                     ">= 0)",
                     i, (long long)s->d[i]);
    if (s->d[i] < 0) continue;
    if (s->d[i] > 0 && mag > QNF_MAX_NUMEL / s->d[i])
      return problem(why, len, "has dims multiplying to more than 2^59");
    if (s->d[i] > 0) mag *= s->d[i];
    numel *= s->d[i];
  }
  if (t->kind == QI_TK_CONST) {
    size_t es = qi_dtype_size(t->dtype);
    if (!es)
      return problem(why, len, "is a constant of type %s",
                     qi_dtype_name(t->dtype));
    if (s->rank < 0) return problem(why, len, "is a constant without a shape");
    for (int i = 0; i < s->rank; i++)
      if (s->d[i] < 0)
        return problem(why, len, "is a constant with unknown dim %d", i);
    if (!t->data) return problem(why, len, "is a constant without data");
    if ((uint64_t)t->nbytes != (uint64_t)numel * es)
      return problem(why, len,
                     "holds %llu bytes of data, but %lld elements of %s "
                     "need %llu",
                     (unsigned long long)t->nbytes, (long long)numel,
                     qi_dtype_name(t->dtype),
                     (unsigned long long)((uint64_t)numel * es));
  } else if (t->data) {
    return problem(why, len, "is an activation with constant data");
  }
  const qi_quant *q = &t->quant;
  if (q->has != 0 && q->has != 1)
    return problem(why, len, "has quantization flag %d (0 or 1)", q->has);
  if (q->axis < -1 || q->axis >= QI_MAX_RANK)
    return problem(why, len, "has quantization axis %d", q->axis);
  if (q->nscales < 0 || (q->nscales > 0 && !q->scales))
    return problem(why, len, "has %d per-channel scales but no array",
                   q->nscales);
  if (q->has && q->axis >= 0) {
    if (q->axis >= s->rank)
      return problem(why, len, "has quantization axis %d but rank %d", q->axis,
                     s->rank);
    if (s->d[q->axis] >= 0 && q->nscales != s->d[q->axis])
      return problem(why, len,
                     "has %d per-channel scales along axis %d of size %lld",
                     q->nscales, q->axis, (long long)s->d[q->axis]);
  }
  return 0;
}

int qnf_node_problem(const qi_node *n, int ntensors, char *why, size_t len) {
  if (!n->name || !n->op_type || !n->domain)
    return problem(why, len, "lacks a name, op type or domain");
  if (!qnf_precision_valid(n->precision))
    return problem(why, len, "has unknown precision %d", (int)n->precision);
  if (n->nin < 0 || n->nout < 0 || n->nattr < 0 || (n->nin && !n->in) ||
      (n->nout && !n->out) || (n->nattr && !n->attrs))
    return problem(why, len, "has a corrupt input, output or attribute list");
  for (int k = 0; k < n->nin; k++)
    if (n->in[k] < -1 || n->in[k] >= ntensors)
      return problem(why, len, "input %d is tensor %d of %d", k, n->in[k],
                     ntensors);
  for (int k = 0; k < n->nout; k++)
    if (n->out[k] < -1 || n->out[k] >= ntensors)
      return problem(why, len, "output %d is tensor %d of %d", k, n->out[k],
                     ntensors);
  for (int k = 0; k < n->nattr; k++) {
    const qi_attr *a = &n->attrs[k];
    const char *an = a->name ? a->name : "(null)";
    if (!a->name) return problem(why, len, "attribute %d has no name", k);
    if (!qnf_attr_type_valid(a->type))
      return problem(why, len, "attribute '%s' has unknown type %d", an,
                     (int)a->type);
    if (a->n < 0)
      return problem(why, len, "attribute '%s' has %d values", an, a->n);
    int missing = (a->type == QI_ATTR_STRING && !a->s) ||
                  (a->type == QI_ATTR_TENSOR && !a->t) ||
                  (a->n > 0 && a->type == QI_ATTR_INTS && !a->ints) ||
                  (a->n > 0 && a->type == QI_ATTR_FLOATS && !a->floats) ||
                  (a->n > 0 && a->type == QI_ATTR_STRINGS && !a->strings);
    if (missing)
      return problem(why, len, "attribute '%s' lacks the value of its type",
                     an);
    if (a->strings)
      for (int i = 0; i < a->n; i++)
        if (!a->strings[i])
          return problem(why, len, "attribute '%s' string %d is NULL", an, i);
    if (a->t) {
      char sub[300];
      if (qnf_tensor_problem(a->t, 1, sub, sizeof sub))
        return problem(why, len, "attribute '%s': tensor %s", an, sub);
    }
  }
  return 0;
}

static int cmp_names(const void *a, const void *b) {
  const char *const *x = a, *const *y = b;
  return strcmp(*x, *y);
}

/* Tensor names are unique: sort pointers to them and compare neighbours. */
static qi_status check_unique_names(const qi_graph *g, const char *prefix,
                                    qi_error *err) {
  if (g->ntensors < 2) return QI_OK;
  const char **names = malloc(sizeof(char *) * (size_t)g->ntensors);
  if (!names) return qi_fail(err, QI_ERR_NOMEM, "%s: out of memory", prefix);
  for (int i = 0; i < g->ntensors; i++) names[i] = g->tensors[i].name;
  qsort(names, (size_t)g->ntensors, sizeof(char *), cmp_names);
  qi_status st = QI_OK;
  for (int i = 1; i < g->ntensors && st == QI_OK; i++)
    if (strcmp(names[i - 1], names[i]) == 0)
      st = qi_fail(err, QI_ERR_PARSE, "%s: two tensors are named '%.200s'",
                   prefix, names[i]);
  free(names);
  return st;
}

qi_status qnf_check_graph(const qi_graph *g, const char *prefix,
                          qi_error *err) {
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i] < 0 || g->inputs[i] >= g->ntensors)
      return qi_fail(err, QI_ERR_PARSE, "%s: graph input %d is tensor %d of %d",
                     prefix, i, g->inputs[i], g->ntensors);
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] < 0 || g->outputs[i] >= g->ntensors)
      return qi_fail(err, QI_ERR_PARSE,
                     "%s: graph output %d is tensor %d of %d", prefix, i,
                     g->outputs[i], g->ntensors);
  QI_TRY(check_unique_names(g, prefix, err));
  /* avail: 1 once a tensor can be read (constant, graph input, produced);
   * 2 marks a graph input or produced tensor, which no node may produce. */
  uint8_t *avail = calloc((size_t)g->ntensors + 1, 1);
  if (!avail) return qi_fail(err, QI_ERR_NOMEM, "%s: out of memory", prefix);
  qi_status st = QI_OK;
  for (int i = 0; i < g->ntensors; i++)
    if (g->tensors[i].kind == QI_TK_CONST) avail[i] = 1;
  for (int i = 0; i < g->ninputs; i++) avail[g->inputs[i]] = 2;
  for (int i = 0; i < g->nnodes && st == QI_OK; i++) {
    const qi_node *n = &g->nodes[i];
    for (int k = 0; k < n->nin && st == QI_OK; k++)
      if (n->in[k] >= 0 && !avail[n->in[k]])
        st = qi_fail(err, QI_ERR_PARSE,
                     "%s: node %d '%.200s' reads tensor '%.200s', which no "
                     "constant, graph input or earlier node provides",
                     prefix, i, n->name, g->tensors[n->in[k]].name);
    for (int k = 0; k < n->nout && st == QI_OK; k++) {
      int t = n->out[k];
      if (t < 0) continue;
      if (avail[t])
        st = qi_fail(err, QI_ERR_PARSE,
                     "%s: node %d '%.200s' writes tensor '%.200s', which is "
                     "a constant, a graph input or already produced",
                     prefix, i, n->name, g->tensors[t].name);
      avail[t] = 2;
    }
  }
  for (int i = 0; i < g->noutputs && st == QI_OK; i++)
    if (!avail[g->outputs[i]])
      st = qi_fail(err, QI_ERR_PARSE,
                   "%s: graph output '%.200s' is never produced", prefix,
                   g->tensors[g->outputs[i]].name);
  free(avail);
  return st;
}
