/*
 * qi_calibrator (include/qinfer.h): runs the FP32 model on calibration
 * samples with a tensor callback that streams every FP32 activation into
 * its observer, then builds quantized models from a copy of the graph with
 * ranges and precisions written in and the INT8 lowering applied.
 */
#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib/bias_correct.h"
#include "calib/observer.h"
#include "calib/precision_policy.h"
#include "calib/qdq_export.h"
#include "calib/qparams.h"
#include "core/error.h"
#include "qnf/qnf.h"
#include "runtime/model.h"

typedef struct precision_rule {
  char *pattern; /* one glob, no commas */
  qi_precision precision;
} precision_rule;

struct qi_calibrator {
  qi_model *model; /* FP32, loaded with the INT8-friendly fusions */
  qi_session *session;
  qi_calib_options opts;
  qi_observer **obs; /* per tensor of model->g; NULL if not observed */
  int64_t samples;
  precision_rule *rules;
  int nrules, cap_rules;
  uint8_t *onnx;   /* the original ONNX bytes, for QDQ export; NULL: .qnf */
  size_t onnx_len;
  qi_bias_means *means; /* input channel means; NULL without bias_correction */
};

qi_calib_options qi_calib_options_default(void) {
  qi_calib_options o;
  memset(&o, 0, sizeof o);
  o.method = QI_CALIB_PERCENTILE;
  o.num_threads = 1;
  o.default_precision = QI_PREC_INT8;
  return o;
}

static qi_status check_method(qi_calib_method m, qi_error *err) {
  if (m < QI_CALIB_MINMAX || m > QI_CALIB_MSE)
    return qi_fail(err, QI_ERR_INVALID_ARG, "unknown calibration method %d",
                   (int)m);
  return QI_OK;
}

static qi_status check_precision(qi_precision p, qi_error *err) {
  if (p != QI_PREC_FP32 && p != QI_PREC_FP16 && p != QI_PREC_INT8)
    return qi_fail(err, QI_ERR_INVALID_ARG, "unknown precision %d", (int)p);
  return QI_OK;
}

void qi_calibrator_free(qi_calibrator *c) {
  if (!c) return;
  if (c->obs && c->model)
    for (int i = 0; i < c->model->g->ntensors; i++) qi_observer_free(c->obs[i]);
  free(c->obs);
  for (int i = 0; i < c->nrules; i++) free(c->rules[i].pattern);
  free(c->rules);
  qi_bias_means_free(c->means);
  qi_session_free(c->session);
  qi_model_free(c->model);
  free(c->onnx);
  free(c);
}

/* Every FP32 value the runtime computes (or is given) gets an observer. */
static qi_status make_observers(qi_calibrator *c, qi_error *err) {
  const qi_graph *g = c->model->g;
  c->obs = calloc((size_t)g->ntensors + 1, sizeof *c->obs);
  if (!c->obs) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->ntensors; i++) {
    const qi_tensor *t = &g->tensors[i];
    if (t->kind != QI_TK_ACT || t->dtype != QI_FLOAT32) continue;
    QI_TRY(qi_observer_create(c->opts.histogram_bins, &c->obs[i], err));
  }
  return QI_OK;
}

/* The original model file, kept for QDQ export (which edits the ONNX the
 * user gave, not our fused graph). A .qnf has no ONNX to edit. */
static qi_status keep_onnx_bytes(qi_calibrator *c, const char *path,
                                 qi_error *err) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return qi_fail(err, QI_ERR_IO, "cannot reopen '%s': %s", path,
                   strerror(errno));
  qi_status st = QI_OK;
  if (fseek(f, 0, SEEK_END) != 0) st = QI_ERR_IO;
  long size = st == QI_OK ? ftell(f) : -1;
  if (size <= 0 || fseek(f, 0, SEEK_SET) != 0) st = QI_ERR_IO;
  if (st == QI_OK) {
    c->onnx = malloc((size_t)size);
    if (!c->onnx) st = QI_ERR_NOMEM;
  }
  if (st == QI_OK && fread(c->onnx, 1, (size_t)size, f) != (size_t)size)
    st = QI_ERR_IO;
  fclose(f);
  if (st != QI_OK)
    return qi_fail(err, st, "cannot read '%s' again for QDQ export", path);
  c->onnx_len = (size_t)size;
  if (qi_qnf_is_qnf(c->onnx, c->onnx_len)) {
    free(c->onnx);
    c->onnx = NULL;
    c->onnx_len = 0;
  }
  return QI_OK;
}

qi_status qi_calibrator_create(const char *path,
                               const qi_model_options *model_opts,
                               const qi_calib_options *calib_opts,
                               qi_calibrator **out, qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator is NULL");
  *out = NULL;
  if (!path) return qi_fail(err, QI_ERR_INVALID_ARG, "path is NULL");
  qi_calib_options o = calib_opts ? *calib_opts : qi_calib_options_default();
  QI_TRY(check_method(o.method, err));
  QI_TRY(check_precision(o.default_precision, err));
  if (o.num_threads < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "num_threads %d is negative",
                   o.num_threads);
  qi_calibrator *c = calloc(1, sizeof *c);
  if (!c) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  c->opts = o;
  qi_model_options mo = model_opts ? *model_opts : qi_model_options_default();
  mo.optimize = 1;
  qi_status st = qi_model_load_file_mode(path, &mo, QI_LOAD_FOR_INT8,
                                         &c->model, err);
  qi_session_options so = qi_session_options_default();
  so.num_threads = o.num_threads ? o.num_threads : 1;
  if (st == QI_OK) st = qi_session_create(c->model, &so, &c->session, err);
  if (st == QI_OK) st = make_observers(c, err);
  if (st == QI_OK) st = keep_onnx_bytes(c, path, err);
  if (st == QI_OK && o.bias_correction)
    st = qi_bias_means_create(c->model->g, &c->means, err);
  if (st == QI_OK && c->opts.method_param != 0.0f) {
    /* Validate the parameter now rather than at the first build. */
    st = qi_calibrator_set_method(c, c->opts.method, c->opts.method_param,
                                  err);
  }
  if (st != QI_OK) {
    qi_calibrator_free(c);
    return st;
  }
  *out = c;
  return QI_OK;
}

const qi_model *qi_calibrator_model(const qi_calibrator *c) {
  return c ? c->model : NULL;
}

int64_t qi_calibrator_num_samples(const qi_calibrator *c) {
  return c ? c->samples : 0;
}

size_t qi_calibrator_observer_bytes(const qi_calibrator *c) {
  if (!c) return 0;
  size_t total = 0;
  for (int i = 0; i < c->model->g->ntensors; i++)
    if (c->obs[i]) total += qi_observer_bytes(c->obs[i]);
  return total + qi_bias_means_bytes(c->means);
}

/* The tensor callback: view names are the graph's own strings, so the
 * tensor is found by pointer identity first (the common case) and by name
 * otherwise. */
typedef struct observe_ctx {
  qi_calibrator *c;
  int next; /* where the last match was + 1: runs visit tensors in order */
} observe_ctx;

static int find_view_tensor(observe_ctx *oc, const char *name) {
  const qi_graph *g = oc->c->model->g;
  for (int k = 0; k < g->ntensors; k++) {
    int i = (oc->next + k) % g->ntensors;
    if (g->tensors[i].name == name) return oc->next = i + 1, i;
  }
  return qi_graph_find_tensor(g, name);
}

static qi_status observe(void *user, const qi_tensor_view *v, qi_error *err) {
  observe_ctx *oc = user;
  if (v->dtype != QI_FLOAT32) return QI_OK;
  int i = find_view_tensor(oc, v->name);
  if (i < 0) return QI_OK;
  qi_status st = qi_bias_means_update(oc->c->means, i, v->data, v->rank,
                                      v->shape, err);
  if (st != QI_OK || !oc->c->obs[i]) return st;
  const qi_shape *s = &oc->c->model->g->tensors[i].shape;
  int64_t n = qi_shape_numel(s);
  if (n < 0) return QI_OK;
  st = qi_observer_update(oc->c->obs[i], v->data, (size_t)n, err);
  if (st != QI_OK) qi_error_prefix(err, "tensor '%s'", v->name);
  return st;
}

static qi_status check_finite_inputs(const qi_binding *in, int n,
                                     qi_error *err) {
  for (int i = 0; i < n; i++) {
    if (in[i].dtype != QI_FLOAT32 || !in[i].data) continue;
    const float *x = in[i].data;
    size_t count = in[i].size_bytes / sizeof(float);
    for (size_t k = 0; k < count; k++)
      if (!isfinite(x[k]))
        return qi_fail(err, QI_ERR_INVALID_ARG,
                       "calibration input '%s' has a non-finite value (%g) "
                       "at element %zu",
                       in[i].name ? in[i].name : "(null)", (double)x[k], k);
  }
  return QI_OK;
}

qi_status qi_calibrator_add_sample(qi_calibrator *c, const qi_binding *inputs,
                                   int num_inputs, qi_error *err) {
  if (!c) return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator is NULL");
  if (num_inputs < 0 || (num_inputs && !inputs))
    return qi_fail(err, QI_ERR_INVALID_ARG, "NULL or negative bindings");
  QI_TRY(check_finite_inputs(inputs, num_inputs, err));
  observe_ctx oc = {c, 0};
  qi_status st = qi_session_run_inspect(c->session, inputs, num_inputs, NULL,
                                        0, observe, &oc, err);
  if (st != QI_OK) {
    qi_error_prefix(err, "calibration sample %lld", (long long)c->samples);
    return st;
  }
  c->samples++;
  return QI_OK;
}

qi_status qi_calibrator_set_method(qi_calibrator *c, qi_calib_method method,
                                   float param, qi_error *err) {
  if (!c) return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator is NULL");
  QI_TRY(check_method(method, err));
  int ok = isfinite(param) && param >= 0.0f;
  if (method == QI_CALIB_PERCENTILE && param != 0.0f)
    ok = ok && param >= 50.0f && param <= 100.0f;
  if ((method == QI_CALIB_ENTROPY || method == QI_CALIB_MSE) && param != 0.0f)
    ok = ok && param >= 2.0f && param <= 65536.0f;
  if (!ok)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "parameter %g is out of range for method %d (percentile: "
                   "50..100; entropy and mse: 2..65536 levels)",
                   (double)param, (int)method);
  c->opts.method = method;
  c->opts.method_param = param;
  return QI_OK;
}

static int node_matches(const qi_node *n, const char *glob) {
  return fnmatch(glob, n->name, 0) == 0 || fnmatch(glob, n->op_type, 0) == 0;
}

qi_status qi_calibrator_set_precision(qi_calibrator *c, const char *pattern,
                                      qi_precision precision, qi_error *err) {
  if (!c || !pattern)
    return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator or pattern is NULL");
  QI_TRY(check_precision(precision, err));
  const char *p = pattern;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len) {
      char *one = strndup(p, len);
      if (!one) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
      const qi_graph *g = c->model->g;
      int hits = 0;
      for (int i = 0; i < g->nnodes; i++) hits += node_matches(&g->nodes[i], one);
      if (!hits) {
        qi_status st = qi_fail(err, QI_ERR_INVALID_ARG,
                               "precision pattern '%s' matches no node name "
                               "or op type of the model",
                               one);
        free(one);
        return st;
      }
      if (c->nrules == c->cap_rules) {
        int cap = c->cap_rules ? 2 * c->cap_rules : 8;
        precision_rule *r = realloc(c->rules, sizeof *r * (size_t)cap);
        if (!r) {
          free(one);
          return qi_fail(err, QI_ERR_NOMEM, "out of memory");
        }
        c->rules = r;
        c->cap_rules = cap;
      }
      c->rules[c->nrules].pattern = one;
      c->rules[c->nrules++].precision = precision;
    }
    p += len;
    if (*p == ',') p++;
  }
  return QI_OK;
}

void qi_calibrator_clear_precision(qi_calibrator *c) {
  if (!c) return;
  for (int i = 0; i < c->nrules; i++) free(c->rules[i].pattern);
  c->nrules = 0;
}

int qi_calibrator_num_nodes(const qi_calibrator *c) {
  return c ? c->model->g->nnodes : 0;
}

const char *qi_calibrator_node_name(const qi_calibrator *c, int index) {
  if (!c || index < 0 || index >= c->model->g->nnodes) return NULL;
  return c->model->g->nodes[index].name;
}

const char *qi_calibrator_node_op(const qi_calibrator *c, int index) {
  if (!c || index < 0 || index >= c->model->g->nnodes) return NULL;
  return c->model->g->nodes[index].op_type;
}

static qi_range_method range_method_of(qi_calib_method m) {
  switch (m) {
    case QI_CALIB_MINMAX: return QI_RANGE_MINMAX;
    case QI_CALIB_ENTROPY: return QI_RANGE_ENTROPY;
    case QI_CALIB_MSE: return QI_RANGE_MSE;
    default: return QI_RANGE_PERCENTILE;
  }
}

/* The uint8 grid the current method gives tensor i (of the FP32 graph).
 * *has = 0 for a tensor never computed (an unused branch). */
static qi_status tensor_grid(const qi_calibrator *c, int i, int *has,
                             float *scale, int32_t *zp, qi_error *err) {
  const qi_graph *g = c->model->g;
  *has = 0;
  if (!c->obs[i]) return QI_OK;
  qi_observer_stats st;
  qi_observer_get_stats(c->obs[i], &st);
  if (st.finite == 0 && st.nan + st.pos_inf + st.neg_inf == 0) return QI_OK;
  if (st.finite == 0)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "tensor '%s' was NaN or infinite in every calibration "
                   "sample (%llu NaN, %llu +Inf, %llu -Inf): it cannot be "
                   "quantized",
                   g->tensors[i].name, (unsigned long long)st.nan,
                   (unsigned long long)st.pos_inf,
                   (unsigned long long)st.neg_inf);
  float lo, hi;
  qi_status s = qi_observer_range(c->obs[i], range_method_of(c->opts.method),
                                  c->opts.method_param, &lo, &hi, err);
  if (s == QI_OK) s = qi_uint8_qparams(lo, hi, scale, zp, err);
  if (s != QI_OK) {
    qi_error_prefix(err, "tensor '%s'", g->tensors[i].name);
    return s;
  }
  *has = 1;
  return QI_OK;
}

/* Writes the chosen uint8 grid of every observed tensor into `dst`, a copy
 * of the FP32 graph (tensors found by name). */
static qi_status write_ranges(const qi_calibrator *c, qi_graph *dst,
                              qi_error *err) {
  const qi_graph *g = c->model->g;
  for (int i = 0; i < g->ntensors; i++) {
    int has;
    float scale;
    int32_t zp;
    QI_TRY(tensor_grid(c, i, &has, &scale, &zp, err));
    if (!has) continue;
    int j = i < dst->ntensors && strcmp(dst->tensors[i].name,
                                        g->tensors[i].name) == 0
                ? i
                : qi_graph_find_tensor(dst, g->tensors[i].name);
    if (j < 0) continue;
    qi_quant *q = &dst->tensors[j].quant;
    free(q->scales);
    memset(q, 0, sizeof *q);
    q->has = 1;
    q->scale = scale;
    q->zero_point = zp;
    q->axis = -1;
  }
  return QI_OK;
}

qi_status qi_calibrator_export_qdq(qi_calibrator *c, const char *path,
                                   int reduce_range, qi_error *err) {
  if (!c || !path)
    return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator or path is NULL");
  if (!c->onnx)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "QDQ export needs an ONNX model; this calibrator was made "
                   "from a .qnf file");
  if (c->samples == 0)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "no calibration samples were added: nothing to export");
  const qi_graph *g = c->model->g;
  qi_qdq_range *r = calloc((size_t)g->ntensors + 1, sizeof *r);
  if (!r) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  int n = 0;
  qi_status st = QI_OK;
  for (int i = 0; i < g->ntensors && st == QI_OK; i++) {
    int has;
    st = tensor_grid(c, i, &has, &r[n].scale, &r[n].zero_point, err);
    if (st == QI_OK && has) r[n++].tensor_name = g->tensors[i].name;
  }
  if (st == QI_OK) st = qi_qdq_select_ranges(c->onnx, c->onnx_len, r, &n, err);
  qi_qdq_export_options o = {reduce_range ? 1 : 0};
  if (st == QI_OK)
    st = qi_qdq_export_ex(c->onnx, c->onnx_len, r, n, &o, path, NULL, NULL,
                          NULL, err);
  free(r);
  return st;
}

/* The default precision, then the policy's exceptions (unless uniform),
 * then the user's overrides in order. Every precision is accepted: FP16 by
 * lib/quant/lower_fp16.c. */
static qi_status write_precisions(const qi_calibrator *c, qi_graph *dst,
                                  qi_error *err) {
  for (int i = 0; i < dst->nnodes; i++)
    dst->nodes[i].precision = c->opts.default_precision;
  if (!c->opts.uniform_precision && c->opts.default_precision == QI_PREC_INT8)
    QI_TRY(qi_precision_policy_outputs(dst, err));
  for (int i = 0; i < dst->nnodes; i++) {
    qi_node *n = &dst->nodes[i];
    for (int r = 0; r < c->nrules; r++)
      if (node_matches(n, c->rules[r].pattern)) n->precision = c->rules[r].precision;
  }
  return QI_OK;
}

qi_status qi_calibrator_build(qi_calibrator *c, qi_model **quantized,
                              qi_error *err) {
  if (!c || !quantized)
    return qi_fail(err, QI_ERR_INVALID_ARG, "calibrator or model is NULL");
  *quantized = NULL;
  if (c->samples == 0)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "no calibration samples were added: the ranges would be "
                   "guesses");
  /* A deep copy through the .qnf image keeps the FP32 model untouched. */
  uint8_t *img = NULL;
  size_t len = 0;
  QI_TRY(qi_qnf_write_memory(c->model->g, &img, &len, err));
  qi_graph *g = NULL;
  qi_status st = qi_qnf_read(img, len, &g, err);
  free(img);
  if (st != QI_OK) return st;
  st = write_ranges(c, g, err);
  if (st == QI_OK) st = write_precisions(c, g, err);
  /* On the INT8 nodes only, so it sees the precisions just written. */
  if (st == QI_OK && c->means)
    st = qi_bias_correct_graph(c->means, g, NULL, err);
  if (st != QI_OK) {
    qi_graph_free(g);
    return st;
  }
  qi_model_options mo = qi_model_options_default();
  mo.optimize = 0; /* the copy is already fused */
  return qi_model_from_graph(g, &mo, QI_LOAD_LOWER_INT8, quantized, err);
}
