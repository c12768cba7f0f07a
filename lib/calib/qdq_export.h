/*
 * QDQ ONNX export: writes a calibrated FP32 ONNX model as the QDQ form that
 * other engines (ONNX Runtime, TensorRT, ...) read, so our calibration can
 * be carried to them.
 *
 * It works on the ORIGINAL ONNX bytes (our fused graph holds internal ops
 * no other engine knows), re-encoding only the messages it changes and
 * copying every other field through byte for byte:
 *  - each activation named in `ranges` (a graph input or node output, FP32)
 *    gets QuantizeLinear(x, scale, zp uint8) -> DequantizeLinear, inserted
 *    right after x's producer; every node that read x reads the DQ output
 *    instead, except at parameter inputs (Clip bounds, Resize scales, Pad
 *    value, ...: see param_from in qdq_scan.c), and graph outputs keep
 *    reading x;
 *  - the constant FP32 weights of Conv (input 1), Gemm (input 1) and
 *    MatMul (a 2-D constant input 1) become int8 initializers, symmetric
 *    (zero point 0, scale max |w| / 127, q in -127..127: the scheme of
 *    lib/calib/qparams.h; 63 with reduce_range), one scale per output
 *    channel: axis 0 for Conv and Gemm transB = 1, axis 1 for MatMul
 *    [K, N] and Gemm transB = 0; then DequantizeLinear with that axis. The
 *    FP32 initializer (or Constant node) is dropped once nothing else
 *    reads it. Per-axis DequantizeLinear needs opset 13: a model at opset
 *    10..12 gets one scale per weight tensor (max over the channels)
 *    instead, and info->per_channel = 0 says so. Below opset 10 (no
 *    QuantizeLinear) the export fails;
 *  - biases stay FP32 (ONNX Runtime accepts that).
 * New tensor and node names follow ONNX Runtime's quantizer
 * ("x_QuantizeLinear_Output", "w_quantized", "x_scale", ...), with a
 * "_<k>" suffix where the model already uses the name.
 * Not handled: weights stored as external data (the export fails naming
 * the initializer), tensors inside subgraphs (If/Loop bodies keep reading
 * the FP32 values), ConvTranspose weights (stay FP32).
 */
#ifndef QI_CALIB_QDQ_EXPORT_H
#define QI_CALIB_QDQ_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

/* The uint8 grid of one activation: real = scale * (q - zero_point). */
typedef struct qi_qdq_range {
  const char *tensor_name; /* original ONNX name; borrowed */
  float scale;             /* finite, >= FLT_MIN */
  int32_t zero_point;      /* 0..255 */
} qi_qdq_range;

/* Export choices; a zeroed struct (or NULL) is the default. */
typedef struct qi_qdq_export_options {
  /* 0: weight codes in -127..127 (our INT8 scheme; right for TensorRT and
   * for ONNX Runtime on CPUs with VNNI). 1: -63..63 (7 bits, ONNX Runtime's
   * "reduce_range"): ONNX Runtime's u8s8 kernels on x86 without VNNI add
   * pairs of u8 x s8 products in saturating int16 (vpmaddubsw), which
   * 255 * 127 * 2 overflows and 255 * 63 * 2 does not. */
  int reduce_range;
} qi_qdq_export_options;

/* What an export did, for tools to report. */
typedef struct qi_qdq_export_info {
  int64_t opset;         /* the model's default-domain opset */
  int per_channel;       /* 1: per-axis weight scales; 0: per tensor */
  int activations;       /* QuantizeLinear nodes written (= nranges) */
  int weights;           /* weight tensors quantized (DequantizeLinear) */
  int dropped_constants; /* FP32 weights no longer needed, removed */
} qi_qdq_export_info;

/* Writes the QDQ model to `path` (borrowed; created or truncated). `onnx`
 * holds a serialized ModelProto, read during the call only. Each range must
 * name a distinct FP32 activation of the model's main graph: a name that is
 * missing, a constant or a non-float graph input fails with
 * QI_ERR_INVALID_ARG naming it (qi_qdq_select_ranges drops such names
 * first); malformed bytes fail with QI_ERR_PARSE naming the byte offset.
 * `path` is opened only once the whole model is encoded. */
qi_status qi_qdq_export(const uint8_t *onnx, size_t len,
                        const qi_qdq_range *ranges, int nranges,
                        const char *path, qi_error *err);
/* The same with options (opts may be NULL), reporting what was done in
 * *info (may be NULL), and with the encoded model returned in *out /
 * *out_len (caller frees) instead of written when path is NULL. */
qi_status qi_qdq_export_ex(const uint8_t *onnx, size_t len,
                           const qi_qdq_range *ranges, int nranges,
                           const qi_qdq_export_options *opts, const char *path,
                           uint8_t **out, size_t *out_len,
                           qi_qdq_export_info *info, qi_error *err);

/* Keeps, in order, the ranges whose tensor is an FP32 activation of the
 * original model (a graph input or node output, not a constant), moving
 * them to the front of `ranges` and setting *nranges to their count: names
 * our optimizer made up (fused or internal tensors) are dropped, and so
 * are duplicates after their first entry. The calibrator's glue calls it
 * before qi_qdq_export. */
qi_status qi_qdq_select_ranges(const uint8_t *onnx, size_t len,
                               qi_qdq_range *ranges, int *nranges,
                               qi_error *err);

#endif
