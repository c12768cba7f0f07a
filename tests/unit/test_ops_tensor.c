/*
 * Tensor-manipulation ops (shape ops, Cast, Range, Expand, ...) against
 * plain references written here. Data movement is compared exactly.
 * Layout ops (Transpose, Concat, Split, Slice, Pad, Gather, Tile,
 * DepthToSpace) are in test_ops_layout.c, Resize in test_ops_resize.c.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "qtest.h"
#include "tensor_op_harness.h"

static int has_text(const th_out *o, const char *s) {
  return strstr(o->err.message, s) != NULL;
}

static void test_reshape(qt_state *st) {
  int64_t d[3] = {2, 3, 4};
  float x[24];
  for (int i = 0; i < 24; i++) x[i] = (float)i * 0.5f - 3.0f;
  void *act[2] = {x, NULL};
  struct {
    int n;
    int64_t shape[4];
    int allowzero;
    int rank;
    int64_t want[4];
  } cases[] = {
      {2, {0, -1}, 0, 2, {2, 12}},     {3, {4, 0, -1}, 0, 3, {4, 3, 2}},
      {1, {-1}, 0, 1, {24}},           {4, {1, 2, -1, 3}, 0, 4, {1, 2, 4, 3}},
      {3, {0, 0, 4}, 0, 3, {2, 3, 4}}, {2, {6, 4}, 1, 2, {6, 4}},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    qi_graph *g = th_graph(14);
    int ins[2] = {th_act(g, "x", QI_FLOAT32, 3, d),
                  th_const_i64(g, "s", cases[c].n, cases[c].shape)};
    int ni = th_node(g, "Reshape", 2, ins, 1);
    if (cases[c].allowzero) th_attr_int(g, ni, "allowzero", 1);
    th_out o;
    QT_CHECKF(st, th_run(g, ni, act, &o) == QI_OK, "case %zu: %s", c,
              o.err.message);
    QT_CHECKF(st, th_shape_is(&o.buf[0], cases[c].rank, cases[c].want),
              "case %zu", c);
    QT_CHECK(st, o.buf[0].data && memcmp(o.buf[0].data, x, sizeof x) == 0);
    th_done(&o);
    qi_graph_free(g);
  }
  /* allowzero: a 0 in the shape is a real 0 (empty input). */
  {
    qi_graph *g = th_graph(14);
    int64_t de[2] = {0, 3}, s[3] = {3, 0, 5};
    int ins[2] = {th_act(g, "x", QI_INT64, 2, de), th_const_i64(g, "s", 3, s)};
    int ni = th_node(g, "Reshape", 2, ins, 1);
    th_attr_int(g, ni, "allowzero", 1);
    th_out o;
    int64_t dummy = 0;
    void *a2[2] = {&dummy, NULL};
    QT_CHECK(st, th_run(g, ni, a2, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 3, s));
    th_done(&o);
    qi_graph_free(g);
  }
  /* Errors: two -1, size mismatch, 0 beyond the input rank, non-constant
   * shape. */
  int64_t bad[3][3] = {{-1, -1, 2}, {5, 5, 1}, {2, 12, 0}};
  for (int c = 0; c < 3; c++) {
    qi_graph *g = th_graph(14);
    int ins[2] = {th_act(g, "x", QI_FLOAT32, 3, d),
                  th_const_i64(g, "s", c == 2 ? 4 : 3,
                               c == 2 ? (int64_t[]){2, 3, 4, 0} : bad[c])};
    int ni = th_node(g, "Reshape", 2, ins, 1);
    th_out o;
    QT_CHECKF(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE, "bad case %d", c);
    th_done(&o);
    qi_graph_free(g);
  }
  {
    qi_graph *g = th_graph(14);
    int64_t one[1] = {2};
    int ins[2] = {th_act(g, "x", QI_FLOAT32, 3, d),
                  th_act(g, "dyn", QI_INT64, 1, one)};
    int ni = th_node(g, "Reshape", 2, ins, 1);
    th_out o;
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_UNSUPPORTED);
    QT_CHECKF(st,
              has_text(&o,
                       "shape input 'dyn' is not constant; qinfer "
                       "needs static shapes"),
              "%s", o.err.message);
    QT_CHECK(st, has_text(&o, "Reshape"));
    th_done(&o);
    qi_graph_free(g);
  }
}

static void test_flatten(qt_state *st) {
  int64_t d[4] = {2, 3, 4, 5};
  static uint8_t x[120];
  for (int i = 0; i < 120; i++) x[i] = (uint8_t)(i * 7);
  void *act[1] = {x};
  int64_t axes[5] = {0, 2, -1, 4, -4};
  int64_t want[5][2] = {{1, 120}, {6, 20}, {24, 5}, {120, 1}, {1, 120}};
  for (int c = 0; c < 5; c++) {
    qi_graph *g = th_graph(13);
    int ins[1] = {th_act(g, "x", QI_UINT8, 4, d)};
    int ni = th_node(g, "Flatten", 1, ins, 1);
    th_attr_int(g, ni, "axis", axes[c]);
    th_out o;
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
    QT_CHECKF(st, th_shape_is(&o.buf[0], 2, want[c]), "axis %lld",
              (long long)axes[c]);
    QT_CHECK(st, memcmp(o.buf[0].data, x, sizeof x) == 0);
    th_done(&o);
    qi_graph_free(g);
  }
  qi_graph *g = th_graph(13);
  int ins[1] = {th_act(g, "x", QI_UINT8, 4, d)};
  int ni = th_node(g, "Flatten", 1, ins, 1);
  th_attr_int(g, ni, "axis", 5);
  th_out o;
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE);
  th_done(&o);
  qi_graph_free(g);
}

/* Squeeze/Unsqueeze with axes as attribute (opset 11) or input (13). */
static qi_status squeeze_like(const char *op, int64_t opset, int rank,
                              const int64_t *d, int naxes, const int64_t *axes,
                              th_out *o) {
  static int64_t x[64];
  for (int i = 0; i < 64; i++) x[i] = (int64_t)i * 1000003 - 7;
  void *act[2] = {x, NULL};
  qi_graph *g = th_graph(opset);
  int ins[2] = {th_act(g, "x", QI_INT64, rank, d), -1};
  if (opset >= 13 && naxes >= 0) ins[1] = th_const_i64(g, "axes", naxes, axes);
  int ni = th_node(g, op, opset >= 13 && naxes >= 0 ? 2 : 1, ins, 1);
  if (opset < 13 && naxes >= 0) th_attr_ints(g, ni, "axes", naxes, axes);
  qi_status s = th_run(g, ni, act, o);
  if (s == QI_OK && memcmp(o->buf[0].data, x,
                           (size_t)th_numel(rank, d) * sizeof(int64_t)) != 0)
    s = QI_ERR_INTERNAL;
  qi_graph_free(g);
  return s;
}

static void test_squeeze_unsqueeze(qt_state *st) {
  int64_t d[4] = {1, 3, 1, 1};
  for (int64_t opset = 11; opset <= 13; opset += 2) {
    th_out o;
    int64_t ax[2] = {0, -1}, w1[2] = {3, 1};
    QT_CHECK(st, squeeze_like("Squeeze", opset, 4, d, 2, ax, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 2, w1));
    th_done(&o);
    int64_t w2[1] = {3};
    QT_CHECK(st, squeeze_like("Squeeze", opset, 4, d, -1, NULL, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 1, w2));
    th_done(&o);
    int64_t ax3[1] = {1};
    QT_CHECK(st,
             squeeze_like("Squeeze", opset, 4, d, 1, ax3, &o) == QI_ERR_SHAPE);
    th_done(&o);
    int64_t d2[2] = {3, 4}, ax4[2] = {3, -4}, w4[4] = {1, 3, 4, 1};
    QT_CHECK(st, squeeze_like("Unsqueeze", opset, 2, d2, 2, ax4, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 4, w4));
    th_done(&o);
    int64_t ax5[3] = {-1, 1, 0}, w5[5] = {1, 1, 3, 4, 1};
    QT_CHECK(st, squeeze_like("Unsqueeze", opset, 2, d2, 3, ax5, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 5, w5));
    th_done(&o);
    int64_t ax6[2] = {1, -3}; /* the same axis twice */
    QT_CHECK(st, squeeze_like("Unsqueeze", opset, 2, d2, 2, ax6, &o) ==
                     QI_ERR_SHAPE);
    th_done(&o);
    /* scalar -> [1] */
    int64_t ax7[1] = {0}, w7[1] = {1};
    QT_CHECK(st, squeeze_like("Unsqueeze", opset, 0, d2, 1, ax7, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 1, w7));
    th_done(&o);
  }
}

static void test_shape_op(qt_state *st) {
  int64_t d[4] = {2, 3, 4, 5};
  struct {
    int has_s, has_e;
    int64_t s, e, first, count;
  } cases[] = {{0, 0, 0, 0, 0, 4},    {1, 0, 1, 0, 1, 3}, {0, 1, 0, -1, 0, 3},
               {1, 1, -10, 10, 0, 4}, {1, 1, 3, 1, 3, 0}, {1, 1, -3, -1, 1, 2},
               {1, 0, 4, 0, 4, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    qi_graph *g = th_graph(15);
    int ins[1] = {th_act(g, "x", QI_FLOAT32, 4, d)};
    int ni = th_node(g, "Shape", 1, ins, 1);
    if (cases[c].has_s) th_attr_int(g, ni, "start", cases[c].s);
    if (cases[c].has_e) th_attr_int(g, ni, "end", cases[c].e);
    th_out o;
    void *act[1] = {NULL};
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
    QT_CHECK(st, o.buf[0].dtype == QI_INT64);
    QT_CHECKF(st, th_shape_is(&o.buf[0], 1, &cases[c].count), "case %zu", c);
    for (int64_t i = 0; i < cases[c].count; i++)
      QT_CHECK(st, ((int64_t *)o.buf[0].data)[i] == d[cases[c].first + i]);
    th_done(&o);
    qi_graph_free(g);
  }
}

static void test_identity_dropout(qt_state *st) {
  int64_t d[2] = {3, 5};
  int32_t x[15];
  for (int i = 0; i < 15; i++) x[i] = i * 37 - 200;
  void *act[3] = {x, NULL, NULL};
  qi_graph *g = th_graph(13);
  int ins[1] = {th_act(g, "x", QI_INT32, 2, d)};
  int ni = th_node(g, "Identity", 1, ins, 1);
  th_out o;
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
  QT_CHECK(st, o.buf[0].dtype == QI_INT32 && th_shape_is(&o.buf[0], 2, d));
  QT_CHECK(st, memcmp(o.buf[0].data, x, sizeof x) == 0);
  th_done(&o);
  qi_graph_free(g);
  for (int mode = 0; mode < 3; mode++) { /* no input, false, true */
    g = th_graph(13);
    uint8_t flag = mode == 2;
    int64_t none[1] = {0};
    float ratio = 0.5f;
    int dins[3] = {th_act(g, "x", QI_INT32, 2, d),
                   th_const(g, "r", QI_FLOAT32, 0, none, &ratio),
                   th_const(g, "t", QI_BOOL, 0, none, &flag)};
    ni = th_node(g, "Dropout", mode ? 3 : 1, dins, 2);
    qi_status s = th_run(g, ni, act, &o);
    if (mode == 2) {
      QT_CHECK(st, s == QI_ERR_UNSUPPORTED);
    } else {
      QT_CHECK(st, s == QI_OK);
      QT_CHECK(st, memcmp(o.buf[0].data, x, sizeof x) == 0);
      QT_CHECK(st, o.buf[1].dtype == QI_BOOL && th_shape_is(&o.buf[1], 2, d));
      for (int i = 0; i < 15; i++)
        QT_CHECK(st, ((uint8_t *)o.buf[1].data)[i] == 1);
    }
    th_done(&o);
    qi_graph_free(g);
  }
}

/* Expand against a naive broadcast. */
static void check_expand(qt_state *st, int rin, const int64_t *din, int ns,
                         const int64_t *shape, int rw, const int64_t *want) {
  int64_t nin = th_numel(rin, din);
  int64_t *x = malloc(sizeof(int64_t) * (size_t)(nin ? nin : 1));
  for (int64_t i = 0; i < nin; i++) x[i] = i * 31 + 5;
  void *act[2] = {x, NULL};
  qi_graph *g = th_graph(13);
  int ins[2] = {th_act(g, "x", QI_INT64, rin, din),
                th_const_i64(g, "s", ns, shape)};
  int ni = th_node(g, "Expand", 2, ins, 1);
  th_out o;
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
  QT_CHECK(st, th_shape_is(&o.buf[0], rw, want));
  int64_t total = th_numel(rw, want), ist[QI_MAX_RANK], c[QI_MAX_RANK];
  th_strides(rin, din, ist);
  int bad = 0;
  for (int64_t i = 0; i < total; i++) {
    th_unravel(i, rw, want, c);
    int64_t off = 0;
    for (int a = 0; a < rin; a++) {
      int oa = a + rw - rin;
      off += (din[a] == 1 ? 0 : c[oa]) * ist[a];
    }
    if (((int64_t *)o.buf[0].data)[i] != x[off]) bad++;
  }
  QT_CHECKF(st, bad == 0, "%d mismatches", bad);
  th_done(&o);
  qi_graph_free(g);
  free(x);
}

static void test_expand(qt_state *st) {
  check_expand(st, 2, (int64_t[]){3, 1}, 3, (int64_t[]){2, 1, 6}, 3,
               (int64_t[]){2, 3, 6});
  check_expand(st, 2, (int64_t[]){3, 1}, 1, (int64_t[]){1}, 2,
               (int64_t[]){3, 1});
  check_expand(st, 2, (int64_t[]){1, 4}, 2, (int64_t[]){3, 1}, 2,
               (int64_t[]){3, 4});
  check_expand(st, 0, NULL, 2, (int64_t[]){2, 2}, 2, (int64_t[]){2, 2});
  check_expand(st, 4, (int64_t[]){2, 1, 3, 1}, 4, (int64_t[]){1, 5, 1, 7}, 4,
               (int64_t[]){2, 5, 3, 7});
  check_expand(st, 3, (int64_t[]){2, 1, 3}, 3, (int64_t[]){2, 0, 3}, 3,
               (int64_t[]){2, 0, 3});
  qi_graph *g = th_graph(13);
  int64_t d[2] = {3, 2}, s[2] = {4, 2};
  int ins[2] = {th_act(g, "x", QI_FLOAT32, 2, d), th_const_i64(g, "s", 2, s)};
  int ni = th_node(g, "Expand", 2, ins, 1);
  th_out o;
  float x[6] = {0};
  void *act[2] = {x, NULL};
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE);
  QT_CHECK(st, has_text(&o, "Expand"));
  th_done(&o);
  qi_graph_free(g);
}

static void test_constant_of_shape(qt_state *st) {
  struct {
    int ns;
    int64_t shape[3];
    qi_dtype dt; /* 0: no value attribute */
  } cases[] = {{2, {2, 3}, 0},          {1, {4}, QI_INT64},
               {0, {0}, QI_FLOAT32},    {2, {2, 0}, QI_INT32},
               {3, {1, 2, 3}, QI_BOOL}, {1, {5}, QI_FLOAT16}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    qi_graph *g = th_graph(13);
    int ins[1] = {th_const_i64(g, "s", cases[c].ns, cases[c].shape)};
    int ni = th_node(g, "ConstantOfShape", 1, ins, 1);
    unsigned char value[8];
    for (int i = 0; i < 8; i++) value[i] = (unsigned char)(0x11 * (i + 1));
    if (cases[c].dt) th_attr_tensor(g, ni, "value", cases[c].dt, value);
    th_out o;
    void *act[1] = {NULL};
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
    qi_dtype want_dt = cases[c].dt ? cases[c].dt : QI_FLOAT32;
    QT_CHECK(st, o.buf[0].dtype == want_dt);
    QT_CHECK(st, th_shape_is(&o.buf[0], cases[c].ns, cases[c].shape));
    size_t es = qi_dtype_size(want_dt);
    int64_t cnt = th_numel(cases[c].ns, cases[c].shape);
    for (int64_t i = 0; i < cnt; i++) {
      const unsigned char *p = (unsigned char *)o.buf[0].data + i * (int64_t)es;
      for (size_t b = 0; b < es; b++)
        QT_CHECK(st, p[b] == (cases[c].dt ? value[b] : 0));
    }
    th_done(&o);
    qi_graph_free(g);
  }
}

/* Range: count and values against a plain loop. */
static void check_range(qt_state *st, qi_dtype dt, double s, double l,
                        double dl) {
  qi_graph *g = th_graph(13);
  int64_t none[1] = {0};
  unsigned char b[3][8];
  double v[3] = {s, l, dl};
  for (int k = 0; k < 3; k++) {
    if (dt == QI_INT64) {
      int64_t t = (int64_t)v[k];
      memcpy(b[k], &t, 8);
    }
    if (dt == QI_INT32) {
      int32_t t = (int32_t)v[k];
      memcpy(b[k], &t, 4);
    }
    if (dt == QI_FLOAT32) {
      float t = (float)v[k];
      memcpy(b[k], &t, 4);
    }
    if (dt == QI_FLOAT64) memcpy(b[k], &v[k], 8);
  }
  int ins[3] = {th_const(g, "s", dt, 0, none, b[0]),
                th_const(g, "l", dt, 0, none, b[1]),
                th_const(g, "d", dt, 0, none, b[2])};
  int ni = th_node(g, "Range", 3, ins, 1);
  th_out o;
  void *act[3] = {NULL, NULL, NULL};
  qi_status rs = th_run(g, ni, act, &o);
  if (dl == 0) {
    QT_CHECK(st, rs == QI_ERR_SHAPE);
  } else {
    QT_CHECKF(st, rs == QI_OK, "%s", o.err.message);
    double ref[64];
    int64_t n = 0;
    for (double x = s; dl > 0 ? x < l : x > l; x = s + (double)(++n) * dl)
      ref[n] = x;
    QT_CHECKF(st, o.buf[0].shape.rank == 1 && o.buf[0].shape.d[0] == n,
              "range(%g,%g,%g): %lld elements, want %lld", s, l, dl,
              (long long)o.buf[0].shape.d[0], (long long)n);
    for (int64_t i = 0; i < n && i < o.buf[0].shape.d[0]; i++) {
      double got = dt == QI_INT64     ? (double)((int64_t *)o.buf[0].data)[i]
                   : dt == QI_INT32   ? ((int32_t *)o.buf[0].data)[i]
                   : dt == QI_FLOAT32 ? ((float *)o.buf[0].data)[i]
                                      : ((double *)o.buf[0].data)[i];
      double want = dt == QI_FLOAT32 ? (double)(float)ref[i] : ref[i];
      QT_CHECK(st, got == want);
    }
  }
  th_done(&o);
  qi_graph_free(g);
}

static void test_range(qt_state *st) {
  check_range(st, QI_INT64, 0, 10, 3);
  check_range(st, QI_INT64, 10, 0, -3);
  check_range(st, QI_INT64, 5, 5, 1);
  check_range(st, QI_INT64, 0, 12, 3);
  check_range(st, QI_INT64, 5, 1, 2);
  check_range(st, QI_INT32, -3, 3, 2);
  check_range(st, QI_FLOAT32, 0.5, 2.0, 0.5);
  check_range(st, QI_FLOAT32, 1.0, -2.0, -0.75);
  check_range(st, QI_FLOAT64, -1.0, 1.0, 0.25);
  check_range(st, QI_INT64, 0, 4, 0);
}

/* The chain constant folding evaluates: Shape -> Gather -> Unsqueeze ->
 * Concat -> Reshape, each output made constant before the next node. */
static void test_shape_subgraph(qt_state *st) {
  qi_graph *g = th_graph(13);
  int64_t d[4] = {2, 3, 4, 5}, none[1] = {0}, zero = 0, minus1 = -1;
  float x[120];
  for (int i = 0; i < 120; i++) x[i] = (float)i;
  int tx = th_act(g, "x", QI_FLOAT32, 4, d);
  int n_shape = th_node(g, "Shape", 1, &tx, 1);
  int t_shape = g->nodes[n_shape].out[0];
  int gi[2] = {t_shape, th_const(g, "i0", QI_INT64, 0, none, &zero)};
  int n_gather = th_node(g, "Gather", 2, gi, 1);
  int ui[2] = {g->nodes[n_gather].out[0], th_const_i64(g, "ax", 1, &zero)};
  int n_unsq = th_node(g, "Unsqueeze", 2, ui, 1);
  int ci[2] = {g->nodes[n_unsq].out[0], th_const_i64(g, "m1", 1, &minus1)};
  int n_concat = th_node(g, "Concat", 2, ci, 1);
  th_attr_int(g, n_concat, "axis", 0);
  int ri[2] = {tx, g->nodes[n_concat].out[0]};
  int n_reshape = th_node(g, "Reshape", 2, ri, 1);
  int order[5] = {n_shape, n_gather, n_unsq, n_concat, n_reshape};
  void *act[2] = {x, NULL};
  for (int s = 0; s < 5; s++) {
    th_out o;
    QT_CHECKF(st, th_run(g, order[s], act, &o) == QI_OK, "step %d: %s", s,
              o.err.message);
    if (s < 4) { /* fold: the output becomes a constant */
      qi_tensor *t = &g->tensors[g->nodes[order[s]].out[0]];
      qi_tensor_set_const(t, o.buf[0].data,
                          (size_t)qi_shape_numel(&t->shape) * 8);
      o.buf[0].data = NULL;
    } else {
      int64_t want[2] = {2, 60};
      QT_CHECK(st, th_shape_is(&o.buf[0], 2, want));
      QT_CHECK(st, memcmp(o.buf[0].data, x, sizeof x) == 0);
    }
    th_done(&o);
  }
  const qi_tensor *gt = &g->tensors[g->nodes[n_gather].out[0]];
  QT_CHECK(st, gt->shape.rank == 0 && *(int64_t *)gt->data == 2);
  qi_graph_free(g);
}

/* ---- Cast ---------------------------------------------------------------- */

/* Runs Cast(to) on `count` elements; the output is copied into dst. */
static qi_status run_cast(qi_dtype from, qi_dtype to, int64_t count,
                          const void *src, void *dst) {
  qi_graph *g = th_graph(13);
  int64_t d[1] = {count};
  int ins[1] = {th_act(g, "x", from, 1, d)};
  int ni = th_node(g, "Cast", 1, ins, 1);
  th_attr_int(g, ni, "to", to);
  th_out o;
  void *act[1] = {(void *)src};
  qi_status s = th_run(g, ni, act, &o);
  if (s == QI_OK) {
    if (o.buf[0].dtype != to || !th_shape_is(&o.buf[0], 1, d))
      s = QI_ERR_INTERNAL;
    else
      memcpy(dst, o.buf[0].data, (size_t)count * qi_dtype_size(to));
  }
  th_done(&o);
  qi_graph_free(g);
  return s;
}

/* binary16 decoded from its fields, independently of the library. */
static double ref_half(uint16_t h) {
  int e = (h >> 10) & 31, m = h & 1023;
  double v = e == 0    ? ldexp(m, -24)
             : e == 31 ? (m ? NAN : INFINITY)
                       : ldexp(1024 + m, e - 25);
  return h & 0x8000 ? -v : v;
}

/* Nearest binary16 by search over all finite codes, ties to even code. */
static uint16_t ref_to_half(double x) {
  if (isnan(x)) return 0x7e00;
  uint16_t sign = signbit(x) ? 0x8000 : 0;
  double a = fabs(x);
  if (a >= 65520.0) return sign | 0x7c00; /* past half an ulp above max */
  int lo = 0, hi = 0x7bff;
  while (lo < hi) { /* first code with value >= a */
    int mid = (lo + hi) / 2;
    if (ref_half((uint16_t)mid) < a)
      lo = mid + 1;
    else
      hi = mid;
  }
  int best = lo;
  if (lo > 0) {
    double up = ref_half((uint16_t)lo) - a,
           dn = a - ref_half((uint16_t)(lo - 1));
    if (dn < up || (dn == up && ((lo - 1) & 1) == 0)) best = lo - 1;
  }
  return sign | (uint16_t)best;
}

static void test_cast_half(qt_state *st) {
  static uint16_t h[65536];
  static float f[65536];
  for (int i = 0; i < 65536; i++) h[i] = (uint16_t)i;
  QT_CHECK(st, run_cast(QI_FLOAT16, QI_FLOAT32, 65536, h, f) == QI_OK);
  int bad = 0;
  for (int i = 0; i < 65536; i++) {
    double r = ref_half((uint16_t)i);
    if (isnan(r) ? !isnan(f[i]) : (f[i] != r || !signbit(f[i]) != !signbit(r)))
      bad++;
  }
  QT_CHECKF(st, bad == 0, "f16->f32: %d wrong", bad);
  /* float -> half: every half value, midpoints, and random floats over the
   * whole exponent range. */
  enum { N = 40000 };
  static float x[N];
  static uint16_t got[N];
  int n = 0;
  for (int i = 0; i < 0x7c00 && n < N; i += 3) {
    x[n++] = (float)ref_half((uint16_t)i);
    x[n++] = (float)((ref_half((uint16_t)i) + ref_half((uint16_t)(i + 1))) / 2);
  }
  x[n++] = 65504.0f;
  x[n++] = 65519.99f;
  x[n++] = 65520.0f;
  x[n++] = 1e30f;
  x[n++] = -0.0f;
  x[n++] = NAN;
  x[n++] = -INFINITY;
  x[n++] = 2.98e-8f;
  x[n++] = 2.9802322e-8f; /* 2^-25: exactly half the smallest subnormal */
  while (n < N) {
    uint32_t bits = th_rand() ^ (th_rand() << 16);
    float v;
    memcpy(&v, &bits, 4);
    if (!isnan(v)) x[n++] = v;
  }
  QT_CHECK(st, run_cast(QI_FLOAT32, QI_FLOAT16, N, x, got) == QI_OK);
  bad = 0;
  for (int i = 0; i < N; i++) {
    uint16_t want = ref_to_half(x[i]);
    int ok = isnan(x[i]) ? (got[i] & 0x7c00) == 0x7c00 && (got[i] & 0x3ff)
                         : got[i] == want;
    if (!ok && bad++ < 5)
      fprintf(stderr, "  f32->f16 %.9g: got 0x%04x want 0x%04x\n", x[i], got[i],
              want);
  }
  QT_CHECKF(st, bad == 0, "f32->f16: %d wrong", bad);
  /* double -> half rounds once: 1 + 2^-11 + 2^-40 is above the midpoint,
   * while a detour through float would see a tie and round down. */
  double dd[3] = {1.0 + ldexp(1, -11) + ldexp(1, -40), 1.0 + ldexp(1, -11),
                  -65519.0};
  uint16_t hd[3];
  QT_CHECK(st, run_cast(QI_FLOAT64, QI_FLOAT16, 3, dd, hd) == QI_OK);
  QT_CHECK(st, hd[0] == 0x3c01 && hd[1] == 0x3c00 && hd[2] == 0xfbff);
}

static void test_cast_ints(qt_state *st) {
  float f[8] = {-2.7f, 2.7f, -0.5f, 1e10f, NAN, 2147483520.0f, 255.9f, -1.0f};
  int32_t i32[8];
  QT_CHECK(st, run_cast(QI_FLOAT32, QI_INT32, 8, f, i32) == QI_OK);
  int32_t w32[8] = {-2, 2, 0, INT32_MIN, INT32_MIN, 2147483520, 255, -1};
  QT_CHECK(st, memcmp(i32, w32, sizeof w32) == 0);
  int64_t i64[8];
  float f2[8] = {-2.7f, 1e19f, -1e19f, 9.2e18f, NAN, 0.99f, -0.0f, 3e9f};
  QT_CHECK(st, run_cast(QI_FLOAT32, QI_INT64, 8, f2, i64) == QI_OK);
  int64_t w64[8] = {-2,        INT64_MIN, INT64_MIN, (int64_t)9.2e18f,
                    INT64_MIN, 0,         0,         3000000000};
  QT_CHECK(st, memcmp(i64, w64, sizeof w64) == 0);
  float f3[6] = {255.9f, 256.0f, -1.0f, 127.5f, 128.0f, -129.0f};
  uint8_t u8[6];
  int8_t s8[6];
  QT_CHECK(st, run_cast(QI_FLOAT32, QI_UINT8, 6, f3, u8) == QI_OK);
  QT_CHECK(st, run_cast(QI_FLOAT32, QI_INT8, 6, f3, s8) == QI_OK);
  uint8_t wu8[6] = {255, 0, 255, 127, 128, 127};
  int8_t ws8[6] = {-1, 0, -1, 127, -128, 127};
  QT_CHECK(st, memcmp(u8, wu8, 6) == 0 && memcmp(s8, ws8, 6) == 0);
  /* ONNX float -> bool is x != 0. */
  double fb[6] = {0.0, -0.0, 0.5, NAN, -3.0, 1e-300};
  uint8_t b[6], wb[6] = {0, 0, 1, 1, 1, 1};
  QT_CHECK(st, run_cast(QI_FLOAT64, QI_BOOL, 6, fb, b) == QI_OK);
  QT_CHECK(st, memcmp(b, wb, 6) == 0);
  int64_t big[5] = {(INT64_C(1) << 32) + 5, -1, INT64_C(1) << 31,
                    (INT64_C(1) << 24) + 3, (INT64_C(1) << 53) + 1};
  int32_t nb[5], wnb[5] = {5, -1, INT32_MIN, (1 << 24) + 3, 1};
  QT_CHECK(st, run_cast(QI_INT64, QI_INT32, 5, big, nb) == QI_OK);
  QT_CHECK(st, memcmp(nb, wnb, sizeof wnb) == 0);
  float fl[5];
  double db[5];
  QT_CHECK(st, run_cast(QI_INT64, QI_FLOAT32, 5, big, fl) == QI_OK);
  QT_CHECK(st, run_cast(QI_INT64, QI_FLOAT64, 5, big, db) == QI_OK);
  QT_CHECK(st, fl[3] == 16777220.0f && db[4] == 9007199254740992.0);
  uint8_t bo[4] = {0, 1, 1, 0};
  float bf[4];
  int64_t bi[4];
  QT_CHECK(st, run_cast(QI_BOOL, QI_FLOAT32, 4, bo, bf) == QI_OK);
  QT_CHECK(st, run_cast(QI_BOOL, QI_INT64, 4, bo, bi) == QI_OK);
  QT_CHECK(st, bf[0] == 0 && bf[1] == 1 && bi[2] == 1 && bi[3] == 0);
  int32_t ib[3] = {0, 5, -1};
  uint8_t ibo[3];
  QT_CHECK(st, run_cast(QI_INT32, QI_BOOL, 3, ib, ibo) == QI_OK);
  QT_CHECK(st, ibo[0] == 0 && ibo[1] == 1 && ibo[2] == 1);
  uint8_t u[2] = {200, 7};
  int8_t s[2];
  uint16_t h[2];
  QT_CHECK(st, run_cast(QI_UINT8, QI_INT8, 2, u, s) == QI_OK);
  QT_CHECK(st, run_cast(QI_UINT8, QI_FLOAT16, 2, u, h) == QI_OK);
  QT_CHECK(st, s[0] == -56 && s[1] == 7 && h[0] == 0x5a40 && h[1] == 0x4700);
  uint16_t hs[3] = {0xc2f0, 0x7c00, 0x3bff}; /* -3.46875, inf, 0.99951 */
  int64_t hi[3];
  QT_CHECK(st, run_cast(QI_FLOAT16, QI_INT64, 3, hs, hi) == QI_OK);
  QT_CHECK(st, hi[0] == -3 && hi[1] == INT64_MIN && hi[2] == 0);
  /* Same type: a copy; unsupported target: an error. */
  QT_CHECK(st, run_cast(QI_INT64, QI_INT64, 5, big, i64) == QI_OK);
  QT_CHECK(st, memcmp(big, i64, sizeof big) == 0);
  QT_CHECK(st,
           run_cast(QI_FLOAT32, (qi_dtype)8, 2, f, i64) == QI_ERR_UNSUPPORTED);
}

static void test_cast_like(qt_state *st) {
  qi_graph *g = th_graph(15);
  int64_t d[1] = {4};
  int64_t like = 0;
  int64_t dl[1] = {1};
  int ins[2] = {th_act(g, "x", QI_FLOAT32, 1, d),
                th_const(g, "like", QI_INT64, 1, dl, &like)};
  int ni = th_node(g, "CastLike", 2, ins, 1);
  float x[4] = {1.5f, -1.5f, 100.25f, -0.25f};
  void *act[2] = {x, NULL};
  th_out o;
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
  QT_CHECK(st, o.buf[0].dtype == QI_INT64);
  int64_t *v = o.buf[0].data;
  QT_CHECK(st, v[0] == 1 && v[1] == -1 && v[2] == 100 && v[3] == 0);
  th_done(&o);
  qi_graph_free(g);
}

static void test_dynamic_inputs(qt_state *st) {
  QT_CHECK(st, th_rejects_dynamic("Reshape", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("Expand", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("ConstantOfShape", 13, 1, 0));
  QT_CHECK(st, th_rejects_dynamic("Range", 13, 3, 0));
  QT_CHECK(st, th_rejects_dynamic("Squeeze", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("Unsqueeze", 13, 2, 1));
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_reshape);
  QT_RUN(&st, test_flatten);
  QT_RUN(&st, test_squeeze_unsqueeze);
  QT_RUN(&st, test_shape_op);
  QT_RUN(&st, test_identity_dropout);
  QT_RUN(&st, test_expand);
  QT_RUN(&st, test_constant_of_shape);
  QT_RUN(&st, test_range);
  QT_RUN(&st, test_shape_subgraph);
  QT_RUN(&st, test_cast_half);
  QT_RUN(&st, test_cast_ints);
  QT_RUN(&st, test_cast_like);
  QT_RUN(&st, test_dynamic_inputs);
  return qt_summary(&st);
}
