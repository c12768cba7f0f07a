/*
 * Folds per-output-channel affine maps that follow a convolution into its
 * weights and bias. Inference BatchNormalization,
 *   y = (x - mean) * s + beta,   s = gamma / sqrt(var + eps),
 * and Mul/Div/Add/Sub by a constant holding one value per channel are all
 *   y[c] = x[c] * a[c] + b[c],
 * so conv(W, B) followed by one of them equals conv(W', B') with
 *   W'[c] = W[c] * a[c],   B'[c] = B[c] * a[c] + b[c].
 * The products are formed in double and rounded once to float32.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "passes/passes.h"
#include "passes/pattern.h"

/* Checks that node `ci` is a foldable Conv or ConvTranspose and returns its
 * output channel count, or -1. */
static int64_t conv_out_channels(const qi_graph *g, int ci) {
  int transpose = qi_pat_is(g, ci, "ConvTranspose");
  if (!transpose && !qi_pat_is(g, ci, "Conv")) return -1;
  const qi_node *n = &g->nodes[ci];
  if (n->nin < 2 || n->nin > 3 || n->nout != 1 || n->out[0] < 0) return -1;
  /* A fused activation or sum sits between conv and the next node. */
  if (qi_attr_find(n, "qi_act") || qi_attr_find(n, "qi_sum")) return -1;
  const qi_tensor *y = &g->tensors[n->out[0]];
  if (y->dtype != QI_FLOAT32 || y->shape.rank < 3) return -1;
  int64_t wn = 0;
  if (!qi_pat_const_f32(g, n->in[1], &wn)) return -1;
  const qi_tensor *w = &g->tensors[n->in[1]];
  if (w->quant.has || w->shape.rank < 3) return -1;
  int64_t cout = w->shape.d[0];
  if (transpose) {
    int64_t group = qi_attr_int(n, "group", 1);
    if (group < 1 || w->shape.d[0] % group) return -1;
    cout = group * w->shape.d[1];
  }
  if (cout < 1 || wn % cout || y->shape.d[1] != cout) return -1;
  if (n->nin == 3 && n->in[2] >= 0) {
    int64_t bn = 0;
    if (!qi_pat_const_f32(g, n->in[2], &bn) || bn != cout) return -1;
    if (g->tensors[n->in[2]].quant.has) return -1;
  }
  return cout;
}

/* Writes `data` as the new value of input `k` of node `ci`: in place when
 * the node is the tensor's only reader, else as a new constant. */
static qi_status replace_const_input(qi_graph *g, int ci, int k, float *data,
                                     const char *suffix, qi_error *err) {
  int t = g->nodes[ci].in[k];
  if (qi_graph_consumers(g, t) == 1) {
    qi_tensor *ts = &g->tensors[t];
    qi_tensor_set_const(ts, data, ts->nbytes);
    return QI_OK;
  }
  qi_shape shape = g->tensors[t].shape;
  int nt;
  QI_TRY(qi_pat_add_const_f32(g, g->tensors[t].name, suffix, &shape, data,
                              &nt, err));
  g->nodes[ci].in[k] = nt;
  return QI_OK;
}

static qi_status apply_to_conv(qi_graph *g, int ci, int64_t cout,
                               const double *a, const double *b,
                               qi_error *err) {
  const qi_node *n = &g->nodes[ci];
  int64_t wn = 0;
  const float *w = qi_pat_const_f32(g, n->in[1], &wn);
  const qi_tensor *wt = &g->tensors[n->in[1]];
  float *nw = malloc(sizeof(float) * (size_t)wn);
  float *nb = malloc(sizeof(float) * (size_t)cout);
  if (!nw || !nb) {
    free(nw);
    free(nb);
    return qi_fail(err, QI_ERR_NOMEM, "node '%s': out of memory folding",
                   n->name);
  }
  if (qi_pat_is(g, ci, "ConvTranspose")) {
    /* W is [Cin, Cout/group, k...]; input channel ci of group gi feeds
     * output channels gi * Cout/group + j. */
    int64_t cin = wt->shape.d[0], per = wt->shape.d[1];
    int64_t group = cout / per, in_per = cin / group, k = wn / (cin * per);
    for (int64_t c = 0; c < cin; c++)
      for (int64_t j = 0; j < per; j++) {
        int64_t oc = (c / in_per) * per + j;
        for (int64_t q = 0; q < k; q++) {
          int64_t o = (c * per + j) * k + q;
          nw[o] = (float)((double)w[o] * a[oc]);
        }
      }
  } else {
    int64_t k = wn / cout;
    for (int64_t oc = 0; oc < cout; oc++)
      for (int64_t q = 0; q < k; q++)
        nw[oc * k + q] = (float)((double)w[oc * k + q] * a[oc]);
  }
  int has_bias = n->nin == 3 && n->in[2] >= 0;
  const float *bias = has_bias ? qi_pat_const_f32(g, n->in[2], NULL) : NULL;
  for (int64_t oc = 0; oc < cout; oc++)
    nb[oc] = (float)((bias ? (double)bias[oc] * a[oc] : 0.0) + b[oc]);

  qi_status st = replace_const_input(g, ci, 1, nw, "_folded", err);
  if (st != QI_OK) {
    free(nb);
    return st;
  }
  if (has_bias) return replace_const_input(g, ci, 2, nb, "_folded", err);
  qi_shape bs = {.rank = 1, .d = {cout}};
  int bt;
  QI_TRY(qi_pat_add_const_f32(g, g->nodes[ci].name, "_bias", &bs, nb, &bt,
                              err));
  QI_TRY(qi_pat_resize_inputs(&g->nodes[ci], 3, err));
  g->nodes[ci].in[2] = bt;
  return QI_OK;
}

/* BatchNormalization node `bi` reading the conv output, as a[c], b[c]. */
static int batchnorm_affine(const qi_graph *g, int bi, int64_t cout,
                            double *a, double *b) {
  if (!qi_pat_is(g, bi, "BatchNormalization")) return 0;
  const qi_node *n = &g->nodes[bi];
  if (n->nin != 5 || n->nout < 1 || n->out[0] < 0) return 0;
  if (qi_attr_int(n, "training_mode", 0) != 0) return 0;
  if (qi_attr_int(n, "spatial", 1) != 1) return 0;
  /* Training-mode outputs (running statistics) must be unused. */
  for (int k = 1; k < n->nout; k++)
    if (n->out[k] >= 0 && qi_graph_consumers(g, n->out[k]) > 0) return 0;
  const float *p[4];
  for (int k = 0; k < 4; k++) {
    int64_t cnt = 0;
    p[k] = qi_pat_const_f32(g, n->in[k + 1], &cnt);
    if (!p[k] || cnt != cout) return 0;
  }
  double eps = qi_attr_float(n, "epsilon", 1e-5f);
  for (int64_t c = 0; c < cout; c++) {
    double var = (double)p[3][c] + eps;
    if (!(var > 0.0)) return 0;
    a[c] = (double)p[0][c] / sqrt(var);
    b[c] = (double)p[1][c] - (double)p[2][c] * a[c];
  }
  return 1;
}

/* Reads constant `t` as one value per output channel of a conv output with
 * shape `ys`: every dim is 1 except, optionally, the channel axis (1). */
static int channel_values(const qi_graph *g, int t, const qi_shape *ys,
                          int64_t cout, double *v) {
  int64_t cnt = 0;
  const float *d = qi_pat_const_f32(g, t, &cnt);
  if (!d || (cnt != 1 && cnt != cout)) return 0;
  const qi_shape *s = &g->tensors[t].shape;
  if (s->rank > ys->rank) return 0;
  for (int i = 0; i < s->rank; i++) {
    int axis = i + ys->rank - s->rank;
    if (s->d[i] != 1 && !(axis == 1 && s->d[i] == cout)) return 0;
  }
  for (int64_t c = 0; c < cout; c++) v[c] = d[cnt == 1 ? 0 : c];
  return 1;
}

/* Mul/Div/Add/Sub node `mi` combining conv output `y` with a per-channel
 * constant, as a[c], b[c]. */
static int arith_affine(const qi_graph *g, int mi, int y, int64_t cout,
                        double *a, double *b) {
  const char *ops[4] = {"Mul", "Div", "Add", "Sub"};
  int op = -1;
  for (int i = 0; i < 4; i++)
    if (qi_pat_is(g, mi, ops[i])) op = i;
  if (op < 0) return 0;
  const qi_node *n = &g->nodes[mi];
  int c = qi_pat_other_input(n, y);
  if (c < 0 || c == y || n->nout != 1 || n->out[0] < 0) return 0;
  const qi_shape *ys = &g->tensors[y].shape;
  if (!qi_pat_same_shape(ys, &g->tensors[n->out[0]].shape)) return 0;
  if (!channel_values(g, c, ys, cout, b)) return 0;
  int y_first = n->in[0] == y;
  for (int64_t k = 0; k < cout; k++) {
    double v = b[k];
    switch (op) {
      case 0: a[k] = v; b[k] = 0.0; break;
      case 1:
        /* c / y is not affine in y. */
        if (!y_first || v == 0.0 || !isfinite(1.0 / v)) return 0;
        a[k] = 1.0 / v;
        b[k] = 0.0;
        break;
      case 2: a[k] = 1.0; break;
      default:
        a[k] = y_first ? 1.0 : -1.0;
        b[k] = y_first ? -v : v;
        break;
    }
  }
  return 1;
}

/* For every foldable conv, repeatedly absorbs its sole reader while that is
 * a BatchNormalization (with_bn) or per-channel arithmetic (!with_bn). */
static qi_status fold_pass(qi_graph *g, int with_bn, qi_error *err) {
  double *a = NULL, *b = NULL;
  int64_t cap = 0;
  qi_status st = QI_OK;
  for (int ci = 0; ci < g->nnodes && st == QI_OK; ci++) {
    for (;;) {
      int64_t cout = conv_out_channels(g, ci);
      if (cout < 0) break;
      if (cout > cap) {
        double *na = realloc(a, sizeof(double) * (size_t)cout);
        if (na) a = na;
        double *nb = na ? realloc(b, sizeof(double) * (size_t)cout) : NULL;
        if (!na || !nb) {
          st = qi_fail(err, QI_ERR_NOMEM, "out of memory folding into '%s'",
                       g->nodes[ci].name);
          break;
        }
        b = nb;
        cap = cout;
      }
      int y = g->nodes[ci].out[0];
      int ni = qi_pat_sole_consumer(g, y);
      if (ni < 0) break;
      int ok = with_bn ? batchnorm_affine(g, ni, cout, a, b)
                       : arith_affine(g, ni, y, cout, a, b);
      if (!ok) break;
      st = apply_to_conv(g, ci, cout, a, b, err);
      if (st != QI_OK) break;
      int out = g->nodes[ni].out[0];
      qi_pat_kill(g, ni);
      qi_pat_set_output(g, ci, 0, out);
    }
  }
  free(a);
  free(b);
  return st;
}

qi_status qi_pass_fold_batchnorm(qi_graph *g, qi_error *err) {
  return fold_pass(g, 1, err);
}

qi_status qi_pass_fold_conv_affine(qi_graph *g, qi_error *err) {
  return fold_pass(g, 0, err);
}
