/* The INT8 attention ops (lib/ops/op_qattn.c: QiQMatMulAct, QiQSoftmax,
 * QiQLayerNorm) run as the session runs them: a one-node qi_graph with
 * quantized uint8 tensors, the op found through the registry (domain
 * "qinfer"), check -> infer -> prepare, then run on 1 and 3 threads with
 * inputs and outputs against guard pages. Each output must equal, byte for
 * byte, the scalar kernel applied here batch by batch (row by row) with
 * parameters made from the tensors' quantization, and lie within one
 * output step of the float64 references (kernels/ref/qattn_ref.h). Bad
 * nodes must fail naming the node (and the tensor, for quantization). */
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/qattn_dispatch.h"
#include "graph/graph.h"
#include "guard.h"
#include "ops/op.h"
#include "qops_case.h"
#include "qtest.h"
#include "ref/qattn_ref.h"

/* uint8 outputs against float64: one step at most (near rounding ties). */
#define QO_U8_MAX_STEPS 1
/* Float outputs against float64, relative (several float32 roundings). */
#define QO_F32_REL_TOL 1e-5
#define QO_F32_ABS_TOL 1e-30

static qi_pool *g_pool3;

typedef struct rng {
  uint64_t s;
} rng;
static uint64_t next_u64(rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unit(rng *r) {
  return (double)(next_u64(r) >> 11) / 9007199254740992.0;
}

/* ---- rank-4 layout ------------------------------------------------------ */

/* A rank-4 uint8 tensor of the INT8 graph is stored NHWC: FP32 [B, C, R, Q]
 * as [B, R, Q, C]. */
static void nchw_dims_to_nhwc(const int64_t *l, int64_t *s) {
  s[0] = l[0];
  s[1] = l[2];
  s[2] = l[3];
  s[3] = l[1];
}

/* dst (NCHW [B, C, R, Q], element size es) from src stored NHWC. */
static void nhwc_to_nchw_copy(const unsigned char *src, const int64_t *l,
                              size_t es, unsigned char *dst) {
  int64_t B = l[0], C = l[1], R = l[2], Q = l[3];
  for (int64_t b = 0; b < B; b++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < R; i++)
        for (int64_t j = 0; j < Q; j++)
          memcpy(dst + (size_t)(((b * C + c) * R + i) * Q + j) * es,
                 src + (size_t)(((b * R + i) * Q + j) * C + c) * es, es);
}

/* ---- one-node graphs --------------------------------------------------- */

/* A uint8 input of random bytes, against a guard page. */
static int qo_u8_input_rand(qo_case *c, int rank, const int64_t *d,
                            double scale, int zp, rng *r) {
  uint8_t *p = qo_u8_input(c, rank, d, scale, zp);
  size_t n = (size_t)qi_shape_numel(&c->g->tensors[c->in[c->nin - 1]].shape);
  for (size_t i = 0; p && i < n; i++) p[i] = (uint8_t)(next_u64(r) >> 56);
  return c->in[c->nin - 1];
}

/* A float32 constant input (LayerNorm scale and B). */
static int qo_f32_const(qo_case *c, const char *name, int64_t len, double lo,
                        double hi, rng *r) {
  int t = qi_graph_add_tensor(c->g, name, QI_FLOAT32);
  c->g->tensors[t].shape = qo_shape(1, &len);
  float *v = malloc(sizeof(float) * (size_t)len);
  for (int64_t i = 0; i < len; i++) v[i] = (float)(lo + (hi - lo) * unit(r));
  qi_tensor_set_const(&c->g->tensors[t], v, sizeof(float) * (size_t)len);
  c->data[c->nin] = v;
  c->in[c->nin++] = t;
  return t;
}

static qi_node *qo_n(qo_case *c) { return &c->g->nodes[c->node]; }
static void qo_int(qo_case *c, const char *name, int64_t v) {
  qi_node_add_attr(qo_n(c), name, QI_ATTR_INT)->i = v;
}
static void qo_float(qo_case *c, const char *name, float v) {
  qi_node_add_attr(qo_n(c), name, QI_ATTR_FLOAT)->f = v;
}

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

/* Runs the prepared node with `pool`; *y (against a guard page, in g) is
 * the output. */
static qi_status qo_run(qo_case *c, qi_pool *pool, qt_guard *g, void **y,
                        size_t *ybytes) {
  qi_node *n = qo_n(c);
  qi_buf in[QO_MAX_IN], out;
  for (int k = 0; k < c->nin; k++) {
    const qi_tensor *t = &c->g->tensors[c->in[k]];
    in[k] = (qi_buf){t->dtype, t->shape, c->data[k]};
  }
  const qi_tensor *yt = &c->g->tensors[c->out];
  *ybytes = (size_t)qi_shape_numel(&yt->shape) * qi_dtype_size(yt->dtype);
  *y = qt_guard_after(g, *ybytes);
  memset(*y, 0xA5, *ybytes);
  out = (qi_buf){yt->dtype, yt->shape, *y};
  int nthreads = qi_pool_size(pool);
  size_t sb =
      n->op->scratch_bytes ? n->op->scratch_bytes(c->g, n, nthreads) : 0;
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  qi_run_ctx ctx = {pool, nthreads, scratch, sb, &c->err};
  qi_status s = n->op->run(&ctx, n, in, &out);
  free(scratch);
  return s;
}

/* Runs on 1 and 3 threads; both outputs must be equal; the 1-thread one
 * is copied to *y (malloc'd). */
static int qo_run_both(qt_state *st, qo_case *c, unsigned char **y,
                       size_t *ybytes) {
  qt_guard g1 = {0}, g3 = {0};
  void *y1 = NULL, *y3 = NULL;
  size_t b1 = 0, b3 = 0;
  qi_status s1 = qo_run(c, NULL, &g1, &y1, &b1);
  qi_status s3 = qo_run(c, g_pool3, &g3, &y3, &b3);
  QT_CHECKF(st, s1 == QI_OK && s3 == QI_OK, "run: %s", c->err.message);
  int ok = s1 == QI_OK && s3 == QI_OK && b1 == b3 && !memcmp(y1, y3, b1);
  QT_CHECKF(st, ok, "1 and 3 threads differ");
  *y = malloc(b1 ? b1 : 1);
  memcpy(*y, y1, b1);
  *ybytes = b1;
  qt_guard_free(&g1);
  qt_guard_free(&g3);
  return ok;
}

static const qi_qattn_config *scalar_cfg(void) {
  return qi_qattn_config_of(QI_ISA_SCALAR);
}

static qi_quant tq(qo_case *c, int t) { return c->g->tensors[t].quant; }

/* Expects failure naming the node and, when given, `what`. */
static void expect_fail(qt_state *st, qo_case *c, qi_status want,
                        const char *what) {
  qi_status s = qo_prepare(c);
  QT_CHECKF(st, s == want, "status %d, want %d (%s)", s, want, c->err.message);
  QT_CHECKF(st, strstr(c->err.message, "node_under_test") != NULL,
            "message '%s' does not name the node", c->err.message);
  if (what)
    QT_CHECKF(st, strstr(c->err.message, what) != NULL,
              "message '%s' does not name '%s'", c->err.message, what);
}

/* ---- QiQMatMulAct ------------------------------------------------------ */

typedef struct mm_spec {
  int rank;
  int64_t a[6], b[6];
  int trans_b, out_f32;
  int za, zb, zy;
} mm_spec;

/* Shapes in sp are the FP32 ones; rank 4 is given to the op NHWC and
 * brought back to NCHW here for the references. */
static void mm_case_run(qt_state *st, const mm_spec *sp, uint64_t seed) {
  rng r = {seed};
  qo_case c;
  qo_begin(&c);
  int r_ = sp->rank, nhwc = r_ == 4;
  double sa = 0.02 + 0.03 * unit(&r), sb = 0.02 + 0.03 * unit(&r);
  int64_t k = sp->a[r_ - 1];
  double sy = sa * sb * 5500.0 * sqrt((double)k) / 60.0;
  int64_t as[6], bs[6];
  memcpy(as, sp->a, sizeof as);
  memcpy(bs, sp->b, sizeof bs);
  if (nhwc) {
    nchw_dims_to_nhwc(sp->a, as);
    nchw_dims_to_nhwc(sp->b, bs);
  }
  qo_u8_input_rand(&c, r_, as, sa, sp->za, &r);
  qo_u8_input_rand(&c, r_, bs, sb, sp->zb, &r);
  qo_node(&c, "QiQMatMulAct", sy, sp->zy);
  qo_int(&c, "trans_b", sp->trans_b);
  qo_int(&c, "out_f32", sp->out_f32);
  qi_status s = qo_prepare(&c);
  QT_CHECKF(st, s == QI_OK, "prepare: %s", c.err.message);
  if (s != QI_OK) {
    qo_end(&c);
    return;
  }
  const qi_tensor *yt = &c.g->tensors[c.out];
  int64_t m = sp->a[r_ - 2], n = sp->trans_b ? sp->b[r_ - 2] : sp->b[r_ - 1];
  int64_t ba = 1, bb = 1;
  for (int i = 0; i + 2 < r_; i++) ba *= sp->a[i], bb *= sp->b[i];
  int64_t batch = ba > bb ? ba : bb;
  QT_CHECK(st, yt->dtype == (sp->out_f32 ? QI_FLOAT32 : QI_UINT8));
  /* uint8 rank 4 is stored NHWC [B, M, N, C]; float is NCHW. */
  int nhwc_out = nhwc && !sp->out_f32;
  QT_CHECK(st, yt->shape.rank == r_ &&
                   yt->shape.d[r_ - (nhwc_out ? 3 : 2)] == m &&
                   yt->shape.d[r_ - (nhwc_out ? 2 : 1)] == n &&
                   qi_shape_numel(&yt->shape) == batch * m * n);
  unsigned char *y = NULL;
  size_t yb = 0;
  if (!qo_run_both(st, &c, &y, &yb)) {
    free(y);
    qo_end(&c);
    return;
  }
  /* Everything below reads NCHW. */
  uint8_t *la = NULL, *lb = NULL;
  if (nhwc) {
    size_t na = (size_t)(ba * m * k), nb = (size_t)(bb * k * n);
    la = malloc(na);
    lb = malloc(nb);
    nhwc_to_nchw_copy(c.data[0], sp->a, 1, la);
    nhwc_to_nchw_copy(c.data[1], sp->b, 1, lb);
    if (nhwc_out) {
      unsigned char *ly = malloc(yb);
      const int64_t yl[4] = {sp->a[0] > sp->b[0] ? sp->a[0] : sp->b[0],
                             sp->a[1] > sp->b[1] ? sp->a[1] : sp->b[1], m, n};
      nhwc_to_nchw_copy(y, yl, 1, ly);
      free(y);
      y = ly;
    }
  }
  const uint8_t *da = nhwc ? la : c.data[0], *db = nhwc ? lb : c.data[1];
  /* The scalar kernel batch by batch, and float64. */
  qi_quant qa = tq(&c, c.in[0]), qb = tq(&c, c.in[1]), qyq = tq(&c, c.out);
  qi_u8u8_matmul_params p =
      sp->out_f32 ? qi_u8u8_matmul_params_make_f32(qa.scale, qa.zero_point,
                                                   qb.scale, qb.zero_point)
                  : qi_u8u8_matmul_params_make(
                        qa.scale, qa.zero_point, qb.scale, qb.zero_point,
                        qyq.scale, qyq.zero_point, 0, 255);
  size_t es = sp->out_f32 ? 4 : 1, ldb = (size_t)(sp->trans_b ? k : n);
  unsigned char *ref = malloc(yb);
  int steps = 0;
  double rel = 0;
  for (int64_t bi = 0; bi < batch; bi++) {
    const uint8_t *a = da + (ba == 1 ? 0 : bi * m * k);
    const uint8_t *b = db + (bb == 1 ? 0 : bi * k * n);
    scalar_cfg()->matmul((size_t)m, (size_t)n, (size_t)k, a, (size_t)k, b, ldb,
                         sp->trans_b, ref + bi * m * n * es, (size_t)n, &p,
                         NULL);
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++) {
        int64_t acc = qi_u8u8_matmul_ref_acc(
            (size_t)k, a + i * k, b + (sp->trans_b ? j * k : j),
            sp->trans_b ? 1 : (size_t)n, qa.zero_point, qb.zero_point);
        size_t e = (size_t)((bi * m + i) * n + j);
        if (sp->out_f32) {
          double v = (double)acc * qa.scale * qb.scale;
          float got;
          memcpy(&got, y + e * 4, 4);
          double d = fabs(got - v) / (fabs(v) + QO_F32_ABS_TOL);
          if (d > rel) rel = d;
        } else {
          double v = (double)acc * qa.scale * qb.scale / qyq.scale;
          int d = abs((int)y[e] - qi_qattn_ref_u8(v, qyq.zero_point, 0, 255));
          if (d > steps) steps = d;
        }
      }
  }
  QT_CHECKF(st, memcmp(y, ref, yb) == 0, "differs from the scalar kernel");
  QT_CHECKF(st, steps <= QO_U8_MAX_STEPS && rel <= QO_F32_REL_TOL,
            "float64: %d steps, rel %.3g", steps, rel);
  free(ref);
  free(y);
  free(la);
  free(lb);
  qo_end(&c);
}

static void test_matmul_act(qt_state *st) {
  const mm_spec specs[] = {
      /* Q K^T of 3 heads, 197 tokens, 64 dims; P V with float output. */
      {3, {3, 197, 64}, {3, 197, 64}, 1, 0, 128, 128, 0},
      {3, {3, 197, 197}, {3, 197, 64}, 0, 1, 0, 128, 0},
      {3, {3, 197, 96}, {3, 96, 197}, 0, 0, 255, 0, 255},
      /* Shared operands, rank 2 and 5, K = 1, odd sizes. */
      {3, {2, 5, 7}, {1, 7, 9}, 0, 0, 18, 231, 128},
      {3, {1, 5, 7}, {4, 9, 7}, 1, 1, 255, 255, 0},
      {2, {33, 1}, {1, 17}, 0, 0, 0, 0, 128},
      {5, {2, 3, 1, 4, 5}, {2, 3, 1, 5, 6}, 0, 0, 128, 18, 75},
      /* Rank 4 [B, heads, tokens, dims], stored NHWC. */
      {4, {1, 3, 197, 64}, {1, 3, 197, 64}, 1, 0, 128, 128, 0},
      {4, {2, 3, 17, 17}, {2, 3, 17, 8}, 0, 1, 0, 128, 0},
      {4, {2, 3, 9, 5}, {1, 1, 5, 7}, 0, 0, 75, 231, 18},
      {4, {1, 1, 9, 5}, {2, 4, 7, 5}, 1, 1, 255, 0, 0},
  };
  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++)
    mm_case_run(st, &specs[i], 100 + i);
}

static void test_matmul_act_errors(qt_state *st) {
  rng r = {7};
  qo_case c;
  const int64_t a4[] = {1, 2, 3, 4}, b4[] = {1, 2, 4, 3};
  qo_begin(&c); /* rank 4 is NHWC: [1,2,3,4] is FP32 [1,4,2,3] */
  qo_u8_input_rand(&c, 4, a4, 0.1, 0, &r);
  qo_u8_input_rand(&c, 4, b4, 0.1, 0, &r);
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  expect_fail(st, &c, QI_ERR_SHAPE, "NHWC");
  qo_end(&c);

  const int64_t a[] = {2, 3, 4}, b[] = {2, 5, 6}, bk[] = {2, 4, 6};
  qo_begin(&c); /* K mismatch */
  qo_u8_input_rand(&c, 3, a, 0.1, 0, &r);
  qo_u8_input_rand(&c, 3, b, 0.1, 0, &r);
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  expect_fail(st, &c, QI_ERR_SHAPE, "[2,5,6]");
  qo_end(&c);

  qo_begin(&c); /* no quantization on b */
  qo_u8_input_rand(&c, 3, a, 0.1, 0, &r);
  qo_u8_input_rand(&c, 3, bk, 0.1, 0, &r);
  c.g->tensors[c.in[1]].quant.has = 0;
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  expect_fail(st, &c, QI_ERR_INVALID_ARG, "x1");
  qo_end(&c);

  qo_begin(&c); /* bad attribute */
  qo_u8_input_rand(&c, 3, a, 0.1, 0, &r);
  qo_u8_input_rand(&c, 3, bk, 0.1, 0, &r);
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  qo_int(&c, "trans_b", 2);
  expect_fail(st, &c, QI_ERR_UNSUPPORTED, "trans_b");
  qo_end(&c);

  /* K beyond the exact int32 sum; shape only, no data needed. */
  qo_begin(&c);
  const int64_t ak[] = {1, 1, QI_U8U8_MATMUL_MAX_K + 1},
                bkk[] = {1, QI_U8U8_MATMUL_MAX_K + 1, 1};
  int t0 = qi_graph_add_tensor(c.g, "x0", QI_UINT8);
  int t1 = qi_graph_add_tensor(c.g, "x1", QI_UINT8);
  c.g->tensors[t0].shape = qo_shape(3, ak);
  c.g->tensors[t1].shape = qo_shape(3, bkk);
  c.in[0] = t0;
  c.in[1] = t1;
  c.nin = 2;
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  expect_fail(st, &c, QI_ERR_UNSUPPORTED, "K = 32769");
  c.nin = 0;
  qo_end(&c);

  /* An output of 2^60 elements from two modest inputs. */
  qo_begin(&c);
  const int64_t am[] = {1, (int64_t)1 << 30, 1},
                bm[] = {1, 1, (int64_t)1 << 30};
  t0 = qi_graph_add_tensor(c.g, "x0", QI_UINT8);
  t1 = qi_graph_add_tensor(c.g, "x1", QI_UINT8);
  c.g->tensors[t0].shape = qo_shape(3, am);
  c.g->tensors[t1].shape = qo_shape(3, bm);
  c.in[0] = t0;
  c.in[1] = t1;
  c.nin = 2;
  qo_node(&c, "QiQMatMulAct", 0.1, 0);
  expect_fail(st, &c, QI_ERR_SHAPE, "too large");
  c.nin = 0;
  qo_end(&c);
}

/* ---- QiQSoftmax -------------------------------------------------------- */

/* Brings a rank-4 case's NHWC input (and uint8 output) to NCHW in place
 * of the op's buffers: *x and *y then read in the FP32 layout. */
static void to_nchw(int rank, const int64_t *d, int out_f32, const uint8_t **x,
                    unsigned char **y, size_t yb, uint8_t **own_x) {
  *own_x = NULL;
  if (rank != 4) return;
  *own_x = malloc(yb / (out_f32 ? 4 : 1));
  nhwc_to_nchw_copy(*x, d, 1, *own_x);
  *x = *own_x;
  if (out_f32) return;
  unsigned char *ly = malloc(yb);
  nhwc_to_nchw_copy(*y, d, 1, ly);
  free(*y);
  *y = ly;
}

/* d: the FP32 shape (rank 4 is given to the op NHWC). */
static void sm_case_run(qt_state *st, int rank, const int64_t *d, double sx,
                        int zx, int out_f32, double sy, int zy, uint64_t seed) {
  rng r = {seed};
  qo_case c;
  qo_begin(&c);
  int64_t sd[6];
  memcpy(sd, d, sizeof(int64_t) * (size_t)rank);
  if (rank == 4) nchw_dims_to_nhwc(d, sd);
  qo_u8_input_rand(&c, rank, sd, sx, zx, &r);
  qo_node(&c, "QiQSoftmax", sy, zy);
  qo_int(&c, "out_f32", out_f32);
  qo_int(&c, "axis", -1);
  qi_status s = qo_prepare(&c);
  QT_CHECKF(st, s == QI_OK, "prepare: %s", c.err.message);
  unsigned char *y = NULL;
  size_t yb = 0;
  if (s != QI_OK || !qo_run_both(st, &c, &y, &yb)) {
    free(y);
    qo_end(&c);
    return;
  }
  size_t n = (size_t)d[rank - 1],
         rows = (size_t)qi_shape_numel(&c.g->tensors[c.in[0]].shape) / n;
  float table[256];
  qi_quant qx = tq(&c, c.in[0]);
  qi_u8_softmax_table_make(qx.scale, table);
  qi_u8_softmax_params p =
      out_f32
          ? qi_u8_softmax_params_make_f32(table)
          : qi_u8_softmax_params_make(table, tq(&c, c.out).scale, zy, 0, 255);
  const uint8_t *x = c.data[0];
  uint8_t *own_x;
  to_nchw(rank, d, out_f32, &x, &y, yb, &own_x);
  unsigned char *ref = malloc(yb);
  scalar_cfg()->softmax(rows, n, x, ref, &p);
  QT_CHECKF(st, memcmp(y, ref, yb) == 0, "differs from the scalar kernel");
  double *pr = malloc(sizeof(double) * n);
  int steps = 0;
  double err = 0;
  for (size_t i = 0; i < rows; i++) {
    qi_u8_softmax_ref_row(n, x + i * n, qx.scale, pr);
    for (size_t j = 0; j < n; j++) {
      size_t e = i * n + j;
      if (out_f32) {
        float got;
        memcpy(&got, y + 4 * e, 4);
        double dd = fabs(got - pr[j]); /* p <= 1: absolute */
        if (dd > err) err = dd;
      } else {
        int dd = abs((int)y[e] -
                     qi_qattn_ref_u8(pr[j] / tq(&c, c.out).scale, zy, 0, 255));
        if (dd > steps) steps = dd;
      }
    }
  }
  QT_CHECKF(st, steps <= QO_U8_MAX_STEPS && err <= QO_F32_REL_TOL,
            "float64: %d steps, abs %.3g", steps, err);
  free(pr);
  free(ref);
  free(y);
  free(own_x);
  qo_end(&c);
}

static void test_softmax(qt_state *st) {
  const int64_t heads[] = {3, 197, 197}, odd[] = {7, 33}, one[] = {5, 1};
  const int64_t r5[] = {2, 1, 3, 1, 9};
  sm_case_run(st, 3, heads, 0.08, 128, 0, 1.0 / 256.0, 0, 1);
  sm_case_run(st, 3, heads, 0.3, 0, 1, 0, 0, 2);
  sm_case_run(st, 2, odd, 0.02, 255, 0, 1.0 / 256.0, 0, 3);
  sm_case_run(st, 2, one, 1.0, 0, 0, 1.0 / 256.0, 0, 4);
  sm_case_run(st, 5, r5, 0.5, 18, 0, 1.0 / 100.0, 10, 5);
  const int64_t h4[] = {2, 3, 17, 17}, w1[] = {1, 5, 3, 1};
  sm_case_run(st, 4, h4, 0.1, 128, 0, 1.0 / 256.0, 0, 6);
  sm_case_run(st, 4, h4, 0.05, 0, 1, 0, 0, 7);
  sm_case_run(st, 4, w1, 0.05, 0, 0, 1.0 / 256.0, 0, 8);

  rng r = {6};
  qo_case c;
  qo_begin(&c); /* not the last axis */
  qo_u8_input_rand(&c, 2, odd, 0.1, 0, &r);
  qo_node(&c, "QiQSoftmax", 1.0 / 256.0, 0);
  qo_int(&c, "axis", 0);
  expect_fail(st, &c, QI_ERR_UNSUPPORTED, "last axis");
  qo_end(&c);
  qo_begin(&c); /* no output quantization */
  qo_u8_input_rand(&c, 2, odd, 0.1, 0, &r);
  qo_node(&c, "QiQSoftmax", 1.0 / 256.0, 0);
  c.g->tensors[c.out].quant.has = 0;
  expect_fail(st, &c, QI_ERR_INVALID_ARG, "'y'");
  qo_end(&c);
}

/* ---- QiQLayerNorm ------------------------------------------------------ */

static void ln_case_run(qt_state *st, int rank, const int64_t *d, double sx,
                        int zx, int has_b, int out_f32, double sy, int zy,
                        float eps, uint64_t seed) {
  rng r = {seed};
  qo_case c;
  qo_begin(&c);
  int64_t len = d[rank - 1], sd[6];
  memcpy(sd, d, sizeof(int64_t) * (size_t)rank);
  if (rank == 4) nchw_dims_to_nhwc(d, sd);
  qo_u8_input_rand(&c, rank, sd, sx, zx, &r);
  qo_f32_const(&c, "gamma", len, -2.0, 2.0, &r);
  if (has_b) qo_f32_const(&c, "beta", len, -1.0, 1.0, &r);
  qo_node(&c, "QiQLayerNorm", sy, zy);
  qo_int(&c, "out_f32", out_f32);
  qo_float(&c, "epsilon", eps);
  qi_status s = qo_prepare(&c);
  QT_CHECKF(st, s == QI_OK, "prepare: %s", c.err.message);
  unsigned char *y = NULL;
  size_t yb = 0;
  if (s != QI_OK || !qo_run_both(st, &c, &y, &yb)) {
    free(y);
    qo_end(&c);
    return;
  }
  size_t n = (size_t)len,
         rows = (size_t)qi_shape_numel(&c.g->tensors[c.in[0]].shape) / n;
  const float *gamma = c.data[1];
  float *zeros = calloc(n, sizeof(float));
  const float *beta = has_b ? c.data[2] : zeros;
  float *g = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
  qi_quant qx = tq(&c, c.in[0]), qy = tq(&c, c.out);
  for (size_t i = 0; i < n; i++) {
    g[i] = out_f32 ? gamma[i] : (float)((double)gamma[i] / qy.scale);
    b[i] = out_f32 ? beta[i] : (float)((double)beta[i] / qy.scale);
  }
  qi_u8_layernorm_params p = {.zx = qx.zero_point,
                              .sx = qx.scale,
                              .eps = (double)eps,
                              .g = g,
                              .b = b,
                              .out_f32 = out_f32,
                              .out = qi_u8_out_make(out_f32 ? 0 : zy, 0, 255)};
  const uint8_t *x = c.data[0];
  uint8_t *own_x;
  to_nchw(rank, d, out_f32, &x, &y, yb, &own_x);
  unsigned char *ref = malloc(yb);
  scalar_cfg()->layernorm(rows, n, x, ref, &p);
  QT_CHECKF(st, memcmp(y, ref, yb) == 0, "differs from the scalar kernel");
  double *yr = malloc(sizeof(double) * n);
  int steps = 0;
  double err = 0;
  for (size_t i = 0; i < rows; i++) {
    qi_u8_layernorm_ref_row(n, x + i * n, qx.scale, qx.zero_point, eps, gamma,
                            beta, yr);
    for (size_t j = 0; j < n; j++) {
      size_t e = i * n + j;
      if (out_f32) {
        float got;
        memcpy(&got, y + 4 * e, 4);
        double dd = fabs(got - yr[j]) / (fabs(yr[j]) + 1.0);
        if (dd > err) err = dd;
      } else {
        int dd = abs((int)y[e] - qi_qattn_ref_u8(yr[j] / qy.scale, zy, 0, 255));
        if (dd > steps) steps = dd;
      }
    }
  }
  QT_CHECKF(st, steps <= QO_U8_MAX_STEPS && err <= QO_F32_REL_TOL,
            "float64: %d steps, rel %.3g", steps, err);
  free(yr), free(ref), free(g), free(b), free(zeros), free(y), free(own_x);
  qo_end(&c);
}

static void test_layernorm(qt_state *st) {
  const int64_t tok[] = {2, 197, 96}, small[] = {5, 7}, one[] = {3, 1};
  const int64_t d64[] = {1, 4, 64};
  ln_case_run(st, 3, tok, 0.05, 128, 1, 0, 8.0 / 255.0, 128, 1e-5f, 1);
  ln_case_run(st, 3, tok, 0.02, 0, 1, 1, 0, 0, 1e-5f, 2);
  ln_case_run(st, 2, small, 0.3, 255, 0, 0, 4.0 / 255.0, 0, 1e-6f, 3);
  ln_case_run(st, 2, one, 0.1, 18, 1, 0, 2.0 / 255.0, 128, 1e-5f, 4);
  ln_case_run(st, 3, d64, 0.1, 75, 1, 0, 8.0 / 255.0, 255, 1e-2f, 5);
  const int64_t l4[] = {2, 3, 5, 24};
  ln_case_run(st, 4, l4, 0.05, 128, 1, 0, 8.0 / 255.0, 128, 1e-5f, 6);
  ln_case_run(st, 4, l4, 0.05, 18, 0, 1, 0, 0, 1e-5f, 7);

  rng r = {8};
  qo_case c;
  qo_begin(&c); /* scale of the wrong length */
  qo_u8_input_rand(&c, 2, small, 0.1, 0, &r);
  qo_f32_const(&c, "gamma", 6, -1, 1, &r);
  qo_node(&c, "QiQLayerNorm", 0.1, 0);
  expect_fail(st, &c, QI_ERR_SHAPE, "gamma");
  qo_end(&c);
  qo_begin(&c); /* scale not constant */
  qo_u8_input_rand(&c, 2, small, 0.1, 0, &r);
  int t = qi_graph_add_tensor(c.g, "gamma_act", QI_FLOAT32);
  const int64_t seven = 7;
  c.g->tensors[t].shape = qo_shape(1, &seven);
  c.in[c.nin++] = t;
  qo_node(&c, "QiQLayerNorm", 0.1, 0);
  expect_fail(st, &c, QI_ERR_UNSUPPORTED, "constants");
  c.nin = 1;
  qo_end(&c);
  qo_begin(&c); /* negative epsilon */
  qo_u8_input_rand(&c, 2, small, 0.1, 0, &r);
  qo_f32_const(&c, "gamma", 7, -1, 1, &r);
  qo_node(&c, "QiQLayerNorm", 0.1, 0);
  qo_float(&c, "epsilon", -1.0f);
  expect_fail(st, &c, QI_ERR_UNSUPPORTED, "epsilon");
  qo_end(&c);
}

int main(void) {
  qt_state st = {0};
  g_pool3 = qi_pool_create(3);
  if (!g_pool3) {
    fprintf(stderr, "no thread pool\n");
    return 1;
  }
  QT_RUN(&st, test_matmul_act);
  QT_RUN(&st, test_matmul_act_errors);
  QT_RUN(&st, test_softmax);
  QT_RUN(&st, test_layernorm);
  qi_pool_free(g_pool3);
  return qt_summary(&st);
}
