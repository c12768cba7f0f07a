/* Quantized versus FP32 on a few kept calibration samples. Only model
 * outputs can be read through the public API (qi_session_run binds graph
 * outputs only), so every comparison is at the outputs.
 *   SQNR   = 10 log10( sum r^2 / sum (r - q)^2 ), summed over all samples
 *   cosine = sum r q / sqrt(sum r^2 * sum q^2)
 * both per output; the model's figure is the worst output. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

struct calib_eval {
  const qi_model *fp32;
  int cap, n, threads, nin, nout;
  qi_tensor_info *in_info, *out_info;
  size_t *in_bytes, *out_bytes;
  void **in_data; /* [cap * nin] */
  float **ref;    /* [cap * nout]; NULL for non-float outputs */
  qi_session *session;
  qi_binding *outb; /* scratch outputs, buffers owned */
};

static qi_status fail(qi_error *err, qi_status st, const char *msg, const char *name) {
  if (err) {
    snprintf(err->message, sizeof err->message, msg, name);
    err->status = st;
  }
  return st;
}

static size_t info_bytes(const qi_tensor_info *t) {
  size_t n = calib_dtype_size(t->dtype);
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

qi_status calib_eval_create(const qi_model *fp32, int capacity, int threads, calib_eval **out,
                            qi_error *err) {
  *out = NULL;
  calib_eval *e = calloc(1, sizeof *e);
  if (!e) return fail(err, QI_ERR_NOMEM, "out of memory%s", "");
  e->fp32 = fp32;
  e->cap = capacity;
  e->threads = threads;
  e->nin = qi_model_num_inputs(fp32);
  e->nout = qi_model_num_outputs(fp32);
  size_t nin = (size_t)(e->nin > 0 ? e->nin : 1);
  size_t nout = (size_t)(e->nout > 0 ? e->nout : 1);
  size_t cap = (size_t)(capacity > 0 ? capacity : 1);
  e->in_info = calloc(nin, sizeof *e->in_info);
  e->out_info = calloc(nout, sizeof *e->out_info);
  e->in_bytes = calloc(nin, sizeof *e->in_bytes);
  e->out_bytes = calloc(nout, sizeof *e->out_bytes);
  e->in_data = calloc(cap * nin, sizeof *e->in_data);
  e->ref = calloc(cap * nout, sizeof *e->ref);
  e->outb = calloc(nout, sizeof *e->outb);
  qi_status st = QI_OK;
  if (!e->in_info || !e->out_info || !e->in_bytes || !e->out_bytes || !e->in_data || !e->ref ||
      !e->outb)
    st = fail(err, QI_ERR_NOMEM, "out of memory%s", "");
  for (int i = 0; st == QI_OK && i < e->nin; i++) {
    st = qi_model_input_info(fp32, i, &e->in_info[i], err);
    e->in_bytes[i] = info_bytes(&e->in_info[i]);
  }
  for (int k = 0; st == QI_OK && k < e->nout; k++) {
    st = qi_model_output_info(fp32, k, &e->out_info[k], err);
    const qi_tensor_info *t = &e->out_info[k];
    e->out_bytes[k] = info_bytes(t);
    e->outb[k] = (qi_binding){
        t->name,        t->dtype, t->rank, t->shape, malloc(e->out_bytes[k] ? e->out_bytes[k] : 1),
        e->out_bytes[k]};
    if (st == QI_OK && !e->outb[k].data) st = fail(err, QI_ERR_NOMEM, "out of memory%s", "");
  }
  qi_session_options so = qi_session_options_default();
  so.num_threads = threads;
  if (st == QI_OK) st = qi_session_create(fp32, &so, &e->session, err);
  if (st != QI_OK) {
    calib_eval_free(e);
    return st;
  }
  *out = e;
  return QI_OK;
}

void calib_eval_free(calib_eval *e) {
  if (!e) return;
  for (int i = 0; e->in_data && i < e->cap * e->nin; i++) free(e->in_data[i]);
  for (int i = 0; e->ref && i < e->cap * e->nout; i++) free(e->ref[i]);
  for (int k = 0; e->outb && k < e->nout; k++) free(e->outb[k].data);
  qi_session_free(e->session);
  free(e->in_info);
  free(e->out_info);
  free(e->in_bytes);
  free(e->out_bytes);
  free(e->in_data);
  free(e->ref);
  free(e->outb);
  free(e);
}

int calib_eval_count(const calib_eval *e) {
  return e ? e->n : 0;
}
int calib_eval_full(const calib_eval *e) {
  return !e || e->n >= e->cap;
}

const char *calib_output_name(const calib_eval *e, int k) {
  return k >= 0 && k < e->nout ? e->out_info[k].name : "";
}

qi_status calib_eval_keep(calib_eval *e, const qi_binding *inputs, qi_error *err) {
  if (e->n >= e->cap) return QI_OK;
  void **slot = &e->in_data[(size_t)e->n * (size_t)e->nin];
  for (int i = 0; i < e->nin; i++) {
    if (inputs[i].size_bytes != e->in_bytes[i])
      return fail(err, QI_ERR_INTERNAL, "sample size of input '%s' changed", e->in_info[i].name);
    slot[i] = malloc(e->in_bytes[i] ? e->in_bytes[i] : 1);
    if (!slot[i]) return fail(err, QI_ERR_NOMEM, "out of memory%s", "");
    memcpy(slot[i], inputs[i].data, e->in_bytes[i]);
  }
  CALIB_TRY(qi_session_run(e->session, inputs, e->nin, e->outb, e->nout, err));
  float **ref = &e->ref[(size_t)e->n * (size_t)e->nout];
  for (int k = 0; k < e->nout; k++) {
    if (e->out_info[k].dtype != QI_FLOAT32) continue;
    ref[k] = malloc(e->out_bytes[k] ? e->out_bytes[k] : 1);
    if (!ref[k]) return fail(err, QI_ERR_NOMEM, "out of memory%s", "");
    memcpy(ref[k], e->outb[k].data, e->out_bytes[k]);
  }
  e->n++;
  return QI_OK;
}

static void bind_inputs(const calib_eval *e, int s, qi_binding *b) {
  for (int i = 0; i < e->nin; i++) {
    const qi_tensor_info *t = &e->in_info[i];
    b[i] = (qi_binding){t->name,
                        t->dtype,
                        t->rank,
                        t->shape,
                        e->in_data[(size_t)s * (size_t)e->nin + (size_t)i],
                        e->in_bytes[i]};
  }
}

/* Checks that `m` has every FP32 output with the same type and shape. */
static qi_status check_outputs(const calib_eval *e, const qi_model *m, qi_error *err) {
  for (int k = 0; k < e->nout; k++) {
    qi_tensor_info t;
    const qi_tensor_info *r = &e->out_info[k];
    int found = 0;
    for (int j = 0; j < qi_model_num_outputs(m); j++)
      if (qi_model_output_info(m, j, &t, NULL) == QI_OK && !strcmp(t.name, r->name))
        found = t.dtype == r->dtype && t.rank == r->rank &&
                !memcmp(t.shape, r->shape, sizeof(int64_t) * (size_t)r->rank);
    if (!found)
      return fail(err, QI_ERR_SHAPE,
                  "the quantized model lacks FP32 output '%s' (same type "
                  "and shape)",
                  r->name);
  }
  return QI_OK;
}

static double db_ratio(double sig, double noise) {
  if (!isfinite(noise)) return -INFINITY;
  if (noise == 0) return INFINITY;
  if (sig == 0) return -INFINITY;
  return 10.0 * log10(sig / noise);
}

static int64_t argmax(const float *x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

static qi_status collect_timing(qi_session *s, calib_timing *t, qi_error *err) {
  const qi_node_profile *p;
  int cnt;
  memset(t, 0, sizeof *t);
  CALIB_TRY(qi_session_profile(s, &p, &cnt, err));
  if (cnt <= 0) return QI_OK;
  t->names = calloc((size_t)cnt, sizeof *t->names);
  t->ms = calloc((size_t)cnt, sizeof *t->ms);
  if (!t->names || !t->ms) {
    calib_timing_free(t);
    return fail(err, QI_ERR_NOMEM, "out of memory%s", "");
  }
  for (int i = 0; i < cnt; i++) {
    t->names[i] = strdup(p[i].name ? p[i].name : "");
    if (!t->names[i]) {
      t->n = i;
      calib_timing_free(t);
      return fail(err, QI_ERR_NOMEM, "out of memory%s", "");
    }
    t->ms[i] = p[i].runs ? p[i].total_ms / (double)p[i].runs : 0.0;
  }
  t->n = cnt;
  return QI_OK;
}

qi_status calib_eval_model(calib_eval *e, const qi_model *m, calib_metrics *out,
                           calib_timing *timing, qi_error *err) {
  memset(out, 0, sizeof *out);
  if (timing) memset(timing, 0, sizeof *timing);
  if (e->n == 0) return fail(err, QI_ERR_INVALID_ARG, "no samples kept%s", "");
  CALIB_TRY(check_outputs(e, m, err));
  qi_session_options so = qi_session_options_default();
  so.num_threads = e->threads;
  so.profile = timing != NULL;
  qi_session *s = NULL;
  CALIB_TRY(qi_session_create(m, &so, &s, err));
  qi_binding *in = calloc((size_t)(e->nin > 0 ? e->nin : 1), sizeof *in);
  int nk = e->nout < CALIB_MAX_OUTPUTS ? e->nout : CALIB_MAX_OUTPUTS;
  double sig[CALIB_MAX_OUTPUTS] = {0}, noise[CALIB_MAX_OUTPUTS] = {0};
  double dot[CALIB_MAX_OUTPUTS] = {0}, qq[CALIB_MAX_OUTPUTS] = {0};
  int64_t rows = 0, agree = 0;
  double total_ms = 0;
  qi_status st = in ? QI_OK : fail(err, QI_ERR_NOMEM, "out of memory%s", "");
  /* One untimed run first: the first run pays for page faults and packing
   * caches, which would weigh heavily on a handful of samples. */
  for (int r = -1; st == QI_OK && r < e->n; r++) {
    int smp = r < 0 ? 0 : r;
    bind_inputs(e, smp, in);
    double t0 = calib_now();
    st = qi_session_run(s, in, e->nin, e->outb, e->nout, err);
    if (st != QI_OK || r < 0) continue;
    total_ms += (calib_now() - t0) * 1e3;
    for (int k = 0; k < nk; k++) {
      const float *ref = e->ref[(size_t)smp * (size_t)e->nout + (size_t)k];
      if (!ref) continue;
      const float *q = e->outb[k].data;
      size_t cnt = e->out_bytes[k] / sizeof(float);
      for (size_t j = 0; j < cnt; j++) {
        double a = ref[j], b = q[j];
        sig[k] += a * a;
        noise[k] += (a - b) * (a - b);
        dot[k] += a * b;
        qq[k] += b * b;
      }
    }
    const float *ref0 = e->ref[(size_t)smp * (size_t)e->nout];
    if (ref0) {
      const qi_tensor_info *t = &e->out_info[0];
      int64_t last = t->rank ? t->shape[t->rank - 1] : 1;
      int64_t cnt = (int64_t)(e->out_bytes[0] / sizeof(float));
      for (int64_t row = 0; last > 0 && row < cnt / last; row++) {
        rows++;
        agree += argmax(ref0 + row * last, last) ==
                 argmax((const float *)e->outb[0].data + row * last, last);
      }
    }
  }
  if (st == QI_OK && timing) st = collect_timing(s, timing, err);
  qi_session_free(s);
  free(in);
  if (st != QI_OK) return st;
  out->sqnr_db = INFINITY;
  out->cosine = 1.0;
  out->noutputs = nk;
  for (int k = 0; k < nk; k++) {
    if (e->out_info[k].dtype != QI_FLOAT32) {
      out->out_sqnr[k] = out->out_cosine[k] = NAN;
      continue;
    }
    out->out_sqnr[k] = db_ratio(sig[k], noise[k]);
    double den = sqrt(sig[k] * qq[k]);
    out->out_cosine[k] = den > 0 ? dot[k] / den : (sig[k] == qq[k] ? 1.0 : 0.0);
    if (!isfinite(out->out_cosine[k])) out->out_cosine[k] = -1.0;
    if (!(out->out_sqnr[k] >= out->sqnr_db)) out->sqnr_db = out->out_sqnr[k];
    if (out->out_cosine[k] < out->cosine) out->cosine = out->out_cosine[k];
  }
  out->top1 = rows ? (double)agree / (double)rows : NAN;
  out->ms = total_ms / (double)e->n;
  return QI_OK;
}

double calib_timing_ms(const calib_timing *t, const char *name) {
  if (!t || !name) return -1;
  for (int i = 0; i < t->n; i++)
    if (!strcmp(t->names[i], name)) return t->ms[i];
  return -1;
}

void calib_timing_free(calib_timing *t) {
  if (!t) return;
  for (int i = 0; i < t->n; i++) free(t->names[i]);
  free(t->names);
  free(t->ms);
  memset(t, 0, sizeof *t);
}

const char *calib_db_str(double db, char *buf, size_t len) {
  if (isnan(db))
    snprintf(buf, len, "n/a");
  else if (isinf(db))
    snprintf(buf, len, db > 0 ? "inf" : "-inf");
  else
    snprintf(buf, len, "%.1f", db);
  return buf;
}
