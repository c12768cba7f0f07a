/* qi_model: loading (ONNX bytes -> optimised, prepared graph) and queries. */
#include "runtime/model.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/alloc.h"
#include "core/error.h"
#include "onnx/onnx.h"
#include "passes/passes.h"
#include "qnf/qnf.h"
#include "quant/lower.h"
#include "quant/qdq_import.h"

/* Largest model file accepted; beyond it loading fails with QI_ERR_NOMEM
 * rather than attempting the allocation. */
#define QI_MAX_MODEL_BYTES ((size_t)4 << 30)

qi_model_options qi_model_options_default(void) {
  qi_model_options o;
  memset(&o, 0, sizeof o);
  o.optimize = 1;
  return o;
}

const char *qi_version_string(void) { return "qinfer 0.1.0"; }

qi_status qi_graph_set_input_shapes(qi_graph *g, const qi_model_options *o,
                                    qi_error *err) {
  for (int j = 0; o && j < o->num_input_shapes; j++) {
    const qi_input_shape *s = &o->input_shapes[j];
    int found = 0;
    for (int i = 0; i < g->ninputs && !found; i++)
      found = s->name && strcmp(g->tensors[g->inputs[i]].name, s->name) == 0;
    if (!found)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "input shape given for '%s', which is not a model input",
                     s->name ? s->name : "(null)");
    if (s->rank < 0 || s->rank > QI_MAX_RANK)
      return qi_fail(err, QI_ERR_INVALID_ARG, "input '%s': rank %d out of range",
                     s->name, s->rank);
    for (int d = 0; d < s->rank; d++)
      if (s->dims[d] < 1 || s->dims[d] > ((int64_t)1 << 31))
        return qi_fail(err, QI_ERR_INVALID_ARG,
                       "input '%s': dim %d is %lld, expected 1..2^31", s->name,
                       d, (long long)s->dims[d]);
  }
  for (int i = 0; i < g->ninputs; i++) {
    qi_tensor *t = &g->tensors[g->inputs[i]];
    const qi_input_shape *given = NULL;
    for (int j = 0; o && j < o->num_input_shapes; j++)
      if (o->input_shapes[j].name &&
          strcmp(o->input_shapes[j].name, t->name) == 0)
        given = &o->input_shapes[j];
    if (given) {
      if (t->shape.rank >= 0 && t->shape.rank != given->rank)
        return qi_fail(err, QI_ERR_SHAPE,
                       "input '%s' has rank %d in the model, %d given",
                       t->name, t->shape.rank, given->rank);
      for (int d = 0; d < given->rank; d++) {
        if (t->shape.rank >= 0 && t->shape.d[d] >= 0 &&
            t->shape.d[d] != given->dims[d])
          return qi_fail(err, QI_ERR_SHAPE,
                         "input '%s' dim %d is fixed to %lld by the model, "
                         "%lld given",
                         t->name, d, (long long)t->shape.d[d],
                         (long long)given->dims[d]);
        t->shape.d[d] = given->dims[d];
      }
      t->shape.rank = given->rank;
      continue;
    }
    if (t->shape.rank < 0)
      return qi_fail(err, QI_ERR_SHAPE,
                     "input '%s' has no shape in the model; give one in "
                     "qi_model_options.input_shapes",
                     t->name);
    for (int d = 0; d < t->shape.rank; d++) {
      if (t->shape.d[d] >= 0) continue;
      if (d == 0) {
        t->shape.d[d] = 1;
        continue;
      }
      return qi_fail(err, QI_ERR_SHAPE,
                     "input '%s' dim %d is symbolic; give its size in "
                     "qi_model_options.input_shapes",
                     t->name, d);
    }
  }
  for (int i = 0; i < g->ninputs; i++) {
    const qi_tensor *t = &g->tensors[g->inputs[i]];
    char buf[160];
    if (qi_dtype_size(t->dtype) && !qi_shape_fits(&t->shape, t->dtype))
      return qi_fail(err, QI_ERR_SHAPE,
                     "input '%s' of shape %s is larger than the %llu-byte "
                     "tensor limit",
                     t->name, qi_shape_str(&t->shape, buf, sizeof buf),
                     (unsigned long long)QI_MAX_TENSOR_BYTES);
  }
  return QI_OK;
}

/* Turns the inputs named in o->frozen_inputs into constants. */
static qi_status freeze_inputs(qi_graph *g, const qi_model_options *o,
                               qi_error *err) {
  for (int j = 0; j < o->num_frozen_inputs; j++) {
    const qi_binding *b = &o->frozen_inputs[j];
    int idx = -1;
    for (int i = 0; i < g->ninputs && b->name; i++)
      if (strcmp(g->tensors[g->inputs[i]].name, b->name) == 0) idx = i;
    if (idx < 0)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "frozen input '%s' is not a model input",
                     b->name ? b->name : "(null)");
    qi_tensor *t = &g->tensors[g->inputs[idx]];
    if (b->dtype != t->dtype || b->rank < 0 || b->rank > QI_MAX_RANK ||
        (b->rank && !b->shape))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "frozen input '%s': type or rank does not match the model",
                     t->name);
    qi_shape s = {.rank = b->rank};
    for (int d = 0; d < b->rank; d++) {
      if (b->shape[d] < 0 || (t->shape.rank == b->rank && t->shape.d[d] >= 0 &&
                              t->shape.d[d] != b->shape[d]))
        return qi_fail(err, QI_ERR_SHAPE, "frozen input '%s': dim %d mismatch",
                       t->name, d);
      s.d[d] = b->shape[d];
    }
    int64_t n = qi_shape_numel(&s);
    size_t es = qi_dtype_size(t->dtype);
    if (n < 0 || !es || (size_t)n > SIZE_MAX / es || !b->data ||
        b->size_bytes < (size_t)n * es)
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "frozen input '%s': buffer too small", t->name);
    void *copy = malloc((size_t)n * es + 1);
    if (!copy) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
    memcpy(copy, b->data, (size_t)n * es);
    t->shape = s;
    qi_tensor_set_const(t, copy, (size_t)n * es);
    memmove(&g->inputs[idx], &g->inputs[idx + 1],
            sizeof(int) * (size_t)(g->ninputs - idx - 1));
    g->ninputs--;
  }
  return QI_OK;
}

static qi_status build_io_names(qi_model *m, qi_error *err) {
  const qi_graph *g = m->g;
  size_t total = 0;
  for (int i = 0; i < g->nnodes; i++)
    total += (size_t)(g->nodes[i].nin + g->nodes[i].nout);
  m->io_names = malloc(sizeof(char *) * (total ? total : 1));
  m->io_start = malloc(sizeof(int) * ((size_t)g->nnodes + 1));
  if (!m->io_names || !m->io_start)
    return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  size_t o = 0;
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    m->io_start[i] = (int)o;
    for (int k = 0; k < n->nin; k++)
      m->io_names[o++] = n->in[k] >= 0 ? g->tensors[n->in[k]].name : "";
    for (int k = 0; k < n->nout; k++)
      m->io_names[o++] = n->out[k] >= 0 ? g->tensors[n->out[k]].name : "";
  }
  return QI_OK;
}

static qi_status check_outputs(const qi_graph *g, qi_error *err) {
  if (g->noutputs == 0)
    return qi_fail(err, QI_ERR_PARSE, "the model has no outputs");
  for (int i = 0; i < g->ninputs; i++) {
    const qi_tensor *t = &g->tensors[g->inputs[i]];
    if (!qi_dtype_size(t->dtype))
      return qi_fail(err, QI_ERR_UNSUPPORTED, "input '%s' has type %s",
                     t->name, qi_dtype_name(t->dtype));
  }
  return QI_OK;
}

/* The load pipeline after parsing: shapes, ops, folding, fusion, lowering,
 * packing. */
static qi_status finish_load(qi_graph *g, const qi_model_options *opts,
                             qi_load_mode mode, qi_model **out,
                             qi_error *err) {
  qi_model_options defaults = qi_model_options_default();
  if (!opts) opts = &defaults;
  QI_TRY(check_outputs(g, err));
  QI_TRY(freeze_inputs(g, opts, err));
  QI_TRY(qi_graph_set_input_shapes(g, opts, err));
  QI_TRY(qi_graph_bind_ops(g, err));
  QI_TRY(qi_graph_infer_and_fold(g, 1, err));
  if (mode != QI_LOAD_AS_IS && opts->optimize) {
    QI_TRY(mode == QI_LOAD_FP32 ? qi_passes_run_fusions(g, err)
                                : qi_passes_run_fusions_for_int8(g, err));
    QI_TRY(qi_graph_bind_ops(g, err));
    QI_TRY(qi_graph_infer_and_fold(g, 1, err));
  }
  if (mode == QI_LOAD_LOWER_INT8) {
    QI_TRY(qi_quant_lower(g, err));
    QI_TRY(qi_graph_bind_ops(g, err));
    QI_TRY(qi_graph_infer_and_fold(g, 0, err));
  }
  QI_TRY(qi_graph_drop_unused_tensors(g, err));
  QI_TRY(qi_graph_prepare(g, opts->load_threads, err));
  qi_model *m = calloc(1, sizeof *m);
  if (!m) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  m->g = g;
  qi_status st = build_io_names(m, err);
  if (st != QI_OK) {
    m->g = NULL;
    qi_model_free(m);
    return st;
  }
  *out = m;
  return QI_OK;
}

qi_status qi_model_from_graph(qi_graph *g, const qi_model_options *opts,
                              qi_load_mode mode, qi_model **model,
                              qi_error *err) {
  *model = NULL;
  qi_status st = finish_load(g, opts, mode, model, err);
  if (st != QI_OK) qi_graph_free(g);
  return st;
}

/* borrow: a .qnf's constants may point into `data`, which the model then
 * takes over (it must outlive the graph). */
static qi_status load_bytes(const void *data, size_t size, const char *base,
                            const qi_model_options *opts, qi_load_mode mode,
                            int borrow, qi_model **model, qi_error *err) {
  qi_graph *g = NULL;
  int qnf = qi_qnf_is_qnf(data, size);
  qi_status st = !qnf   ? qi_onnx_import(data, size, base, &g, err)
                 : borrow ? qi_qnf_read_borrowing(data, size, &g, err)
                          : qi_qnf_read(data, size, &g, err);
  /* A .qnf holds an already optimised graph: fusing it again is skipped. */
  if (st != QI_OK) {
    qi_graph_free(g);
    return st;
  }
  /* A QDQ model (Q/DQ pairs with its own scales) runs in INT8. */
  if (!qnf && mode == QI_LOAD_FP32) {
    qi_qdq_report qdq;
    st = qi_qdq_import(g, &qdq, err);
    if (st != QI_OK) {
      qi_graph_free(g);
      return st;
    }
    if (qdq.int8_nodes > 0) mode = QI_LOAD_LOWER_INT8;
  }
  return qi_model_from_graph(g, opts, qnf ? QI_LOAD_AS_IS : mode, model,
                             err);
}

qi_status qi_model_load_memory(const void *data, size_t size,
                               const qi_model_options *opts, qi_model **model,
                               qi_error *err) {
  if (!model) return qi_fail(err, QI_ERR_INVALID_ARG, "model is NULL");
  *model = NULL;
  if (!data || !size)
    return qi_fail(err, QI_ERR_INVALID_ARG, "empty model buffer");
  return load_bytes(data, size, NULL, opts, QI_LOAD_FP32, 0, model, err);
}

qi_status qi_model_load_file(const char *path, const qi_model_options *opts,
                             qi_model **model, qi_error *err) {
  return qi_model_load_file_mode(path, opts, QI_LOAD_FP32, model, err);
}

qi_status qi_model_load_file_mode(const char *path,
                                  const qi_model_options *opts,
                                  qi_load_mode mode, qi_model **model,
                                  qi_error *err) {
  if (!model) return qi_fail(err, QI_ERR_INVALID_ARG, "model is NULL");
  *model = NULL;
  if (!path) return qi_fail(err, QI_ERR_INVALID_ARG, "path is NULL");
  FILE *f = fopen(path, "rb");
  if (!f)
    return qi_fail(err, QI_ERR_IO, "cannot open '%s': %s", path,
                   strerror(errno));
  struct stat sb;
  if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
    fclose(f);
    return qi_fail(err, QI_ERR_IO, "'%s' is not a regular file", path);
  }
  size_t size = (size_t)sb.st_size;
  if (size == 0 || size > QI_MAX_MODEL_BYTES) {
    fclose(f);
    return qi_fail(err, size ? QI_ERR_NOMEM : QI_ERR_PARSE,
                   "'%s' is %zu bytes (accepted: 1 byte to 4 GiB)", path, size);
  }
  /* 64-byte aligned, as the .qnf's constant blocks are within the file. */
  void *buf = qi_alloc_large(size);
  if (!buf) {
    fclose(f);
    return qi_fail(err, QI_ERR_NOMEM, "cannot allocate %zu bytes", size);
  }
  size_t got = fread(buf, 1, size, f);
  fclose(f);
  if (got != size) {
    free(buf);
    return qi_fail(err, QI_ERR_IO, "short read on '%s'", path);
  }
  /* External data files live next to the model. */
  char base[4096];
  snprintf(base, sizeof base, "%s", path);
  char *slash = strrchr(base, '/');
  if (slash)
    slash[1] = '\0';
  else
    snprintf(base, sizeof base, ".");
  /* A .qnf's constants stay where they were read (the model keeps the
   * buffer) instead of being copied out tensor by tensor. The file is read,
   * not mapped: a mapping would fault (SIGBUS) if the file were truncated
   * or rewritten in place while the model lives. */
  int qnf = qi_qnf_is_qnf(buf, size);
  qi_status st = load_bytes(buf, size, base, opts, mode, qnf, model, err);
  if (st == QI_OK && qnf)
    (*model)->file_bytes = buf;
  else
    free(buf);
  if (st != QI_OK && err && !strstr(err->message, path))
    qi_error_prefix(err, "%s", path);
  return st;
}

qi_status qi_model_save(const qi_model *m, const char *path, qi_error *err) {
  if (!m || !path)
    return qi_fail(err, QI_ERR_INVALID_ARG, "model or path is NULL");
  return qi_qnf_write(m->g, path, err);
}

void qi_model_free(qi_model *m) {
  if (!m) return;
  qi_graph_free(m->g);
  free(m->io_names);
  free(m->io_start);
  free(m->file_bytes);
  free(m);
}

int qi_model_num_inputs(const qi_model *m) { return m ? m->g->ninputs : 0; }
int qi_model_num_outputs(const qi_model *m) { return m ? m->g->noutputs : 0; }
int qi_model_num_nodes(const qi_model *m) { return m ? m->g->nnodes : 0; }

static void fill_info(const qi_tensor *t, qi_tensor_info *info) {
  info->name = t->name;
  info->dtype = t->dtype;
  info->rank = t->shape.rank;
  for (int d = 0; d < QI_MAX_RANK; d++)
    info->shape[d] = d < t->shape.rank ? t->shape.d[d] : 0;
  const qi_quant *q = &t->quant;
  info->quantized = !q->has ? 0 : q->axis >= 0 ? 2 : 1;
  info->scale = !q->has ? 0.0f : q->axis >= 0 && q->nscales > 0 ? q->scales[0]
                                                                : q->scale;
  info->zero_point = q->has ? q->zero_point : 0;
}

qi_status qi_model_input_info(const qi_model *m, int index,
                              qi_tensor_info *info, qi_error *err) {
  if (!m || !info) return qi_fail(err, QI_ERR_INVALID_ARG, "NULL argument");
  if (index < 0 || index >= m->g->ninputs)
    return qi_fail(err, QI_ERR_INVALID_ARG, "input index %d out of range 0..%d",
                   index, m->g->ninputs - 1);
  fill_info(&m->g->tensors[m->g->inputs[index]], info);
  return QI_OK;
}

qi_status qi_model_output_info(const qi_model *m, int index,
                               qi_tensor_info *info, qi_error *err) {
  if (!m || !info) return qi_fail(err, QI_ERR_INVALID_ARG, "NULL argument");
  if (index < 0 || index >= m->g->noutputs)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "output index %d out of range 0..%d", index,
                   m->g->noutputs - 1);
  fill_info(&m->g->tensors[m->g->outputs[index]], info);
  return QI_OK;
}

qi_status qi_model_tensor_info(const qi_model *m, const char *name,
                               qi_tensor_info *info, qi_error *err) {
  if (!m || !name || !info)
    return qi_fail(err, QI_ERR_INVALID_ARG, "NULL argument");
  int t = qi_graph_find_tensor(m->g, name);
  if (t < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "no tensor named '%s'", name);
  fill_info(&m->g->tensors[t], info);
  return QI_OK;
}

qi_status qi_model_node_info(const qi_model *m, int index, qi_node_info *info,
                             qi_error *err) {
  if (!m || !info) return qi_fail(err, QI_ERR_INVALID_ARG, "NULL argument");
  if (index < 0 || index >= m->g->nnodes)
    return qi_fail(err, QI_ERR_INVALID_ARG, "node index %d out of range",
                   index);
  const qi_node *n = &m->g->nodes[index];
  info->name = n->name;
  info->op_type = n->op_type;
  info->precision = n->precision;
  info->num_inputs = n->nin;
  info->num_outputs = n->nout;
  info->inputs = m->io_names + m->io_start[index];
  info->outputs = m->io_names + m->io_start[index] + n->nin;
  return QI_OK;
}
