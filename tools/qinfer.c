/* qinfer: command-line runner.
 *   qinfer run MODEL [--input NAME=FILE.npy | FILE.npy]... [--out PREFIX]
 *   qinfer bench MODEL [--warmup N] [--runs N] [--profile]
 *   qinfer inspect MODEL
 *   qinfer eval MODEL --images DIR --labels TSV [--limit N]
 *   qinfer convert MODEL --out MODEL.qnf
 * Common options: --threads N, --shape NAME=1x3x224x224, --load-threads N
 * (threads packing weights at load; 0, the default: one per CPU).
 * Uses only the public API (include/qinfer.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval_imagenet.h"
#include "npy.h"
#include "openblas_idle.h"
#include "qinfer.h"

#define MAX_ARGS 32

typedef struct cli {
  const char *cmd, *model;
  int threads, warmup, runs, profile, load_threads;
  const char *out_prefix, *images, *labels;
  int limit;
  int ninputs;
  const char *input_spec[MAX_ARGS];
  int nshapes;
  qi_input_shape shapes[MAX_ARGS];
  char shape_names[MAX_ARGS][256];
} cli;

static int usage(void) {
  fprintf(stderr,
          "usage: qinfer run MODEL [--input NAME=FILE.npy]... [--out PREFIX]\n"
          "       qinfer bench MODEL [--warmup N] [--runs N] [--profile]\n"
          "       qinfer inspect MODEL\n"
          "       qinfer eval MODEL --images DIR --labels TSV [--limit N]\n"
          "       qinfer convert MODEL --out MODEL.qnf\n"
          "options: --threads N  --shape NAME=D0xD1x...  --load-threads N\n");
  return 2;
}

static int parse_shape(const char *spec, cli *c) {
  const char *eq = strchr(spec, '=');
  if (!eq || c->nshapes >= MAX_ARGS || (size_t)(eq - spec) >= 256) return 0;
  qi_input_shape *s = &c->shapes[c->nshapes];
  memcpy(c->shape_names[c->nshapes], spec, (size_t)(eq - spec));
  c->shape_names[c->nshapes][eq - spec] = '\0';
  s->name = c->shape_names[c->nshapes];
  s->rank = 0;
  const char *p = eq + 1;
  while (*p && s->rank < QI_MAX_RANK) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 1) return 0;
    s->dims[s->rank++] = v;
    p = *end == 'x' ? end + 1 : end;
    if (*end && *end != 'x') return 0;
  }
  c->nshapes++;
  return 1;
}

static int parse_cli(int argc, char **argv, cli *c) {
  memset(c, 0, sizeof *c);
  c->threads = 1;
  c->warmup = 3;
  c->runs = 20;
  if (argc < 3) return 0;
  c->cmd = argv[1];
  c->model = argv[2];
  for (int i = 3; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--profile")) {
      c->profile = 1;
      continue;
    }
    if (!v) return 0;
    if (!strcmp(a, "--threads")) c->threads = atoi(v);
    else if (!strcmp(a, "--load-threads")) c->load_threads = atoi(v);
    else if (!strcmp(a, "--warmup")) c->warmup = atoi(v);
    else if (!strcmp(a, "--runs")) c->runs = atoi(v);
    else if (!strcmp(a, "--out")) c->out_prefix = v;
    else if (!strcmp(a, "--images")) c->images = v;
    else if (!strcmp(a, "--labels")) c->labels = v;
    else if (!strcmp(a, "--limit")) c->limit = atoi(v);
    else if (!strcmp(a, "--input") && c->ninputs < MAX_ARGS) c->input_spec[c->ninputs++] = v;
    else if (!strcmp(a, "--shape")) {
      if (!parse_shape(v, c)) return 0;
    } else return 0;
    i++;
  }
  return c->threads >= 1 && c->runs >= 1 && c->warmup >= 0;
}

static qi_model *load(const cli *c) {
  qi_model_options mo = qi_model_options_default();
  mo.input_shapes = c->shapes;
  mo.num_input_shapes = c->nshapes;
  mo.load_threads = c->load_threads;
  qi_model *m = NULL;
  qi_error e;
  if (qi_model_load_file(c->model, &mo, &m, &e) != QI_OK) {
    fprintf(stderr, "qinfer: %s\n", e.message);
    return NULL;
  }
  return m;
}

static size_t numel(const qi_tensor_info *t) {
  size_t n = 1;
  for (int d = 0; d < t->rank; d++) n *= (size_t)t->shape[d];
  return n;
}

static size_t elem_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: case QI_INT32: return 4;
    case QI_INT64: case QI_FLOAT64: return 8;
    case QI_FLOAT16: return 2;
    default: return 1;
  }
}

static void print_shape(const qi_tensor_info *t) {
  printf("[");
  for (int d = 0; d < t->rank; d++) printf(d ? ",%lld" : "%lld", (long long)t->shape[d]);
  printf("]");
}

/* Output bindings for every model output, with buffers the caller frees. */
static qi_binding *bind_outputs(const qi_model *m, qi_tensor_info *infos) {
  int n = qi_model_num_outputs(m);
  qi_binding *b = calloc((size_t)n, sizeof *b);
  for (int i = 0; b && i < n; i++) {
    qi_model_output_info(m, i, &infos[i], NULL);
    b[i].name = infos[i].name;
    b[i].dtype = infos[i].dtype;
    b[i].rank = infos[i].rank;
    b[i].shape = infos[i].shape;
    b[i].size_bytes = numel(&infos[i]) * elem_size(infos[i].dtype);
    b[i].data = malloc(b[i].size_bytes ? b[i].size_bytes : 1);
  }
  return b;
}

static int cmd_run(const cli *c, qi_model *m) {
  int nin = qi_model_num_inputs(m), nout = qi_model_num_outputs(m);
  qi_npy npys[MAX_ARGS];
  qi_binding in[MAX_ARGS];
  char names[MAX_ARGS][256];
  qi_error e;
  if (c->ninputs != nin || nin > MAX_ARGS) {
    fprintf(stderr, "qinfer: the model has %d inputs, %d given\n", nin, c->ninputs);
    return 1;
  }
  int rc = 0;
  for (int i = 0; i < nin; i++) {
    const char *spec = c->input_spec[i], *eq = strchr(spec, '=');
    qi_tensor_info ti;
    qi_model_input_info(m, i, &ti, NULL);
    const char *file = eq ? eq + 1 : spec;
    if (qi_npy_load(file, &npys[i], &e) != QI_OK) {
      fprintf(stderr, "qinfer: %s\n", e.message);
      for (int j = 0; j < i; j++) qi_npy_free(&npys[j]);
      return 1;
    }
    if (eq) {
      snprintf(names[i], sizeof names[i], "%.*s", (int)(eq - spec), spec);
      in[i].name = names[i];
    } else {
      in[i].name = ti.name;
    }
    in[i].dtype = npys[i].dtype;
    in[i].rank = npys[i].rank;
    in[i].shape = npys[i].shape;
    in[i].data = npys[i].data;
    in[i].size_bytes = npys[i].nbytes;
  }
  qi_session_options so = qi_session_options_default();
  so.num_threads = c->threads;
  qi_session *s = NULL;
  qi_tensor_info oinfo[MAX_ARGS];
  qi_binding *out = nout <= MAX_ARGS ? bind_outputs(m, oinfo) : NULL;
  if (!out || qi_session_create(m, &so, &s, &e) != QI_OK ||
      qi_session_run(s, in, nin, out, nout, &e) != QI_OK) {
    fprintf(stderr, "qinfer: %s\n", out ? e.message : "too many outputs");
    rc = 1;
  }
  for (int i = 0; rc == 0 && i < nout; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s%d.npy", c->out_prefix ? c->out_prefix : "out", i);
    if (qi_npy_save(path, out[i].dtype, out[i].rank, out[i].shape, out[i].data, &e) != QI_OK) {
      fprintf(stderr, "qinfer: %s\n", e.message);
      rc = 1;
    } else {
      printf("%s -> %s ", out[i].name, path);
      print_shape(&oinfo[i]);
      printf("\n");
    }
  }
  for (int i = 0; out && i < nout; i++) free(out[i].data);
  free(out);
  for (int i = 0; i < nin; i++) qi_npy_free(&npys[i]);
  qi_session_free(s);
  return rc;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static int cmp_prof(const void *a, const void *b) {
  double x = ((const qi_node_profile *)a)->total_ms;
  double y = ((const qi_node_profile *)b)->total_ms;
  return (x < y) - (x > y);
}

/* load_ms: the time main took to load the model (qi_model_load_file). */
static int cmd_bench(const cli *c, qi_model *m, double load_ms) {
  int nin = qi_model_num_inputs(m), nout = qi_model_num_outputs(m);
  if (nin > MAX_ARGS || nout > MAX_ARGS) return 1;
  qi_binding in[MAX_ARGS];
  qi_tensor_info iinfo[MAX_ARGS], oinfo[MAX_ARGS];
  unsigned seed = 1;
  for (int i = 0; i < nin; i++) {
    qi_model_input_info(m, i, &iinfo[i], NULL);
    size_t n = numel(&iinfo[i]), es = elem_size(iinfo[i].dtype);
    in[i] = (qi_binding){iinfo[i].name, iinfo[i].dtype, iinfo[i].rank, iinfo[i].shape,
                         calloc(n ? n : 1, es), n * es};
    if (iinfo[i].dtype == QI_FLOAT32)
      for (size_t k = 0; k < n; k++) {
        seed = seed * 1103515245u + 12345u;
        ((float *)in[i].data)[k] = (float)((seed >> 8) & 0xffff) / 65536.0f - 0.5f;
      }
  }
  qi_binding *out = bind_outputs(m, oinfo);
  qi_session_options so = qi_session_options_default();
  so.num_threads = c->threads;
  so.profile = c->profile;
  qi_session *s = NULL;
  qi_error e;
  int rc = 0;
  double *t = calloc((size_t)c->runs, sizeof *t);
  double t_create = now_ms();
  if (qi_session_create(m, &so, &s, &e) != QI_OK) {
    fprintf(stderr, "qinfer: %s\n", e.message);
    rc = 1;
  }
  double session_ms = now_ms() - t_create;
  for (int r = 0; rc == 0 && r < c->warmup + c->runs; r++) {
    double t0 = now_ms();
    if (qi_session_run(s, in, nin, out, nout, &e) != QI_OK) {
      fprintf(stderr, "qinfer: %s\n", e.message);
      rc = 1;
    }
    if (r >= c->warmup) t[r - c->warmup] = now_ms() - t0;
  }
  if (rc == 0) {
    qsort(t, (size_t)c->runs, sizeof *t, cmp_double);
    double med = t[c->runs / 2], p90 = t[(size_t)((c->runs - 1) * 0.9)];
    int64_t batch = iinfo[0].rank > 0 ? iinfo[0].shape[0] : 1;
    printf("model %s threads %d runs %d\n", c->model, c->threads, c->runs);
    printf("latency_ms median %.3f p90 %.3f min %.3f\n", med, p90, t[0]);
    printf("throughput %.2f inferences/s (batch %lld)\n", 1e3 * (double)batch / med,
           (long long)batch);
    printf("arena_bytes %zu\n", qi_session_arena_bytes(s));
    printf("load_ms %.3f model %.3f session %.3f\n", load_ms + session_ms, load_ms, session_ms);
  }
  if (rc == 0 && c->profile) {
    const qi_node_profile *p;
    int cnt;
    if (qi_session_profile(s, &p, &cnt, &e) == QI_OK && cnt > 0) {
      qi_node_profile *sorted = malloc(sizeof *sorted * (size_t)cnt);
      memcpy(sorted, p, sizeof *sorted * (size_t)cnt);
      qsort(sorted, (size_t)cnt, sizeof *sorted, cmp_prof);
      double total = 0;
      for (int i = 0; i < cnt; i++) total += sorted[i].total_ms;
      printf("%-40s %-22s %10s %6s\n", "node", "op", "ms/run", "share");
      for (int i = 0; i < cnt && i < 25; i++)
        printf("%-40.40s %-22.22s %10.4f %5.1f%%\n", sorted[i].name, sorted[i].op_type,
               sorted[i].total_ms / (double)(sorted[i].runs ? sorted[i].runs : 1),
               100.0 * sorted[i].total_ms / (total > 0 ? total : 1));
      /* Totals by op type: where the time goes, at a glance. */
      printf("%-22s %10s %6s %6s\n", "op type", "ms/run", "share", "nodes");
      for (int i = 0; i < cnt; i++) {
        if (!sorted[i].op_type) continue;
        double ms = 0;
        int nodes = 0;
        const char *op = sorted[i].op_type;
        for (int j = i; j < cnt; j++)
          if (sorted[j].op_type && !strcmp(sorted[j].op_type, op)) {
            ms += sorted[j].total_ms / (double)(sorted[j].runs ? sorted[j].runs : 1);
            nodes++;
            if (j > i) sorted[j].op_type = NULL;
          }
        double runs = (double)(sorted[i].runs ? sorted[i].runs : 1);
        printf("%-22.22s %10.4f %5.1f%% %6d\n", op, ms, 100.0 * ms * runs / (total > 0 ? total : 1),
               nodes);
      }
      free(sorted);
    }
  }
  for (int i = 0; i < nin; i++) free(in[i].data);
  for (int i = 0; i < nout; i++) free(out[i].data);
  free(out);
  free(t);
  qi_session_free(s);
  return rc;
}

static int cmd_inspect(const cli *c, qi_model *m) {
  qi_tensor_info ti;
  for (int i = 0; i < qi_model_num_inputs(m); i++) {
    qi_model_input_info(m, i, &ti, NULL);
    printf("input  %s ", ti.name);
    print_shape(&ti);
    printf("\n");
  }
  for (int i = 0; i < qi_model_num_outputs(m); i++) {
    qi_model_output_info(m, i, &ti, NULL);
    printf("output %s ", ti.name);
    print_shape(&ti);
    printf("\n");
  }
  static const char *prec[] = {"fp32", "fp16", "int8"};
  for (int i = 0; i < qi_model_num_nodes(m); i++) {
    qi_node_info ni;
    qi_model_node_info(m, i, &ni, NULL);
    printf("%4d %-20s %-4s %s ->", i, ni.op_type, prec[ni.precision], ni.name);
    for (int k = 0; k < ni.num_outputs; k++) {
      if (qi_model_tensor_info(m, ni.outputs[k], &ti, NULL) != QI_OK) continue;
      printf(" %s", ti.name);
      print_shape(&ti);
    }
    printf("\n");
  }
  qi_session_options so = qi_session_options_default();
  so.num_threads = c->threads;
  qi_session *s = NULL;
  qi_error e;
  if (qi_session_create(m, &so, &s, &e) != QI_OK) {
    fprintf(stderr, "qinfer: %s\n", e.message);
    return 1;
  }
  printf("nodes %d, peak activation memory %zu bytes\n", qi_model_num_nodes(m),
         qi_session_arena_bytes(s));
  qi_session_free(s);
  return 0;
}

static int cmd_convert(const cli *c, qi_model *m) {
  if (!c->out_prefix) return usage();
  qi_error e;
  if (qi_model_save(m, c->out_prefix, &e) != QI_OK) {
    fprintf(stderr, "qinfer: %s\n", e.message);
    return 1;
  }
  printf("wrote %s (%d nodes)\n", c->out_prefix, qi_model_num_nodes(m));
  return 0;
}

static int cmd_eval(const cli *c, qi_model *m) {
  if (!c->images || !c->labels) return usage();
  qi_eval_options o = {c->images, c->labels, c->limit, c->threads};
  qi_eval_result r;
  if (qi_eval_imagenet(m, &o, &r) != 0) return 1;
  printf("images %d top1 %.2f%% top5 %.2f%% latency_ms median %.3f\n", r.images,
         100.0 * r.top1 / (r.images ? r.images : 1), 100.0 * r.top5 / (r.images ? r.images : 1),
         r.median_ms);
  return 0;
}

int main(int argc, char **argv) {
  qi_tools_stop_openblas_threads();
  cli c;
  if (!parse_cli(argc, argv, &c)) return usage();
  int known = !strcmp(c.cmd, "run") || !strcmp(c.cmd, "bench") || !strcmp(c.cmd, "inspect") ||
              !strcmp(c.cmd, "eval") || !strcmp(c.cmd, "convert");
  if (!known) return usage();
  double t_load = now_ms();
  qi_model *m = load(&c);
  if (!m) return 1;
  double load_ms = now_ms() - t_load;
  int rc = !strcmp(c.cmd, "run")     ? cmd_run(&c, m)
           : !strcmp(c.cmd, "bench") ? cmd_bench(&c, m, load_ms)
           : !strcmp(c.cmd, "eval")  ? cmd_eval(&c, m)
           : !strcmp(c.cmd, "convert") ? cmd_convert(&c, m)
                                     : cmd_inspect(&c, m);
  qi_model_free(m);
  return rc;
}
