/*
 * Numpy broadcasting as a loop plan: up to three inputs read against one
 * output shape, with the dimensions merged as far as the strides allow.
 * Dims of size 1 are dropped and neighbours that are contiguous (or
 * broadcast) in every input become one, so [N,C,H,W] + [C,1,1] runs as
 * rows of H*W against one scalar per row, and same-shape or scalar
 * operands run as a single row. The innermost merged dim has stride 1 or 0
 * in every input, which is what the row kernels specialise on.
 */
#ifndef QI_OPS_ELTWISE_BCAST_H
#define QI_OPS_ELTWISE_BCAST_H

#include <stdint.h>

#include "ops/op.h"

#define QI_BCAST_MAX_IN 3

typedef struct qi_bcast_plan {
  int rank; /* >= 1 after merging */
  int nin;
  int64_t numel; /* of the output */
  int64_t dims[QI_MAX_RANK];
  /* Element strides of each input over the merged dims; 0 = broadcast. */
  int64_t strides[QI_BCAST_MAX_IN][QI_MAX_RANK];
} qi_bcast_plan;

/* Element count of s, or -1 with an error if unknown or beyond int64. */
int64_t qi_bcast_numel(const qi_shape *s);

/* Broadcast of `nin` shapes (QI_ERR_SHAPE naming the node when they do not
 * broadcast, QI_ERR_NOMEM when the result is too large). */
qi_status qi_bcast_shape_n(const qi_node *n, const qi_shape *const *ins,
                           int nin, qi_shape *out, qi_error *err);

/* Plans reading `ins` against output shape `out`; QI_ERR_SHAPE if an input
 * does not broadcast to exactly `out`. */
qi_status qi_bcast_plan_make(qi_bcast_plan *p, const qi_shape *out,
                             const qi_shape *const *ins, int nin,
                             qi_error *err);

/* One row segment: the inputs start at element offsets in_off[k] and step
 * by in_step[k] (0 or 1); the output starts at out_off; len elements. */
typedef void (*qi_bcast_row_fn)(void *arg, const int64_t *in_off,
                                const int64_t *in_step, int64_t out_off,
                                int64_t len);

/* Calls fn for the output elements [start, end) in order, one call per
 * (part of a) row. */
void qi_bcast_for_range(const qi_bcast_plan *p, int64_t start, int64_t end,
                        qi_bcast_row_fn fn, void *arg);

#endif
