/*
 * QiQMatMul: the INT8 MatMul / Gemm of the lowered graph
 * (lib/quant/README.md) over the uint8 x int8 GEMM of core/qgemm.h.
 *   inputs   a  uint8 [..., K]: M = product of the leading dims rows of K
 *               (a rank-4 input is NHWC: its rows are pixels, K = C)
 *            W  int8 const [N, K], quant.axis 0 with N scales (or one
 *               per-tensor scale)
 *            B  int32 const [N] in the accumulator scale sa * sw[n] (not
 *               zero-point folded: packing folds it), optional
 *            R  uint8 residual of the output's shape, optional
 *   attrs    qmin, qmax, out_f32
 *   output   a's shape with the last dim N: uint8, or float32 with
 *            out_f32 = 1, where a rank-4 output goes back to NCHW
 *            [n, N, h, w] (computed NHWC in scratch and transposed)
 * Multipliers as QiQConv: mult[n] = (float)(sa * sw[n] / sy) for uint8
 * output, (float)(sa * sw[n]) for float, rmult = (float)(sr / sy).
 */
#include <stdlib.h>
#include <string.h>

#include "core/qgemm.h"
#include "ops/qop_util.h"

typedef struct qmm_state {
  qi_qgemm_packed pk;
  void *buf;            /* owned: the packed weights */
  qi_requant_params rp; /* residual pointer filled in per run */
  int has_res;
  int nchw_out;         /* float output of a rank-4 input: transposed */
  int64_t m, k, nout;
  int64_t batch, hw;    /* rank-4 input: its N and H*W */
} qmm_state;

static int has_residual(const qi_node *n) {
  return n->nin > 3 && n->in[3] >= 0;
}

static qi_status qmm_check(const qi_graph *g, const qi_node *n,
                           qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 4, err));
  QI_TRY(qi_qop_check_one_output(n, err));
  int32_t qmin, qmax;
  QI_TRY(qi_qop_clamp_attrs(n, &qmin, &qmax, err));
  int64_t f;
  QI_TRY(qi_qop_int_attr(n, "out_f32", 0, 0, 1, &f, err));
  if (f && has_residual(n))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiQMatMul): a residual input needs uint8 "
                   "output (out_f32 = 0)",
                   n->name);
  return QI_OK;
}

/* M, K, N from the shapes of a and W, checked. */
static qi_status dims(const qi_node *n, const qi_shape *a, const qi_shape *w,
                      int64_t *m, int64_t *k, int64_t *nout, qi_error *err) {
  char sa[96], sw[96];
  if (a->rank < 1 || w->rank != 2 || a->d[a->rank - 1] != w->d[1] ||
      w->d[1] < 1 || w->d[0] < 1)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (QiQMatMul): input %s and weights %s ([N, K]) "
                   "do not multiply",
                   n->name, qi_shape_str(a, sa, sizeof sa),
                   qi_shape_str(w, sw, sizeof sw));
  int64_t rows = qi_shape_numel(a);
  if (rows < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (QiQMatMul): input %s",
                   n->name, qi_shape_str(a, sa, sizeof sa));
  *k = w->d[1];
  *nout = w->d[0];
  *m = rows / *k;
  return QI_OK;
}

static qi_shape out_shape(const qi_shape *a, int64_t nout, int out_f32) {
  qi_shape y = *a;
  if (out_f32 && a->rank == 4) {
    y.d[1] = nout; /* [n, h, w, K] NHWC -> [n, N, h, w] NCHW */
    y.d[2] = a->d[1];
    y.d[3] = a->d[2];
  } else {
    y.d[a->rank - 1] = nout;
  }
  return y;
}

static int same_shape(const qi_shape *a, const qi_shape *b) {
  if (a->rank != b->rank) return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->d[i] != b->d[i]) return 0;
  return 1;
}

static qi_status qmm_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qmm_check(g, n, err));
  QI_TRY(qi_qop_expect_dtype(g, n, 0, QI_UINT8, "input a", err));
  QI_TRY(qi_qop_expect_dtype(g, n, 1, QI_INT8, "weights W", err));
  int64_t m, k, nout;
  const qi_shape *a = qi_in_shape(g, n, 0);
  QI_TRY(dims(n, a, qi_in_shape(g, n, 1), &m, &k, &nout, err));
  const qi_shape *b = qi_in_shape(g, n, 2);
  if (b) {
    QI_TRY(qi_qop_expect_dtype(g, n, 2, QI_INT32, "bias B", err));
    if (b->rank != 1 || b->d[0] != nout)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (QiQMatMul): bias must have shape [%lld]",
                     n->name, (long long)nout);
  }
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0;
  qi_shape y = out_shape(a, nout, out_f32);
  if (has_residual(n)) {
    QI_TRY(qi_qop_expect_dtype(g, n, 3, QI_UINT8, "residual R", err));
    if (!same_shape(qi_in_shape(g, n, 3), &y)) {
      char sr[96], so[96];
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (QiQMatMul): residual %s must match the "
                     "output %s",
                     n->name, qi_shape_str(qi_in_shape(g, n, 3), sr, sizeof sr),
                     qi_shape_str(&y, so, sizeof so));
    }
  }
  qi_set_output(g, n, 0, out_f32 ? QI_FLOAT32 : QI_UINT8, &y);
  return QI_OK;
}

static void qmm_free_state(void *state) {
  qmm_state *s = state;
  if (!s) return;
  free(s->buf);
  free(s);
}

/* Scales, multipliers and weight checks, then the packing into s->buf.
 * `mult` holds s->nout floats of scratch. */
static qi_status pack(const qi_graph *g, const qi_node *n, int out_f32,
                      float *mult, qmm_state *s, qi_error *err) {
  qi_u8_quant qa, qy = {0.0, 0}, qr = {0.0, 0};
  QI_TRY(qi_qop_in_quant(g, n, 0, &qa, err));
  if (!out_f32) QI_TRY(qi_qop_out_quant(g, n, &qy, err));
  if (s->has_res) QI_TRY(qi_qop_in_quant(g, n, 3, &qr, err));
  const qi_tensor *wt, *bt = NULL;
  QI_TRY(qi_qop_const_input(g, n, 1, QI_INT8, s->nout * s->k, "weights W",
                            &wt, err));
  if (n->nin > 2 && n->in[2] >= 0)
    QI_TRY(qi_qop_const_input(g, n, 2, QI_INT32, s->nout, "bias B", &bt,
                              err));
  QI_TRY(qi_qop_check_symmetric(n, wt, s->nout * s->k, s->nout, err));
  QI_TRY(qi_qop_weight_mults(g, n, 1, s->nout, qa.scale,
                             out_f32 ? 0.0 : qy.scale, mult, err));
  s->rp = qi_requant_params_default();
  s->rp.out_f32 = out_f32;
  if (!out_f32) {
    QI_TRY(qi_qop_clamp_attrs(n, &s->rp.qmin, &s->rp.qmax, err));
    s->rp.zy = qy.zero;
  }
  if (s->has_res) {
    QI_TRY(qi_qop_residual_mult(n, qr.scale, qy.scale, &s->rp.rmult, err));
    s->rp.zr = qr.zero;
    s->rp.ldr = (size_t)s->nout;
  }
  const qi_qgemm_config *cfg = NULL;
  /* A bad QINFER_ISA leaves the CPU's best kernel in cfg: run it. */
  (void)qi_qgemm_config_default(&cfg, NULL);
  size_t bytes = qi_qgemm_packed_size(cfg, s->nout, s->k);
  if (!bytes)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QiQMatMul): weights %lld x %lld are beyond "
                   "the INT8 GEMM (K <= %d)",
                   n->name, (long long)s->nout, (long long)s->k,
                   QI_U8S8_GEMM_MAX_K);
  s->buf = aligned_alloc(64, qi_qop_align64(bytes));
  if (!s->buf)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (QiQMatMul): out of memory",
                   n->name);
  qi_status st = qi_qgemm_pack(cfg, s->nout, s->k, wt->data, (size_t)s->k,
                               bt ? bt->data : NULL, qa.zero, mult, s->buf,
                               bytes, &s->pk, err);
  if (st != QI_OK && err)
    qi_error_prefix(err, "node '%s' (QiQMatMul)", n->name);
  return st;
}

static qi_status qmm_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qmm_check(g, n, err));
  QI_TRY(qi_qop_expect_dtype(g, n, 0, QI_UINT8, "input a", err));
  QI_TRY(qi_qop_expect_dtype(g, n, 1, QI_INT8, "weights W", err));
  const qi_shape *a = qi_in_shape(g, n, 0);
  qmm_state *s = calloc(1, sizeof *s);
  if (!s)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (QiQMatMul): out of memory",
                   n->name);
  qi_status st = dims(n, a, qi_in_shape(g, n, 1), &s->m, &s->k, &s->nout,
                      err);
  if (st != QI_OK) {
    free(s);
    return st;
  }
  int out_f32 = qi_attr_int(n, "out_f32", 0) != 0;
  s->has_res = has_residual(n);
  s->nchw_out = out_f32 && a->rank == 4;
  if (a->rank == 4) {
    s->batch = a->d[0];
    s->hw = a->d[1] * a->d[2];
  }
  float *mult = malloc(sizeof(float) * (size_t)s->nout);
  st = mult ? pack(g, n, out_f32, mult, s, err)
            : qi_fail(err, QI_ERR_NOMEM,
                      "node '%s' (QiQMatMul): out of memory", n->name);
  free(mult);
  if (st != QI_OK) {
    qmm_free_state(s);
    return st;
  }
  qmm_free_state(n->state);
  n->state = s;
  return QI_OK;
}

/* NCHW float output: the NHWC result lands in the first slice of scratch. */
static size_t f32_slice(const qmm_state *s) {
  return s->nchw_out ? qi_qop_align64((size_t)s->m * (size_t)s->nout *
                                      sizeof(float))
                     : 0;
}

static size_t state_scratch(const qmm_state *s, int nthreads) {
  return f32_slice(s) + qi_qgemm_workspace_size(&s->pk, s->m, nthreads);
}

static size_t qmm_scratch_bytes(const qi_graph *g, const qi_node *n,
                                int nthreads) {
  (void)g;
  /* Unprepared, the node cannot run at all (run says so). */
  return n->state ? state_scratch(n->state, nthreads) : 0;
}

static qi_status qmm_run(const qi_run_ctx *ctx, const qi_node *n,
                         const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qmm_state *s = n->state;
  const qi_shape *a = &in[0].shape;
  if (in[0].dtype != QI_UINT8 || !in[0].data || !out[0].data ||
      out[0].dtype != (s->rp.out_f32 ? QI_FLOAT32 : QI_UINT8) ||
      a->rank < 1 || a->d[a->rank - 1] != s->k ||
      qi_shape_numel(a) != s->m * s->k ||
      (s->has_res && (in[3].dtype != QI_UINT8 || !in[3].data)))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiQMatMul): run buffers differ from the ones "
                   "prepared",
                   n->name);
  size_t need = state_scratch(s, qi_pool_size(ctx->pool));
  if (need > ctx->scratch_bytes || (need && !ctx->scratch))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (QiQMatMul): scratch of %zu bytes given, %zu "
                   "needed",
                   n->name, ctx->scratch_bytes, need);
  if (s->m == 0) return QI_OK;
  qi_requant_params rp = s->rp;
  if (s->has_res) rp.residual = in[3].data;
  size_t f32 = f32_slice(s);
  void *c = f32 ? ctx->scratch : out[0].data;
  unsigned char *ws = f32 ? (unsigned char *)ctx->scratch + f32
                          : (unsigned char *)ctx->scratch;
  qi_status st = qi_qgemm(&s->pk, in[0].data, (size_t)s->k, s->m, &rp, c,
                          (size_t)s->nout, ctx->pool, ws,
                          ctx->scratch_bytes - f32, ctx->err);
  if (st != QI_OK) {
    if (ctx->err) qi_error_prefix(ctx->err, "node '%s' (QiQMatMul)", n->name);
    return st;
  }
  if (f32)
    qi_qop_nhwc_to_nchw_f32(ctx->pool, c, out[0].data, s->batch, s->hw,
                            s->nout);
  return QI_OK;
}

const qi_op_def qi_op_qmatmul = {
    .op_type = "QiQMatMul",
    .check = qmm_check,
    .infer = qmm_infer,
    .prepare = qmm_prepare,
    .free_state = qmm_free_state,
    .scratch_bytes = qmm_scratch_bytes,
    .run = qmm_run,
    .foldable = 0,
};
