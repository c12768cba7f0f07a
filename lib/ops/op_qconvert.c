/*
 * QiQuantize (float32 -> uint8) and QiDequantize (uint8 -> float32), the
 * conversions at the precision boundaries of the INT8 graph
 * (lib/quant/README.md):
 *   QiQuantize    q = sat(rne(x / s) + z), NaN -> z; s, z from the output
 *   QiDequantize  y = (float)(q - z) * s;           s, z from the input
 * Attribute `layout`: 0 keeps the layout; 1 (rank 4 only) converts NCHW
 * float to NHWC uint8 (QiQuantize) or NHWC uint8 to NCHW float
 * (QiDequantize). The rows are qop_convert.h's kernels; the work is split
 * over the pool in blocks of contiguous output.
 */
#include <stdlib.h>
#include <string.h>

#include "ops/qop_convert.h"
#include "ops/qop_util.h"

/* Elements per task of a same-layout conversion. */
#define QCVT_CHUNK ((int64_t)1 << 14)
/* Pixels per task of a layout change (each task writes whole pixels, so no
 * two threads share an output cache line except at block edges). */
#define QCVT_PIXELS ((int64_t)256)

typedef struct qcvt_state {
  int layout;
  float scale; /* of the uint8 side */
  int32_t zp;
  qi_qop_quantize_fn quantize;
  qi_qop_dequantize_fn dequantize;
} qcvt_state;

static int is_quantize(const qi_node *n) {
  return strcmp(n->op_type, "QiQuantize") == 0;
}

static qi_status qcvt_check(const qi_graph *g, const qi_node *n,
                           qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 1, 1, err));
  QI_TRY(qi_qop_check_one_output(n, err));
  int64_t layout;
  return qi_qop_int_attr(n, "layout", 0, 0, 1, &layout, err);
}

static qi_status qcvt_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qcvt_check(g, n, err));
  int quant = is_quantize(n);
  QI_TRY(qi_qop_expect_dtype(g, n, 0, quant ? QI_FLOAT32 : QI_UINT8,
                             "input", err));
  const qi_shape *x = qi_in_shape(g, n, 0);
  qi_shape y = *x;
  if (qi_attr_int(n, "layout", 0) == 1) {
    char buf[96];
    if (x->rank != 4)
      return qi_fail(err, QI_ERR_SHAPE,
                     "node '%s' (%s): layout 1 needs a rank-4 input, not %s",
                     n->name, n->op_type, qi_shape_str(x, buf, sizeof buf));
    /* NCHW -> NHWC for QiQuantize, NHWC -> NCHW for QiDequantize. */
    if (quant) {
      y.d[1] = x->d[2];
      y.d[2] = x->d[3];
      y.d[3] = x->d[1];
    } else {
      y.d[1] = x->d[3];
      y.d[2] = x->d[1];
      y.d[3] = x->d[2];
    }
  }
  qi_set_output(g, n, 0, quant ? QI_UINT8 : QI_FLOAT32, &y);
  return QI_OK;
}

static void qcvt_free_state(void *state) { free(state); }

static qi_status qcvt_prepare(const qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qcvt_check(g, n, err));
  qcvt_state s;
  s.layout = (int)qi_attr_int(n, "layout", 0);
  qi_u8_quant q;
  if (is_quantize(n))
    QI_TRY(qi_qop_out_quant(g, n, &q, err));
  else
    QI_TRY(qi_qop_in_quant(g, n, 0, &q, err));
  s.scale = (float)q.scale; /* exact: read from a float */
  s.zp = q.zero;
  qi_qop_convert_kernels(&s.quantize, &s.dequantize);
  qcvt_state *p = malloc(sizeof *p);
  if (!p)
    return qi_fail(err, QI_ERR_NOMEM, "node '%s' (%s): out of memory",
                   n->name, n->op_type);
  *p = s;
  qcvt_free_state(n->state);
  n->state = p;
  return QI_OK;
}

typedef struct qcvt_job {
  const qcvt_state *s;
  int quant;
  const void *x;
  void *y;
  int64_t numel;
  int64_t c, hw, blocks;  /* layout change: channels, pixels, per image */
} qcvt_job;

static void convert_task(void *arg, size_t task, int thread) {
  (void)thread;
  const qcvt_job *j = arg;
  const qcvt_state *s = j->s;
  if (s->layout == 0) {
    int64_t i0 = (int64_t)task * QCVT_CHUNK;
    size_t len = (size_t)(j->numel - i0 < QCVT_CHUNK ? j->numel - i0
                                                      : QCVT_CHUNK);
    if (j->quant)
      s->quantize(len, (const float *)j->x + i0, (uint8_t *)j->y + i0, 1,
                  s->scale, s->zp);
    else
      s->dequantize(len, (const uint8_t *)j->x + i0, 1, (float *)j->y + i0,
                    s->scale, s->zp);
    return;
  }
  int64_t b = (int64_t)task / j->blocks;
  int64_t p0 = ((int64_t)task % j->blocks) * QCVT_PIXELS;
  size_t len = (size_t)(j->hw - p0 < QCVT_PIXELS ? j->hw - p0 : QCVT_PIXELS);
  int64_t img = b * j->hw * j->c;
  for (int64_t c = 0; c < j->c; c++) {
    int64_t planar = img + c * j->hw + p0;    /* NCHW element (b, c, p0) */
    int64_t packed = img + p0 * j->c + c;     /* NHWC element (b, p0, c) */
    if (j->quant)
      s->quantize(len, (const float *)j->x + planar, (uint8_t *)j->y + packed,
                  (size_t)j->c, s->scale, s->zp);
    else
      s->dequantize(len, (const uint8_t *)j->x + packed, (size_t)j->c,
                    (float *)j->y + planar, s->scale, s->zp);
  }
}

static qi_status qcvt_run(const qi_run_ctx *ctx, const qi_node *n,
                          const qi_buf *in, qi_buf *out) {
  QI_TRY(qi_qop_run_prepared(ctx, n));
  const qcvt_state *s = n->state;
  int quant = is_quantize(n);
  if (in[0].dtype != (quant ? QI_FLOAT32 : QI_UINT8) ||
      out[0].dtype != (quant ? QI_UINT8 : QI_FLOAT32) || !in[0].data ||
      !out[0].data)
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): run needs %s input and %s output buffers",
                   n->name, n->op_type, quant ? "float32" : "uint8",
                   quant ? "uint8" : "float32");
  qcvt_job j = {s, quant, in[0].data, out[0].data,
                qi_shape_numel(&in[0].shape), 0, 0, 0};
  if (j.numel != qi_shape_numel(&out[0].shape) || j.numel < 0 ||
      (s->layout == 1 && in[0].shape.rank != 4))
    return qi_fail(ctx->err, QI_ERR_INTERNAL,
                   "node '%s' (%s): input and output shapes disagree",
                   n->name, n->op_type);
  if (j.numel == 0) return QI_OK;
  size_t tasks;
  if (s->layout == 0) {
    tasks = (size_t)((j.numel + QCVT_CHUNK - 1) / QCVT_CHUNK);
  } else {
    const int64_t *d = in[0].shape.d;
    /* The input is NCHW for QiQuantize, NHWC for QiDequantize. */
    j.c = quant ? d[1] : d[3];
    j.hw = quant ? d[2] * d[3] : d[1] * d[2];
    j.blocks = (j.hw + QCVT_PIXELS - 1) / QCVT_PIXELS;
    tasks = (size_t)(d[0] * j.blocks);
  }
  qi_pool_run(ctx->pool, convert_task, &j, tasks);
  return QI_OK;
}

const qi_op_def qi_op_qquantize = {
    .op_type = "QiQuantize",
    .check = qcvt_check,
    .infer = qcvt_infer,
    .prepare = qcvt_prepare,
    .free_state = qcvt_free_state,
    .run = qcvt_run,
    .foldable = 1,
};

const qi_op_def qi_op_qdequantize = {
    .op_type = "QiDequantize",
    .check = qcvt_check,
    .infer = qcvt_infer,
    .prepare = qcvt_prepare,
    .free_state = qcvt_free_state,
    .run = qcvt_run,
    .foldable = 1,
};
