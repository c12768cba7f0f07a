/*
 * FP16 2-D convolutions in NCHW: fp16 input, weights and output (or an
 * fp32 output), float32 arithmetic.
 *
 *   y[co][oh][ow] = act(sum_{c, kh, kw} w[co][c][kh][kw] *
 *                         x[g*Cg + c][oh*sh - pt + kh*dh][ow*sw - pl + kw*dw]
 *                       + bias[co] + res[co][oh][ow])
 *
 * (g the group of co; taps outside the image read zero; the epilogue of
 * fp16.h: bias, residual, activation, one rounding).
 *
 * General convolutions run as an implicit GEMM per group, C [Mg x P] =
 * W_g [Mg x K] * B [K x P] with K = Cg*kh*kw and P = OH*OW, for one image
 * of the batch at a time:
 *  1. qi_f16_conv_pad widens the fp16 image to float32 once, into a
 *     zero-padded copy (hp x wp per channel; one call per channel);
 *  2. the tasks (group, block of 6-channel weight panels, block of nc
 *     output pixels) pack B from that copy with the FP32 packer
 *     (fp32/conv_gemm.h; when the panels are split over several tasks,
 *     B is packed once up front instead), widen each fp16 weight panel
 *     (kc x 6 halves, about 1/nc of the multiply-adds) and run the FP32
 *     6x16 microkernel into a float tile, then write it through the
 *     epilogue.
 * Weights are packed once, in fp16: [group][K block][panel][kc][6].
 *
 * Depthwise planes (one input channel per group) go through the FP32
 * depthwise kernel on a widened copy of the plane.
 */
#ifndef QI_KERNELS_FP16_CONV_H
#define QI_KERNELS_FP16_CONV_H

#include <stddef.h>
#include <stdint.h>

#include "fp16/fp16.h"
#include "fp32/dwconv.h"

#define QI_F16_CONV_KC 256 /* K block: A panel 6 KB, B panel 16 KB */
#define QI_F16_CONV_NC 128 /* output pixels per task */
/* Floats of B packed once per image when tasks split the weight panels
 * (else every panel block would pack the same B). */
#define QI_F16_CONV_PREPACK_MAX ((int64_t)1 << 22)

typedef struct qi_f16_conv_shape {
  int64_t cin, cout, group;
  int64_t in_h, in_w, out_h, out_w, k_h, k_w;
  int64_t stride_h, stride_w, dil_h, dil_w;
  int64_t pad_t, pad_l, pad_b, pad_r; /* >= 0 */
} qi_f16_conv_shape;

typedef struct qi_f16_conv_plan {
  qi_f16_conv_shape s;
  int64_t cg, mg, kk; /* input / output channels per group, K */
  int64_t hp, wp;     /* padded image extents */
  int64_t ncols;      /* OH * OW */
  int64_t kc, nc;     /* K block, pixels per task */
  int64_t npanels;    /* ceil(Mg / 6) */
  int64_t panels_per_task;
  int64_t ncb, nmb; /* pixel blocks, panel blocks per group */
  int64_t nkb;      /* K blocks */
  int prepack;      /* B packed up front (qi_f16_conv_prepack) */
} qi_f16_conv_plan;

/* Fills the plan; 0 when the shape is inconsistent (sizes < 1, channels
 * not divisible by group, output extents not those of the formula above)
 * or too large for the packer's int32 offsets. `min_tasks`: split the
 * weight panels until there are about that many tasks (>= 1). */
int qi_f16_conv_plan_make(const qi_f16_conv_shape *s, int64_t min_tasks,
                          qi_f16_conv_plan *p);

/* Packed weights (halves) and their packing from OIHW fp16 weights. */
size_t qi_f16_conv_packed_halves(const qi_f16_conv_plan *p);
void qi_f16_conv_pack(const qi_f16_conv_plan *p, const uint16_t *w,
                      uint16_t *packed);
/* Offsets of the K rows of B in the padded image (p->kk entries). */
void qi_f16_conv_boff(const qi_f16_conv_plan *p, int64_t *boff);

/* Floats of the padded image of one batch item: cin * hp * wp. */
size_t qi_f16_conv_image_floats(const qi_f16_conv_plan *p);
/* Widens channel c of image x (fp16 [cin][in_h][in_w]) into its padded
 * plane of xp (the whole padded image). */
void qi_f16_conv_pad(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                     const uint16_t *x, int64_t c, float *xp);

typedef struct qi_f16_conv_io {
  const float *xp;       /* padded float image of this batch item */
  float *bpack;          /* p->prepack: qi_f16_conv_prepack_floats */
  const uint16_t *wpack; /* qi_f16_conv_pack */
  const int64_t *boff;   /* qi_f16_conv_boff */
  const float *bias;     /* [cout] or NULL */
  const uint16_t *res;   /* fp16 [cout][oh][ow] or NULL; may equal y */
  void *y;               /* fp16 or float [cout][oh][ow] */
  int y_f32;
  qi_f16_act act;
} qi_f16_conv_io;

/* With p->prepack, before the tasks of each batch item: tasks
 * (group, pixel block, K block) that pack all of B into io->bpack. */
size_t qi_f16_conv_prepack_floats(const qi_f16_conv_plan *p);
int64_t qi_f16_conv_num_prepack_tasks(const qi_f16_conv_plan *p);
void qi_f16_conv_prepack(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                         const qi_f16_conv_io *io, int64_t t);

/* Tasks per batch item: group * nmb * ncb. */
int64_t qi_f16_conv_num_tasks(const qi_f16_conv_plan *p);
/* Scratch bytes of one task (64-byte multiples; give it 64-byte aligned
 * memory for speed, 4-byte aligned is enough). */
size_t qi_f16_conv_task_scratch(const qi_f16_conv_plan *p);
/* Runs task t: writes only its channels and pixels of y. */
void qi_f16_conv_task(const qi_f16_kernels *k, const qi_f16_conv_plan *p,
                      const qi_f16_conv_io *io, int64_t t, void *scratch);

/* ---- depthwise ---------------------------------------------------------
 * One output plane: x one fp16 input plane [in_h][in_w], w the fp16
 * kernel [k_h][k_w], d a derived fp32/dwconv.h shape; res and y as for
 * the GEMM path (planes). */
size_t qi_f16_dwconv_scratch_floats(const qi_f32_dw2d *d);
void qi_f16_dwconv_plane(const qi_f16_kernels *k, const qi_f32_dw2d *d,
                         const uint16_t *x, const uint16_t *w, float bias,
                         const qi_f16_act *act, const uint16_t *res, void *y,
                         int y_f32, float *scratch);

#endif
