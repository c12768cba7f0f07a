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
};

/* Binds ops, folds constants and infers shapes in one walk over the nodes in
 * topological order; nodes whose inputs are all constant are evaluated and
 * removed. Unsupported ops are reported all at once. */
qi_status qi_graph_bind_ops(qi_graph *g, qi_error *err);
qi_status qi_graph_infer_and_fold(qi_graph *g, int fold, qi_error *err);
/* Fixes the shapes of graph inputs from the options (see qinfer.h). */
qi_status qi_graph_set_input_shapes(qi_graph *g, const qi_model_options *o,
                                    qi_error *err);
/* Runs op->prepare on every node. */
qi_status qi_graph_prepare(qi_graph *g, qi_error *err);

#endif
