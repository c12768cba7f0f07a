/* libFuzzer target for the .qnf reader: any bytes must give a status, never
 * a crash, a leak or a half-built graph. Each input is read twice: as it is
 * (checksums reject nearly every mutation, which exercises the header and
 * table checks) and with its checksums recomputed by qnf_reseal, so that
 * mutations reach the record parsers. A graph that is accepted must save,
 * and read back equal to itself field by field. Build and run from the repo
 * root:
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *     -mavx2 -mfma -mf16c -Iinclude -Ilib -Ikernels -Itests/unit
 *     tests/fuzz/fuzz_qnf.c lib/qnf/(all .c files) lib/graph/graph.c
 *     lib/core/error.c lib/core/cpu_features.c -lpthread -o fuzz_qnf
 *   mkdir -p corpus && ./fuzz_qnf -max_total_time=60 corpus
 *     tests/fuzz/corpus/qnf
 * The seeds are written by tests/fuzz/make_qnf_corpus.c; inputs that once
 * crashed are kept there as crash-*.qnf. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"
#include "qnf_test_util.h"

/* What every graph the reader returns must satisfy beyond qnf_check_graph:
 * producers set from the nodes, constants with data of their size. */
static int graph_consistent(const qi_graph *g) {
  for (int i = 0; i < g->ntensors; i++) {
    const qi_tensor *t = &g->tensors[i];
    if (!t->name || t->borrowed) return 0;
    if (t->kind == QI_TK_CONST &&
        (!t->data || t->nbytes != (size_t)qi_shape_numel(&t->shape) *
                                      qi_dtype_size(t->dtype)))
      return 0;
    if (t->producer >= 0 && (t->producer >= g->nnodes || t->kind != QI_TK_ACT))
      return 0;
  }
  for (int i = 0; i < g->nnodes; i++) {
    const qi_node *n = &g->nodes[i];
    if (!n->name || !n->op_type || !n->domain) return 0;
    for (int k = 0; k < n->nin; k++)
      if (n->in[k] < -1 || n->in[k] >= g->ntensors) return 0;
    for (int k = 0; k < n->nout; k++)
      if (n->out[k] < -1 || n->out[k] >= g->ntensors ||
          (n->out[k] >= 0 && g->tensors[n->out[k]].producer != i))
        return 0;
  }
  return 1;
}

static void read_one(const uint8_t *data, size_t size) {
  qi_graph *g = (qi_graph *)data; /* must be overwritten */
  qi_error err;
  if (qi_qnf_read(data, size, &g, &err) != QI_OK) {
    if (g || strncmp(err.message, "qnf: ", 5) != 0) __builtin_trap();
    return;
  }
  if (!graph_consistent(g)) __builtin_trap();
  uint8_t *buf = NULL;
  size_t len = 0;
  qi_graph *back = NULL;
  char why[600];
  if (qi_qnf_write_memory(g, &buf, &len, &err) != QI_OK) __builtin_trap();
  if (qi_qnf_read(buf, len, &back, &err) != QI_OK) __builtin_trap();
  if (!qnf_graph_eq(g, back, why, sizeof why)) __builtin_trap();
  free(buf);
  qi_graph_free(back);
  qi_graph_free(g);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  read_one(data, size);
  if (size >= QNF_HEADER_SIZE) {
    uint8_t *copy = malloc(size);
    if (!copy) return 0;
    memcpy(copy, data, size);
    qnf_reseal(copy, size);
    read_one(copy, size);
    free(copy);
  }
  return 0;
}
