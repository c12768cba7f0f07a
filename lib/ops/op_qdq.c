/* QuantizeLinear and DequantizeLinear (ONNX opsets 10 to 25) as FP32-graph
 * ops, per tensor or per axis, over uint8 / int8 (and int32 for
 * DequantizeLinear):
 *
 *   QuantizeLinear:   y = saturate(round_half_even(x / s) + z)
 *   DequantizeLinear: y = (float)(x - z) * s
 *
 * Scale and zero point may be runtime inputs (ONNX's own tests feed them);
 * QDQ models normally hold them as constants, and lib/quant/qdq_import.c
 * removes most pairs before these ops ever run. Blocked quantization
 * (opset 21 block_size > 0) and the float8 / 4-bit / 16-bit types are
 * rejected with QI_ERR_UNSUPPORTED. */
#include <math.h>
#include <stdint.h>

#include "ops/op.h"

/* How a scale / zero-point tensor spreads over x: x is seen as
 * [outer, channels, inner] and element (o, c, i) uses entry c. Per tensor:
 * channels = 1. */
typedef struct qdq_geom {
  int64_t outer, channels, inner;
} qdq_geom;

static int qdq_is_dq(const qi_node *n) {
  return n->op_type[0] == 'D';
}

static qi_status qdq_check(const qi_graph *g, const qi_node *n,
                           qi_error *err) {
  (void)g;
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  int64_t block = qi_attr_int(n, "block_size", 0);
  if (block != 0)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): block_size %lld (blocked quantization) "
                   "is not supported; only per-tensor and per-axis scales",
                   n->name, n->op_type, (long long)block);
  int64_t odt = qi_attr_int(n, "output_dtype", 0);
  int odt_ok = qdq_is_dq(n) ? odt == 0 || odt == QI_FLOAT32
                            : odt == 0 || odt == QI_UINT8 || odt == QI_INT8;
  if (!odt_ok)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): output_dtype %lld is not supported "
                   "(%s)",
                   n->name, n->op_type, (long long)odt,
                   qdq_is_dq(n) ? "float32 only" : "uint8 or int8 only");
  /* precision (opset 23): the type x / s is computed in; float32 is what
   * this op computes in. */
  int64_t prec = qi_attr_int(n, "precision", 0);
  if (prec != 0 && prec != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): precision %lld is not supported "
                   "(float32 only)",
                   n->name, n->op_type, (long long)prec);
  return QI_OK;
}

/* Checks scale (input 1) and zero point (input 2) against x and fills geom.
 * A scale of one element is per tensor; a 1-D scale of x.shape[axis]
 * elements is per axis. */
static qi_status qdq_geometry(const qi_graph *g, const qi_node *n,
                              const qi_shape *xs, qdq_geom *geom,
                              qi_error *err) {
  const qi_shape *ss = qi_in_shape(g, n, 1);
  const qi_shape *zs = qi_in_shape(g, n, 2);
  char b1[96], b2[96];
  int64_t ns = qi_shape_numel(ss);
  if (ns < 0 || qi_shape_numel(xs) < 0)
    return qi_fail(err, QI_ERR_SHAPE, "node '%s' (%s): shapes are not known",
                   n->name, n->op_type);
  if (zs && qi_shape_numel(zs) != ns)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): zero point shape %s differs from scale "
                   "shape %s",
                   n->name, n->op_type, qi_shape_str(zs, b1, sizeof b1),
                   qi_shape_str(ss, b2, sizeof b2));
  geom->outer = qi_shape_numel(xs);
  geom->channels = 1;
  geom->inner = 1;
  if (ns == 1 && ss->rank <= 1) return QI_OK;
  if (ss->rank != 1)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): scale of shape %s (only a scalar or a "
                   "1-D per-axis scale is supported)",
                   n->name, n->op_type, qi_shape_str(ss, b1, sizeof b1));
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 1), xs->rank);
  if (axis < 0 || xs->rank == 0 || xs->d[axis] != ns)
    return qi_fail(err, QI_ERR_SHAPE,
                   "node '%s' (%s): per-axis scale of %lld elements does not "
                   "match axis %lld of input shape %s",
                   n->name, n->op_type, (long long)ns,
                   (long long)qi_attr_int(n, "axis", 1),
                   qi_shape_str(xs, b1, sizeof b1));
  geom->outer = 1;
  for (int d = 0; d < axis; d++) geom->outer *= xs->d[d];
  geom->channels = ns;
  for (int d = axis + 1; d < xs->rank; d++) geom->inner *= xs->d[d];
  return QI_OK;
}

static qi_status qdq_scale_type(const qi_graph *g, const qi_node *n,
                                qi_error *err) {
  qi_dtype st = qi_in_dtype(g, n, 1);
  if (st != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (%s): scale of type %s (float32 only)", n->name,
                   n->op_type, qi_dtype_name(st));
  return QI_OK;
}

static qi_status quantize_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  qi_dtype xt = qi_in_dtype(g, n, 0);
  if (xt != QI_FLOAT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (QuantizeLinear): input of type %s (float32 "
                   "only)",
                   n->name, qi_dtype_name(xt));
  QI_TRY(qdq_scale_type(g, n, err));
  /* The output type: the zero point's, else output_dtype, else uint8. */
  qi_dtype yt = (qi_dtype)qi_attr_int(n, "output_dtype", 0);
  qi_dtype zt = qi_in_dtype(g, n, 2);
  if (zt != QI_UNDEFINED) {
    if (zt != QI_UINT8 && zt != QI_INT8)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "node '%s' (QuantizeLinear): zero point of type %s "
                     "(uint8 or int8 only)",
                     n->name, qi_dtype_name(zt));
    if (yt != QI_UNDEFINED && yt != zt)
      return qi_fail(err, QI_ERR_PARSE,
                     "node '%s' (QuantizeLinear): output_dtype %d differs "
                     "from the zero point's type %s",
                     n->name, (int)yt, qi_dtype_name(zt));
    yt = zt;
  }
  if (yt == QI_UNDEFINED) yt = QI_UINT8;
  const qi_shape *xs = qi_in_shape(g, n, 0);
  qdq_geom geom;
  QI_TRY(qdq_geometry(g, n, xs, &geom, err));
  qi_set_output(g, n, 0, yt, xs);
  return QI_OK;
}

static qi_status dequantize_infer(qi_graph *g, qi_node *n, qi_error *err) {
  QI_TRY(qi_check_inputs(n, 2, 3, err));
  qi_dtype xt = qi_in_dtype(g, n, 0);
  if (xt != QI_UINT8 && xt != QI_INT8 && xt != QI_INT32)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "node '%s' (DequantizeLinear): input of type %s (uint8, "
                   "int8 or int32 only)",
                   n->name, qi_dtype_name(xt));
  QI_TRY(qdq_scale_type(g, n, err));
  qi_dtype zt = qi_in_dtype(g, n, 2);
  if (zt != QI_UNDEFINED && zt != xt)
    return qi_fail(err, QI_ERR_PARSE,
                   "node '%s' (DequantizeLinear): zero point of type %s for "
                   "an input of type %s",
                   n->name, qi_dtype_name(zt), qi_dtype_name(xt));
  const qi_shape *xs = qi_in_shape(g, n, 0);
  qdq_geom geom;
  QI_TRY(qdq_geometry(g, n, xs, &geom, err));
  qi_set_output(g, n, 0, QI_FLOAT32, xs);
  return QI_OK;
}

/* Geometry again at run time, from the buffers (shapes are static, so this
 * cannot fail after infer accepted them). */
static void run_geometry(const qi_node *n, const qi_buf *in, qdq_geom *geom) {
  const qi_shape *xs = &in[0].shape;
  int64_t ns = qi_shape_numel(&in[1].shape);
  geom->outer = qi_shape_numel(xs);
  geom->channels = 1;
  geom->inner = 1;
  if (ns == 1) return;
  int axis = qi_norm_axis(qi_attr_int(n, "axis", 1), xs->rank);
  geom->outer = 1;
  for (int d = 0; d < axis; d++) geom->outer *= xs->d[d];
  geom->channels = ns;
  for (int d = axis + 1; d < xs->rank; d++) geom->inner *= xs->d[d];
}

static int32_t zero_point_at(const qi_buf *zp, int64_t c) {
  if (!zp->data) return 0;
  switch (zp->dtype) {
    case QI_UINT8: return ((const uint8_t *)zp->data)[c];
    case QI_INT8: return ((const int8_t *)zp->data)[c];
    case QI_INT32: return ((const int32_t *)zp->data)[c];
    default: return 0;
  }
}

/* Clamping x / s to [qmin - z, qmax - z] before rounding equals rounding
 * then saturating (the bounds are integers), keeps the conversion in range
 * for infinities, and NaN maps to z. */
static int32_t quantize_one(float x, float s, int32_t z, int32_t qmin,
                            int32_t qmax) {
  float v = x / s;
  if (isnan(v)) return z;
  float lo = (float)(qmin - z), hi = (float)(qmax - z);
  v = v < lo ? lo : v > hi ? hi : v;
  return (int32_t)nearbyintf(v) + z;
}

static qi_status quantize_run(const qi_run_ctx *ctx, const qi_node *n,
                              const qi_buf *in, qi_buf *out) {
  (void)ctx;
  qdq_geom geom;
  run_geometry(n, in, &geom);
  const float *x = in[0].data;
  const float *scale = in[1].data;
  qi_buf none = {0};
  const qi_buf *zp = n->nin > 2 ? &in[2] : &none;
  int is_u8 = out[0].dtype == QI_UINT8;
  int32_t qmin = is_u8 ? 0 : -128, qmax = is_u8 ? 255 : 127;
  uint8_t *yu = out[0].data;
  int8_t *ys = out[0].data;
  for (int64_t o = 0, i = 0; o < geom.outer; o++)
    for (int64_t c = 0; c < geom.channels; c++) {
      float s = scale[c];
      int32_t z = zero_point_at(zp, c);
      for (int64_t k = 0; k < geom.inner; k++, i++) {
        int32_t q = quantize_one(x[i], s, z, qmin, qmax);
        if (is_u8)
          yu[i] = (uint8_t)q;
        else
          ys[i] = (int8_t)q;
      }
    }
  return QI_OK;
}

static int64_t load_int(const void *p, qi_dtype dt, int64_t i) {
  switch (dt) {
    case QI_UINT8: return ((const uint8_t *)p)[i];
    case QI_INT8: return ((const int8_t *)p)[i];
    default: return ((const int32_t *)p)[i];
  }
}

static qi_status dequantize_run(const qi_run_ctx *ctx, const qi_node *n,
                                const qi_buf *in, qi_buf *out) {
  (void)ctx;
  qdq_geom geom;
  run_geometry(n, in, &geom);
  const float *scale = in[1].data;
  qi_buf none = {0};
  const qi_buf *zp = n->nin > 2 ? &in[2] : &none;
  float *y = out[0].data;
  /* x - z is exact in int64; for int32 inputs z is 0 by the spec, so the
   * one rounding is the conversion of x, as in ONNX's reference. */
  for (int64_t o = 0, i = 0; o < geom.outer; o++)
    for (int64_t c = 0; c < geom.channels; c++) {
      float s = scale[c];
      int64_t z = zero_point_at(zp, c);
      for (int64_t k = 0; k < geom.inner; k++, i++)
        y[i] = (float)(load_int(in[0].data, in[0].dtype, i) - z) * s;
    }
  return QI_OK;
}

const qi_op_def qi_op_quantize_linear = {.op_type = "QuantizeLinear",
                                         .check = qdq_check,
                                         .infer = quantize_infer,
                                         .run = quantize_run,
                                         .foldable = 1};

const qi_op_def qi_op_dequantize_linear = {.op_type = "DequantizeLinear",
                                           .check = qdq_check,
                                           .infer = dequantize_infer,
                                           .run = dequantize_run,
                                           .foldable = 1};
