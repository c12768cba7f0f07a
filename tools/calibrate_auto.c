/* Per-layer sensitivity and --auto precision selection.
 *
 * Sensitivity of layer i: build with every node FP32 but i, run the kept
 * samples, compare the outputs with FP32 (calibrate_eval.c). Latency of
 * layer i in INT8, FP16 and FP32: the profiler's per-node times in three
 * builds (the baseline, all-FP16, the FP32 model). A layer leaving INT8
 * goes to the faster of FP16 and FP32 on this machine.
 *
 * --auto starts from the build of the command-line precisions (normally
 * INT8 with the default policy). Layers whose INT8 time exceeds their float
 * time by AUTO_SPEED_MARGIN leave INT8 first, as a group, and stay out only
 * if the whole model then runs faster (the conversions around a lone float
 * layer cost time the per-node figures do not show). Then, while the budget
 * fails, the next most sensitive layer leaves INT8; once it holds, each of
 * those is tried back in INT8 (least sensitive first) and kept there if the
 * budget still holds, so that no layer stays in float that neither the
 * budget nor speed needed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

/* At most this many give-back builds after the budget first holds. */
#define AUTO_MAX_GIVE_BACK 32
/* INT8 counts as slower than float when its per-node time exceeds the
 * float time by this factor plus AUTO_SPEED_SLACK_MS: the profile of a few
 * runs jitters by some percent, and tiny nodes by microseconds. */
#define AUTO_SPEED_MARGIN 1.15
#define AUTO_SPEED_SLACK_MS 0.005

static qi_status nomem(qi_error *err) {
  err->status = QI_ERR_NOMEM;
  snprintf(err->message, sizeof err->message, "out of memory");
  return QI_ERR_NOMEM;
}

static const char *first_output(const qi_model *m, int i, const char *name) {
  qi_node_info ni;
  if (qi_model_node_info(m, i, &ni, NULL) == QI_OK && ni.name && !strcmp(ni.name, name) &&
      ni.num_outputs > 0)
    return ni.outputs[0];
  for (int j = 0; j < qi_model_num_nodes(m); j++)
    if (qi_model_node_info(m, j, &ni, NULL) == QI_OK && ni.name && !strcmp(ni.name, name) &&
        ni.num_outputs > 0)
      return ni.outputs[0];
  return NULL;
}

/* Whether the literal pattern of node i selects node i only. */
static int isolatable(const qi_calibrator *cal, int i) {
  const char *name = qi_calibrator_node_name(cal, i);
  if (!name || !*name) return 0;
  char *lit = calib_literal_pattern(name);
  if (!lit) return 0;
  int hits = 0;
  for (int j = 0; j < qi_calibrator_num_nodes(cal); j++) {
    const char *nj = qi_calibrator_node_name(cal, j);
    const char *oj = qi_calibrator_node_op(cal, j);
    hits += calib_glob(lit, nj ? nj : "") || calib_glob(lit, oj ? oj : "");
  }
  free(lit);
  return hits == 1;
}

qi_status calib_layers_init(qi_calibrator *cal, const calib_cli *c, const qi_model *baseline,
                            calib_layers *l, qi_error *err) {
  memset(l, 0, sizeof *l);
  const qi_model *fp32 = qi_calibrator_model(cal);
  l->n = qi_calibrator_num_nodes(cal);
  l->v = calloc((size_t)(l->n > 0 ? l->n : 1), sizeof *l->v);
  if (!l->v) return nomem(err);
  for (int i = 0; i < l->n; i++) {
    calib_layer *y = &l->v[i];
    y->name = qi_calibrator_node_name(cal, i);
    y->op = qi_calibrator_node_op(cal, i);
    if (!y->name) y->name = "";
    if (!y->op) y->op = "";
    y->out = first_output(fp32, i, y->name);
    y->isolatable = isolatable(cal, i);
    y->int8_ms = y->fp32_ms = y->fp16_ms = -1;
    y->float_prec = QI_PREC_FP32;
    int bi = calib_find_node(baseline, y->name, y->out);
    qi_node_info ni;
    int int8 = bi >= 0 && qi_model_node_info(baseline, bi, &ni, NULL) == QI_OK &&
               ni.precision == QI_PREC_INT8;
    /* INT8 in the baseline (by default or by --int8): --auto may move it.
     * Otherwise it stays as the user's overrides or lowering left it. */
    if (int8)
      y->state = CALIB_LAYER_CANDIDATE;
    else
      y->state = calib_user_matches(c, y->name, y->op) ? CALIB_LAYER_LOCKED : CALIB_LAYER_FP32_ONLY;
  }
  return QI_OK;
}

void calib_layers_free(calib_layers *l) {
  if (!l) return;
  free(l->v);
  memset(l, 0, sizeof *l);
}

static int sweepable(const calib_layer *y) {
  return y->state == CALIB_LAYER_CANDIDATE && y->isolatable;
}

/* Builds with only layer y in INT8 and measures it. */
static qi_status measure_alone(qi_calibrator *cal, calib_eval *e, calib_layer *y, qi_error *err) {
  qi_calibrator_clear_precision(cal);
  CALIB_TRY(qi_calibrator_set_precision(cal, "*", QI_PREC_FP32, err));
  char *lit = calib_literal_pattern(y->name);
  if (!lit) return nomem(err);
  qi_status st = qi_calibrator_set_precision(cal, lit, QI_PREC_INT8, err);
  free(lit);
  qi_model *m = NULL;
  if (st == QI_OK) st = qi_calibrator_build(cal, &m, err);
  if (st == QI_OK) st = calib_eval_model(e, m, &y->alone, NULL, err);
  qi_model_free(m);
  if (st != QI_OK) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%s", err->message);
    snprintf(err->message, sizeof err->message, "sensitivity of node '%.100s': %.380s", y->name,
             msg);
    return st;
  }
  y->swept = 1;
  return QI_OK;
}

/* Per-node times of a build with every node that has an FP16 form in
 * FP16 (the rest as the FP16 lowering leaves them, FP32). */
static qi_status time_fp16(qi_calibrator *cal, calib_eval *e, calib_layers *l,
                           calib_timing *th, qi_error *err) {
  qi_calibrator_clear_precision(cal);
  CALIB_TRY(qi_calibrator_set_precision(cal, "*", QI_PREC_FP16, err));
  qi_model *m = NULL;
  CALIB_TRY(qi_calibrator_build(cal, &m, err));
  qi_status st = calib_eval_model(e, m, &l->fp16, th, err);
  qi_model_free(m);
  return st;
}

qi_status calib_sweep(qi_calibrator *cal, const calib_cli *c, calib_eval *e,
                      const qi_model *baseline, calib_layers *l, qi_error *err) {
  calib_timing tb, tf, th;
  memset(&th, 0, sizeof th);
  CALIB_TRY(calib_eval_model(e, baseline, &l->base, &tb, err));
  qi_status st = calib_eval_model(e, qi_calibrator_model(cal), &l->fp32, &tf, err);
  if (st == QI_OK) st = time_fp16(cal, e, l, &th, err);
  if (st != QI_OK) {
    calib_timing_free(&tb);
    calib_timing_free(&tf);
    calib_timing_free(&th);
    return st;
  }
  int total = 0;
  for (int i = 0; i < l->n; i++) {
    calib_layer *y = &l->v[i];
    y->fp32_ms = calib_timing_ms(&tf, y->name);
    y->fp16_ms = calib_timing_ms(&th, y->name);
    /* FP16 only when clearly faster: it rounds where FP32 does not. */
    if (y->fp16_ms >= 0 && y->fp32_ms > y->fp16_ms * AUTO_SPEED_MARGIN + AUTO_SPEED_SLACK_MS)
      y->float_prec = QI_PREC_FP16;
    int bi = calib_find_node(baseline, y->name, y->out);
    qi_node_info ni;
    if (bi >= 0 && qi_model_node_info(baseline, bi, &ni, NULL) == QI_OK &&
        ni.precision == QI_PREC_INT8)
      y->int8_ms = calib_timing_ms(&tb, ni.name);
    total += sweepable(y);
  }
  calib_timing_free(&tb);
  calib_timing_free(&tf);
  calib_timing_free(&th);
  calib_progress p;
  calib_progress_start(&p, "sensitivity", total, c->quiet);
  int done = 0;
  for (int i = 0; st == QI_OK && i < l->n; i++) {
    if (!sweepable(&l->v[i])) continue;
    st = measure_alone(cal, e, &l->v[i], err);
    calib_progress_step(&p, ++done);
  }
  calib_progress_end(&p);
  /* Leave the calibrator with the command-line precisions. */
  qi_error e2;
  qi_status st2 = calib_apply_precision(cal, c, NULL, NULL, 0, &e2);
  if (st == QI_OK && st2 != QI_OK) {
    *err = e2;
    st = st2;
  }
  l->swept = st == QI_OK;
  return st;
}

static int within_budget(const calib_cli *c, const calib_metrics *m) {
  double min_sqnr = c->has_min_sqnr   ? c->min_sqnr
                    : c->has_max_drop ? -INFINITY
                                      : CALIB_DEFAULT_MIN_SQNR_DB;
  if (!(m->sqnr_db >= min_sqnr)) return 0;
  if (c->has_max_drop && !(100.0 * (1.0 - m->top1) <= c->max_drop + 1e-9)) return 0;
  return 1;
}

/* The layers --auto took out of INT8, in order, with their float form. */
typedef struct moved_set {
  calib_layer **layer;
  const char **name;
  qi_precision *prec;
  int n;
} moved_set;

static void moved_push(moved_set *s, calib_layer *y) {
  s->layer[s->n] = y;
  s->name[s->n] = y->name;
  s->prec[s->n++] = y->float_prec;
}

/* Removes entry j and returns it. */
static calib_layer *moved_remove(moved_set *s, int j) {
  calib_layer *y = s->layer[j];
  int tail = s->n - 1 - j;
  memmove(&s->layer[j], &s->layer[j + 1], sizeof *s->layer * (size_t)tail);
  memmove(&s->name[j], &s->name[j + 1], sizeof *s->name * (size_t)tail);
  memmove(&s->prec[j], &s->prec[j + 1], sizeof *s->prec * (size_t)tail);
  s->n--;
  return y;
}

static void moved_insert(moved_set *s, int j, calib_layer *y) {
  int tail = s->n - j;
  memmove(&s->layer[j + 1], &s->layer[j], sizeof *s->layer * (size_t)tail);
  memmove(&s->name[j + 1], &s->name[j], sizeof *s->name * (size_t)tail);
  memmove(&s->prec[j + 1], &s->prec[j], sizeof *s->prec * (size_t)tail);
  s->layer[j] = y;
  s->name[j] = y->name;
  s->prec[j] = y->float_prec;
  s->n++;
}

/* Builds with the user's precisions plus the moved layers in their float
 * forms and measures. */
static qi_status try_assignment(qi_calibrator *cal, const calib_cli *c, calib_eval *e,
                                const moved_set *s, calib_metrics *m, qi_model **keep,
                                qi_error *err) {
  CALIB_TRY(calib_apply_precision(cal, c, s->name, s->prec, s->n, err));
  qi_model *model = NULL;
  CALIB_TRY(qi_calibrator_build(cal, &model, err));
  qi_status st = calib_eval_model(e, model, m, NULL, err);
  if (st == QI_OK && keep)
    *keep = model;
  else
    qi_model_free(model);
  return st;
}

static int cmp_sensitivity(const void *a, const void *b) {
  const calib_layer *x = *(const calib_layer *const *)a;
  const calib_layer *y = *(const calib_layer *const *)b;
  double sx = x->alone.sqnr_db, sy = y->alone.sqnr_db;
  if (sx != sy) return sx < sy ? -1 : 1;
  if (x->alone.cosine != y->alone.cosine) return x->alone.cosine < y->alone.cosine ? -1 : 1;
  return x < y ? -1 : (x > y);
}

static double float_ms(const calib_layer *y) {
  return y->float_prec == QI_PREC_FP16 ? y->fp16_ms : y->fp32_ms;
}

static int int8_slower(const calib_layer *y) {
  double f = float_ms(y);
  return y->int8_ms >= 0 && f >= 0 && y->int8_ms > f * AUTO_SPEED_MARGIN + AUTO_SPEED_SLACK_MS;
}

/* Moves every INT8-slower layer to float; keeps the group only if the
 * whole model got faster. Updates *m and the budget when it keeps it. */
static qi_status move_for_speed(qi_calibrator *cal, const calib_cli *c, calib_eval *e,
                                calib_layers *l, calib_layer **order, int norder, moved_set *s,
                                calib_metrics *m, qi_error *err) {
  for (int k = 0; k < norder; k++)
    if (int8_slower(order[k])) moved_push(s, order[k]);
  if (s->n == 0) return QI_OK;
  calib_metrics t;
  CALIB_TRY(try_assignment(cal, c, e, s, &t, NULL, err));
  if (!(t.ms < m->ms)) {
    s->n = 0;
    return QI_OK;
  }
  for (int k = 0; k < s->n; k++) s->layer[k]->moved_for_speed = 1;
  *m = t;
  l->budget_met = within_budget(c, m);
  return QI_OK;
}

/* When the chosen mix of INT8 and float runs slower than every candidate
 * in FP32 (the conversions between scattered float and INT8 layers cost
 * more than INT8 saves), the all-FP32 assignment is both faster and more
 * accurate: take it. FP32 throughout, not each layer's faster float form:
 * a lone FP16 layer pays conversions of its own. */
static qi_status prefer_all_float(qi_calibrator *cal, const calib_cli *c, calib_eval *e,
                                  calib_layers *l, calib_layer **order, int norder, moved_set *s,
                                  calib_metrics *m, qi_model **final, qi_error *err) {
  int n0 = s->n;
  qi_precision *keep = malloc(sizeof *keep * (size_t)(n0 > 0 ? n0 : 1));
  if (!keep) return nomem(err);
  memcpy(keep, s->prec, sizeof *keep * (size_t)n0);
  for (int k = 0; k < norder; k++)
    if (!order[k]->moved) moved_push(s, order[k]);
  for (int k = 0; k < s->n; k++) s->prec[k] = QI_PREC_FP32;
  calib_metrics t;
  qi_model *alt = NULL;
  qi_status st = try_assignment(cal, c, e, s, &t, &alt, err);
  if (st != QI_OK || !(t.ms < m->ms) || !within_budget(c, &t)) {
    qi_model_free(alt);
    s->n = n0;
    memcpy(s->prec, keep, sizeof *keep * (size_t)n0);
    free(keep);
    return st;
  }
  free(keep);
  for (int k = 0; k < s->n; k++) s->layer[k]->float_prec = QI_PREC_FP32;
  for (int k = n0; k < s->n; k++) s->layer[k]->moved = s->layer[k]->moved_all_float = 1;
  qi_model_free(*final);
  *final = alt;
  *m = t;
  l->all_float = 1;
  return QI_OK;
}

qi_status calib_auto(qi_calibrator *cal, const calib_cli *c, calib_eval *e, calib_layers *l,
                     qi_model **final, qi_error *err) {
  *final = NULL;
  if (c->has_max_drop && isnan(l->base.top1)) {
    err->status = QI_ERR_INVALID_ARG;
    snprintf(err->message, sizeof err->message,
             "--max-drop compares the arg-max of the first output, which is "
             "not float here: use --min-sqnr");
    return QI_ERR_INVALID_ARG;
  }
  size_t cap = (size_t)(l->n > 0 ? l->n : 1);
  calib_layer **order = calloc(cap, sizeof *order);
  moved_set s = {calloc(cap, sizeof *s.layer), calloc(cap, sizeof *s.name),
                 calloc(cap, sizeof *s.prec), 0};
  if (!order || !s.layer || !s.name || !s.prec) {
    free(order);
    free(s.layer);
    free(s.name);
    free(s.prec);
    return nomem(err);
  }
  int norder = 0;
  for (int i = 0; i < l->n; i++)
    if (sweepable(&l->v[i]) && l->v[i].swept) order[norder++] = &l->v[i];
  qsort(order, (size_t)norder, sizeof *order, cmp_sensitivity);
  calib_metrics m = l->base;
  l->budget_met = within_budget(c, &m);
  qi_status st = move_for_speed(cal, c, e, l, order, norder, &s, &m, err);
  int nspeed = s.n;
  calib_progress p;
  calib_progress_start(&p, "auto search", norder, c->quiet);
  for (int k = 0; st == QI_OK && !l->budget_met && k < norder; k++) {
    if (order[k]->moved_for_speed) continue;
    moved_push(&s, order[k]);
    st = try_assignment(cal, c, e, &s, &m, NULL, err);
    l->budget_met = st == QI_OK && within_budget(c, &m);
    calib_progress_step(&p, k + 1);
  }
  calib_progress_end(&p);
  /* Give layers back to INT8, least sensitive first; the last one moved is
   * known to be needed (without it the budget failed). Speed moves stay. */
  int tries = 0;
  for (int j = s.n - 2; st == QI_OK && l->budget_met && j >= nspeed && tries < AUTO_MAX_GIVE_BACK;
       j--, tries++) {
    calib_layer *y = moved_remove(&s, j);
    st = try_assignment(cal, c, e, &s, &m, NULL, err);
    if (st == QI_OK && !within_budget(c, &m)) moved_insert(&s, j, y); /* needed */
  }
  for (int j = 0; j < s.n; j++) s.layer[j]->moved = 1;
  if (st == QI_OK) st = try_assignment(cal, c, e, &s, &m, final, err);
  if (st == QI_OK && l->budget_met && s.n > 0)
    st = prefer_all_float(cal, c, e, l, order, norder, &s, &m, final, err);
  l->auto_done = st == QI_OK;
  free(order);
  free(s.layer);
  free(s.name);
  free(s.prec);
  return st;
}

static void print_metrics(FILE *fp, const char *what, const calib_metrics *m) {
  char db[32];
  fprintf(fp, "%s: SQNR %s dB, cosine %.6f, top-1 agreement %.1f%%, %.3f ms/run\n", what,
          calib_db_str(m->sqnr_db, db, sizeof db), m->cosine,
          isnan(m->top1) ? NAN : 100.0 * m->top1, m->ms);
}

void calib_auto_print(const calib_cli *c, const calib_layers *l, FILE *fp) {
  char db[32];
  if (c->has_min_sqnr || !c->has_max_drop)
    fprintf(fp, "auto: budget: output SQNR >= %.1f dB",
            c->has_min_sqnr ? c->min_sqnr : CALIB_DEFAULT_MIN_SQNR_DB);
  else
    fprintf(fp, "auto: budget:");
  if (c->has_max_drop)
    fprintf(fp, "%s top-1 agreement >= %.2f%%", c->has_min_sqnr ? "," : "", 100.0 - c->max_drop);
  fprintf(fp, "\n");
  print_metrics(fp, "auto: fp32", &l->fp32);
  print_metrics(fp, "auto: baseline", &l->base);
  print_metrics(fp, "auto: fp16", &l->fp16);
  fprintf(fp, "%4s %-36s %-16s %10s %9s %7s %9s %9s %9s  %s\n", "#", "node", "op",
          "SQNR alone", "cosine", "top-1", "int8 ms", "fp16 ms", "fp32 ms", "decision");
  int moved = 0, speed = 0;
  for (int i = 0; i < l->n; i++) {
    const calib_layer *y = &l->v[i];
    char moved_to[40];
    snprintf(moved_to, sizeof moved_to, "%s (%s)", calib_precision_name(y->float_prec),
             y->moved_for_speed   ? "int8 slower"
             : y->moved_all_float ? "all float faster"
                                  : "sensitive");
    const char *decision = y->state == CALIB_LAYER_LOCKED      ? "as given"
                           : y->state == CALIB_LAYER_FP32_ONLY ? "fp32 (no int8 form)"
                           : !y->isolatable                    ? "int8 (name not unique)"
                           : y->moved                          ? moved_to
                                                               : "int8";
    moved += y->moved;
    speed += y->moved && (y->moved_for_speed || y->moved_all_float);
    if (!y->swept) {
      if (y->state == CALIB_LAYER_FP32_ONLY) continue; /* keep it short */
      fprintf(fp, "%4d %-36.36s %-16.16s %10s %9s %7s %9s %9s %9s  %s\n", i, y->name, y->op, "-",
              "-", "-", "-", "-", "-", decision);
      continue;
    }
    char i8[16] = "-", f16[16] = "-", f32[16] = "-";
    if (y->int8_ms >= 0) snprintf(i8, sizeof i8, "%.3f", y->int8_ms);
    if (y->fp16_ms >= 0) snprintf(f16, sizeof f16, "%.3f", y->fp16_ms);
    if (y->fp32_ms >= 0) snprintf(f32, sizeof f32, "%.3f", y->fp32_ms);
    fprintf(fp, "%4d %-36.36s %-16.16s %10s %9.6f %6.1f%% %9s %9s %9s  %s\n", i, y->name, y->op,
            calib_db_str(y->alone.sqnr_db, db, sizeof db), y->alone.cosine,
            isnan(y->alone.top1) ? NAN : 100.0 * y->alone.top1, i8, f16, f32, decision);
  }
  fprintf(fp, "auto: %d layer%s out of INT8 (%d for speed, %d for the budget); budget %s\n",
          moved, moved == 1 ? "" : "s", speed, moved - speed, l->budget_met ? "met" : "NOT met");
  if (l->all_float)
    fprintf(fp,
            "auto: the mix that met the budget ran slower than every layer in float, "
            "so every layer is float\n");
}
