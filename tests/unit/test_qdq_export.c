/*
 * QDQ ONNX export (lib/calib/qdq_export.h) and the protobuf writer
 * (lib/onnx/pb_write.h).
 *
 * Without arguments: unit tests on hand-built models, checked by importing
 * the export with our own reader (structure, names, file order, int8
 * weights against an independent scalar quantizer, error messages, hostile
 * bytes). With "export ...": the driver of qdq_export_driver.h, which
 * tests/python/check_qdq_export.py runs before checking the result with
 * onnx and ONNX Runtime.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calib/qdq_export.h"
#include "calib/qparams.h"
#include "onnx/pb.h"
#include "onnx/pb_write.h"
#include "onnx_build.h"
#include "qdq_export_driver.h"
#include "qtest.h"

/* ---- protobuf writer ------------------------------------------------- */

static void test_pbw_round_trip(qt_state *st) {
  static const uint64_t v[] = {
      0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, 1ull << 63, UINT64_MAX};
  const size_t nv = sizeof v / sizeof v[0];
  qi_pbw w = {0}, sub = {0};
  for (size_t i = 0; i < nv; i++) qi_pbw_varint(&w, (uint32_t)(i + 1), v[i]);
  qi_pbw_int64(&w, 100, -2);
  qi_pbw_fixed32(&w, 101, 0xdeadbeefu);
  qi_pbw_fixed64(&w, 102, 0x0123456789abcdefull);
  qi_pbw_float(&w, 103, -1.5f);
  qi_pbw_string(&w, 104, "conv1/weight");
  qi_pbw_bytes(&w, 105, "", 0);
  qi_pbw_string(&sub, 1, "inner");
  qi_pbw_varint(&sub, (1u << 29) - 1, 7);
  qi_pbw_message(&w, 536870911u, &sub);
  QT_CHECK(st, qi_pbw_status(&w, "test", NULL) == QI_OK);

  qi_error e;
  qi_pb r = qi_pb_open(w.buf, w.len);
  qi_pb_field f;
  for (size_t i = 0; i < nv; i++) {
    QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK);
    QT_CHECKF(st, f.num == i + 1 && f.wire == QI_PB_VARINT && f.u == v[i],
              "field %zu: num %u wire %d value %llu", i, f.num, f.wire,
              (unsigned long long)f.u);
  }
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 100 &&
                   (int64_t)f.u == -2 && r.pos - f.at == 2 + 10);
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 101 &&
                   f.wire == QI_PB_FIXED32 && f.u == 0xdeadbeefu);
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 102 &&
                   f.wire == QI_PB_FIXED64 && f.u == 0x0123456789abcdefull);
  float fl = 0;
  uint32_t u32;
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 103);
  u32 = (uint32_t)f.u;
  memcpy(&fl, &u32, 4);
  QT_CHECK(st, fl == -1.5f);
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 104 && f.len == 12 &&
                   !memcmp(w.buf + f.off, "conv1/weight", 12));
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 105 && !f.len);
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 536870911u &&
                   f.len == sub.len);
  qi_pb s = qi_pb_sub(&r, &f);
  qi_pb_field g;
  QT_CHECK(st, qi_pb_next(&s, &g, &e) == QI_OK && g.num == 1 && g.len == 5);
  QT_CHECK(st, qi_pb_next(&s, &g, &e) == QI_OK && g.num == (1u << 29) - 1 &&
                   g.u == 7);
  QT_CHECK(st, qi_pb_next(&s, &g, &e) == QI_OK && g.num == 0);
  QT_CHECK(st, qi_pb_next(&r, &f, &e) == QI_OK && f.num == 0);

  /* Every field written again through qi_pbw_field: the same bytes. */
  qi_pbw copy = {0};
  r = qi_pb_open(w.buf, w.len);
  while (qi_pb_next(&r, &f, &e) == QI_OK && f.num)
    qi_pbw_field(&copy, w.buf, &f);
  QT_CHECK(st, copy.len == w.len && !memcmp(copy.buf, w.buf, w.len));

  size_t n = 0;
  uint8_t *taken = qi_pbw_take(&w, &n);
  QT_CHECK(st, taken && n == copy.len && w.buf == NULL && w.len == 0);
  free(taken);
  qi_pbw_free(&copy);
  qi_pbw_free(&sub);
}

static void test_pbw_overflow_is_sticky(qt_state *st) {
  qi_pbw w = {0};
  qi_pbw_string(&w, 1, "ok");
  qi_pbw_raw(&w, "x", SIZE_MAX - 1); /* never read: reserve refuses */
  QT_CHECK(st, w.failed);
  size_t len = w.len;
  qi_pbw_varint(&w, 2, 5);
  QT_CHECK(st, w.len == len);
  qi_pbw outer = {0};
  qi_pbw_message(&outer, 3, &w); /* a failed part fails the whole */
  qi_error e;
  QT_CHECK(st, qi_pbw_status(&outer, "outer", &e) == QI_ERR_NOMEM &&
                   strstr(e.message, "outer"));
  qi_pbw_free(&w);
  qi_pbw_free(&outer);
}

/* ---- hand-built models ----------------------------------------------- */

#define CI 3
#define CO 4
#define HW 5
#define FLAT (CO * HW * HW)
#define GN 6 /* Gemm outputs */
#define MN 5 /* MatMul outputs */

typedef struct model_opts {
  int opset;
  int trans_b;    /* Gemm */
  int w_is_input; /* conv weight also listed as a graph input (IR 3) */
  int w_shared;   /* conv weight also read by an Identity (graph output) */
  int taken_name; /* an initializer already named "x_scale" */
} model_opts;

static float w_conv[CO * CI * 3 * 3], b_conv[CO], w_gemm[GN * FLAT],
    w_mm[GN * MN];

static void fill_weights(void) {
  unsigned s = 2024u;
  float *all[] = {w_conv, b_conv, w_gemm, w_mm};
  size_t n[] = {CO * CI * 9, CO, GN * FLAT, GN * MN};
  for (int a = 0; a < 4; a++)
    for (size_t i = 0; i < n[a]; i++) {
      s = s * 1664525u + 1013904223u;
      all[a][i] = ((float)(s >> 8) / 16777216.0f - 0.5f) * (a + 1);
    }
  for (int k = 0; k < CI * 9; k++) w_conv[2 * CI * 9 + k] = 0.0f; /* c 2 */
}

/* x[1,3,5,5] -Conv(W,B)-> c -Relu-> r (also an output) -Flatten-> f
 * -Gemm(G)-> g -MatMul(M from a Constant node)-> y. */
static pbe build_model(const model_opts *o) {
  pbe g = {0};
  const int64_t xd[] = {1, CI, HW, HW}, wd[] = {CO, CI, 3, 3}, bd[] = {CO},
                gd_t[] = {GN, FLAT}, gd[] = {FLAT, GN}, md[] = {GN, MN},
                one[] = {1};
  pbe pads = attr_hdr("pads", 7);
  for (int i = 0; i < 4; i++) pbe_int(&pads, 8, 1);
  const char *cin[] = {"x", "W", "B"}, *cout[] = {"c"};
  node(&g, "Conv", "conv", cin, 3, cout, 1, &pads, 1);
  node1(&g, "Relu", "relu", "c", "r");
  node1(&g, "Flatten", "flatten", "r", "f");
  pbe tb = attr_hdr("transB", 2);
  pbe_int(&tb, 3, o->trans_b);
  const char *gin[] = {"f", "G"}, *gout[] = {"g"};
  node(&g, "Gemm", "gemm", gin, 2, gout, 1, &tb, 1);
  pbe val = attr_hdr("value", 4), t = tensor_hdr(NULL, QI_FLOAT32, md, 2);
  pbe_bytes(&t, T_RAW, w_mm, sizeof w_mm);
  pbe_msg(&val, 5, &t);
  const char *mout[] = {"M"};
  node(&g, "Constant", "const_m", NULL, 0, mout, 1, &val, 1);
  const char *min[] = {"g", "M"}, *mo[] = {"y"};
  node(&g, "MatMul", "matmul", min, 2, mo, 1, NULL, 0);
  if (o->w_shared) node1(&g, "Identity", "id_w", "W", "w_copy");
  pbe_str(&g, 2, "qdq_test");
  float_init(&g, "W", wd, 4, w_conv, CO * CI * 9);
  float_init(&g, "B", bd, 1, b_conv, CO);
  float_init(&g, "G", o->trans_b ? gd_t : gd, 2, w_gemm, GN * FLAT);
  if (o->taken_name) {
    float z = 0;
    float_init(&g, "x_scale", one, 1, &z, 1);
  }
  value_info(&g, 11, "x", QI_FLOAT32, xd, 4);
  if (o->w_is_input) value_info(&g, 11, "W", QI_FLOAT32, wd, 4);
  const int64_t yd[] = {1, MN}, rd[] = {1, CO, HW, HW};
  value_info(&g, 12, "y", QI_FLOAT32, yd, 2);
  value_info(&g, 12, "r", QI_FLOAT32, rd, 4);
  if (o->w_shared) value_info(&g, 12, "w_copy", QI_FLOAT32, wd, 4);
  return model(o->opset, &g);
}

static const qi_qdq_range act_ranges[] = {{"x", 0.02f, 128},
                                          {"c", 0.05f, 100},
                                          {"r", 0.025f, 0},
                                          {"f", 0.025f, 0},
                                          {"g", 0.5f, 140}};
#define NACT ((int)(sizeof act_ranges / sizeof act_ranges[0]))

static qi_status export_mem(const pbe *m, const qi_qdq_range *r, int n,
                            const qi_qdq_export_options *opts, qi_graph **g,
                            qi_qdq_export_info *info, qi_error *e) {
  uint8_t *out = NULL;
  size_t len = 0;
  *g = NULL;
  qi_status s =
      qi_qdq_export_ex(m->b, m->n, r, n, opts, NULL, &out, &len, info, e);
  if (s == QI_OK) s = qi_onnx_import(out, len, NULL, g, e);
  free(out);
  return s;
}

static int count_op(const qi_graph *g, const char *op) {
  int n = 0;
  for (int i = 0; i < g->nnodes; i++) n += !strcmp(g->nodes[i].op_type, op);
  return n;
}

static const qi_node *node_named(const qi_graph *g, const char *name) {
  for (int i = 0; i < g->nnodes; i++)
    if (!strcmp(g->nodes[i].name, name)) return &g->nodes[i];
  return NULL;
}

static const char *in_name(const qi_graph *g, const qi_node *n, int k) {
  return n && k < n->nin && n->in[k] >= 0 ? g->tensors[n->in[k]].name : "";
}

static const qi_tensor *tensor(const qi_graph *g, const char *name) {
  int t = find(g, name);
  return t >= 0 ? &g->tensors[t] : NULL;
}

/* Independent reference: symmetric int8 with s = max|w| / 127 over each
 * channel (or the whole tensor), q = rne(w / s) in double. Compares the
 * exported codes and scales with it; returns the mismatches. w[k][c] when
 * axis 1 of a [K, N] matrix. */
static int weight_mismatches(const qi_graph *g, const char *name,
                             const float *w, int64_t rows, int64_t cols,
                             int axis, int per_channel, int qmax) {
  const qi_tensor *q = tensor(g, name);
  char sname[64];
  snprintf(sname, sizeof sname, "%.40s", name);
  *strstr(sname, "_quantized") = '\0';
  strcat(sname, "_scale");
  const qi_tensor *s = tensor(g, sname);
  if (!q || !s || q->dtype != QI_INT8 || s->dtype != QI_FLOAT32 ||
      q->nbytes != (size_t)(rows * cols))
    return -1;
  int64_t nch = axis == 0 ? rows : cols;
  if (s->nbytes != (per_channel ? (size_t)nch * 4 : 4)) return -1;
  int bad = 0;
  for (int64_t c = 0; c < nch; c++) {
    float m = 0;
    for (int64_t i = 0; i < rows * cols; i++) {
      int64_t ch = axis == 0 ? i / cols : i % cols;
      if (!per_channel || ch == c) m = fmaxf(m, fabsf(w[i]));
    }
    float ref_s = m / (float)qmax;
    if (!(ref_s >= FLT_MIN)) ref_s = 1.0f;
    float got_s = ((const float *)s->data)[per_channel ? c : 0];
    bad += got_s != ref_s;
    for (int64_t i = 0; i < rows * cols; i++) {
      if ((axis == 0 ? i / cols : i % cols) != c) continue;
      double r = nearbyint((double)w[i] / (double)ref_s);
      r = r > qmax ? qmax : r < -qmax ? -qmax : r;
      bad += ((const int8_t *)q->data)[i] != (int8_t)r;
    }
  }
  return bad;
}

static int64_t axis_attr(const qi_graph *g, const char *node) {
  const qi_node *n = node_named(g, node);
  return n ? qi_attr_int(n, "axis", -99) : -100;
}

static void check_weights(qt_state *st, const qi_graph *g, int trans_b,
                          int per_channel, int qmax) {
  QT_CHECK(st, weight_mismatches(g, "W_quantized", w_conv, CO, CI * 9, 0,
                                 per_channel, qmax) == 0);
  QT_CHECK(st, weight_mismatches(g, "G_quantized", w_gemm, trans_b ? GN : FLAT,
                                 trans_b ? FLAT : GN, trans_b ? 0 : 1,
                                 per_channel, qmax) == 0);
  QT_CHECK(st, weight_mismatches(g, "M_quantized", w_mm, GN, MN, 1, per_channel,
                                 qmax) == 0);
  int64_t none = -99;
  QT_CHECK(st, axis_attr(g, "W_DequantizeLinear") == (per_channel ? 0 : none));
  QT_CHECK(st, axis_attr(g, "G_DequantizeLinear") ==
                   (per_channel ? (trans_b ? 0 : 1) : none));
  QT_CHECK(st, axis_attr(g, "M_DequantizeLinear") == (per_channel ? 1 : none));
}

static void test_export_structure(qt_state *st) {
  for (int trans_b = 0; trans_b <= 1; trans_b++) {
    model_opts o = {13, trans_b, 0, 0, 0};
    pbe m = build_model(&o);
    qi_graph *g;
    qi_qdq_export_info info;
    qi_error e = {0};
    qi_status s = export_mem(&m, act_ranges, NACT, NULL, &g, &info, &e);
    QT_CHECKF(st, s == QI_OK, "%s", e.message);
    pbe_free(&m);
    if (s != QI_OK) continue;
    QT_CHECK(st, info.opset == 13 && info.per_channel == 1 &&
                     info.activations == NACT && info.weights == 3 &&
                     info.dropped_constants == 3);
    QT_CHECK(st, count_op(g, "QuantizeLinear") == NACT);
    QT_CHECK(st, count_op(g, "DequantizeLinear") == NACT + 3);
    const qi_node *conv = node_named(g, "conv");
    QT_CHECK(st, !strcmp(in_name(g, conv, 0), "x_DequantizeLinear_Output"));
    QT_CHECK(st, !strcmp(in_name(g, conv, 1), "W_DequantizeLinear_Output"));
    QT_CHECK(st, !strcmp(in_name(g, conv, 2), "B")); /* bias stays FP32 */
    QT_CHECK(st, !strcmp(in_name(g, node_named(g, "relu"), 0),
                         "c_DequantizeLinear_Output"));
    QT_CHECK(st, !strcmp(in_name(g, node_named(g, "matmul"), 1),
                         "M_DequantizeLinear_Output"));
    const qi_node *q = node_named(g, "x_QuantizeLinear");
    QT_CHECK(st, !strcmp(in_name(g, q, 0), "x") &&
                     !strcmp(in_name(g, q, 1), "x_scale") &&
                     !strcmp(in_name(g, q, 2), "x_zero_point"));
    /* Graph outputs keep reading the FP32 tensors. */
    QT_CHECK(st, g->noutputs == 2 &&
                     !strcmp(g->tensors[g->outputs[0]].name, "y") &&
                     !strcmp(g->tensors[g->outputs[1]].name, "r"));
    /* The FP32 weights are gone, the bias is not. */
    QT_CHECK(st, !tensor(g, "W") && !tensor(g, "G") && !tensor(g, "M") &&
                     tensor(g, "B"));
    for (int k = 0; k < NACT; k++) {
      char sn[64], zn[64];
      snprintf(sn, sizeof sn, "%s_scale", act_ranges[k].tensor_name);
      snprintf(zn, sizeof zn, "%s_zero_point", act_ranges[k].tensor_name);
      const qi_tensor *ts = tensor(g, sn), *tz = tensor(g, zn);
      QT_CHECKF(st,
                ts && tz && ts->shape.rank == 0 && tz->shape.rank == 0 &&
                    ts->dtype == QI_FLOAT32 && tz->dtype == QI_UINT8 &&
                    *(const float *)ts->data == act_ranges[k].scale &&
                    *(const uint8_t *)tz->data == act_ranges[k].zero_point,
                "range %d", k);
    }
    check_weights(st, g, trans_b, 1, 127);
    qi_graph_free(g);
  }
}

static void test_opset_below_13_is_per_tensor(qt_state *st) {
  model_opts o = {11, 1, 0, 0, 0};
  pbe m = build_model(&o);
  qi_graph *g;
  qi_qdq_export_info info;
  qi_error e = {0};
  qi_status s = export_mem(&m, act_ranges, NACT, NULL, &g, &info, &e);
  pbe_free(&m);
  QT_CHECKF(st, s == QI_OK, "%s", e.message);
  if (s != QI_OK) return;
  QT_CHECK(st, info.opset == 11 && info.per_channel == 0 && info.weights == 3);
  QT_CHECK(st, tensor(g, "W_scale") && tensor(g, "W_scale")->shape.rank == 0);
  check_weights(st, g, 1, 0, 127);
  qi_graph_free(g);

  o.opset = 9; /* no QuantizeLinear at all */
  m = build_model(&o);
  uint8_t *out = NULL;
  size_t len = 0;
  s = qi_qdq_export_ex(m.b, m.n, act_ranges, NACT, NULL, NULL, &out, &len, NULL,
                       &e);
  pbe_free(&m);
  QT_CHECKF(st, s == QI_ERR_UNSUPPORTED && has(&e, "opset is 9") && !out,
            "%d %s", s, e.message);
}

/* 7-bit weights, per channel (opset 13) and per tensor (opset 12). */
static void test_reduce_range(qt_state *st) {
  for (int opset = 12; opset <= 13; opset++) {
    model_opts o = {opset, opset == 13, 0, 0, 0};
    pbe m = build_model(&o);
    qi_qdq_export_options opts = {1};
    qi_graph *g;
    qi_qdq_export_info info;
    qi_error e = {0};
    qi_status s = export_mem(&m, act_ranges, NACT, &opts, &g, &info, &e);
    pbe_free(&m);
    QT_CHECKF(st, s == QI_OK, "%s", e.message);
    if (s != QI_OK) continue;
    check_weights(st, g, o.trans_b, opset == 13, 63);
    const qi_tensor *q = tensor(g, "G_quantized");
    int lo = 0, hi = 0;
    for (size_t i = 0; q && i < q->nbytes; i++) {
      int v = ((const int8_t *)q->data)[i];
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    QT_CHECKF(st, q && (lo == -63 || hi == 63) && lo >= -63 && hi <= 63,
              "codes %d..%d", lo, hi);
    qi_graph_free(g);
  }
}

static void test_shared_and_listed_weights(qt_state *st) {
  model_opts o = {13, 1, 1, 1, 1};
  pbe m = build_model(&o);
  qi_graph *g;
  qi_qdq_export_info info;
  qi_error e = {0};
  qi_status s = export_mem(&m, act_ranges, NACT, NULL, &g, &info, &e);
  pbe_free(&m);
  QT_CHECKF(st, s == QI_OK, "%s", e.message);
  if (s != QI_OK) return;
  /* W is read by Identity too: kept (and so its graph input), G and M go. */
  QT_CHECK(st, info.dropped_constants == 2 && tensor(g, "W") &&
                   tensor(g, "W")->dtype == QI_FLOAT32);
  QT_CHECK(st, !strcmp(in_name(g, node_named(g, "id_w"), 0), "W"));
  QT_CHECK(st, !strcmp(in_name(g, node_named(g, "conv"), 1),
                       "W_DequantizeLinear_Output"));
  /* "x_scale" was taken: the new one is x_scale_1, read by the Q node. */
  const qi_node *q = node_named(g, "x_QuantizeLinear");
  QT_CHECK(st, !strcmp(in_name(g, q, 1), "x_scale_1"));
  QT_CHECK(st, tensor(g, "x_scale_1") &&
                   *(const float *)tensor(g, "x_scale_1")->data == 0.02f);
  qi_graph_free(g);

  /* Listed as an input but read by Conv only: goes from both lists. */
  model_opts o2 = {13, 1, 1, 0, 0};
  m = build_model(&o2);
  uint8_t *out = NULL;
  size_t len = 0;
  s = qi_qdq_export_ex(m.b, m.n, act_ranges, NACT, NULL, NULL, &out, &len,
                       &info, &e);
  pbe_free(&m);
  QT_CHECKF(st, s == QI_OK && info.dropped_constants == 3, "%s", e.message);
  int listed = 0;
  qi_pb r = qi_pb_open(out, len), gr;
  qi_pb_field f, gf, nf;
  while (qi_pb_next(&r, &f, &e) == QI_OK && f.num)
    if (f.num == 7) {
      gr = qi_pb_sub(&r, &f);
      while (qi_pb_next(&gr, &gf, &e) == QI_OK && gf.num) {
        if (gf.num != 11) continue;
        qi_pb vi = qi_pb_sub(&gr, &gf);
        while (qi_pb_next(&vi, &nf, &e) == QI_OK && nf.num)
          listed += nf.num == 1 && nf.len == 1 && out[nf.off] == 'W';
      }
    }
  QT_CHECK(st, listed == 0);
  free(out);
}

/* No ranges and nothing to quantize: every byte is copied through. */
static void test_untouched_model_is_byte_identical(qt_state *st) {
  pbe g = {0};
  const int64_t d[] = {1, 4};
  node1(&g, "Relu", "relu", "x", "y");
  pbe_int(&g, 99, 12345); /* an unknown field survives too */
  value_info(&g, 11, "x", QI_FLOAT32, d, 2);
  value_info(&g, 12, "y", QI_FLOAT32, d, 2);
  pbe m = model(17, &g);
  pbe_str(&m, 20, "unknown model field");
  uint8_t *out = NULL;
  size_t len = 0;
  qi_error e = {0};
  qi_status s =
      qi_qdq_export_ex(m.b, m.n, NULL, 0, NULL, NULL, &out, &len, NULL, &e);
  QT_CHECKF(st, s == QI_OK && len == m.n && !memcmp(out, m.b, len), "%s",
            e.message);
  free(out);
  pbe_free(&m);
}

static void test_errors(qt_state *st) {
  model_opts o = {13, 1, 0, 0, 0};
  pbe m = build_model(&o);
  qi_error e = {0};
  uint8_t *out = NULL;
  size_t len = 0;
#define EXPECT(ranges, count, status, text)                                    \
  do {                                                                         \
    qi_status s_ = qi_qdq_export_ex(m.b, m.n, ranges, count, NULL, NULL, &out, \
                                    &len, NULL, &e);                           \
    QT_CHECKF(st, s_ == (status) && has(&e, text) && !out,                     \
              "want %d '%s', got %d '%s'", status, text, s_, e.message);       \
    free(out);                                                                 \
    out = NULL;                                                                \
  } while (0)
  qi_qdq_range r[2] = {{"nope", 0.1f, 0}, {"x", 0.1f, 0}};
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "tensor 'nope', which is not in the model");
  r[0].tensor_name = "W";
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "'W' is a constant");
  r[0].tensor_name = "M"; /* a Constant node's output */
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "'M' is a constant");
  r[0].tensor_name = "x";
  EXPECT(r, 2, QI_ERR_INVALID_ARG, "'x' has two ranges");
  r[0].scale = 0.0f;
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "scale 0");
  r[0].scale = NAN;
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "scale nan");
  r[0].scale = 0.1f;
  r[0].zero_point = 256;
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "zero point 256");
  r[0].zero_point = 0;
  r[0].tensor_name = "";
  EXPECT(r, 1, QI_ERR_INVALID_ARG, "no tensor name");
  EXPECT(NULL, 1, QI_ERR_INVALID_ARG, "1 ranges");

  /* Malformed bytes: truncated inside the graph, garbage, nothing. */
  size_t full = m.n;
  m.n = full / 2;
  EXPECT(act_ranges, NACT, QI_ERR_PARSE, "truncated");
  m.n = full;
  uint8_t junk[64];
  memset(junk, 0xff, sizeof junk);
  qi_status s = qi_qdq_export_ex(junk, sizeof junk, NULL, 0, NULL, NULL, &out,
                                 &len, NULL, &e);
  QT_CHECKF(st, s == QI_ERR_PARSE && has(&e, "byte 0"), "%s", e.message);
  s = qi_qdq_export_ex(junk, 0, NULL, 0, NULL, NULL, &out, &len, NULL, &e);
  QT_CHECKF(st, s == QI_ERR_PARSE && has(&e, "no graph"), "%s", e.message);
  s = qi_qdq_export_ex(NULL, 0, NULL, 0, NULL, NULL, &out, &len, NULL, &e);
  QT_CHECK(st, s == QI_ERR_INVALID_ARG);

  /* Files: an unwritable path, and nothing written on failure. */
  s = qi_qdq_export(m.b, m.n, act_ranges, NACT, "/nonexistent-dir/q.onnx", &e);
  QT_CHECKF(st, s == QI_ERR_IO && has(&e, "/nonexistent-dir/q.onnx"), "%s",
            e.message);
  char path[64];
  snprintf(path, sizeof path, "/tmp/qi_qdq_test_%d.onnx", (int)getpid());
  unlink(path);
  r[0].tensor_name = "nope";
  s = qi_qdq_export(m.b, m.n, r, 1, path, &e);
  QT_CHECK(st, s == QI_ERR_INVALID_ARG && access(path, F_OK) != 0);
  s = qi_qdq_export(m.b, m.n, act_ranges, NACT, path, &e);
  QT_CHECKF(st, s == QI_OK && access(path, F_OK) == 0, "%s", e.message);
  unlink(path);
  pbe_free(&m);
#undef EXPECT
}

/* A quantized activation used as a parameter (Clip's min) stays FP32
 * there, and the graph input's Q/DQ comes before every node. */
static void test_parameter_inputs_stay_fp32(qt_state *st) {
  pbe g = {0};
  const int64_t d[] = {2, 3};
  pbe keep = attr_hdr("keepdims", 2);
  pbe_int(&keep, 3, 0);
  const char *rin[] = {"x"}, *rout[] = {"m"};
  node(&g, "ReduceMin", "rmin", rin, 1, rout, 1, &keep, 1);
  const char *cin[] = {"x", "m"}, *cout[] = {"y"};
  node(&g, "Clip", "clip", cin, 2, cout, 1, NULL, 0);
  value_info(&g, 11, "x", QI_FLOAT32, d, 2);
  value_info(&g, 12, "y", QI_FLOAT32, d, 2);
  pbe m = model(13, &g);
  const qi_qdq_range r[] = {{"m", 0.01f, 255}, {"x", 0.02f, 128}};
  qi_graph *gr;
  qi_error e = {0};
  qi_status s = export_mem(&m, r, 2, NULL, &gr, NULL, &e);
  QT_CHECKF(st, s == QI_OK, "%s", e.message);
  if (s == QI_OK) {
    const qi_node *clip = node_named(gr, "clip");
    QT_CHECK(st, !strcmp(in_name(gr, clip, 0), "x_DequantizeLinear_Output"));
    QT_CHECK(st, !strcmp(in_name(gr, clip, 1), "m"));
    QT_CHECK(st, !strcmp(in_name(gr, node_named(gr, "rmin"), 0),
                         "x_DequantizeLinear_Output"));
    QT_CHECK(st, count_op(gr, "QuantizeLinear") == 2);
    qi_graph_free(gr);
  }
  /* File order (the importer re-sorts): x's Q and DQ, then rmin, m's Q/DQ,
   * then clip. */
  uint8_t *out = NULL;
  size_t len = 0;
  const char *want[] = {"x_QuantizeLinear", "x_DequantizeLinear", "rmin",
                        "m_QuantizeLinear", "m_DequantizeLinear", "clip"};
  int seen = 0, in_order = 1;
  if (qi_qdq_export_ex(m.b, m.n, r, 2, NULL, NULL, &out, &len, NULL, &e) ==
      QI_OK) {
    qi_pb rd = qi_pb_open(out, len), gd, nd;
    qi_pb_field f, gf, nf;
    while (qi_pb_next(&rd, &f, &e) == QI_OK && f.num) {
      if (f.num != 7) continue;
      gd = qi_pb_sub(&rd, &f);
      while (qi_pb_next(&gd, &gf, &e) == QI_OK && gf.num) {
        if (gf.num != 1) continue;
        nd = qi_pb_sub(&gd, &gf);
        while (qi_pb_next(&nd, &nf, &e) == QI_OK && nf.num)
          if (nf.num == 3) {
            int hit = seen < 6 && nf.len == strlen(want[seen]) &&
                      !memcmp(out + nf.off, want[seen], nf.len);
            in_order &= hit;
            seen++;
          }
      }
    }
  }
  QT_CHECKF(st, seen == 6 && in_order, "%d nodes, in order %d", seen, in_order);
  free(out);
  pbe_free(&m);
}

/* Every prefix of a model and seeded one-byte corruptions: a status and a
 * message, never a crash (run under -fsanitize=address,undefined). */
static void test_hostile_bytes(qt_state *st) {
  model_opts o = {13, 0, 1, 1, 1};
  pbe m = build_model(&o);
  uint8_t *copy = malloc(m.n);
  int silent = 0, ok = 0;
  for (size_t cut = 0; cut < m.n; cut++) {
    qi_error e = {0};
    uint8_t *out = NULL;
    size_t len = 0;
    memcpy(copy, m.b, cut); /* a heap block of exactly `cut` bytes */
    uint8_t *exact = malloc(cut ? cut : 1);
    memcpy(exact, copy, cut);
    qi_status s = qi_qdq_export_ex(exact, cut, act_ranges, 1, NULL, NULL, &out,
                                   &len, NULL, &e);
    silent += s != QI_OK && !e.message[0];
    ok += s == QI_OK;
    free(out);
    free(exact);
  }
  unsigned seed = 99u;
  for (int k = 0; k < 3000; k++) {
    memcpy(copy, m.b, m.n);
    seed = seed * 1664525u + 1013904223u;
    size_t at = (seed >> 8) % m.n;
    seed = seed * 1664525u + 1013904223u;
    copy[at] ^= (uint8_t)(1u + (seed >> 24) % 255u);
    qi_error e = {0};
    uint8_t *out = NULL;
    size_t len = 0;
    qi_status s = qi_qdq_export_ex(copy, m.n, act_ranges, NACT, NULL, NULL,
                                   &out, &len, NULL, &e);
    silent += s != QI_OK && !e.message[0];
    free(out);
  }
  QT_CHECKF(st, silent == 0, "%d failures without a message", silent);
  QT_CHECKF(st, ok < 5, "%d prefixes exported", ok); /* only cuts at the end */
  free(copy);
  pbe_free(&m);
}

static void test_select_ranges(qt_state *st) {
  model_opts o = {13, 1, 0, 0, 0};
  pbe m = build_model(&o);
  qi_qdq_range r[] = {{"x", 0.1f, 1}, {"conv:u8", 0.1f, 2}, {"W", 0.1f, 3},
                      {"c", 0.1f, 4}, {"x", 0.2f, 5},       {"M", 0.1f, 6},
                      {"y", 0.1f, 7}};
  int n = (int)(sizeof r / sizeof r[0]);
  qi_error e = {0};
  qi_status s = qi_qdq_select_ranges(m.b, m.n, r, &n, &e);
  QT_CHECKF(st, s == QI_OK, "%s", e.message);
  QT_CHECK(st, n == 3 && !strcmp(r[0].tensor_name, "x") &&
                   r[0].zero_point == 1 && !strcmp(r[1].tensor_name, "c") &&
                   !strcmp(r[2].tensor_name, "y"));
  int bad = 1;
  m.n /= 2;
  QT_CHECK(st, qi_qdq_select_ranges(m.b, m.n, r, &bad, &e) == QI_ERR_PARSE);
  pbe_free(&m);
}

static int run_unit_tests(void) {
  qt_state st = {0};
  fill_weights();
  QT_RUN(&st, test_pbw_round_trip);
  QT_RUN(&st, test_pbw_overflow_is_sticky);
  QT_RUN(&st, test_export_structure);
  QT_RUN(&st, test_opset_below_13_is_per_tensor);
  QT_RUN(&st, test_reduce_range);
  QT_RUN(&st, test_shared_and_listed_weights);
  QT_RUN(&st, test_untouched_model_is_byte_identical);
  QT_RUN(&st, test_errors);
  QT_RUN(&st, test_parameter_inputs_stay_fp32);
  QT_RUN(&st, test_hostile_bytes);
  QT_RUN(&st, test_select_ranges);
  return qt_summary(&st);
}

int main(int argc, char **argv) {
  if (argc > 1 && !strcmp(argv[1], "export")) return run_driver(argc, argv);
  return run_unit_tests();
}
