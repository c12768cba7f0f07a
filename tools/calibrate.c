/* calibrate: post-training INT8 calibration of an ONNX model.
 *   calibrate MODEL.onnx --data DIR_OR_FILES... -o MODEL.qnf [options]
 * Streams calibration samples through qi_calibrator (one in memory at a
 * time), builds the quantized model with the requested per-node precisions
 * (or chooses them with --auto), writes it as .qnf, and optionally a
 * per-layer report. Uses only the public API (include/qinfer.h). Exit
 * status: 0 done, 1 failed (one line on stderr says why), 2 usage error. */
#include "calibrate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "openblas_idle.h"

typedef struct job {
  calib_cli *c; /* auto_mode is set when the default build falls back */
  qi_calibrator *cal;
  calib_data *data;
  calib_eval *eval;
  calib_layers layers;
  qi_model *final;
  calib_input_spec *specs;
  const char **spec_paths;
  int nspecs;
  double t_start, t_calib;
  int output_created;
  int fell_back; /* the default build was checked and --auto took over */
} job;

/* Whether the default build is checked against FP32 (see
 * CALIB_FALLBACK_MIN_SQNR_DB). */
static int checks_default(const calib_cli *c) {
  return !c->auto_mode && !c->no_fallback && !c->calib.uniform_precision &&
         c->calib.default_precision == QI_PREC_INT8;
}

static int failed(const char *context, const qi_error *e) {
  if (context && *context)
    fprintf(stderr, "calibrate: %s: %s\n", context, e->message);
  else
    fprintf(stderr, "calibrate: %s\n", e->message);
  return 1;
}

/* Paths that do not exist fail before the model is loaded; the output must
 * be creatable before a long run, not after. */
static int check_paths(job *j) {
  const calib_cli *c = j->c;
  struct stat sb;
  for (int i = 0; i < c->ndata + c->ndata_inputs; i++) {
    const char *p = i < c->ndata ? c->data[i] : c->data_inputs[i - c->ndata].path;
    if (stat(p, &sb) != 0) {
      fprintf(stderr, "calibrate: cannot open '%s': %s\n", p, strerror(errno));
      return 1;
    }
  }
  if (stat(c->output, &sb) == 0) {
    if (S_ISDIR(sb.st_mode) || access(c->output, W_OK) != 0) {
      fprintf(stderr, "calibrate: cannot write '%s'\n", c->output);
      return 1;
    }
    return 0;
  }
  FILE *fp = fopen(c->output, "wb");
  if (!fp) {
    fprintf(stderr, "calibrate: cannot create '%s': %s\n", c->output, strerror(errno));
    return 1;
  }
  fclose(fp);
  j->output_created = 1;
  return 0;
}

/* --data: one spec for the only input; --data-input: one per name, paths
 * in command-line order. */
static int make_specs(job *j) {
  const calib_cli *c = j->c;
  int n = c->ndata ? 1 : c->ndata_inputs;
  j->specs = calloc((size_t)n, sizeof *j->specs);
  j->spec_paths = calloc((size_t)(c->ndata + c->ndata_inputs), sizeof *j->spec_paths);
  if (!j->specs || !j->spec_paths) {
    fprintf(stderr, "calibrate: out of memory\n");
    return 1;
  }
  if (c->ndata) {
    j->specs[0] = (calib_input_spec){NULL, c->data, c->ndata};
    j->nspecs = 1;
    return 0;
  }
  int used = 0;
  for (int i = 0; i < c->ndata_inputs; i++) {
    int seen = 0;
    for (int k = 0; k < i; k++) seen |= !strcmp(c->data_inputs[k].name, c->data_inputs[i].name);
    if (seen) continue;
    calib_input_spec *s = &j->specs[j->nspecs++];
    s->name = c->data_inputs[i].name;
    s->paths = &j->spec_paths[used];
    for (int k = i; k < c->ndata_inputs; k++)
      if (!strcmp(c->data_inputs[k].name, s->name)) j->spec_paths[used++] = c->data_inputs[k].path;
    s->npaths = (int)(&j->spec_paths[used] - s->paths);
  }
  return 0;
}

static int open_all(job *j) {
  const calib_cli *c = j->c;
  qi_error e;
  qi_model_options mo = qi_model_options_default();
  mo.input_shapes = c->shapes;
  mo.num_input_shapes = c->nshapes;
  if (qi_calibrator_create(c->model, &mo, &c->calib, &j->cal, &e) != QI_OK)
    return failed(strstr(e.message, c->model) ? NULL : c->model, &e);
  /* Patterns are checked now, not after the whole data set has run. */
  if (calib_apply_precision(j->cal, c, NULL, NULL, 0, &e) != QI_OK) return failed(NULL, &e);
  if (make_specs(j)) return 1;
  if (calib_data_open(j->specs, j->nspecs, qi_calibrator_model(j->cal), &c->img, c->limit,
                      c->shuffle, &j->data, &e) != QI_OK)
    return failed(NULL, &e);
  const char *pre = calib_data_describe(j->data);
  if (!c->quiet) {
    int64_t n = calib_data_count(j->data);
    fprintf(stderr, "calibrate: %lld sample%s%s%s\n", (long long)n, n == 1 ? "" : "s",
            *pre ? "; " : "", pre);
    const calib_image_opts *o = &c->img;
    if (*pre && o->scale == 1.0f && !o->mean[0] && !o->mean[1] && !o->mean[2] &&
        o->std[0] == 1.0f && o->std[1] == 1.0f && o->std[2] == 1.0f)
      fprintf(stderr,
              "calibrate: note: no --scale/--mean/--std given: the "
              "model gets raw 0..255 pixels\n");
  }
  if (c->report || c->auto_mode || checks_default(c)) {
    int64_t cap = calib_data_count(j->data);
    if (cap > c->eval_samples) cap = c->eval_samples;
    if (calib_eval_create(qi_calibrator_model(j->cal), (int)cap,
                          c->calib.num_threads ? c->calib.num_threads : 1, &j->eval, &e) != QI_OK)
      return failed(NULL, &e);
  }
  return 0;
}

static int feed(job *j) {
  qi_error e;
  calib_progress p;
  calib_progress_start(&p, "calibrating", calib_data_count(j->data), j->c->quiet);
  int64_t done = 0;
  for (;;) {
    const qi_binding *b;
    if (calib_data_next(j->data, &b, &e) != QI_OK) {
      calib_progress_end(&p);
      return failed(NULL, &e);
    }
    if (!b) break;
    qi_status st = QI_OK;
    if (j->eval && !calib_eval_full(j->eval)) st = calib_eval_keep(j->eval, b, &e);
    if (st == QI_OK)
      st =
          qi_calibrator_add_sample(j->cal, b, qi_model_num_inputs(qi_calibrator_model(j->cal)), &e);
    if (st != QI_OK) {
      calib_progress_end(&p);
      return failed(calib_data_origin(j->data), &e);
    }
    calib_progress_step(&p, ++done);
  }
  calib_progress_end(&p);
  return 0;
}

static int build(job *j) {
  const calib_cli *c = j->c;
  qi_error e;
  qi_model *baseline = NULL;
  if (qi_calibrator_build(j->cal, &baseline, &e) != QI_OK) return failed("build", &e);
  if (!j->eval) {
    j->final = baseline;
    return 0;
  }
  if (checks_default(c)) {
    calib_metrics m;
    if (calib_eval_model(j->eval, baseline, &m, NULL, &e) != QI_OK) {
      qi_model_free(baseline);
      return failed("checking the default build", &e);
    }
    if (m.sqnr_db >= CALIB_FALLBACK_MIN_SQNR_DB) {
      if (!c->report) {
        j->final = baseline;
        return 0;
      }
    } else {
      char db[32];
      if (!c->quiet)
        fprintf(stderr,
                "calibrate: the default build's output SQNR is %s dB on %d "
                "kept samples, under %.0f dB: choosing per-layer precision "
                "as --auto does (--no-fallback keeps the default build)\n",
                calib_db_str(m.sqnr_db, db, sizeof db), calib_eval_count(j->eval),
                CALIB_FALLBACK_MIN_SQNR_DB);
      j->c->auto_mode = 1;
      j->fell_back = 1;
    }
  }
  qi_status st = calib_layers_init(j->cal, c, baseline, &j->layers, &e);
  if (st == QI_OK) st = calib_sweep(j->cal, c, j->eval, baseline, &j->layers, &e);
  if (st == QI_OK && c->auto_mode) {
    st = calib_auto(j->cal, c, j->eval, &j->layers, &j->final, &e);
    qi_model_free(baseline);
  } else {
    j->final = baseline;
  }
  return st == QI_OK ? 0 : failed(c->auto_mode ? "auto" : "report", &e);
}

static void summary(const job *j, const calib_metrics *fm) {
  const calib_cli *c = j->c;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  int counts[3];
  calib_count_precisions(j->final, counts);
  size_t ob = qi_calibrator_observer_bytes(j->cal);
  printf("samples       %lld\n", (long long)qi_calibrator_num_samples(j->cal));
  printf("time          %.2f s (calibration %.2f s)\n", calib_now() - j->t_start, j->t_calib);
  printf("observers     %.2f MiB (%zu bytes)\n", (double)ob / 1048576.0, ob);
  printf("peak RSS      %.1f MiB\n", (double)ru.ru_maxrss / 1024.0);
  printf("output        %s\n", c->output);
  printf("nodes         %d: %d int8, %d fp16, %d fp32\n", qi_model_num_nodes(j->final),
         counts[QI_PREC_INT8], counts[QI_PREC_FP16], counts[QI_PREC_FP32]);
  if (fm) {
    char db[32];
    printf("vs FP32       SQNR %s dB, cosine %.6f, top-1 agreement ",
           calib_db_str(fm->sqnr_db, db, sizeof db), fm->cosine);
    if (isnan(fm->top1))
      printf("n/a");
    else
      printf("%.1f%%", 100.0 * fm->top1);
    printf(" (%d samples)\n", calib_eval_count(j->eval));
  }
  if (c->report) printf("report        %s\n", c->report);
  if (c->export_qdq) printf("qdq onnx      %s\n", c->export_qdq);
}

static int finish(job *j) {
  const calib_cli *c = j->c;
  qi_error e;
  if (qi_model_save(j->final, c->output, &e) != QI_OK) return failed(NULL, &e);
  j->output_created = 0;
  if (c->export_qdq &&
      qi_calibrator_export_qdq(j->cal, c->export_qdq, c->qdq_reduce_range, &e) != QI_OK)
    return failed("--export-qdq", &e);
  calib_metrics fm;
  int have = 0;
  if (j->eval) {
    if (calib_eval_model(j->eval, j->final, &fm, NULL, &e) != QI_OK)
      return failed("comparing with FP32", &e);
    have = 1;
  }
  if (c->auto_mode && !c->quiet) calib_auto_print(c, &j->layers, stdout);
  if (c->report) {
    calib_run_info run = {qi_calibrator_num_samples(j->cal), j->t_calib,
                          qi_calibrator_observer_bytes(j->cal), calib_data_describe(j->data)};
    if (calib_report_write(c, j->cal, j->final, &j->layers, &fm, j->eval, &run, &e) != QI_OK)
      return failed(NULL, &e);
  }
  if (!c->quiet) summary(j, have ? &fm : NULL);
  if (c->auto_mode && !j->layers.budget_met && j->fell_back) {
    fprintf(stderr,
            "calibrate: warning: the --auto budget is not met even with every "
            "candidate layer in FP32; wrote the most accurate assignment to '%s'\n",
            c->output);
  } else if (c->auto_mode && !j->layers.budget_met) {
    fprintf(stderr,
            "calibrate: the --auto budget is not met even with every candidate "
            "layer in FP32; wrote the most accurate assignment to '%s'\n",
            c->output);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  qi_tools_stop_openblas_threads();
  calib_cli c;
  int rc = calib_parse_args(argc, argv, &c);
  if (rc == 1) return 0;
  if (rc) return 2;
  job j;
  memset(&j, 0, sizeof j);
  j.c = &c;
  j.t_start = calib_now();
  rc = check_paths(&j);
  if (!rc) rc = open_all(&j);
  if (!rc) rc = feed(&j);
  j.t_calib = calib_now() - j.t_start;
  if (!rc) rc = build(&j);
  if (!rc) rc = finish(&j);
  /* Do not leave an empty output behind a failure. */
  if (j.output_created) remove(c.output);
  qi_model_free(j.final);
  calib_layers_free(&j.layers);
  calib_eval_free(j.eval);
  calib_data_free(j.data);
  qi_calibrator_free(j.cal);
  free(j.specs);
  free(j.spec_paths);
  return rc;
}
