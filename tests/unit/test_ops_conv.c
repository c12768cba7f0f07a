/* Conv, ConvTranspose, Gemm and MatMul (FP32) against plain float64
 * reference loops written here, over awkward shapes: odd channels, 1x1 /
 * 7x7 / 3x5 kernels, strides, dilations, asymmetric pads, every auto_pad
 * mode, groups and depthwise, batch 2, bias or not, every fused activation
 * and the fused residual. Each case runs single-threaded and on a pool of
 * two threads. The depthwise kernels are also checked directly. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fp32/bias_act.h"
#include "fp32/conv_gemm.h"
#include "fp32/dwconv.h"
#include "ops/conv_dispatch.h"
#include "ops/op.h"
#include "qtest.h"

extern const qi_op_def qi_op_conv, qi_op_conv_transpose, qi_op_gemm,
    qi_op_matmul;

/* max |ours - ref| / (max |ref| + REL_TOL_FLOOR) must not exceed this. */
#define REL_TOL 1e-5
#define REL_TOL_FLOOR 1e-6
/* Activation kernels, per element: |ours - ref| <= ACT_ABS_TOL +
 * REL_TOL * |ref| (the vector erf is within 1.5e-7 absolute). */
#define ACT_ABS_TOL 1e-6

typedef struct rng {
  uint64_t s;
} rng;

static float rnd(rng *r) {
  r->s = r->s * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((r->s >> 40) & 0xFFFFFF) / (float)0x800000 - 1.0f;
}

static float *rnd_array(rng *r, int64_t n) {
  float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = rnd(r);
  return p;
}

static double rel_err(const float *ours, const double *ref, int64_t n) {
  double md = 0.0, mr = 0.0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)ours[i] - ref[i]);
    if (!(d <= md)) md = d; /* NaN counts as infinitely wrong */
    if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
  }
  return md / (mr + REL_TOL_FLOOR);
}

static double act_ref(int act, double a, double b, double x) {
  switch (act) {
    case QI_ACT_RELU: return x > 0 ? x : 0;
    case QI_ACT_CLIP: return x < a ? a : (x > b ? b : x);
    case QI_ACT_LEAKY: return x >= 0 ? x : a * x;
    case QI_ACT_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case QI_ACT_HARDSWISH: {
      double h = x / 6.0 + 0.5;
      return x * (h < 0 ? 0 : (h > 1 ? 1 : h));
    }
    case QI_ACT_SILU: return x / (1.0 + exp(-x));
    case QI_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case QI_ACT_HARDSIGMOID: {
      double h = a * x + b;
      return h < 0 ? 0 : (h > 1 ? 1 : h);
    }
    case QI_ACT_TANH: return tanh(x);
    default: return x;
  }
}

/* Activation parameters used whenever a case asks for `act`. */
static void act_params(int act, float *a, float *b) {
  *a = act == QI_ACT_CLIP ? -0.5f : act == QI_ACT_LEAKY ? 0.1f
                                   : act == QI_ACT_HARDSIGMOID ? 0.2f : 0.0f;
  *b = act == QI_ACT_CLIP ? 0.7f : act == QI_ACT_HARDSIGMOID ? 0.5f : 0.0f;
}

/* ---- graph building ------------------------------------------------------ */

static int add_tensor(qi_graph *g, const char *name, int rank,
                      const int64_t *d, const float *cdata, qi_dtype dt) {
  int t = qi_graph_add_tensor(g, name, dt);
  g->tensors[t].shape.rank = rank;
  int64_t n = 1;
  for (int i = 0; i < rank; i++) n *= g->tensors[t].shape.d[i] = d[i];
  if (cdata) {
    float *p = malloc(sizeof(float) * (size_t)(n ? n : 1));
    memcpy(p, cdata, sizeof(float) * (size_t)n);
    qi_tensor_set_const(&g->tensors[t], p, sizeof(float) * (size_t)n);
  }
  return t;
}

static void set_ints(qi_node *n, const char *name, int cnt, const int64_t *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_INTS);
  a->n = cnt;
  a->ints = malloc(sizeof(int64_t) * (size_t)(cnt ? cnt : 1));
  memcpy(a->ints, v, sizeof(int64_t) * (size_t)cnt);
}

static void set_int(qi_node *n, const char *name, int64_t v) {
  qi_node_add_attr(n, name, QI_ATTR_INT)->i = v;
}

static void set_float(qi_node *n, const char *name, float v) {
  qi_node_add_attr(n, name, QI_ATTR_FLOAT)->f = v;
}

static void set_str(qi_node *n, const char *name, const char *v) {
  qi_attr *a = qi_node_add_attr(n, name, QI_ATTR_STRING);
  a->s = malloc(strlen(v) + 1);
  strcpy(a->s, v);
}

static void set_act(qi_node *n, int act) {
  if (!act) return;
  float a, b;
  act_params(act, &a, &b);
  set_int(n, "qi_act", act);
  set_float(n, "qi_act_alpha", a);
  set_float(n, "qi_act_beta", b);
}

/* Runs node 0 of g through infer, prepare, scratch_bytes and run. Inputs
 * that are not constant read act[k]. alias_in >= 0 makes that input share
 * the output buffer (as an in-place planner would). *out is malloc'd. */
static qi_status run_node(const qi_op_def *op, qi_graph *g, float *const *act,
                          qi_pool *pool, int alias_in, float **out,
                          qi_shape *oshape, qi_error *err) {
  qi_node *n = &g->nodes[0];
  n->op = op;
  *out = NULL;
  QI_TRY(op->infer(g, n, err));
  if (op->prepare) QI_TRY(op->prepare(g, n, err));
  int nth = qi_pool_size(pool);
  size_t sb = op->scratch_bytes ? op->scratch_bytes(g, n, nth) : 0;
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  qi_buf in[8], ob;
  memset(in, 0, sizeof in);
  for (int k = 0; k < n->nin && k < 8; k++) {
    if (n->in[k] < 0) continue;
    const qi_tensor *t = &g->tensors[n->in[k]];
    in[k].dtype = t->dtype;
    in[k].shape = t->shape;
    in[k].data = t->kind == QI_TK_CONST ? t->data : act[k];
  }
  const qi_tensor *ot = &g->tensors[n->out[0]];
  ob.dtype = ot->dtype;
  ob.shape = ot->shape;
  *oshape = ot->shape;
  int64_t numel = qi_shape_numel(&ot->shape);
  ob.data = *out = malloc(sizeof(float) * (size_t)(numel ? numel : 1));
  if (alias_in >= 0) {
    memcpy(*out, act[alias_in], sizeof(float) * (size_t)numel);
    in[alias_in].data = *out;
  }
  qi_run_ctx ctx = {pool, nth, scratch, sb, err};
  qi_status st = op->run(&ctx, n, in, &ob);
  free(scratch);
  return st;
}

/* ---- Conv ---------------------------------------------------------------- */

typedef struct conv_case {
  const char *label;
  int nsp;
  int64_t n, c, m, group;
  int64_t in[3], k[3];
  int64_t s[3], d[3];     /* all zero: attribute absent (defaults 1) */
  int64_t pads[6];        /* begins then ends; used when has_pads */
  int has_pads;
  const char *auto_pad;   /* NULL: attribute absent */
  int bias, act, sum, alias_sum, kshape_attr;
} conv_case;

/* Output extents and leading pads by the ONNX formulas, independently of
 * the library. */
static void conv_ref_dims(const conv_case *cc, int64_t *out, int64_t *pb) {
  for (int i = 0; i < cc->nsp; i++) {
    int64_t s = cc->s[i] ? cc->s[i] : 1, d = cc->d[i] ? cc->d[i] : 1;
    int64_t ext = (cc->k[i] - 1) * d + 1, b = 0, e = 0;
    const char *ap = cc->auto_pad ? cc->auto_pad : "NOTSET";
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
      int64_t o = (cc->in[i] + s - 1) / s;
      int64_t tot = (o - 1) * s + ext - cc->in[i];
      if (tot < 0) tot = 0;
      b = !strcmp(ap, "SAME_UPPER") ? tot / 2 : (tot + 1) / 2;
      e = tot - b;
    } else if (!strcmp(ap, "NOTSET") && cc->has_pads) {
      b = cc->pads[i];
      e = cc->pads[cc->nsp + i];
    }
    pb[i] = b;
    out[i] = (cc->in[i] + b + e - ext) / s + 1;
  }
}

static double *conv_ref(const conv_case *cc, const float *x, const float *w,
                        const float *bias, const float *res,
                        int64_t *out_numel) {
  int64_t o[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, in[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t oo[3], pp[3];
  conv_ref_dims(cc, oo, pp);
  for (int i = 0; i < cc->nsp; i++) {
    int a = 3 - cc->nsp + i;
    o[a] = oo[i];
    pb[a] = pp[i];
    in[a] = cc->in[i];
    k[a] = cc->k[i];
    s[a] = cc->s[i] ? cc->s[i] : 1;
    d[a] = cc->d[i] ? cc->d[i] : 1;
  }
  int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
  int64_t op = o[0] * o[1] * o[2], ip = in[0] * in[1] * in[2];
  int64_t total = cc->n * cc->m * op;
  double *y = malloc(sizeof(double) * (size_t)total);
  float a, b;
  act_params(cc->act, &a, &b);
  for (int64_t nb = 0; nb < cc->n; nb++)
    for (int64_t m = 0; m < cc->m; m++)
      for (int64_t p = 0; p < op; p++) {
        int64_t od = p / (o[1] * o[2]), oh = p / o[2] % o[1], ow = p % o[2];
        double acc = bias ? bias[m] : 0.0;
        int64_t grp = m / mg;
        for (int64_t ci = 0; ci < cg; ci++)
          for (int64_t zd = 0; zd < k[0]; zd++)
            for (int64_t zh = 0; zh < k[1]; zh++)
              for (int64_t zw = 0; zw < k[2]; zw++) {
                int64_t id = od * s[0] - pb[0] + zd * d[0];
                int64_t ih = oh * s[1] - pb[1] + zh * d[1];
                int64_t iw = ow * s[2] - pb[2] + zw * d[2];
                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] ||
                    iw < 0 || iw >= in[2])
                  continue;
                double xv = x[(nb * cc->c + grp * cg + ci) * ip +
                              (id * in[1] + ih) * in[2] + iw];
                double wv = w[((m * cg + ci) * k[0] + zd) * k[1] * k[2] +
                              zh * k[2] + zw];
                acc += xv * wv;
              }
        int64_t idx = (nb * cc->m + m) * op + p;
        if (res) acc += res[idx];
        y[idx] = act_ref(cc->act, a, b, acc);
      }
  *out_numel = total;
  return y;
}

static qi_graph *conv_graph(const conv_case *cc, const float *w,
                            const float *bias, qi_dtype xdt) {
  qi_graph *g = qi_graph_create();
  int64_t xs[5] = {cc->n, cc->c}, ws[5] = {cc->m, cc->c / cc->group};
  for (int i = 0; i < cc->nsp; i++) {
    xs[2 + i] = cc->in[i];
    ws[2 + i] = cc->k[i];
  }
  int nin = cc->sum ? 4 : (cc->bias ? 3 : 2);
  int node = qi_graph_add_node(g, cc->label, "Conv", "", nin, 1);
  int tx = add_tensor(g, "X", cc->nsp + 2, xs, NULL, xdt);
  int tw = add_tensor(g, "W", cc->nsp + 2, ws, w, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = tx;
  n->in[1] = tw;
  if (cc->bias) n->in[2] = add_tensor(g, "B", 1, &cc->m, bias, QI_FLOAT32);
  if (cc->sum) {
    int64_t o[3], pb[3], ys[5] = {cc->n, cc->m};
    conv_ref_dims(cc, o, pb);
    for (int i = 0; i < cc->nsp; i++) ys[2 + i] = o[i];
    n->in[3] = add_tensor(g, "S", cc->nsp + 2, ys, NULL, QI_FLOAT32);
    set_int(n, "qi_sum", 1);
  }
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  g->tensors[n->out[0]].shape.rank = -1;
  if (cc->group != 1) set_int(n, "group", cc->group);
  int64_t one[3] = {0, 0, 0};
  if (memcmp(cc->s, one, sizeof one)) set_ints(n, "strides", cc->nsp, cc->s);
  if (memcmp(cc->d, one, sizeof one)) set_ints(n, "dilations", cc->nsp, cc->d);
  if (cc->has_pads) set_ints(n, "pads", 2 * cc->nsp, cc->pads);
  if (cc->auto_pad) set_str(n, "auto_pad", cc->auto_pad);
  if (cc->kshape_attr) set_ints(n, "kernel_shape", cc->nsp, cc->k);
  set_act(n, cc->act);
  return g;
}

static void conv_check_case(qt_state *st, const conv_case *cc, qi_pool *pool,
                            uint64_t seed) {
  rng r = {seed};
  int64_t ks = cc->k[0] * (cc->nsp > 1 ? cc->k[1] : 1) *
               (cc->nsp > 2 ? cc->k[2] : 1);
  int64_t xn = cc->n * cc->c, wn = cc->m * (cc->c / cc->group) * ks;
  for (int i = 0; i < cc->nsp; i++) xn *= cc->in[i];
  float *x = rnd_array(&r, xn), *w = rnd_array(&r, wn);
  float *bias = cc->bias ? rnd_array(&r, cc->m) : NULL;
  int64_t yn;
  double *ref = conv_ref(cc, x, w, bias, NULL, &yn);
  float *res = cc->sum ? rnd_array(&r, yn) : NULL;
  if (res) {
    free(ref);
    ref = conv_ref(cc, x, w, bias, res, &yn);
  }
  qi_graph *g = conv_graph(cc, w, bias, QI_FLOAT32);
  float *act[4] = {x, NULL, NULL, res};
  float *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_conv, g, act, pool,
                         cc->alias_sum ? 3 : -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", cc->label, err.message);
  if (s == QI_OK) {
    int64_t o[3], pb[3];
    conv_ref_dims(cc, o, pb);
    int shape_ok = ys.rank == cc->nsp + 2 && ys.d[0] == cc->n &&
                   ys.d[1] == cc->m;
    for (int i = 0; i < cc->nsp; i++) shape_ok &= ys.d[2 + i] == o[i];
    QT_CHECKF(st, shape_ok, "%s: output shape", cc->label);
    if (shape_ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s (threads %d): rel err %g", cc->label,
                qi_pool_size(pool), e);
    }
  }
  qi_graph_free(g);
  free(x);
  free(w);
  free(bias);
  free(res);
  free(ref);
  free(y);
}

static const conv_case conv_cases[] = {
    {"stem_7x7_s2", 2, 1, 3, 7, 1, {17, 19}, {7, 7}, {2, 2}, {0}, {3, 3, 3, 3}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 1},
    {"pointwise_17_to_7", 2, 1, 17, 7, 1, {9, 11}, {1, 1}, {0}, {0}, {0}, 0, NULL, 0, 0, 0, 0, 0},
    {"pointwise_stride2", 2, 2, 7, 17, 1, {9, 10}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 1, 0, 0, 0, 0},
    {"k3x5_dil2_asym", 2, 1, 3, 7, 1, {13, 21}, {3, 5}, {1, 2}, {2, 2}, {1, 2, 0, 3}, 1, NULL, 1, 0, 0, 0, 1},
    {"stride3_same_upper", 2, 1, 7, 3, 1, {16, 17}, {3, 3}, {3, 3}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"stride2_same_lower_k4", 2, 1, 7, 3, 1, {15, 14}, {4, 4}, {2, 2}, {0}, {0}, 0, "SAME_LOWER", 1, 0, 0, 0, 0},
    {"valid_k5_s3", 2, 2, 3, 17, 1, {19, 23}, {5, 5}, {3, 3}, {0}, {0}, 0, "VALID", 0, 0, 0, 0, 0},
    {"notset_explicit", 2, 1, 3, 5, 1, {8, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, "NOTSET", 1, 0, 0, 0, 0},
    {"group2_3x3", 2, 2, 14, 6, 2, {11, 9}, {3, 3}, {1, 1}, {0}, {1, 0, 1, 2}, 1, NULL, 1, QI_ACT_LEAKY, 0, 0, 0},
    {"group2_pointwise", 2, 1, 6, 10, 2, {7, 5}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, 0, 0, 0, 0},
    {"dw3x3_s1", 2, 2, 17, 17, 17, {45, 75}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0},
    {"dw3x3_s2", 2, 1, 17, 17, 17, {46, 77}, {3, 3}, {2, 2}, {0}, {0, 0, 1, 1}, 1, NULL, 1, QI_ACT_HARDSWISH, 0, 0, 0},
    {"dw5x5_dil2", 2, 1, 7, 7, 7, {20, 70}, {5, 5}, {1, 1}, {2, 2}, {4, 4, 4, 4}, 1, NULL, 0, 0, 0, 0, 0},
    {"dw7x7_asym", 2, 1, 3, 3, 3, {23, 81}, {7, 7}, {0}, {0}, {3, 2, 1, 4}, 1, NULL, 1, 0, 0, 0, 0},
    {"dw_s3_same", 2, 1, 7, 7, 7, {20, 50}, {3, 3}, {3, 3}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"dw_mult2_s2_tiny", 2, 1, 3, 6, 3, {3, 4}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"dw_1x1_s2", 2, 1, 5, 5, 5, {9, 9}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 0, 0, 0, 0, 0},
    {"conv1d_k3_s2", 1, 2, 3, 5, 1, {29}, {3}, {2}, {0}, {1, 2}, 1, NULL, 1, QI_ACT_TANH, 0, 0, 0},
    {"conv1d_dw", 1, 1, 7, 7, 7, {50}, {5}, {1}, {2}, {0}, 0, "SAME_LOWER", 1, 0, 0, 0, 0},
    {"conv3d", 3, 1, 3, 4, 1, {5, 6, 7}, {2, 3, 3}, {1, 2, 1}, {0}, {0, 1, 1, 1, 0, 1}, 1, NULL, 1, 0, 0, 0, 1},
    {"conv3d_dw", 3, 2, 3, 3, 3, {4, 5, 6}, {3, 3, 3}, {0}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"kblocks_prepack_7x7", 2, 2, 64, 20, 1, {7, 7}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    {"conv3d_prepack", 3, 1, 29, 13, 1, {3, 4, 5}, {3, 3, 3}, {0}, {0}, {1, 1, 1, 1, 1, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"tiled_64x40x40", 2, 1, 64, 16, 1, {40, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    {"batch2_sum_relu", 2, 2, 7, 17, 1, {10, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    {"sum_no_bias", 2, 2, 3, 5, 1, {6, 7}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 0, 0, 1, 0, 0},
    {"sum_alias_im2col", 2, 2, 7, 5, 1, {10, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_SILU, 1, 1, 0},
    {"sum_alias_pointwise", 2, 2, 17, 7, 1, {5, 6}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"sum_alias_dw", 2, 2, 7, 7, 7, {12, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"sum_dw", 2, 1, 7, 7, 7, {12, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_GELU, 1, 0, 0},
    {"sum_pointwise_s2", 2, 1, 4, 6, 1, {9, 9}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 1, QI_ACT_HARDSIGMOID, 1, 0, 0},
};

/* Every fused activation on both a GEMM-path and a depthwise conv. */
static void conv_acts_case(qt_state *st, qi_pool *pool) {
  for (int act = QI_ACT_RELU; act <= QI_ACT_TANH; act++) {
    conv_case a = {"act_im2col", 2, 2, 3, 7, 1, {6, 7}, {3, 3}, {0}, {0},
                   {1, 1, 1, 1}, 1, NULL, 1, act, 0, 0, 0};
    conv_case b = {"act_dw_sum", 2, 1, 5, 5, 5, {7, 37}, {3, 3}, {0}, {0},
                   {1, 1, 1, 1}, 1, NULL, 1, act, 1, 0, 0};
    conv_check_case(st, &a, pool, 1000 + (uint64_t)act);
    conv_check_case(st, &b, pool, 2000 + (uint64_t)act);
  }
}

static void test_conv_single_thread(qt_state *st) {
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], NULL, 7 + i);
  conv_acts_case(st, NULL);
}

static void test_conv_pool2(qt_state *st) {
  qi_pool *pool = qi_pool_create(2);
  QT_CHECK(st, pool != NULL);
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], pool, 77 + i);
  conv_acts_case(st, pool);
  qi_pool_free(pool);
}

/* The same cases with the scalar kernels forced (QINFER_ISA=scalar), so the
 * fallback path of a CPU without AVX2 is covered here too. */
static void test_conv_scalar_isa(qt_state *st) {
  const char *old = getenv("QINFER_ISA");
  char *saved = old ? strdup(old) : NULL;
  setenv("QINFER_ISA", "scalar", 1);
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], i % 2 ? pool : NULL, 177 + i);
  conv_acts_case(st, pool);
  qi_pool_free(pool);
  if (saved) {
    setenv("QINFER_ISA", saved, 1);
    free(saved);
  } else {
    unsetenv("QINFER_ISA");
  }
}

static void test_conv_errors(qt_state *st) {
  qi_error err = {0};
  float *y = NULL;
  qi_shape ys;
  /* Weights with 4 input channels for a 6-channel input. */
  conv_case bad = {.label = "bad_weights_node", .nsp = 2, .n = 1, .c = 6, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  int64_t wbad[4] = {8, 4, 3, 3};
  float *w = calloc(8 * 6 * 9, sizeof(float));
  qi_graph *g = conv_graph(&bad, w, NULL, QI_FLOAT32);
  g->tensors[g->nodes[0].in[1]].shape.d[1] = wbad[1];
  qi_status s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys,
                         &err);
  QT_CHECK(st, s == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "bad_weights_node") != NULL);
  qi_graph_free(g);
  free(y);
  /* int8 input. */
  conv_case i8 = {.label = "int8_node", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  g = conv_graph(&i8, w, NULL, QI_INT8);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(err.message, "int8_node") && strstr(err.message, "int8"));
  qi_graph_free(g);
  free(y);
  /* Unknown auto_pad; kernel larger than the input. */
  conv_case ap = {.label = "pad_node", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  ap.auto_pad = "SAME_MIDDLE";
  g = conv_graph(&ap, w, NULL, QI_FLOAT32);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_UNSUPPORTED && strstr(err.message, "pad_node"));
  qi_graph_free(g);
  free(y);
  conv_case big = {.label = "big_kernel", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {2, 2}, .k = {3, 3}};
  g = conv_graph(&big, w, NULL, QI_FLOAT32);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_SHAPE && strstr(err.message, "big_kernel"));
  qi_graph_free(g);
  free(y);
  free(w);
}

/* ---- ConvTranspose ---------------------------------------------------- */

typedef struct convt_case {
  const char *label;
  int nsp;
  int64_t n, c, m, group;
  int64_t in[2], k[2], s[2], d[2];
  int64_t pads[4];
  int64_t opad[2];
  int64_t oshape[2];   /* 0: attribute absent */
  const char *auto_pad;
  int bias, act;
} convt_case;

static void convt_ref_dims(const convt_case *cc, int64_t *out, int64_t *pb) {
  for (int i = 0; i < cc->nsp; i++) {
    int64_t s = cc->s[i], d = cc->d[i], ext = (cc->k[i] - 1) * d + 1;
    int64_t full = s * (cc->in[i] - 1) + cc->opad[i] + ext;
    const char *ap = cc->auto_pad ? cc->auto_pad : "NOTSET";
    int64_t want = cc->oshape[0] ? cc->oshape[i] : -1;
    if (want < 0 && strncmp(ap, "SAME", 4) == 0) want = cc->in[i] * s;
    if (want >= 0) {
      int64_t tot = full - want;
      pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
      out[i] = want;
    } else if (!strcmp(ap, "VALID")) {
      pb[i] = 0;
      out[i] = full;
    } else {
      pb[i] = cc->pads[i];
      out[i] = full - cc->pads[i] - cc->pads[cc->nsp + i];
    }
  }
}

static void convt_check_case(qt_state *st, const convt_case *cc,
                             qi_pool *pool, uint64_t seed) {
  rng r = {seed};
  int64_t mg = cc->m / cc->group, cg = cc->c / cc->group;
  int64_t in[2] = {1, cc->in[0]}, k[2] = {1, cc->k[0]}, s[2] = {1, cc->s[0]},
          d[2] = {1, cc->d[0]}, o[2] = {1, 1}, pb[2] = {0, 0}, oo[2], pp[2];
  if (cc->nsp == 2)
    for (int i = 0; i < 2; i++) {
      in[i] = cc->in[i];
      k[i] = cc->k[i];
      s[i] = cc->s[i];
      d[i] = cc->d[i];
    }
  convt_ref_dims(cc, oo, pp);
  for (int i = 0; i < cc->nsp; i++) {
    o[2 - cc->nsp + i] = oo[i];
    pb[2 - cc->nsp + i] = pp[i];
  }
  int64_t ip = in[0] * in[1], op = o[0] * o[1], ks = k[0] * k[1];
  float *x = rnd_array(&r, cc->n * cc->c * ip);
  float *w = rnd_array(&r, cc->c * mg * ks);
  float *bias = cc->bias ? rnd_array(&r, cc->m) : NULL;
  int64_t yn = cc->n * cc->m * op;
  double *ref = calloc((size_t)yn, sizeof(double));
  for (int64_t nb = 0; nb < cc->n; nb++)
    for (int64_t c = 0; c < cc->c; c++)
      for (int64_t ml = 0; ml < mg; ml++)
        for (int64_t p = 0; p < ip; p++)
          for (int64_t zh = 0; zh < k[0]; zh++)
            for (int64_t zw = 0; zw < k[1]; zw++) {
              int64_t oh = p / in[1] * s[0] - pb[0] + zh * d[0];
              int64_t ow = p % in[1] * s[1] - pb[1] + zw * d[1];
              if (oh < 0 || oh >= o[0] || ow < 0 || ow >= o[1]) continue;
              int64_t m = c / cg * mg + ml;
              ref[(nb * cc->m + m) * op + oh * o[1] + ow] +=
                  (double)x[(nb * cc->c + c) * ip + p] *
                  w[(c * mg + ml) * ks + zh * k[1] + zw];
            }
  float aa, bb;
  act_params(cc->act, &aa, &bb);
  for (int64_t i = 0; i < yn; i++)
    ref[i] = act_ref(cc->act, aa, bb,
                     ref[i] + (bias ? bias[i / op % cc->m] : 0.0));
  qi_graph *g = qi_graph_create();
  int64_t xs[4] = {cc->n, cc->c, cc->in[0], cc->in[1]};
  int64_t ws[4] = {cc->c, mg, cc->k[0], cc->k[1]};
  int node = qi_graph_add_node(g, cc->label, "ConvTranspose", "",
                               cc->bias ? 3 : 2, 1);
  int tx = add_tensor(g, "X", cc->nsp + 2, xs, NULL, QI_FLOAT32);
  int tw = add_tensor(g, "W", cc->nsp + 2, ws, w, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = tx;
  n->in[1] = tw;
  if (cc->bias) n->in[2] = add_tensor(g, "B", 1, &cc->m, bias, QI_FLOAT32);
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  if (cc->group != 1) set_int(n, "group", cc->group);
  set_ints(n, "strides", cc->nsp, cc->s);
  set_ints(n, "dilations", cc->nsp, cc->d);
  if (!cc->auto_pad) set_ints(n, "pads", 2 * cc->nsp, cc->pads);
  else set_str(n, "auto_pad", cc->auto_pad);
  if (cc->opad[0]) set_ints(n, "output_padding", cc->nsp, cc->opad);
  if (cc->oshape[0]) set_ints(n, "output_shape", cc->nsp, cc->oshape);
  set_act(n, cc->act);
  float *act[3] = {x, NULL, NULL}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status st2 = run_node(&qi_op_conv_transpose, g, act, pool, -1, &y, &ys,
                           &err);
  QT_CHECKF(st, st2 == QI_OK, "%s: %s", cc->label, err.message);
  if (st2 == QI_OK) {
    int ok = ys.rank == cc->nsp + 2 && ys.d[1] == cc->m;
    for (int i = 0; i < cc->nsp; i++) ok &= ys.d[2 + i] == oo[i];
    QT_CHECKF(st, ok, "%s: output shape", cc->label);
    if (ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s (threads %d): rel err %g", cc->label,
                qi_pool_size(pool), e);
    }
  }
  qi_graph_free(g);
  free(x);
  free(w);
  free(bias);
  free(ref);
  free(y);
}

static const convt_case convt_cases[] = {
    {"up_k3_s2_opad1", 2, 1, 3, 5, 1, {7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, {0}, NULL, 1, 0},
    {"group2_s3x2_dil2", 2, 2, 4, 6, 2, {5, 7}, {3, 2}, {3, 2}, {2, 1}, {1, 0, 2, 1}, {0}, {0}, NULL, 1, QI_ACT_RELU},
    {"k2_s2_upsample", 2, 1, 17, 7, 1, {9, 11}, {2, 2}, {2, 2}, {1, 1}, {0}, {0}, {0}, NULL, 0, 0},
    {"output_shape", 2, 1, 3, 4, 1, {5, 5}, {3, 3}, {2, 2}, {1, 1}, {0}, {0}, {10, 9}, NULL, 1, 0},
    {"same_upper", 2, 1, 3, 4, 1, {5, 6}, {4, 3}, {2, 3}, {1, 1}, {0}, {0}, {0}, "SAME_UPPER", 1, 0},
    {"same_lower", 2, 1, 3, 4, 1, {5, 6}, {4, 3}, {2, 3}, {1, 1}, {0}, {0}, {0}, "SAME_LOWER", 1, 0},
    {"valid_opad", 2, 2, 3, 4, 1, {4, 5}, {3, 3}, {3, 2}, {1, 1}, {0}, {2, 1}, {0}, "VALID", 1, QI_ACT_SIGMOID},
    {"convt1d", 1, 2, 3, 5, 1, {9}, {4}, {3}, {1}, {1, 2}, {2}, {0}, NULL, 1, 0},
    {"tiled_4x4_s2", 2, 1, 8, 64, 1, {24, 24}, {4, 4}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0}, {0}, NULL, 1, QI_ACT_LEAKY},
    {"depthwise_t", 2, 1, 6, 6, 6, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, {0}, NULL, 1, 0},
};

static void test_conv_transpose(qt_state *st) {
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof convt_cases / sizeof *convt_cases; i++) {
    convt_check_case(st, &convt_cases[i], NULL, 300 + i);
    convt_check_case(st, &convt_cases[i], pool, 400 + i);
  }
  qi_pool_free(pool);
}

/* ---- Gemm ------------------------------------------------------------- */

static void gemm_check_case(qt_state *st, int ta, int tb, int crank,
                            const int64_t *cdims, int act, qi_pool *pool,
                            uint64_t seed) {
  const int64_t M = 7, N = 5, K = 13;
  const float alpha = 0.7f, beta = 1.3f;
  rng r = {seed};
  int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N};
  float *a = rnd_array(&r, M * K), *b = rnd_array(&r, K * N);
  int64_t cn = 1;
  for (int i = 0; i < crank; i++) cn *= cdims[i];
  float *c = crank >= 0 ? rnd_array(&r, cn) : NULL;
  double *ref = malloc(sizeof(double) * (size_t)(M * N));
  float aa, bb;
  act_params(act, &aa, &bb);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)(ta ? a[k * M + i] : a[i * K + k]) *
               (tb ? b[j * K + k] : b[k * N + j]);
      acc *= alpha;
      if (c) {
        int64_t ci = crank == 2 ? (cdims[0] == 1 ? 0 : i) * cdims[1] +
                                      (cdims[1] == 1 ? 0 : j)
                     : crank == 1 ? (cdims[0] == 1 ? 0 : j) : 0;
        acc += (double)beta * c[ci];
      }
      ref[i * N + j] = act_ref(act, aa, bb, acc);
    }
  char label[64];
  snprintf(label, sizeof label, "gemm_tA%d_tB%d_crank%d", ta, tb, crank);
  qi_graph *g = qi_graph_create();
  int node = qi_graph_add_node(g, label, "Gemm", "", c ? 3 : 2, 1);
  int t0 = add_tensor(g, "A", 2, as, NULL, QI_FLOAT32);
  int t1 = add_tensor(g, "B", 2, bs, b, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = t0;
  n->in[1] = t1;
  if (c) n->in[2] = add_tensor(g, "C", crank, cdims, c, QI_FLOAT32);
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  set_float(n, "alpha", alpha);
  set_float(n, "beta", beta);
  set_int(n, "transA", ta);
  set_int(n, "transB", tb);
  set_act(n, act);
  float *in[3] = {a, NULL, NULL}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_gemm, g, in, pool, -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", label, err.message);
  if (s == QI_OK) {
    QT_CHECKF(st, ys.rank == 2 && ys.d[0] == M && ys.d[1] == N, "%s shape",
              label);
    double e = rel_err(y, ref, M * N);
    QT_CHECKF(st, e <= REL_TOL, "%s: rel err %g", label, e);
  }
  qi_graph_free(g);
  free(a);
  free(b);
  free(c);
  free(ref);
  free(y);
}

static void test_gemm(qt_state *st) {
  /* C absent, scalar, [1], [N], [1,N], [M,1], [M,N], [1,1]. */
  static const struct {
    int rank;
    int64_t d[2];
  } cs[] = {{-1, {0}}, {0, {0}},    {1, {1}},    {1, {5}},
            {2, {1, 5}}, {2, {7, 1}}, {2, {7, 5}}, {2, {1, 1}}};
  qi_pool *pool = qi_pool_create(2);
  uint64_t seed = 500;
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++)
      for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++) {
        int act = (int)((ci + (size_t)ta * 3 + (size_t)tb) % 10);
        gemm_check_case(st, ta, tb, cs[ci].rank, cs[ci].d, act, NULL, seed++);
        gemm_check_case(st, ta, tb, cs[ci].rank, cs[ci].d, act, pool, seed++);
      }
  /* C that does not broadcast. */
  qi_graph *g = qi_graph_create();
  int64_t as[2] = {7, 13}, bs[2] = {13, 5}, cbad[1] = {7};
  qi_graph_add_node(g, "gemm_bad_c", "Gemm", "", 3, 1);
  g->nodes[0].in[0] = add_tensor(g, "A", 2, as, NULL, QI_FLOAT32);
  g->nodes[0].in[1] = add_tensor(g, "B", 2, bs, NULL, QI_FLOAT32);
  g->nodes[0].in[2] = add_tensor(g, "C", 1, cbad, NULL, QI_FLOAT32);
  g->nodes[0].out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  qi_error err = {0};
  QT_CHECK(st, qi_op_gemm.infer(g, &g->nodes[0], &err) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "gemm_bad_c") != NULL);
  qi_graph_free(g);
  qi_pool_free(pool);
}

/* ---- MatMul ------------------------------------------------------------ */

static void matmul_check_case(qt_state *st, int ra, const int64_t *ad,
                              int rb, const int64_t *bd, int act,
                              qi_pool *pool, uint64_t seed) {
  rng r = {seed};
  int64_t an = 1, bn = 1;
  for (int i = 0; i < ra; i++) an *= ad[i];
  for (int i = 0; i < rb; i++) bn *= bd[i];
  float *a = rnd_array(&r, an), *b = rnd_array(&r, bn);
  /* Reference: promote to [batch..., M, K] x [batch..., K, N]. */
  int64_t M = ra == 1 ? 1 : ad[ra - 2], K = ad[ra - 1];
  int64_t N = rb == 1 ? 1 : bd[rb - 1];
  int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0;
  int br = bra > brb ? bra : brb;
  int64_t bat[8], nbat = 1;
  for (int i = 0; i < br; i++) {
    int64_t x = i - (br - bra) >= 0 ? ad[i - (br - bra)] : 1;
    int64_t z = i - (br - brb) >= 0 ? bd[i - (br - brb)] : 1;
    bat[i] = x > z ? x : z;
    nbat *= bat[i];
  }
  int64_t yn = nbat * M * N;
  double *ref = malloc(sizeof(double) * (size_t)yn);
  float aa, bb;
  act_params(act, &aa, &bb);
  for (int64_t t = 0; t < nbat; t++) {
    int64_t ai = 0, bi = 0, rem = t, amul = 1, bmul = 1;
    for (int i = br - 1; i >= 0; i--) {
      int64_t idx = rem % bat[i];
      rem /= bat[i];
      int ia = i - (br - bra), ib = i - (br - brb);
      if (ia >= 0) {
        ai += (ad[ia] == 1 ? 0 : idx) * amul;
        amul *= ad[ia];
      }
      if (ib >= 0) {
        bi += (bd[ib] == 1 ? 0 : idx) * bmul;
        bmul *= bd[ib];
      }
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += (double)a[ai * M * K + i * K + k] * b[bi * K * N + k * N + j];
        ref[(t * M + i) * N + j] = act_ref(act, aa, bb, acc);
      }
  }
  char label[96];
  snprintf(label, sizeof label, "matmul_ra%d_rb%d_a%lld_b%lld", ra, rb,
           (long long)an, (long long)bn);
  qi_graph *g = qi_graph_create();
  int node = qi_graph_add_node(g, label, "MatMul", "", 2, 1);
  int t0 = add_tensor(g, "A", ra, ad, NULL, QI_FLOAT32);
  int t1 = add_tensor(g, "B", rb, bd, NULL, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = t0;
  n->in[1] = t1;
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  set_act(n, act);
  float *in[2] = {a, b}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_matmul, g, in, pool, -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", label, err.message);
  if (s == QI_OK) {
    int want_rank = br + (ra > 1) + (rb > 1);
    int ok = ys.rank == want_rank;
    for (int i = 0; ok && i < br; i++) ok = ys.d[i] == bat[i];
    if (ok && ra > 1) ok = ys.d[br] == M;
    if (ok && rb > 1) ok = ys.d[ys.rank - 1] == N;
    QT_CHECKF(st, ok, "%s: output shape (rank %d)", label, ys.rank);
    if (ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s: rel err %g", label, e);
    }
  }
  qi_graph_free(g);
  free(a);
  free(b);
  free(ref);
  free(y);
}

static void test_matmul(qt_state *st) {
  static const struct {
    int ra;
    int64_t a[4];
    int rb;
    int64_t b[4];
  } cs[] = {
      {1, {4}, 2, {4, 6}},                  /* 1-D x 2-D */
      {2, {3, 4}, 1, {4}},                  /* 2-D x 1-D */
      {1, {7}, 1, {7}},                     /* dot product: rank 0 */
      {4, {2, 1, 3, 4}, 3, {5, 4, 6}},      /* broadcast batch */
      {3, {2, 3, 4}, 2, {4, 5}},            /* batch folds into M */
      {2, {3, 4}, 3, {2, 4, 5}},            /* A broadcast over B's batch */
      {3, {2, 3, 4}, 3, {2, 4, 5}},
      {3, {1, 3, 4}, 3, {3, 4, 5}},
      {4, {2, 3, 5, 4}, 1, {4}},            /* batched x 1-D */
      {1, {4}, 3, {3, 4, 2}},               /* 1-D x batched */
      {3, {12, 17, 8}, 3, {12, 8, 17}},     /* many small heads */
      {3, {2, 70, 90}, 3, {2, 90, 65}},     /* batches above the small cut */
  };
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    int act = (int)(i % 10);
    matmul_check_case(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b, act, NULL,
                      600 + i);
    matmul_check_case(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b, act, pool,
                      700 + i);
  }
  qi_pool_free(pool);
  qi_graph *g = qi_graph_create();
  int64_t as[3] = {2, 3, 4}, bs[3] = {3, 4, 5};
  qi_graph_add_node(g, "matmul_bad_batch", "MatMul", "", 2, 1);
  g->nodes[0].in[0] = add_tensor(g, "A", 3, as, NULL, QI_FLOAT32);
  g->nodes[0].in[1] = add_tensor(g, "B", 3, bs, NULL, QI_FLOAT32);
  g->nodes[0].out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  qi_error err = {0};
  QT_CHECK(st, qi_op_matmul.infer(g, &g->nodes[0], &err) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "matmul_bad_batch") != NULL);
  qi_graph_free(g);
}

/* ---- depthwise kernels directly ---------------------------------------- */

static void test_dwconv_kernels(qt_state *st) {
  static const qi_f32_dw2d shapes[] = {
      /* in_h in_w out_h out_w kh kw sh sw dh dw pt pl */
      {9, 70, 9, 70, 3, 3, 1, 1, 1, 1, 1, 1},
      {9, 71, 5, 36, 3, 3, 2, 2, 1, 1, 1, 1},
      {10, 67, 4, 33, 3, 3, 2, 2, 1, 1, 0, 0},
      {12, 90, 12, 84, 7, 7, 1, 1, 1, 1, 3, 0},
      {8, 40, 8, 40, 5, 5, 1, 1, 2, 2, 4, 4},
      {7, 33, 3, 11, 3, 3, 3, 3, 1, 1, 1, 1},
      {3, 5, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1},
      {1, 100, 1, 50, 1, 4, 1, 2, 1, 1, 0, 1},
  };
  rng r = {900};
  qi_f32_dwconv2d_fn fns[2] = {qi_f32_dwconv2d__scalar,
                               qi_f32_conv_kernels_get().dwconv2d};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    const qi_f32_dw2d *p = &shapes[i];
    float *in = rnd_array(&r, p->in_h * p->in_w);
    float *w = rnd_array(&r, p->k_h * p->k_w);
    int64_t on = p->out_h * p->out_w;
    double *ref = malloc(sizeof(double) * (size_t)on);
    for (int64_t oh = 0; oh < p->out_h; oh++)
      for (int64_t ow = 0; ow < p->out_w; ow++) {
        double acc = 0.25;
        for (int64_t kh = 0; kh < p->k_h; kh++)
          for (int64_t kw = 0; kw < p->k_w; kw++) {
            int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
            int64_t iw = ow * p->stride_w - p->pad_l + kw * p->dil_w;
            if (ih >= 0 && ih < p->in_h && iw >= 0 && iw < p->in_w)
              acc += (double)in[ih * p->in_w + iw] * w[kh * p->k_w + kw];
          }
        ref[oh * p->out_w + ow] = acc;
      }
    for (int f = 0; f < 2; f++) {
      float *out = malloc(sizeof(float) * (size_t)on);
      fns[f](p, in, w, 0.25f, out);
      double e = rel_err(out, ref, on);
      QT_CHECKF(st, e <= REL_TOL, "dw shape %zu variant %d: rel err %g", i, f,
                e);
      free(out);
    }
    free(in);
    free(w);
    free(ref);
  }
}

/* ---- implicit-GEMM microkernel ------------------------------------------ */

/* Every mr x nr tile shape, both write modes: scalar and dispatched
 * variants against a float64 sum, B packed from rows at scattered offsets
 * (as taps of a padded image are). C is exact-sized so ASan sees a write
 * past the tile. */
static void test_gemm_ukernel(qt_state *st) {
  enum { KC = 37, LDC = 19, BLEN = 400 };
  rng r = {4321};
  float *a = rnd_array(&r, KC * 6), *b = rnd_array(&r, BLEN);
  float *bp = malloc(sizeof(float) * KC * 16);
  int64_t boff[KC];
  for (int k = 0; k < KC; k++) boff[k] = (k * 53) % (BLEN - 16);
  qi_f32_gemm_ukernel_fn fns[2] = {qi_f32_gemm_ukernel_6x16__scalar,
                                   qi_f32_conv_kernels_get().gemm_ukernel};
  int bad = 0;
  for (int f = 0; f < 2; f++)
    for (size_t mr = 1; mr <= 6; mr++)
      for (size_t nr = 1; nr <= 16; nr++)
        for (int accum = 0; accum < 2; accum++) {
          qi_f32_pack_src src = {b, boff, 1000, 0, 1};
          qi_f32_gemm_pack_b_16__scalar(&src, KC, 0, nr, bp);
          for (size_t k = 0; k < KC; k++)
            for (size_t j = nr; j < 16; j++) bad += bp[k * 16 + j] != 0.0f;
          float *c = malloc(sizeof(float) * ((mr - 1) * LDC + nr));
          double ref[6][16];
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) {
              c[i * LDC + j] = 0.5f * (float)(i + j);
              double acc = accum ? 0.5 * (double)(i + j) : 0.0;
              for (int k = 0; k < KC; k++)
                acc += (double)a[k * 6 + i] * b[boff[k] + (int64_t)j];
              ref[i][j] = acc;
            }
          fns[f](KC, a, bp, c, LDC, mr, nr, accum);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++)
              if (!(fabs(c[i * LDC + j] - ref[i][j]) <=
                    REL_TOL * (fabs(ref[i][j]) + 1.0)))
                bad++;
          free(c);
        }
  QT_CHECKF(st, bad == 0, "%d microkernel outputs out of tolerance", bad);
  free(a);
  free(b);
  free(bp);
}

/* The B packers: columns walk output rows of an image (strides 1, 2, 3,
 * runs cut at row ends, unaligned starts, partial last panel); the
 * dispatched packer must equal the scalar one bit for bit, and both the
 * direct index formula. The image is exact-sized for ASan. */
static void test_pack_b(qt_state *st) {
  enum { H = 9, W = 23, KC = 5 };
  rng r = {99};
  float *img = rnd_array(&r, H * W);
  int64_t boff[KC] = {0, 1, W, W + 2, 2 * W + 1};
  qi_f32_gemm_pack_b_fn fns[2] = {qi_f32_gemm_pack_b_16__scalar,
                                  qi_f32_conv_kernels_get().pack_b};
  int bad = 0;
  for (int64_t sw = 1; sw <= 3; sw++) {
    int64_t ow = (W - 3) / sw + 1, oh = (H - 3) / 1 + 1;
    for (int64_t j0 = 0; j0 < 40; j0 += 13)
      for (size_t n = 1; n <= 45 && j0 + (int64_t)n <= oh * ow; n += 11) {
        size_t panels = (n + 15) / 16;
        float *out[2];
        for (int f = 0; f < 2; f++) {
          out[f] = malloc(sizeof(float) * panels * KC * 16);
          qi_f32_pack_src src = {img, boff, ow, W, sw};
          fns[f](&src, KC, j0, n, out[f]);
        }
        for (size_t k = 0; k < KC; k++)
          for (size_t c = 0; c < panels * 16; c++) {
            size_t at = c / 16 * KC * 16 + k * 16 + c % 16;
            float want = 0.0f;
            if (c < n) {
              int64_t j = j0 + (int64_t)c;
              want = img[boff[k] + j / ow * W + j % ow * sw];
            }
            bad += out[0][at] != want || out[1][at] != want;
          }
        free(out[0]);
        free(out[1]);
      }
  }
  QT_CHECKF(st, bad == 0, "%d packed values differ", bad);
  free(img);
}

/* ---- bias / residual / activation kernels ------------------------------ */

static void test_bias_act_kernels(qt_state *st) {
  /* Wide range, the exp clamp region and exact zeros; 203 is not a
   * multiple of 8 so the masked tail runs. */
  enum { N = 203 };
  float src[N], res[N], dst[N];
  rng r = {1234};
  for (int i = 0; i < N; i++) {
    src[i] = 30.0f * rnd(&r);
    res[i] = rnd(&r);
  }
  const float special[] = {0.0f, -0.0f, 1e-6f, -1e-6f, 0.62f, -0.63f,
                           87.5f, -87.5f, 100.0f, -100.0f, 3.0f, -3.0f};
  for (size_t i = 0; i < sizeof special / sizeof *special; i++)
    src[i] = special[i];
  qi_f32_bias_act_fn fns[2] = {qi_f32_bias_act__scalar,
                               qi_f32_conv_kernels_get().bias_act};
  for (int kind = QI_F32_ACT_NONE; kind <= QI_F32_ACT_TANH; kind++)
    for (int f = 0; f < 2; f++)
      for (int with_res = 0; with_res < 2; with_res++) {
        qi_f32_act a = {kind, 0, 0};
        act_params(kind, &a.alpha, &a.beta);
        const float bias = 0.375f;
        /* In place on the residual, as the fused Add may be planned. */
        memcpy(dst, res, sizeof dst);
        fns[f](&a, bias, src, with_res ? dst : NULL, dst, N);
        int bad = -1;
        for (int i = 0; i < N && bad < 0; i++) {
          float x = src[i] + bias;
          if (with_res) x = x + res[i];
          double ref = act_ref(kind, a.alpha, a.beta, (double)x);
          /* NaN compares false: counts as out of tolerance. */
          if (!(fabs(dst[i] - ref) <= ACT_ABS_TOL + REL_TOL * fabs(ref)))
            bad = i;
        }
        QT_CHECKF(st, bad < 0, "act %d variant %d res %d: element %d", kind,
                  f, with_res, bad);
      }
}

/* ---- timing (printed, never asserted) ---------------------------------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void time_conv(const conv_case *cc, qi_pool *pool, const char *what) {
  rng r = {42};
  int64_t xn = cc->n * cc->c * cc->in[0] * cc->in[1];
  int64_t wn = cc->m * cc->c / cc->group * cc->k[0] * cc->k[1];
  float *x = rnd_array(&r, xn), *w = rnd_array(&r, wn);
  float *b = rnd_array(&r, cc->m);
  qi_graph *g = conv_graph(cc, w, b, QI_FLOAT32);
  qi_node *n = &g->nodes[0];
  n->op = &qi_op_conv;
  qi_error err = {0};
  if (qi_op_conv.infer(g, n, &err) != QI_OK ||
      qi_op_conv.prepare(g, n, &err) != QI_OK) {
    printf("timing %s: %s\n", what, err.message);
    qi_graph_free(g);
    free(x);
    free(w);
    free(b);
    return;
  }
  int nth = qi_pool_size(pool);
  size_t sb = qi_op_conv.scratch_bytes(g, n, nth);
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  const qi_tensor *yt = &g->tensors[n->out[0]];
  int64_t yn = qi_shape_numel(&yt->shape);
  float *y = malloc(sizeof(float) * (size_t)yn);
  qi_buf in[3] = {{QI_FLOAT32, g->tensors[n->in[0]].shape, x},
                  {QI_FLOAT32, g->tensors[n->in[1]].shape, w},
                  {QI_FLOAT32, g->tensors[n->in[2]].shape, b}};
  qi_buf ob = {QI_FLOAT32, yt->shape, y};
  qi_run_ctx ctx = {pool, nth, scratch, sb, &err};
  double best = 1e30;
  for (int rep = 0; rep < 6; rep++) {
    double t0 = now_s();
    qi_op_conv.run(&ctx, n, in, &ob);
    double t = now_s() - t0;
    if (t < best) best = t;
  }
  double flop = 2.0 * (double)yn * (double)(cc->c / cc->group) *
                (double)(cc->k[0] * cc->k[1]);
  printf("timing %s (pool %d): %.3f ms, %.1f GFLOP/s\n", what, nth,
         best * 1e3, flop / best * 1e-9);
  free(scratch);
  free(y);
  qi_graph_free(g);
  free(x);
  free(w);
  free(b);
}

static void print_timing(void) {
  conv_case rn = {"resnet_3x3", 2, 1, 64, 64, 1, {56, 56}, {3, 3}, {0}, {0},
                  {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0};
  conv_case dw = {"mbv2_dw3x3", 2, 1, 144, 144, 144, {56, 56}, {3, 3}, {0},
                  {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0};
  qi_pool *pool = qi_pool_create(2);
  time_conv(&rn, NULL, "conv 64x56x56->64 3x3");
  time_conv(&rn, pool, "conv 64x56x56->64 3x3");
  time_conv(&dw, pool, "depthwise 144x56x56 3x3");
  qi_pool_free(pool);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_conv_single_thread);
  QT_RUN(&st, test_conv_pool2);
  QT_RUN(&st, test_conv_scalar_isa);
  QT_RUN(&st, test_conv_errors);
  QT_RUN(&st, test_conv_transpose);
  QT_RUN(&st, test_gemm);
  QT_RUN(&st, test_matmul);
  QT_RUN(&st, test_dwconv_kernels);
  QT_RUN(&st, test_bias_act_kernels);
  QT_RUN(&st, test_gemm_ukernel);
  QT_RUN(&st, test_pack_b);
  print_timing();
  return qt_summary(&st);
}
