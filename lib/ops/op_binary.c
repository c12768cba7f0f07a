/*
 * Binary and n-ary element-wise ops with numpy broadcasting: arithmetic
 * (Add, Sub, Mul, Div, Pow, Mod, PRelu, variadic Max/Min/Sum/Mean),
 * comparisons (Equal, Less, Greater, LessOrEqual, GreaterOrEqual: bool
 * out), logic (And, Or, Xor) and Where. Float32 everywhere; the integer
 * types int8/uint8/int32/int64 where shape subgraphs need them.
 *
 * Every op runs through one broadcast plan (eltwise_bcast.h) split over
 * the thread pool by output range; the row kernels (eltwise_binary.h)
 * specialise on same-shape, scalar and per-row-scalar operands. Add, Sub,
 * Mul and Div on float32 apply a fused activation ("qi_act") block by
 * block while the block is still in cache.
 */
#include <string.h>

#include "ops/eltwise.h"
#include "ops/eltwise_bcast.h"
#include "ops/eltwise_binary.h"
#include "ops/op.h"

#define DT(t) (1u << (t))
#define DT_F32 DT(QI_FLOAT32)
#define DT_INTS (DT(QI_INT8) | DT(QI_UINT8) | DT(QI_INT32) | DT(QI_INT64))
#define DT_BOOL DT(QI_BOOL)
#define DT_WHERE (DT_F32 | DT_INTS | DT_BOOL | DT(QI_FLOAT16) | DT(QI_FLOAT64))

/* Rows of a fused activation are applied in blocks of this many floats,
 * so the block is still in L1 when the activation reads it. */
#define ACT_BLOCK 1024
/* Pow exponents of integer type are converted in blocks of this many. */
#define POW_EXP_BLOCK 256
/* Max/Min/Sum/Mean inputs we accept (ONNX sets no limit). */
#define MAX_VARIADIC_INPUTS 64

static int dtype_in(qi_dtype dt, unsigned mask) {
  return dt > 0 && dt < 32 && ((mask >> dt) & 1u);
}

/* ---- execution ---- */

typedef struct bin_job {
  qi_bin_op op;
  qi_dtype dt;     /* element type of the operands (of X, Y for Where) */
  qi_dtype exp_dt; /* Pow: the exponent's type */
  int is_where;
  size_t elem; /* bytes per operand element */
  const void *in[QI_BCAST_MAX_IN];
  void *out;
  int has_act;
  qi_unary_params act;
  qi_bcast_plan plan;
  int64_t chunk;
} bin_job;

static void pow_int_exp_row(const bin_job *j, const float *a, int64_t sa,
                            int64_t b_off, int64_t sb, float *o, int64_t len) {
  float e[POW_EXP_BLOCK];
  for (int64_t i = 0; i < len; i += POW_EXP_BLOCK) {
    int64_t blen = len - i < POW_EXP_BLOCK ? len - i : POW_EXP_BLOCK;
    int64_t ne = sb ? blen : 1;
    for (int64_t t = 0; t < ne; t++) {
      int64_t k = b_off + (i + t) * sb;
      e[t] = j->exp_dt == QI_INT64 ? (float)((const int64_t *)j->in[1])[k]
                                   : (float)((const int32_t *)j->in[1])[k];
    }
    qi_binary_row_f32(QI_BIN_POW, a + i * sa, sa, e, sb, o + i, blen);
  }
}

static void bin_row(void *arg, const int64_t *off, const int64_t *step,
                    int64_t out_off, int64_t len) {
  const bin_job *j = arg;
  const char *in0 = j->in[0], *in1 = j->in[1], *in2 = j->in[2];
  size_t es = j->elem;
  if (j->is_where) {
    qi_where_row(es, (const uint8_t *)in0 + off[0], step[0],
                 in1 + (size_t)off[1] * es, step[1], in2 + (size_t)off[2] * es,
                 step[2], (char *)j->out + (size_t)out_off * es, len);
    return;
  }
  const void *a = in0 + (size_t)off[0] * es;
  const void *b =
      in1 +
      (size_t)off[1] * (j->op == QI_BIN_POW ? qi_dtype_size(j->exp_dt) : es);
  if (qi_bin_op_is_compare(j->op) || qi_bin_op_is_logic(j->op)) {
    qi_binary_row_bool(j->dt, j->op, a, step[0], b, step[1],
                       (uint8_t *)j->out + out_off, len);
    return;
  }
  if (j->op == QI_BIN_POW && j->dt != QI_FLOAT32) {
    qi_pow_row_int(j->dt, a, step[0], j->exp_dt, b, step[1],
                   (char *)j->out + (size_t)out_off * es, len);
    return;
  }
  if (j->dt != QI_FLOAT32) {
    qi_binary_row_int(j->dt, j->op, a, step[0], b, step[1],
                      (char *)j->out + (size_t)out_off * es, len);
    return;
  }
  float *o = (float *)j->out + out_off;
  if (j->op == QI_BIN_POW && j->exp_dt != QI_FLOAT32) {
    pow_int_exp_row(j, a, step[0], off[1], step[1], o, len);
    return;
  }
  if (!j->has_act) {
    qi_binary_row_f32(j->op, a, step[0], b, step[1], o, len);
    return;
  }
  for (int64_t i = 0; i < len; i += ACT_BLOCK) {
    int64_t blen = len - i < ACT_BLOCK ? len - i : ACT_BLOCK;
    qi_binary_row_f32(j->op, (const float *)a + i * step[0], step[0],
                      (const float *)b + i * step[1], step[1], o + i, blen);
    qi_unary_f32(&j->act, o + i, o + i, (size_t)blen);
  }
}

static void bin_task(void *arg, size_t task, int thread) {
  (void)thread;
  bin_job *j = arg;
  int64_t s = (int64_t)task * j->chunk, e = s + j->chunk;
  if (e > j->plan.numel) e = j->plan.numel;
  qi_bcast_for_range(&j->plan, s, e, bin_row, j);
}

/* Plans `nin` operands of shapes `s` against `out` and runs the job. */
static qi_status bin_exec(const qi_run_ctx *ctx, const qi_node *n, bin_job *j,
                          const qi_shape *out, const qi_shape *const *s,
                          int nin) {
  qi_status st = qi_bcast_plan_make(&j->plan, out, s, nin, ctx->err);
  if (st != QI_OK) {
    qi_error_prefix(ctx->err, "node '%s' (%s)", n->name, n->op_type);
    return st;
  }
  if (j->plan.numel == 0) return QI_OK;
  size_t chunk;
  size_t ntasks = qi_eltwise_split(ctx, (size_t)j->plan.numel, &chunk);
  j->chunk = (int64_t)chunk;
  qi_eltwise_parallel(ctx, bin_task, j, ntasks);
  return QI_OK;
}

static bin_job job_for(qi_bin_op op, qi_dtype dt) {
  bin_job j;
  memset(&j, 0, sizeof j);
  j.op = op;
  j.dt = dt;
  j.exp_dt = QI_FLOAT32;
  j.elem = qi_dtype_size(dt);
  return j;
}

/* ---- two-input ops ---- */

static qi_status check_act(const qi_node *n, qi_dtype dt, int act_ok,
                           qi_error *err) {
  if (!qi_attr_find(n, "qi_act")) return QI_OK;
  if (act_ok && dt == QI_FLOAT32) return QI_OK;
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "node '%s' (%s): a fused activation needs float32 "
                 "arithmetic, not %s",
                 n->name, n->op_type, qi_dtype_name(dt));
}

static qi_status infer_two(qi_graph *g, qi_node *n, qi_error *err,
                           unsigned dtypes, int out_bool, int act_ok) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  qi_dtype da = qi_in_dtype(g, n, 0), db = qi_in_dtype(g, n, 1);
  if (!dtype_in(da, dtypes)) return qi_eltwise_dtype_error(n, 0, da, err);
  if (db != da) return qi_eltwise_dtype_error(n, 1, db, err);
  QI_TRY(check_act(n, da, act_ok, err));
  const qi_shape *s[2] = {qi_in_shape(g, n, 0), qi_in_shape(g, n, 1)};
  qi_shape out;
  QI_TRY(qi_bcast_shape_n(n, s, 2, &out, err));
  qi_set_output(g, n, 0, out_bool ? QI_BOOL : da, &out);
  return QI_OK;
}

static qi_status run_two(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out, qi_bin_op op) {
  bin_job j = job_for(op, in[0].dtype);
  j.in[0] = in[0].data;
  j.in[1] = in[1].data;
  j.out = out[0].data;
  /* infer let "qi_act" through only on float32 Add/Sub/Mul/Div. */
  qi_act_params act = qi_node_act(n);
  if (act.act != QI_ACT_NONE) {
    j.has_act = 1;
    j.act = qi_unary_from_act(&act);
  }
  const qi_shape *s[2] = {&in[0].shape, &in[1].shape};
  return bin_exec(ctx, n, &j, &out[0].shape, s, 2);
}

#define TWO_INPUT_OP(SYM, NAME, OP, DTYPES, OUT_BOOL, ACT_OK)            \
  static qi_status infer_##SYM(qi_graph *g, qi_node *n, qi_error *err) { \
    return infer_two(g, n, err, DTYPES, OUT_BOOL, ACT_OK);               \
  }                                                                      \
  static qi_status run_##SYM(const qi_run_ctx *ctx, const qi_node *n,    \
                             const qi_buf *in, qi_buf *out) {            \
    return run_two(ctx, n, in, out, OP);                                 \
  }                                                                      \
  const qi_op_def SYM = {NAME, NULL, infer_##SYM, NULL,                  \
                         NULL, NULL, run_##SYM,   1};

TWO_INPUT_OP(qi_op_add, "Add", QI_BIN_ADD, DT_F32 | DT_INTS, 0, 1)
TWO_INPUT_OP(qi_op_sub, "Sub", QI_BIN_SUB, DT_F32 | DT_INTS, 0, 1)
TWO_INPUT_OP(qi_op_mul, "Mul", QI_BIN_MUL, DT_F32 | DT_INTS, 0, 1)
TWO_INPUT_OP(qi_op_div, "Div", QI_BIN_DIV, DT_F32 | DT_INTS, 0, 1)
TWO_INPUT_OP(qi_op_equal, "Equal", QI_BIN_EQ, DT_F32 | DT_INTS | DT_BOOL, 1, 0)
TWO_INPUT_OP(qi_op_less, "Less", QI_BIN_LT, DT_F32 | DT_INTS, 1, 0)
TWO_INPUT_OP(qi_op_greater, "Greater", QI_BIN_GT, DT_F32 | DT_INTS, 1, 0)
TWO_INPUT_OP(qi_op_less_or_equal, "LessOrEqual", QI_BIN_LE, DT_F32 | DT_INTS, 1,
             0)
TWO_INPUT_OP(qi_op_greater_or_equal, "GreaterOrEqual", QI_BIN_GE,
             DT_F32 | DT_INTS, 1, 0)
TWO_INPUT_OP(qi_op_and, "And", QI_BIN_AND, DT_BOOL, 1, 0)
TWO_INPUT_OP(qi_op_or, "Or", QI_BIN_OR, DT_BOOL, 1, 0)
TWO_INPUT_OP(qi_op_xor, "Xor", QI_BIN_XOR, DT_BOOL, 1, 0)

/* ---- Mod: fmod = 0 (divisor's sign, numpy.mod) or 1 (C fmod) ---- */

static qi_status infer_mod(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(infer_two(g, n, err, DT_F32 | DT_INTS, 0, 0));
  int64_t fmod = qi_attr_int(n, "fmod", 0);
  if (fmod != 0 && fmod != 1)
    return qi_fail(err, QI_ERR_UNSUPPORTED, "node '%s' (Mod): fmod=%lld",
                   n->name, (long long)fmod);
  return QI_OK;
}

static qi_status run_mod(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  int fmod = qi_attr_int(n, "fmod", 0) != 0;
  return run_two(ctx, n, in, out, fmod ? QI_BIN_FMOD : QI_BIN_MOD);
}

const qi_op_def qi_op_mod = {"Mod", NULL, infer_mod, NULL,
                             NULL,  NULL, run_mod,   1};

/* ---- Pow: base and exponent each float32, int32 or int64; the output
 * has the base's type ---- */

#define DT_POW (DT_F32 | DT(QI_INT32) | DT(QI_INT64))

static qi_status infer_pow(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 2, err));
  qi_dtype da = qi_in_dtype(g, n, 0), db = qi_in_dtype(g, n, 1);
  if (!dtype_in(da, DT_POW)) return qi_eltwise_dtype_error(n, 0, da, err);
  if (!dtype_in(db, DT_POW)) return qi_eltwise_dtype_error(n, 1, db, err);
  QI_TRY(check_act(n, da, 0, err));
  const qi_shape *s[2] = {qi_in_shape(g, n, 0), qi_in_shape(g, n, 1)};
  qi_shape out;
  QI_TRY(qi_bcast_shape_n(n, s, 2, &out, err));
  qi_set_output(g, n, 0, da, &out);
  return QI_OK;
}

static qi_status run_pow(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  bin_job j = job_for(QI_BIN_POW, in[0].dtype);
  j.exp_dt = in[1].dtype;
  j.in[0] = in[0].data;
  j.in[1] = in[1].data;
  j.out = out[0].data;
  const qi_shape *s[2] = {&in[0].shape, &in[1].shape};
  return bin_exec(ctx, n, &j, &out[0].shape, s, 2);
}

const qi_op_def qi_op_pow = {"Pow", NULL, infer_pow, NULL,
                             NULL,  NULL, run_pow,   1};

/* ---- PRelu: the slope broadcasts to X (one direction only) ---- */

static qi_status infer_prelu(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(infer_two(g, n, err, DT_F32, 0, 0));
  const qi_shape *x = qi_in_shape(g, n, 0), *slope = qi_in_shape(g, n, 1);
  qi_shape b;
  QI_TRY(qi_broadcast_shapes(x, slope, &b, err));
  int same = b.rank == x->rank;
  for (int i = 0; same && i < b.rank; i++) same = b.d[i] == x->d[i];
  if (!same) {
    char sx[96], ss[96];
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (PRelu): slope %s does not broadcast to X %s",
                   n->name, qi_shape_str(slope, ss, sizeof ss),
                   qi_shape_str(x, sx, sizeof sx));
  }
  qi_set_output(g, n, 0, QI_FLOAT32, x);
  return QI_OK;
}

static qi_status run_prelu(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  return run_two(ctx, n, in, out, QI_BIN_PRELU);
}

const qi_op_def qi_op_prelu = {"PRelu", NULL, infer_prelu, NULL,
                               NULL,    NULL, run_prelu,   1};

/* ---- variadic Max, Min, Sum, Mean ---- */

static qi_status infer_variadic(qi_graph *g, qi_node *n, qi_error *err,
                                unsigned dtypes) {
  QI_TRY(qi_check_inputs(n, 1, n->nin > 1 ? n->nin : 1, err));
  const qi_shape *s[MAX_VARIADIC_INPUTS];
  if (n->nin > MAX_VARIADIC_INPUTS)
    return qi_fail(err, QI_ERR_UNSUPPORTED, "node '%s' (%s): %d inputs",
                   n->name, n->op_type, n->nin);
  qi_dtype dt = qi_in_dtype(g, n, 0);
  for (int k = 0; k < n->nin; k++) {
    if (n->in[k] < 0)
      return qi_fail(err, QI_ERR_PARSE, "node '%s' (%s): input %d is absent",
                     n->name, n->op_type, k);
    qi_dtype dk = qi_in_dtype(g, n, k);
    if (!dtype_in(dk, dtypes) || dk != dt)
      return qi_eltwise_dtype_error(n, k, dk, err);
    s[k] = qi_in_shape(g, n, k);
  }
  QI_TRY(check_act(n, dt, 0, err));
  qi_shape out;
  QI_TRY(qi_bcast_shape_n(n, s, n->nin, &out, err));
  qi_set_output(g, n, 0, dt, &out);
  return QI_OK;
}

/* out = in0 op in1 over the full output shape, then out = out op in_k in
 * place for every further input (same index, so in place is exact);
 * Mean divides by the input count at the end. */
static qi_status run_variadic(const qi_run_ctx *ctx, const qi_node *n,
                              const qi_buf *in, qi_buf *out, qi_bin_op op,
                              int mean) {
  if (n->nin == 1) {
    int64_t cnt = qi_bcast_numel(&in[0].shape);
    if (cnt != qi_bcast_numel(&out[0].shape) || cnt < 0)
      return qi_fail(ctx->err, QI_ERR_INTERNAL,
                     "node '%s' (%s): output buffer does not match", n->name,
                     n->op_type);
    if (out[0].data != in[0].data)
      memcpy(out[0].data, in[0].data, (size_t)cnt * qi_dtype_size(in[0].dtype));
    return QI_OK;
  }
  bin_job j = job_for(op, in[0].dtype);
  j.out = out[0].data;
  for (int k = 1; k < n->nin; k++) {
    j.in[0] = k == 1 ? in[0].data : out[0].data;
    j.in[1] = in[k].data;
    const qi_shape *s[2] = {k == 1 ? &in[0].shape : &out[0].shape,
                            &in[k].shape};
    QI_TRY(bin_exec(ctx, n, &j, &out[0].shape, s, 2));
  }
  if (mean) {
    float count = (float)n->nin;
    qi_shape scalar = {.rank = 0};
    j.op = QI_BIN_DIV;
    j.in[0] = out[0].data;
    j.in[1] = &count;
    const qi_shape *s[2] = {&out[0].shape, &scalar};
    QI_TRY(bin_exec(ctx, n, &j, &out[0].shape, s, 2));
  }
  return QI_OK;
}

#define VARIADIC_OP(SYM, NAME, OP, DTYPES, MEAN)                         \
  static qi_status infer_##SYM(qi_graph *g, qi_node *n, qi_error *err) { \
    return infer_variadic(g, n, err, DTYPES);                            \
  }                                                                      \
  static qi_status run_##SYM(const qi_run_ctx *ctx, const qi_node *n,    \
                             const qi_buf *in, qi_buf *out) {            \
    return run_variadic(ctx, n, in, out, OP, MEAN);                      \
  }                                                                      \
  const qi_op_def SYM = {NAME, NULL, infer_##SYM, NULL,                  \
                         NULL, NULL, run_##SYM,   1};

VARIADIC_OP(qi_op_max, "Max", QI_BIN_MAX, DT_F32 | DT_INTS, 0)
VARIADIC_OP(qi_op_min, "Min", QI_BIN_MIN, DT_F32 | DT_INTS, 0)
VARIADIC_OP(qi_op_sum, "Sum", QI_BIN_ADD, DT_F32 | DT_INTS, 0)
VARIADIC_OP(qi_op_mean, "Mean", QI_BIN_ADD, DT_F32, 1)

/* ---- Where(cond, X, Y): three-way broadcast, any element type ---- */

static qi_status infer_where(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 3, 3, err));
  qi_dtype dc = qi_in_dtype(g, n, 0), dx = qi_in_dtype(g, n, 1),
           dy = qi_in_dtype(g, n, 2);
  if (dc != QI_BOOL) return qi_eltwise_dtype_error(n, 0, dc, err);
  if (!dtype_in(dx, DT_WHERE)) return qi_eltwise_dtype_error(n, 1, dx, err);
  if (dy != dx) return qi_eltwise_dtype_error(n, 2, dy, err);
  QI_TRY(check_act(n, dx, 0, err));
  const qi_shape *s[3] = {qi_in_shape(g, n, 0), qi_in_shape(g, n, 1),
                          qi_in_shape(g, n, 2)};
  qi_shape out;
  QI_TRY(qi_bcast_shape_n(n, s, 3, &out, err));
  qi_set_output(g, n, 0, dx, &out);
  return QI_OK;
}

static qi_status run_where(const qi_run_ctx *ctx, const qi_node *n,
                           const qi_buf *in, qi_buf *out) {
  bin_job j = job_for(QI_BIN_ADD, in[1].dtype);
  j.is_where = 1;
  for (int k = 0; k < 3; k++) j.in[k] = in[k].data;
  j.out = out[0].data;
  const qi_shape *s[3] = {&in[0].shape, &in[1].shape, &in[2].shape};
  return bin_exec(ctx, n, &j, &out[0].shape, s, 3);
}

const qi_op_def qi_op_where = {"Where", NULL, infer_where, NULL,
                               NULL,    NULL, run_where,   1};
