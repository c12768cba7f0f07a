/* Memory plan: every activation tensor gets an offset in one arena; tensors
 * whose lifetimes do not overlap share bytes. */
#ifndef QI_RUNTIME_PLAN_H
#define QI_RUNTIME_PLAN_H

#include <stddef.h>

#include "graph/graph.h"

#define QI_ARENA_ALIGN 64
#define QI_NO_OFFSET ((size_t)-1)

typedef struct qi_plan {
  size_t *offset;      /* per tensor; QI_NO_OFFSET for constants/unused */
  size_t arena_bytes;  /* peak */
} qi_plan;

/* Lifetimes run from the producing node (graph inputs: before node 0) to
 * the last reading node (graph outputs: the end). First-fit by offset.
 * The inputs of a Concat along its outermost non-unit axis are placed
 * inside its output where they can be (see plan.c), so that their
 * producers write the result in place and Concat copies nothing. */
qi_status qi_plan_build(const qi_graph *g, qi_plan *plan, qi_error *err);
void qi_plan_free(qi_plan *plan);

#endif
