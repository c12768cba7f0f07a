/*
 * qinfer: an INT8 inference engine for vision models.
 *
 * The one public header. Handles are opaque; every entry point returns a
 * qi_status, and when a `qi_error *err` argument is given (it may be NULL)
 * a message naming the node, tensor or byte offset at fault is written there.
 * Nothing prints unless a tool asks it to.
 *
 * Ownership and lifetime are written next to each parameter. A qi_model is
 * immutable once loaded and may be shared by any number of sessions running
 * on different threads; a qi_session is used by one thread at a time.
 */
#ifndef QINFER_H
#define QINFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QINFER_VERSION_MAJOR 0
#define QINFER_VERSION_MINOR 1
#define QI_MAX_RANK 8

typedef enum qi_status {
  QI_OK = 0,
  QI_ERR_INVALID_ARG,   /* NULL pointer, bad option, unknown name */
  QI_ERR_IO,            /* a file could not be opened or read */
  QI_ERR_PARSE,         /* malformed ONNX or .qnf bytes */
  QI_ERR_UNSUPPORTED,   /* an op, attribute or data type we do not run */
  QI_ERR_SHAPE,         /* shapes that do not agree */
  QI_ERR_NOMEM,         /* an allocation failed or a size is beyond limits */
  QI_ERR_DEVICE,        /* no such device, or a device call failed */
  QI_ERR_INTERNAL       /* a bug in qinfer: please report it */
} qi_status;

/* Caller-owned error report. Written only on failure. */
typedef struct qi_error {
  qi_status status;
  char message[512];
} qi_error;

/* Element types use ONNX TensorProto.DataType numbers. */
typedef enum qi_dtype {
  QI_UNDEFINED = 0,
  QI_FLOAT32 = 1,
  QI_UINT8 = 2,
  QI_INT8 = 3,
  QI_INT32 = 6,
  QI_INT64 = 7,
  QI_BOOL = 9,
  QI_FLOAT16 = 10,
  QI_FLOAT64 = 11
} qi_dtype;

typedef enum qi_precision {
  QI_PREC_FP32 = 0,
  QI_PREC_FP16 = 1,
  QI_PREC_INT8 = 2
} qi_precision;

typedef enum qi_backend { QI_BACKEND_CPU = 0, QI_BACKEND_CUDA = 1 } qi_backend;

typedef struct qi_model qi_model;
typedef struct qi_session qi_session;

struct qi_binding;

/* Fixes the size of one model input whose ONNX shape is symbolic or which
 * the caller wants to change. */
typedef struct qi_input_shape {
  const char *name;            /* borrowed for the duration of the call */
  int rank;                    /* 1..QI_MAX_RANK */
  int64_t dims[QI_MAX_RANK];   /* each >= 1 */
} qi_input_shape;

typedef struct qi_model_options {
  /* Inputs to reshape; borrowed for the duration of the load call. Symbolic
   * dims of inputs not listed here: the first dim (batch) becomes 1, any
   * other symbolic dim is an error naming the input and the dim. */
  const qi_input_shape *input_shapes;
  int num_input_shapes;
  /* 0: import only (no fusion); 1 (default): all passes. */
  int optimize;
  /* Inputs whose values are fixed at load, e.g. a shape tensor fed as a
   * graph input: they become constants (so shapes stay static) and are no
   * longer model inputs. Data is copied; bindings are borrowed for the
   * duration of the load call. */
  const struct qi_binding *frozen_inputs;
  int num_frozen_inputs;
  /* Threads that pack the weights for the kernels at load (nodes in
   * parallel): 0 (default) one per online CPU, at most 8; 1 the calling
   * thread only. */
  int load_threads;
} qi_model_options;

typedef struct qi_session_options {
  int num_threads;     /* >= 1; 0 means 1 */
  qi_backend backend;  /* QI_BACKEND_CPU unless built with CUDA */
  int device_index;    /* CUDA device ordinal */
  int profile;         /* 1: time every node (see qi_session_profile) */
} qi_session_options;

/* Description of a model tensor. Strings are owned by the model and live
 * until qi_model_free. */
typedef struct qi_tensor_info {
  const char *name;
  qi_dtype dtype;
  int rank;
  int64_t shape[QI_MAX_RANK];
  /* Quantization: quantized = 1 when scale/zero_point are set (uint8
   * activations, and the calibrated range of an FP32 tensor); per-channel
   * weights report quantized = 2 and the scale of channel 0. */
  int quantized;
  float scale;
  int32_t zero_point;
} qi_tensor_info;

/* A tensor bound to a run by name. For inputs the data is read during
 * qi_session_run only; for outputs the caller provides `data` of
 * `size_bytes` and qinfer writes the result there. */
typedef struct qi_binding {
  const char *name;
  qi_dtype dtype;
  int rank;
  const int64_t *shape;  /* rank entries; checked against the model */
  void *data;
  size_t size_bytes;
} qi_binding;

/* One compiled node of a model after optimisation, for inspection. */
typedef struct qi_node_info {
  const char *name;
  const char *op_type;
  qi_precision precision;
  int num_inputs, num_outputs;
  const char *const *inputs;   /* tensor names; "" for an absent input */
  const char *const *outputs;
} qi_node_info;

typedef struct qi_node_profile {
  const char *name;     /* owned by the model */
  const char *op_type;  /* owned by the model */
  double total_ms;      /* summed over runs since profiling started */
  int64_t runs;
} qi_node_profile;

const char *qi_status_string(qi_status status);
const char *qi_version_string(void);

qi_model_options qi_model_options_default(void);
qi_session_options qi_session_options_default(void);

/* Loads an ONNX model or a .qnf model (told apart by their first bytes).
 * `path` is borrowed; external data files are looked up next to it. */
qi_status qi_model_load_file(const char *path, const qi_model_options *opts,
                             qi_model **model, qi_error *err);
/* Same, from a buffer that is read during the call only. External data
 * cannot be resolved from memory. */
qi_status qi_model_load_memory(const void *data, size_t size,
                               const qi_model_options *opts, qi_model **model,
                               qi_error *err);
/* Saves the model's optimised graph as a .qnf file (docs/format.md) that
 * qi_model_load_file loads without re-importing or re-optimising. `path` is
 * borrowed. */
qi_status qi_model_save(const qi_model *model, const char *path,
                        qi_error *err);
/* Frees a model. All sessions created from it must be freed first. NULL is
 * accepted and ignored. */
void qi_model_free(qi_model *model);

int qi_model_num_inputs(const qi_model *model);
int qi_model_num_outputs(const qi_model *model);
qi_status qi_model_input_info(const qi_model *model, int index,
                              qi_tensor_info *info, qi_error *err);
qi_status qi_model_output_info(const qi_model *model, int index,
                               qi_tensor_info *info, qi_error *err);
/* Any tensor of the optimised graph by name (inputs, outputs, weights and
 * intermediate values); QI_ERR_INVALID_ARG if there is none. */
qi_status qi_model_tensor_info(const qi_model *model, const char *name,
                               qi_tensor_info *info, qi_error *err);
int qi_model_num_nodes(const qi_model *model);
qi_status qi_model_node_info(const qi_model *model, int index,
                             qi_node_info *info, qi_error *err);

/* Creates a session that runs `model`; the model must outlive it. */
qi_status qi_session_create(const qi_model *model,
                            const qi_session_options *opts,
                            qi_session **session, qi_error *err);
void qi_session_free(qi_session *session);

/* Runs the model once. Every model input must be bound; any subset of the
 * outputs may be requested. No copies: the run reads the input buffers in
 * place (they must stay unchanged until it returns; it never writes them)
 * and its nodes write the output buffers directly, except an output buffer
 * that overlaps an input buffer or an earlier output binding's buffer:
 * those are filled at the end, in binding order. When the run fails, the
 * output buffers' contents are unspecified. */
qi_status qi_session_run(qi_session *session, const qi_binding *inputs,
                         int num_inputs, qi_binding *outputs, int num_outputs,
                         qi_error *err);

/* A tensor as a run produced it, for qi_session_run_inspect. Everything is
 * borrowed and valid only during the callback. A uint8 twin made by INT8
 * lowering is named "<fp32 name>:u8", carries its scale and zero point
 * (qi_model_tensor_info) and, at rank 4, is stored NHWC. */
typedef struct qi_tensor_view {
  const char *name;
  qi_dtype dtype;
  int rank;
  const int64_t *shape;
  const void *data;
} qi_tensor_view;
/* Returns QI_OK to go on; anything else stops the run with that status
 * (and the message the callback wrote to err, which may be NULL). */
typedef qi_status (*qi_tensor_callback)(void *user, const qi_tensor_view *t,
                                        qi_error *err);

/* qi_session_run that also calls `cb` (with `user`, borrowed) for every
 * model input and then, after each node, for each tensor that node wrote:
 * every intermediate value of the graph, seen before its memory is
 * reused. For debugging, layer-wise comparisons and calibration. */
qi_status qi_session_run_inspect(qi_session *session,
                                 const qi_binding *inputs, int num_inputs,
                                 qi_binding *outputs, int num_outputs,
                                 qi_tensor_callback cb, void *user,
                                 qi_error *err);

/* Peak bytes of the activation arena planned for this session. */
size_t qi_session_arena_bytes(const qi_session *session);

/* Per-node timings when the session was created with profile = 1. The array
 * is owned by the session and valid until the next run or free. */
qi_status qi_session_profile(const qi_session *session,
                             const qi_node_profile **entries, int *count,
                             qi_error *err);


/* ---- Post-training calibration ------------------------------------------
 * A calibrator loads an FP32 ONNX model, runs it on calibration samples
 * while streaming every activation into a fixed-size histogram (nothing is
 * kept per sample), and builds quantized models from what it saw: ranges by
 * the chosen method, int8 per-channel weights, the INT8 graph of
 * lib/quant/README.md, with per-node precision from the default and the
 * overrides. qi_calibrator_build may be called any number of times (other
 * methods, other overrides) without feeding the data again. */
typedef struct qi_calibrator qi_calibrator;

typedef enum qi_calib_method {
  QI_CALIB_MINMAX = 0,
  QI_CALIB_PERCENTILE = 1,
  QI_CALIB_ENTROPY = 2,
  QI_CALIB_MSE = 3
} qi_calib_method;

typedef struct qi_calib_options {
  qi_calib_method method;  /* default QI_CALIB_PERCENTILE */
  float method_param;      /* 0: the method's default (percentile 99.99,
                            * 255 levels for entropy and mse) */
  int histogram_bins;      /* 0: 2048 */
  int num_threads;         /* threads running the FP32 model; 0 means 1 */
  qi_precision default_precision; /* default QI_PREC_INT8 */
  /* 0 (default): the measured precision policy (docs/quantization.md)
   * keeps in FP32 the nodes whose results reach a model output through
   * data movement only, so outputs are never rounded to 256 levels;
   * 1: default_precision on every node. Overrides win either way. */
  int uniform_precision;
  /* 1: shift each INT8 Conv/Gemm/MatMul bias by the mean error its weight
   * rounding causes on the calibration data (per output channel); the
   * per-channel input means it needs are counted in the observer bytes. */
  int bias_correction;
} qi_calib_options;

qi_calib_options qi_calib_options_default(void);

/* Creates a calibrator for the ONNX (or .qnf FP32) model at `path`
 * (borrowed). `model_opts` fixes input shapes as for qi_model_load_file
 * (optimize is ignored: calibration always optimises, keeping activations
 * other than Relu/Clip as their own nodes). *out is owned by the caller. */
qi_status qi_calibrator_create(const char *path,
                               const qi_model_options *model_opts,
                               const qi_calib_options *calib_opts,
                               qi_calibrator **out, qi_error *err);
void qi_calibrator_free(qi_calibrator *calib);

/* The FP32 model being calibrated (owned by the calibrator): query its
 * inputs to prepare samples. */
const qi_model *qi_calibrator_model(const qi_calibrator *calib);

/* Runs one sample through the FP32 model and updates every observer. The
 * bindings are read during the call only. A sample with NaN or Inf in an
 * input is rejected naming the input; non-finite activations are counted
 * and reported by build. */
qi_status qi_calibrator_add_sample(qi_calibrator *calib,
                                   const qi_binding *inputs, int num_inputs,
                                   qi_error *err);
int64_t qi_calibrator_num_samples(const qi_calibrator *calib);
/* Bytes held by the observers (fixed at create). */
size_t qi_calibrator_observer_bytes(const qi_calibrator *calib);

/* Changes the range method for the next build. */
qi_status qi_calibrator_set_method(qi_calibrator *calib,
                                   qi_calib_method method, float param,
                                   qi_error *err);
/* Precision override for the next builds: `pattern` (borrowed) is matched
 * against every node's name and op type of the FP32 model, with '*' and '?'
 * wildcards; a comma-separated list is several patterns. Later calls win
 * over earlier ones. QI_ERR_INVALID_ARG if a pattern matches no node.
 * qi_calibrator_clear_precision forgets them all. */
qi_status qi_calibrator_set_precision(qi_calibrator *calib,
                                      const char *pattern,
                                      qi_precision precision, qi_error *err);
void qi_calibrator_clear_precision(qi_calibrator *calib);
/* Node count and names of the FP32 model's compute nodes, in order, for
 * per-layer tools (sensitivity sweeps); names owned by the calibrator. */
int qi_calibrator_num_nodes(const qi_calibrator *calib);
const char *qi_calibrator_node_name(const qi_calibrator *calib, int index);
const char *qi_calibrator_node_op(const qi_calibrator *calib, int index);

/* Writes the calibrated model as QDQ ONNX (path borrowed) that other
 * engines run: the original ONNX with QuantizeLinear/DequantizeLinear
 * after every calibrated activation (ranges of the current method) and
 * int8 per-channel weights for Conv, Gemm and MatMul. reduce_range = 1
 * limits weights to -63..63 for ONNX Runtime's u8s8 kernels on CPUs
 * without VNNI, whose int16 pair sums overflow otherwise. Precision
 * overrides are not exported. QI_ERR_UNSUPPORTED for a calibrator made
 * from a .qnf. */
qi_status qi_calibrator_export_qdq(qi_calibrator *calib, const char *path,
                                   int reduce_range, qi_error *err);

/* Builds a quantized model (caller-owned, freed with qi_model_free;
 * independent of the calibrator). Fails with QI_ERR_INVALID_ARG when no
 * sample was added, or naming a tensor that never saw a finite value. */
qi_status qi_calibrator_build(qi_calibrator *calib, qi_model **quantized,
                              qi_error *err);

#ifdef __cplusplus
}
#endif
#endif
