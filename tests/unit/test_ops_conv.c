/* Conv and ConvTranspose (FP32) against plain float64
 * reference loops written here, over awkward shapes: odd channels, 1x1 /
 * 7x7 / 3x5 kernels, strides, dilations, asymmetric pads, every auto_pad
 * mode, groups and depthwise, batch 2, bias or not, every fused activation
 * and the fused residual. Each case runs single-threaded and on a pool of
 * two threads, with the AVX2 kernels and with the scalar / OpenBLAS
 * fallback. Gemm and MatMul: test_ops_gemm.c; the kernels themselves:
 * test_kernels_fp32_conv.c. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conv_test_util.h"
#include "ops/op.h"
#include "qtest.h"

extern const qi_op_def qi_op_conv, qi_op_conv_transpose;

/* ---- Conv ---------------------------------------------------------------- */

typedef struct conv_case {
  const char *label;
  int nsp;
  int64_t n, c, m, group;
  int64_t in[3], k[3];
  int64_t s[3], d[3];     /* all zero: attribute absent (defaults 1) */
  int64_t pads[6];        /* begins then ends; used when has_pads */
  int has_pads;
  const char *auto_pad;   /* NULL: attribute absent */
  int bias, act, sum, alias_sum, kshape_attr;
} conv_case;

/* Output extents and leading pads by the ONNX formulas, independently of
 * the library. */
static void conv_ref_dims(const conv_case *cc, int64_t *out, int64_t *pb) {
  for (int i = 0; i < cc->nsp; i++) {
    int64_t s = cc->s[i] ? cc->s[i] : 1, d = cc->d[i] ? cc->d[i] : 1;
    int64_t ext = (cc->k[i] - 1) * d + 1, b = 0, e = 0;
    const char *ap = cc->auto_pad ? cc->auto_pad : "NOTSET";
    if (!strcmp(ap, "SAME_UPPER") || !strcmp(ap, "SAME_LOWER")) {
      int64_t o = (cc->in[i] + s - 1) / s;
      int64_t tot = (o - 1) * s + ext - cc->in[i];
      if (tot < 0) tot = 0;
      b = !strcmp(ap, "SAME_UPPER") ? tot / 2 : (tot + 1) / 2;
      e = tot - b;
    } else if (!strcmp(ap, "NOTSET") && cc->has_pads) {
      b = cc->pads[i];
      e = cc->pads[cc->nsp + i];
    }
    pb[i] = b;
    out[i] = (cc->in[i] + b + e - ext) / s + 1;
  }
}

static double *conv_ref(const conv_case *cc, const float *x, const float *w,
                        const float *bias, const float *res,
                        int64_t *out_numel) {
  int64_t o[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, in[3] = {1, 1, 1};
  int64_t k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1};
  int64_t oo[3], pp[3];
  conv_ref_dims(cc, oo, pp);
  for (int i = 0; i < cc->nsp; i++) {
    int a = 3 - cc->nsp + i;
    o[a] = oo[i];
    pb[a] = pp[i];
    in[a] = cc->in[i];
    k[a] = cc->k[i];
    s[a] = cc->s[i] ? cc->s[i] : 1;
    d[a] = cc->d[i] ? cc->d[i] : 1;
  }
  int64_t cg = cc->c / cc->group, mg = cc->m / cc->group;
  int64_t op = o[0] * o[1] * o[2], ip = in[0] * in[1] * in[2];
  int64_t total = cc->n * cc->m * op;
  double *y = malloc(sizeof(double) * (size_t)total);
  float a, b;
  act_params(cc->act, &a, &b);
  for (int64_t nb = 0; nb < cc->n; nb++)
    for (int64_t m = 0; m < cc->m; m++)
      for (int64_t p = 0; p < op; p++) {
        int64_t od = p / (o[1] * o[2]), oh = p / o[2] % o[1], ow = p % o[2];
        double acc = bias ? bias[m] : 0.0;
        int64_t grp = m / mg;
        for (int64_t ci = 0; ci < cg; ci++)
          for (int64_t zd = 0; zd < k[0]; zd++)
            for (int64_t zh = 0; zh < k[1]; zh++)
              for (int64_t zw = 0; zw < k[2]; zw++) {
                int64_t id = od * s[0] - pb[0] + zd * d[0];
                int64_t ih = oh * s[1] - pb[1] + zh * d[1];
                int64_t iw = ow * s[2] - pb[2] + zw * d[2];
                if (id < 0 || id >= in[0] || ih < 0 || ih >= in[1] ||
                    iw < 0 || iw >= in[2])
                  continue;
                double xv = x[(nb * cc->c + grp * cg + ci) * ip +
                              (id * in[1] + ih) * in[2] + iw];
                double wv = w[((m * cg + ci) * k[0] + zd) * k[1] * k[2] +
                              zh * k[2] + zw];
                acc += xv * wv;
              }
        int64_t idx = (nb * cc->m + m) * op + p;
        if (res) acc += res[idx];
        y[idx] = act_ref(cc->act, a, b, acc);
      }
  *out_numel = total;
  return y;
}

/* w == NULL makes the weights a runtime input instead of a constant. */
static qi_graph *conv_graph(const conv_case *cc, const float *w,
                            const float *bias, qi_dtype xdt) {
  qi_graph *g = qi_graph_create();
  int64_t xs[5] = {cc->n, cc->c}, ws[5] = {cc->m, cc->c / cc->group};
  for (int i = 0; i < cc->nsp; i++) {
    xs[2 + i] = cc->in[i];
    ws[2 + i] = cc->k[i];
  }
  int nin = cc->sum ? 4 : (cc->bias ? 3 : 2);
  int node = qi_graph_add_node(g, cc->label, "Conv", "", nin, 1);
  int tx = add_tensor(g, "X", cc->nsp + 2, xs, NULL, xdt);
  int tw = add_tensor(g, "W", cc->nsp + 2, ws, w, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = tx;
  n->in[1] = tw;
  if (cc->bias) n->in[2] = add_tensor(g, "B", 1, &cc->m, bias, QI_FLOAT32);
  if (cc->sum) {
    int64_t o[3], pb[3], ys[5] = {cc->n, cc->m};
    conv_ref_dims(cc, o, pb);
    for (int i = 0; i < cc->nsp; i++) ys[2 + i] = o[i];
    n->in[3] = add_tensor(g, "S", cc->nsp + 2, ys, NULL, QI_FLOAT32);
    set_int(n, "qi_sum", 1);
  }
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  g->tensors[n->out[0]].shape.rank = -1;
  if (cc->group != 1) set_int(n, "group", cc->group);
  int64_t one[3] = {0, 0, 0};
  if (memcmp(cc->s, one, sizeof one)) set_ints(n, "strides", cc->nsp, cc->s);
  if (memcmp(cc->d, one, sizeof one)) set_ints(n, "dilations", cc->nsp, cc->d);
  if (cc->has_pads) set_ints(n, "pads", 2 * cc->nsp, cc->pads);
  if (cc->auto_pad) set_str(n, "auto_pad", cc->auto_pad);
  if (cc->kshape_attr) set_ints(n, "kernel_shape", cc->nsp, cc->k);
  set_act(n, cc->act);
  return g;
}

static void conv_check_case_w(qt_state *st, const conv_case *cc,
                              qi_pool *pool, uint64_t seed, int w_runtime) {
  rng r = {seed};
  int64_t ks = cc->k[0] * (cc->nsp > 1 ? cc->k[1] : 1) *
               (cc->nsp > 2 ? cc->k[2] : 1);
  int64_t xn = cc->n * cc->c, wn = cc->m * (cc->c / cc->group) * ks;
  for (int i = 0; i < cc->nsp; i++) xn *= cc->in[i];
  float *x = rnd_array(&r, xn), *w = rnd_array(&r, wn);
  float *bias = cc->bias ? rnd_array(&r, cc->m) : NULL;
  int64_t yn;
  double *ref = conv_ref(cc, x, w, bias, NULL, &yn);
  float *res = cc->sum ? rnd_array(&r, yn) : NULL;
  if (res) {
    free(ref);
    ref = conv_ref(cc, x, w, bias, res, &yn);
  }
  qi_graph *g = conv_graph(cc, w_runtime ? NULL : w, bias, QI_FLOAT32);
  float *act[4] = {x, w, NULL, res};
  float *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_conv, g, act, pool,
                         cc->alias_sum ? 3 : -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", cc->label, err.message);
  if (s == QI_OK) {
    int64_t o[3], pb[3];
    conv_ref_dims(cc, o, pb);
    int shape_ok = ys.rank == cc->nsp + 2 && ys.d[0] == cc->n &&
                   ys.d[1] == cc->m;
    for (int i = 0; i < cc->nsp; i++) shape_ok &= ys.d[2 + i] == o[i];
    QT_CHECKF(st, shape_ok, "%s: output shape", cc->label);
    if (shape_ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s (threads %d): rel err %g", cc->label,
                qi_pool_size(pool), e);
    }
  }
  qi_graph_free(g);
  free(x);
  free(w);
  free(bias);
  free(res);
  free(ref);
  free(y);
}

static void conv_check_case(qt_state *st, const conv_case *cc, qi_pool *pool,
                            uint64_t seed) {
  conv_check_case_w(st, cc, pool, seed, 0);
}

static const conv_case conv_cases[] = {
    {"stem_7x7_s2", 2, 1, 3, 7, 1, {17, 19}, {7, 7}, {2, 2}, {0}, {3, 3, 3, 3}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 1},
    {"pointwise_17_to_7", 2, 1, 17, 7, 1, {9, 11}, {1, 1}, {0}, {0}, {0}, 0, NULL, 0, 0, 0, 0, 0},
    {"pointwise_stride2", 2, 2, 7, 17, 1, {9, 10}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 1, 0, 0, 0, 0},
    {"k3x5_dil2_asym", 2, 1, 3, 7, 1, {13, 21}, {3, 5}, {1, 2}, {2, 2}, {1, 2, 0, 3}, 1, NULL, 1, 0, 0, 0, 1},
    {"stride3_same_upper", 2, 1, 7, 3, 1, {16, 17}, {3, 3}, {3, 3}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"stride2_same_lower_k4", 2, 1, 7, 3, 1, {15, 14}, {4, 4}, {2, 2}, {0}, {0}, 0, "SAME_LOWER", 1, 0, 0, 0, 0},
    {"valid_k5_s3", 2, 2, 3, 17, 1, {19, 23}, {5, 5}, {3, 3}, {0}, {0}, 0, "VALID", 0, 0, 0, 0, 0},
    {"notset_explicit", 2, 1, 3, 5, 1, {8, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, "NOTSET", 1, 0, 0, 0, 0},
    {"group2_3x3", 2, 2, 14, 6, 2, {11, 9}, {3, 3}, {1, 1}, {0}, {1, 0, 1, 2}, 1, NULL, 1, QI_ACT_LEAKY, 0, 0, 0},
    {"group2_pointwise", 2, 1, 6, 10, 2, {7, 5}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, 0, 0, 0, 0},
    {"dw3x3_s1", 2, 2, 17, 17, 17, {45, 75}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0},
    {"dw3x3_s2", 2, 1, 17, 17, 17, {46, 77}, {3, 3}, {2, 2}, {0}, {0, 0, 1, 1}, 1, NULL, 1, QI_ACT_HARDSWISH, 0, 0, 0},
    {"dw5x5_dil2", 2, 1, 7, 7, 7, {20, 70}, {5, 5}, {1, 1}, {2, 2}, {4, 4, 4, 4}, 1, NULL, 0, 0, 0, 0, 0},
    {"dw7x7_asym", 2, 1, 3, 3, 3, {23, 81}, {7, 7}, {0}, {0}, {3, 2, 1, 4}, 1, NULL, 1, 0, 0, 0, 0},
    {"dw_s3_same", 2, 1, 7, 7, 7, {20, 50}, {3, 3}, {3, 3}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"dw_mult2_s2_tiny", 2, 1, 3, 6, 3, {3, 4}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"dw_1x1_s2", 2, 1, 5, 5, 5, {9, 9}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 0, 0, 0, 0, 0},
    {"conv1d_k3_s2", 1, 2, 3, 5, 1, {29}, {3}, {2}, {0}, {1, 2}, 1, NULL, 1, QI_ACT_TANH, 0, 0, 0},
    {"conv1d_dw", 1, 1, 7, 7, 7, {50}, {5}, {1}, {2}, {0}, 0, "SAME_LOWER", 1, 0, 0, 0, 0},
    {"conv3d", 3, 1, 3, 4, 1, {5, 6, 7}, {2, 3, 3}, {1, 2, 1}, {0}, {0, 1, 1, 1, 0, 1}, 1, NULL, 1, 0, 0, 0, 1},
    {"conv3d_dw", 3, 2, 3, 3, 3, {4, 5, 6}, {3, 3, 3}, {0}, {0}, {0}, 0, "SAME_UPPER", 1, 0, 0, 0, 0},
    {"kblocks_prepack_7x7", 2, 2, 64, 20, 1, {7, 7}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    {"conv3d_prepack", 3, 1, 29, 13, 1, {3, 4, 5}, {3, 3, 3}, {0}, {0}, {1, 1, 1, 1, 1, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"tiled_64x40x40", 2, 1, 64, 16, 1, {40, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    {"batch2_sum_relu", 2, 2, 7, 17, 1, {10, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    {"sum_no_bias", 2, 2, 3, 5, 1, {6, 7}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 0, 0, 1, 0, 0},
    {"sum_alias_im2col", 2, 2, 7, 5, 1, {10, 9}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_SILU, 1, 1, 0},
    {"sum_alias_pointwise", 2, 2, 17, 7, 1, {5, 6}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"sum_alias_dw", 2, 2, 7, 7, 7, {12, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"sum_dw", 2, 1, 7, 7, 7, {12, 40}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_GELU, 1, 0, 0},
    {"sum_pointwise_s2", 2, 1, 4, 6, 1, {9, 9}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 1, QI_ACT_HARDSIGMOID, 1, 0, 0},
    /* Few columns, many weight panels: the 1x1 B is packed up front
     * instead of read from the input rows. */
    {"pointwise_few_cols_m151", 2, 1, 37, 151, 1, {7, 9}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    /* Output rows of 17 and 19: most 16-column B panels span two rows. */
    {"row_straddle_w17", 2, 1, 5, 13, 1, {11, 17}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"row_straddle_w19_sum", 2, 2, 6, 8, 1, {9, 19}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 0, QI_ACT_RELU, 1, 0, 0},
    /* Rows of >= 24 outputs, 3 taps wide, stride_w 1 or 2: the direct
     * NCHW kernel (fused ReLU/Clip, residual, in-place residual). */
    {"dw3_c1_w24_relu", 2, 1, 1, 1, 1, {5, 24}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    {"dw3_c3_s2_odd_asym", 2, 2, 3, 3, 3, {9, 57}, {3, 3}, {2, 2}, {0}, {0, 1, 2, 0}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0},
    {"dw3_5x3_sh2_dh2_mult2", 2, 1, 3, 6, 3, {17, 50}, {5, 3}, {2, 1}, {2, 1}, {3, 1, 2, 1}, 1, NULL, 1, 0, 0, 0, 0},
    {"dw3_c17_sum_alias_clip", 2, 2, 17, 17, 17, {6, 31}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 1, 0},
    {"dw3_s2_sum_silu_nobias", 2, 1, 5, 5, 5, {8, 67}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 0, QI_ACT_SILU, 1, 0, 0},
    {"dw3_s2_sum_alias_relu", 2, 2, 4, 4, 4, {7, 113}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"conv1d_dw3_s2", 1, 2, 4, 4, 4, {99}, {3}, {2}, {0}, {1, 0}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    /* Just at the direct kernel's width limits (32 at stride 1, 24 at
     * stride 2). */
    {"dw3_c1_w32_relu", 2, 1, 1, 1, 1, {5, 32}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    {"dw3_c17_w33_sum_alias_clip", 2, 2, 17, 17, 17, {6, 33}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 1, 0},
    {"dw3_s2_out25_sum_clip", 2, 1, 3, 3, 3, {7, 50}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 0, 0},
    /* Packed path with the epilogue fused into the last K block's store:
     * several K blocks (partial sums in the tile buffer when the residual
     * aliases the output or rows end mid-vector, else in the output),
     * column tails, odd channel counts, 1x1 read in place or packed. */
    {"packed_kblocks_alias_relu", 2, 1, 40, 13, 1, {9, 11}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"packed_kblocks_sum_relu_w10", 2, 1, 33, 20, 1, {8, 10}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 0, 0},
    {"packed_1x1_kblocks_alias_relu", 2, 2, 300, 14, 1, {5, 7}, {1, 1}, {0}, {0}, {0}, 0, NULL, 0, QI_ACT_RELU, 1, 1, 0},
    /* Clip keeps |y| <= 0.7, so its cases keep K small: the relative
     * error is taken against max |y|. */
    {"packed_3x3_sum_clip_m9", 2, 2, 5, 9, 1, {9, 10}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 0, 0},
    {"packed_3x3_alias_clip_w13", 2, 1, 4, 8, 1, {6, 13}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 1, 0},
    {"packed_1x1_s2_sum_noact", 2, 1, 24, 19, 1, {13, 12}, {1, 1}, {2, 2}, {0}, {0}, 0, NULL, 1, 0, 1, 0, 0},
    {"packed_wide_3kblocks_relu", 2, 1, 64, 7, 1, {20, 24}, {3, 3}, {1, 1}, {0}, {1, 1, 1, 1}, 1, NULL, 0, QI_ACT_RELU, 0, 0, 0},
    {"packed_s2_alias_relu_m11", 2, 2, 29, 11, 1, {15, 13}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    /* K (264: two blocks) <= 2 x output channels with a residual: the
     * panel-outer tile order, partial sums in the tile buffer (aliased
     * residual, 900 columns) or in the output (928 columns). */
    {"packed_panel_outer_alias_relu", 2, 1, 264, 138, 1, {30, 30}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"packed_panel_outer_sum_noact", 2, 1, 264, 138, 1, {29, 32}, {1, 1}, {0}, {0}, {0}, 0, NULL, 1, 0, 1, 0, 0},
    /* Narrower rows: eight planes at a time, residual and ReLU/Clip fused
     * into the transposed store (other activations after it). */
    {"dw8_c1_3x5_relu", 2, 1, 1, 1, 1, {3, 5}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0},
    {"dw8_c3_s2_odd_asym_clip", 2, 2, 3, 3, 3, {9, 13}, {3, 3}, {2, 2}, {0}, {0, 1, 2, 0}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0},
    {"dw8_c17_sum_alias_relu", 2, 2, 17, 17, 17, {5, 7}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 1, 1, 0},
    {"dw8_c17_sum_gelu", 2, 1, 17, 17, 17, {7, 11}, {3, 3}, {0}, {0}, {1, 2, 1, 0}, 1, NULL, 1, QI_ACT_GELU, 1, 0, 0},
    {"dw8_c24_14x14_sum_clip", 2, 1, 24, 24, 24, {14, 14}, {3, 3}, {0}, {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 0, 0},
    {"dw8_c9_28_s2_clip", 2, 1, 9, 9, 9, {28, 28}, {3, 3}, {2, 2}, {0}, {1, 1, 1, 1}, 1, NULL, 0, QI_ACT_CLIP, 0, 0, 0},
    {"dw8_mult2_sum_alias_clip", 2, 2, 3, 6, 3, {6, 9}, {3, 3}, {0}, {0}, {0, 2, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 1, 1, 0},
    {"dw8_k5_s2_sum_alias_hswish", 2, 1, 17, 17, 17, {11, 13}, {5, 5}, {2, 2}, {0}, {2, 2, 2, 2}, 1, NULL, 1, QI_ACT_HARDSWISH, 1, 1, 0},
};

/* Every fused activation on both a GEMM-path and a depthwise conv. */
static void conv_acts_case(qt_state *st, qi_pool *pool) {
  for (int act = QI_ACT_RELU; act <= QI_ACT_TANH; act++) {
    conv_case a = {"act_im2col", 2, 2, 3, 7, 1, {6, 7}, {3, 3}, {0}, {0},
                   {1, 1, 1, 1}, 1, NULL, 1, act, 0, 0, 0};
    conv_case b = {"act_dw_sum", 2, 1, 5, 5, 5, {7, 37}, {3, 3}, {0}, {0},
                   {1, 1, 1, 1}, 1, NULL, 1, act, 1, 0, 0};
    conv_check_case(st, &a, pool, 1000 + (uint64_t)act);
    conv_check_case(st, &b, pool, 2000 + (uint64_t)act);
  }
}

static void test_conv_single_thread(qt_state *st) {
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], NULL, 7 + i);
  conv_acts_case(st, NULL);
}

static void test_conv_pool2(qt_state *st) {
  qi_pool *pool = qi_pool_create(2);
  QT_CHECK(st, pool != NULL);
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], pool, 77 + i);
  conv_acts_case(st, pool);
  qi_pool_free(pool);
}

/* The same cases with the scalar kernels forced (QINFER_ISA=scalar), so the
 * fallback path of a CPU without AVX2 is covered here too. */
static void test_conv_scalar_isa(qt_state *st) {
  const char *old = getenv("QINFER_ISA");
  char *saved = old ? strdup(old) : NULL;
  setenv("QINFER_ISA", "scalar", 1);
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case(st, &conv_cases[i], i % 2 ? pool : NULL, 177 + i);
  conv_acts_case(st, pool);
  qi_pool_free(pool);
  if (saved) {
    setenv("QINFER_ISA", saved, 1);
    free(saved);
  } else {
    unsetenv("QINFER_ISA");
  }
}

/* Weights that are not constant cannot be packed at prepare: the OpenBLAS
 * path runs them (the run also works unprepared). */
static void test_conv_runtime_weights(qt_state *st) {
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof conv_cases / sizeof *conv_cases; i++)
    conv_check_case_w(st, &conv_cases[i], i % 2 ? pool : NULL, 277 + i, 1);
  qi_pool_free(pool);
}

static void test_conv_errors(qt_state *st) {
  qi_error err = {0};
  float *y = NULL;
  qi_shape ys;
  /* Weights with 4 input channels for a 6-channel input. */
  conv_case bad = {.label = "bad_weights_node", .nsp = 2, .n = 1, .c = 6, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  int64_t wbad[4] = {8, 4, 3, 3};
  float *w = calloc(8 * 6 * 9, sizeof(float));
  qi_graph *g = conv_graph(&bad, w, NULL, QI_FLOAT32);
  g->tensors[g->nodes[0].in[1]].shape.d[1] = wbad[1];
  qi_status s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys,
                         &err);
  QT_CHECK(st, s == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "bad_weights_node") != NULL);
  qi_graph_free(g);
  free(y);
  /* int8 input. */
  conv_case i8 = {.label = "int8_node", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  g = conv_graph(&i8, w, NULL, QI_INT8);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(err.message, "int8_node") && strstr(err.message, "int8"));
  qi_graph_free(g);
  free(y);
  /* Unknown auto_pad; kernel larger than the input. */
  conv_case ap = {.label = "pad_node", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {5, 5}, .k = {3, 3}};
  ap.auto_pad = "SAME_MIDDLE";
  g = conv_graph(&ap, w, NULL, QI_FLOAT32);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_UNSUPPORTED && strstr(err.message, "pad_node"));
  qi_graph_free(g);
  free(y);
  conv_case big = {.label = "big_kernel", .nsp = 2, .n = 1, .c = 4, .m = 8, .group = 1,
                   .in = {2, 2}, .k = {3, 3}};
  g = conv_graph(&big, w, NULL, QI_FLOAT32);
  s = run_node(&qi_op_conv, g, (float *[4]){0}, NULL, -1, &y, &ys, &err);
  QT_CHECK(st, s == QI_ERR_SHAPE && strstr(err.message, "big_kernel"));
  qi_graph_free(g);
  free(y);
  free(w);
}

/* ---- ConvTranspose ---------------------------------------------------- */

typedef struct convt_case {
  const char *label;
  int nsp;
  int64_t n, c, m, group;
  int64_t in[2], k[2], s[2], d[2];
  int64_t pads[4];
  int64_t opad[2];
  int64_t oshape[2];   /* 0: attribute absent */
  const char *auto_pad;
  int bias, act;
} convt_case;

static void convt_ref_dims(const convt_case *cc, int64_t *out, int64_t *pb) {
  for (int i = 0; i < cc->nsp; i++) {
    int64_t s = cc->s[i], d = cc->d[i], ext = (cc->k[i] - 1) * d + 1;
    int64_t full = s * (cc->in[i] - 1) + cc->opad[i] + ext;
    const char *ap = cc->auto_pad ? cc->auto_pad : "NOTSET";
    int64_t want = cc->oshape[0] ? cc->oshape[i] : -1;
    if (want < 0 && strncmp(ap, "SAME", 4) == 0) want = cc->in[i] * s;
    if (want >= 0) {
      int64_t tot = full - want;
      pb[i] = !strcmp(ap, "SAME_UPPER") ? tot / 2 : tot - tot / 2;
      out[i] = want;
    } else if (!strcmp(ap, "VALID")) {
      pb[i] = 0;
      out[i] = full;
    } else {
      pb[i] = cc->pads[i];
      out[i] = full - cc->pads[i] - cc->pads[cc->nsp + i];
    }
  }
}

static void convt_check_case(qt_state *st, const convt_case *cc,
                             qi_pool *pool, uint64_t seed) {
  rng r = {seed};
  int64_t mg = cc->m / cc->group, cg = cc->c / cc->group;
  int64_t in[2] = {1, cc->in[0]}, k[2] = {1, cc->k[0]}, s[2] = {1, cc->s[0]},
          d[2] = {1, cc->d[0]}, o[2] = {1, 1}, pb[2] = {0, 0}, oo[2], pp[2];
  if (cc->nsp == 2)
    for (int i = 0; i < 2; i++) {
      in[i] = cc->in[i];
      k[i] = cc->k[i];
      s[i] = cc->s[i];
      d[i] = cc->d[i];
    }
  convt_ref_dims(cc, oo, pp);
  for (int i = 0; i < cc->nsp; i++) {
    o[2 - cc->nsp + i] = oo[i];
    pb[2 - cc->nsp + i] = pp[i];
  }
  int64_t ip = in[0] * in[1], op = o[0] * o[1], ks = k[0] * k[1];
  float *x = rnd_array(&r, cc->n * cc->c * ip);
  float *w = rnd_array(&r, cc->c * mg * ks);
  float *bias = cc->bias ? rnd_array(&r, cc->m) : NULL;
  int64_t yn = cc->n * cc->m * op;
  double *ref = calloc((size_t)yn, sizeof(double));
  for (int64_t nb = 0; nb < cc->n; nb++)
    for (int64_t c = 0; c < cc->c; c++)
      for (int64_t ml = 0; ml < mg; ml++)
        for (int64_t p = 0; p < ip; p++)
          for (int64_t zh = 0; zh < k[0]; zh++)
            for (int64_t zw = 0; zw < k[1]; zw++) {
              int64_t oh = p / in[1] * s[0] - pb[0] + zh * d[0];
              int64_t ow = p % in[1] * s[1] - pb[1] + zw * d[1];
              if (oh < 0 || oh >= o[0] || ow < 0 || ow >= o[1]) continue;
              int64_t m = c / cg * mg + ml;
              ref[(nb * cc->m + m) * op + oh * o[1] + ow] +=
                  (double)x[(nb * cc->c + c) * ip + p] *
                  w[(c * mg + ml) * ks + zh * k[1] + zw];
            }
  float aa, bb;
  act_params(cc->act, &aa, &bb);
  for (int64_t i = 0; i < yn; i++)
    ref[i] = act_ref(cc->act, aa, bb,
                     ref[i] + (bias ? bias[i / op % cc->m] : 0.0));
  qi_graph *g = qi_graph_create();
  int64_t xs[4] = {cc->n, cc->c, cc->in[0], cc->in[1]};
  int64_t ws[4] = {cc->c, mg, cc->k[0], cc->k[1]};
  int node = qi_graph_add_node(g, cc->label, "ConvTranspose", "",
                               cc->bias ? 3 : 2, 1);
  int tx = add_tensor(g, "X", cc->nsp + 2, xs, NULL, QI_FLOAT32);
  int tw = add_tensor(g, "W", cc->nsp + 2, ws, w, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = tx;
  n->in[1] = tw;
  if (cc->bias) n->in[2] = add_tensor(g, "B", 1, &cc->m, bias, QI_FLOAT32);
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  if (cc->group != 1) set_int(n, "group", cc->group);
  set_ints(n, "strides", cc->nsp, cc->s);
  set_ints(n, "dilations", cc->nsp, cc->d);
  if (!cc->auto_pad) set_ints(n, "pads", 2 * cc->nsp, cc->pads);
  else set_str(n, "auto_pad", cc->auto_pad);
  if (cc->opad[0]) set_ints(n, "output_padding", cc->nsp, cc->opad);
  if (cc->oshape[0]) set_ints(n, "output_shape", cc->nsp, cc->oshape);
  set_act(n, cc->act);
  float *act[3] = {x, NULL, NULL}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status st2 = run_node(&qi_op_conv_transpose, g, act, pool, -1, &y, &ys,
                           &err);
  QT_CHECKF(st, st2 == QI_OK, "%s: %s", cc->label, err.message);
  if (st2 == QI_OK) {
    int ok = ys.rank == cc->nsp + 2 && ys.d[1] == cc->m;
    for (int i = 0; i < cc->nsp; i++) ok &= ys.d[2 + i] == oo[i];
    QT_CHECKF(st, ok, "%s: output shape", cc->label);
    if (ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s (threads %d): rel err %g", cc->label,
                qi_pool_size(pool), e);
    }
  }
  qi_graph_free(g);
  free(x);
  free(w);
  free(bias);
  free(ref);
  free(y);
}

static const convt_case convt_cases[] = {
    {"up_k3_s2_opad1", 2, 1, 3, 5, 1, {7, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, {0}, NULL, 1, 0},
    {"group2_s3x2_dil2", 2, 2, 4, 6, 2, {5, 7}, {3, 2}, {3, 2}, {2, 1}, {1, 0, 2, 1}, {0}, {0}, NULL, 1, QI_ACT_RELU},
    {"k2_s2_upsample", 2, 1, 17, 7, 1, {9, 11}, {2, 2}, {2, 2}, {1, 1}, {0}, {0}, {0}, NULL, 0, 0},
    {"output_shape", 2, 1, 3, 4, 1, {5, 5}, {3, 3}, {2, 2}, {1, 1}, {0}, {0}, {10, 9}, NULL, 1, 0},
    {"same_upper", 2, 1, 3, 4, 1, {5, 6}, {4, 3}, {2, 3}, {1, 1}, {0}, {0}, {0}, "SAME_UPPER", 1, 0},
    {"same_lower", 2, 1, 3, 4, 1, {5, 6}, {4, 3}, {2, 3}, {1, 1}, {0}, {0}, {0}, "SAME_LOWER", 1, 0},
    {"valid_opad", 2, 2, 3, 4, 1, {4, 5}, {3, 3}, {3, 2}, {1, 1}, {0}, {2, 1}, {0}, "VALID", 1, QI_ACT_SIGMOID},
    {"convt1d", 1, 2, 3, 5, 1, {9}, {4}, {3}, {1}, {1, 2}, {2}, {0}, NULL, 1, 0},
    {"tiled_4x4_s2", 2, 1, 8, 64, 1, {24, 24}, {4, 4}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {0}, {0}, NULL, 1, QI_ACT_LEAKY},
    {"depthwise_t", 2, 1, 6, 6, 6, {7, 8}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, {1, 1}, {0}, NULL, 1, 0},
};

static void test_conv_transpose(qt_state *st) {
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof convt_cases / sizeof *convt_cases; i++) {
    convt_check_case(st, &convt_cases[i], NULL, 300 + i);
    convt_check_case(st, &convt_cases[i], pool, 400 + i);
  }
  qi_pool_free(pool);
}

/* ---- timing (printed, never asserted) ---------------------------------- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void time_conv(const conv_case *cc, qi_pool *pool, const char *what) {
  rng r = {42};
  int64_t xn = cc->n * cc->c * cc->in[0] * cc->in[1];
  int64_t wn = cc->m * cc->c / cc->group * cc->k[0] * cc->k[1];
  float *x = rnd_array(&r, xn), *w = rnd_array(&r, wn);
  float *b = rnd_array(&r, cc->m);
  qi_graph *g = conv_graph(cc, w, b, QI_FLOAT32);
  qi_node *n = &g->nodes[0];
  n->op = &qi_op_conv;
  qi_error err = {0};
  if (qi_op_conv.infer(g, n, &err) != QI_OK ||
      qi_op_conv.prepare(g, n, &err) != QI_OK) {
    printf("timing %s: %s\n", what, err.message);
    qi_graph_free(g);
    free(x);
    free(w);
    free(b);
    return;
  }
  int nth = qi_pool_size(pool);
  size_t sb = qi_op_conv.scratch_bytes(g, n, nth);
  void *scratch = sb ? aligned_alloc(64, (sb + 63) & ~(size_t)63) : NULL;
  const qi_tensor *yt = &g->tensors[n->out[0]];
  int64_t yn = qi_shape_numel(&yt->shape);
  float *y = malloc(sizeof(float) * (size_t)yn);
  qi_buf in[3] = {{QI_FLOAT32, g->tensors[n->in[0]].shape, x},
                  {QI_FLOAT32, g->tensors[n->in[1]].shape, w},
                  {QI_FLOAT32, g->tensors[n->in[2]].shape, b}};
  qi_buf ob = {QI_FLOAT32, yt->shape, y};
  qi_run_ctx ctx = {pool, nth, scratch, sb, &err};
  double best = 1e30;
  for (int rep = 0; rep < 6; rep++) {
    double t0 = now_s();
    qi_op_conv.run(&ctx, n, in, &ob);
    double t = now_s() - t0;
    if (t < best) best = t;
  }
  double flop = 2.0 * (double)yn * (double)(cc->c / cc->group) *
                (double)(cc->k[0] * cc->k[1]);
  printf("timing %s (pool %d): %.3f ms, %.1f GFLOP/s\n", what, nth,
         best * 1e3, flop / best * 1e-9);
  free(scratch);
  free(y);
  qi_graph_free(g);
  free(x);
  free(w);
  free(b);
}

static void print_timing(void) {
  conv_case rn = {"resnet_3x3", 2, 1, 64, 64, 1, {56, 56}, {3, 3}, {0}, {0},
                  {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_RELU, 0, 0, 0};
  conv_case dw = {"mbv2_dw3x3", 2, 1, 144, 144, 144, {56, 56}, {3, 3}, {0},
                  {0}, {1, 1, 1, 1}, 1, NULL, 1, QI_ACT_CLIP, 0, 0, 0};
  qi_pool *pool = qi_pool_create(2);
  time_conv(&rn, NULL, "conv 64x56x56->64 3x3");
  time_conv(&rn, pool, "conv 64x56x56->64 3x3");
  time_conv(&dw, pool, "depthwise 144x56x56 3x3");
  qi_pool_free(pool);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_conv_single_thread);
  QT_RUN(&st, test_conv_pool2);
  QT_RUN(&st, test_conv_scalar_isa);
  QT_RUN(&st, test_conv_runtime_weights);
  QT_RUN(&st, test_conv_errors);
  QT_RUN(&st, test_conv_transpose);
  print_timing();
  return qt_summary(&st);
}
