/* The driver mode of test_qdq_export (tests/python/check_qdq_export.py):
 *
 *   test_qdq_export export MODEL.onnx OUT.onnx [--samples N] [--seed S]
 *                   [--calib RAW.f32] [--reduce-range]
 *
 * runs MODEL in FP32 (no fusion, so every original tensor is computed under
 * its own name) on N samples (standard normal, or consecutive inputs read
 * from RAW.f32, raw float32, for a single-input model), takes each
 * activation's min/max as its range (qi_uint8_qparams), exports, and prints
 * "qdq_export: ranges=R weights=W per_channel=P dropped=D opset=O
 * observed=T". Test code: allocation failures abort. */
#ifndef QDQ_EXPORT_DRIVER_H
#define QDQ_EXPORT_DRIVER_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calib/qdq_export.h"
#include "calib/qparams.h"
#include "qinfer.h"

typedef struct minmax {
  char *name;
  float lo, hi;
} minmax;

typedef struct observe_state {
  minmax *t;
  int n, cap, next;
} observe_state;

static qi_status observe(void *user, const qi_tensor_view *v, qi_error *err) {
  observe_state *o = user;
  (void)err;
  if (v->dtype != QI_FLOAT32) return QI_OK;
  int64_t count = 1;
  for (int k = 0; k < v->rank; k++) count *= v->shape[k];
  int i = -1;
  for (int k = 0; k < o->n && i < 0; k++) /* same order every run */
    if (!strcmp(o->t[(o->next + k) % o->n].name, v->name))
      i = (o->next + k) % o->n;
  if (i < 0) {
    if (o->n == o->cap) {
      o->cap = o->cap ? 2 * o->cap : 64;
      o->t = realloc(o->t, (size_t)o->cap * sizeof *o->t);
      if (!o->t) abort();
    }
    i = o->n++;
    o->t[i].name = strdup(v->name);
    o->t[i].lo = INFINITY;
    o->t[i].hi = -INFINITY;
  }
  o->next = (i + 1) % o->n;
  const float *x = v->data;
  for (int64_t k = 0; k < count; k++)
    if (isfinite(x[k])) {
      o->t[i].lo = fminf(o->t[i].lo, x[k]);
      o->t[i].hi = fmaxf(o->t[i].hi, x[k]);
    }
  return QI_OK;
}

static uint8_t *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = n > 0 ? malloc((size_t)n) : NULL;
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = b ? (size_t)n : 0;
  return b;
}

static int fail_msg(const char *what, const qi_error *e) {
  fprintf(stderr, "qdq_export: %s: %s\n", what, e->message);
  return 1;
}

static int run_driver(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr,
            "usage: %s export MODEL.onnx OUT.onnx [--samples N] "
            "[--seed S] [--calib RAW.f32] [--reduce-range]\n",
            argv[0]);
    return 2;
  }
  const char *model_path = argv[2], *out_path = argv[3], *calib = NULL;
  int samples = 4;
  unsigned seed = 1;
  qi_qdq_export_options xo = {0};
  for (int i = 4; i < argc; i += 2) {
    if (!strcmp(argv[i], "--reduce-range")) {
      xo.reduce_range = 1;
      i--;
      continue;
    }
    if (i + 1 >= argc) return fprintf(stderr, "%s needs a value\n", argv[i]), 2;
    if (!strcmp(argv[i], "--samples"))
      samples = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed"))
      seed = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--calib"))
      calib = argv[i + 1];
    else
      return fprintf(stderr, "unknown option %s\n", argv[i]), 2;
  }
  qi_error e = {0};
  size_t len = 0, calib_len = 0;
  uint8_t *onnx = read_all(model_path, &len);
  float *calib_data = calib ? (float *)read_all(calib, &calib_len) : NULL;
  if (!onnx || (calib && !calib_data))
    return fprintf(stderr, "qdq_export: cannot read inputs\n"), 1;
  qi_model_options mo = qi_model_options_default();
  mo.optimize = 0; /* every original tensor computed under its own name */
  qi_model *model = NULL;
  qi_session *sess = NULL;
  if (qi_model_load_file(model_path, &mo, &model, &e) != QI_OK ||
      qi_session_create(model, NULL, &sess, &e) != QI_OK)
    return fail_msg("load", &e);
  int nin = qi_model_num_inputs(model);
  qi_tensor_info info[8];
  qi_binding bind[8];
  float *bufs[8] = {0};
  size_t counts[8];
  if (nin > 8 || (calib && nin != 1))
    return fprintf(stderr, "qdq_export: unsupported inputs\n"), 1;
  size_t per_sample = 0;
  for (int i = 0; i < nin; i++) {
    if (qi_model_input_info(model, i, &info[i], &e) != QI_OK)
      return fail_msg("input", &e);
    if (info[i].dtype != QI_FLOAT32)
      return fprintf(stderr, "qdq_export: input '%s' is not float32\n",
                     info[i].name),
             1;
    counts[i] = 1;
    for (int k = 0; k < info[i].rank; k++)
      counts[i] *= (size_t)info[i].shape[k];
    bufs[i] = malloc(counts[i] * sizeof(float));
    bind[i] =
        (qi_binding){info[i].name,  QI_FLOAT32, info[i].rank,
                     info[i].shape, bufs[i],    counts[i] * sizeof(float)};
    per_sample += counts[i];
  }
  if (calib && (calib_len / sizeof(float)) / per_sample < (size_t)samples)
    return fprintf(stderr, "qdq_export: %s holds fewer than %d samples\n",
                   calib, samples),
           1;
  observe_state obs = {0};
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int n = 0; n < samples; n++) {
    for (int i = 0; i < nin; i++)
      for (size_t k = 0; k < counts[i]; k++) {
        if (calib) {
          bufs[i][k] = calib_data[(size_t)n * per_sample + k];
          continue;
        }
        double u[2];
        for (int j = 0; j < 2; j++) {
          s ^= s << 13, s ^= s >> 7, s ^= s << 17;
          u[j] = ((double)(s >> 11) + 0.5) / 9007199254740992.0;
        }
        bufs[i][k] = (float)(sqrt(-2 * log(u[0])) * cos(6.283185307 * u[1]));
      }
    if (qi_session_run_inspect(sess, bind, nin, NULL, 0, observe, &obs, &e))
      return fail_msg("run", &e);
  }
  qi_qdq_range *ranges = calloc((size_t)obs.n + 1, sizeof *ranges);
  int nr = 0;
  for (int k = 0; k < obs.n; k++) {
    if (!(obs.t[k].lo <= obs.t[k].hi)) continue; /* never finite */
    qi_qdq_range *r = &ranges[nr];
    r->tensor_name = obs.t[k].name;
    if (qi_uint8_qparams(obs.t[k].lo, obs.t[k].hi, &r->scale, &r->zero_point,
                         &e) != QI_OK)
      return fail_msg(obs.t[k].name, &e);
    nr++;
  }
  qi_qdq_export_info xi;
  if (qi_qdq_select_ranges(onnx, len, ranges, &nr, &e) != QI_OK ||
      qi_qdq_export_ex(onnx, len, ranges, nr, &xo, out_path, NULL, NULL, &xi,
                       &e) != QI_OK)
    return fail_msg("export", &e);
  printf(
      "qdq_export: ranges=%d weights=%d per_channel=%d dropped=%d "
      "opset=%lld observed=%d\n",
      xi.activations, xi.weights, xi.per_channel, xi.dropped_constants,
      (long long)xi.opset, obs.n);
  for (int k = 0; k < obs.n; k++) free(obs.t[k].name);
  free(obs.t);
  free(ranges);
  for (int i = 0; i < nin; i++) free(bufs[i]);
  qi_session_free(sess);
  qi_model_free(model);
  free(onnx);
  free(calib_data);
  return 0;
}

#endif
