/*
 * Unary element-wise ops: activations and math functions on float32 (the
 * vector kernels of eltwise_unary*.c), a few of them also on integers
 * (int8, uint8, int32, int64) for shape subgraphs (Neg, Abs, Relu, Clip,
 * Sign), and Not on bool.
 * Output shape and type are the input's. Attribute defaults follow the
 * ONNX operator specifications.
 */
#include <float.h>
#include <stdint.h>
#include <string.h>

#include "ops/eltwise.h"
#include "ops/op.h"

#define DT_F32 (1u << QI_FLOAT32)
#define DT_INT \
  ((1u << QI_INT8) | (1u << QI_UINT8) | (1u << QI_INT32) | (1u << QI_INT64))
#define DT_BOOL (1u << QI_BOOL)

static int dtype_in(qi_dtype dt, unsigned mask) {
  return dt > 0 && dt < 32 && ((mask >> dt) & 1u);
}

static qi_status unary_infer(qi_graph *g, qi_node *n, qi_error *err, int max_in,
                             unsigned dtypes) {
  QI_TRY(qi_check_inputs(n, 1, max_in, err));
  const qi_shape *s = qi_in_shape(g, n, 0);
  qi_dtype dt = qi_in_dtype(g, n, 0);
  if (s->rank < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): input shape unknown",
                   n->name, n->op_type);
  if (!dtype_in(dt, dtypes)) return qi_eltwise_dtype_error(n, 0, dt, err);
  /* Clip's optional min/max: scalars of the input's type. */
  for (int k = 1; k < n->nin; k++) {
    const qi_shape *ks = qi_in_shape(g, n, k);
    if (!ks) continue;
    if (qi_in_dtype(g, n, k) != dt)
      return qi_eltwise_dtype_error(n, k, qi_in_dtype(g, n, k), err);
    if (ks->rank >= 0 && qi_shape_numel(ks) != 1)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): input %d must hold one value", n->name,
                     n->op_type, k);
  }
  qi_set_output(g, n, 0, dt, s);
  return QI_OK;
}

static qi_status check_gelu(const qi_graph *g, const qi_node *n,
                            qi_error *err) {
  (void)g;
  const char *a = qi_attr_str(n, "approximate", "none");
  if (strcmp(a, "none") != 0 && strcmp(a, "tanh") != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (Gelu): approximate='%s' is not supported",
                   n->name, a);
  return QI_OK;
}

/* ---- float32 ---- */

typedef struct unary_job {
  qi_unary_params p;
  const float *x;
  float *y;
  size_t n, chunk;
} unary_job;

static void unary_task(void *arg, size_t task, int thread) {
  (void)thread;
  const unary_job *j = arg;
  size_t s = task * j->chunk, e = s + j->chunk;
  if (e > j->n) e = j->n;
  qi_unary_f32(&j->p, j->x + s, j->y + s, e - s);
}

/* Reads Clip's bound k (1: min, 2: max) when given as an input; it may be
 * a computed tensor, since its value is in the buffer at run time. */
static const void *clip_bound(const qi_node *n, const qi_buf *in, int k) {
  if (k >= n->nin || !in[k].data) return NULL;
  return in[k].data;
}

static qi_status unary_run_f32(const qi_run_ctx *ctx, const qi_node *n,
                               const qi_buf *in, qi_buf *out,
                               qi_unary_kind kind, size_t count) {
  unary_job j = {{kind, 0.0f, 0.0f, 0.0f}, in[0].data, out[0].data, count, 0};
  switch (kind) {
    case QI_UN_LEAKY_RELU: j.p.alpha = qi_attr_float(n, "alpha", 0.01f); break;
    case QI_UN_ELU: j.p.alpha = qi_attr_float(n, "alpha", 1.0f); break;
    case QI_UN_THRESHOLDED_RELU:
      j.p.alpha = qi_attr_float(n, "alpha", 1.0f);
      break;
    case QI_UN_SELU:
      j.p.alpha = qi_attr_float(n, "alpha", 1.67326319217681884765625f);
      j.p.gamma = qi_attr_float(n, "gamma", 1.05070102214813232421875f);
      break;
    case QI_UN_HARD_SIGMOID:
      j.p.alpha = qi_attr_float(n, "alpha", 0.2f);
      j.p.beta = qi_attr_float(n, "beta", 0.5f);
      break;
    case QI_UN_CLIP: {
      /* Opset < 11: attributes; later: optional inputs. Absent bounds are
       * the type's limits, as the specification says. */
      j.p.alpha = qi_attr_float(n, "min", -FLT_MAX);
      j.p.beta = qi_attr_float(n, "max", FLT_MAX);
      const void *lo = clip_bound(n, in, 1), *hi = clip_bound(n, in, 2);
      if (lo) memcpy(&j.p.alpha, lo, sizeof(float));
      if (hi) memcpy(&j.p.beta, hi, sizeof(float));
      break;
    }
    case QI_UN_GELU:
      if (strcmp(qi_attr_str(n, "approximate", "none"), "tanh") == 0)
        j.p.kind = QI_UN_GELU_TANH;
      break;
    default: break;
  }
  size_t ntasks = qi_eltwise_split(ctx, count, &j.chunk);
  qi_eltwise_parallel(ctx, unary_task, &j, ntasks);
  return QI_OK;
}

/* ---- integers: shape arithmetic, never large ---- */

/* Elements are widened to int64 and the result wraps back into T through
 * uint64 (two's complement, as numpy does: -INT_MIN is INT_MIN). */
#define UNARY_INT_LOOP(T, EXPR)        \
  for (size_t i = 0; i < count; i++) { \
    int64_t v = x[i];                  \
    y[i] = (T)(uint64_t)(EXPR);        \
  }

#define UNARY_INT_BODY(T, TMIN, TMAX)                                       \
  do {                                                                      \
    const T *x = in[0].data;                                                \
    T *y = out[0].data;                                                     \
    T lo_t = TMIN, hi_t = TMAX;                                             \
    const void *plo = clip_bound(n, in, 1), *phi = clip_bound(n, in, 2);    \
    if (plo) memcpy(&lo_t, plo, sizeof(T));                                 \
    if (phi) memcpy(&hi_t, phi, sizeof(T));                                 \
    int64_t lo = lo_t, hi = hi_t;                                           \
    switch (kind) {                                                         \
      case QI_UN_NEG: UNARY_INT_LOOP(T, 0 - (uint64_t)v) break;             \
      case QI_UN_ABS:                                                       \
        UNARY_INT_LOOP(T, v < 0 ? 0 - (uint64_t)v : (uint64_t)v) break;     \
      case QI_UN_RELU: UNARY_INT_LOOP(T, v < 0 ? 0 : v) break;              \
      case QI_UN_SIGN: UNARY_INT_LOOP(T, (v > 0) - (v < 0)) break;          \
      case QI_UN_CLIP:                                                      \
        UNARY_INT_LOOP(T, v < lo ? (lo > hi ? hi : lo) : (v > hi ? hi : v)) \
        break;                                                              \
      default: return qi_eltwise_dtype_error(n, 0, in[0].dtype, ctx->err);  \
    }                                                                       \
  } while (0)

static qi_status unary_run(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out, qi_unary_kind kind) {
  int64_t cnt = qi_shape_numel(&in[0].shape);
  if (cnt < 0 || cnt != qi_shape_numel(&out[0].shape) ||
      in[0].dtype != out[0].dtype)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): output buffer does not match the input",
                   n->name, n->op_type);
  size_t count = (size_t)cnt;
  switch (in[0].dtype) {
    case QI_FLOAT32: return unary_run_f32(ctx, n, in, out, kind, count);
    case QI_INT8: UNARY_INT_BODY(int8_t, INT8_MIN, INT8_MAX); return QI_OK;
    case QI_UINT8: UNARY_INT_BODY(uint8_t, 0, UINT8_MAX); return QI_OK;
    case QI_INT32: UNARY_INT_BODY(int32_t, INT32_MIN, INT32_MAX); return QI_OK;
    case QI_INT64: UNARY_INT_BODY(int64_t, INT64_MIN, INT64_MAX); return QI_OK;
    default: return qi_eltwise_dtype_error(n, 0, in[0].dtype, ctx->err);
  }
}

/* One qi_op_def per op type; MAXIN is 3 for Clip's min/max inputs. */
#define UNARY_OP(SYM, NAME, KIND, CHECK, MAXIN, DTYPES)                  \
  static qi_status infer_##SYM(qi_graph *g, qi_node *n, qi_error *err) { \
    return unary_infer(g, n, err, MAXIN, DTYPES);                        \
  }                                                                      \
  static qi_status run_##SYM(const qi_run_ctx *ctx, const qi_node *n,    \
                             const qi_buf *in, qi_buf *out) {            \
    return unary_run(ctx, n, in, out, KIND);                             \
  }                                                                      \
  const qi_op_def SYM = {NAME, CHECK, infer_##SYM, NULL,                 \
                         NULL, NULL,  run_##SYM,   1};

UNARY_OP(qi_op_relu, "Relu", QI_UN_RELU, NULL, 1, DT_F32 | DT_INT)
UNARY_OP(qi_op_clip, "Clip", QI_UN_CLIP, NULL, 3, DT_F32 | DT_INT)
UNARY_OP(qi_op_leaky_relu, "LeakyRelu", QI_UN_LEAKY_RELU, NULL, 1, DT_F32)
UNARY_OP(qi_op_sigmoid, "Sigmoid", QI_UN_SIGMOID, NULL, 1, DT_F32)
UNARY_OP(qi_op_hard_sigmoid, "HardSigmoid", QI_UN_HARD_SIGMOID, NULL, 1, DT_F32)
UNARY_OP(qi_op_hard_swish, "HardSwish", QI_UN_HARD_SWISH, NULL, 1, DT_F32)
UNARY_OP(qi_op_tanh, "Tanh", QI_UN_TANH, NULL, 1, DT_F32)
UNARY_OP(qi_op_erf, "Erf", QI_UN_ERF, NULL, 1, DT_F32)
UNARY_OP(qi_op_gelu, "Gelu", QI_UN_GELU, check_gelu, 1, DT_F32)
UNARY_OP(qi_op_exp, "Exp", QI_UN_EXP, NULL, 1, DT_F32)
UNARY_OP(qi_op_log, "Log", QI_UN_LOG, NULL, 1, DT_F32)
UNARY_OP(qi_op_sqrt, "Sqrt", QI_UN_SQRT, NULL, 1, DT_F32)
UNARY_OP(qi_op_neg, "Neg", QI_UN_NEG, NULL, 1, DT_F32 | DT_INT)
UNARY_OP(qi_op_abs, "Abs", QI_UN_ABS, NULL, 1, DT_F32 | DT_INT)
UNARY_OP(qi_op_reciprocal, "Reciprocal", QI_UN_RECIPROCAL, NULL, 1, DT_F32)
UNARY_OP(qi_op_floor, "Floor", QI_UN_FLOOR, NULL, 1, DT_F32)
UNARY_OP(qi_op_ceil, "Ceil", QI_UN_CEIL, NULL, 1, DT_F32)
UNARY_OP(qi_op_round, "Round", QI_UN_ROUND, NULL, 1, DT_F32)
UNARY_OP(qi_op_sign, "Sign", QI_UN_SIGN, NULL, 1, DT_F32 | DT_INT)
UNARY_OP(qi_op_softplus, "Softplus", QI_UN_SOFTPLUS, NULL, 1, DT_F32)
UNARY_OP(qi_op_softsign, "Softsign", QI_UN_SOFTSIGN, NULL, 1, DT_F32)
UNARY_OP(qi_op_elu, "Elu", QI_UN_ELU, NULL, 1, DT_F32)
UNARY_OP(qi_op_selu, "Selu", QI_UN_SELU, NULL, 1, DT_F32)
UNARY_OP(qi_op_thresholded_relu, "ThresholdedRelu", QI_UN_THRESHOLDED_RELU,
         NULL, 1, DT_F32)
UNARY_OP(qi_op_mish, "Mish", QI_UN_MISH, NULL, 1, DT_F32)
/* Internal: Sigmoid followed by Mul of the same input, fused. */
UNARY_OP(qi_op_qi_silu, "QiSilu", QI_UN_SILU, NULL, 1, DT_F32)

/* ---- Not (bool) ---- */

static qi_status infer_not(qi_graph *g, qi_node *n, qi_error *err) {
  return unary_infer(g, n, err, 1, DT_BOOL);
}

static qi_status run_not(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  int64_t cnt = qi_shape_numel(&in[0].shape);
  if (in[0].dtype != QI_BOOL || cnt < 0)
    return qi_eltwise_dtype_error(n, 0, in[0].dtype, ctx->err);
  const uint8_t *x = in[0].data;
  uint8_t *y = out[0].data;
  for (int64_t i = 0; i < cnt; i++) y[i] = !x[i];
  return QI_OK;
}

const qi_op_def qi_op_not = {"Not", NULL, infer_not, NULL,
                             NULL,  NULL, run_not,   1};
