/*
 * How a Conv node runs, decided once in prepare (see op_conv.c), and the
 * run functions of each way. Shared by op_conv.c and the conv_run_*.c
 * files only.
 */
#ifndef QI_OPS_CONV_PLAN_H
#define QI_OPS_CONV_PLAN_H

#include "fp32/conv_gemm.h"
#include "fp32/dwconv.h"
#include "ops/conv_epilogue.h"
#include "ops/conv_geom.h"

typedef enum conv_algo {
  CONV_BLAS_POINTWISE = 0, /* OpenBLAS GEMM straight on the input */
  CONV_BLAS_IM2COL = 1,    /* OpenBLAS GEMM on im2col tiles */
  CONV_DEPTHWISE = 2,      /* direct kernels, 8 planes or 1 at a time */
  CONV_PACKED = 3          /* packed weights + our microkernel */
} conv_algo;

typedef struct conv_packed {
  qi_f32_gemm_ukernel_fn ukernel;
  qi_f32_gemm_pack_b_fn pack_b;
  /* The ukernel's variant with the epilogue fused into the last K block's
   * store; NULL when the activation cannot be fused (set by build). */
  qi_f32_gemm_ukernel_epi_fn ukernel_epi;
  float *wpack;       /* [group][K block][panel][kc][6], owned */
  int64_t *boff;      /* K offsets of B rows, owned */
  int direct;         /* B packed straight from the (padded) input: 1-D/2-D */
  int pad_copy;       /* direct and padded: B is a zero-padded copy */
  int b_rows;         /* 1x1, stride 1, unpadded: B rows are input rows */
  int64_t hp, wp;     /* extents of the image B is read from (direct) */
  int64_t ncols;      /* GEMM columns per (batch, group): OH * OW */
  int64_t npanels;    /* ceil(M_g / 6) */
  int64_t nc;         /* columns per task */
  int64_t panels_per_task;
  int64_t kc;         /* K block */
  int prepack;        /* pack all of B before the tasks (they split M) */
  int panel_outer;    /* per K block: each weight panel over every B tile */
} conv_packed;

typedef struct conv_plan {
  qi_conv_geom geo;
  conv_algo algo;
  int64_t tile;       /* CONV_BLAS_IM2COL: output pixels per tile */
  int has_sum;
  qi_epilogue epi;
  qi_f32_dwconv2d_fn dw;
  void (*dw8)(const qi_f32_dw2d *p, const float *const in[8],
              const float *const w[8], const float bias[8],
              float *const out[8], float *scratch); /* may be NULL */
  conv_packed pk;
} conv_plan;

/* Buffers of one run: the node's inputs and output. */
typedef struct conv_io {
  const float *x, *w, *bias, *res;
  float *y;
} conv_io;

size_t conv_blas_scratch(const conv_plan *p);
void conv_run_blas(const qi_run_ctx *ctx, const conv_plan *p,
                   const conv_io *io);

size_t conv_dw_scratch(const conv_plan *p, int nthreads);
void conv_run_depthwise(const qi_run_ctx *ctx, const conv_plan *p,
                        const conv_io *io);

/* Fills the sizes of p->pk (no allocation); 0 if the packed path does not
 * apply to this geometry. */
int conv_packed_layout(conv_plan *p);
/* Packs the weights and offsets into p->pk (owned by p). */
qi_status conv_packed_build(conv_plan *p, const float *w, const char *node,
                            qi_error *err);
void conv_packed_free(conv_packed *pk);
size_t conv_packed_scratch(const conv_plan *p, int nthreads);
void conv_run_packed(const qi_run_ctx *ctx, const conv_plan *p,
                     const conv_io *io);

#endif
