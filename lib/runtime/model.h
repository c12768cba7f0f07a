/* The loaded model: an optimised, shape-inferred graph whose nodes are bound
 * to ops and prepared (weights packed). Immutable after qi_model_load_*. */
#ifndef QI_RUNTIME_MODEL_H
#define QI_RUNTIME_MODEL_H

#include "graph/graph.h"
#include "qinfer.h"

struct qi_model {
  qi_graph *g;
  /* Per-node tensor names for qi_model_node_info: node i's inputs start at
   * io_names[io_start[i]], followed by its outputs. Strings are borrowed from
   * the graph or are the literal "". */
  const char **io_names;
  int *io_start;
  /* A .qnf file's bytes, read once, holding the graph's constants (which
   * the tensors borrow); NULL otherwise. Freed with the model. */
  void *file_bytes;
};

/* Binds ops, folds constants and infers shapes in one walk over the nodes in
 * topological order; nodes whose inputs are all constant are evaluated and
 * removed. Unsupported ops are reported all at once. */
qi_status qi_graph_bind_ops(qi_graph *g, qi_error *err);
qi_status qi_graph_infer_and_fold(qi_graph *g, int fold, qi_error *err);
/* Fixes the shapes of graph inputs from the options (see qinfer.h). */
qi_status qi_graph_set_input_shapes(qi_graph *g, const qi_model_options *o,
                                    qi_error *err);
/* What the load pipeline does to a graph after import. */
typedef enum qi_load_mode {
  QI_LOAD_AS_IS = 0,      /* a .qnf: already optimised (and lowered) */
  QI_LOAD_FP32 = 1,       /* every fusion (when opts->optimize) */
  QI_LOAD_FOR_INT8 = 2,   /* fusions that keep non-clamp activations apart */
  QI_LOAD_LOWER_INT8 = 3  /* QI_LOAD_FOR_INT8, then lib/quant lowering of
                           * the nodes annotated INT8 */
} qi_load_mode;
/* Shapes, binding, folding, passes per `mode`, packing: a model owning
 * `g` (*model, caller-owned). On failure `g` is freed. */
qi_status qi_model_from_graph(qi_graph *g, const qi_model_options *opts,
                              qi_load_mode mode, qi_model **model,
                              qi_error *err);
/* qi_model_load_file with the passes of `mode` for an ONNX file (a .qnf
 * loads as is). */
qi_status qi_model_load_file_mode(const char *path,
                                  const qi_model_options *opts,
                                  qi_load_mode mode, qi_model **model,
                                  qi_error *err);
/* Runs every node's prepare (packs weights), nodes spread over `nthreads`
 * threads (0: one per online CPU, at most 8). On failure the error is the
 * first failing node's in graph order. */
qi_status qi_graph_prepare(qi_graph *g, int nthreads, qi_error *err);

#endif
