/*
 * QiQConv: the INT8 convolution of the lowered graph (lib/quant/README.md)
 * over the uint8 x int8 driver of core/qconv.h.
 *   inputs   x  uint8 NHWC [N, H, W, C]
 *            W  int8 const [Co, C/group, kh, kw], quant.axis 0 with Co
 *               scales (or one per-tensor scale)
 *            B  int32 const [Co] in the accumulator scale sx * sw[c]
 *               (not zero-point folded: packing folds it), optional
 *            R  uint8 NHWC residual of the output's shape, optional
 *   attrs    strides (2), pads (4: top, left, bottom, right), dilations
 *            (2), group, qmin, qmax, out_f32
 *   output   uint8 NHWC [N, oh, ow, Co], or with out_f32 = 1 float32 NCHW
 *            [N, Co, oh, ow]
 * With the scales of x, W, the output y and R read from the graph at
 * prepare (conv/conv.h, gemm/gemm.h for the arithmetic):
 *   mult[c] = (float)(sx * sw[c] / sy)   uint8 output (double, rounded once)
 *           = (float)(sx * sw[c])        float output
 *   rmult   = (float)(sr / sy)
 * A float output is computed NHWC into scratch and transposed, an exact
 * copy. The packed state is immutable after prepare.
 */
#include <stdlib.h>
#include <string.h>

#include "core/qconv.h"
#include "ops/qop_util.h"

typedef struct qconv_state {
  qi_qconv_packed *pk;
  qi_requant_params rp; /* residual pointer filled in per run */
  int has_res;
  int64_t n, h, w, c_in, c_out, oh, ow;
} qconv_state;

static int has_residual(const qi_node *n) { return n->nin > 3 && n->in[3] >= 0; }

/* An INTS attribute of `count` values each in [lo, hi], or `def` (count
 * values) when absent. */
static qi_status ints_attr(const qi_node *n, const char *name, int count,
                           int64_t def, int64_t lo, int64_t *v,
                           qi_error *err) {
  const qi_attr *a = qi_attr_find(n, name);
  if (!a) {
    for (int i = 0; i < count; i++) v[i] = def;
    return QI_OK;
  }
  if (a->type != QI_ATTR_INTS || a->n != count)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiQConv): attribute '%s' must be %d ints",
                   n->name, name, count);
  for (int i = 0; i < count; i++) {
    if (a->ints[i] < lo || a->ints[i] > QI_CONV_MAX_DIM)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (QiQConv): attribute '%s'[%d] = %lld is "
                     "outside %lld..%lld",
                     n->name, name, i, (long long)a->ints[i], (long long)lo,
                     (long long)QI_CONV_MAX_DIM);
    v[i] = a->ints[i];
  }
  return QI_OK;
}

typedef struct qconv_attrs {
  int64_t strides[2], pads[4], dil[2], group;
  int32_t qmin, qmax;
  int out_f32;
} qconv_attrs;

static qi_status attrs_read(const qi_node *n, qconv_attrs *a, qi_error *err) {
  QI_TRY(ints_attr(n, "strides", 2, 1, 1, a->strides, err));
  QI_TRY(ints_attr(n, "pads", 4, 0, 0, a->pads, err));
  QI_TRY(ints_attr(n, "dilations", 2, 1, 1, a->dil, err));
  QI_TRY(qi_qop_int_attr(n, "group", 1, 1, QI_CONV_MAX_DIM, &a->group, err));
  QI_TRY(qi_qop_clamp_attrs(n, &a->qmin, &a->qmax, err));
  int64_t f;
  QI_TRY(qi_qop_int_attr(n, "out_f32", 0, 0, 1, &f, err));
  a->out_f32 = (int)f;
  const char *ap = qi_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(ap, "NOTSET") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiQConv): auto_pad '%s'; explicit pads are "
                   "needed",
                   n->name, ap);
  return QI_OK;
}

static qi_status qconv_check(const qi_graph *g, const qi_node *n,
                             qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 4, err));
  QI_TRY(qi_qop_check_one_output(n, err));
  qconv_attrs a;
  QI_TRY(attrs_read(n, &a, err));
  if (a.out_f32 && has_residual(n))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiQConv): a residual input needs uint8 output "
                   "(out_f32 = 0)",
                   n->name);
  return QI_OK;
}

/* The driver's geometry from the input and weight shapes and the attrs;
 * za is filled in by prepare. */
static qi_status geometry(const qi_node *n, const qi_shape *x,
                          const qi_shape *w, const qconv_attrs *a,
                          qi_u8s8_conv_params *p, qi_error *err) {
  char sx[96], sw[96];
  if (x->rank != 4 || w->rank != 4)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiQConv): input %s (NHWC) and weights %s "
                   "(OIHW) must be rank 4",
                   n->name, qi_shape_str(x, sx, sizeof sx),
                   qi_shape_str(w, sw, sizeof sw));
  memset(p, 0, sizeof *p);
  p->n = x->d[0];
  p->h = x->d[1];
  p->w = x->d[2];
  p->c_in = x->d[3];
  p->c_out = w->d[0];
  p->groups = a->group;
  p->kh = w->d[2];
  p->kw = w->d[3];
  p->stride_h = a->strides[0];
  p->stride_w = a->strides[1];
  p->dil_h = a->dil[0];
  p->dil_w = a->dil[1];
  p->pad_t = a->pads[0];
  p->pad_l = a->pads[1];
  p->pad_b = a->pads[2];
  p->pad_r = a->pads[3];
  if (p->c_in % a->group != 0 || w->d[1] != p->c_in / a->group)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiQConv): weights %s do not fit input %s "
                   "(NHWC) with group %lld",
                   n->name, qi_shape_str(w, sw, sizeof sw),
                   qi_shape_str(x, sx, sizeof sx), (long long)a->group);
  const int64_t *ks = NULL;
  int nks = qi_attr_ints(n, "kernel_shape", &ks);
  if (nks >= 0 && (nks != 2 || ks[0] != p->kh || ks[1] != p->kw))
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiQConv): kernel_shape does not match weights "
                   "%s",
                   n->name, qi_shape_str(w, sw, sizeof sw));
  const char *why = qi_u8s8_conv_derive(p);
  if (why)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiQConv): %s (input %s NHWC, weights %s)",
                   n->name, why, qi_shape_str(x, sx, sizeof sx),
                   qi_shape_str(w, sw, sizeof sw));
  return QI_OK;
}

static qi_shape out_shape(const qi_u8s8_conv_params *p, int out_f32) {
  qi_shape s = {.rank = 4};
  s.d[0] = p->n;
  if (out_f32) {
    s.d[1] = p->c_out;
    s.d[2] = p->out_h;
    s.d[3] = p->out_w;
  } else {
    s.d[1] = p->out_h;
    s.d[2] = p->out_w;
    s.d[3] = p->c_out;
  }
  return s;
}

static int same_shape(const qi_shape *a, const qi_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

/* The node checked, its attributes and the driver's geometry, as infer and
 * prepare both need them. */
static qi_status plan(const qi_graph *g, const qi_node *n, qconv_attrs *a,
                      qi_u8s8_conv_params *p, qi_error *err) {
  QI_TRY(qconv_check(g, n, err));
  QI_TRY(attrs_read(n, a, err));
  QI_TRY(qi_qop_expect_dtype(g, n, 0, QI_UINT8, "input x", err));
  QI_TRY(qi_qop_expect_dtype(g, n, 1, QI_INT8, "weights W", err));
  return geometry(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), a, p, err);
}

static qi_status qconv_infer(qi_graph *g, qi_node *n, qi_error *err) {
  qconv_attrs a;
  qi_u8s8_conv_params p;
  QI_TRY(plan(g, n, &a, &p, err));
  const qi_shape *b = qi_in_shape(g, n, 2);
  if (b) {
    QI_TRY(qi_qop_expect_dtype(g, n, 2, QI_INT32, "bias B", err));
    if (b->rank != 1 || b->d[0] != p.c_out)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (QiQConv): bias must have shape [%lld]",
                     n->name, (long long)p.c_out);
  }
  qi_shape y = out_shape(&p, a.out_f32);
  if (has_residual(n)) {
    QI_TRY(qi_qop_expect_dtype(g, n, 3, QI_UINT8, "residual R", err));
    if (!same_shape(qi_in_shape(g, n, 3), &y)) {
      char sr[96], sy[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (QiQConv): residual %s must match the output "
                     "%s (NHWC)",
                     n->name, qi_shape_str(qi_in_shape(g, n, 3), sr, sizeof sr),
                     qi_shape_str(&y, sy, sizeof sy));
    }
  }
  qi_set_output(g, n, 0, a.out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static void qconv_free_state(void *state) {
  qconv_state *s = state;
  if (!s) return;
  qi_qconv_free(s->pk);
  free(s);
}

/* Scales, multipliers and weight checks, then the packing. `mult` holds
 * c_out floats of scratch. */
static qi_status pack(const qi_graph *g, const qi_node *n,
                      const qconv_attrs *a, qi_u8s8_conv_params *p,
                      float *mult, qconv_state *s, qi_error *err) {
  qi_u8_quant qx, qy = {0.0, 0}, qr = {0.0, 0};
  QI_TRY(qi_qop_in_quant(g, n, 0, &qx, err));
  if (!a->out_f32) QI_TRY(qi_qop_out_quant(g, n, &qy, err));
  if (s->has_res) QI_TRY(qi_qop_in_quant(g, n, 3, &qr, err));
  p->za = qx.zero;
  const int64_t wcount = p->c_out * (p->c_in / p->groups) * p->kh * p->kw;
  const qi_tensor *wt, *bt = NULL;
  QI_TRY(qi_qop_const_input(g, n, 1, QI_INT8, wcount, "weights W", &wt,
                            err));
  if (n->nin > 2 && n->in[2] >= 0)
    QI_TRY(qi_qop_const_input(g, n, 2, QI_INT32, p->c_out, "bias B", &bt,
                              err));
  const int32_t *bias = bt ? bt->data : NULL;
  QI_TRY(qi_qop_check_symmetric(n, wt, wcount, p->c_out, err));
  QI_TRY(qi_qop_weight_mults(g, n, 1, p->c_out, qx.scale,
                             a->out_f32 ? 0.0 : qy.scale, mult, err));
  s->rp = qi_requant_params_default();
  s->rp.out_f32 = a->out_f32;
  if (!a->out_f32) {
    s->rp.zy = qy.zero;
    s->rp.qmin = a->qmin;
    s->rp.qmax = a->qmax;
  }
  if (s->has_res) {
    QI_TRY(qi_qop_residual_mult(n, qr.scale, qy.scale, &s->rp.rmult, err));
    s->rp.zr = qr.zero;
    s->rp.ldr = (size_t)p->c_out;
  }
  qi_status st = qi_qconv_pack(p, wt->data, bias, mult, NULL, NULL, &s->pk, err);
  if (st != QI_OK && err)
    qi_error_prefix(err, "node '%s' (QiQConv)", n->name);
  return st;
}

static qi_status qconv_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  qconv_attrs a;
  qi_u8s8_conv_params p;
  QI_TRY(plan(g, n, &a, &p, err));
  qconv_state *s = calloc(1, sizeof *s);
  float *mult = malloc(sizeof(float) * (size_t)p.c_out);
  if (!s || !mult) {
    free(s);
    free(mult);
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (QiQConv): out of memory",
                   n->name);
  }
  s->has_res = has_residual(n);
  qi_status st = pack(g, n, &a, &p, mult, s, err);
  free(mult);
  if (st != QI_OK) {
    qconv_free_state(s);
    return st;
  }
  const qi_u8s8_conv_params *d = qi_qconv_params(s->pk);
  s->n = d->n;
  s->h = d->h;
  s->w = d->w;
  s->c_in = d->c_in;
  s->c_out = d->c_out;
  s->oh = d->out_h;
  s->ow = d->out_w;
  qconv_free_state(n->state);
  n->state = s;
  return QI_OK;
}

/* Float output: the NHWC result lands in the first slice of scratch. */
static size_t f32_slice(const qconv_state *s) {
  return s->rp.out_f32 ? qi_qop_align64((size_t)(s->n * s->oh * s->ow) *
                                        (size_t)s->c_out * sizeof(float))
                       : 0;
}

static size_t state_scratch(const qconv_state *s, int nthreads) {
  return f32_slice(s) + qi_qconv_workspace_size(s->pk, nthreads);
}

static size_t qconv_scratch_bytes(const qi_graph *g, const qi_node *n,
                                  int nthreads) {
  (void)g;
  /* Unprepared, the node cannot run at all (run says so). */
  return n->state ? state_scratch(n->state, nthreads) : 0;
}

static qi_status qconv_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qconv_state *s = n->state;
  const qi_shape *x = &in[0].shape;
  if (in[0].dtype != QI_UINT8 || !in[0].data || !out[0].data ||
      out[0].dtype != (s->rp.out_f32 ? QI_FLOAT32 : QI_UINT8) ||
      x->rank != 4 || x->d[0] != s->n || x->d[1] != s->h || x->d[2] != s->w ||
      x->d[3] != s->c_in ||
      (s->has_res && (in[3].dtype != QI_UINT8 || !in[3].data)))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiQConv): run buffers differ from the ones "
                   "prepared",
                   n->name);
  size_t need = state_scratch(s, qi_pool_size(ctx->pool));
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiQConv): scratch of %zu bytes given, %zu "
                   "needed",
                   n->name, ctx->scratch_bytes, need);
  qi_requant_params rp = s->rp;
  if (s->has_res) rp.residual = in[3].data;
  size_t f32 = f32_slice(s);
  void *y = f32 ? ctx->scratch : out[0].data;
  unsigned char *ws = f32 ? (unsigned char *)ctx->scratch + f32
                          : (unsigned char *)ctx->scratch;
  qi_status st = qi_qconv_run(s->pk, in[0].data, (size_t)s->c_in, &rp, y,
                              (size_t)s->c_out, ctx->pool, ws,
                              ctx->scratch_bytes - f32, ctx->err);
  if (st != QI_OK) {
    if (ctx->err) qi_error_prefix(ctx->err, "node '%s' (QiQConv)", n->name);
    return st;
  }
  if (f32)
    qi_qop_nhwc_to_nchw_f32(ctx->pool, y, out[0].data, s->n, s->oh * s->ow,
                            s->c_out);
  return QI_OK;
}

const qi_op_def qi_op_qconv = {
    .op_type = "QiQConv",
    .check = qconv_check,
    .infer = qconv_infer,
    .prepare = qconv_prepare,
    .free_state = qconv_free_state,
    .scratch_bytes = qconv_scratch_bytes,
    .run = qconv_run,
    .foldable = 0,
};
