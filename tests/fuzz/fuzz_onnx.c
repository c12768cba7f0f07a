/* libFuzzer target for the ONNX importer: any bytes must give a status,
 * never a crash, a leak or a half-built graph. The same bytes are also read
 * as a lone TensorProto. Build and run from the repo root:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *     -Iinclude -Ilib tests/fuzz/fuzz_onnx.c lib/onnx/(all .c files)
 *     lib/graph/graph.c lib/core/error.c -o fuzz_onnx
 *   mkdir -p corpus && ./fuzz_onnx -max_total_time=60 corpus
 *     tests/fuzz/corpus/onnx
 * (new inputs go to the first directory; the committed seeds stay as is). */
#include <stdint.h>
#include <stdlib.h>

#include "onnx/onnx.h"

/* A directory that does not exist: external data paths are validated and
 * then fail to open, so the fuzzer never reads real files. */
#define FUZZ_BASE_DIR "/nonexistent/qinfer-fuzz"

static int graph_consistent(const qi_graph *g) {
  for (int i = 0; i < g->ntensors; i++) {
    const qi_tensor *t = &g->tensors[i];
    if (t->kind == QI_TK_CONST &&
        (!t->data || t->nbytes != (size_t)qi_shape_numel(&t->shape) *
                                      qi_dtype_size(t->dtype)))
      return 0;
  }
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (!n->name || !n->name[0]) return 0;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] < -1 || n->in[k] >= g->ntensors) return 0;
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] < -1 || n->out[k] >= g->ntensors) return 0;
  }
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i] < 0 || g->inputs[i] >= g->ntensors) return 0;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] < 0 || g->outputs[i] >= g->ntensors) return 0;
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qi_graph *g = NULL;
  qi_error err;
  if (qi_onnx_import(data, size, FUZZ_BASE_DIR, &g, &err) == QI_OK) {
    if (!graph_consistent(g)) __builtin_trap();
    qi_graph_free(g);
  } else if (g) {
    __builtin_trap();
  }
  qi_tensor t;
  if (qi_onnx_parse_tensor(data, size, FUZZ_BASE_DIR, &t, &err) == QI_OK) {
    if (!t.data) __builtin_trap();
    free(t.name);
    free(t.data);
  }
  return 0;
}
