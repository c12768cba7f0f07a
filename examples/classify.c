/* classify: the smallest useful qinfer program. Loads an ImageNet
 * classifier, preprocesses one JPEG/PNG (shorter side 256, center crop 224,
 * ImageNet mean/std) and prints the top-5 classes.
 *
 *   examples/classify MODEL.onnx IMAGE [LABELS.txt]
 *
 * LABELS.txt has one class per line ("n01440764 tench, ..." or plain names). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tools/image.h"
#include "qinfer.h"

static char **read_labels(const char *path, int *count) {
  *count = 0;
  FILE *fp = path ? fopen(path, "r") : NULL;
  if (!fp) return NULL;
  char **labels = NULL, line[1024];
  int cap = 0;
  while (fgets(line, sizeof line, fp)) {
    line[strcspn(line, "\r\n")] = '\0';
    if (*count == cap) {
      cap = cap ? cap * 2 : 1024;
      char **grown = realloc(labels, sizeof *labels * (size_t)cap);
      if (!grown) break;
      labels = grown;
    }
    labels[(*count)++] = strdup(line);
  }
  fclose(fp);
  return labels;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s MODEL.onnx IMAGE [LABELS.txt]\n", argv[0]);
    return 2;
  }
  qi_error err;
  qi_model *model = NULL;
  if (qi_model_load_file(argv[1], NULL, &model, &err) != QI_OK) {
    fprintf(stderr, "classify: %s\n", err.message);
    return 1;
  }
  qi_tensor_info in, out;
  qi_model_input_info(model, 0, &in, NULL);
  qi_model_output_info(model, 0, &out, NULL);
  if (in.rank != 4 || in.shape[1] != 3 || in.dtype != QI_FLOAT32) {
    fprintf(stderr, "classify: expected a float input [1,3,H,W]\n");
    qi_model_free(model);
    return 1;
  }
  qi_image img;
  if (qi_image_load(argv[2], &img, &err) != QI_OK) {
    fprintf(stderr, "classify: %s\n", err.message);
    qi_model_free(model);
    return 1;
  }
  qi_preprocess pre = qi_preprocess_imagenet();
  pre.out_h = (int)in.shape[2];
  pre.out_w = (int)in.shape[3];
  pre.resize = pre.out_w * 256 / 224;
  size_t in_count = (size_t)3 * (size_t)pre.out_h * (size_t)pre.out_w;
  size_t out_count = 1;
  for (int d = 0; d < out.rank; d++) out_count *= (size_t)out.shape[d];
  float *x = malloc(in_count * sizeof(float));
  float *y = malloc(out_count * sizeof(float));
  qi_session *session = NULL;
  int rc = 1;
  if (!x || !y) goto done;
  qi_image_to_tensor(&img, &pre, x);
  qi_binding bin = {in.name, QI_FLOAT32, in.rank, in.shape, x, in_count * sizeof(float)};
  qi_binding bout = {out.name, QI_FLOAT32, out.rank, out.shape, y, out_count * sizeof(float)};
  if (qi_session_create(model, NULL, &session, &err) != QI_OK ||
      qi_session_run(session, &bin, 1, &bout, 1, &err) != QI_OK) {
    fprintf(stderr, "classify: %s\n", err.message);
    goto done;
  }
  /* Softmax only for display: the model outputs logits. */
  float mx = y[0];
  for (size_t i = 1; i < out_count; i++) mx = y[i] > mx ? y[i] : mx;
  double sum = 0;
  for (size_t i = 0; i < out_count; i++) sum += exp((double)(y[i] - mx));
  int nlabels;
  char **labels = read_labels(argc > 3 ? argv[3] : NULL, &nlabels);
  for (int rank = 0; rank < 5 && (size_t)rank < out_count; rank++) {
    size_t best = 0;
    for (size_t i = 1; i < out_count; i++)
      if (y[i] > y[best]) best = i;
    printf("%d. class %zu (%.1f%%) %s\n", rank + 1, best,
           100.0 * exp((double)(y[best] - mx)) / sum,
           (int)best < nlabels ? labels[best] : "");
    y[best] = -INFINITY;
  }
  for (int i = 0; i < nlabels; i++) free(labels[i]);
  free(labels);
  rc = 0;
done:
  qi_session_free(session);
  qi_model_free(model);
  qi_image_free(&img);
  free(x);
  free(y);
  return rc;
}
