/*
 * Private to lib/quant/lower*.c: lowering of channels-last regions
 * (lower_chlast.c) and the helpers it borrows from the per-op matchers.
 */
#ifndef QI_QUANT_LOWER_CHLAST_H
#define QI_QUANT_LOWER_CHLAST_H

#include "quant/lower_internal.h"

/* lower_chlast.c: when node `ni` (LayerNormalization or MatMul) opens a
 * region Transpose(0,2,3,1) -> last-axis ops -> Transpose(0,3,1,2), lowers
 * the whole region and sets *done = 1; otherwise leaves the graph alone. */
qi_status lower_chlast_match(lower_ctx *c, int ni, int *done, qi_error *err);

/* lower_conv.c: int8 weights and int32 bias of MatMul `ni` (constant
 * weights [K, N], optional fused bias [N]) reading activation x, each
 * column n (weights and bias) multiplied by col_scale[n] first when
 * col_scale is not NULL. *wq = -1 when they cannot be made (the node must
 * stay FP32); *bias_t = -1 when there is no bias. */
qi_status lower_matmul_consts(lower_ctx *c, int ni, int x,
                              const float *col_scale, int *wq, int *bias_t,
                              qi_error *err);

/* lower_elt.c: 1 if node `ni` is a one-input activation QiQLut can table
 * (what lower_match_lut accepts, shapes and ranges aside). */
int lower_lut_ok(const qi_graph *g, int ni);

#endif
