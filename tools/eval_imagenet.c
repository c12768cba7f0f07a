/* `qinfer eval`: top-1/top-5 accuracy and latency of an ImageNet classifier
 * over a labelled image folder (TSV: filename, synset, class index, name). */
#include "eval_imagenet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <time.h>

#include "image.h"

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Rank of class `label` among the scores (0 = best). */
static int rank_of(const float *y, size_t n, int label) {
  int r = 0;
  for (size_t i = 0; i < n; i++)
    if (y[i] > y[label] || (y[i] == y[label] && (int)i < label)) r++;
  return r;
}

int qi_eval_imagenet(const qi_model *m, const qi_eval_options *o, qi_eval_result *res) {
  memset(res, 0, sizeof *res);
  qi_tensor_info in, out;
  qi_model_input_info(m, 0, &in, NULL);
  qi_model_output_info(m, 0, &out, NULL);
  if (in.rank != 4 || in.shape[1] != 3) {
    fprintf(stderr, "qinfer eval: expected an input [1,3,H,W]\n");
    return 1;
  }
  FILE *tsv = fopen(o->labels, "r");
  if (!tsv) {
    fprintf(stderr, "qinfer eval: cannot open %s\n", o->labels);
    return 1;
  }
  qi_preprocess pre = qi_preprocess_imagenet();
  pre.out_h = (int)in.shape[2];
  pre.out_w = (int)in.shape[3];
  size_t in_count = (size_t)3 * (size_t)pre.out_h * (size_t)pre.out_w;
  size_t out_count = 1;
  for (int d = 0; d < out.rank; d++) out_count *= (size_t)out.shape[d];
  float *x = malloc(in_count * sizeof(float)), *y = malloc(out_count * sizeof(float));
  double *times = malloc(sizeof(double) * (size_t)(o->limit > 0 ? o->limit : 100000));
  qi_session_options so = qi_session_options_default();
  so.num_threads = o->threads;
  qi_session *s = NULL;
  qi_error e;
  int rc = 0;
  if (!x || !y || !times || qi_session_create(m, &so, &s, &e) != QI_OK) {
    fprintf(stderr, "qinfer eval: %s\n", s ? "out of memory" : e.message);
    rc = 1;
  }
  char line[2048];
  if (rc == 0 && !fgets(line, sizeof line, tsv)) rc = 1; /* header */
  while (rc == 0 && fgets(line, sizeof line, tsv) && (o->limit <= 0 || res->images < o->limit)) {
    char *file = strtok(line, "\t"), *syn = strtok(NULL, "\t"), *idx = strtok(NULL, "\t");
    if (!file || !syn || !idx) continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", o->images, file);
    /* The labels may cover more photos than the folder holds (a held-out
     * subset): rows without their photo are not evaluated. */
    if (access(path, F_OK) != 0) continue;
    qi_image img;
    if (qi_image_load(path, &img, &e) != QI_OK) {
      fprintf(stderr, "qinfer eval: %s\n", e.message);
      rc = 1;
      break;
    }
    qi_image_to_tensor(&img, &pre, x);
    qi_image_free(&img);
    qi_binding bin = {in.name, QI_FLOAT32, 4, in.shape, x, in_count * sizeof(float)};
    qi_binding bout = {out.name, QI_FLOAT32, out.rank, out.shape, y, out_count * sizeof(float)};
    double t0 = now_ms();
    if (qi_session_run(s, &bin, 1, &bout, 1, &e) != QI_OK) {
      fprintf(stderr, "qinfer eval: %s\n", e.message);
      rc = 1;
      break;
    }
    times[res->images] = now_ms() - t0;
    int r = rank_of(y, out_count, atoi(idx));
    res->top1 += r == 0;
    res->top5 += r < 5;
    res->images++;
  }
  if (rc == 0 && res->images == 0) {
    fprintf(stderr, "qinfer eval: no photo listed in %s is in %s\n", o->labels, o->images);
    rc = 1;
  }
  if (res->images) {
    qsort(times, (size_t)res->images, sizeof *times, cmp_double);
    res->median_ms = times[res->images / 2];
  }
  fclose(tsv);
  qi_session_free(s);
  free(x);
  free(y);
  free(times);
  return rc;
}
