/* --report FILE.md: what was calibrated, the built model against FP32, and
 * one row per layer of the FP32 model; FILE.png charts each layer's error.
 *
 * Per-layer error: the public API reads model outputs only (qi_session_run
 * cannot bind an intermediate tensor), so a layer's own output cannot be
 * compared. Its error is measured where it can be: the SQNR of the model
 * outputs when that layer alone runs INT8 (the sensitivity sweep). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

/* Chart: bar height = CHART_TOP_DB - SQNR (dB), so taller is worse. */
#define CHART_TOP_DB 80.0
#define CHART_GRID_DB 10.0

static void md_cell(FILE *fp, const char *s) {
  for (; s && *s; s++) {
    if (*s == '|') fputc('\\', fp);
    fputc(*s == '\n' ? ' ' : *s, fp);
  }
}

static char *png_path_for(const char *md) {
  size_t n = strlen(md);
  char *p = malloc(n + 5);
  if (!p) return NULL;
  memcpy(p, md, n + 1);
  if (n > 3 && !strcmp(md + n - 3, ".md")) p[n - 3] = '\0';
  strcat(p, ".png");
  return p;
}

static void metrics_row(FILE *fp, const char *what, const calib_metrics *m) {
  char db[32];
  fprintf(fp, "| %s | %s | %.6f | ", what, calib_db_str(m->sqnr_db, db, sizeof db), m->cosine);
  if (isnan(m->top1))
    fprintf(fp, "n/a");
  else
    fprintf(fp, "%.1f%%", 100.0 * m->top1);
  fprintf(fp, " | %.3f |\n", m->ms);
}

/* Precision, scale and zero point of FP32 node y in the built model. */
static const char *layer_in_model(const qi_model *m, const calib_layer *y, const qi_tensor_info **q,
                                  qi_tensor_info *buf) {
  *q = NULL;
  int bi = calib_find_node(m, y->name, y->out);
  qi_node_info ni;
  if (bi < 0 || qi_model_node_info(m, bi, &ni, NULL) != QI_OK) return "(removed)";
  if (y->out) {
    char twin[1024];
    snprintf(twin, sizeof twin, "%s:u8", y->out);
    if ((qi_model_tensor_info(m, twin, buf, NULL) == QI_OK && buf->quantized) ||
        (qi_model_tensor_info(m, y->out, buf, NULL) == QI_OK && buf->quantized))
      *q = buf;
  }
  return calib_precision_name(ni.precision);
}

/* The layer's measured time in the precision it has in the written model
 * (-1: unknown). */
static double time_as_built(const calib_layer *y, const char *prec) {
  if (!strcmp(prec, "int8")) return y->int8_ms;
  if (!strcmp(prec, "fp16")) return y->fp16_ms;
  if (!strcmp(prec, "fp32")) return y->fp32_ms;
  return -1;
}

static void write_layers(FILE *fp, const calib_cli *c, qi_calibrator *cal, const qi_model *final,
                         const calib_layers *l) {
  const qi_model *fp32 = qi_calibrator_model(cal);
  double total = 0;
  for (int i = 0; i < l->n; i++) {
    const qi_tensor_info *q;
    qi_tensor_info qbuf;
    double ms = time_as_built(&l->v[i], layer_in_model(final, &l->v[i], &q, &qbuf));
    if (ms > 0) total += ms;
  }
  fprintf(fp,
          "| # | node | op | output shape | precision | scale | zero point "
          "| SQNR alone (dB) | int8 ms | fp16 ms | fp32 ms | share of latency |%s\n",
          c->auto_mode ? " auto |" : "");
  fprintf(fp, "|---|---|---|---|---|---|---|---|---|---|---|---|%s\n",
          c->auto_mode ? "---|" : "");
  for (int i = 0; i < l->n; i++) {
    const calib_layer *y = &l->v[i];
    qi_tensor_info t, qbuf;
    const qi_tensor_info *q;
    char shape[160] = "?", db[32] = "-", i8[16] = "-", f16[16] = "-", f32[16] = "-";
    if (y->out && qi_model_tensor_info(fp32, y->out, &t, NULL) == QI_OK)
      calib_shape_str(t.shape, t.rank, shape, sizeof shape);
    const char *prec = layer_in_model(final, y, &q, &qbuf);
    if (y->swept) calib_db_str(y->alone.sqnr_db, db, sizeof db);
    if (y->int8_ms >= 0) snprintf(i8, sizeof i8, "%.3f", y->int8_ms);
    if (y->fp16_ms >= 0) snprintf(f16, sizeof f16, "%.3f", y->fp16_ms);
    if (y->fp32_ms >= 0) snprintf(f32, sizeof f32, "%.3f", y->fp32_ms);
    fprintf(fp, "| %d | ", i);
    md_cell(fp, y->name);
    fprintf(fp, " | ");
    md_cell(fp, y->op);
    fprintf(fp, " | %s | %s | ", shape, prec);
    if (q)
      fprintf(fp, "%.6g | %d", (double)q->scale, (int)q->zero_point);
    else
      fprintf(fp, "- | -");
    double ms = time_as_built(y, prec);
    char share[16] = "-";
    if (ms >= 0 && total > 0) snprintf(share, sizeof share, "%.1f%%", 100.0 * ms / total);
    fprintf(fp, " | %s | %s | %s | %s | %s |", db, i8, f16, f32, share);
    if (c->auto_mode)
      fprintf(fp, " %s |",
              y->state == CALIB_LAYER_LOCKED      ? "as given"
              : y->state == CALIB_LAYER_FP32_ONLY ? "-"
              : y->moved                          ? calib_precision_name(y->float_prec)
                                                  : "int8");
    fprintf(fp, "\n");
  }
}

static qi_status write_chart(const char *png, const calib_cli *c, qi_calibrator *cal,
                             const qi_model *final, const calib_layers *l, int *bars,
                             qi_error *err) {
  (void)cal;
  double *v = calloc((size_t)(l->n > 0 ? l->n : 1), sizeof *v);
  int *cls = calloc((size_t)(l->n > 0 ? l->n : 1), sizeof *cls);
  if (!v || !cls) {
    free(v);
    free(cls);
    err->status = QI_ERR_NOMEM;
    snprintf(err->message, sizeof err->message, "out of memory");
    return QI_ERR_NOMEM;
  }
  int n = 0;
  for (int i = 0; i < l->n; i++) {
    const calib_layer *y = &l->v[i];
    if (!y->swept) continue;
    double s = y->alone.sqnr_db;
    v[n] = isnan(s) ? 0 : CHART_TOP_DB - (isinf(s) ? (s > 0 ? CHART_TOP_DB : 0) : s);
    qi_tensor_info buf;
    const qi_tensor_info *q;
    const char *prec = layer_in_model(final, y, &q, &buf);
    cls[n++] = !strcmp(prec, "int8") ? 0 : 1;
  }
  double line = -1;
  if (c->auto_mode && (c->has_min_sqnr || !c->has_max_drop))
    line = CHART_TOP_DB - (c->has_min_sqnr ? c->min_sqnr : CALIB_DEFAULT_MIN_SQNR_DB);
  qi_status st =
      calib_png_bars(png, v, cls, n, CHART_TOP_DB, CHART_GRID_DB, CHART_TOP_DB, line, err);
  free(v);
  free(cls);
  *bars = n;
  return st;
}

qi_status calib_report_write(const calib_cli *c, qi_calibrator *cal, const qi_model *final,
                             const calib_layers *l, const calib_metrics *fm, const calib_eval *e,
                             const calib_run_info *run, qi_error *err) {
  char *png = png_path_for(c->report);
  FILE *fp = png ? fopen(c->report, "w") : NULL;
  if (!fp) {
    free(png);
    err->status = QI_ERR_IO;
    snprintf(err->message, sizeof err->message, "cannot create '%s'", c->report);
    return QI_ERR_IO;
  }
  int bars = 0;
  qi_status st = write_chart(png, c, cal, final, l, &bars, err);
  const char *png_name = strrchr(png, '/') ? strrchr(png, '/') + 1 : png;
  fprintf(fp, "# Calibration report\n\n");
  fprintf(fp, "- model: `%s` -> `%s`\n", c->model, c->output);
  fprintf(fp,
          "- samples: %lld calibration; the first %d kept for the "
          "comparisons below\n",
          (long long)run->samples, calib_eval_count(e));
  fprintf(fp, "- method: %s", calib_method_name(c->calib.method));
  if (c->calib.method_param != 0) fprintf(fp, " (param %g)", (double)c->calib.method_param);
  fprintf(fp, ", %d histogram bins, default precision %s%s\n",
          c->calib.histogram_bins ? c->calib.histogram_bins : 2048,
          calib_precision_name(c->calib.default_precision),
          !c->calib.uniform_precision && c->calib.default_precision == QI_PREC_INT8
              ? " (output layers FP32 by the default policy)"
              : " on every node");
  for (int i = 0; i < c->noverrides; i++)
    fprintf(fp, "- override: --%s `%s`\n", calib_precision_name(c->overrides[i].precision),
            c->overrides[i].patterns);
  if (run->preprocessing && *run->preprocessing) fprintf(fp, "- %s\n", run->preprocessing);
  int counts[3];
  calib_count_precisions(final, counts);
  fprintf(fp, "- calibration time %.1f s, observer memory %zu bytes\n", run->seconds,
          run->observer_bytes);
  fprintf(fp, "- built model: %d nodes: %d int8, %d fp16, %d fp32\n\n", qi_model_num_nodes(final),
          counts[QI_PREC_INT8], counts[QI_PREC_FP16], counts[QI_PREC_FP32]);

  fprintf(fp, "## Model outputs against FP32\n\n");
  fprintf(fp,
          "SQNR and cosine are the worst over the float outputs; top-1 "
          "is the arg-max agreement along the last axis of the first "
          "output.\n\n");
  fprintf(fp, "| model | SQNR (dB) | cosine | top-1 agreement | ms/run |\n");
  fprintf(fp, "|---|---|---|---|---|\n");
  if (l->swept) metrics_row(fp, "fp32", &l->fp32);
  if (l->swept && l->auto_done) metrics_row(fp, "baseline (before --auto)", &l->base);
  metrics_row(fp, "written model", fm);
  fprintf(fp, "\n| output | SQNR (dB) | cosine |\n|---|---|---|\n");
  for (int k = 0; k < fm->noutputs; k++) {
    char db[32];
    fprintf(fp, "| ");
    md_cell(fp, calib_output_name(e, k));
    fprintf(fp, " | %s | %.6f |\n", calib_db_str(fm->out_sqnr[k], db, sizeof db),
            fm->out_cosine[k]);
  }

  fprintf(fp, "\n## Layers\n\n");
  fprintf(fp,
          "One row per node of the FP32 model. Precision, scale and zero "
          "point are those of the written model (the node's output tensor, "
          "or its uint8 twin). The SQNR of each node's own output cannot be "
          "measured through the public API, which reads model outputs only; "
          "*SQNR alone* is the SQNR of the model outputs when that node "
          "alone runs INT8 and everything else FP32 (- : not swept: no INT8 "
          "form, fixed by an override, or a name that selects other nodes "
          "too). Times are per run from `qi_session_profile` (int8: the "
          "baseline build; fp16: a build with every node that has an FP16 "
          "form in FP16); *share of latency* is the layer's time in its "
          "written precision over the sum of those times (conversions "
          "between precisions not counted).\n\n");
  write_layers(fp, c, cal, final, l);
  fprintf(fp, "\n## Per-layer error chart\n\n");
  if (bars)
    fprintf(fp,
            "![per-layer error](%s)\n\nOne bar per swept layer, in model "
            "order; bar height = %.0f dB - SQNR alone, so taller is worse; "
            "gridlines every %.0f dB are labelled with the SQNR they mean. "
            "Blue: INT8 in the written model, red: FP32.%s\n",
            png_name, CHART_TOP_DB, CHART_GRID_DB,
            c->auto_mode ? " Orange: the --auto SQNR budget." : "");
  else
    fprintf(fp, "No layer was swept (nothing runs INT8), so `%s` has no bars.\n", png_name);
  if (fclose(fp) != 0 && st == QI_OK) {
    err->status = st = QI_ERR_IO;
    snprintf(err->message, sizeof err->message, "write error on '%s'", c->report);
  }
  free(png);
  return st;
}
