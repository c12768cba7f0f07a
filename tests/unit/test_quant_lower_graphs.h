/*
 * The FP32 graphs of test_quant_lower.c, built by hand: helpers that add
 * tensors and nodes (over graph_build_util.h and quant_lower_test_util.h),
 * and one builder per model. Builders are
 * deterministic (fixed seeds), so the calibration, FP32 and INT8 loads of
 * a case see the same weights. Static functions: include once.
 */
#ifndef TEST_QUANT_LOWER_GRAPHS_H
#define TEST_QUANT_LOWER_GRAPHS_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "graph_build_util.h"
#include "quant_lower_test_util.h"

/* ---- graph building ------------------------------------------------- */

/* Uniform in [-a, a] with a = gain * sqrt(3 / fan_in): unit-variance
 * outputs for unit-variance inputs at gain 1. */
static int weights(qi_graph *g, const char *name, qi_shape s, float gain) {
  int64_t n = qi_shape_numel(&s), fan_in = n / s.d[0];
  float *v = malloc(sizeof(float) * (size_t)n);
  float a = gain * sqrtf(3.0f / (float)fan_in);
  for (int64_t i = 0; i < n; i++) v[i] = urand(-a, a);
  int t = const_f32(g, name, s, v);
  free(v);
  return t;
}

static int bias(qi_graph *g, const char *name, int64_t n, float a) {
  float v[256];
  for (int64_t i = 0; i < n; i++) v[i] = urand(-a, a);
  return const_f32(g, name, SH(n), v);
}

static int scalar(qi_graph *g, const char *name, float v) {
  return const_f32(g, name, (qi_shape){.rank = 0}, &v);
}

static int node(qi_graph *g, const char *name, const char *op, const int *in,
                int nin, int out) {
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  for (int k = 0; k < nin; k++) g->nodes[n].in[k] = in[k];
  g->nodes[n].out[0] = out;
  return n;
}

/* out = Conv(x, w[co, ci/group, k, k], b) with square stride and pads. */
static int conv(qi_graph *g, const char *name, int x, int64_t ci, int64_t co,
                int k, int stride, int pad, int group, int with_bias) {
  char wn[64], bn[64];
  snprintf(wn, sizeof wn, "%s.w", name);
  snprintf(bn, sizeof bn, "%s.b", name);
  int w = weights(g, wn, SH(co, ci / group, k, k), 1.4f);
  int y = act(g, name);
  int n = with_bias ? node(g, name, "Conv", IDX(x, w, bias(g, bn, co, 0.2f)), y)
                    : node(g, name, "Conv", IDX(x, w), y);
  attr_ints(g, n, "strides", 2, stride, stride);
  attr_ints(g, n, "pads", 4, pad, pad, pad, pad);
  if (group > 1) attr_i(g, n, "group", group);
  return y;
}

static int unary(qi_graph *g, const char *name, const char *op, int x) {
  int y = act(g, name);
  node(g, name, op, IDX(x), y);
  return y;
}

static int binary(qi_graph *g, const char *name, const char *op, int a,
                  int b) {
  int y = act(g, name);
  node(g, name, op, IDX(a, b), y);
  return y;
}

static int clip(qi_graph *g, const char *name, int x, float lo, float hi) {
  char a[64], b[64];
  snprintf(a, sizeof a, "%s.min", name);
  snprintf(b, sizeof b, "%s.max", name);
  int y = act(g, name);
  node(g, name, "Clip", IDX(x, scalar(g, a, lo), scalar(g, b, hi)), y);
  return y;
}

/* ---- the models under test ------------------------------------------ */


static qi_graph *new_graph(uint64_t seed) {
  g_rng = seed;
  return qi_graph_create();
}

/* Conv/Relu, MaxPool, Conv/Relu, Conv + residual Add + Relu. */
static qi_graph *build_resnet(void) {
  qi_graph *g = new_graph(11);
  int x = input(g, "x", SH(1, 3, 20, 20));
  int c1 = unary(g, "r1", "Relu", conv(g, "c1", x, 3, 8, 3, 2, 1, 1, 1));
  int p1 = act(g, "p1");
  int mp = node(g, "pool", "MaxPool", IDX(c1), p1);
  attr_ints(g, mp, "kernel_shape", 2, 3, 3);
  attr_ints(g, mp, "strides", 2, 2, 2);
  attr_ints(g, mp, "pads", 4, 1, 1, 1, 1);
  int c2 = unary(g, "r2", "Relu", conv(g, "c2", p1, 8, 8, 3, 1, 1, 1, 1));
  int c3 = conv(g, "c3", c2, 8, 8, 3, 1, 1, 1, 1);
  output(g, unary(g, "y", "Relu", binary(g, "sum", "Add", c3, p1)));
  return g;
}

/* 1x1 expand + Clip(0, 6), depthwise 3x3 s2 + Clip(0, 6), 1x1 project. */
static qi_graph *build_mobilenet(void) {
  qi_graph *g = new_graph(12);
  int x = input(g, "x", SH(1, 8, 12, 12));
  int e = clip(g, "e6", conv(g, "expand", x, 8, 24, 1, 1, 0, 1, 1), 0, 6);
  int d = clip(g, "d6", conv(g, "dw", e, 24, 24, 3, 2, 1, 24, 1), 0, 6);
  output(g, conv(g, "y", d, 24, 8, 1, 1, 0, 1, 1));
  return g;
}

/* MaxPool (ceil_mode) -> squeeze 1x1 -> expand 1x1 | expand 3x3 ->
 * Concat on channels. */
static qi_graph *build_fire(void) {
  qi_graph *g = new_graph(13);
  int x = input(g, "x", SH(1, 6, 14, 14));
  int p = act(g, "p");
  int mp = node(g, "pool", "MaxPool", IDX(x), p);
  attr_ints(g, mp, "kernel_shape", 2, 3, 3);
  attr_ints(g, mp, "strides", 2, 2, 2);
  attr_i(g, mp, "ceil_mode", 1);
  int s = unary(g, "sq", "Relu", conv(g, "s", p, 6, 4, 1, 1, 0, 1, 1));
  int e1 = unary(g, "e1", "Relu", conv(g, "c1", s, 4, 8, 1, 1, 0, 1, 1));
  int e3 = unary(g, "e3", "Relu", conv(g, "c3", s, 4, 7, 3, 1, 1, 1, 1));
  int y = act(g, "y");
  attr_i(g, node(g, "cat", "Concat", IDX(e1, e3), y), "axis", 1);
  output(g, y);
  return g;
}

/* Conv/Relu, GlobalAveragePool, Flatten, Gemm, Softmax; batch 2. */
static qi_graph *build_head(void) {
  qi_graph *g = new_graph(14);
  int x = input(g, "x", SH(2, 16, 5, 5));
  int c = unary(g, "r", "Relu", conv(g, "c", x, 16, 16, 3, 1, 1, 1, 1));
  int gap = unary(g, "gap", "GlobalAveragePool", c);
  int fl = unary(g, "flat", "Flatten", gap);
  int fc = act(g, "fc");
  node(g, "fc", "Gemm",
       IDX(fl, weights(g, "fc.w", SH(10, 16), 3.0f), bias(g, "fc.b", 10, 0.5f)),
       fc);
  attr_i(g, g->nnodes - 1, "transB", 1);
  output(g, unary(g, "softmax", "Softmax", fc));
  return g;
}

/* Conv -> HardSwish -> Conv -> Sigmoid (standalone table activations). */
static qi_graph *build_lut(void) {
  qi_graph *g = new_graph(15);
  int x = input(g, "x", SH(1, 8, 6, 6));
  int h = unary(g, "hswish", "HardSwish", conv(g, "c1", x, 8, 8, 3, 1, 1, 1, 1));
  output(g, unary(g, "sig", "Sigmoid", conv(g, "c2", h, 8, 8, 3, 1, 1, 1, 1)));
  return g;
}

/* PP-LCNet's learnable affine block after an activation (Mul and Add by
 * constant scalars, the constant first in the Add) feeding a conv; a Mul
 * by a per-channel constant (no INT8 form); a Mul by a scalar read only by
 * the graph output (no INT8 reader). */
static qi_graph *build_affine(void) {
  qi_graph *g = new_graph(15);
  int x = input(g, "x", SH(1, 8, 6, 6));
  int h = unary(g, "hswish", "HardSwish", conv(g, "c1", x, 8, 8, 3, 1, 1, 1, 1));
  int m = binary(g, "lab_mul", "Mul", h, scalar(g, "lab.s", 0.8f));
  int a = binary(g, "lab_add", "Add", scalar(g, "lab.b", -0.3f), m);
  output(g, conv(g, "c2", a, 8, 8, 1, 1, 0, 1, 1));
  output(g, binary(g, "tail_mul", "Mul", a, scalar(g, "tail.s", 1.5f)));
  const float pc[8] = {0.5f, 1, 2, -1, 0.25f, 3, 1, 1.5f};
  output(g, binary(g, "chan_mul", "Mul", h, const_f32(g, "pc", SH(1, 8, 1, 1), pc)));
  return g;
}

/* The other table activations, each after a conv. */
static qi_graph *build_lut_zoo(void) {
  qi_graph *g = new_graph(16);
  int x = input(g, "x", SH(1, 6, 5, 5));
  int a = unary(g, "leaky", "LeakyRelu", conv(g, "c1", x, 6, 6, 3, 1, 1, 1, 1));
  attr_f(g, g->nnodes - 1, "alpha", 0.1f);
  int b = unary(g, "silu", "QiSilu", conv(g, "c2", a, 6, 6, 3, 1, 1, 1, 1));
  int c = unary(g, "gelu", "Gelu", conv(g, "c3", b, 6, 6, 1, 1, 0, 1, 1));
  int d = unary(g, "gelut", "Gelu", conv(g, "c4", c, 6, 6, 1, 1, 0, 1, 1));
  attr_s(g, g->nnodes - 1, "approximate", "tanh");
  int e = unary(g, "tanh", "Tanh", conv(g, "c5", d, 6, 6, 1, 1, 0, 1, 1));
  int f = unary(g, "hsig", "HardSigmoid", conv(g, "c6", e, 6, 6, 1, 1, 0, 1, 1));
  int r = unary(g, "relu", "Relu", unary(g, "clip_in", "Tanh", f));
  output(g, clip(g, "clip", binary(g, "mix", "Add", r, f), 0.1f, 0.9f));
  return g;
}

static int resize(qi_graph *g, const char *name, int x, const float *scales,
                  const int64_t *sizes, const char *mode,
                  const char *coord) {
  int y = act(g, name), n;
  char sn[64];
  snprintf(sn, sizeof sn, "%s.shape", name);
  if (scales) {
    n = node(g, name, "Resize", IDX(x, -1, const_f32(g, sn, SH(4), scales)),
             y);
  } else {
    int t = qi_graph_add_tensor(g, sn, QI_INT64);
    g->tensors[t].shape = SH(4);
    int64_t *d = malloc(4 * sizeof(int64_t));
    memcpy(d, sizes, 4 * sizeof(int64_t));
    qi_tensor_set_const(&g->tensors[t], d, 4 * sizeof(int64_t));
    n = node(g, name, "Resize", IDX(x, -1, -1, t), y);
  }
  attr_s(g, n, "mode", mode);
  attr_s(g, n, "coordinate_transformation_mode", coord);
  if (!strcmp(mode, "nearest")) attr_s(g, n, "nearest_mode", "floor");
  return y;
}

/* Conv/Relu -> Resize nearest x2 (scales) -> Conv; Resize bilinear to odd
 * sizes; Resize nearest by scales whose products are fractional (the
 * coordinates use the scales, not out / in). */
static qi_graph *build_resize(void) {
  qi_graph *g = new_graph(17);
  int x = input(g, "x", SH(1, 4, 5, 6));
  int c = unary(g, "r", "Relu", conv(g, "c", x, 4, 5, 3, 1, 1, 1, 1));
  int up = resize(g, "up", c, (const float[]){1, 1, 2, 2}, NULL, "nearest",
                  "asymmetric");
  output(g, conv(g, "y", up, 5, 4, 3, 1, 1, 1, 1));
  output(g, resize(g, "lin", c, NULL, (const int64_t[]){1, 5, 7, 9}, "linear",
                   "pytorch_half_pixel"));
  output(g, resize(g, "frac", c, (const float[]){1, 1, 1.5f, 1.7f}, NULL,
                   "nearest", "asymmetric"));
  return g;
}

/* Squeeze-and-excitation: GAP -> 1x1/Relu -> 1x1 -> Sigmoid -> Mul by
 * channel [1, C, 1, 1], then a plain Add of two activations. */
static qi_graph *build_se(void) {
  qi_graph *g = new_graph(18);
  int x = input(g, "x", SH(1, 8, 6, 6));
  int f = unary(g, "f", "Relu", conv(g, "c", x, 8, 8, 3, 1, 1, 1, 1));
  int s = unary(g, "gap", "GlobalAveragePool", f);
  s = unary(g, "s1", "Relu", conv(g, "fc1", s, 8, 4, 1, 1, 0, 1, 1));
  s = unary(g, "gate", "Sigmoid", conv(g, "fc2", s, 4, 8, 1, 1, 0, 1, 1));
  output(g, binary(g, "y", "Add", binary(g, "scaled", "Mul", s, f), x));
  return g;
}

/* Transformer MLP on [2, 5, 12]: MatMul + bias + Relu (fused), MatMul;
 * and a Gemm with transB = 0, alpha and beta on a second input. */
static qi_graph *build_mlp(void) {
  qi_graph *g = new_graph(19);
  int x = input(g, "x", SH(2, 5, 12));
  int z = input(g, "z", SH(3, 12));
  int m1 = binary(g, "m1", "MatMul", x, weights(g, "w1", SH(12, 16), 1.4f));
  int h = unary(g, "h", "Relu",
                binary(g, "b1", "Add", m1, bias(g, "b1.v", 16, 0.3f)));
  output(g, binary(g, "y", "MatMul", h, weights(g, "w2", SH(16, 12), 1.0f)));
  int gm = act(g, "gemm");
  int n = node(g, "gemm", "Gemm",
               IDX(z, weights(g, "gw", SH(12, 6), 1.0f),
                   const_f32(g, "gc", SH(1, 6),
                             (const float[]){.1f, -.2f, .3f, 0, .5f, -.6f})),
               gm);
  attr_f(g, n, "alpha", 0.5f);
  attr_f(g, n, "beta", 2.0f);
  output(g, gm);
  return g;
}

/* Forms without an INT8 kernel stay FP32 next to INT8 nodes: Add
 * broadcasting over channels, cubic Resize, Sub, Conv on a rank-3 input
 * and the ReduceMean feeding the Add. */
static qi_graph *build_fallbacks(void) {
  qi_graph *g = new_graph(20);
  int x = input(g, "x", SH(1, 4, 6, 6));
  int c = unary(g, "r", "Relu", conv(g, "c", x, 4, 4, 3, 1, 1, 1, 1));
  int rm = unary(g, "rm", "ReduceMean", c);
  attr_ints(g, g->nnodes - 1, "axes", 1, 1);
  output(g, binary(g, "y1", "Add", c, rm));
  int cub = resize(g, "y2", c, (const float[]){1, 1, 2, 2}, NULL, "cubic",
                   "half_pixel");
  output(g, binary(g, "y3", "Sub", cub, cub));
  int v = input(g, "v", SH(1, 4, 9));
  int w = weights(g, "c1d.w", SH(4, 4, 3), 1.0f);
  int y4 = act(g, "y4");
  node(g, "c1d", "Conv", IDX(v, w), y4);
  output(g, y4);
  return g;
}

/* Two convs on one weight tensor share its int8 copy. */
static qi_graph *build_shared(void) {
  qi_graph *g = new_graph(21);
  int x = input(g, "x", SH(1, 5, 6, 6));
  int w = weights(g, "w", SH(5, 5, 3, 3), 1.4f);
  int a = act(g, "a"), y = act(g, "y");
  attr_ints(g, node(g, "ca", "Conv", IDX(x, w), a), "pads", 4, 1, 1, 1, 1);
  attr_ints(g, node(g, "cb", "Conv", IDX(a, w), y), "pads", 4, 1, 1, 1, 1);
  output(g, y);
  return g;
}

/* A dead channel (weights ~1e-12, as BatchNorm folding leaves them) with a
 * bias: the bias cannot be expressed on the weights' own scale, so the
 * channel's scale is raised until it fits, instead of keeping the whole
 * conv in FP32. */
static qi_graph *build_dead_channel(void) {
  qi_graph *g = new_graph(22);
  int x = input(g, "x", SH(1, 4, 6, 6));
  int y = unary(g, "y", "Relu", conv(g, "c", x, 4, 6, 3, 1, 1, 1, 1));
  qi_tensor *w = &g->tensors[qi_graph_find_tensor(g, "c.w")];
  float *wd = w->data, *bd = g->tensors[qi_graph_find_tensor(g, "c.b")].data;
  for (int i = 0; i < 4 * 9; i++) wd[2 * 36 + i] *= 1e-12f;
  bd[2] = 1.5f;
  output(g, y);
  return g;
}

static int pool(qi_graph *g, const char *name, const char *op, int x, int k,
                int stride, const char *auto_pad) {
  int y = act(g, name);
  int n = node(g, name, op, IDX(x), y);
  attr_ints(g, n, "kernel_shape", 2, k, k);
  attr_ints(g, n, "strides", 2, stride, stride);
  if (auto_pad) attr_s(g, n, "auto_pad", auto_pad);
  return y;
}

/* auto_pad everywhere, with odd totals: Conv SAME_UPPER stride 2 (12 ->
 * 6, pads 0 / 1), AveragePool SAME_LOWER (6 -> 3, pads 1 / 0),
 * AveragePool with explicit asymmetric pads counted (count_include_pad),
 * MaxPool VALID with dilations; a Gemm whose C has one row per sample
 * (no per-column bias: stays FP32). */
static qi_graph *build_pools(void) {
  qi_graph *g = new_graph(23);
  int x = input(g, "x", SH(2, 6, 12, 12));
  int w = weights(g, "c.w", SH(8, 6, 3, 3), 1.4f);
  int c = act(g, "c");
  int n = node(g, "c", "Conv", IDX(x, w, bias(g, "c.b", 8, 0.2f)), c);
  attr_ints(g, n, "strides", 2, 2, 2);
  attr_s(g, n, "auto_pad", "SAME_UPPER");
  int a1 = pool(g, "a1", "AveragePool", unary(g, "r", "Relu", c), 3, 2,
                "SAME_LOWER");
  int a2 = pool(g, "a2", "AveragePool", a1, 2, 1, NULL);
  attr_ints(g, g->nnodes - 1, "pads", 4, 0, 0, 1, 1);
  attr_i(g, g->nnodes - 1, "count_include_pad", 1);
  int m = pool(g, "m", "MaxPool", a2, 2, 1, "VALID");
  attr_ints(g, g->nnodes - 1, "dilations", 2, 2, 2);
  output(g, m);
  int fl = unary(g, "flat", "Flatten", m);
  int y = act(g, "fc");
  float cv[2 * 3] = {0.1f, -0.2f, 0.3f, 0.4f, 0.0f, -0.5f};
  node(g, "fc", "Gemm",
       IDX(fl, weights(g, "fc.w", SH(8, 3), 1.0f),
           const_f32(g, "fc.c", SH(2, 3), cv)),
       y);
  output(g, y);
  return g;
}

#endif
