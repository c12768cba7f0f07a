/*
 * Private to op_resize.c (attributes, shape inference) and
 * op_resize_kernel.c (taps and the interpolation loops): the resolved
 * configuration of one Resize/Upsample node.
 */
#ifndef QI_OPS_OP_RESIZE_H
#define QI_OPS_OP_RESIZE_H

#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"

enum { RESIZE_MAX_COMBOS = 64 };

typedef enum { RM_NEAREST, RM_LINEAR, RM_CUBIC } resize_mode;

typedef enum {
  CT_HALF_PIXEL,
  CT_HALF_PIXEL_SYMMETRIC,
  CT_PYTORCH_HALF_PIXEL,
  CT_ALIGN_CORNERS,
  CT_ASYMMETRIC,
  CT_TF_HALF_PIXEL_FOR_NN,
  CT_TF_CROP_AND_RESIZE
} coord_mode;

typedef enum {
  NM_ROUND_PREFER_FLOOR,
  NM_ROUND_PREFER_CEIL,
  NM_FLOOR,
  NM_CEIL,
  NM_LEGACY
} nearest_mode;

typedef struct resize_cfg {
  resize_mode mode;
  coord_mode coord;
  nearest_mode nearest;
  double cubic_a, extrapolation;
  int exclude_outside;
  int rank;
  int resized[QI_MAX_RANK]; /* 0: axis left out of `axes`, identity */
  double scale[QI_MAX_RANK];
  double roi_lo[QI_MAX_RANK], roi_hi[QI_MAX_RANK];
  int64_t out[QI_MAX_RANK];
} resize_cfg;

/* n taps of input element offsets and weights; n == 0: extrapolate. */
typedef struct resize_tap {
  int32_t n;
  int64_t off[4];
  double w[4];
} resize_tap;

/* Scratch for qi_resize_execute: tap tables, the flat last-axis arrays
 * and two rows of doubles per thread. */
size_t qi_resize_scratch_bytes(const int64_t *out, int rank, int nthreads);

/* y = resize(x) as configured; y has shape c->out. Uses `scratch` when it
 * holds qi_resize_scratch_bytes(..., qi_pool_size(pool)) bytes, else
 * allocates; QI_ERR_NOMEM if that fails. */
qi_status qi_resize_execute(const resize_cfg *c, const qi_buf *x, qi_buf *y,
                            qi_pool *pool, void *scratch, size_t scratch_bytes);

#endif
