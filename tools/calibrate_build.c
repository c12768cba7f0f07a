/* Precision overrides and the mapping between the FP32 model's nodes and
 * the nodes of a built (lowered) model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calibrate.h"

int calib_glob(const char *p, const char *s) {
  /* Iterative matcher with one backtrack point for the last '*'. */
  const char *star = NULL, *resume = NULL;
  while (*s) {
    if (*p == '*') {
      star = p++;
      resume = s;
    } else if (*p == '?' || *p == *s) {
      p++;
      s++;
    } else if (star) {
      p = star + 1;
      s = ++resume;
    } else {
      return 0;
    }
  }
  while (*p == '*') p++;
  return *p == '\0';
}

/* Whether one comma-separated list of globs matches `name` or `op`. */
static int list_matches(const char *list, const char *name, const char *op) {
  char one[512];
  const char *p = list;
  while (*p) {
    size_t len = strcspn(p, ",");
    if (len && len < sizeof one) {
      memcpy(one, p, len);
      one[len] = '\0';
      if (calib_glob(one, name) || calib_glob(one, op)) return 1;
    }
    p += len;
    if (*p == ',') p++;
  }
  return 0;
}

int calib_user_matches(const calib_cli *c, const char *name, const char *op) {
  for (int i = 0; i < c->noverrides; i++)
    if (list_matches(c->overrides[i].patterns, name ? name : "", op ? op : "")) return 1;
  return 0;
}

char *calib_literal_pattern(const char *name) {
  char *p = strdup(name);
  if (!p) return NULL;
  for (char *q = p; *q; q++)
    if (strchr("*?[]\\,", *q)) *q = '?';
  return p;
}

qi_status calib_apply_precision(qi_calibrator *cal, const calib_cli *c,
                                const char *const *nodes, const qi_precision *precs, int n,
                                qi_error *err) {
  qi_calibrator_clear_precision(cal);
  for (int i = 0; i < c->noverrides; i++) {
    const calib_override *o = &c->overrides[i];
    qi_status st = qi_calibrator_set_precision(cal, o->patterns, o->precision, err);
    if (st != QI_OK) {
      char msg[sizeof err->message];
      snprintf(msg, sizeof msg, "%s", err->message);
      snprintf(err->message, sizeof err->message, "--%s %.200s: %.280s",
               calib_precision_name(o->precision), o->patterns, msg);
      return st;
    }
  }
  for (int i = 0; i < n; i++) {
    char *lit = calib_literal_pattern(nodes[i]);
    if (!lit) {
      err->status = QI_ERR_NOMEM;
      snprintf(err->message, sizeof err->message, "out of memory");
      return QI_ERR_NOMEM;
    }
    qi_status st = qi_calibrator_set_precision(cal, lit, precs[i], err);
    free(lit);
    if (st != QI_OK) return st;
  }
  return QI_OK;
}

static int is_conversion(const char *op) {
  return !strcmp(op, "QiQuantize") || !strcmp(op, "QiDequantize");
}

static int produces(const qi_node_info *ni, const char *t) {
  for (int k = 0; k < ni->num_outputs; k++)
    if (ni->outputs[k] && !strcmp(ni->outputs[k], t)) return 1;
  return 0;
}

int calib_find_node(const qi_model *built, const char *name, const char *out) {
  int n = qi_model_num_nodes(built);
  qi_node_info ni;
  if (name && *name)
    for (int i = 0; i < n; i++)
      if (qi_model_node_info(built, i, &ni, NULL) == QI_OK && ni.name && !strcmp(ni.name, name) &&
          !is_conversion(ni.op_type))
        return i;
  if (!out || !*out) return -1;
  char twin[1024];
  snprintf(twin, sizeof twin, "%s:u8", out);
  int plain = -1;
  for (int i = 0; i < n; i++) {
    if (qi_model_node_info(built, i, &ni, NULL) != QI_OK || is_conversion(ni.op_type)) continue;
    if (produces(&ni, twin)) return i;
    if (plain < 0 && produces(&ni, out)) plain = i;
  }
  return plain;
}

void calib_count_precisions(const qi_model *m, int counts[3]) {
  counts[0] = counts[1] = counts[2] = 0;
  qi_node_info ni;
  for (int i = 0; i < qi_model_num_nodes(m); i++)
    if (qi_model_node_info(m, i, &ni, NULL) == QI_OK && (int)ni.precision >= 0 &&
        (int)ni.precision < 3)
      counts[ni.precision]++;
}
