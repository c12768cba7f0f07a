/* The INT8 graph ops QiQuantize, QiDequantize, QiQConv and QiQMatMul
 * (lib/quant/README.md) through the op interface (lookup, check, infer,
 * prepare, scratch_bytes, run), on graphs built by hand. Every output is
 * compared with tolerance 0 against a plain scalar reference written here
 * from the README's formulas (accumulate (x - zx) * w + bias, then
 * (float)acc * mult [+ (float)(r - zr) * rmult], round half even, + zy,
 * saturate to [qmin, qmax]; float outputs (float)acc * mult), on 1 and 2
 * threads, with inputs, outputs and scratch against guard pages. Bad
 * graphs must fail with a message naming the node. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "guard.h"
#include "ops/op.h"
#include "ops/qop_convert.h"
#include "qtest.h"

static qi_pool *g_pool2;

/* dequantize(quantize(x)) of an x inside the grid is within half a step;
 * the slack covers the float rounding of x / s and (q - z) * s (a few ulp
 * of values up to 255 steps). */
#define ROUNDTRIP_TOL_STEPS 0.5001f

/* ---- data ------------------------------------------------------------ */

typedef struct rng {
  uint64_t s;
} rng;

static uint32_t rnext(rng *r) {
  r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (uint32_t)(r->s >> 33);
}
static int32_t rrange(rng *r, int32_t lo, int32_t hi) {
  return lo + (int32_t)(rnext(r) % (uint32_t)(hi - lo + 1));
}
static float runit(rng *r) { return (float)(rnext(r) & 0xFFFFFF) / 16777216.0f; }

/* Buffers against guard pages, freed together. */
typedef struct gbufs {
  qt_guard g[16];
  int n;
} gbufs;

static void *gb_alloc(gbufs *b, size_t bytes) {
  if (b->n >= 16) return NULL;
  return qt_guard_after(&b->g[b->n++], bytes);
}
static void gb_free(gbufs *b) {
  for (int i = 0; i < b->n; i++) qt_guard_free(&b->g[i]);
  b->n = 0;
}

/* ---- graph building --------------------------------------------------- */

static int add_t(qi_graph *g, const char *name, qi_dtype dt, int rank,
                 const int64_t *d) {
  int t = qi_graph_add_tensor(g, name, dt);
  g->tensors[t].shape.rank = rank;
  for (int i = 0; i < rank; i++) g->tensors[t].shape.d[i] = d[i];
  return t;
}

static void set_const(qi_graph *g, int t, const void *data, size_t bytes) {
  void *p = malloc(bytes ? bytes : 1);
  memcpy(p, data, bytes);
  qi_tensor_set_const(&g->tensors[t], p, bytes);
}

static void set_quant(qi_graph *g, int t, float scale, int32_t zp) {
  g->tensors[t].quant.has = 1;
  g->tensors[t].quant.scale = scale;
  g->tensors[t].quant.zero_point = zp;
}

static void set_wquant(qi_graph *g, int t, int n, const float *scales) {
  qi_quant *q = &g->tensors[t].quant;
  q->has = 1;
  q->axis = 0;
  q->nscales = n;
  q->scales = malloc(sizeof(float) * (size_t)(n ? n : 1));
  memcpy(q->scales, scales, sizeof(float) * (size_t)n);
  q->scale = scales[0];
}

static void set_int(qi_node *n, const char *name, int64_t v) {
  qi_node_add_attr(n, name, QI_ATTR_INT)->i = v;
}

static void set_ints(qi_node *n, const char *name, int cnt, const int64_t *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

/* A node reading tensors in[0..nin) (-1 absent) and writing tensor `out`. */
static qi_node *add_node(qi_graph *g, const char *name, const char *op,
                         int nin, const int *in, int out) {
  int k = qi_graph_add_node(g, name, op, "qinfer", nin, 1);
  qi_node *n = &g->nodes[k];
  for (int i = 0; i < nin; i++) n->in[i] = in[i];
  n->out[0] = out;
  return n;
}

typedef struct op_out {
  qt_guard guard;
  void *data;
  qi_shape shape;
  qi_dtype dtype;
} op_out;

/* Binds node 0 by lookup and runs check, infer, prepare, scratch_bytes and
 * run; act[k] feeds non-constant input k. Output and scratch sit against
 * guard pages; free the output with qt_guard_free(&o->guard). */
static qi_status run_node(qi_graph *g, void *const *act, qi_pool *pool,
                          op_out *o, qi_error *err) {
  qi_node *n = &g->nodes[0];
  memset(o, 0, sizeof *o);
  n->op = qi_op_lookup(n->domain, n->op_type);
  if (!n->op)
    return qi_fail(err, QI_ERR_UNSUPPORTED, "no op %s", n->op_type);
  if (n->op->check) QI_TRY(n->op->check(g, n, err));
  QI_TRY(n->op->infer(g, n, err));
  if (n->op->prepare) QI_TRY(n->op->prepare(g, n, err));
  int nth = qi_pool_size(pool);
  size_t sb = n->op->scratch_bytes ? n->op->scratch_bytes(g, n, nth) : 0;
  qt_guard sg = {0};
  /* A multiple of 64 ending at a page: 64-byte aligned, as sessions give. */
  void *scratch = sb ? qt_guard_after(&sg, (sb + 63) & ~(size_t)63) : NULL;
  qi_buf in[4];
  memset(in, 0, sizeof in);
  for (int k = 0; k < n->nin && k < 4; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->kind == QI_TK_CONST ? t->data : act[k];
  }
  const qi_tensor *ot = &g->tensors[n->out[0]];
  qi_buf ob = {ot->dtype, ot->shape, NULL};
  o->shape = ot->shape;
  o->dtype = ot->dtype;
  size_t bytes = (size_t)qi_shape_numel(&ot->shape) * qi_dtype_size(ot->dtype);
  ob.data = o->data = qt_guard_after(&o->guard, bytes);
  qi_run_ctx ctx = {pool, nth, scratch, sb ? (sb + 63) & ~(size_t)63 : 0, err};
  qi_status st = n->op->run(&ctx, n, in, &ob);
  qt_guard_free(&sg);
  return st;
}

static int same_shape(const qi_shape *s, int rank, const int64_t *d) {
  if (s->rank != rank) return 0;
  for (int i = 0; i < rank; i++)
    if (s->d[i] != d[i]) return 0;
  return 1;
}

/* The README's requantization, literally: float product, float residual
 * term, round half even (in double, so no float-to-int range issue), add
 * the zero point, saturate. */
static uint8_t ref_requant(int32_t acc, float mult, int res, uint8_t r,
                           int32_t zr, float rmult, int32_t zy, int32_t qmin,
                           int32_t qmax) {
  float v = (float)acc * mult;
  if (res) v = v + (float)((int32_t)r - zr) * rmult;
  double q = nearbyint((double)v) + zy;
  return (uint8_t)(q < qmin ? qmin : q > qmax ? qmax : q);
}

/* Compares a u8 or float output with the reference, element by element. */
static void check_equal(qt_state *st, const char *label, const op_out *o,
                        const void *ref, int64_t count) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < count; i++) {
    int eq = o->dtype == QI_FLOAT32
                 ? ((const float *)o->data)[i] == ((const float *)ref)[i]
                 : ((const uint8_t *)o->data)[i] == ((const uint8_t *)ref)[i];
    if (!eq && bad++ == 0) first = i;
  }
  QT_CHECKF(st, bad == 0, "%s: %lld of %lld elements differ, first at %lld",
            label, (long long)bad, (long long)count, (long long)first);
}

/* Expects `st` to fail with a message naming the node. */
static void check_fails(qt_state *st, const char *what, qi_status s,
                        const qi_error *err, const char *node,
                        const char *needle) {
  QT_CHECKF(st, s != QI_OK, "%s: accepted", what);
  if (s == QI_OK) return;
  QT_CHECKF(st, strstr(err->message, node) != NULL,
            "%s: message does not name node '%s': %s", what, node,
            err->message);
  QT_CHECKF(st, !needle || strstr(err->message, needle) != NULL,
            "%s: message lacks '%s': %s", what, needle, err->message);
}

/* ---- QiQuantize / QiDequantize ------------------------------------------ */

static uint8_t ref_quant(float x, float s, int32_t z) {
  if (isnan(x)) return (uint8_t)z;
  float v = x / s; /* float division, as specified */
  double q = nearbyint((double)v) + z;
  return (uint8_t)(q < 0 ? 0 : q > 255 ? 255 : q);
}

/* Values spanning beyond the grid, exact ties (scale a power of two) and
 * the special floats. */
static void fill_floats(rng *r, float *x, int64_t n, float s, int32_t z) {
  static const float specials[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f,
                                   1e30f, -1e30f, 1e-40f, -1e-40f};
  for (int64_t i = 0; i < n; i++) {
    uint32_t k = rnext(r) % 16;
    if (k == 0)
      x[i] = specials[rnext(r) % (sizeof specials / sizeof specials[0])];
    else if (k < 4) /* a tie: (q - z + 0.5) * s */
      x[i] = ((float)(rrange(r, -20, 275) - z) + 0.5f) * s;
    else
      x[i] = (runit(r) * 340.0f - 40.0f - (float)z) * s;
  }
}

/* NCHW element (b, c, p) and NHWC element (b, p, c) of a [n, c, hw] image. */
static int64_t nchw(int64_t b, int64_t c, int64_t p, int64_t C, int64_t hw) {
  return (b * C + c) * hw + p;
}
static int64_t nhwc(int64_t b, int64_t c, int64_t p, int64_t C, int64_t hw) {
  return (b * hw + p) * C + c;
}

typedef struct cvt_case {
  int64_t d[4];
  int rank, layout;
  float scale;
  int32_t zp;
} cvt_case;

static const cvt_case k_cvt[] = {
    {{2, 3, 5, 7}, 4, 0, 0.0625f, 128},
    {{2, 3, 5, 7}, 4, 1, 0.0625f, 0},
    {{1, 17, 1, 1}, 4, 1, 0.0173f, 255},
    {{2, 5, 61, 67}, 4, 1, 0.031f, 77},   /* many pixel blocks */
    {{2, 5, 61, 67}, 4, 0, 0.125f, 3},    /* several chunks */
    {{13}, 1, 0, 0.5f, 0},
    {{3, 11}, 2, 0, 0.0173f, 200},
    {{1, 1, 1, 1}, 4, 1, 1.0f, 128},
};

/* Builds x -> QiQuantize -> q -> QiDequantize -> y as two one-node graphs
 * and checks each against the reference. */
static void cvt_one(qt_state *st, const cvt_case *c, size_t idx) {
  rng r = {0x5EED0000u + idx};
  gbufs gb = {0};
  int64_t n = 1;
  for (int i = 0; i < c->rank; i++) n *= c->d[i];
  float *x = gb_alloc(&gb, sizeof(float) * (size_t)n);
  uint8_t *qref = malloc((size_t)n);
  float *yref = malloc(sizeof(float) * (size_t)n);
  fill_floats(&r, x, n, c->scale, c->zp);
  int64_t C = c->rank == 4 ? c->d[1] : 1, hw = c->rank == 4 ? c->d[2] * c->d[3] : 1;
  int64_t nhwc_d[4] = {c->d[0], c->d[2], c->d[3], c->d[1]};
  for (int64_t i = 0; i < n; i++) {
    int64_t o = i;
    if (c->layout) { /* i is NCHW (b, ch, p) */
      int64_t b = i / (C * hw), ch = i / hw % C, p = i % hw;
      o = nhwc(b, ch, p, C, hw);
    }
    qref[o] = ref_quant(x[i], c->scale, c->zp);
  }
  char label[64];
  snprintf(label, sizeof label, "cvt%zu", idx);
  for (int t = 0; t < 2; t++) {
    qi_graph *g = qi_graph_create();
    int tx = add_t(g, "x", QI_FLOAT32, c->rank, c->d);
    int tq = add_t(g, "x:u8", QI_UINT8, 0, c->d);
    set_quant(g, tq, c->scale, c->zp);
    qi_node *nd = add_node(g, label, "QiQuantize", 1, &tx, tq);
    if (c->layout) set_int(nd, "layout", 1);
    op_out o;
    qi_error err = {0};
    void *act[1] = {x};
    qi_status s = run_node(g, act, t ? g_pool2 : NULL, &o, &err);
    QT_CHECKF(st, s == QI_OK, "%s quantize: %s", label, err.message);
    if (s == QI_OK) {
      QT_CHECK(st, o.dtype == QI_UINT8);
      int ok = same_shape(&o.shape, c->rank, c->layout ? nhwc_d : c->d);
      QT_CHECKF(st, ok, "%s: quantize output shape", label);
      if (ok) check_equal(st, label, &o, qref, n);
    }
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
  /* Dequantize every byte value pattern: q = i % 256 and the quantized x. */
  uint8_t *q = gb_alloc(&gb, (size_t)n);
  for (int pass = 0; pass < 2; pass++) {
    for (int64_t i = 0; i < n; i++)
      q[i] = pass ? qref[i] : (uint8_t)(i * 7 % 256);
    for (int64_t i = 0; i < n; i++) {
      int64_t o = i;
      if (c->layout) { /* i is NHWC (b, p, ch) */
        int64_t b = i / (C * hw), p = i / C % hw, ch = i % C;
        o = nchw(b, ch, p, C, hw);
      }
      yref[o] = (float)((int32_t)q[i] - c->zp) * c->scale;
    }
    qi_graph *g = qi_graph_create();
    int tq = add_t(g, "x:u8", QI_UINT8, c->rank, c->layout ? nhwc_d : c->d);
    int ty = add_t(g, "x", QI_FLOAT32, 0, c->d);
    set_quant(g, tq, c->scale, c->zp);
    qi_node *nd = add_node(g, label, "QiDequantize", 1, &tq, ty);
    if (c->layout) set_int(nd, "layout", 1);
    op_out o;
    qi_error err = {0};
    void *act[1] = {q};
    qi_status s = run_node(g, act, pass ? g_pool2 : NULL, &o, &err);
    QT_CHECKF(st, s == QI_OK, "%s dequantize: %s", label, err.message);
    if (s == QI_OK) {
      QT_CHECK(st, o.dtype == QI_FLOAT32);
      int ok = same_shape(&o.shape, c->rank, c->d);
      QT_CHECKF(st, ok, "%s: dequantize output shape", label);
      if (ok) check_equal(st, label, &o, yref, n);
    }
    if (s == QI_OK && same_shape(&o.shape, c->rank, c->d)) {
      /* Roundtrip: quantizing the dequantized bytes gives them back, and
       * dequantize(quantize(x)) is within scale / 2 of x inside the grid. */
      const float *y = o.data;
      int64_t bad = 0;
      for (int64_t i = 0; i < n; i++) {
        int64_t src = i; /* y is in x's layout */
        if (c->layout) {
          int64_t b = i / (C * hw), ch = i / hw % C, p = i % hw;
          src = nhwc(b, ch, p, C, hw);
        }
        if (ref_quant(y[i], c->scale, c->zp) != q[src]) bad++;
        float lo = (float)(0 - c->zp) * c->scale;
        float hi = (float)(255 - c->zp) * c->scale;
        if (pass && x[i] >= lo && x[i] <= hi &&
            !(fabsf(y[i] - x[i]) <= ROUNDTRIP_TOL_STEPS * c->scale))
          bad++;
      }
      QT_CHECKF(st, bad == 0, "%s: %lld roundtrip mismatches", label,
                (long long)bad);
    }
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
  free(qref);
  free(yref);
  gb_free(&gb);
}

static void test_quantize_dequantize(qt_state *st) {
  for (size_t i = 0; i < sizeof k_cvt / sizeof k_cvt[0]; i++)
    cvt_one(st, &k_cvt[i], i);
}

/* The row kernels directly: every length 0..40 and strides 1 and 3, each
 * path against the reference (NaN -> zp, saturation, ties). */
static void test_convert_rows(qt_state *st) {
  int avx2 = qi_cpu_features_have(qi_cpu_features_get(), QI_ISA_AVX2);
  rng r = {42};
  gbufs gb = {0};
  float *x = gb_alloc(&gb, sizeof(float) * 40);
  uint8_t *q = gb_alloc(&gb, 40 * 3);
  float *y = gb_alloc(&gb, sizeof(float) * 40);
  for (int path = 0; path < (avx2 ? 2 : 1); path++) {
    qi_qop_quantize_fn qf =
        path ? qi_qop_quantize_row__avx2 : qi_qop_quantize_row__scalar;
    qi_qop_dequantize_fn df =
        path ? qi_qop_dequantize_row__avx2 : qi_qop_dequantize_row__scalar;
    for (size_t len = 0; len <= 40; len++)
      for (size_t stride = 1; stride <= 3; stride += 2) {
        int32_t z = (int32_t)(len * 37 % 256);
        float s = len % 2 ? 0.25f : 0.0371f;
        fill_floats(&r, x, 40, s, z);
        uint8_t *qq = q + 40 * 3 - (len ? (len - 1) * stride + 1 : 0);
        qf(len, x + 40 - len, qq, stride, s, z);
        int bad = 0;
        for (size_t i = 0; i < len; i++)
          bad += qq[i * stride] != ref_quant(x[40 - len + i], s, z);
        df(len, qq, stride, y + 40 - len, s, z);
        for (size_t i = 0; i < len; i++)
          bad += y[40 - len + i] != (float)((int32_t)qq[i * stride] - z) * s;
        QT_CHECKF(st, bad == 0, "path %d len %zu stride %zu: %d wrong", path,
                  len, stride, bad);
      }
  }
  gb_free(&gb);
}

/* ---- QiQConv ------------------------------------------------------------ */

typedef struct conv_case {
  const char *label;
  int64_t n, h, w, c, co, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, g;
  int bias, residual, out_f32;
  int32_t zx, zy, zr, qmin, qmax;
} conv_case;

/* label N H W C Co KH KW SH SW DH DW PT PL PB PR G bias res f32 zx zy zr
 * qmin qmax */
static const conv_case k_conv[] = {
    {"pw_odd", 1, 5, 7, 17, 33, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 128, 0, 0, 0, 255},
    {"pw_1x1_s2", 2, 9, 8, 3, 5, 1, 1, 2, 2, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 128, 0, 0, 255},
    {"k3_s2_asym", 1, 9, 7, 7, 9, 3, 3, 2, 2, 1, 1, 1, 0, 2, 1, 1, 1, 0, 0, 255, 255, 0, 0, 255},
    {"k3_d2", 1, 9, 9, 5, 6, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, 1, 0, 0, 128, 64, 0, 0, 255},
    {"k3x5_d2_asym", 1, 8, 11, 5, 9, 3, 5, 1, 2, 2, 2, 1, 2, 0, 3, 1, 1, 0, 0, 7, 200, 0, 0, 255},
    {"group3", 2, 5, 4, 9, 6, 3, 3, 2, 1, 1, 1, 1, 0, 1, 1, 3, 1, 0, 0, 0, 128, 0, 0, 255},
    {"pw_group2", 1, 4, 3, 6, 10, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 2, 1, 0, 0, 128, 10, 0, 0, 255},
    {"dw3", 1, 6, 7, 13, 13, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 13, 1, 0, 0, 128, 128, 0, 0, 255},
    {"dw7_s2", 1, 15, 13, 10, 10, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 10, 1, 0, 0, 255, 0, 0, 0, 255},
    {"dw_mult2", 1, 6, 5, 4, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 4, 0, 0, 0, 0, 128, 0, 0, 255},
    {"res_k3", 1, 6, 6, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 128, 100, 77, 0, 255},
    {"res_pw", 2, 3, 5, 7, 11, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 1, 0, 0, 255, 255, 0, 255},
    {"res_dw", 1, 7, 5, 9, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 9, 1, 1, 0, 128, 0, 128, 0, 255},
    {"relu", 1, 8, 8, 3, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 128, 128, 0, 128, 255},
    {"clip", 1, 7, 9, 7, 17, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 0, 0, 0, 60, 0, 60, 200},
    {"f32_k3", 2, 6, 5, 6, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 128, 0, 0, 0, 255},
    {"f32_pw", 2, 3, 4, 5, 3, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1, 0, 0, 1, 255, 0, 0, 0, 255},
    {"f32_dw7", 1, 9, 8, 11, 11, 7, 7, 1, 1, 1, 1, 3, 3, 3, 3, 11, 1, 0, 1, 0, 0, 0, 0, 255},
    {"stem7_s2", 1, 15, 13, 3, 16, 7, 7, 2, 2, 1, 1, 3, 3, 3, 3, 1, 1, 0, 0, 128, 128, 0, 0, 255},
};

typedef struct conv_data {
  uint8_t *x, *r;
  int8_t *w;
  int32_t *b;
  float *sw, sx, sy, sr;
  int64_t oh, ow, out_count;
} conv_data;

static void conv_data_make(const conv_case *c, size_t idx, gbufs *gb,
                           conv_data *d) {
  rng r = {0xC0DE00u + idx};
  memset(d, 0, sizeof *d);
  int64_t cgi = c->c / c->g, k = cgi * c->kh * c->kw;
  d->oh = (c->h + c->pt + c->pb - c->dh * (c->kh - 1) - 1) / c->sh + 1;
  d->ow = (c->w + c->pl + c->pr - c->dw * (c->kw - 1) - 1) / c->sw + 1;
  d->out_count = c->n * d->oh * d->ow * c->co;
  int64_t nx = c->n * c->h * c->w * c->c, nw = c->co * k;
  d->x = gb_alloc(gb, (size_t)nx);
  for (int64_t i = 0; i < nx; i++) d->x[i] = (uint8_t)rrange(&r, 0, 255);
  d->w = malloc((size_t)nw);
  for (int64_t i = 0; i < nw; i++) d->w[i] = (int8_t)rrange(&r, -127, 127);
  d->sw = malloc(sizeof(float) * (size_t)c->co);
  double swsum = 0;
  for (int64_t i = 0; i < c->co; i++) {
    d->sw[i] = 0.002f + 0.01f * runit(&r);
    swsum += d->sw[i];
  }
  d->b = malloc(sizeof(int32_t) * (size_t)c->co);
  for (int64_t i = 0; i < c->co; i++) d->b[i] = rrange(&r, -30000, 30000);
  d->sx = 0.0371f;
  /* Outputs spread over ~60 steps for the typical accumulator (std about
   * 74 * 73 * sqrt(K)): some saturate, most do not. */
  d->sy = (float)(d->sx * swsum / (double)c->co * 74.0 * 73.0 *
                  sqrt((double)k) / 60.0);
  d->sr = d->sy * 0.77f;
  if (c->residual) {
    d->r = gb_alloc(gb, (size_t)d->out_count);
    for (int64_t i = 0; i < d->out_count; i++)
      d->r[i] = (uint8_t)rrange(&r, 0, 255);
  }
}

static void conv_data_free(conv_data *d) {
  free(d->w);
  free(d->sw);
  free(d->b);
}

static qi_graph *conv_graph(const conv_case *c, const conv_data *d) {
  qi_graph *g = qi_graph_create();
  int64_t xd[4] = {c->n, c->h, c->w, c->c};
  int64_t wd[4] = {c->co, c->c / c->g, c->kh, c->kw};
  int64_t yd[4] = {c->n, d->oh, d->ow, c->co};
  int tx = add_t(g, "x:u8", QI_UINT8, 4, xd);
  set_quant(g, tx, d->sx, c->zx);
  int tw = add_t(g, "w:i8", QI_INT8, 4, wd);
  set_const(g, tw, d->w, (size_t)(wd[0] * wd[1] * wd[2] * wd[3]));
  set_wquant(g, tw, (int)c->co, d->sw);
  int tb = -1, tr = -1;
  if (c->bias) {
    tb = add_t(g, "b:i32", QI_INT32, 1, &c->co);
    set_const(g, tb, d->b, sizeof(int32_t) * (size_t)c->co);
  }
  if (c->residual) {
    tr = add_t(g, "r:u8", QI_UINT8, 4, yd);
    set_quant(g, tr, d->sr, c->zr);
  }
  int ty = add_t(g, "y", c->out_f32 ? QI_FLOAT32 : QI_UINT8, 0, yd);
  if (!c->out_f32) set_quant(g, ty, d->sy, c->zy);
  int in[4] = {tx, tw, tb, tr};
  qi_node *n = add_node(g, c->label, "QiQConv", c->residual ? 4 : 3, in, ty);
  int64_t s[2] = {c->sh, c->sw}, dl[2] = {c->dh, c->dw};
  int64_t p[4] = {c->pt, c->pl, c->pb, c->pr};
  set_ints(n, "strides", 2, s);
  set_ints(n, "dilations", 2, dl);
  set_ints(n, "pads", 4, p);
  set_int(n, "group", c->g);
  if (c->qmin != 0) set_int(n, "qmin", c->qmin);
  if (c->qmax != 255) set_int(n, "qmax", c->qmax);
  if (c->out_f32) set_int(n, "out_f32", 1);
  return g;
}

/* The convolution written out: seven loops, padded taps contribute 0. */
static void conv_ref(const conv_case *c, const conv_data *d, void *y) {
  int64_t cgi = c->c / c->g, cgo = c->co / c->g;
  for (int64_t b = 0; b < c->n; b++)
    for (int64_t oy = 0; oy < d->oh; oy++)
      for (int64_t ox = 0; ox < d->ow; ox++)
        for (int64_t co = 0; co < c->co; co++) {
          int64_t g = co / cgo;
          int32_t acc = c->bias ? d->b[co] : 0;
          for (int64_t ci = 0; ci < cgi; ci++)
            for (int64_t ky = 0; ky < c->kh; ky++)
              for (int64_t kx = 0; kx < c->kw; kx++) {
                int64_t iy = oy * c->sh - c->pt + ky * c->dh;
                int64_t ix = ox * c->sw - c->pl + kx * c->dw;
                if (iy < 0 || iy >= c->h || ix < 0 || ix >= c->w) continue;
                int32_t xv = d->x[((b * c->h + iy) * c->w + ix) * c->c +
                                  g * cgi + ci];
                acc += (xv - c->zx) *
                       d->w[((co * cgi + ci) * c->kh + ky) * c->kw + kx];
              }
          int64_t pix = (b * d->oh + oy) * d->ow + ox;
          if (c->out_f32) {
            float m = (float)((double)d->sx * (double)d->sw[co]);
            ((float *)y)[((b * c->co + co) * d->oh + oy) * d->ow + ox] =
                (float)acc * m;
          } else {
            float m = (float)((double)d->sx * (double)d->sw[co] /
                              (double)d->sy);
            float rm = (float)((double)d->sr / (double)d->sy);
            int64_t o = pix * c->co + co;
            ((uint8_t *)y)[o] = ref_requant(
                acc, m, c->residual, c->residual ? d->r[o] : 0, c->zr, rm,
                c->zy, c->qmin, c->qmax);
          }
        }
}

static void conv_one(qt_state *st, const conv_case *c, size_t idx) {
  gbufs gb = {0};
  conv_data d;
  conv_data_make(c, idx, &gb, &d);
  size_t es = c->out_f32 ? sizeof(float) : 1;
  void *ref = malloc(es * (size_t)d.out_count);
  conv_ref(c, &d, ref);
  if (!c->out_f32) { /* the case must exercise the arithmetic, not the clamp */
    int64_t inside = 0;
    for (int64_t i = 0; i < d.out_count; i++) {
      uint8_t v = ((uint8_t *)ref)[i];
      inside += v > c->qmin && v < c->qmax;
    }
    QT_CHECKF(st, inside * 4 > d.out_count, "%s: only %lld of %lld inside",
              c->label, (long long)inside, (long long)d.out_count);
  }
  for (int t = 0; t < 2; t++) {
    qi_graph *g = conv_graph(c, &d);
    void *act[4] = {d.x, NULL, NULL, d.r};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, t ? g_pool2 : NULL, &o, &err);
    QT_CHECKF(st, s == QI_OK, "%s: %s", c->label, err.message);
    if (s == QI_OK) {
      int64_t nhwc_d[4] = {c->n, d.oh, d.ow, c->co};
      int64_t nchw_d[4] = {c->n, c->co, d.oh, d.ow};
      QT_CHECK(st, o.dtype == (c->out_f32 ? QI_FLOAT32 : QI_UINT8));
      int ok = same_shape(&o.shape, 4, c->out_f32 ? nchw_d : nhwc_d);
      QT_CHECKF(st, ok, "%s: output shape", c->label);
      if (ok) check_equal(st, c->label, &o, ref, d.out_count);
    }
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
  free(ref);
  conv_data_free(&d);
  gb_free(&gb);
}

static void test_qconv(qt_state *st) {
  for (size_t i = 0; i < sizeof k_conv / sizeof k_conv[0]; i++)
    conv_one(st, &k_conv[i], i);
}

/* ---- QiQMatMul ----------------------------------------------------------- */

typedef struct mm_case {
  const char *label;
  int rank;
  int64_t d[4]; /* a's shape; the last is K */
  int64_t n;
  int bias, residual, out_f32;
  int32_t za, zy, zr, qmin, qmax;
} mm_case;

static const mm_case k_mm[] = {
    {"r2", 2, {5, 19}, 7, 1, 0, 0, 128, 128, 0, 0, 255},
    {"r2_m1", 2, {1, 37}, 33, 1, 0, 0, 0, 255, 0, 0, 255},
    {"r1", 1, {23}, 9, 0, 0, 0, 255, 0, 0, 0, 255},
    {"r3", 3, {2, 3, 10}, 33, 1, 0, 0, 128, 0, 0, 0, 255},
    {"r3_res", 3, {2, 5, 13}, 6, 1, 1, 0, 7, 100, 200, 0, 255},
    {"r4_nhwc", 4, {2, 3, 4, 6}, 5, 1, 0, 0, 128, 128, 0, 0, 255},
    {"r4_res_clip", 4, {1, 5, 3, 17}, 11, 1, 1, 0, 0, 30, 128, 30, 180},
    {"r2_f32", 2, {9, 21}, 17, 1, 0, 1, 128, 0, 0, 0, 255},
    {"r4_f32_nchw", 4, {2, 3, 5, 7}, 10, 1, 0, 1, 255, 0, 0, 0, 255},
    {"r2_relu", 2, {6, 64}, 40, 0, 0, 0, 128, 100, 0, 100, 255},
};

static void mm_one(qt_state *st, const mm_case *c, size_t idx) {
  rng r = {0xAB0000u + idx};
  gbufs gb = {0};
  int64_t k = c->d[c->rank - 1], m = 1;
  for (int i = 0; i < c->rank - 1; i++) m *= c->d[i];
  int64_t nn = c->n;
  uint8_t *a = gb_alloc(&gb, (size_t)(m * k));
  for (int64_t i = 0; i < m * k; i++) a[i] = (uint8_t)rrange(&r, 0, 255);
  int8_t *w = malloc((size_t)(nn * k));
  for (int64_t i = 0; i < nn * k; i++) w[i] = (int8_t)rrange(&r, -127, 127);
  float *sw = malloc(sizeof(float) * (size_t)nn);
  int32_t *b = malloc(sizeof(int32_t) * (size_t)nn);
  double swsum = 0;
  for (int64_t i = 0; i < nn; i++) {
    sw[i] = 0.003f + 0.01f * runit(&r);
    swsum += sw[i];
    b[i] = rrange(&r, -20000, 20000);
  }
  float sa = 0.021f;
  float sy = (float)(sa * swsum / (double)nn * 74.0 * 73.0 * sqrt((double)k) / 60.0);
  float sr = sy * 1.3f;
  uint8_t *res = c->residual ? gb_alloc(&gb, (size_t)(m * nn)) : NULL;
  for (int64_t i = 0; res && i < m * nn; i++) res[i] = (uint8_t)rrange(&r, 0, 255);
  int nchw_out = c->out_f32 && c->rank == 4;
  int64_t hw = c->rank == 4 ? c->d[1] * c->d[2] : 1;
  size_t es = c->out_f32 ? sizeof(float) : 1;
  void *ref = malloc(es * (size_t)(m * nn));
  for (int64_t i = 0; i < m; i++)
    for (int64_t j = 0; j < nn; j++) {
      int32_t acc = c->bias ? b[j] : 0;
      for (int64_t t = 0; t < k; t++)
        acc += ((int32_t)a[i * k + t] - c->za) * w[j * k + t];
      if (c->out_f32) {
        int64_t o = nchw_out ? ((i / hw) * nn + j) * hw + i % hw : i * nn + j;
        ((float *)ref)[o] = (float)acc * (float)((double)sa * (double)sw[j]);
      } else {
        float mu = (float)((double)sa * (double)sw[j] / (double)sy);
        ((uint8_t *)ref)[i * nn + j] = ref_requant(
            acc, mu, c->residual, res ? res[i * nn + j] : 0, c->zr,
            (float)((double)sr / (double)sy), c->zy, c->qmin, c->qmax);
      }
    }
  int64_t yd[4];
  memcpy(yd, c->d, sizeof yd);
  yd[c->rank - 1] = nn;
  if (nchw_out) {
    yd[1] = nn;
    yd[2] = c->d[1];
    yd[3] = c->d[2];
  }
  for (int t = 0; t < 2; t++) {
    qi_graph *g = qi_graph_create();
    int ta = add_t(g, "a:u8", QI_UINT8, c->rank, c->d);
    set_quant(g, ta, sa, c->za);
    int64_t wd[2] = {nn, k};
    int tw = add_t(g, "w:i8", QI_INT8, 2, wd);
    set_const(g, tw, w, (size_t)(nn * k));
    set_wquant(g, tw, (int)nn, sw);
    int tb = -1, tr = -1;
    if (c->bias) {
      tb = add_t(g, "b:i32", QI_INT32, 1, &nn);
      set_const(g, tb, b, sizeof(int32_t) * (size_t)nn);
    }
    if (c->residual) {
      tr = add_t(g, "r:u8", QI_UINT8, c->rank, yd);
      set_quant(g, tr, sr, c->zr);
    }
    int ty = add_t(g, "y", c->out_f32 ? QI_FLOAT32 : QI_UINT8, 0, yd);
    if (!c->out_f32) set_quant(g, ty, sy, c->zy);
    int in[4] = {ta, tw, tb, tr};
    qi_node *nd = add_node(g, c->label, "QiQMatMul", c->residual ? 4 : 3, in, ty);
    if (c->qmin) set_int(nd, "qmin", c->qmin);
    if (c->qmax != 255) set_int(nd, "qmax", c->qmax);
    if (c->out_f32) set_int(nd, "out_f32", 1);
    void *act[4] = {a, NULL, NULL, res};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, t ? g_pool2 : NULL, &o, &err);
    QT_CHECKF(st, s == QI_OK, "%s: %s", c->label, err.message);
    if (s == QI_OK) {
      int ok = same_shape(&o.shape, c->rank, yd);
      QT_CHECKF(st, ok, "%s: output shape", c->label);
      if (ok) check_equal(st, c->label, &o, ref, m * nn);
    }
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
  free(ref);
  free(w);
  free(sw);
  free(b);
  gb_free(&gb);
}

/* The multiplier is sx * sw[c] / sy rounded to float once, from double.
 * With sy = 2 * (float)(sx * sw[c]) rounding twice (product to float, then
 * the division) gives exactly 0.5, rounding once gives the float next to
 * 0.5 for about half the channels, and acc * mult for odd acc then falls
 * just off a tie: a K = 1 GEMM over acc = 0..255 sees the difference. */
static void test_mult_rounding(qt_state *st) {
  enum { NCH = 32, MROWS = 256 };
  rng r = {777};
  float sx = 0.0371f, sw[NCH], sy[NCH];
  int differ = 0;
  for (int c = 0; c < NCH; c++) {
    sw[c] = 0.001f + 0.01f * runit(&r);
    sy[c] = 2.0f * (float)((double)sx * (double)sw[c]);
    differ += (float)((double)sx * sw[c] / sy[c]) != 0.5f;
  }
  QT_CHECKF(st, differ > 0, "no channel tells the roundings apart");
  gbufs gb = {0};
  uint8_t *a = gb_alloc(&gb, MROWS);
  for (int i = 0; i < MROWS; i++) a[i] = (uint8_t)i;
  int8_t w[NCH];
  for (int c = 0; c < NCH; c++) w[c] = 1;
  /* One graph per channel: the output scale is per tensor. */
  int bad = 0, visible = 0;
  for (int c = 0; c < NCH; c++) {
    qi_graph *g = qi_graph_create();
    int64_t ad[2] = {MROWS, 1}, wd[2] = {1, 1};
    int ta = add_t(g, "a:u8", QI_UINT8, 2, ad);
    set_quant(g, ta, sx, 0);
    int tw = add_t(g, "w:i8", QI_INT8, 2, wd);
    set_const(g, tw, &w[c], 1);
    set_wquant(g, tw, 1, &sw[c]);
    int ty = add_t(g, "y", QI_UINT8, 0, ad);
    set_quant(g, ty, sy[c], 0);
    int in[2] = {ta, tw};
    add_node(g, "mult_rounding", "QiQMatMul", 2, in, ty);
    void *act[2] = {a, NULL};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, NULL, &o, &err);
    QT_CHECKF(st, s == QI_OK, "channel %d: %s", c, err.message);
    float m = (float)((double)sx * (double)sw[c] / (double)sy[c]);
    for (int i = 0; s == QI_OK && i < MROWS; i++) {
      uint8_t want = ref_requant(i, m, 0, 0, 0, 0.0f, 0, 0, 255);
      bad += ((uint8_t *)o.data)[i] != want;
      visible += want != ref_requant(i, 0.5f, 0, 0, 0, 0.0f, 0, 0, 255);
    }
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
  QT_CHECKF(st, bad == 0, "%d outputs differ", bad);
  QT_CHECKF(st, visible > 0, "no output tells the roundings apart");
  gb_free(&gb);
}

static void test_qmatmul(qt_state *st) {
  for (size_t i = 0; i < sizeof k_mm / sizeof k_mm[0]; i++)
    mm_one(st, &k_mm[i], i);
}

/* ---- errors ---------------------------------------------------------------- */

/* One way to break a valid convolution graph. */
typedef enum conv_break {
  BREAK_X_QUANT,      /* input without quantization */
  BREAK_Y_QUANT,      /* uint8 output without quantization */
  BREAK_R_QUANT,      /* residual without quantization */
  BREAK_W_DTYPE,      /* float weights */
  BREAK_W_NSCALES,    /* one scale short */
  BREAK_W_AXIS,       /* scales along axis 1 */
  BREAK_W_NOT_CONST,  /* weights computed at run time */
  BREAK_W_MINUS128,   /* -128 in the weights */
  BREAK_ZP,           /* zero point 300 */
  BREAK_SCALE,        /* scale NaN */
  BREAK_STRIDES,      /* three strides */
  BREAK_GROUP,        /* group 0 */
  BREAK_QMIN_QMAX,    /* qmin > qmax */
  BREAK_OUT_F32,      /* out_f32 = 2 */
  BREAK_F32_RES,      /* out_f32 with a residual */
  BREAK_PADS,         /* a negative pad */
  BREAK_AUTO_PAD,     /* auto_pad SAME_UPPER */
  BREAK_GEOMETRY,     /* kernel larger than the padded input */
  BREAK_BIAS_SHAPE,   /* bias of Co + 1 */
  BREAK_COUNT
} conv_break;

static const char *const k_break_needle[BREAK_COUNT] = {
    "quantization", "quantization", "quantization", "int8", "scales",
    "scales", "constant", "-128", "zero point", "scale", "strides", "group",
    "qmin", "out_f32", "residual", "pads", "auto_pad", "QiQConv", "bias"};

static void test_qconv_errors(qt_state *st) {
  static const conv_case base = {"bad_conv", 1, 6, 6, 4, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 128, 128, 10, 0, 255};
  for (int b = 0; b < BREAK_COUNT; b++) {
    gbufs gb = {0};
    conv_data d;
    conv_data_make(&base, 99, &gb, &d);
    qi_graph *g = conv_graph(&base, &d);
    qi_node *n = &g->nodes[0];
    qi_tensor *x = &g->tensors[n->in[0]], *w = &g->tensors[n->in[1]];
    switch ((conv_break)b) {
      case BREAK_X_QUANT: x->quant.has = 0; break;
      case BREAK_Y_QUANT: g->tensors[n->out[0]].quant.has = 0; break;
      case BREAK_R_QUANT: g->tensors[n->in[3]].quant.has = 0; break;
      case BREAK_W_DTYPE: w->dtype = QI_FLOAT32; break;
      case BREAK_W_NSCALES: w->quant.nscales--; break;
      case BREAK_W_AXIS: w->quant.axis = 1; break;
      case BREAK_W_NOT_CONST:
        w->kind = QI_TK_ACT;
        free(w->data);
        w->data = NULL;
        break;
      case BREAK_W_MINUS128: ((int8_t *)w->data)[40] = -128; break;
      case BREAK_ZP: x->quant.zero_point = 300; break;
      case BREAK_SCALE: x->quant.scale = NAN; break;
      case BREAK_STRIDES: {
        int64_t s[3] = {1, 1, 1};
        set_ints(n, "strides", 3, s);
        break;
      }
      case BREAK_GROUP: set_int(n, "group", 0); break;
      case BREAK_QMIN_QMAX:
        set_int(n, "qmin", 200);
        set_int(n, "qmax", 100);
        break;
      case BREAK_OUT_F32: set_int(n, "out_f32", 2); break;
      case BREAK_F32_RES: set_int(n, "out_f32", 1); break;
      case BREAK_PADS: {
        int64_t p[4] = {1, -1, 1, 1};
        set_ints(n, "pads", 4, p);
        break;
      }
      case BREAK_AUTO_PAD: {
        qi_attr *a = qi_node_add_attr(n, "auto_pad", QI_ATTR_STRING);
        a->s = malloc(16);
        strcpy(a->s, "SAME_UPPER");
        break;
      }
      case BREAK_GEOMETRY: {
        int64_t p[4] = {0, 0, 0, 0}, dl[2] = {4, 4};
        set_ints(n, "pads", 4, p);
        set_ints(n, "dilations", 2, dl);
        break;
      }
      case BREAK_BIAS_SHAPE: g->tensors[n->in[2]].shape.d[0]++; break;
      case BREAK_COUNT: break;
    }
    /* Attributes added above come after the valid ones: move the last
     * attribute over the first of the same name, so it is the one read. */
    for (int i = 0; i < n->nattr - 1; i++)
      if (strcmp(n->attrs[i].name, n->attrs[n->nattr - 1].name) == 0) {
        qi_attr t = n->attrs[i];
        n->attrs[i] = n->attrs[n->nattr - 1];
        n->attrs[n->nattr - 1] = t;
        break;
      }
    void *act[4] = {d.x, NULL, NULL, d.r};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, NULL, &o, &err);
    char what[64];
    snprintf(what, sizeof what, "conv break %d", b);
    check_fails(st, what, s, &err, "bad_conv", k_break_needle[b]);
    qt_guard_free(&o.guard);
    qi_graph_free(g);
    conv_data_free(&d);
    gb_free(&gb);
  }
}

static void test_qmatmul_errors(qt_state *st) {
  for (int b = 0; b < 5; b++) {
    qi_graph *g = qi_graph_create();
    int64_t ad[2] = {3, 8}, wd[2] = {4, b == 0 ? 9 : 8}, bd = b == 1 ? 5 : 4;
    int ta = add_t(g, "a:u8", QI_UINT8, 2, ad);
    if (b != 4) set_quant(g, ta, 0.1f, 3);
    int tw = add_t(g, "w:i8", QI_INT8, 2, wd);
    int8_t wv[36] = {0};
    set_const(g, tw, wv, (size_t)(wd[0] * wd[1]));
    float sc[4] = {0.1f, 0.1f, 0.1f, 0.1f};
    set_wquant(g, tw, b == 2 ? 3 : 4, sc);
    int tb = add_t(g, "b:i32", QI_INT32, 1, &bd);
    int32_t bv[5] = {0};
    set_const(g, tb, bv, sizeof(int32_t) * (size_t)bd);
    int ty = add_t(g, "y", QI_UINT8, 0, ad);
    set_quant(g, ty, 0.2f, 0);
    int in[3] = {ta, tw, tb};
    qi_node *n = add_node(g, "bad_mm", "QiQMatMul", 3, in, ty);
    if (b == 3) set_int(n, "qmax", 256);
    uint8_t a[24] = {0};
    void *act[3] = {a, NULL, NULL};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, NULL, &o, &err);
    static const char *const needle[5] = {"multiply", "bias", "scales",
                                          "qmax", "quantization"};
    char what[64];
    snprintf(what, sizeof what, "matmul break %d", b);
    check_fails(st, what, s, &err, "bad_mm", needle[b]);
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
}

static void test_convert_errors(qt_state *st) {
  for (int b = 0; b < 5; b++) {
    qi_graph *g = qi_graph_create();
    int64_t d[3] = {2, 3, 4};
    int tx = add_t(g, "x", b == 4 ? QI_UINT8 : QI_FLOAT32, 3, d);
    int tq = add_t(g, "x:u8", QI_UINT8, 0, d);
    if (b != 1) set_quant(g, tq, b == 2 ? 0.0f : 0.5f, b == 3 ? -1 : 0);
    qi_node *n = add_node(g, "bad_q", "QiQuantize", 1, &tx, tq);
    if (b == 0) set_int(n, "layout", 1); /* rank 3 */
    float x[24] = {0};
    void *act[1] = {x};
    op_out o;
    qi_error err = {0};
    qi_status s = run_node(g, act, NULL, &o, &err);
    static const char *const needle[5] = {"rank-4", "quantization", "scale",
                                          "zero point", "float32"};
    char what[64];
    snprintf(what, sizeof what, "quantize break %d", b);
    check_fails(st, what, s, &err, "bad_q", needle[b]);
    qt_guard_free(&o.guard);
    qi_graph_free(g);
  }
}

/* Lookup in both domains; a run before prepare fails instead of crashing. */
static void test_lookup_unprepared(qt_state *st) {
  static const char *const names[] = {"QiQuantize", "QiDequantize", "QiQConv",
                                      "QiQMatMul"};
  for (int i = 0; i < 4; i++) {
    const qi_op_def *a = qi_op_lookup("qinfer", names[i]);
    const qi_op_def *b = qi_op_lookup("", names[i]);
    QT_CHECKF(st, a && a == b, "lookup %s", names[i]);
    if (!a) continue;
    qi_graph *g = qi_graph_create();
    qi_node *n = add_node(g, "unprepared", names[i], 0, NULL, -1);
    n->op = a;
    qi_buf in[4], out[1];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    qi_error err = {0};
    qi_run_ctx ctx = {NULL, 1, NULL, 0, &err};
    qi_status s = a->run(&ctx, n, in, out);
    check_fails(st, names[i], s, &err, "unprepared", "prepare");
    qi_graph_free(g);
  }
}

int main(void) {
  qt_state st = {0};
  g_pool2 = qi_pool_create(2);
  QT_RUN(&st, test_convert_rows);
  QT_RUN(&st, test_quantize_dequantize);
  QT_RUN(&st, test_qconv);
  QT_RUN(&st, test_qmatmul);
  QT_RUN(&st, test_mult_rounding);
  QT_RUN(&st, test_qconv_errors);
  QT_RUN(&st, test_qmatmul_errors);
  QT_RUN(&st, test_convert_errors);
  QT_RUN(&st, test_lookup_unprepared);
  qi_pool_free(g_pool2);
  return qt_summary(&st);
}
