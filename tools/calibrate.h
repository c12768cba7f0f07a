/* `calibrate`: post-training INT8 calibration from the command line, on top
 * of the public qi_calibrator_* API. This header ties the tool's files
 * together:
 *   calibrate.c           main: calibrate, build, save, summary
 *   calibrate_args.c      command-line parsing
 *   calibrate_data.c      samples (.npy and images); calibrate_files.c,
 *                         calibrate_npy.c underneath
 *   calibrate_build.c     precision overrides, node mapping, counts
 *   calibrate_eval.c      quantized vs FP32 on a few kept samples
 *   calibrate_auto.c      per-layer sensitivity and --auto
 *   calibrate_report.c    --report Markdown; calibrate_png.c its chart
 *   calibrate_progress.c  progress bar / periodic lines */
#ifndef QI_TOOLS_CALIBRATE_H
#define QI_TOOLS_CALIBRATE_H

#include <stdint.h>
#include <stdio.h>

#include "calibrate_data.h"
#include "qinfer.h"

#define CALIB_MAX_ARGS 256
#define CALIB_MAX_OUTPUTS 16
/* Budget of --auto when neither --min-sqnr nor --max-drop is given. */
#define CALIB_DEFAULT_MIN_SQNR_DB 25.0
/* Without --precision or --auto, a default build whose output SQNR on the
 * kept samples is under this falls back to --auto (--no-fallback: not).
 * Measured (docs/accuracy.md): builds above it met every accuracy target,
 * the two under it (YOLOX-Nano 7.3 dB, PP-OCRv4 13.2 dB) gain from --auto. */
#define CALIB_FALLBACK_MIN_SQNR_DB 20.0
/* Samples kept to compare quantized and FP32 outputs (--eval-samples). */
#define CALIB_DEFAULT_EVAL_SAMPLES 8

/* One --int8/--fp16/--fp32 PATTERNS option, in command-line order. */
typedef struct calib_override {
  qi_precision precision;
  const char *patterns; /* argv string: comma-separated globs */
} calib_override;

typedef struct calib_data_input {
  char name[256];
  const char *path; /* argv string */
} calib_data_input;

typedef struct calib_cli {
  const char *model, *output, *report;
  const char *export_qdq; /* --export-qdq OUT.onnx, or NULL */
  int qdq_reduce_range;   /* --qdq-reduce-range */
  const char *data[CALIB_MAX_ARGS];
  int ndata;
  calib_data_input data_inputs[CALIB_MAX_ARGS];
  int ndata_inputs;
  calib_image_opts img;
  int64_t limit;
  unsigned shuffle;       /* 0: file order; else the seed */
  qi_calib_options calib; /* method, param, bins, threads, precision */
  calib_override overrides[CALIB_MAX_ARGS];
  int noverrides;
  qi_input_shape shapes[CALIB_MAX_ARGS];
  char shape_names[CALIB_MAX_ARGS][256];
  int nshapes;
  int quiet;
  int auto_mode;
  int no_fallback;
  int has_min_sqnr, has_max_drop;
  double min_sqnr; /* dB, over every float output */
  double max_drop; /* percent of top-1 agreement with FP32 lost */
  int eval_samples;
} calib_cli;

/* 0: parsed; 1: --help was printed (exit 0); 2: a usage error was printed
 * on stderr (exit 2). */
int calib_parse_args(int argc, char **argv, calib_cli *c);
const char *calib_method_name(qi_calib_method m);
const char *calib_precision_name(qi_precision p);

/* ---- building (calibrate_build.c) ---------------------------------------- */

/* Clears the calibrator's overrides, applies the user's in order, then
 * nodes[i] (node names, matched literally) in precs[i]. Errors name the
 * option. */
qi_status calib_apply_precision(qi_calibrator *cal, const calib_cli *c,
                                const char *const *nodes, const qi_precision *precs, int n,
                                qi_error *err);
/* A pattern matching exactly the node named `name`: glob characters (and
 * the list separator) become '?'. Caller frees. NULL if out of memory. */
char *calib_literal_pattern(const char *name);
/* '*' and '?' glob, as the calibrator matches node names and op types. */
int calib_glob(const char *pattern, const char *s);
/* Whether any user --int8/--fp16/--fp32 pattern matches the node. */
int calib_user_matches(const calib_cli *c, const char *name, const char *op);
/* The node of a built model that computes the FP32 node `name` whose first
 * output is `out`: same name, else the producer of `out`:u8 (INT8) or of
 * `out` (FP32) other than the Qi conversion ops. -1 if none. */
int calib_find_node(const qi_model *built, const char *name, const char *out);
/* Nodes of `m` per precision, indexed by qi_precision. */
void calib_count_precisions(const qi_model *m, int counts[3]);

/* ---- comparing with FP32 (calibrate_eval.c) ------------------------------ */

typedef struct calib_metrics {
  double sqnr_db; /* min over float outputs; INFINITY when identical */
  double cosine;  /* min over float outputs */
  double top1;    /* arg-max agreement along the last axis of output 0,
                   * 0..1; NAN when output 0 is not float */
  double ms;      /* mean wall time of one qi_session_run */
  int noutputs;
  double out_sqnr[CALIB_MAX_OUTPUTS], out_cosine[CALIB_MAX_OUTPUTS];
} calib_metrics;

/* Per-node time of one model, from qi_session_profile. */
typedef struct calib_timing {
  int n;
  char **names; /* owned */
  double *ms;   /* per run */
} calib_timing;

typedef struct calib_eval calib_eval;

/* Keeps up to `capacity` samples with their FP32 outputs from `fp32`
 * (borrowed; must outlive the eval). */
qi_status calib_eval_create(const qi_model *fp32, int capacity, int threads, calib_eval **out,
                            qi_error *err);
void calib_eval_free(calib_eval *e);
int calib_eval_count(const calib_eval *e);
int calib_eval_full(const calib_eval *e);
/* Copies the sample and computes its FP32 reference. */
qi_status calib_eval_keep(calib_eval *e, const qi_binding *inputs, qi_error *err);
/* Runs `m` on the kept samples and compares with the references. With
 * `timing`, profiles the runs (caller frees with calib_timing_free). */
qi_status calib_eval_model(calib_eval *e, const qi_model *m, calib_metrics *out,
                           calib_timing *timing, qi_error *err);
/* ms per run of node `name`, or -1. */
double calib_timing_ms(const calib_timing *t, const char *name);
void calib_timing_free(calib_timing *t);
const char *calib_output_name(const calib_eval *e, int k);
/* "42.1" or "inf" into buf. */
const char *calib_db_str(double db, char *buf, size_t len);

/* ---- per layer (calibrate_auto.c) ---------------------------------------- */

typedef enum calib_layer_state {
  CALIB_LAYER_FP32_ONLY = 0, /* not INT8 in the baseline: no INT8 form */
  CALIB_LAYER_CANDIDATE,     /* INT8 in the baseline build */
  CALIB_LAYER_LOCKED         /* not INT8 in the baseline by a user override */
} calib_layer_state;

typedef struct calib_layer {
  const char *name, *op; /* owned by the calibrator */
  const char *out;       /* first output tensor, owned by the FP32 model */
  calib_layer_state state;
  int isolatable;          /* its literal pattern matches it alone */
  int swept;               /* `alone` is valid */
  calib_metrics alone;     /* only this node INT8 */
  double int8_ms, fp32_ms, fp16_ms; /* per run; -1 when unknown */
  qi_precision float_prec; /* the faster of FP16 and FP32 for this layer */
  int moved;               /* --auto took it out of INT8 */
  int moved_for_speed;     /* ... because INT8 measured slower than float */
  int moved_all_float;     /* ... because the all-float build beat the mix */
} calib_layer;

typedef struct calib_layers {
  calib_layer *v;
  int n;
  int swept, auto_done, budget_met;
  int all_float; /* --auto chose every candidate in float: faster than its mix */
  calib_metrics base; /* the build from the command-line precisions */
  calib_metrics fp32; /* the FP32 model itself (timing) */
  calib_metrics fp16; /* every node that has an FP16 form in FP16 */
} calib_layers;

/* Layers of the FP32 model and which are candidates in `baseline` (the
 * build from the user's precisions). */
qi_status calib_layers_init(qi_calibrator *cal, const calib_cli *c, const qi_model *baseline,
                            calib_layers *l, qi_error *err);
void calib_layers_free(calib_layers *l);
/* Sensitivity: for every candidate, a build with it alone INT8, compared
 * with FP32 on the kept samples. Also per-node timings of the baseline and
 * of the FP32 model. */
qi_status calib_sweep(qi_calibrator *cal, const calib_cli *c, calib_eval *e,
                      const qi_model *baseline, calib_layers *l, qi_error *err);
/* --auto: from the baseline, first moves every candidate whose INT8 form
 * measured slower than its faster float form (FP16 or FP32) to that form,
 * then the most sensitive candidates until the budget holds, then tries to
 * give each of the latter back to INT8. *final is the chosen model
 * (caller-owned). */
qi_status calib_auto(qi_calibrator *cal, const calib_cli *c, calib_eval *e, calib_layers *l,
                     qi_model **final, qi_error *err);
void calib_auto_print(const calib_cli *c, const calib_layers *l, FILE *fp);

/* ---- report (calibrate_report.c, calibrate_png.c) ------------------------ */

typedef struct calib_run_info {
  int64_t samples;
  double seconds;
  size_t observer_bytes;
  const char *preprocessing; /* "" for .npy data */
} calib_run_info;

qi_status calib_report_write(const calib_cli *c, qi_calibrator *cal, const qi_model *final,
                             const calib_layers *l, const calib_metrics *final_metrics,
                             const calib_eval *e, const calib_run_info *run, qi_error *err);
/* Bar chart: bar i has height values[i] in 0..vmax and color classes[i]
 * (0 blue, 1 red, 2 gray); a horizontal orange line at `line` if >= 0;
 * gridlines every `grid` units labelled with label0 - k * grid. */
qi_status calib_png_bars(const char *path, const double *values, const int *classes, int n,
                         double vmax, double grid, double label0, double line, qi_error *err);

/* ---- progress (calibrate_progress.c) ------------------------------------- */

typedef struct calib_progress {
  int mode; /* 0 silent, 1 TTY bar, 2 periodic lines */
  const char *label;
  int64_t total, done;
  double t0, last; /* seconds */
  int last_decile;
  int64_t drawn; /* `done` when the bar was last drawn */
} calib_progress;

double calib_now(void);
void calib_progress_start(calib_progress *p, const char *label, int64_t total, int quiet);
void calib_progress_step(calib_progress *p, int64_t done);
void calib_progress_end(calib_progress *p);

#endif
