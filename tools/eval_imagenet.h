#ifndef QI_TOOLS_EVAL_IMAGENET_H
#define QI_TOOLS_EVAL_IMAGENET_H

#include "qinfer.h"

typedef struct qi_eval_options {
  const char *images;  /* folder of JPEG/PNG files */
  const char *labels;  /* TSV with a header: filename, synset, index, name */
  int limit;           /* at most this many images; <= 0: all (100000 max) */
  int threads;
} qi_eval_options;

typedef struct qi_eval_result {
  int images, top1, top5;
  double median_ms;    /* latency of qi_session_run alone */
} qi_eval_result;

/* Returns 0 on success; prints the reason on failure. */
int qi_eval_imagenet(const qi_model *m, const qi_eval_options *o, qi_eval_result *res);

#endif
