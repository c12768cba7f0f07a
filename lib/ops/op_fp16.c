/*
 * The FP16 ops of the lowered graph (lib/quant/lower_fp16.c): fp16
 * (IEEE binary16) activations in NCHW, the FP32 layout, fp16 weights,
 * float32 arithmetic (kernels/fp16/).
 *
 *   QiToHalf    x f32 -> y f16, same shape, RNE (NaN stays NaN, beyond
 *               65504 rounds to Inf)
 *   QiFromHalf  x f16 -> y f32, exact
 *   QiHConv     x f16 [N, C, H, W], W f16 const [Co, C/group, kh, kw],
 *               B f32 [Co] (optional), R f16 residual of the output's
 *               shape (optional, input 3); attrs strides (2), pads (4),
 *               dilations (2), group, qi_act / qi_act_alpha / qi_act_beta
 *               (none, Relu or Clip), out_f32
 *               y = act(conv(x, W) + B + R), f16 [N, Co, oh, ow] (f32 when
 *               out_f32 = 1)
 *   QiHMatMul   a f16 [..., K], W f16 const [N, K], B f32 [N] (optional);
 *               attrs qi_act..., out_f32; y = act(a W^T + B), [..., N]
 *
 * Weights are packed at prepare (fp16); the packed state is immutable.
 * Depthwise convolutions (one input channel per group) run plane by plane
 * on the unpacked weights.
 */
#include <stdlib.h>
#include <string.h>

#include "core/cpu_features.h"
#include "fp16/conv.h"
#include "fp16/gemm.h"
#include "fp32/bias_act.h"
#include "ops/conv_geom.h"
#include "ops/op.h"

#define F16_ALIGN 64
/* Elements per task of a conversion. */
#define F16_CVT_CHUNK ((int64_t)1 << 14)
/* Tasks a convolution aims for when one image has few pixel blocks. */
#define F16_CONV_MIN_TASKS 8

static size_t align_up(size_t n) {
  return (n + F16_ALIGN - 1) & ~(size_t)(F16_ALIGN - 1);
}

/* The kernel set for this CPU; QINFER_ISA=scalar forces the scalar one
 * (as for the FP32 kernels). */
static qi_f16_kernels f16_kernels(void) {
  const qi_cpu_features *f = qi_cpu_features_get();
  qi_isa isa = qi_cpu_features_best(f);
  const char *force = getenv("QINFER_ISA");
  qi_isa want;
  if (force && *force && qi_isa_parse(force, &want, NULL) == QI_OK &&
      qi_cpu_features_have(f, want))
    isa = want;
  return isa >= QI_ISA_AVX2 ? qi_f16_kernels_f16c() : qi_f16_kernels_scalar();
}

static qi_status expect_dtype(const qi_graph *g, const qi_node *n, int k,
                              qi_dtype dt, const char *what, qi_error *err) {
  qi_dtype have = qi_in_dtype(g, n, k);
  if (have != dt)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): %s has dtype %s, expected %s", n->name,
                   n->op_type, what, qi_dtype_name(have), qi_dtype_name(dt));
  return QI_OK;
}

static qi_status one_output(const qi_node *n, qi_error *err) {
  if (n->nout != 1 || n->out[0] < 0)
    return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): needs one output",
                   n->name, n->op_type);
  return QI_OK;
}

/* ---- QiToHalf / QiFromHalf --------------------------------------------- */

static int to_half(const qi_node *n) {
  return strcmp(n->op_type, "QiToHalf") == 0;
}

static qi_status cvt_check(const qi_graph *g, const qi_node *n, qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  return one_output(n, err);
}

static qi_status cvt_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(cvt_check(g, n, err));
  int th = to_half(n);
  QI_TRY(expect_dtype(g, n, 0, th ? QI_FLOAT32 : QI_FLOAT16, "input", err));
  qi_set_output(g, n, 0, th ? QI_FLOAT16 : QI_FLOAT32, qi_in_shape(g, n, 0));
  return QI_OK;
}

typedef struct cvt_job {
  qi_f16_kernels k;
  const void *x;
  void *y;
  int64_t count;
  int th;
} cvt_job;

static void cvt_task(void *arg, size_t t, int thread) {
  (void)thread;
  const cvt_job *j = arg;
  int64_t i0 = (int64_t)t * F16_CVT_CHUNK;
  size_t len =
      (size_t)(j->count - i0 < F16_CVT_CHUNK ? j->count - i0 : F16_CVT_CHUNK);
  if (j->th)
    j->k.from_f32((const float *)j->x + i0, (uint16_t *)j->y + i0, len);
  else
    j->k.to_f32((const uint16_t *)j->x + i0, (float *)j->y + i0, len);
}

static qi_status cvt_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  int th = to_half(n);
  int64_t count = qi_shape_numel(&in[0].shape);
  if (in[0].dtype != (th ? QI_FLOAT32 : QI_FLOAT16) ||
      out[0].dtype != (th ? QI_FLOAT16 : QI_FLOAT32) || count < 0 ||
      count != qi_shape_numel(&out[0].shape) ||
      (count > 0 && (!in[0].data || !out[0].data)))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): buffers do not match the inferred types",
                   n->name, n->op_type);
  cvt_job j = {f16_kernels(), in[0].data, out[0].data, count, th};
  qi_pool_run(ctx->pool, cvt_task, &j,
              (size_t)((count + F16_CVT_CHUNK - 1) / F16_CVT_CHUNK));
  return QI_OK;
}

const qi_op_def qi_op_to_half = {.op_type = "QiToHalf",
                                 .check = cvt_check,
                                 .infer = cvt_infer,
                                 .run = cvt_run,
                                 .foldable = 0};
const qi_op_def qi_op_from_half = {.op_type = "QiFromHalf",
                                   .check = cvt_check,
                                   .infer = cvt_infer,
                                   .run = cvt_run,
                                   .foldable = 0};

/* ---- shared by QiHConv and QiHMatMul --------------------------------------
 */

/* The fused activation (none, Relu, Clip) and out_f32. */
static qi_status read_epilogue(const qi_node *n, qi_f16_act *act, int *out_f32,
                               qi_error *err) {
  qi_act_params a = qi_node_act(n);
  if (a.act != QI_ACT_NONE && a.act != QI_ACT_RELU && a.act != QI_ACT_CLIP)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): fused activation %d; FP16 ops fuse only "
                   "Relu and Clip",
                   n->name, n->op_type, (int)a.act);
  act->kind = a.act == QI_ACT_RELU   ? QI_F32_ACT_RELU
              : a.act == QI_ACT_CLIP ? QI_F32_ACT_CLIP
                                     : QI_F32_ACT_NONE;
  act->alpha = a.alpha;
  act->beta = a.beta;
  int64_t f = qi_attr_int(n, "out_f32", 0);
  if (f != 0 && f != 1)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): out_f32 = %lld (0 or 1)", n->name,
                   n->op_type, (long long)f);
  *out_f32 = (int)f;
  return QI_OK;
}

static int has_input(const qi_node *n, int k) {
  return n->nin > k && n->in[k] >= 0;
}

static const uint16_t *const_f16(const qi_graph *g, const qi_node *n, int k) {
  const qi_tensor *t = &g->tensors[n->in[k]];
  int64_t numel = qi_shape_numel(&t->shape);
  if (t->kind != QI_TK_CONST || t->dtype != QI_FLOAT16 || !t->data ||
      numel < 1 || t->nbytes != (size_t)numel * 2)
    return NULL;
  return t->data;
}

static qi_status bias_check(const qi_graph *g, const qi_node *n, int64_t len,
                            qi_error *err) {
  if (!has_input(n, 2)) return QI_OK;
  QI_TRY(expect_dtype(g, n, 2, QI_FLOAT32, "bias", err));
  const qi_shape *b = qi_in_shape(g, n, 2);
  if (b->rank != 1 || b->d[0] != len)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): bias must have shape [%lld]", n->name,
                   n->op_type, (long long)len);
  return QI_OK;
}

/* ---- QiHConv
 * ------------------------------------------------------------------ */

typedef struct hconv_state {
  qi_conv_geom geo;
  int depthwise;
  qi_f16_conv_plan plan; /* GEMM path */
  uint16_t *wpack;       /* owned */
  int64_t *boff;         /* owned */
  qi_f32_dw2d dw;        /* depthwise path */
  qi_f16_act act;
  int out_f32;
} hconv_state;

static qi_status hconv_check(const qi_graph *g, const qi_node *n,
                             qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 4, err));
  QI_TRY(one_output(n, err));
  qi_f16_act act;
  int f32;
  QI_TRY(read_epilogue(n, &act, &f32, err));
  const char *ap = qi_attr_str(n, "auto_pad", "NOTSET");
  if (strcmp(ap, "NOTSET") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiHConv): auto_pad '%s'; explicit pads are "
                   "needed",
                   n->name, ap);
  return QI_OK;
}

/* Geometry, depthwise or not, and the plan; shapes from the graph. */
static qi_status hconv_make(const qi_node *n, const qi_shape *x,
                            const qi_shape *w, hconv_state *s, qi_error *err) {
  char a[96], b[96];
  memset(s, 0, sizeof *s);
  if (x->rank != 4 || w->rank != 4)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiHConv): input %s and weights %s must be "
                   "rank 4 (2-D convolution)",
                   n->name, qi_shape_str(x, a, sizeof a),
                   qi_shape_str(w, b, sizeof b));
  QI_TRY(qi_conv_geom_make(n, x, w, 0, &s->geo, err));
  QI_TRY(read_epilogue(n, &s->act, &s->out_f32, err));
  const qi_conv_geom *g = &s->geo;
  if (g->cin / g->group == 1) {
    s->depthwise = 1;
    s->dw = (qi_f32_dw2d){.in_h = g->in[1],
                          .in_w = g->in[2],
                          .out_h = g->out[1],
                          .out_w = g->out[2],
                          .k_h = g->k[1],
                          .k_w = g->k[2],
                          .stride_h = g->stride[1],
                          .stride_w = g->stride[2],
                          .dil_h = g->dil[1],
                          .dil_w = g->dil[2],
                          .pad_t = g->pad_b[1],
                          .pad_l = g->pad_b[2]};
    qi_f32_dw2d_derive(&s->dw);
    return QI_OK;
  }
  qi_f16_conv_shape cs = {g->cin,     g->cout,      g->group,     g->in[1],
                          g->in[2],   g->out[1],    g->out[2],    g->k[1],
                          g->k[2],    g->stride[1], g->stride[2], g->dil[1],
                          g->dil[2],  g->pad_b[1],  g->pad_b[2],  g->pad_e[1],
                          g->pad_e[2]};
  if (!qi_f16_conv_plan_make(&cs, F16_CONV_MIN_TASKS, &s->plan))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiHConv): input %s with weights %s is beyond "
                   "the FP16 convolution's sizes",
                   n->name, qi_shape_str(x, a, sizeof a),
                   qi_shape_str(w, b, sizeof b));
  return QI_OK;
}

static qi_status hconv_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(hconv_check(g, n, err));
  QI_TRY(expect_dtype(g, n, 0, QI_FLOAT16, "input X", err));
  QI_TRY(expect_dtype(g, n, 1, QI_FLOAT16, "weights W", err));
  hconv_state s;
  QI_TRY(hconv_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), &s, err));
  QI_TRY(bias_check(g, n, s.geo.cout, err));
  qi_shape out = qi_conv_geom_out_shape(&s.geo);
  if (has_input(n, 3)) {
    QI_TRY(expect_dtype(g, n, 3, QI_FLOAT16, "residual R", err));
    const qi_shape *r = qi_in_shape(g, n, 3);
    int same = r->rank == out.rank;
    for (int i = 0; same && i < out.rank; i++) same = r->d[i] == out.d[i];
    if (!same) {
      char a[96], b[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (QiHConv): residual %s must match the output "
                     "%s",
                     n->name, qi_shape_str(r, a, sizeof a),
                     qi_shape_str(&out, b, sizeof b));
    }
  }
  qi_set_output(g, n, 0, s.out_f32 ? QI_FLOAT32 : QI_FLOAT16, &out);
  return QI_OK;
}

static void hconv_free_state(void *state) {
  hconv_state *s = state;
  if (!s) return;
  free(s->wpack);
  free(s->boff);
  free(s);
}

static qi_status hconv_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  if (!const_f16(g, n, 1))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiHConv): weights must be a float16 constant",
                   n->name);
  hconv_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (QiHConv): out of memory",
                   n->name);
  qi_status st =
      hconv_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), s, err);
  if (st == QI_OK && !s->depthwise) {
    size_t nw = qi_f16_conv_packed_halves(&s->plan);
    s->wpack = malloc(sizeof(uint16_t) * (nw ? nw : 1));
    s->boff = malloc(sizeof(int64_t) * (size_t)s->plan.kk);
    if (!s->wpack || !s->boff)
      st = qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (QiHConv): out of memory packing %zu weights",
                   n->name, nw);
    else {
      qi_f16_conv_pack(&s->plan, const_f16(g, n, 1), s->wpack);
      qi_f16_conv_boff(&s->plan, s->boff);
    }
  }
  if (st != QI_OK) {
    hconv_free_state(s);
    return st;
  }
  hconv_free_state(n->state);
  n->state = s;
  return QI_OK;
}

/* Shared scratch (the padded float image, B packed up front) then one
 * area per thread. */
static size_t hconv_image_bytes(const hconv_state *s) {
  return s->depthwise
             ? 0
             : align_up(sizeof(float) * qi_f16_conv_image_floats(&s->plan));
}
static size_t hconv_prepack_bytes(const hconv_state *s) {
  return s->depthwise
             ? 0
             : align_up(sizeof(float) * qi_f16_conv_prepack_floats(&s->plan));
}
static size_t hconv_thread_bytes(const hconv_state *s) {
  return s->depthwise
             ? align_up(sizeof(float) * qi_f16_dwconv_scratch_floats(&s->dw))
             : align_up(qi_f16_conv_task_scratch(&s->plan));
}
static size_t hconv_scratch(const hconv_state *s, int nthreads) {
  return hconv_image_bytes(s) + hconv_prepack_bytes(s) +
         hconv_thread_bytes(s) * (size_t)(nthreads > 0 ? nthreads : 1);
}

static size_t hconv_scratch_bytes(const qi_graph *g, const qi_node *n,
                                  int nthreads) {
  if (n->state) return hconv_scratch(n->state, nthreads);
  hconv_state s;
  if (hconv_make(n, qi_in_shape(g, n, 0), qi_in_shape(g, n, 1), &s, NULL) !=
      QI_OK)
    return 0;
  return hconv_scratch(&s, nthreads);
}

typedef struct hconv_job {
  const hconv_state *s;
  qi_f16_kernels k;
  const uint16_t *x, *w, *res;
  const float *bias;
  void *y;
  char *scratch; /* per-thread areas */
  size_t per_thread;
  float *image; /* GEMM path: padded image */
  float *bpack; /* GEMM path: B packed up front, or NULL */
  int64_t b;    /* GEMM path: batch item */
} hconv_job;

static void *y_at(const hconv_job *j, int64_t elem) {
  return j->s->out_f32 ? (void *)((float *)j->y + elem)
                       : (void *)((uint16_t *)j->y + elem);
}

/* Depthwise task t: output plane t = (batch, channel). */
static void dw_task(void *arg, size_t t, int thread) {
  const hconv_job *j = arg;
  const qi_conv_geom *g = &j->s->geo;
  const int64_t m = (int64_t)t % g->cout, b = (int64_t)t / g->cout;
  const int64_t mult = g->cout / g->cin;
  const int64_t ip = g->in[1] * g->in[2], op = g->out[1] * g->out[2];
  qi_f16_dwconv_plane(&j->k, &j->s->dw, j->x + (b * g->cin + m / mult) * ip,
                      j->w + m * g->k[1] * g->k[2], j->bias ? j->bias[m] : 0.0f,
                      &j->s->act, j->res ? j->res + (int64_t)t * op : NULL,
                      y_at(j, (int64_t)t * op), j->s->out_f32,
                      (float *)(j->scratch + (size_t)thread * j->per_thread));
}

static void pad_task(void *arg, size_t t, int thread) {
  (void)thread;
  const hconv_job *j = arg;
  const qi_conv_geom *g = &j->s->geo;
  qi_f16_conv_pad(&j->k, &j->s->plan,
                  j->x + j->b * g->cin * g->in[1] * g->in[2], (int64_t)t,
                  j->image);
}

static qi_f16_conv_io conv_io(const hconv_job *j) {
  const qi_conv_geom *g = &j->s->geo;
  const int64_t oimg = g->cout * g->out[1] * g->out[2];
  qi_f16_conv_io io = {j->image,
                       j->bpack,
                       j->s->wpack,
                       j->s->boff,
                       j->bias,
                       j->res ? j->res + j->b * oimg : NULL,
                       y_at(j, j->b * oimg),
                       j->s->out_f32,
                       j->s->act};
  return io;
}

static void prepack_task(void *arg, size_t t, int thread) {
  (void)thread;
  const hconv_job *j = arg;
  qi_f16_conv_io io = conv_io(j);
  qi_f16_conv_prepack(&j->k, &j->s->plan, &io, (int64_t)t);
}

static void gemm_task(void *arg, size_t t, int thread) {
  const hconv_job *j = arg;
  qi_f16_conv_io io = conv_io(j);
  qi_f16_conv_task(&j->k, &j->s->plan, &io, (int64_t)t,
                   j->scratch + (size_t)thread * j->per_thread);
}

static qi_status hconv_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  const hconv_state *s = n->state;
  if (!s)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHConv): not prepared", n->name);
  const qi_conv_geom *g = &s->geo;
  int res = has_input(n, 3);
  if (in[0].dtype != QI_FLOAT16 || in[1].dtype != QI_FLOAT16 ||
      out[0].dtype != (s->out_f32 ? QI_FLOAT32 : QI_FLOAT16) || !in[0].data ||
      !in[1].data || !out[0].data ||
      (res && (in[3].dtype != QI_FLOAT16 || !in[3].data)) ||
      in[0].shape.d[0] != g->batch || in[0].shape.d[1] != g->cin)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHConv): buffers differ from the prepared "
                   "types and shapes",
                   n->name);
  int nth = qi_pool_size(ctx->pool);
  size_t need = hconv_scratch(s, nth > ctx->nthreads ? nth : ctx->nthreads);
  if (need > ctx->scratch_bytes || !ctx->scratch)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHConv): scratch of %zu bytes given, %zu "
                   "needed",
                   n->name, ctx->scratch_bytes, need);
  hconv_job j = {
      s,
      f16_kernels(),
      in[0].data,
      in[1].data,
      res ? in[3].data : NULL,
      has_input(n, 2) ? in[2].data : NULL,
      out[0].data,
      (char *)ctx->scratch + hconv_image_bytes(s) + hconv_prepack_bytes(s),
      hconv_thread_bytes(s),
      ctx->scratch,
      s->plan.prepack ? (float *)((char *)ctx->scratch + hconv_image_bytes(s))
                      : NULL,
      0};
  if (s->depthwise) {
    qi_pool_run(ctx->pool, dw_task, &j, (size_t)(g->batch * g->cout));
    return QI_OK;
  }
  for (j.b = 0; j.b < g->batch; j.b++) {
    qi_pool_run(ctx->pool, pad_task, &j, (size_t)g->cin);
    if (j.bpack)
      qi_pool_run(ctx->pool, prepack_task, &j,
                  (size_t)qi_f16_conv_num_prepack_tasks(&s->plan));
    qi_pool_run(ctx->pool, gemm_task, &j,
                (size_t)qi_f16_conv_num_tasks(&s->plan));
  }
  return QI_OK;
}

const qi_op_def qi_op_hconv = {
    .op_type = "QiHConv",
    .check = hconv_check,
    .infer = hconv_infer,
    .prepare = hconv_prepare,
    .free_state = hconv_free_state,
    .scratch_bytes = hconv_scratch_bytes,
    .run = hconv_run,
    .foldable = 0,
};

/* ---- QiHMatMul
 * ---------------------------------------------------------------- */

typedef struct hmatmul_state {
  int64_t n, k;
  uint16_t *wpack; /* owned */
  qi_f16_act act;
  int out_f32;
} hmatmul_state;

static qi_status hmatmul_check(const qi_graph *g, const qi_node *n,
                               qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  QI_TRY(one_output(n, err));
  qi_f16_act act;
  int f32;
  return read_epilogue(n, &act, &f32, err);
}

static qi_status hmatmul_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(hmatmul_check(g, n, err));
  QI_TRY(expect_dtype(g, n, 0, QI_FLOAT16, "input A", err));
  QI_TRY(expect_dtype(g, n, 1, QI_FLOAT16, "weights W", err));
  const qi_shape *a = qi_in_shape(g, n, 0), *w = qi_in_shape(g, n, 1);
  char sa[96], sw[96];
  if (a->rank < 1 || w->rank != 2 || a->d[a->rank - 1] != w->d[1] ||
      w->d[0] < 1 || w->d[1] < 1 || qi_shape_numel(a) < 0)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiHMatMul): input %s does not fit weights %s "
                   "([N, K])",
                   n->name, qi_shape_str(a, sa, sizeof sa),
                   qi_shape_str(w, sw, sizeof sw));
  QI_TRY(bias_check(g, n, w->d[0], err));
  qi_f16_act act;
  int f32;
  QI_TRY(read_epilogue(n, &act, &f32, err));
  qi_shape y = *a;
  y.d[y.rank - 1] = w->d[0];
  if (!qi_shape_fits(&y, f32 ? QI_FLOAT32 : QI_FLOAT16))
    return qi_fail(err, QI_ERR_NOMEM,
                   "node '%s' (QiHMatMul): output %s is too large", n->name,
                   qi_shape_str(&y, sa, sizeof sa));
  qi_set_output(g, n, 0, f32 ? QI_FLOAT32 : QI_FLOAT16, &y);
  return QI_OK;
}

static void hmatmul_free_state(void *state) {
  hmatmul_state *s = state;
  if (!s) return;
  free(s->wpack);
  free(s);
}

static qi_status hmatmul_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  const uint16_t *w = const_f16(g, n, 1);
  const qi_shape *ws = qi_in_shape(g, n, 1);
  if (!w || ws->rank != 2)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiHMatMul): weights must be a 2-D float16 "
                   "constant",
                   n->name);
  hmatmul_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (QiHMatMul): out of memory",
                   n->name);
  s->n = ws->d[0];
  s->k = ws->d[1];
  qi_status st = read_epilogue(n, &s->act, &s->out_f32, err);
  size_t np = qi_f16_gemm_packed_halves(s->n, s->k);
  if (st == QI_OK && !(s->wpack = malloc(sizeof(uint16_t) * (np ? np : 1))))
    st = qi_fail(err, QI_ERR_NOMEM,
                 "node '%s' (QiHMatMul): out of memory packing %zu weights",
                 n->name, np);
  if (st != QI_OK) {
    hmatmul_free_state(s);
    return st;
  }
  qi_f16_gemm_pack(w, s->n, s->k, s->k, 1, s->wpack);
  hmatmul_free_state(n->state);
  n->state = s;
  return QI_OK;
}

static size_t hmatmul_thread_bytes(void) {
  return align_up(qi_f16_gemm_scratch_bytes());
}

static size_t hmatmul_scratch_bytes(const qi_graph *g, const qi_node *n,
                                    int nthreads) {
  (void)g;
  (void)n;
  return hmatmul_thread_bytes() * (size_t)(nthreads > 0 ? nthreads : 1);
}

typedef struct hmatmul_job {
  qi_f16_kernels k;
  qi_f16_gemm_args a;
  char *scratch;
} hmatmul_job;

static void hmatmul_task(void *arg, size_t t, int thread) {
  const hmatmul_job *j = arg;
  qi_f16_gemm_block(&j->k, &j->a, (int64_t)t,
                    j->scratch + (size_t)thread * hmatmul_thread_bytes());
}

static qi_status hmatmul_run(const qi_run_ctx *ctx, const qi_node *n,
                             const qi_buf *in, qi_buf *out) {
  const hmatmul_state *s = n->state;
  if (!s)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHMatMul): not prepared", n->name);
  const qi_shape *as = &in[0].shape;
  int64_t numel = qi_shape_numel(as);
  if (in[0].dtype != QI_FLOAT16 ||
      out[0].dtype != (s->out_f32 ? QI_FLOAT32 : QI_FLOAT16) || as->rank < 1 ||
      as->d[as->rank - 1] != s->k || numel < 0 ||
      (numel > 0 && (!in[0].data || !out[0].data)))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHMatMul): buffers differ from the prepared "
                   "types and shapes",
                   n->name);
  int nth = qi_pool_size(ctx->pool);
  size_t need =
      hmatmul_scratch_bytes(NULL, n, nth > ctx->nthreads ? nth : ctx->nthreads);
  if (need > ctx->scratch_bytes || !ctx->scratch)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiHMatMul): scratch of %zu bytes given, %zu "
                   "needed",
                   n->name, ctx->scratch_bytes, need);
  int64_t m = numel / s->k; /* k >= 1: prepare refuses empty weights */
  if (m == 0) return QI_OK;
  hmatmul_job j = {f16_kernels(),
                   {m, s->n, s->k, in[0].data, s->k, s->wpack,
                    has_input(n, 2) ? in[2].data : NULL, s->act, out[0].data,
                    s->n, s->out_f32},
                   ctx->scratch};
  qi_pool_run(ctx->pool, hmatmul_task, &j,
              (size_t)qi_f16_gemm_num_blocks(&j.a));
  return QI_OK;
}

const qi_op_def qi_op_hmatmul = {
    .op_type = "QiHMatMul",
    .check = hmatmul_check,
    .infer = hmatmul_infer,
    .prepare = hmatmul_prepare,
    .free_state = hmatmul_free_state,
    .scratch_bytes = hmatmul_scratch_bytes,
    .run = hmatmul_run,
    .foldable = 0,
};
