/* The uint8 element-wise graph ops (lib/ops/op_q{binary,concat,pool,
 * resize,lut}.c) run as the session runs them: a one-node qi_graph with
 * quantized uint8 tensors, the op found through the registry (domain
 * "qinfer"), check -> infer -> prepare, then run on 1 and 3 threads with
 * inputs and output against guard pages. Every output byte must equal a
 * scalar reference written here from the definitions (the index mapping,
 * windows, coordinates and tables computed independently; the float32
 * arithmetic from the kernels/ref headers), tolerance 0. Bad inputs must fail with
 * a message naming the node (and the tensor, for quantization). */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graph/graph.h"
#include "ops/op.h"
#include "qops_case.h"
#include "qelt_util.h"
#include "ref/qlut_ref.h"
#include "ref/qpool_ref.h"

/* Bilinear against a float64 bilinear of the dequantized input: the
 * 11-bit weights and float32 rounding may move the result one step. */
#define QO_BILINEAR_MAX_STEPS 1

static qi_pool *qo_pool3; /* a 3-thread pool shared by all cases */

/* A uint8 input of random bytes (against a guard page). */
static int qo_input(qo_case *c, int rank, const int64_t *d, double scale,
                    int zp, qe_rng *r) {
  uint8_t *p = qo_u8_input(c, rank, d, scale, zp);
  if (p) qe_fill(r, p, (size_t)qi_shape_numel(&c->g->tensors[c->in[c->nin - 1]].shape));
  return c->in[c->nin - 1];
}

static void qo_int(qi_node *n, const char *name, int64_t v) {
  qi_node_add_attr(n, name, QI_ATTR_INT)->i = v;
}
static void qo_float(qi_node *n, const char *name, float v) {
  qi_node_add_attr(n, name, QI_ATTR_FLOAT)->f = v;
}
static void qo_str(qi_node *n, const char *name, const char *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_STRING);
  a->s = strdup(v);
}
static void qo_ints(qi_node *n, const char *name, int cnt, const int64_t *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)cnt);
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}
static void qo_floats(qi_node *n, const char *name, int cnt, const float *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_FLOATS);
  a->n = cnt;
  a->floats = malloc(sizeof(float) * (size_t)cnt);
  memcpy(a->floats, v, sizeof(float) * (size_t)cnt);
}

static qi_node *qo_n(qo_case *c) { return &c->g->nodes[c->node]; }
static const qi_shape *qo_in_shape(qo_case *c, int k) {
  return &c->g->tensors[c->in[k]].shape;
}
static const qi_shape *qo_out_shape(qo_case *c) {
  return &c->g->tensors[c->out].shape;
}
static const qi_quant *qo_q(qo_case *c, int t) { return &c->g->tensors[t].quant; }

/* Lookup, check, infer, prepare: what model load does. */
static qi_status qo_prepare(qo_case *c) {
  qi_node *n = qo_n(c);
  n->op = qi_op_lookup(n->domain, n->op_type);
  if (!n->op)
    return qi_fail(&c->err, QI_ERR_UNSUPPORTED, "op %s not registered",
                   n->op_type);
  if (n->op->check) QI_TRY(n->op->check(c->g, n, &c->err));
  QI_TRY(n->op->infer(c->g, n, &c->err));
  return n->op->prepare(c->g, n, &c->err);
}

/* One run into a guard buffer; *y is the output, owned by g. */
static qi_status qo_run_once(qo_case *c, qi_pool *pool, qt_guard *g,
                             uint8_t **y) {
  qi_node *n = qo_n(c);
  qi_buf in[QO_MAX_IN], out;
  for (int k = 0; k < c->nin; k++)
    in[k] = (qi_buf){QI_UINT8, *qo_in_shape(c, k), c->data[k]};
  size_t ny = (size_t)qi_shape_numel(qo_out_shape(c));
  *y = qt_guard_after(g, ny);
  if (!*y) return QI_ERR_NOMEM;
  memset(*y, QE_SENTINEL, ny);
  out = (qi_buf){QI_UINT8, *qo_out_shape(c), *y};
  qi_run_ctx ctx = {.pool = pool, .nthreads = qi_pool_size(pool),
                    .err = &c->err};
  return n->op->run(&ctx, n, in, &out);
}

/* Prepares and runs on 1 and 3 threads; every byte must equal want. */
static void qo_expect(qt_state *st, qo_case *c, const uint8_t *want,
                      const char *label) {
  qi_status s = qo_prepare(c);
  QT_CHECKF(st, s == QI_OK, "%s: prepare: %s", label, c->err.message);
  if (s != QI_OK) return;
  QT_CHECKF(st, c->g->tensors[c->out].dtype == QI_UINT8, "%s: dtype", label);
  size_t ny = (size_t)qi_shape_numel(qo_out_shape(c));
  qi_pool *pools[2] = {NULL, qo_pool3};
  for (int p = 0; p < 2; p++) {
    qt_guard g = {0};
    uint8_t *y;
    s = qo_run_once(c, pools[p], &g, &y);
    QT_CHECKF(st, s == QI_OK, "%s: run: %s", label, c->err.message);
    long d = s == QI_OK ? qe_diff(y, want, ny) : -1;
    QT_CHECKF(st, d < 0, "%s (%d threads): byte %ld is %d, want %d", label,
              qi_pool_size(pools[p]), d, d >= 0 ? y[d] : 0,
              d >= 0 ? want[d] : 0);
    qt_guard_free(&g);
  }
}

/* Prepare must fail with `status` and a message naming the node and
 * (when given) `what`. */
static void qo_expect_fail(qt_state *st, qo_case *c, qi_status status,
                           const char *what, const char *label) {
  qi_status s = qo_prepare(c);
  QT_CHECKF(st, s == status, "%s: status %d, want %d (%s)", label, (int)s,
            (int)status, c->err.message);
  QT_CHECKF(st, strstr(c->err.message, "node_under_test") != NULL,
            "%s: message does not name the node: %s", label, c->err.message);
  if (what)
    QT_CHECKF(st, strstr(c->err.message, what) != NULL,
              "%s: message does not name '%s': %s", label, what,
              c->err.message);
}

/* ---- QiQAdd / QiQMul ---- */

/* Flat index into `in` (right-aligned numpy broadcast) of output index i. */
static size_t bcast_index(const qi_shape *out, const qi_shape *in, size_t i) {
  size_t idx = 0, stride = 1;
  for (int d = out->rank - 1; d >= 0; d--) {
    size_t od = (size_t)out->d[d], pos = i % od;
    i /= od;
    int id = d - (out->rank - in->rank);
    if (id < 0) continue;
    if (in->d[id] != 1) idx += pos * stride;
    stride *= (size_t)in->d[id];
  }
  return idx;
}

static void binary_case(qt_state *st, const char *op, int ra, const int64_t *da,
                        int rb, const int64_t *db, size_t idx) {
  qe_rng r = {0x51 + idx};
  int32_t za = qe_zero_points[idx % QE_NZP], zb = qe_zero_points[(idx + 3) % QE_NZP];
  int32_t zy = qe_zero_points[(idx + 5) % QE_NZP], qmin, qmax;
  qe_clamp_of(idx, zy, &qmin, &qmax);
  double sy = 0.02 + 0.05 * qe_unit(&r);
  double sa = sy * qe_ratio_of(idx + 2, &r), sb = sy * (0.3 + qe_unit(&r));
  qo_case c;
  qo_begin(&c);
  qo_input(&c, ra, da, sa, za, &r);
  qo_input(&c, rb, db, sb, zb, &r);
  qi_node *n = qo_node(&c, op, sy, zy);
  qo_int(n, "qmin", qmin);
  qo_int(n, "qmax", qmax);
  qi_shape sa_ = qo_shape(ra, da), sb_ = qo_shape(rb, db), so;
  qi_broadcast_shapes(&sa_, &sb_, &so, NULL);
  size_t ny = (size_t)qi_shape_numel(&so);
  int mul = strcmp(op, "QiQMul") == 0;
  /* Never swapped here: the op's swap must give the same bytes. */
  qi_u8_binary_params p =
      mul ? qi_u8_mul_params_make(qo_q(&c, c.in[0])->scale, za,
                                  qo_q(&c, c.in[1])->scale, zb,
                                  qo_q(&c, c.out)->scale, zy, qmin, qmax)
          : qi_u8_add_params_make(qo_q(&c, c.in[0])->scale, za,
                                  qo_q(&c, c.in[1])->scale, zb,
                                  qo_q(&c, c.out)->scale, zy, qmin, qmax);
  uint8_t *want = malloc(ny ? ny : 1);
  for (size_t i = 0; i < ny; i++) {
    uint8_t a = qo_u8(&c, 0)[bcast_index(&so, &sa_, i)];
    uint8_t b = qo_u8(&c, 1)[bcast_index(&so, &sb_, i)];
    want[i] = mul ? qi_u8_mul_ref(a, b, &p) : qi_u8_add_ref(a, b, &p);
  }
  char label[160], s1[64], s2[64];
  snprintf(label, sizeof label, "%s %s %s idx=%zu", op,
           qi_shape_str(&sa_, s1, sizeof s1), qi_shape_str(&sb_, s2, sizeof s2),
           idx);
  qo_expect(st, &c, want, label);
  int same = so.rank == qo_out_shape(&c)->rank;
  for (int i = 0; same && i < so.rank; i++) same = so.d[i] == qo_out_shape(&c)->d[i];
  QT_CHECKF(st, same, "%s: output shape", label);
  free(want);
  qo_end(&c);
}

static void test_binary(qt_state *st) {
  static const int64_t full[4] = {1, 5, 7, 13}, row[4] = {1, 1, 1, 13},
                       one[4] = {1, 1, 1, 1}, c13[1] = {13}, s1[1] = {1},
                       big[4] = {1, 32, 32, 67}, bigrow[1] = {67},
                       mat[2] = {9, 31}, b2[4] = {2, 3, 4, 5};
  const char *ops[2] = {"QiQAdd", "QiQMul"};
  for (size_t o = 0; o < 2; o++) {
    size_t k = o * 100;
    binary_case(st, ops[o], 4, full, 4, full, k + 0);     /* same shape */
    binary_case(st, ops[o], 4, full, 4, row, k + 1);      /* per channel */
    binary_case(st, ops[o], 4, full, 1, c13, k + 2);      /* [C] */
    binary_case(st, ops[o], 4, full, 1, s1, k + 3);       /* scalar [1] */
    binary_case(st, ops[o], 4, full, 0, NULL, k + 4);     /* rank 0 */
    binary_case(st, ops[o], 4, full, 4, one, k + 5);      /* [1,1,1,1] */
    binary_case(st, ops[o], 4, row, 4, full, k + 6);      /* a broadcast */
    binary_case(st, ops[o], 0, NULL, 4, full, k + 7);     /* a scalar */
    binary_case(st, ops[o], 4, one, 4, one, k + 8);       /* 1x1 */
    binary_case(st, ops[o], 4, big, 4, big, k + 9);       /* many tasks */
    binary_case(st, ops[o], 4, big, 1, bigrow, k + 10);   /* many rows */
    binary_case(st, ops[o], 1, bigrow, 4, big, k + 11);
    binary_case(st, ops[o], 2, mat, 2, mat, k + 12);      /* rank 2 */
    binary_case(st, ops[o], 4, b2, 4, b2, k + 13);        /* batch 2 */
    binary_case(st, ops[o], 4, b2, 1, b2 + 3, k + 14);
  }
}

/* A binary node with shapes and quant given; returns the case prepared to
 * fail. */
static void binary_bad(qt_state *st, const int64_t *da, const int64_t *db,
                       qi_dtype dt, int bad_quant, qi_status want,
                       const char *what, const char *label) {
  qe_rng r = {7};
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, da, 0.1, 3, &r);
  qo_input(&c, 4, db, 0.2, 9, &r);
  c.g->tensors[c.in[1]].dtype = dt;
  qi_quant *q = &c.g->tensors[c.in[1]].quant;
  if (bad_quant == 1) q->has = 0;
  if (bad_quant == 2) q->scale = 0.0f;
  if (bad_quant == 3) q->scale = NAN;
  if (bad_quant == 4) q->zero_point = 256;
  qi_node *n = qo_node(&c, "QiQAdd", 0.1, 0);
  if (bad_quant == 5) qo_int(n, "qmin", 200), qo_int(n, "qmax", 100);
  qo_expect_fail(st, &c, want, what, label);
  qo_end(&c);
}

static void test_binary_errors(qt_state *st) {
  static const int64_t full[4] = {1, 5, 7, 13}, hrow[4] = {1, 5, 1, 13},
                       wrow[4] = {1, 1, 7, 13}, col[4] = {1, 5, 7, 1};
  binary_bad(st, hrow, wrow, QI_UINT8, 0, QI_ERR_UNSUPPORTED, NULL,
             "both broadcast");
  binary_bad(st, full, col, QI_UINT8, 0, QI_ERR_UNSUPPORTED, NULL,
             "broadcast not along the last dim");
  binary_bad(st, full, full, QI_FLOAT32, 0, QI_ERR_UNSUPPORTED, "x1",
             "float input");
  binary_bad(st, full, full, QI_UINT8, 1, QI_ERR_INVALID_ARG, "x1", "no quant");
  binary_bad(st, full, full, QI_UINT8, 2, QI_ERR_INVALID_ARG, "x1", "scale 0");
  binary_bad(st, full, full, QI_UINT8, 3, QI_ERR_INVALID_ARG, "x1",
             "scale NaN");
  binary_bad(st, full, full, QI_UINT8, 4, QI_ERR_INVALID_ARG, "x1", "zp 256");
  binary_bad(st, full, full, QI_UINT8, 5, QI_ERR_PARSE, "qmin", "qmin > qmax");
  /* No quantization on the output tensor. */
  qe_rng r = {8};
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, full, 0.1, 3, &r);
  qo_input(&c, 4, full, 0.1, 3, &r);
  qo_node(&c, "QiQMul", 0.1, 0);
  c.g->tensors[c.out].quant.has = 0;
  qo_expect_fail(st, &c, QI_ERR_INVALID_ARG, "'y'", "output without quant");
  qo_end(&c);
}

/* ---- QiQConcat ---- */

typedef struct concat_spec {
  int rank, axis, nin;
  int64_t d[QO_MAX_IN][4];
  int same_quant[QO_MAX_IN]; /* input k has the output's quantization */
  int narrow;                /* qmin/qmax narrowed */
} concat_spec;

static void concat_case(qt_state *st, const concat_spec *sp, size_t idx) {
  qe_rng r = {0x77 + idx};
  int32_t zy = qe_zero_points[(idx + 2) % QE_NZP], qmin = 0, qmax = 255;
  if (sp->narrow) qe_clamp_of(2, zy, &qmin, &qmax);
  double sy = 0.03 + 0.02 * qe_unit(&r);
  qo_case c;
  qo_begin(&c);
  for (int k = 0; k < sp->nin; k++) {
    int same = sp->same_quant[k];
    qo_input(&c, sp->rank, sp->d[k], same ? sy : sy * qe_ratio_of(idx + k, &r),
             same ? zy : qe_zero_points[(idx + k) % QE_NZP], &r);
  }
  qi_node *n = qo_node(&c, "QiQConcat", sy, zy);
  qo_int(n, "axis", sp->axis);
  if (sp->narrow) qo_int(n, "qmin", qmin), qo_int(n, "qmax", qmax);
  int ax = sp->axis < 0 ? sp->axis + sp->rank : sp->axis;
  /* Output shape, rows and inner sizes written out here. */
  int64_t total = 0;
  for (int k = 0; k < sp->nin; k++) total += sp->d[k][ax];
  size_t rows = 1, inner = 1;
  for (int i = 0; i < ax; i++) rows *= (size_t)sp->d[0][i];
  for (int i = ax + 1; i < sp->rank; i++) inner *= (size_t)sp->d[0][i];
  size_t ny = rows * (size_t)total * inner;
  uint8_t *want = malloc(ny ? ny : 1);
  qi_u8_out o = qi_u8_out_make(zy, qmin, qmax);
  float sy32 = qo_q(&c, c.out)->scale;
  for (size_t y = 0; y < ny; y++) {
    size_t row = y / ((size_t)total * inner), rest = y % ((size_t)total * inner);
    size_t a = rest / inner, e = rest % inner;
    int k = 0;
    while (a >= (size_t)sp->d[k][ax]) a -= (size_t)sp->d[k++][ax];
    const qi_quant *q = qo_q(&c, c.in[k]);
    uint8_t x = qo_u8(&c, k)[(row * (size_t)sp->d[k][ax] + a) * inner + e];
    want[y] = qi_u8_requant_entry(x, q->zero_point,
                                  (float)((double)q->scale / (double)sy32), &o);
  }
  char label[64];
  snprintf(label, sizeof label, "concat axis=%d idx=%zu", sp->axis, idx);
  qo_expect(st, &c, want, label);
  QT_CHECKF(st, qo_out_shape(&c)->d[ax] == total, "%s: output dim", label);
  free(want);
  qo_end(&c);
}

static void test_concat(qt_state *st) {
  /* Channels (odd), one input with the output's quantization. */
  concat_spec ch = {4, 3, 3, {{1, 5, 7, 3}, {1, 5, 7, 5}, {1, 5, 7, 8}},
                    {0, 1, 0}, 0};
  concat_case(st, &ch, 0);
  ch.axis = -1;
  concat_case(st, &ch, 1);
  ch.narrow = 1; /* the identity input is clamped too */
  concat_case(st, &ch, 2);
  concat_spec h = {4, 1, 3, {{1, 2, 7, 6}, {1, 5, 7, 6}, {1, 1, 7, 6}},
                   {1, 0, 0}, 0};
  concat_case(st, &h, 3);
  concat_spec b = {4, 1, 2, {{2, 3, 4, 5}, {2, 1, 4, 5}}, {0, 0}, 0};
  concat_case(st, &b, 4);
  concat_spec one = {4, 3, 2, {{1, 1, 1, 1}, {1, 1, 1, 1}}, {1, 1}, 0};
  concat_case(st, &one, 5);
  /* One row, long chunks: split into segments across threads. */
  concat_spec seg = {2, 0, 3, {{2, 5003}, {3, 5003}, {1, 5003}}, {0, 1, 0}, 0};
  concat_case(st, &seg, 6);
  /* Many rows: row tasks. */
  concat_spec many = {4, 3, 2, {{1, 40, 40, 17}, {1, 40, 40, 32}}, {0, 1}, 0};
  concat_case(st, &many, 7);
  concat_spec empty = {4, 3, 2, {{1, 3, 3, 0}, {1, 3, 3, 4}}, {0, 0}, 0};
  concat_case(st, &empty, 8);
}

static void test_concat_errors(qt_state *st) {
  static const int64_t a[4] = {1, 5, 7, 3}, b[4] = {1, 4, 7, 3};
  qe_rng r = {9};
  for (int t = 0; t < 4; t++) {
    qo_case c;
    qo_begin(&c);
    qo_input(&c, 4, a, 0.1, 1, &r);
    qo_input(&c, 4, t == 0 ? b : a, 0.1, 1, &r);
    qi_node *n = qo_node(&c, "QiQConcat", 0.1, 1);
    if (t == 0) qo_int(n, "axis", 3); /* H differs off-axis */
    if (t == 1) qo_int(n, "axis", 4);
    if (t == 2) qo_int(n, "axis", -5);
    if (t == 3) c.g->tensors[c.in[1]].quant.has = 0, qo_int(n, "axis", 3);
    qi_status want = t == 3 ? QI_ERR_INVALID_ARG : QI_ERR_SHAPE;
    qo_expect_fail(st, &c, want, t == 3 ? "x1" : NULL, "concat error");
    qo_end(&c);
  }
  qo_case c; /* no axis */
  qo_begin(&c);
  qo_input(&c, 4, a, 0.1, 1, &r);
  qo_node(&c, "QiQConcat", 0.1, 1);
  qo_expect_fail(st, &c, QI_ERR_PARSE, "axis", "concat without axis");
  qo_end(&c);
}

/* ---- QiQMaxPool / QiQAveragePool / QiQGlobalAveragePool ---- */

typedef struct pool_spec {
  const char *op;
  int64_t n, h, w, c;
  int64_t k[2], s[2], d[2], pads[4]; /* top, left, bottom, right */
  int ceil_mode, cip;
  int64_t want_h, want_w; /* expected output size (ONNX, by hand) */
  int requant;            /* MaxPool: output quant differs */
} pool_spec;

static void pool_case(qt_state *st, const pool_spec *sp, size_t idx) {
  qe_rng r = {0x99 + idx};
  int gap = strcmp(sp->op, "QiQGlobalAveragePool") == 0;
  int mx = strcmp(sp->op, "QiQMaxPool") == 0;
  int32_t zx = qe_zero_points[idx % QE_NZP], zy = zx, qmin = 0, qmax = 255;
  double sx = 0.05, sy = sx;
  if (!mx || sp->requant) {
    zy = qe_zero_points[(idx + 3) % QE_NZP];
    qe_clamp_of(idx, zy, &qmin, &qmax);
    sy = sx / (0.4 + qe_unit(&r));
  }
  int64_t dx[4] = {sp->n, sp->h, sp->w, sp->c};
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, dx, sx, zx, &r);
  qi_node *n = qo_node(&c, sp->op, sy, zy);
  if (!gap) {
    qo_ints(n, "kernel_shape", 2, sp->k);
    qo_ints(n, "strides", 2, sp->s);
    qo_ints(n, "dilations", 2, sp->d);
    qo_ints(n, "pads", 4, sp->pads);
    qo_int(n, "ceil_mode", sp->ceil_mode);
    qo_int(n, "count_include_pad", sp->cip);
  }
  if (qmin != 0 || qmax != 255) qo_int(n, "qmin", qmin), qo_int(n, "qmax", qmax);
  int64_t kh = gap ? sp->h : sp->k[0], kw = gap ? sp->w : sp->k[1];
  int64_t s_h = gap ? 1 : sp->s[0], s_w = gap ? 1 : sp->s[1];
  int64_t d_h = gap ? 1 : sp->d[0], d_w = gap ? 1 : sp->d[1];
  int64_t pt = gap ? 0 : sp->pads[0], pl = gap ? 0 : sp->pads[1];
  int64_t pb = gap ? 0 : sp->pads[2], pr = gap ? 0 : sp->pads[3];
  size_t oh = (size_t)sp->want_h, ow = (size_t)sp->want_w, C = (size_t)sp->c;
  size_t ny = (size_t)sp->n * oh * ow * C;
  uint8_t *want = malloc(ny ? ny : 1);
  qi_u8_avgpool_params p = qi_u8_avgpool_params_make(
      qo_q(&c, c.in[0])->scale, zx, qo_q(&c, c.out)->scale, zy, qmin, qmax,
      sp->cip);
  qi_u8_out o = qi_u8_out_make(zy, qmin, qmax);
  float mxy = (float)((double)qo_q(&c, c.in[0])->scale /
                      (double)qo_q(&c, c.out)->scale);
  for (size_t b = 0; b < (size_t)sp->n; b++)
    for (size_t y = 0; y < oh; y++)
      for (size_t x = 0; x < ow; x++)
        for (size_t ch = 0; ch < C; ch++) {
          int32_t acc = 0, m = 0, taps = 0, count = 0;
          for (int64_t i = 0; i < kh; i++)
            for (int64_t j = 0; j < kw; j++) {
              int64_t ih = (int64_t)y * s_h - pt + i * d_h;
              int64_t iw = (int64_t)x * s_w - pl + j * d_w;
              count += ih >= -pt && ih < sp->h + pb && iw >= -pl &&
                       iw < sp->w + pr;
              if (ih < 0 || iw < 0 || ih >= sp->h || iw >= sp->w) continue;
              uint8_t v = qo_u8(&c, 0)[((b * (size_t)sp->h + (size_t)ih) *
                                         (size_t)sp->w + (size_t)iw) * C + ch];
              acc += v;
              m = v > m ? v : m;
              taps++;
            }
          if (!sp->cip) count = taps;
          float mult = p.mult / (float)(count ? count : 1);
          size_t at = ((b * oh + y) * ow + x) * C + ch;
          want[at] = mx ? qi_u8_requant_entry(m, zx, mxy, &o)
                        : qi_u8_out_finish((float)(acc - taps * zx) * mult,
                                           &p.out);
        }
  char label[96];
  snprintf(label, sizeof label, "%s idx=%zu", sp->op, idx);
  qo_expect(st, &c, want, label);
  const qi_shape *os = qo_out_shape(&c);
  QT_CHECKF(st, os->rank == 4 && os->d[0] == sp->n && os->d[1] == sp->want_h &&
                    os->d[2] == sp->want_w && os->d[3] == sp->c,
            "%s: output shape [%lld,%lld,%lld,%lld]", label,
            (long long)os->d[0], (long long)os->d[1], (long long)os->d[2],
            (long long)os->d[3]);
  free(want);
  qo_end(&c);
}

static void test_pools(qt_state *st) {
  const char *mp = "QiQMaxPool", *ap = "QiQAveragePool";
  /* 3x3/2, ceil_mode, asymmetric pads: 8 + 1 + 0 - 3 = 6 -> ceil(6/2)+1 = 4
   * rows; 9 + 0 + 1 - 3 = 7 -> 5 columns, (5-1)*2 = 8 < 9 kept. */
  pool_spec a = {mp, 1, 8, 9, 5, {3, 3}, {2, 2}, {1, 1}, {1, 0, 0, 1}, 1, 0,
                 4, 5, 0};
  pool_case(st, &a, 0);
  a.requant = 1;
  pool_case(st, &a, 1);
  a.op = ap;
  pool_case(st, &a, 2);
  a.cip = 1;
  pool_case(st, &a, 3);
  /* ceil_mode drops a window starting in the end pad: 6 + 1 + 1 - 3 = 5,
   * ceil(5/2)+1 = 4 but (4-1)*2 = 6 >= 6 + 1? no -> 4; 5 + 0 + 2 - 2 = 5,
   * s 3: ceil(5/3)+1 = 3, (3-1)*3 = 6 >= 5 -> 2. */
  pool_spec b = {ap, 2, 6, 5, 7, {3, 2}, {2, 3}, {1, 1}, {1, 0, 1, 2}, 1, 1,
                 4, 2, 0};
  pool_case(st, &b, 4);
  b.cip = 0;
  pool_case(st, &b, 5);
  b.op = mp;
  b.requant = 1;
  pool_case(st, &b, 6);
  /* Floor mode: 8 + 2 - 3 = 7 -> 3 + 1 = 4; along W dilation 2 spans 5:
   * 11 + 2 - 5 = 8 -> 4 + 1 = 5. */
  pool_spec cfl = {ap, 1, 8, 11, 3, {3, 3}, {2, 2}, {1, 2}, {1, 1, 1, 1}, 0,
                   1, 4, 5, 0};
  pool_case(st, &cfl, 7);
  cfl.op = mp;
  pool_case(st, &cfl, 8);
  pool_spec one = {mp, 1, 1, 1, 1, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 0, 0,
                   1, 1, 0};
  pool_case(st, &one, 9);
  one.op = ap;
  pool_case(st, &one, 10);
  /* Larger, many row tasks. */
  pool_spec big = {mp, 1, 56, 56, 64, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 0,
                   0, 28, 28, 0};
  pool_case(st, &big, 11);
  big.op = ap;
  pool_case(st, &big, 12);
  pool_spec g7 = {"QiQGlobalAveragePool", 1, 7, 7, 67, {0}, {0}, {0}, {0}, 0,
                  0, 1, 1, 0};
  pool_case(st, &g7, 13);
  g7.n = 2;
  g7.c = 130;
  pool_case(st, &g7, 14);
  g7.h = g7.w = 14; /* several channel-block tasks */
  g7.c = 200;
  pool_case(st, &g7, 16);
  pool_spec g1 = {"QiQGlobalAveragePool", 1, 1, 1, 5, {0}, {0}, {0}, {0}, 0,
                  0, 1, 1, 0};
  pool_case(st, &g1, 15);
}

static void test_pool_errors(qt_state *st) {
  static const int64_t x4[4] = {1, 5, 5, 3}, x3[3] = {5, 5, 3},
                       k3[2] = {3, 3}, k9[2] = {9, 1};
  qe_rng r = {10};
  for (int t = 0; t < 5; t++) {
    qo_case c;
    qo_begin(&c);
    qo_input(&c, t == 1 ? 3 : 4, t == 1 ? x3 : x4, 0.1, 0, &r);
    qi_node *n = qo_node(&c, "QiQMaxPool", 0.1, 0);
    if (t != 2) qo_ints(n, "kernel_shape", 2, t == 3 ? k9 : k3);
    if (t == 0) qo_str(n, "auto_pad", "SAME_UPPER");
    if (t == 4) qo_int(n, "qmax", 256);
    static const qi_status want[5] = {QI_ERR_UNSUPPORTED, QI_ERR_SHAPE,
                                      QI_ERR_PARSE, QI_ERR_SHAPE,
                                      QI_ERR_PARSE};
    static const char *const what[5] = {"auto_pad", NULL, "kernel_shape",
                                        "window", "qmax"};
    qo_expect_fail(st, &c, want[t], what[t], "pool error");
    qo_end(&c);
  }
}

/* ---- QiQResize ---- */

/* Source coordinate of output i (ONNX, as written in qpool/resize.h). */
static double src_coord(int mode, size_t i, size_t in, size_t out,
                        double scale) {
  if (mode == 0) return ((double)i + 0.5) / scale - 0.5;
  if (mode == 1) return out > 1 ? ((double)i + 0.5) / scale - 0.5 : 0.0;
  if (mode == 2)
    return out > 1 ? (double)i * (double)(in - 1) / (double)(out - 1) : 0.0;
  return (double)i / scale;
}

static size_t clampi(double v, size_t in) {
  return v <= 0.0 ? 0 : v >= (double)(in - 1) ? in - 1 : (size_t)v;
}

static const char *const coord_names[4] = {"half_pixel", "pytorch_half_pixel",
                                           "align_corners", "asymmetric"};
static const char *const nearest_names[4] = {
    "round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};

typedef struct resize_spec {
  int bilinear, coord, nearest;
  int64_t n, h, w, c, oh, ow;
  int requant;
  float scale_h, scale_w; /* > 0: given as the scales attribute */
} resize_spec;

static void resize_case(qt_state *st, const resize_spec *sp, size_t idx) {
  qe_rng r = {0x3a + idx};
  int32_t zx = qe_zero_points[(idx + 1) % QE_NZP], zy = zx, qmin = 0,
          qmax = 255;
  double sx = 0.04, sy = sx;
  if (sp->requant) {
    zy = qe_zero_points[(idx + 4) % QE_NZP];
    qe_clamp_of(idx, zy, &qmin, &qmax);
    sy = sx / (0.5 + qe_unit(&r));
  }
  int64_t dx[4] = {sp->n, sp->h, sp->w, sp->c};
  int64_t sizes[4] = {sp->n, sp->oh, sp->ow, sp->c};
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, dx, sx, zx, &r);
  qi_node *n = qo_node(&c, "QiQResize", sy, zy);
  qo_int(n, "mode", sp->bilinear);
  qo_str(n, "coordinate_transformation_mode", coord_names[sp->coord]);
  qo_str(n, "nearest_mode", nearest_names[sp->nearest]);
  qo_ints(n, "sizes", 4, sizes);
  if (sp->scale_h > 0) {
    float sc[4] = {1.0f, sp->scale_h, sp->scale_w, 1.0f};
    qo_floats(n, "scales", 4, sc);
  }
  if (qmin != 0 || qmax != 255) qo_int(n, "qmin", qmin), qo_int(n, "qmax", qmax);
  double sch = sp->scale_h > 0 ? sp->scale_h : (double)sp->oh / (double)sp->h;
  double scw = sp->scale_w > 0 ? sp->scale_w : (double)sp->ow / (double)sp->w;
  size_t H = (size_t)sp->h, W = (size_t)sp->w, C = (size_t)sp->c;
  size_t OH = (size_t)sp->oh, OW = (size_t)sp->ow;
  size_t ny = (size_t)sp->n * OH * OW * C;
  uint8_t *want = malloc(ny);
  float s_x = qo_q(&c, c.in[0])->scale, s_y = qo_q(&c, c.out)->scale;
  qi_u8_resize_params p = qi_u8_resize_params_make(s_x, zx, s_y, zy, qmin, qmax);
  qi_u8_out o = qi_u8_out_make(zy, qmin, qmax);
  float mxy = (float)((double)s_x / (double)s_y);
  int far = 0; /* bilinear results more than the allowed steps from f64 */
  for (size_t b = 0; b < (size_t)sp->n; b++)
    for (size_t y = 0; y < OH; y++)
      for (size_t x = 0; x < OW; x++) {
        double cy = src_coord(sp->coord, y, H, OH, sch);
        double cx = src_coord(sp->coord, x, W, OW, scw);
        const uint8_t *img = qo_u8(&c, 0) + b * H * W * C;
        uint8_t *out = want + ((b * OH + y) * OW + x) * C;
        if (!sp->bilinear) {
          double fy = cy, fx = cx;
          double *f[2] = {&fy, &fx};
          for (int a = 0; a < 2; a++) {
            double v = *f[a];
            *f[a] = sp->nearest == 0   ? ceil(v - 0.5)
                    : sp->nearest == 1 ? floor(v + 0.5)
                    : sp->nearest == 2 ? floor(v)
                                       : ceil(v);
          }
          const uint8_t *px = img + (clampi(fy, H) * W + clampi(fx, W)) * C;
          for (size_t ch = 0; ch < C; ch++)
            out[ch] = qi_u8_requant_entry(px[ch], zx, mxy, &o);
          continue;
        }
        cy = cy < 0 ? 0 : cy > (double)(H - 1) ? (double)(H - 1) : cy;
        cx = cx < 0 ? 0 : cx > (double)(W - 1) ? (double)(W - 1) : cx;
        size_t y0 = (size_t)floor(cy), x0 = (size_t)floor(cx);
        size_t y1 = y0 + 1 < H ? y0 + 1 : H - 1, x1 = x0 + 1 < W ? x0 + 1 : W - 1;
        int32_t wy = (int32_t)rint((cy - floor(cy)) * 2048.0);
        int32_t wx = (int32_t)rint((cx - floor(cx)) * 2048.0);
        for (size_t ch = 0; ch < C; ch++) {
          int32_t p00 = img[(y0 * W + x0) * C + ch], p01 = img[(y0 * W + x1) * C + ch];
          int32_t p10 = img[(y1 * W + x0) * C + ch], p11 = img[(y1 * W + x1) * C + ch];
          int32_t acc = p00 * (2048 - wx) * (2048 - wy) + p01 * wx * (2048 - wy) +
                        p10 * (2048 - wx) * wy + p11 * wx * wy;
          out[ch] = qi_u8_out_finish((float)(acc - zx * (1 << 22)) * p.mult, &p.out);
          /* Float64 bilinear of the real values, requantized. */
          double ry = cy - floor(cy), rx = cx - floor(cx);
          double v = ((p00 - zx) * (1 - rx) * (1 - ry) + (p01 - zx) * rx * (1 - ry) +
                      (p10 - zx) * (1 - rx) * ry + (p11 - zx) * rx * ry) *
                     (double)s_x / (double)s_y;
          int32_t e = qe_requant_f64(v, zy, qmin, qmax);
          far += abs((int)out[ch] - e) > QO_BILINEAR_MAX_STEPS;
        }
      }
  char label[96];
  snprintf(label, sizeof label, "resize %s %s idx=%zu",
           sp->bilinear ? "bilinear" : "nearest", coord_names[sp->coord], idx);
  QT_CHECKF(st, far == 0, "%s: %d reference bytes off the float64 bilinear",
            label, far);
  qo_expect(st, &c, want, label);
  free(want);
  qo_end(&c);
}

static void test_resize(qt_state *st) {
  /* bilinear, coord, nearest, n, h, w, c, oh, ow, requant, scales */
  const resize_spec specs[] = {
      {0, 3, 2, 1, 5, 7, 3, 10, 14, 0, 0, 0},    /* nearest x2 asymmetric */
      {0, 0, 0, 1, 5, 7, 3, 10, 14, 0, 0, 0},    /* half_pixel, prefer floor */
      {0, 0, 1, 2, 5, 7, 3, 10, 14, 1, 0, 0},    /* requantized copy */
      {0, 2, 3, 1, 4, 6, 5, 9, 3, 0, 0, 0},      /* align_corners, ceil */
      {1, 0, 0, 1, 5, 7, 3, 9, 11, 0, 0, 0},     /* half_pixel to odd */
      {1, 0, 0, 2, 5, 7, 3, 9, 11, 1, 0, 0},
      {1, 2, 0, 1, 5, 7, 5, 9, 13, 1, 0, 0},     /* align_corners */
      {1, 1, 0, 1, 6, 5, 3, 1, 7, 0, 0, 0},      /* pytorch, out 1 */
      {1, 3, 0, 1, 9, 8, 4, 4, 3, 1, 0, 0},      /* downsample */
      {1, 0, 0, 1, 1, 1, 7, 3, 5, 0, 0, 0},      /* 1x1 source */
      {1, 0, 0, 1, 5, 5, 3, 7, 7, 0, 1.5f, 1.5f}, /* ONNX scale 1.5, 7/5 */
      {1, 0, 0, 1, 28, 28, 48, 56, 56, 1, 0, 0}, /* many row tasks */
  };
  for (size_t i = 0; i < QE_LEN(specs); i++) resize_case(st, &specs[i], i);
}

static void test_resize_errors(qt_state *st) {
  static const int64_t x[4] = {1, 5, 5, 3}, ok[4] = {1, 10, 10, 3},
                       badc[4] = {1, 10, 10, 4};
  qe_rng r = {11};
  for (int t = 0; t < 5; t++) {
    qo_case c;
    qo_begin(&c);
    qo_input(&c, 4, x, 0.1, 0, &r);
    qi_node *n = qo_node(&c, "QiQResize", 0.1, 0);
    qo_int(n, "mode", t == 0 ? 2 : 1);
    qo_str(n, "coordinate_transformation_mode",
           t == 1 ? "tf_crop_and_resize" : "half_pixel");
    if (t != 3) qo_ints(n, "sizes", 4, t == 2 ? badc : ok);
    if (t == 4) qo_str(n, "nearest_mode", "round_half_away");
    static const qi_status want[5] = {QI_ERR_UNSUPPORTED, QI_ERR_UNSUPPORTED,
                                      QI_ERR_UNSUPPORTED, QI_ERR_PARSE,
                                      QI_ERR_UNSUPPORTED};
    static const char *const what[5] = {"mode", "tf_crop_and_resize",
                                        "sizes", "sizes", "round_half_away"};
    qo_expect_fail(st, &c, want[t], what[t], "resize error");
    qo_end(&c);
  }
}

/* ---- QiQLut ---- */

/* The activations of qlut/qlut.h, from their ONNX definitions. */
static double act_f64(int kind, double a, double b, double x) {
  switch (kind) {
    case QI_U8_ACT_LEAKY_RELU: return x >= 0 ? x : a * x;
    case QI_U8_ACT_CLIP: return x < a ? a : x > b ? b : x;
    case QI_U8_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case QI_U8_ACT_HARD_SIGMOID: return fmax(0.0, fmin(1.0, a * x + b));
    case QI_U8_ACT_HARD_SWISH: return x * fmax(0.0, fmin(1.0, x / 6.0 + 0.5));
    case QI_U8_ACT_SILU: return x / (1.0 + exp(-x));
    case QI_U8_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case QI_U8_ACT_TANH: return tanh(x);
    case QI_U8_ACT_AFFINE: return a * x + b;
    default: return NAN;
  }
}

static void lut_case(qt_state *st, int kind, int has_alpha, float alpha,
                     float beta, const int64_t *d, size_t idx) {
  qe_rng r = {0xb0 + idx};
  int32_t zx = qe_zero_points[idx % QE_NZP], zy = qe_zero_points[(idx + 2) % QE_NZP];
  int32_t qmin, qmax;
  qe_clamp_of(idx, zy, &qmin, &qmax);
  double sx = 0.01 + 0.05 * qe_unit(&r), sy = 0.004 + 0.02 * qe_unit(&r);
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, d, sx, zx, &r);
  qi_node *n = qo_node(&c, "QiQLut", sy, zy);
  qo_int(n, "act", kind);
  if (has_alpha) qo_float(n, "alpha", alpha), qo_float(n, "beta", beta);
  qo_int(n, "qmin", qmin);
  qo_int(n, "qmax", qmax);
  double fsx = qo_q(&c, c.in[0])->scale, fsy = qo_q(&c, c.out)->scale;
  uint8_t table[256];
  for (int q = 0; q < 256; q++)
    table[q] = qi_u8_requant_f64(act_f64(kind, alpha, beta, (q - zx) * fsx) / fsy,
                                 zy, qmin, qmax);
  size_t ny = (size_t)qi_shape_numel(qo_in_shape(&c, 0));
  uint8_t *want = malloc(ny);
  for (size_t i = 0; i < ny; i++) want[i] = qi_u8_lut_ref(qo_u8(&c, 0)[i], table);
  char label[64];
  snprintf(label, sizeof label, "lut act=%d idx=%zu", kind, idx);
  qo_expect(st, &c, want, label);
  free(want);
  qo_end(&c);
}

static void test_lut(qt_state *st) {
  static const int64_t small[4] = {1, 3, 5, 17}, one[4] = {1, 1, 1, 1},
                       big[4] = {1, 40, 40, 33};
  const int kinds[] = {QI_U8_ACT_SIGMOID, QI_U8_ACT_HARD_SWISH, QI_U8_ACT_SILU,
                       QI_U8_ACT_GELU, QI_U8_ACT_TANH};
  size_t idx = 0;
  for (size_t k = 0; k < QE_LEN(kinds); k++)
    for (int s = 0; s < 3; s++, idx++)
      lut_case(st, kinds[k], 0, 0, 0, s == 0 ? small : s == 1 ? one : big, idx);
  lut_case(st, QI_U8_ACT_LEAKY_RELU, 1, 0.1f, 0, small, idx++);
  lut_case(st, QI_U8_ACT_LEAKY_RELU, 0, 0.01f, 0, small, idx++); /* default */
  lut_case(st, QI_U8_ACT_HARD_SIGMOID, 0, 0.2f, 0.5f, small, idx++);
  lut_case(st, QI_U8_ACT_CLIP, 1, -0.5f, 1.5f, big, idx++);
  lut_case(st, QI_U8_ACT_AFFINE, 1, -0.75f, 0.3f, small, idx++);
  lut_case(st, QI_U8_ACT_AFFINE, 1, 2.5f, -1.0f, big, idx++);
  lut_case(st, QI_U8_ACT_AFFINE, 0, 1.0f, 0.0f, one, idx++); /* default */
}

static void test_lut_errors(qt_state *st) {
  static const int64_t x[4] = {1, 2, 2, 3};
  qe_rng r = {12};
  for (int t = 0; t < 3; t++) {
    qo_case c;
    qo_begin(&c);
    qo_input(&c, 4, x, 0.1, 0, &r);
    qi_node *n = qo_node(&c, "QiQLut", 0.1, 0);
    if (t == 0) qo_int(n, "act", QI_U8_ACT_COUNT);
    if (t == 2) qo_int(n, "act", QI_U8_ACT_SIGMOID);
    if (t == 2) c.g->tensors[c.in[0]].quant.zero_point = -1;
    static const qi_status want[3] = {QI_ERR_UNSUPPORTED, QI_ERR_PARSE,
                                      QI_ERR_INVALID_ARG};
    static const char *const what[3] = {"act", "act", "x0"};
    qo_expect_fail(st, &c, want[t], what[t], "lut error");
    qo_end(&c);
  }
}

/* ---- shared state, registry ---- */

typedef struct race_arg {
  qo_case *c;
  const uint8_t *want;
  int bad;
} race_arg;

static void *race_thread(void *p) {
  race_arg *a = p;
  size_t ny = (size_t)qi_shape_numel(qo_out_shape(a->c));
  for (int i = 0; i < 20; i++) {
    qt_guard g = {0};
    uint8_t *y;
    qo_case local = *a->c; /* own error buffer */
    if (qo_run_once(&local, NULL, &g, &y) != QI_OK || qe_diff(y, a->want, ny) >= 0)
      a->bad++;
    qt_guard_free(&g);
  }
  return NULL;
}

/* One prepared node run by two threads at once (two sessions sharing a
 * model): the state must not be written by run. */
static void test_shared_state(qt_state *st) {
  static const int64_t d[4] = {1, 9, 9, 19}, k[2] = {3, 3}, s[2] = {2, 2};
  qe_rng r = {13};
  qo_case c;
  qo_begin(&c);
  qo_input(&c, 4, d, 0.1, 7, &r);
  qi_node *n = qo_node(&c, "QiQAveragePool", 0.07, 20);
  qo_ints(n, "kernel_shape", 2, k);
  qo_ints(n, "strides", 2, s);
  QT_CHECKF(st, qo_prepare(&c) == QI_OK, "%s", c.err.message);
  qt_guard g = {0};
  uint8_t *want;
  QT_CHECK(st, qo_run_once(&c, NULL, &g, &want) == QI_OK);
  race_arg a[2] = {{&c, want, 0}, {&c, want, 0}};
  pthread_t th[2];
  for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, race_thread, &a[i]);
  for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
  QT_CHECK(st, a[0].bad == 0 && a[1].bad == 0);
  qt_guard_free(&g);
  qo_end(&c);
}

static void test_registry(qt_state *st) {
  const char *ops[] = {"QiQAdd", "QiQMul", "QiQConcat", "QiQMaxPool",
                       "QiQAveragePool", "QiQGlobalAveragePool", "QiQResize",
                       "QiQLut"};
  for (size_t i = 0; i < QE_LEN(ops); i++) {
    const qi_op_def *d = qi_op_lookup("qinfer", ops[i]);
    QT_CHECKF(st, d && d->infer && d->prepare && d->run && d->free_state &&
                      d->check && !d->foldable,
              "%s", ops[i]);
  }
}

int main(void) {
  qt_state st = {0};
  qe_catch_faults(&st);
  qo_pool3 = qi_pool_create(3);
  if (!qo_pool3) return 1;
  QT_RUN(&st, test_registry);
  QT_RUN(&st, test_binary);
  QT_RUN(&st, test_binary_errors);
  QT_RUN(&st, test_concat);
  QT_RUN(&st, test_concat_errors);
  QT_RUN(&st, test_pools);
  QT_RUN(&st, test_pool_errors);
  QT_RUN(&st, test_resize);
  QT_RUN(&st, test_resize_errors);
  QT_RUN(&st, test_lut);
  QT_RUN(&st, test_lut_errors);
  QT_RUN(&st, test_shared_state);
  qi_pool_free(qo_pool3);
  return qt_summary(&st);
}
