/* Runs ONNX's own backend node tests (model.onnx plus test_data_set_N/{input,output}_K.pb)
 * through qinfer and compares with the expected outputs.
 *
 *   onnx_node_runner EXCLUSIONS.txt DIR...
 *
 * A test whose ops are all in qinfer's op table is "claimed" and must pass
 * unless EXCLUSIONS.txt lists it (one "test_name  reason" per line). Tests
 * using ops we do not claim are counted as not claimed. Prints per-op
 * counts and closes with "N passed, N failed". */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "onnx/onnx.h"
#include "ops/op.h"
#include "qinfer.h"

/* ONNX's backend test defaults. */
#define RTOL 1e-3
#define ATOL 1e-5

#define MAX_IO 32
#define MAX_OPS 256

typedef struct op_count {
  char op[64];
  int pass, fail, excluded, unclaimed;
} op_count;

typedef struct runner {
  char **excl;
  int nexcl;
  op_count ops[MAX_OPS];
  int nops;
  int verbose;
} runner;

static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(n > 0 ? (size_t)n : 1);
  if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
    free(b);
    b = NULL;
  }
  fclose(f);
  *len = (size_t)n;
  return b;
}

static op_count *count_for(runner *r, const char *op) {
  for (int i = 0; i < r->nops; i++)
    if (!strcmp(r->ops[i].op, op)) return &r->ops[i];
  if (r->nops == MAX_OPS) return &r->ops[MAX_OPS - 1];
  op_count *c = &r->ops[r->nops++];
  memset(c, 0, sizeof *c);
  snprintf(c->op, sizeof c->op, "%s", op);
  return c;
}

static int excluded(const runner *r, const char *name) {
  for (int i = 0; i < r->nexcl; i++)
    if (!strcmp(r->excl[i], name)) return 1;
  return 0;
}

static double as_double(const qi_tensor *t, size_t i) {
  switch (t->dtype) {
    case QI_FLOAT32: return ((const float *)t->data)[i];
    case QI_FLOAT64: return ((const double *)t->data)[i];
    case QI_INT64: return (double)((const int64_t *)t->data)[i];
    case QI_INT32: return ((const int32_t *)t->data)[i];
    case QI_UINT8: case QI_BOOL: return ((const uint8_t *)t->data)[i];
    case QI_INT8: return ((const int8_t *)t->data)[i];
    default: return NAN;
  }
}

/* Compares got (dtype/shape of `want`) with want; writes why on mismatch. */
static int compare(const qi_tensor *want, const void *got, char *why, size_t len) {
  qi_tensor g = *want;
  g.data = (void *)got;
  int64_t n = qi_shape_numel(&want->shape);
  for (int64_t i = 0; i < n; i++) {
    double a = as_double(want, (size_t)i), b = as_double(&g, (size_t)i);
    if (isnan(a) && isnan(b)) continue;
    if (isinf(a) && a == b) continue;
    if (!(fabs(a - b) <= ATOL + RTOL * fabs(a))) {
      snprintf(why, len, "element %lld: expected %.9g, got %.9g", (long long)i, a, b);
      return 0;
    }
  }
  return 1;
}

static int load_pb(const char *path, qi_tensor *t) {
  size_t len;
  uint8_t *buf = read_file(path, &len);
  if (!buf) return 0;
  qi_error e;
  int ok = qi_onnx_parse_tensor(buf, len, NULL, t, &e) == QI_OK;
  free(buf);
  return ok;
}

/* Loads the model. When that fails because an input that fixes a shape is
 * not constant (the message quotes its name), that input is frozen to this
 * data set's value (qi_model_options.frozen_inputs) and loading retried. */
static qi_model *load_for(const char *model_path, char names[][256], qi_tensor *in,
                          int nin, int *frozen, char *why, size_t len) {
  qi_binding fz[MAX_IO];
  int nf = 0;
  memset(frozen, 0, sizeof(int) * MAX_IO);
  for (;;) {
    qi_model *m = NULL;
    qi_error e;
    qi_model_options mo = qi_model_options_default();
    mo.frozen_inputs = fz;
    mo.num_frozen_inputs = nf;
    if (qi_model_load_file(model_path, &mo, &m, &e) == QI_OK) return m;
    snprintf(why, len, "load%s: %s", nf ? " (inputs frozen)" : "", e.message);
    if (!strstr(e.message, "not constant") && !strstr(e.message, "must be a constant"))
      return NULL;
    int pick = -1;
    for (int i = 0; i < nin && pick < 0; i++) {
      char quoted[260];
      snprintf(quoted, sizeof quoted, "'%s'", names[i]);
      if (!frozen[i] && strstr(e.message, quoted)) pick = i;
    }
    /* Some messages name no input (e.g. "axes input must be a constant"):
     * freeze the first non-float input not yet frozen. */
    for (int i = 0; i < nin && pick < 0; i++)
      if (!frozen[i] && in[i].dtype != QI_FLOAT32) pick = i;
    if (pick < 0) return NULL;
    frozen[pick] = 1;
    fz[nf++] = (qi_binding){names[pick], in[pick].dtype, in[pick].shape.rank,
                            in[pick].shape.d, in[pick].data, in[pick].nbytes};
  }
}

/* Runs one test data set; 1 = pass. */
static int run_dataset(const char *model_path, char names[][256], int ninputs,
                       const char *dsdir, char *why, size_t len) {
  qi_tensor in[MAX_IO], want[MAX_IO];
  qi_binding bin[MAX_IO], bout[MAX_IO];
  int nin = 0, nout = 0, ok = 1, frozen[MAX_IO], nbound = 0;
  char path[8192 + 64];
  memset(in, 0, sizeof in);
  memset(want, 0, sizeof want);
  for (; nin < MAX_IO; nin++) {
    snprintf(path, sizeof path, "%s/input_%d.pb", dsdir, nin);
    if (!load_pb(path, &in[nin])) break;
  }
  for (; nout < MAX_IO; nout++) {
    snprintf(path, sizeof path, "%s/output_%d.pb", dsdir, nout);
    if (!load_pb(path, &want[nout])) break;
  }
  qi_model *m = NULL;
  if (nin != ninputs) {
    snprintf(why, len, "test data has %d inputs, the model %d", nin, ninputs);
    ok = 0;
  } else {
    m = load_for(model_path, names, in, nin, frozen, why, len);
    ok = m != NULL;
  }
  if (ok && nout != qi_model_num_outputs(m)) {
    snprintf(why, len, "test data has %d outputs, the model %d", nout, qi_model_num_outputs(m));
    ok = 0;
  }
  for (int i = 0; ok && i < nin; i++) {
    if (frozen[i]) continue;
    bin[nbound++] = (qi_binding){names[i], in[i].dtype, in[i].shape.rank, in[i].shape.d,
                                 in[i].data, in[i].nbytes};
  }
  for (int i = 0; ok && i < nout; i++) {
    qi_tensor_info ti;
    qi_model_output_info(m, i, &ti, NULL);
    size_t bytes = (size_t)qi_shape_numel(&want[i].shape) * qi_dtype_size(want[i].dtype);
    bout[i] = (qi_binding){ti.name, want[i].dtype, want[i].shape.rank, want[i].shape.d,
                           malloc(bytes ? bytes : 1), bytes};
  }
  if (ok) {
    qi_session *s = NULL;
    qi_error e;
    if (qi_session_create(m, NULL, &s, &e) != QI_OK ||
        qi_session_run(s, bin, nbound, bout, nout, &e) != QI_OK) {
      snprintf(why, len, "%s", e.message);
      ok = 0;
    }
    qi_session_free(s);
    for (int i = 0; ok && i < nout; i++)
      if (!compare(&want[i], bout[i].data, why, len)) ok = 0;
    for (int i = 0; i < nout; i++) free(bout[i].data);
  }
  qi_model_free(m);
  for (int i = 0; i < MAX_IO; i++) {
    free(in[i].name);
    free(in[i].data);
    free(want[i].name);
    free(want[i].data);
  }
  return ok;
}

/* The op a test is filed under: the first op type in its model. Returns 1
 * if every op of the model is in qinfer's op table. */
static int claimed_ops(const uint8_t *buf, size_t len, char *first, size_t flen,
                       char names[][256], int *ninputs) {
  qi_graph *g = NULL;
  qi_error e;
  snprintf(first, flen, "(unparsed)");
  *ninputs = 0;
  if (qi_onnx_import(buf, len, NULL, &g, &e) != QI_OK) return 0;
  int all = 1;
  if (g->nnodes) snprintf(first, flen, "%s", g->nodes[0].op_type);
  else snprintf(first, flen, "Constant");
  for (int i = 0; i < g->nnodes; i++)
    if (!qi_op_lookup(g->nodes[i].domain, g->nodes[i].op_type)) all = 0;
  for (int i = 0; i < g->ninputs && i < MAX_IO; i++)
    snprintf(names[(*ninputs)++], 256, "%s", g->tensors[g->inputs[i]].name);
  qi_graph_free(g);
  return all;
}

static void run_test(runner *r, const char *dir, const char *name, int *pass, int *fail) {
  char path[4096], why[600] = "", names[MAX_IO][256];
  snprintf(path, sizeof path, "%s/%s/model.onnx", dir, name);
  size_t len;
  uint8_t *buf = read_file(path, &len);
  if (!buf) return;
  char op[64];
  int ninputs;
  int claimed = claimed_ops(buf, len, op, sizeof op, names, &ninputs);
  free(buf);
  op_count *c = count_for(r, op);
  if (!claimed) {
    c->unclaimed++;
    return;
  }
  if (excluded(r, name)) {
    c->excluded++;
    return;
  }
  int ok = 1, ran = 0;
  for (int ds = 0; ok; ds++) {
    char dsdir[8192];
    struct stat sb;
    snprintf(dsdir, sizeof dsdir, "%s/%s/test_data_set_%d", dir, name, ds);
    if (stat(dsdir, &sb) != 0) break;
    ok = run_dataset(path, names, ninputs, dsdir, why, sizeof why);
    ran++;
  }
  if (!ran) {
    ok = 0;
    snprintf(why, sizeof why, "no test data set");
  }
  if (ok) {
    c->pass++;
    (*pass)++;
    if (r->verbose) printf("ok   %s\n", name);
  } else {
    c->fail++;
    (*fail)++;
    printf("FAIL %s: %s\n", name, why);
  }
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_exclusions(runner *r, const char *path) {
  FILE *f = fopen(path, "r");
  char line[1024];
  if (!f) return;
  while (fgets(line, sizeof line, f)) {
    if (line[0] == '#' || line[0] == '\n') continue;
    line[strcspn(line, " \t\r\n")] = '\0';
    char **g = realloc(r->excl, sizeof *g * (size_t)(r->nexcl + 1));
    if (!g) break;
    r->excl = g;
    r->excl[r->nexcl++] = strdup(line);
  }
  fclose(f);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s EXCLUSIONS.txt DIR...\n", argv[0]);
    return 2;
  }
  runner r;
  memset(&r, 0, sizeof r);
  r.verbose = getenv("QINFER_VERBOSE") != NULL;
  load_exclusions(&r, argv[1]);
  int pass = 0, fail = 0;
  for (int a = 2; a < argc; a++) {
    DIR *d = opendir(argv[a]);
    if (!d) {
      fprintf(stderr, "cannot open %s\n", argv[a]);
      fail++;
      continue;
    }
    char **names = NULL;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
      if (strncmp(de->d_name, "test_", 5) != 0) continue;
      char **g = realloc(names, sizeof *g * (size_t)(n + 1));
      if (!g) break;
      names = g;
      names[n++] = strdup(de->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
      run_test(&r, argv[a], names[i], &pass, &fail);
      free(names[i]);
    }
    free(names);
  }
  printf("%-28s %6s %6s %8s %9s\n", "op", "pass", "fail", "excluded", "unclaimed");
  for (int i = 0; i < r.nops; i++)
    if (r.ops[i].pass + r.ops[i].fail + r.ops[i].excluded)
      printf("%-28s %6d %6d %8d %9d\n", r.ops[i].op, r.ops[i].pass, r.ops[i].fail,
             r.ops[i].excluded, r.ops[i].unclaimed);
  int unclaimed = 0;
  for (int i = 0; i < r.nops; i++) unclaimed += r.ops[i].unclaimed;
  printf("not claimed (ops qinfer does not run): %d tests\n", unclaimed);
  for (int i = 0; i < r.nexcl; i++) free(r.excl[i]);
  free(r.excl);
  printf("onnx node tests: %d passed, %d failed\n", pass, fail);
  return fail ? 1 : 0;
}
