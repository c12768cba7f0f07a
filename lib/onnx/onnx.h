/*
 * ONNX import: ModelProto bytes to the IR of graph/graph.h, without a
 * protobuf library (onnx/pb.h reads the wire format).
 *
 * What the importer does with a model:
 * - The default-domain opset ("" or "ai.onnx") goes to g->opset. A model
 *   without one gets opset 1, which is what the ONNX IR spec implies for
 *   such (pre-IR-3) models; ops then reject what they cannot run.
 * - Initializers become QI_TK_CONST tensors; graph inputs that share a name
 *   with an initializer are constants too, the rest become QI_TK_ACT tensors
 *   listed in g->inputs with the declared dtype and shape (symbolic or
 *   missing dims are -1; no shape at all is rank -1).
 * - "Constant" nodes become constant tensors and emit no node. Node names
 *   left empty are invented as "<op_type>_<index in the file>", made unique.
 *   An empty input or output name is an absent optional value (-1). The
 *   domain "ai.onnx" is stored as "".
 * - Constant data is copied once into malloc'd memory that the graph owns;
 *   a constant never has NULL data (an empty tensor gets a 1-byte block and
 *   nbytes 0).
 * - Supported element types: float32, float16, float64, int8, uint8, int32,
 *   int64, bool. Others, string data, sparse tensors, segmented tensors and
 *   attributes of types TENSORS/GRAPHS/SPARSE_TENSOR(S)/TYPE_PROTO(S) fail
 *   with QI_ERR_UNSUPPORTED. A GRAPH attribute keeps its type only.
 * - External data is read from files under base_dir (relative paths
 *   without ".." only); with base_dir NULL it is an error.
 * Every size is checked against the bytes present in the buffer or the
 * external file before anything is allocated, and every error names the
 * field, tensor or node and the byte offset at fault.
 */
#ifndef QI_ONNX_ONNX_H
#define QI_ONNX_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

/* Imports a serialized ModelProto. `buf` is read during the call only;
 * `base_dir` (borrowed; NULL: no external data allowed) is where external
 * data files are looked up. On success *out is a topologically sorted
 * graph owned by the caller (qi_graph_free); on failure *out is NULL. */
qi_status qi_onnx_import(const uint8_t *buf, size_t len, const char *base_dir,
                         qi_graph **out, qi_error *err);

/* Parses a serialized TensorProto (the input_N.pb / output_N.pb files of the
 * ONNX backend tests). Fills every field of *out (kind QI_TK_CONST,
 * producer -1); the caller frees out->name (NULL when the proto has none)
 * and out->data. On failure *out holds nothing to free. */
qi_status qi_onnx_parse_tensor(const uint8_t *buf, size_t len,
                               const char *base_dir, qi_tensor *out,
                               qi_error *err);

#endif
