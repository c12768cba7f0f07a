/* The FP32 convolution kernels directly, each variant against a float64
 * reference or the scalar variant: depthwise convolution, the implicit-GEMM
 * microkernel and its B packing, and the bias / residual / activation tail.
 * Buffers are exact-sized so ASan catches reads or writes past them. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test_util.h"
#include "fp32/bias_act.h"
#include "fp32/conv_gemm.h"
#include "fp32/dwconv.h"
#include "fp32/dwconv3.h"
#include "fp32/dwconv8.h"
#include "ops/conv_dispatch.h"
#include "qtest.h"

/* ---- depthwise kernels directly ---------------------------------------- */

static void test_dwconv_kernels(qt_state *st) {
  static const int64_t shapes[][12] = {
      /* in_h in_w out_h out_w kh kw sh sw dh dw pt pl */
      {9, 70, 9, 70, 3, 3, 1, 1, 1, 1, 1, 1},
      {9, 71, 5, 36, 3, 3, 2, 2, 1, 1, 1, 1},
      {10, 67, 4, 33, 3, 3, 2, 2, 1, 1, 0, 0},
      {12, 90, 12, 84, 7, 7, 1, 1, 1, 1, 3, 0},
      {8, 40, 8, 40, 5, 5, 1, 1, 2, 2, 4, 4},
      {7, 33, 3, 11, 3, 3, 3, 3, 1, 1, 1, 1},
      {3, 5, 3, 5, 3, 3, 1, 1, 1, 1, 1, 1},
      {1, 100, 1, 50, 1, 4, 1, 2, 1, 1, 0, 1},
      {7, 7, 7, 7, 5, 5, 1, 1, 1, 1, 2, 2},
      {7, 7, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1},
      {28, 28, 28, 28, 7, 7, 1, 1, 1, 1, 3, 3},
      {5, 3, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1},
      {11, 57, 11, 19, 3, 3, 1, 3, 1, 1, 1, 1},
      {9, 40, 5, 20, 3, 3, 2, 2, 1, 1, 1, 1},
      {6, 45, 6, 9, 3, 5, 1, 4, 1, 3, 1, 2},
      {4, 70, 4, 30, 1, 40, 1, 1, 1, 1, 0, 0},
      {9, 60, 9, 10, 3, 3, 1, 6, 1, 1, 1, 1},
  };
  rng r = {900};
  qi_f32_dwconv2d_fn fns[2] = {qi_f32_dwconv2d__scalar,
                               qi_f32_conv_kernels_get().dwconv2d};
  for (size_t i = 0; i < sizeof shapes / sizeof *shapes; i++) {
    const int64_t *d = shapes[i];
    qi_f32_dw2d shape = {d[0], d[1], d[2], d[3], d[4],  d[5], d[6], d[7],
                         d[8], d[9], d[10], d[11], 0, 0, 0, 0, 0,
                         {0}, {0}, {0}};
    qi_f32_dw2d_derive(&shape);
    const qi_f32_dw2d *p = &shape;
    float *in = rnd_array(&r, p->in_h * p->in_w);
    float *w = rnd_array(&r, p->k_h * p->k_w);
    int64_t on = p->out_h * p->out_w;
    double *ref = malloc(sizeof(double) * (size_t)on);
    for (int64_t oh = 0; oh < p->out_h; oh++)
      for (int64_t ow = 0; ow < p->out_w; ow++) {
        double acc = 0.25;
        for (int64_t kh = 0; kh < p->k_h; kh++)
          for (int64_t kw = 0; kw < p->k_w; kw++) {
            int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
            int64_t iw = ow * p->stride_w - p->pad_l + kw * p->dil_w;
            if (ih >= 0 && ih < p->in_h && iw >= 0 && iw < p->in_w)
              acc += (double)in[ih * p->in_w + iw] * w[kh * p->k_w + kw];
          }
        ref[oh * p->out_w + ow] = acc;
      }
    /* Eight planes at once (five real lanes, three absent), each lane a
     * shifted copy of the plane and weights so lanes differ. */
    if (qi_f32_conv_kernels_get().dwconv2d_x8) {
      int64_t in_n = p->in_h * p->in_w;
      float *in8 = malloc(sizeof(float) * (size_t)(5 * in_n));
      float *w8 = malloc(sizeof(float) * (size_t)(5 * p->k_h * p->k_w));
      float *out8 = malloc(sizeof(float) * (size_t)(5 * on));
      float *scratch8 =
          aligned_alloc(64, (sizeof(float) * qi_f32_dwconv2d_x8_scratch(p) + 63) & ~(size_t)63);
      const float *ins[8] = {0}, *ws[8] = {0};
      float *outs[8] = {0}, bias8[8] = {0};
      for (int l = 0; l < 5; l++) {
        for (int64_t e = 0; e < in_n; e++) in8[l * in_n + e] = in[(e + l) % in_n];
        for (int64_t e = 0; e < p->k_h * p->k_w; e++)
          w8[l * p->k_h * p->k_w + e] = w[e] * (float)(l + 1);
        ins[l] = in8 + l * in_n;
        ws[l] = w8 + l * p->k_h * p->k_w;
        outs[l] = out8 + l * on;
        bias8[l] = 0.25f * (float)l;
      }
      qi_f32_conv_kernels_get().dwconv2d_x8(p, ins, ws, bias8, outs, scratch8);
      float *one = malloc(sizeof(float) * (size_t)on);
      float *scr1 = malloc(sizeof(float) * qi_f32_dwconv2d_scratch(p));
      int bad = 0;
      for (int l = 0; l < 5; l++) {
        qi_f32_dwconv2d__scalar(p, ins[l], ws[l], bias8[l], one, scr1);
        for (int64_t e = 0; e < on; e++)
          bad += !(fabs(out8[l * on + e] - one[e]) <=
                   REL_TOL * (fabs(one[e]) + 1.0));
      }
      QT_CHECKF(st, bad == 0, "dw x8 shape %zu: %d outputs differ", i, bad);
      free(in8);
      free(w8);
      free(out8);
      free(scratch8);
      free(one);
      free(scr1);
    }
    for (int f = 0; f < 2; f++) {
      float *out = malloc(sizeof(float) * (size_t)on);
      float *scratch = malloc(sizeof(float) * qi_f32_dwconv2d_scratch(p));
      fns[f](p, in, w, 0.25f, out, scratch);
      free(scratch);
      double e = rel_err(out, ref, on);
      QT_CHECKF(st, e <= REL_TOL, "dw shape %zu variant %d: rel err %g", i, f,
                e);
      free(out);
    }
    free(in);
    free(w);
    free(ref);
  }
}

/* ---- direct three-tap depthwise kernel ----------------------------------- */

/* One plane of the direct kernel against a float64 reference: bias, taps,
 * residual (none, separate, or the output buffer itself), activation.
 * Exact-sized buffers; the residual alias starts as a copy. */
static int dw3_case(rng *r, const qi_f32_dw2d *p, int res_mode, int act_kind) {
  const int64_t on = p->out_h * p->out_w;
  float *in = rnd_array(r, p->in_h * p->in_w);
  float *w = rnd_array(r, p->k_h * 3);
  float *res = res_mode ? rnd_array(r, on) : NULL;
  float *out = malloc(sizeof(float) * (size_t)on);
  double *ref = malloc(sizeof(double) * (size_t)on);
  const qi_f32_act act = {act_kind, -0.5f, 0.75f};
  const float bias = 0.125f;
  for (int64_t oh = 0; oh < p->out_h; oh++)
    for (int64_t ow = 0; ow < p->out_w; ow++) {
      double acc = bias;
      for (int64_t kh = 0; kh < p->k_h; kh++)
        for (int64_t kw = 0; kw < 3; kw++) {
          int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
          int64_t iw = ow * p->stride_w - p->pad_l + kw;
          if (ih >= 0 && ih < p->in_h && iw >= 0 && iw < p->in_w)
            acc += (double)in[ih * p->in_w + iw] * w[kh * 3 + kw];
        }
      if (res) acc += res[oh * p->out_w + ow];
      if (act_kind == QI_F32_ACT_RELU) acc = acc > 0 ? acc : 0;
      if (act_kind == QI_F32_ACT_CLIP)
        acc = acc < act.alpha ? act.alpha : acc > act.beta ? act.beta : acc;
      ref[oh * p->out_w + ow] = acc;
    }
  const float *rp = res;
  float *dst = out;
  if (res_mode == 2) { /* residual in the output buffer */
    memcpy(out, res, sizeof(float) * (size_t)on);
    rp = out;
  }
  for (int64_t i = 0; i < on && res_mode != 2; i++) out[i] = NAN;
  qi_f32_dwconv3_plane__avx2(p, in, w, bias, rp, &act, dst);
  double e = rel_err(out, ref, on);
  free(in);
  free(w);
  free(res);
  free(out);
  free(ref);
  return e <= REL_TOL;
}

static void test_dwconv3_kernel(qt_state *st) {
  if (qi_f32_conv_kernels_get().dwconv2d != qi_f32_dwconv2d__avx2) {
    (void)st; /* no AVX2 here: the kernel is never selected */
    printf("skip %s: this CPU lacks avx2\n", __func__);
    return;
  }
  rng r = {4242};
  int bad = 0, n = 0;
  /* Small planes: every row-end case (widths 1..17, heights 1..5), both
   * strides, symmetric and asymmetric pads, taller kernels and dilation
   * in h, every residual mode and fused activation. */
  for (int64_t sw = 1; sw <= 2; sw++)
    for (int64_t in_w = 1; in_w <= 17; in_w++)
      for (int64_t in_h = 1; in_h <= 5; in_h++)
        for (int64_t pl = 0; pl <= 2; pl++)
          for (int64_t pr = 0; pr <= 2; pr += 2) {
            int64_t kh = 1 + 2 * ((in_w + in_h) % 3); /* 1, 3, 5 */
            int64_t sh = 1 + (in_w + pl) % 3, dh = 1 + (in_h + pr) % 2;
            int64_t pt = (pl + in_h) % 3, pb = (pr + in_w) % 3;
            int64_t ow = (in_w + pl + pr - 3) / sw + 1;
            int64_t oh = (in_h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
            if (in_w + pl + pr < 3 || in_h + pt + pb < (kh - 1) * dh + 1 ||
                ow < 1 || oh < 1)
              continue;
            qi_f32_dw2d p = {0};
            p.in_h = in_h; p.in_w = in_w; p.out_h = oh; p.out_w = ow;
            p.k_h = kh; p.k_w = 3; p.stride_h = sh; p.stride_w = sw;
            p.dil_h = dh; p.dil_w = 1; p.pad_t = pt; p.pad_l = pl;
            QT_CHECK(st, qi_f32_dwconv3_applies(&p));
            int res_mode = (int)((in_w + in_h + pl) % 3);
            int act = (int)((in_w * 3 + in_h + pr) % 3); /* NONE, RELU, CLIP */
            bad += !dw3_case(&r, &p, res_mode, act);
            n++;
          }
  /* Wide rows: the four-register blocks, their boundary with the masked
   * row ends, and widths just around them. */
  static const int64_t wide[][6] = {
      /* in_h in_w sw pt pl pr */
      {5, 112, 1, 1, 1, 1}, {6, 112, 2, 1, 1, 1}, {4, 33, 1, 1, 1, 1},
      {4, 34, 1, 0, 0, 0},  {3, 35, 2, 1, 1, 0},  {7, 66, 2, 0, 2, 1},
      {3, 71, 2, 2, 1, 2},  {5, 41, 1, 2, 2, 0},  {2, 100, 2, 0, 0, 0},
      {3, 57, 1, 1, 0, 2},  {4, 81, 2, 1, 2, 2},  {3, 129, 1, 1, 1, 1},
  };
  for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
    for (int res_mode = 0; res_mode < 3; res_mode++) {
      const int64_t *d = wide[i];
      qi_f32_dw2d p = {0};
      p.in_h = d[0]; p.in_w = d[1]; p.k_h = 3; p.k_w = 3;
      p.stride_h = d[2]; p.stride_w = d[2]; p.dil_h = 1; p.dil_w = 1;
      p.pad_t = d[3]; p.pad_l = d[4];
      p.out_w = (d[1] + d[4] + d[5] - 3) / d[2] + 1;
      p.out_h = (d[0] + 2 * d[3] - 3) / d[2] + 1;
      bad += !dw3_case(&r, &p, res_mode, (int)(i + res_mode) % 3);
      n++;
    }
  QT_CHECKF(st, bad == 0, "dw3: %d of %d shapes differ", bad, n);
  QT_CHECKF(st, n > 650, "dw3: only %d shapes ran", n);
}

/* ---- eight-plane depthwise kernel, residual and activation fused -------- */

/* `lanes` planes (the rest absent) of the fused eight-plane kernel against
 * a float64 reference: per-lane bias, taps, residual (none, separate, or
 * the output buffer itself), activation. Exact-sized buffers. */
static int dw8_case(rng *r, const qi_f32_dw2d *p, int lanes, int res_mode,
                    int act_kind) {
  const int64_t on = p->out_h * p->out_w, in_n = p->in_h * p->in_w;
  const int64_t taps = p->k_h * p->k_w;
  const qi_f32_act act = {act_kind, -0.5f, 0.75f};
  const float *ins[8] = {0}, *ws[8] = {0}, *rs[8] = {0};
  float *outs[8] = {0}, bias[8] = {0};
  float *in[8] = {0}, *w[8] = {0}, *res[8] = {0};
  double *ref = malloc(sizeof(double) * (size_t)on);
  float *scratch = aligned_alloc(
      64, (sizeof(float) * qi_f32_dwconv2d_x8_scratch(p) + 63) & ~(size_t)63);
  int ok = 1;
  for (int l = 0; l < lanes; l++) {
    in[l] = rnd_array(r, in_n);
    w[l] = rnd_array(r, taps);
    res[l] = res_mode ? rnd_array(r, on) : NULL;
    outs[l] = malloc(sizeof(float) * (size_t)on);
    bias[l] = 0.125f * (float)(l + 1);
    ins[l] = in[l];
    ws[l] = w[l];
    if (res_mode == 2) { /* residual in the output buffer */
      memcpy(outs[l], res[l], sizeof(float) * (size_t)on);
      rs[l] = outs[l];
    } else {
      rs[l] = res[l];
      for (int64_t i = 0; i < on; i++) outs[l][i] = NAN;
    }
  }
  qi_f32_dwconv2d_x8_fused__avx2(p, ins, ws, bias, res_mode ? rs : NULL, &act,
                                 outs, scratch);
  for (int l = 0; l < lanes; l++) {
    for (int64_t oh = 0; oh < p->out_h; oh++)
      for (int64_t ow = 0; ow < p->out_w; ow++) {
        double acc = bias[l];
        for (int64_t kh = 0; kh < p->k_h; kh++)
          for (int64_t kw = 0; kw < p->k_w; kw++) {
            int64_t ih = oh * p->stride_h - p->pad_t + kh * p->dil_h;
            int64_t iw = ow * p->stride_w - p->pad_l + kw * p->dil_w;
            if (ih >= 0 && ih < p->in_h && iw >= 0 && iw < p->in_w)
              acc += (double)in[l][ih * p->in_w + iw] * w[l][kh * p->k_w + kw];
          }
        if (res[l]) acc += res[l][oh * p->out_w + ow];
        if (act_kind == QI_F32_ACT_RELU) acc = acc > 0 ? acc : 0;
        if (act_kind == QI_F32_ACT_CLIP)
          acc = acc < act.alpha ? act.alpha : acc > act.beta ? act.beta : acc;
        ref[oh * p->out_w + ow] = acc;
      }
    ok &= rel_err(outs[l], ref, on) <= REL_TOL;
    free(in[l]);
    free(w[l]);
    free(res[l]);
    free(outs[l]);
  }
  free(ref);
  free(scratch);
  return ok;
}

static void test_dwconv8_fused_kernel(qt_state *st) {
  if (!qi_f32_conv_kernels_get().dwconv2d_x8) {
    (void)st; /* no AVX2 here: the kernel is never selected */
    printf("skip %s: this CPU lacks avx2\n", __func__);
    return;
  }
  QT_CHECK(st, qi_f32_dwconv2d_x8_fuses(&(qi_f32_act){QI_F32_ACT_CLIP, 0, 6}));
  QT_CHECK(st, !qi_f32_dwconv2d_x8_fuses(&(qi_f32_act){QI_F32_ACT_SILU, 0, 0}));
  rng r = {4343};
  int bad = 0, n = 0;
  /* Small planes (widths 1..17, heights 1..5: groups of eight pixels that
   * span rows, a last partial group), strides 1 and 2, symmetric and
   * asymmetric pads, kernels 1..5 tall and 1..3 wide, dilation in h, 1, 3
   * and 8 planes, every residual mode and fused activation. */
  static const int lane_counts[3] = {1, 3, 8};
  for (int64_t sw = 1; sw <= 2; sw++)
    for (int64_t in_w = 1; in_w <= 17; in_w++)
      for (int64_t in_h = 1; in_h <= 5; in_h++)
        for (int64_t pl = 0; pl <= 2; pl += 2) {
          int64_t kh = 1 + 2 * ((in_w + in_h) % 3); /* 1, 3, 5 */
          int64_t kw = 1 + (in_w + pl + sw) % 3;     /* 1, 2, 3 */
          int64_t sh = 1 + (in_w + pl) % 2, dh = 1 + in_h % 2;
          int64_t pr = (in_h + sw) % 3, pt = (pl + in_h) % 3, pb = in_w % 3;
          int64_t ow = (in_w + pl + pr - kw) / sw + 1;
          int64_t oh = (in_h + pt + pb - (kh - 1) * dh - 1) / sh + 1;
          if (in_w + pl + pr < kw || in_h + pt + pb < (kh - 1) * dh + 1 ||
              ow < 1 || oh < 1)
            continue;
          qi_f32_dw2d p = {0};
          p.in_h = in_h; p.in_w = in_w; p.out_h = oh; p.out_w = ow;
          p.k_h = kh; p.k_w = kw; p.stride_h = sh; p.stride_w = sw;
          p.dil_h = dh; p.dil_w = 1; p.pad_t = pt; p.pad_l = pl;
          int lanes = lane_counts[(in_w + in_h) % 3];
          int res_mode = (int)((in_w + in_h + pl) % 3);
          int act = (int)((in_w * 3 + in_h + sw) % 3); /* NONE, RELU, CLIP */
          bad += !dw8_case(&r, &p, lanes, res_mode, act);
          n++;
        }
  /* MobileNet-like planes, and a kernel past the tap limit (one pixel at
   * a time). */
  static const int64_t big[][6] = {
      /* in_h in_w k s pad lanes */
      {14, 14, 3, 1, 1, 8}, {14, 14, 3, 2, 1, 5}, {7, 7, 3, 1, 1, 8},
      {28, 28, 3, 2, 1, 3}, {28, 28, 3, 1, 1, 8}, {9, 11, 9, 1, 4, 7},
  };
  for (size_t i = 0; i < sizeof big / sizeof *big; i++)
    for (int res_mode = 0; res_mode < 3; res_mode++) {
      const int64_t *d = big[i];
      qi_f32_dw2d p = {0};
      p.in_h = d[0]; p.in_w = d[1]; p.k_h = d[2]; p.k_w = d[2];
      p.stride_h = d[3]; p.stride_w = d[3]; p.dil_h = 1; p.dil_w = 1;
      p.pad_t = d[4]; p.pad_l = d[4];
      p.out_h = (d[0] + 2 * d[4] - d[2]) / d[3] + 1;
      p.out_w = (d[1] + 2 * d[4] - d[2]) / d[3] + 1;
      bad += !dw8_case(&r, &p, (int)d[5], res_mode, (int)(i + res_mode) % 3);
      n++;
    }
  QT_CHECKF(st, bad == 0, "dw8 fused: %d of %d shapes differ", bad, n);
  QT_CHECKF(st, n > 150, "dw8 fused: only %d shapes ran", n);
}

/* ---- implicit-GEMM microkernel ------------------------------------------ */

/* Every mr x nr tile shape, both write modes: scalar and dispatched
 * variants against a float64 sum, B packed from rows at scattered offsets
 * (as taps of a padded image are). C is exact-sized so ASan sees a write
 * past the tile. */
static void test_gemm_ukernel(qt_state *st) {
  enum { KC = 37, LDC = 19, BLEN = 400 };
  rng r = {4321};
  float *a = rnd_array(&r, KC * 6), *b = rnd_array(&r, BLEN);
  float *bp = malloc(sizeof(float) * KC * 16);
  int64_t boff[KC];
  for (int k = 0; k < KC; k++) boff[k] = (k * 53) % (BLEN - 16);
  qi_f32_gemm_ukernel_fn fns[2] = {qi_f32_gemm_ukernel_6x16__scalar,
                                   qi_f32_conv_kernels_get().gemm_ukernel};
  int bad = 0;
  for (int f = 0; f < 2; f++)
    for (size_t mr = 1; mr <= 6; mr++)
      for (size_t nr = 1; nr <= 16; nr++)
        for (int accum = 0; accum < 2; accum++) {
          qi_f32_pack_src src = {b, boff, 1000, 0, 1};
          qi_f32_gemm_pack_b_16__scalar(&src, KC, 0, nr, bp);
          for (size_t k = 0; k < KC; k++)
            for (size_t j = nr; j < 16; j++) bad += bp[k * 16 + j] != 0.0f;
          float *c = malloc(sizeof(float) * ((mr - 1) * LDC + nr));
          double ref[6][16];
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) {
              c[i * LDC + j] = 0.5f * (float)(i + j);
              double acc = accum ? 0.5 * (double)(i + j) : 0.0;
              for (int k = 0; k < KC; k++)
                acc += (double)a[k * 6 + i] * b[boff[k] + (int64_t)j];
              ref[i][j] = acc;
            }
          fns[f](KC, a, bp, 16, c, LDC, mr, nr, accum);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++)
              if (!(fabs(c[i * LDC + j] - ref[i][j]) <=
                    REL_TOL * (fabs(ref[i][j]) + 1.0)))
                bad++;
          free(c);
        }
  /* B read in place from rows of a matrix (ldb > 16), as 1x1 convolutions
   * do: full and half tiles. */
  enum { LDB = 23 };
  float *bm = rnd_array(&r, (KC - 1) * LDB + 16);
  for (int f = 0; f < 2; f++)
    for (size_t nr = 8; nr <= 16; nr += 8) {
      float c[6 * 16];
      fns[f](KC, a, bm, LDB, c, 16, 6, nr, 0);
      for (size_t i = 0; i < 6; i++)
        for (size_t j = 0; j < nr; j++) {
          double acc = 0.0;
          for (int k = 0; k < KC; k++)
            acc += (double)a[k * 6 + i] * bm[k * LDB + (int)j];
          bad += !(fabs(c[i * 16 + j] - acc) <= REL_TOL * (fabs(acc) + 1.0));
        }
    }
  free(bm);
  QT_CHECKF(st, bad == 0, "%d microkernel outputs out of tolerance", bad);
  free(a);
  free(b);
  free(bp);
}

/* The fused-epilogue microkernel, scalar and dispatched: every mr x nr,
 * with or without partial sums, bias and residual, each fusable
 * activation, the partial sums or the residual aliasing C. It must equal
 * the same variant's plain microkernel followed by the bias_act tail (the
 * unfused path) bit for bit, and a float64 reference within REL_TOL. C
 * and the partial sums / residual are exact-sized for ASan. */
static void test_gemm_ukernel_epi(qt_state *st) {
  enum { KC = 29, LDC = 21, LDP = 23, LDR = 18 };
  rng r = {98765};
  float *a = rnd_array(&r, KC * 6), *bp = rnd_array(&r, KC * 16);
  float *bias = rnd_array(&r, 6);
  const qi_f32_conv_kernels k = qi_f32_conv_kernels_get();
  const qi_f32_gemm_ukernel_fn plain[2] = {qi_f32_gemm_ukernel_6x16__scalar,
                                           k.gemm_ukernel};
  const qi_f32_gemm_ukernel_epi_fn epi[2] = {
      qi_f32_gemm_ukernel_6x16_epi__scalar, k.gemm_ukernel_epi};
  const qi_f32_bias_act_fn tail[2] = {qi_f32_bias_act__scalar, k.bias_act};
  const int acts[3] = {QI_F32_ACT_NONE, QI_F32_ACT_RELU, QI_F32_ACT_CLIP};
  int bad = 0, differ = 0, n = 0;
  for (int f = 0; f < 2; f++)
    for (size_t mr = 1; mr <= 6; mr++)
      for (size_t nr = 1; nr <= 16; nr++)
        for (int mode = 0; mode < 16; mode++) {
          const int has_p = mode & 1, has_b = mode & 2, has_r = mode & 4;
          const int alias = (mode & 8) && (has_p || has_r);
          if ((mode & 8) && !alias) continue;
          const qi_f32_act act = {acts[(mr + nr + (size_t)mode) % 3], -0.4f,
                                  0.6f};
          const size_t cn = (mr - 1) * LDC + nr;
          float *c = rnd_array(&r, (int64_t)cn);
          float *pp = rnd_array(&r, (int64_t)((mr - 1) * LDP + nr));
          float *rr = rnd_array(&r, (int64_t)((mr - 1) * LDR + nr));
          /* Aliased: the residual (else the partial sums) lives in C. */
          const int res_in_c = alias && has_r, p_in_c = alias && !has_r;
          const float *pv = p_in_c ? c : pp, *rv = res_in_c ? c : rr;
          const size_t ldp = p_in_c ? LDC : LDP, ldr = res_in_c ? LDC : LDR;
          /* Unfused: partial sums into a copy, then the tail per row. */
          float *want = malloc(sizeof(float) * cn);
          double ref[6][16];
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) {
              want[i * LDC + j] = has_p ? pv[i * ldp + j] : 0.0f;
              double v = has_p ? (double)pv[i * ldp + j] : 0.0;
              for (int kk = 0; kk < KC; kk++)
                v += (double)a[kk * 6 + i] * bp[kk * 16 + (int)j];
              if (has_b) v += bias[i];
              if (has_r) v += rv[i * ldr + j];
              if (act.kind == QI_F32_ACT_RELU) v = v > 0.0 ? v : 0.0;
              if (act.kind == QI_F32_ACT_CLIP)
                v = v < act.alpha ? act.alpha : (v > act.beta ? act.beta : v);
              ref[i][j] = v;
            }
          plain[f](KC, a, bp, 16, want, LDC, mr, nr, has_p);
          for (size_t i = 0; i < mr; i++)
            tail[f](&act, has_b ? bias[i] : 0.0f, want + i * LDC,
                    has_r ? rv + i * ldr : NULL, want + i * LDC, nr);
          qi_f32_gemm_epi e = {has_p ? pv : NULL, ldp, has_b ? bias : NULL,
                               has_r ? rv : NULL, ldr, act.kind, act.alpha,
                               act.beta};
          epi[f](KC, a, bp, 16, c, LDC, mr, nr, &e);
          for (size_t i = 0; i < mr; i++)
            for (size_t j = 0; j < nr; j++) {
              float got = c[i * LDC + j];
              differ += memcmp(&got, &want[i * LDC + j], sizeof got) != 0;
              bad += !(fabs(got - ref[i][j]) <=
                       REL_TOL * (fabs(ref[i][j]) + 1.0));
            }
          n++;
          free(c);
          free(pp);
          free(rr);
          free(want);
        }
  QT_CHECKF(st, bad == 0, "fused microkernel: %d outputs out of tolerance",
            bad);
  QT_CHECKF(st, differ == 0, "fused microkernel: %d outputs differ from the "
            "unfused path", differ);
  QT_CHECKF(st, n == 2 * 6 * 16 * 14, "fused microkernel: %d cases ran", n);
  QT_CHECK(st, qi_f32_gemm_epi_fusable(QI_F32_ACT_RELU) &&
                   qi_f32_gemm_epi_fusable(QI_F32_ACT_CLIP) &&
                   qi_f32_gemm_epi_fusable(QI_F32_ACT_NONE) &&
                   !qi_f32_gemm_epi_fusable(QI_F32_ACT_SIGMOID));
  free(a);
  free(bp);
  free(bias);
}

/* The B packers: columns walk output rows of an image (strides 1, 2, 3,
 * runs cut at row ends, unaligned starts, partial last panel); the
 * dispatched packer must equal the scalar one bit for bit, and both the
 * direct index formula. The image is exact-sized for ASan. */
static void test_pack_b(qt_state *st) {
  enum { H = 9, KC = 5 };
  /* Widths giving rows of 7..43 outputs: short rows (gathers) and rows of
   * 16 or more, whose panels cross one row end at every column 1..15 for
   * stride 1 and 2 (j0 steps of 1 and 13 move the crossing around). */
  static const int64_t widths[] = {23, 34, 37, 45};
  rng r = {99};
  qi_f32_gemm_pack_b_fn fns[2] = {qi_f32_gemm_pack_b_16__scalar,
                                  qi_f32_conv_kernels_get().pack_b};
  int bad = 0, crossings = 0;
  for (size_t wi = 0; wi < sizeof widths / sizeof *widths; wi++) {
    const int64_t W = widths[wi];
    float *img = rnd_array(&r, H * W);
    int64_t boff[KC] = {0, 1, W, W + 2, 2 * W + 1};
    for (int64_t sw = 1; sw <= 3; sw++) {
      int64_t ow = (W - 3) / sw + 1, oh = (H - 3) / 1 + 1;
      for (int64_t j0 = 0; j0 < 60; j0 += j0 < 20 ? 1 : 13)
        for (size_t n = 1; n <= 45 && j0 + (int64_t)n <= oh * ow; n += 11) {
          size_t panels = (n + 15) / 16;
          if (ow >= 16 && sw <= 2 && n >= 16 && (j0 % ow) + 16 > ow) crossings++;
          float *out[2];
          for (int f = 0; f < 2; f++) {
            out[f] = malloc(sizeof(float) * panels * KC * 16);
            qi_f32_pack_src src = {img, boff, ow, W, sw};
            fns[f](&src, KC, j0, n, out[f]);
          }
          for (size_t k = 0; k < KC; k++)
            for (size_t c = 0; c < panels * 16; c++) {
              size_t at = c / 16 * KC * 16 + k * 16 + c % 16;
              float want = 0.0f;
              if (c < n) {
                int64_t j = j0 + (int64_t)c;
                want = img[boff[k] + j / ow * W + j % ow * sw];
              }
              bad += out[0][at] != want || out[1][at] != want;
            }
          free(out[0]);
          free(out[1]);
        }
    }
    free(img);
  }
  QT_CHECKF(st, bad == 0, "%d packed values differ", bad);
  QT_CHECKF(st, crossings >= 40, "only %d row-crossing first panels", crossings);
}

/* ---- bias / residual / activation kernels ------------------------------ */

static void test_bias_act_kernels(qt_state *st) {
  /* Wide range, the exp clamp region and exact zeros; 203 is not a
   * multiple of 8 so the masked tail runs. */
  enum { N = 203 };
  float src[N], res[N], dst[N];
  rng r = {1234};
  for (int i = 0; i < N; i++) {
    src[i] = 30.0f * rnd(&r);
    res[i] = rnd(&r);
  }
  const float special[] = {0.0f, -0.0f, 1e-6f, -1e-6f, 0.62f, -0.63f,
                           87.5f, -87.5f, 100.0f, -100.0f, 3.0f, -3.0f};
  for (size_t i = 0; i < sizeof special / sizeof *special; i++)
    src[i] = special[i];
  qi_f32_bias_act_fn fns[2] = {qi_f32_bias_act__scalar,
                               qi_f32_conv_kernels_get().bias_act};
  for (int kind = QI_F32_ACT_NONE; kind <= QI_F32_ACT_TANH; kind++)
    for (int f = 0; f < 2; f++)
      for (int with_res = 0; with_res < 2; with_res++) {
        qi_f32_act a = {kind, 0, 0};
        act_params(kind, &a.alpha, &a.beta);
        const float bias = 0.375f;
        /* In place on the residual, as the fused Add may be planned. */
        memcpy(dst, res, sizeof dst);
        fns[f](&a, bias, src, with_res ? dst : NULL, dst, N);
        int bad = -1;
        for (int i = 0; i < N && bad < 0; i++) {
          float x = src[i] + bias;
          if (with_res) x = x + res[i];
          double ref = act_ref(kind, a.alpha, a.beta, (double)x);
          /* NaN compares false: counts as out of tolerance. */
          if (!(fabs(dst[i] - ref) <= ACT_ABS_TOL + REL_TOL * fabs(ref)))
            bad = i;
        }
        QT_CHECKF(st, bad < 0, "act %d variant %d res %d: element %d", kind,
                  f, with_res, bad);
      }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_dwconv_kernels);
  QT_RUN(&st, test_dwconv3_kernel);
  QT_RUN(&st, test_dwconv8_fused_kernel);
  QT_RUN(&st, test_gemm_ukernel);
  QT_RUN(&st, test_gemm_ukernel_epi);
  QT_RUN(&st, test_pack_b);
  QT_RUN(&st, test_bias_act_kernels);
  return qt_summary(&st);
}
