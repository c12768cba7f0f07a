/* Shared by the generator and the runner of the hostile-inputs catalog:
 * ONNX attribute builders on top of tests/unit/onnx_build.h, the small
 * valid models the hostile files are derived from, and file writing.
 * Test code only: allocation and write failures abort. */
#ifndef BAD_BUILD_H
#define BAD_BUILD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx_build.h"

static inline pbe bad_attr_int(const char *name, int64_t v) {
  pbe a = attr_hdr(name, 2);
  pbe_int(&a, 3, v);
  return a;
}

static inline pbe bad_attr_ints(const char *name, const int64_t *v, int n) {
  pbe a = attr_hdr(name, 7);
  for (int i = 0; i < n; i++) pbe_int(&a, 8, v[i]);
  return a;
}

static inline pbe bad_attr_float(const char *name, float v) {
  pbe a = attr_hdr(name, 1);
  pbe_f32(&a, 2, v);
  return a;
}

static inline pbe bad_attr_str(const char *name, const char *s) {
  pbe a = attr_hdr(name, 3);
  pbe_str(&a, 4, s);
  return a;
}

/* Deterministic weights: the catalog's files are the same on every run. */
static inline void bad_weights(pbe *g, const char *name, const int64_t *dims,
                               int nd) {
  size_t n = 1;
  for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
  float *v = malloc(n * sizeof *v + 1);
  if (!v) abort();
  for (size_t i = 0; i < n; i++) v[i] = (float)((i * 37u) % 17u) / 17.0f - 0.5f;
  float_init(g, name, dims, nd, v, n);
  free(v);
}

/* The valid model most hostile files start from: x [1,3,8,8] -> Conv 3x3
 * pad 1 (4 filters, bias) -> Relu -> y [1,4,8,8]. */
#define BAD_CONV_IN_COUNT (3 * 8 * 8)
#define BAD_CONV_OUT_COUNT (4 * 8 * 8)
static const int64_t bad_conv_x_shape[4] = {1, 3, 8, 8};
static const int64_t bad_conv_y_shape[4] = {1, 4, 8, 8};

static inline void bad_conv_graph(pbe *g) {
  const int64_t w[4] = {4, 3, 3, 3}, b[1] = {4};
  bad_weights(g, "w", w, 4);
  bad_weights(g, "b", b, 1);
  const char *in[3] = {"x", "w", "b"}, *out = "c";
  int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1};
  pbe attrs[2] = {bad_attr_ints("kernel_shape", ks, 2),
                  bad_attr_ints("pads", pads, 4)};
  node(g, "Conv", "conv", in, 3, &out, 1, attrs, 2);
  node1(g, "Relu", "relu", "c", "y");
  value_info(g, 11, "x", QI_FLOAT32, bad_conv_x_shape, 4);
  value_info(g, 12, "y", QI_FLOAT32, bad_conv_y_shape, 4);
}

static inline pbe bad_conv_model(void) {
  pbe g = {0};
  bad_conv_graph(&g);
  return model(17, &g);
}

/* A valid Gather whose indices are a run-time input: data [3,4] float,
 * idx [2] int64 -> y [2,4]. */
static const int64_t bad_gather_data_shape[2] = {3, 4};
static const int64_t bad_gather_idx_shape[1] = {2};
static const int64_t bad_gather_y_shape[2] = {2, 4};

static inline pbe bad_gather_model(void) {
  pbe g = {0};
  const char *in[2] = {"data", "idx"}, *out = "y";
  node(&g, "Gather", "gather", in, 2, &out, 1, NULL, 0);
  value_info(&g, 11, "data", QI_FLOAT32, bad_gather_data_shape, 2);
  value_info(&g, 11, "idx", QI_INT64, bad_gather_idx_shape, 1);
  value_info(&g, 12, "y", QI_FLOAT32, bad_gather_y_shape, 2);
  return model(17, &g);
}

static inline void bad_write(const char *dir, const char *name, const void *p,
                             size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
    fprintf(stderr, "cannot write %s\n", path);
    abort();
  }
}

#endif
