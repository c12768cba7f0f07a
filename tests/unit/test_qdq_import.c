/* QuantizeLinear / DequantizeLinear as FP32 ops (lib/ops/op_qdq.c) against
 * a scalar reference, and the QDQ import pass (lib/quant/qdq_import.c) on
 * hand-made graphs: what it removes, keeps and annotates, and that the
 * graph it leaves computes what the QDQ graph did (in FP32, and lowered to
 * INT8). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "qinfer.h"
#include "qtest.h"
#include "quant/qdq_import.h"
#include "runtime/model.h"

/* Integer outputs and exact conversions: no tolerance. The FP32 graph left
 * by the pass differs from the QDQ graph by the activation roundings it no
 * longer does; lowered to INT8 it may round a near-tie the other way. */
#define QDQ_EXACT 0.0
#define QDQ_INT8_LSB_TOL 1.0
/* Same float operations in another order (fused or not): float32 epsilon
 * relative to the output range. */
#define QDQ_FP32_TOL 1e-6

/* ---------- graph building ---------- */

static qi_shape shape_of(const int64_t *d, int rank) {
  qi_shape s = {.rank = rank};
  for (int i = 0; i < rank; i++) s.d[i] = d[i];
  return s;
}
#define SH(...)                            \
  shape_of((const int64_t[]){__VA_ARGS__}, \
           (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)))
#define SCALAR ((qi_shape){.rank = 0})

static void push(int **arr, int *n, int v) {
  int *p = realloc(*arr, sizeof(int) * (size_t)(*n + 1));
  if (!p) abort();
  p[(*n)++] = v;
  *arr = p;
}

static int input_t(qi_graph *g, const char *name, qi_dtype dt, qi_shape s) {
  int t = qi_graph_add_tensor(g, name, dt);
  g->tensors[t].shape = s;
  push(&g->inputs, &g->ninputs, t);
  return t;
}

static void output_t(qi_graph *g, int t) { push(&g->outputs, &g->noutputs, t); }

static int const_t(qi_graph *g, const char *name, qi_dtype dt, qi_shape s,
                   const void *v) {
  int t = qi_graph_add_tensor(g, name, dt);
  size_t n = (size_t)qi_shape_numel(&s) * qi_dtype_size(dt);
  void *d = malloc(n ? n : 1);
  if (!d) abort();
  memcpy(d, v, n);
  g->tensors[t].shape = s;
  qi_tensor_set_const(&g->tensors[t], d, n);
  return t;
}

static int scale_t(qi_graph *g, const char *name, float s) {
  return const_t(g, name, QI_FLOAT32, SCALAR, &s);
}

static int zp_t(qi_graph *g, const char *name, qi_dtype dt, int32_t z) {
  uint8_t u = (uint8_t)z;
  int8_t i = (int8_t)z;
  return const_t(g, name, dt, SCALAR, dt == QI_UINT8 ? (void *)&u : (void *)&i);
}

/* A node reading ins[0..nin) and writing a new tensor `out`; returns it. */
static int node_t(qi_graph *g, const char *op, const int *ins, int nin,
                  const char *out) {
  char name[96];
  snprintf(name, sizeof name, "%s_%d", op, g->nnodes);
  int n = qi_graph_add_node(g, name, op, "", nin, 1);
  int t = qi_graph_add_tensor(g, out, QI_UNDEFINED);
  memcpy(g->nodes[n].in, ins, sizeof(int) * (size_t)nin);
  g->nodes[n].out[0] = t;
  return t;
}
#define NODE(g, op, out, ...)                                           \
  node_t(g, op, (const int[]){__VA_ARGS__},                             \
         (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)), out)

static void attr_int(qi_graph *g, int t, const char *name, int64_t v) {
  int n = g->tensors[t].producer >= 0 ? g->tensors[t].producer : -1;
  for (int i = 0; n < 0 && i < g->nnodes; i++)
    if (g->nodes[i].out[0] == t) n = i;
  qi_node_add_attr(&g->nodes[n], name, QI_ATTR_INT)->i = v;
}

static void attr_ints(qi_graph *g, int t, const char *name, const int64_t *v,
                      int cnt) {
  for (int i = 0; i < g->nnodes; i++) {
    if (g->nodes[i].out[0] != t) continue;
    qi_attr *a = qi_node_add_attr(&g->nodes[i], name, QI_ATTR_INTS);
    a->n = cnt;
    a->ints = malloc(sizeof(int64_t) * (size_t)cnt);
    memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
  }
}

/* x -> QuantizeLinear(s, z) -> DequantizeLinear(s, z); the DQ output. */
static int qdq(qi_graph *g, int x, const char *name, float s, qi_dtype dt,
               int32_t z) {
  char b1[96], b2[96], b3[96];
  snprintf(b1, sizeof b1, "%s_s", name);
  snprintf(b2, sizeof b2, "%s_z", name);
  snprintf(b3, sizeof b3, "%s_q", name);
  int st = scale_t(g, b1, s), zt = zp_t(g, b2, dt, z);
  int q = NODE(g, "QuantizeLinear", b3, x, st, zt);
  return NODE(g, "DequantizeLinear", name, q, st, zt);
}

static int find_node(const qi_graph *g, const char *op) {
  for (int i = 0; i < g->nnodes; i++)
    if (!g->nodes[i].dead && !strcmp(g->nodes[i].op_type, op)) return i;
  return -1;
}

static int count_nodes(const qi_graph *g, const char *op) {
  int c = 0;
  for (int i = 0; i < g->nnodes; i++)
    c += !g->nodes[i].dead && !strcmp(g->nodes[i].op_type, op);
  return c;
}

static int tensor(const qi_graph *g, const char *name) {
  return qi_graph_find_tensor(g, name);
}

/* ---------- running ---------- */

static float rnd(uint64_t *s, float lo, float hi) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return lo + (hi - lo) * (float)((*s >> 40) & 0xffffff) / 16777216.0f;
}

/* Loads g (consumed) in `mode` and runs it once on input 0 = x; output 0
 * goes to y (ybytes). *model_out (may be NULL) keeps the model. */
static qi_status run_graph(qi_graph *g, qi_load_mode mode, const void *x,
                           void *y, size_t ybytes, qi_model **model_out) {
  qi_model *m = NULL;
  qi_session *s = NULL;
  qi_error e;
  if (model_out) *model_out = NULL;
  qi_status st = qi_model_from_graph(g, NULL, mode, &m, &e);
  if (st != QI_OK) return st;
  qi_tensor_info ii, oi;
  qi_model_input_info(m, 0, &ii, NULL);
  qi_model_output_info(m, 0, &oi, NULL);
  size_t in_n = 1, out_n = 1;
  for (int d = 0; d < ii.rank; d++) in_n *= (size_t)ii.shape[d];
  for (int d = 0; d < oi.rank; d++) out_n *= (size_t)oi.shape[d];
  size_t in_bytes = in_n * qi_dtype_size(ii.dtype);
  size_t out_bytes = out_n * qi_dtype_size(oi.dtype);
  if (out_bytes != ybytes) {
    qi_model_free(m);
    return QI_ERR_SHAPE;
  }
  qi_binding bi = {ii.name, ii.dtype, ii.rank, ii.shape, (void *)x, in_bytes};
  qi_binding bo = {oi.name, oi.dtype, oi.rank, oi.shape, y, ybytes};
  st = qi_session_create(m, NULL, &s, &e);
  if (st == QI_OK) st = qi_session_run(s, &bi, 1, &bo, 1, &e);
  if (st != QI_OK) fprintf(stderr, "  run: %s\n", e.message);
  qi_session_free(s);
  if (model_out && st == QI_OK)
    *model_out = m;
  else
    qi_model_free(m);
  return st;
}

/* Prepares a hand-made graph as the importer would leave it. */
static qi_graph *imported(qi_graph *g) {
  qi_error e;
  if (qi_graph_toposort(g, &e) != QI_OK) {
    fprintf(stderr, "toposort: %s\n", e.message);
    abort();
  }
  return g;
}

/* ---------- the ops against a scalar reference ---------- */

/* ONNX: y = saturate(round_half_even(x / s) + z), x / s in float32. */
static int32_t ref_quantize(float x, float s, int32_t z, int32_t qmin,
                            int32_t qmax) {
  float v = x / s;
  if (isnan(v)) return z; /* qinfer's choice; ONNX leaves NaN undefined */
  double r = floor((double)v), f = (double)v - r;
  if (f > 0.5 || (f == 0.5 && fmod(r, 2.0) != 0.0)) r += 1.0;
  double q = r + z;
  return q < qmin ? qmin : q > qmax ? qmax : (int32_t)q;
}

typedef struct qcase {
  const char *name;
  qi_shape shape;
  int axis;        /* attribute value; channels = 1: per tensor */
  int64_t channels;
  qi_dtype dt;     /* uint8 / int8 */
  int zp;          /* 0: no zero point input */
} qcase;

/* Scales: powers of two (exact ties) and awkward ones, per channel. */
static float case_scale(int64_t c) {
  static const float s[] = {0.25f, 0.0371f, 2.0f, 0.5f, 0.013f, 1.0f, 7.3f};
  return s[c % 7];
}

static int32_t case_zp(const qcase *k, int64_t c) {
  if (!k->zp) return 0;
  int32_t z = (int32_t)((c * 37 + 11) % 200) + 20;
  return k->dt == QI_UINT8 ? z : z - 128;
}

static void check_quantize_case(qt_state *st, const qcase *k) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, k->shape);
  int64_t nch = k->channels;
  float sc[64];
  uint8_t zu[64];
  int8_t zs[64];
  for (int64_t c = 0; c < nch; c++) {
    sc[c] = case_scale(c);
    zu[c] = (uint8_t)case_zp(k, c);
    zs[c] = (int8_t)case_zp(k, c);
  }
  qi_shape ps = nch > 1 ? SH(nch) : SCALAR;
  int s = const_t(g, "s", QI_FLOAT32, ps, sc);
  int y;
  if (k->zp) {
    int z = const_t(g, "z", k->dt, ps, k->dt == QI_UINT8 ? (void *)zu : zs);
    y = NODE(g, "QuantizeLinear", "y", x, s, z);
  } else {
    y = NODE(g, "QuantizeLinear", "y", x, s);
    if (k->dt == QI_INT8) attr_int(g, y, "output_dtype", QI_INT8);
  }
  if (nch > 1) attr_int(g, y, "axis", k->axis);
  output_t(g, y);
  int64_t n = qi_shape_numel(&k->shape);
  float *xv = malloc(sizeof(float) * (size_t)n);
  uint8_t *got = malloc((size_t)n);
  uint64_t seed = 99;
  int ax = k->axis < 0 ? k->axis + k->shape.rank : k->axis;
  int64_t inner = 1;
  for (int d = ax + 1; nch > 1 && d < k->shape.rank; d++) inner *= k->shape.d[d];
  static const float special[] = {INFINITY, -INFINITY, NAN, 1e30f, -1e30f};
  for (int64_t i = 0; i < n; i++) {
    int64_t c = nch > 1 ? (i / inner) % nch : 0;
    float s_c = sc[c];
    if (i % 11 == 3)
      xv[i] = special[(i / 11) % 5];
    else if (i % 3 == 0) /* exact ties k + 0.5 on power-of-two scales */
      xv[i] = ((float)((int)(i % 41) - 20) + 0.5f) * s_c;
    else
      xv[i] = rnd(&seed, -300.0f, 300.0f) * s_c;
  }
  qi_status rs = run_graph(imported(g), QI_LOAD_FP32, xv, got, (size_t)n, NULL);
  QT_CHECKF(st, rs == QI_OK, "%s: status %d", k->name, (int)rs);
  int32_t qmin = k->dt == QI_UINT8 ? 0 : -128, qmax = qmin + 255;
  int64_t bad = 0;
  for (int64_t i = 0; rs == QI_OK && i < n; i++) {
    int64_t c = nch > 1 ? (i / inner) % nch : 0;
    int32_t want = ref_quantize(xv[i], sc[c], case_zp(k, c), qmin, qmax);
    int32_t have = k->dt == QI_UINT8 ? got[i] : (int8_t)got[i];
    if (want != have && bad++ < 3)
      fprintf(stderr, "  %s: element %lld x=%g: want %d got %d\n", k->name,
              (long long)i, (double)xv[i], want, have);
  }
  QT_CHECKF(st, bad == QDQ_EXACT, "%s: %lld mismatches", k->name,
            (long long)bad);
  free(xv);
  free(got);
}

static void test_quantize_linear(qt_state *st) {
  const qcase cases[] = {
      {"u8 per tensor", SH(3, 5, 7), 1, 1, QI_UINT8, 1},
      {"i8 per tensor", SH(1, 13), 1, 1, QI_INT8, 1},
      {"u8 no zero point", SH(17), 1, 1, QI_UINT8, 0},
      {"i8 output_dtype, no zero point", SH(2, 9), 1, 1, QI_INT8, 0},
      {"u8 axis 1 of 4-D", SH(2, 7, 3, 5), 1, 7, QI_UINT8, 1},
      {"i8 axis 0", SH(5, 3, 3), 0, 5, QI_INT8, 1},
      {"u8 axis -1", SH(3, 4, 11), -1, 11, QI_UINT8, 1},
      {"i8 axis 2 of 4-D, 1x1", SH(1, 1, 3, 1), 2, 3, QI_INT8, 1},
      {"scalar x", SCALAR, 1, 1, QI_UINT8, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
    check_quantize_case(st, &cases[i]);
}

static void check_dequantize_case(qt_state *st, const char *name, qi_dtype dt,
                                  qi_shape shp, int axis, int64_t nch,
                                  int with_zp) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", dt, shp);
  float sc[64];
  int32_t zi[64];
  uint8_t zu[64];
  int8_t zs[64];
  for (int64_t c = 0; c < nch; c++) {
    sc[c] = case_scale(c);
    zi[c] = dt == QI_INT32 ? 0 : (int32_t)(c * 29 % 100) - (dt == QI_INT8 ? 50 : 0);
    zu[c] = (uint8_t)zi[c];
    zs[c] = (int8_t)zi[c];
  }
  qi_shape ps = nch > 1 ? SH(nch) : SCALAR;
  int s = const_t(g, "s", QI_FLOAT32, ps, sc);
  const void *zv = dt == QI_UINT8 ? (void *)zu : dt == QI_INT8 ? (void *)zs : zi;
  int y = with_zp ? NODE(g, "DequantizeLinear", "y", x, s,
                         const_t(g, "z", dt, ps, zv))
                  : NODE(g, "DequantizeLinear", "y", x, s);
  if (nch > 1) attr_int(g, y, "axis", axis);
  output_t(g, y);
  int64_t n = qi_shape_numel(&shp);
  size_t es = qi_dtype_size(dt);
  uint8_t *xv = malloc((size_t)n * es);
  float *got = malloc(sizeof(float) * (size_t)n);
  uint64_t seed = 7;
  for (int64_t i = 0; i < n; i++) {
    int32_t v = dt == QI_UINT8 ? (int32_t)rnd(&seed, 0, 256)
                : dt == QI_INT8 ? (int32_t)rnd(&seed, -128, 128)
                                : (int32_t)(rnd(&seed, -1, 1) * 2e9f);
    if (i % 7 == 0) v = dt == QI_UINT8 ? 255 : dt == QI_INT8 ? -128 : INT32_MIN;
    memcpy(xv + (size_t)i * es,
           dt == QI_INT32 ? (void *)&v : dt == QI_INT8 ? (void *)&(int8_t){(int8_t)v}
                                                      : (void *)&(uint8_t){(uint8_t)v},
           es);
  }
  qi_status rs = run_graph(imported(g), QI_LOAD_FP32, xv, got,
                           sizeof(float) * (size_t)n, NULL);
  QT_CHECKF(st, rs == QI_OK, "%s: status %d", name, (int)rs);
  int ax = axis < 0 ? axis + shp.rank : axis;
  int64_t inner = 1;
  for (int d = ax + 1; nch > 1 && d < shp.rank; d++) inner *= shp.d[d];
  int64_t bad = 0;
  for (int64_t i = 0; rs == QI_OK && i < n; i++) {
    int64_t c = nch > 1 ? (i / inner) % nch : 0, v;
    if (dt == QI_UINT8) v = xv[i];
    else if (dt == QI_INT8) v = (int8_t)xv[i];
    else { int32_t w; memcpy(&w, xv + (size_t)i * 4, 4); v = w; }
    float want = (float)(v - (with_zp ? zi[c] : 0)) * sc[c];
    if (!(want == got[i]) && bad++ < 3)
      fprintf(stderr, "  %s: element %lld: want %g got %g\n", name,
              (long long)i, (double)want, (double)got[i]);
  }
  QT_CHECKF(st, bad == QDQ_EXACT, "%s: %lld mismatches", name, (long long)bad);
  free(xv);
  free(got);
}

static void test_dequantize_linear(qt_state *st) {
  check_dequantize_case(st, "u8 per tensor", QI_UINT8, SH(3, 5, 7), 1, 1, 1);
  check_dequantize_case(st, "i8 per tensor", QI_INT8, SH(19), 0, 1, 1);
  check_dequantize_case(st, "u8 no zero point", QI_UINT8, SH(2, 3), 1, 1, 0);
  check_dequantize_case(st, "u8 axis 1", QI_UINT8, SH(2, 7, 3, 5), 1, 7, 1);
  check_dequantize_case(st, "i8 axis 0", QI_INT8, SH(13, 1, 3, 3), 0, 13, 1);
  check_dequantize_case(st, "i8 axis -1", QI_INT8, SH(4, 9), -1, 9, 1);
  check_dequantize_case(st, "i32 per tensor", QI_INT32, SH(5, 5), 1, 1, 1);
  check_dequantize_case(st, "i32 axis 0, bias", QI_INT32, SH(11), 0, 11, 0);
}

/* What check/infer refuse: blocked scales, unsupported types, bad shapes. */
static void test_op_rejections(qt_state *st) {
  for (int k = 0; k < 4; k++) {
    qi_graph *g = qi_graph_create();
    int x = input_t(g, "x", QI_FLOAT32, SH(2, 4));
    float sc[3] = {0.5f, 0.25f, 1.0f};
    int s = k == 1 ? const_t(g, "s", QI_FLOAT32, SH(3), sc)
                   : const_t(g, "s", QI_FLOAT32, SCALAR, sc);
    int32_t z32 = 0;
    int y = k == 2 ? NODE(g, "QuantizeLinear", "y", x, s,
                          const_t(g, "z", QI_INT32, SCALAR, &z32))
                   : NODE(g, "QuantizeLinear", "y", x, s);
    if (k == 0) attr_int(g, y, "block_size", 2);
    if (k == 1) attr_int(g, y, "axis", 1); /* 3 scales for 4 channels */
    if (k == 3) attr_int(g, y, "output_dtype", 4); /* uint16 */
    output_t(g, y);
    uint8_t out[8];
    float xv[8] = {0};
    qi_status want[] = {QI_ERR_UNSUPPORTED, QI_ERR_SHAPE, QI_ERR_UNSUPPORTED,
                        QI_ERR_UNSUPPORTED};
    qi_status rs = run_graph(imported(g), QI_LOAD_FP32, xv, out, 8, NULL);
    QT_CHECKF(st, rs == want[k], "case %d: status %d, want %d", k, (int)rs,
              (int)want[k]);
  }
}

/* ---------- the import pass ---------- */

static qi_graph *import_pass(qi_graph *g, qi_qdq_report *rep) {
  qi_error e;
  qi_status st = qi_qdq_import(imported(g), rep, &e);
  if (st != QI_OK) {
    fprintf(stderr, "qdq import: %s\n", e.message);
    abort();
  }
  return g;
}

/* Conv weights [co, ci, 3, 3] int8 with per-channel scales, bias int32. */
typedef struct conv_w {
  int8_t w[8 * 5 * 9];
  float ws[8];
  int32_t b[8];
  float bs[8];
  int co, ci;
} conv_w;

static void make_conv_w(conv_w *cw, int co, int ci, uint64_t seed) {
  cw->co = co;
  cw->ci = ci;
  for (int i = 0; i < co * ci * 9; i++)
    cw->w[i] = (int8_t)rnd(&seed, -127.0f, 128.0f);
  for (int c = 0; c < co; c++) {
    cw->ws[c] = rnd(&seed, 0.0005f, 0.003f);
    cw->b[c] = (int32_t)rnd(&seed, -3000.0f, 3000.0f);
    cw->bs[c] = cw->ws[c] * 0.05f;
  }
}

/* DQ(int8 W, axis 0) and DQ(int32 B) -> Conv(x) with pads 1. */
static int dq_conv(qi_graph *g, int x, const conv_w *cw, const char *name) {
  char b[8][96];
  const char *suffix[] = {"_wq", "_ws", "_wz", "_w", "_bq", "_bs", "_b", ""};
  for (int i = 0; i < 8; i++) snprintf(b[i], sizeof b[i], "%s%s", name, suffix[i]);
  int8_t wz[8] = {0};
  qi_shape chs = SH(cw->co);
  int wq = const_t(g, b[0], QI_INT8, SH(cw->co, cw->ci, 3, 3), cw->w);
  int ws = const_t(g, b[1], QI_FLOAT32, chs, cw->ws);
  int wzt = const_t(g, b[2], QI_INT8, chs, wz);
  int w = NODE(g, "DequantizeLinear", b[3], wq, ws, wzt);
  attr_int(g, w, "axis", 0);
  int bq = const_t(g, b[4], QI_INT32, chs, cw->b);
  int bs = const_t(g, b[5], QI_FLOAT32, chs, cw->bs);
  int bias = NODE(g, "DequantizeLinear", b[6], bq, bs);
  attr_int(g, bias, "axis", 0);
  int y = NODE(g, "Conv", b[7], x, w, bias);
  attr_ints(g, y, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
  attr_ints(g, y, "kernel_shape", (const int64_t[]){3, 3}, 2);
  return y;
}

/* input -> QDQ -> Conv -> QDQ(relu grid) -> Conv -> QDQ -> output: the
 * ONNX Runtime QDQ layout, activations uint8 or int8. */
static qi_graph *ort_style(qi_qdq_report *rep, qi_dtype adt, int run_pass) {
  qi_graph *g = qi_graph_create();
  int32_t off = adt == QI_INT8 ? -128 : 0;
  conv_w c1, c2;
  make_conv_w(&c1, 5, 3, 11);
  make_conv_w(&c2, 4, 5, 12);
  int x = input_t(g, "input", QI_FLOAT32, SH(1, 3, 6, 7));
  int xq = qdq(g, x, "input_dq", 0.031f, adt, 121 + off);
  int a = dq_conv(g, xq, &c1, "conv1");
  /* zero point at the bottom of the grid: the quantizer dropped a Relu */
  int aq = qdq(g, a, "conv1_dq", 0.02f, adt, off);
  int b = dq_conv(g, aq, &c2, "conv2");
  int bq = qdq(g, b, "output", 0.05f, adt, 100 + off);
  output_t(g, bq);
  return run_pass ? import_pass(g, rep) : imported(g);
}

static void test_pairs_removed(qt_state *st) {
  for (int k = 0; k < 2; k++) {
    qi_dtype adt = k ? QI_INT8 : QI_UINT8;
    qi_qdq_report r;
    qi_graph *g = ort_style(&r, adt, 1);
    QT_CHECK(st, r.found == 10);
    QT_CHECK(st, r.pairs_removed == 3 && r.weights == 4 && r.kept == 0);
    QT_CHECK(st, count_nodes(g, "QuantizeLinear") == 0);
    QT_CHECK(st, count_nodes(g, "DequantizeLinear") == 0);
    /* Clips: after conv1 (its grid starts at 0: a dropped Relu) and at the
     * graph output (which keeps its name). */
    QT_CHECK(st, r.clips == 2 && count_nodes(g, "Clip") == 2);
    int out = g->outputs[0];
    QT_CHECK(st, !strcmp(g->tensors[out].name, "output"));
    int p = g->tensors[out].producer;
    QT_CHECK(st, p >= 0 && !strcmp(g->nodes[p].op_type, "Clip"));
    /* Activations on the uint8 grid: int8 zero points shifted by 128. */
    const qi_quant *q = &g->tensors[tensor(g, "input")].quant;
    QT_CHECK(st, q->has && q->scale == 0.031f && q->zero_point == 121 &&
                     q->axis == -1);
    q = &g->tensors[tensor(g, "conv1_dq")].quant;
    QT_CHECK(st, q->has && q->scale == 0.02f && q->zero_point == 0);
    q = &g->tensors[tensor(g, "conv1")].quant;
    QT_CHECK(st, q->has && q->scale == 0.02f && q->zero_point == 0);
    q = &g->tensors[out].quant;
    QT_CHECK(st, q->has && q->scale == 0.05f && q->zero_point == 100);
    /* The first conv reads the graph input itself. */
    int c1 = find_node(g, "Conv");
    QT_CHECK(st, c1 >= 0 && g->nodes[c1].in[0] == tensor(g, "input"));
    QT_CHECK(st, count_nodes(g, "Conv") == 2);
    for (int i = 0; i < g->nnodes; i++)
      if (!strcmp(g->nodes[i].op_type, "Conv") ||
          !strcmp(g->nodes[i].op_type, "Clip"))
        QT_CHECK(st, g->nodes[i].precision == QI_PREC_INT8);
    QT_CHECK(st, r.int8_nodes == 4);
    qi_graph_free(g);
  }
}

static void test_weights_dequantized(qt_state *st) {
  qi_qdq_report r;
  qi_graph *g = ort_style(&r, QI_UINT8, 1);
  conv_w c1;
  make_conv_w(&c1, 5, 3, 11);
  const qi_tensor *w = &g->tensors[tensor(g, "conv1_w")];
  QT_CHECK(st, w->kind == QI_TK_CONST && w->dtype == QI_FLOAT32);
  QT_CHECK(st, w->shape.rank == 4 && w->shape.d[0] == 5 && w->shape.d[1] == 3);
  QT_CHECK(st, w->quant.has && w->quant.axis == 0 && w->quant.nscales == 5 &&
                   w->quant.zero_point == 0);
  int bad = 0;
  for (int c = 0; c < 5; c++) {
    bad += w->quant.scales[c] != c1.ws[c];
    for (int i = 0; i < 27; i++)
      bad += ((const float *)w->data)[c * 27 + i] !=
             (float)c1.w[c * 27 + i] * c1.ws[c];
  }
  QT_CHECK(st, bad == QDQ_EXACT);
  const qi_tensor *b = &g->tensors[tensor(g, "conv1_b")];
  QT_CHECK(st, b->kind == QI_TK_CONST && b->dtype == QI_FLOAT32 &&
                   !b->quant.has);
  for (int c = 0; c < 5; c++)
    bad += ((const float *)b->data)[c] != (float)c1.b[c] * c1.bs[c];
  QT_CHECK(st, bad == QDQ_EXACT);
  qi_graph_free(g);
}

/* MatMul weights [K, N] quantized per output column: axis 1. */
static void test_matmul_weights_axis1(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(2, 6));
  int xq = qdq(g, x, "x_dq", 0.1f, QI_UINT8, 128);
  int8_t w[6 * 3];
  float ws[3] = {0.01f, 0.02f, 0.03f};
  int8_t wz[3] = {0};
  for (int i = 0; i < 18; i++) w[i] = (int8_t)(i * 13 % 255 - 127);
  int wt = NODE(g, "DequantizeLinear", "w",
                const_t(g, "wq", QI_INT8, SH(6, 3), w),
                const_t(g, "ws", QI_FLOAT32, SH(3), ws),
                const_t(g, "wz", QI_INT8, SH(3), wz));
  attr_int(g, wt, "axis", 1);
  int y = NODE(g, "MatMul", "y", xq, wt);
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  const qi_tensor *wq = &g->tensors[tensor(g, "w")];
  QT_CHECK(st, wq->quant.has && wq->quant.axis == 1 && wq->quant.nscales == 3);
  int bad = 0;
  for (int i = 0; i < 18; i++)
    bad += ((const float *)wq->data)[i] != (float)w[i] * ws[i % 3];
  QT_CHECK(st, bad == QDQ_EXACT);
  int mm = find_node(g, "MatMul");
  QT_CHECK(st, mm >= 0 && g->nodes[mm].precision == QI_PREC_INT8);
  qi_graph_free(g);
}

/* Q and DQ with different parameters stay as FP32 ops; both sides still
 * get quant. */
static void test_mismatched_pair_kept(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 8));
  int s1 = scale_t(g, "s1", 0.1f), s2 = scale_t(g, "s2", 0.2f);
  int z = zp_t(g, "z", QI_INT8, 3);
  int q = NODE(g, "QuantizeLinear", "q", x, s1, z);
  int d = NODE(g, "DequantizeLinear", "d", q, s2, z);
  int y = NODE(g, "Sigmoid", "y", d);
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, r.pairs_removed == 0 && r.kept == 2);
  QT_CHECK(st, count_nodes(g, "QuantizeLinear") == 1);
  QT_CHECK(st, count_nodes(g, "DequantizeLinear") == 1);
  const qi_quant *qx = &g->tensors[tensor(g, "x")].quant;
  QT_CHECK(st, qx->has && qx->scale == 0.1f && qx->zero_point == 131);
  const qi_quant *qd = &g->tensors[tensor(g, "d")].quant;
  QT_CHECK(st, qd->has && qd->scale == 0.2f && qd->zero_point == 131);
  int sg = find_node(g, "Sigmoid");
  QT_CHECK(st, g->nodes[sg].in[0] == tensor(g, "d"));
  QT_CHECK(st, g->nodes[sg].precision == QI_PREC_INT8);
  /* It still runs: Sigmoid(DQ(Q(x))) with the two scales. */
  float xv[8] = {-3.f, -0.25f, 0.f, 0.05f, 0.15f, 1.f, 12.3f, 100.f}, yv[8];
  qi_status rs = run_graph(g, QI_LOAD_FP32, xv, yv, sizeof yv, NULL);
  QT_CHECK(st, rs == QI_OK);
  int bad = 0;
  for (int i = 0; rs == QI_OK && i < 8; i++) {
    float v = (float)(ref_quantize(xv[i], 0.1f, 3, -128, 127) - 3) * 0.2f;
    bad += fabsf(yv[i] - 1.0f / (1.0f + expf(-v))) > 1e-6f;
  }
  QT_CHECK(st, bad == QDQ_EXACT);
}

/* One Q read by two DQs (and a graph input's pair): both consumers read x. */
static void test_q_feeding_two_dqs(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 4, 5, 5));
  int s = scale_t(g, "s", 0.05f), z = zp_t(g, "z", QI_UINT8, 77);
  int q = NODE(g, "QuantizeLinear", "q", x, s, z);
  int d1 = NODE(g, "DequantizeLinear", "d1", q, s, z);
  int d2 = NODE(g, "DequantizeLinear", "d2", q, s, z);
  int a = NODE(g, "MaxPool", "a", d1);
  attr_ints(g, a, "kernel_shape", (const int64_t[]){2, 2}, 2);
  int b = NODE(g, "Add", "b", a, d2);
  int gp = NODE(g, "GlobalAveragePool", "gp", d2);
  int sum = NODE(g, "Sum", "sum", gp, gp);
  output_t(g, sum);
  output_t(g, b);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, r.pairs_removed == 1 && r.clips == 0 && r.kept == 0);
  QT_CHECK(st, count_nodes(g, "QuantizeLinear") == 0 &&
                   count_nodes(g, "DequantizeLinear") == 0);
  int xi = tensor(g, "x");
  QT_CHECK(st, g->nodes[find_node(g, "MaxPool")].in[0] == xi);
  QT_CHECK(st, g->nodes[find_node(g, "Add")].in[1] == xi);
  QT_CHECK(st, g->nodes[find_node(g, "GlobalAveragePool")].in[0] == xi);
  QT_CHECK(st, g->nodes[find_node(g, "MaxPool")].precision == QI_PREC_INT8);
  QT_CHECK(st, g->nodes[find_node(g, "Add")].precision == QI_PREC_INT8);
  /* Sum read no DQ output: it stays FP32. */
  QT_CHECK(st, g->nodes[find_node(g, "Sum")].precision == QI_PREC_FP32);
  qi_graph_free(g);
}

/* DequantizeLinear of a uint8 graph input stays; its output gets quant. */
static void test_dq_of_graph_input(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "pixels", QI_UINT8, SH(1, 3, 4, 4));
  int d = NODE(g, "DequantizeLinear", "img", x, scale_t(g, "s", 1.0f / 255),
               zp_t(g, "z", QI_UINT8, 0));
  conv_w cw;
  make_conv_w(&cw, 2, 3, 5);
  int y = dq_conv(g, d, &cw, "conv");
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, r.kept == 1 && r.weights == 2);
  const qi_quant *q = &g->tensors[tensor(g, "img")].quant;
  QT_CHECK(st, q->has && q->scale == 1.0f / 255 && q->zero_point == 0);
  int c = find_node(g, "Conv");
  QT_CHECK(st, c >= 0 && g->nodes[c].precision == QI_PREC_INT8);
  qi_graph_free(g);
}

/* Relu-like grids: a Clip only where values may be negative. */
static void test_clip_policy(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 3, 6, 6));
  int xq = qdq(g, x, "x_dq", 0.03f, QI_UINT8, 0); /* graph input: no Clip */
  conv_w cw;
  make_conv_w(&cw, 3, 3, 21);
  int c = dq_conv(g, xq, &cw, "conv");
  int cq = qdq(g, c, "conv_dq", 0.02f, QI_UINT8, 0); /* Clip: Conv */
  int r = NODE(g, "Relu", "relu", cq);
  int rq = qdq(g, r, "relu_dq", 0.02f, QI_INT8, -128); /* no Clip: Relu */
  int p = NODE(g, "MaxPool", "pool", rq);
  attr_ints(g, p, "kernel_shape", (const int64_t[]){2, 2}, 2);
  int pq = qdq(g, p, "pool_dq", 0.02f, QI_UINT8, 0); /* no Clip: pool >= 0 */
  int m = NODE(g, "Mul", "mul", pq, pq);
  int mq = qdq(g, m, "mul_dq", 0.01f, QI_UINT8, 0); /* Clip: Mul, standalone */
  int k = NODE(g, "Sigmoid", "sig", mq);
  int kq = qdq(g, k, "sig_dq", 0.01f, QI_UINT8, 10); /* no Clip: z > qmin */
  int six = NODE(g, "Clip", "relu6", kq, scale_t(g, "c0", 0.0f),
                 scale_t(g, "c6", 6.0f));
  int sq = qdq(g, six, "relu6_dq", 0.025f, QI_INT8, -128); /* no Clip */
  int f = NODE(g, "Flatten", "flat", sq);
  output_t(g, f);
  qi_qdq_report rep;
  import_pass(g, &rep);
  QT_CHECK(st, rep.pairs_removed == 7);
  QT_CHECK(st, rep.clips == 2 && count_nodes(g, "Clip") == 3);
  int c1 = tensor(g, "conv_dq"), c2 = tensor(g, "mul_dq");
  QT_CHECK(st, g->tensors[c1].producer >= 0 &&
                   !strcmp(g->nodes[g->tensors[c1].producer].op_type, "Clip"));
  QT_CHECK(st, g->tensors[c2].producer >= 0 &&
                   !strcmp(g->nodes[g->tensors[c2].producer].op_type, "Clip"));
  QT_CHECK(st, g->nodes[find_node(g, "Relu")].in[0] == c1);
  QT_CHECK(st, g->nodes[find_node(g, "MaxPool")].in[0] == tensor(g, "relu"));
  QT_CHECK(st, g->nodes[find_node(g, "Flatten")].in[0] == tensor(g, "relu6"));
  int c6 = g->tensors[tensor(g, "relu6")].producer;
  QT_CHECK(st, c6 >= 0 && g->nodes[c6].in[0] == tensor(g, "sig"));
  qi_graph_free(g);
}

/* A Conv with plain FP32 weights stays FP32 even when it reads a DQ. */
static void test_fp32_weights_stay_fp32(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 2, 4, 4));
  int xq = qdq(g, x, "x_dq", 0.03f, QI_UINT8, 128);
  float w[2 * 2 * 9];
  for (int i = 0; i < 36; i++) w[i] = 0.01f * (float)(i - 18);
  int y = NODE(g, "Conv", "y", xq, const_t(g, "w", QI_FLOAT32, SH(2, 2, 3, 3), w));
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, g->nodes[find_node(g, "Conv")].precision == QI_PREC_FP32);
  QT_CHECK(st, r.int8_nodes == 0);
  qi_graph_free(g);
}

/* QAT export: Q -> DQ of float weights becomes the fake-quantized constant. */
static void test_fake_quantized_weights(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 2, 4, 4));
  int xq = qdq(g, x, "x_dq", 0.03f, QI_INT8, 0);
  float w[3 * 2 * 9], ws[3] = {0.0078125f, 0.01f, 0.002f};
  int8_t wz[3] = {0};
  uint64_t seed = 3;
  for (int i = 0; i < 54; i++) w[i] = rnd(&seed, -0.5f, 0.5f);
  /* exact ties k + 0.5 on the power-of-two scale, and saturation */
  for (int i = 0; i < 8; i++) w[i] = ((float)(i - 4) + 0.5f) * ws[0];
  w[8] = 5.0f;
  w[9] = -5.0f;
  int wf = const_t(g, "wf", QI_FLOAT32, SH(3, 2, 3, 3), w);
  int sc = const_t(g, "ws", QI_FLOAT32, SH(3), ws);
  int zc = const_t(g, "wz", QI_INT8, SH(3), wz);
  int q = NODE(g, "QuantizeLinear", "wq", wf, sc, zc);
  attr_int(g, q, "axis", 0);
  int d = NODE(g, "DequantizeLinear", "w", q, sc, zc);
  attr_int(g, d, "axis", 0);
  int y = NODE(g, "Conv", "y", xq, d);
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, r.weights == 1 && r.pairs_removed == 1);
  const qi_tensor *wt = &g->tensors[tensor(g, "w")];
  QT_CHECK(st, wt->kind == QI_TK_CONST && wt->quant.has &&
                   wt->quant.axis == 0 && wt->quant.nscales == 3);
  int bad = 0;
  for (int i = 0; i < 54; i++) {
    int c = i / 18;
    float want = (float)ref_quantize(w[i], ws[c], 0, -128, 127) * ws[c];
    bad += ((const float *)wt->data)[i] != want;
  }
  QT_CHECK(st, bad == QDQ_EXACT);
  QT_CHECK(st, g->nodes[find_node(g, "Conv")].precision == QI_PREC_INT8);
  qi_graph_free(g);
}

/* DQ -> Q -> DQ chains: equal parameters merge into one tensor. */
static void test_requantize_chain(qt_state *st) {
  qi_graph *g = qi_graph_create();
  int x = input_t(g, "x", QI_FLOAT32, SH(1, 6));
  int a = qdq(g, x, "a", 0.1f, QI_UINT8, 100);
  int b = qdq(g, a, "b", 0.1f, QI_UINT8, 100); /* same: merges */
  int c = qdq(g, b, "c", 0.3f, QI_UINT8, 100); /* differs: kept */
  int y = NODE(g, "Tanh", "y", c);
  output_t(g, y);
  qi_qdq_report r;
  import_pass(g, &r);
  QT_CHECK(st, r.pairs_removed == 2 && r.kept == 2);
  int q = find_node(g, "QuantizeLinear");
  QT_CHECK(st, q >= 0 && g->nodes[q].in[0] == tensor(g, "x"));
  qi_graph_free(g);
}

/* What the pass should leave of ort_style() in FP32: the pairs gone, the
 * dropped Relu of conv1 and the output's range as Clips. */
static qi_graph *clamp_style(qi_dtype adt) {
  qi_graph *g = qi_graph_create();
  (void)adt; /* both grids span the same real ranges */
  conv_w cw[2];
  make_conv_w(&cw[0], 5, 3, 11);
  make_conv_w(&cw[1], 4, 5, 12);
  /* [(qmin - z) s, (qmax - z) s]: conv1's grid starts at its zero point,
   * the output's is 100 steps above its bottom. */
  const float lo[2] = {0.0f, (float)-100 * 0.05f};
  const float hi[2] = {(float)255 * 0.02f, (float)155 * 0.05f};
  int t = input_t(g, "input", QI_FLOAT32, SH(1, 3, 6, 7));
  for (int l = 0; l < 2; l++) {
    const conv_w *c = &cw[l];
    float w[8 * 5 * 9], b[8];
    for (int i = 0; i < c->co * c->ci * 9; i++)
      w[i] = (float)c->w[i] * c->ws[i / (c->ci * 9)];
    for (int o = 0; o < c->co; o++) b[o] = (float)c->b[o] * c->bs[o];
    char n1[16], n2[16], n3[16], n4[16], n5[16];
    snprintf(n1, sizeof n1, "w%d", l);
    snprintf(n2, sizeof n2, "b%d", l);
    snprintf(n3, sizeof n3, "conv%d", l);
    snprintf(n4, sizeof n4, "lo%d", l);
    snprintf(n5, sizeof n5, "hi%d", l);
    int y = NODE(g, "Conv", n3, t,
                 const_t(g, n1, QI_FLOAT32, SH(c->co, c->ci, 3, 3), w),
                 const_t(g, n2, QI_FLOAT32, SH(c->co), b));
    attr_ints(g, y, "pads", (const int64_t[]){1, 1, 1, 1}, 4);
    attr_ints(g, y, "kernel_shape", (const int64_t[]){3, 3}, 2);
    t = NODE(g, "Clip", l ? "output" : "clip0", y, scale_t(g, n4, lo[l]),
             scale_t(g, n5, hi[l]));
  }
  output_t(g, t);
  return imported(g);
}

/* Real range of ort_style()'s output grid: 255 steps of 0.05. */
#define OUTPUT_SPAN 12.75

/* The ORT-style graph after the pass computes what the QDQ graph did:
 * lowered to INT8 up to one output step (a near-tie rounded the other
 * way), and in FP32 exactly what clamp_style() computes. */
static void test_semantics_preserved(qt_state *st) {
  float xv[3 * 6 * 7], want[4 * 6 * 7], got[4 * 6 * 7];
  uint64_t seed = 17;
  for (int i = 0; i < 3 * 6 * 7; i++) xv[i] = rnd(&seed, -5.0f, 5.0f);
  for (int k = 0; k < 2; k++) {
    qi_dtype adt = k ? QI_INT8 : QI_UINT8;
    const char *name = k ? "int8" : "uint8";
    qi_qdq_report r;
    qi_status s1 = run_graph(ort_style(&r, adt, 0), QI_LOAD_FP32, xv, want,
                             sizeof want, NULL);
    QT_CHECK(st, s1 == QI_OK);
    qi_model *m = NULL;
    qi_status s2 = run_graph(ort_style(&r, adt, 1), QI_LOAD_LOWER_INT8, xv,
                             got, sizeof got, &m);
    QT_CHECK(st, s2 == QI_OK);
    int qconv = 0;
    for (int i = 0; m && i < qi_model_num_nodes(m); i++) {
      qi_node_info ni;
      qi_model_node_info(m, i, &ni, NULL);
      qconv += !strcmp(ni.op_type, "QiQConv") && ni.precision == QI_PREC_INT8;
    }
    QT_CHECKF(st, qconv == 2, "%s: %d INT8 convolutions", name, qconv);
    qi_model_free(m);
    double worst = 0, lo = 1e30, hi = -1e30;
    for (int i = 0; s1 == QI_OK && s2 == QI_OK && i < 4 * 6 * 7; i++) {
      double d = fabs((double)got[i] - want[i]) / 0.05;
      if (d > worst) worst = d;
      if (want[i] < lo) lo = want[i];
      if (want[i] > hi) hi = want[i];
    }
    QT_CHECKF(st, worst <= QDQ_INT8_LSB_TOL, "%s: %g output steps", name,
              worst);
    /* The test means something only if the output is not saturated. */
    QT_CHECKF(st, lo > -4.9 && hi < 7.7 && hi - lo > 2.0,
              "%s: output range [%g, %g]", name, lo, hi);
    s1 = run_graph(clamp_style(adt), QI_LOAD_FP32, xv, want, sizeof want, NULL);
    s2 = run_graph(ort_style(&r, adt, 1), QI_LOAD_FP32, xv, got, sizeof got,
                   NULL);
    QT_CHECK(st, s1 == QI_OK && s2 == QI_OK);
    int bad = 0;
    for (int i = 0; s1 == QI_OK && s2 == QI_OK && i < 4 * 6 * 7; i++)
      bad += fabs((double)got[i] - want[i]) > QDQ_FP32_TOL * OUTPUT_SPAN;
    QT_CHECKF(st, bad == 0, "%s FP32: %d elements differ", name, bad);
  }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_quantize_linear);
  QT_RUN(&st, test_dequantize_linear);
  QT_RUN(&st, test_op_rejections);
  QT_RUN(&st, test_pairs_removed);
  QT_RUN(&st, test_weights_dequantized);
  QT_RUN(&st, test_matmul_weights_axis1);
  QT_RUN(&st, test_mismatched_pair_kept);
  QT_RUN(&st, test_q_feeding_two_dqs);
  QT_RUN(&st, test_dq_of_graph_input);
  QT_RUN(&st, test_clip_policy);
  QT_RUN(&st, test_fp32_weights_stay_fp32);
  QT_RUN(&st, test_fake_quantized_weights);
  QT_RUN(&st, test_requantize_chain);
  QT_RUN(&st, test_semantics_preserved);
  return qt_summary(&st);
}
