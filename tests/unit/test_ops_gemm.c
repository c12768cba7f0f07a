/* Gemm and MatMul (FP32) against plain float64 loops: every transpose and
 * C broadcast, the matrix-vector path (M = 1), 1-D operands and broadcast
 * batches, every fused activation, single-threaded and on two threads. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conv_test_util.h"
#include "ops/conv_dispatch.h"
#include "ops/op.h"
#include "qtest.h"

extern const qi_op_def qi_op_gemm, qi_op_matmul;

/* ---- Gemm ------------------------------------------------------------- */

static void gemm_check_case_nk(qt_state *st, int64_t M, int64_t N, int64_t K,
                               int ta, int tb, int crank,
                               const int64_t *cdims, int act, qi_pool *pool,
                               uint64_t seed) {
  const float alpha = 0.7f, beta = 1.3f;
  rng r = {seed};
  int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N};
  float *a = rnd_array(&r, M * K), *b = rnd_array(&r, K * N);
  int64_t cn = 1;
  for (int i = 0; i < crank; i++) cn *= cdims[i];
  float *c = crank >= 0 ? rnd_array(&r, cn) : NULL;
  double *ref = malloc(sizeof(double) * (size_t)(M * N));
  float aa, bb;
  act_params(act, &aa, &bb);
  for (int64_t i = 0; i < M; i++)
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += (double)(ta ? a[k * M + i] : a[i * K + k]) *
               (tb ? b[j * K + k] : b[k * N + j]);
      acc *= alpha;
      if (c) {
        int64_t ci = crank == 2 ? (cdims[0] == 1 ? 0 : i) * cdims[1] +
                                      (cdims[1] == 1 ? 0 : j)
                     : crank == 1 ? (cdims[0] == 1 ? 0 : j) : 0;
        acc += (double)beta * c[ci];
      }
      ref[i * N + j] = act_ref(act, aa, bb, acc);
    }
  char label[128];
  snprintf(label, sizeof label, "gemm_m%lld_n%lld_k%lld_tA%d_tB%d_crank%d",
           (long long)M, (long long)N, (long long)K, ta, tb, crank);
  qi_graph *g = qi_graph_create();
  int node = qi_graph_add_node(g, label, "Gemm", "", c ? 3 : 2, 1);
  int t0 = add_tensor(g, "A", 2, as, NULL, QI_FLOAT32);
  int t1 = add_tensor(g, "B", 2, bs, b, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = t0;
  n->in[1] = t1;
  if (c) n->in[2] = add_tensor(g, "C", crank, cdims, c, QI_FLOAT32);
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  set_float(n, "alpha", alpha);
  set_float(n, "beta", beta);
  set_int(n, "transA", ta);
  set_int(n, "transB", tb);
  set_act(n, act);
  float *in[3] = {a, NULL, NULL}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_gemm, g, in, pool, -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", label, err.message);
  if (s == QI_OK) {
    QT_CHECKF(st, ys.rank == 2 && ys.d[0] == M && ys.d[1] == N, "%s shape",
              label);
    double e = rel_err(y, ref, M * N);
    QT_CHECKF(st, e <= REL_TOL, "%s: rel err %g", label, e);
  }
  qi_graph_free(g);
  free(a);
  free(b);
  free(c);
  free(ref);
  free(y);
}

static void gemm_check_case(qt_state *st, int64_t M, int ta, int tb,
                            int crank, const int64_t *cdims, int act,
                            qi_pool *pool, uint64_t seed) {
  gemm_check_case_nk(st, M, 5, 13, ta, tb, crank, cdims, act, pool, seed);
}

static void test_gemm(qt_state *st) {
  /* C absent, scalar, [1], [N], [1,N], [M,1], [M,N], [1,1]; M = 7, and
   * M = 1 (the matrix-vector path). */
  static const struct {
    int rank;
    int64_t d[2];
  } cs[] = {{-1, {0}}, {0, {0}},    {1, {1}},    {1, {5}},
            {2, {1, 5}}, {2, {7, 1}}, {2, {7, 5}}, {2, {1, 1}}};
  qi_pool *pool = qi_pool_create(2);
  uint64_t seed = 500;
  for (int64_t m = 7; m >= 1; m -= 6)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++)
        for (size_t ci = 0; ci < sizeof cs / sizeof *cs; ci++) {
          int64_t cd[2] = {cs[ci].d[0], cs[ci].d[1]};
          if (cs[ci].rank == 2 && cd[0] == 7) cd[0] = m;
          int act = (int)((ci + (size_t)ta * 3 + (size_t)tb) % 10);
          gemm_check_case(st, m, ta, tb, cs[ci].rank, cd, act, NULL, seed++);
          gemm_check_case(st, m, ta, tb, cs[ci].rank, cd, act, pool, seed++);
        }
  /* Sizes past the GEMM blocks (rows 288, columns 256, depth 256) and
   * matrix-vector ones past their column blocks. */
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int64_t cn[1] = {290};
      gemm_check_case_nk(st, 301, 290, 300, ta, tb, 1, cn, QI_ACT_RELU, pool,
                         seed++);
      gemm_check_case_nk(st, 1, 600, 300, ta, tb, 1, (int64_t[1]){600},
                         QI_ACT_NONE, pool, seed++);
    }
  /* C that does not broadcast. */
  qi_graph *g = qi_graph_create();
  int64_t as[2] = {7, 13}, bs[2] = {13, 5}, cbad[1] = {7};
  qi_graph_add_node(g, "gemm_bad_c", "Gemm", "", 3, 1);
  g->nodes[0].in[0] = add_tensor(g, "A", 2, as, NULL, QI_FLOAT32);
  g->nodes[0].in[1] = add_tensor(g, "B", 2, bs, NULL, QI_FLOAT32);
  g->nodes[0].in[2] = add_tensor(g, "C", 1, cbad, NULL, QI_FLOAT32);
  g->nodes[0].out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  qi_error err = {0};
  QT_CHECK(st, qi_op_gemm.infer(g, &g->nodes[0], &err) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "gemm_bad_c") != NULL);
  qi_graph_free(g);
  qi_pool_free(pool);
}

/* ---- MatMul ------------------------------------------------------------ */

/* bias_rank > 0 adds the fused bias input (shape [1, ..., 1, N]);
 * b_const makes B a constant (weights), which a 2-D B with more than one
 * output row gets packed at prepare (checked through the node's state). */
static void matmul_check_case_b(qt_state *st, int ra, const int64_t *ad,
                                int rb, const int64_t *bd, int act,
                                int bias_rank, int b_const, qi_pool *pool,
                                uint64_t seed) {
  rng r = {seed};
  int64_t an = 1, bn = 1;
  for (int i = 0; i < ra; i++) an *= ad[i];
  for (int i = 0; i < rb; i++) bn *= bd[i];
  float *a = rnd_array(&r, an), *b = rnd_array(&r, bn);
  /* Reference: promote to [batch..., M, K] x [batch..., K, N]. */
  int64_t M = ra == 1 ? 1 : ad[ra - 2], K = ad[ra - 1];
  int64_t N = rb == 1 ? 1 : bd[rb - 1];
  int bra = ra > 2 ? ra - 2 : 0, brb = rb > 2 ? rb - 2 : 0;
  int br = bra > brb ? bra : brb;
  int64_t bat[8], nbat = 1;
  for (int i = 0; i < br; i++) {
    int64_t x = i - (br - bra) >= 0 ? ad[i - (br - bra)] : 1;
    int64_t z = i - (br - brb) >= 0 ? bd[i - (br - brb)] : 1;
    bat[i] = x > z ? x : z;
    nbat *= bat[i];
  }
  int64_t yn = nbat * M * N;
  double *ref = malloc(sizeof(double) * (size_t)yn);
  float *bias = bias_rank ? rnd_array(&r, N) : NULL;
  float aa, bb;
  act_params(act, &aa, &bb);
  for (int64_t t = 0; t < nbat; t++) {
    int64_t ai = 0, bi = 0, rem = t, amul = 1, bmul = 1;
    for (int i = br - 1; i >= 0; i--) {
      int64_t idx = rem % bat[i];
      rem /= bat[i];
      int ia = i - (br - bra), ib = i - (br - brb);
      if (ia >= 0) {
        ai += (ad[ia] == 1 ? 0 : idx) * amul;
        amul *= ad[ia];
      }
      if (ib >= 0) {
        bi += (bd[ib] == 1 ? 0 : idx) * bmul;
        bmul *= bd[ib];
      }
    }
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double acc = 0;
        for (int64_t k = 0; k < K; k++)
          acc += (double)a[ai * M * K + i * K + k] * b[bi * K * N + k * N + j];
        if (bias) acc += bias[j];
        ref[(t * M + i) * N + j] = act_ref(act, aa, bb, acc);
      }
  }
  char label[128];
  snprintf(label, sizeof label, "matmul_ra%d_rb%d_a%lld_b%lld%s", ra, rb,
           (long long)an, (long long)bn, b_const ? "_bconst" : "");
  qi_graph *g = qi_graph_create();
  int node = qi_graph_add_node(g, label, "MatMul", "", bias ? 3 : 2, 1);
  int t0 = add_tensor(g, "A", ra, ad, NULL, QI_FLOAT32);
  int t1 = add_tensor(g, "B", rb, bd, b_const ? b : NULL, QI_FLOAT32);
  qi_node *n = &g->nodes[node];
  n->in[0] = t0;
  n->in[1] = t1;
  if (bias) {
    int64_t bs[QI_MAX_RANK];
    for (int i = 0; i < bias_rank; i++) bs[i] = i == bias_rank - 1 ? N : 1;
    n->in[2] = add_tensor(g, "bias", bias_rank, bs, bias, QI_FLOAT32);
  }
  n->out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  set_act(n, act);
  float *in[3] = {a, b, NULL}, *y;
  qi_shape ys;
  qi_error err = {0};
  qi_status s = run_node(&qi_op_matmul, g, in, pool, -1, &y, &ys, &err);
  QT_CHECKF(st, s == QI_OK, "%s: %s", label, err.message);
  if (s == QI_OK) {
    int want_rank = br + (ra > 1) + (rb > 1);
    int ok = ys.rank == want_rank;
    for (int i = 0; ok && i < br; i++) ok = ys.d[i] == bat[i];
    if (ok && ra > 1) ok = ys.d[br] == M;
    if (ok && rb > 1) ok = ys.d[ys.rank - 1] == N;
    QT_CHECKF(st, ok, "%s: output shape (rank %d)", label, ys.rank);
    if (ok) {
      double e = rel_err(y, ref, yn);
      QT_CHECKF(st, e <= REL_TOL, "%s: rel err %g", label, e);
    }
    int ours = qi_f32_conv_kernels_get().gemm_ukernel !=
               qi_f32_gemm_ukernel_6x16__scalar;
    int want_packed = ours && b_const && rb == 2 && nbat * M > 1;
    QT_CHECKF(st, (g->nodes[node].state != NULL) == want_packed,
              "%s: B %s at prepare", label,
              want_packed ? "not packed" : "packed");
  }
  qi_graph_free(g);
  free(a);
  free(b);
  free(bias);
  free(ref);
  free(y);
}

static void matmul_check_case(qt_state *st, int ra, const int64_t *ad,
                              int rb, const int64_t *bd, int act,
                              qi_pool *pool, uint64_t seed) {
  matmul_check_case_b(st, ra, ad, rb, bd, act, 0, 0, pool, seed);
}

static void test_matmul(qt_state *st) {
  static const struct {
    int ra;
    int64_t a[4];
    int rb;
    int64_t b[4];
  } cs[] = {
      {1, {4}, 2, {4, 6}},                  /* 1-D x 2-D */
      {2, {3, 4}, 1, {4}},                  /* 2-D x 1-D */
      {1, {7}, 1, {7}},                     /* dot product: rank 0 */
      {4, {2, 1, 3, 4}, 3, {5, 4, 6}},      /* broadcast batch */
      {3, {2, 3, 4}, 2, {4, 5}},            /* batch folds into M */
      {2, {3, 4}, 3, {2, 4, 5}},            /* A broadcast over B's batch */
      {3, {2, 3, 4}, 3, {2, 4, 5}},
      {3, {1, 3, 4}, 3, {3, 4, 5}},
      {4, {2, 3, 5, 4}, 1, {4}},            /* batched x 1-D */
      {1, {4}, 3, {3, 4, 2}},               /* 1-D x batched */
      {3, {12, 17, 8}, 3, {12, 8, 17}},     /* many small heads */
      {3, {2, 70, 90}, 3, {2, 90, 65}},     /* batches above the small cut */
      {2, {300, 270}, 2, {270, 300}},       /* several row/column/K blocks */
      {3, {3, 1, 530}, 3, {3, 530, 300}},   /* one-row products, batched */
  };
  qi_pool *pool = qi_pool_create(2);
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++) {
    int act = (int)(i % 10);
    matmul_check_case(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b, act, NULL,
                      600 + i);
    matmul_check_case(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b, act, pool,
                      700 + i);
  }
  /* The fused bias (input 2): [N] and [1, 1, N], with activations, on the
   * folded, batched, one-row and blocked paths. */
  for (size_t i = 3; i < sizeof cs / sizeof *cs; i++)
    for (int br = 1; br <= 3; br += 2) {
      int bra = cs[i].ra > 2 ? cs[i].ra - 2 : 0, brb = cs[i].rb > 2 ? cs[i].rb - 2 : 0;
      int out_rank = (bra > brb ? bra : brb) + (cs[i].ra > 1) + (cs[i].rb > 1);
      if (br > out_rank) continue; /* a bias may not grow the rank */
      matmul_check_case_b(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b,
                          (int)((i + (size_t)br) % 10), br, 0,
                          i % 2 ? pool : NULL, 800 + i * 3 + (size_t)br);
    }
  /* Constant B (weights): every case again, B packed once at prepare where
   * it is 2-D and there is more than one output row (the one-GEMM path),
   * with and without the fused bias; plus a channels-last Linear layer
   * ([1, 7, 7, 96] x [96, 70]: rows past one block, N not a multiple of
   * 16) and several K blocks (K = 530). Activations are shifted from the
   * loops above so that Clip, whose small output range makes the error
   * relative to its output large, falls on a small-K case. */
  for (size_t i = 0; i < sizeof cs / sizeof *cs; i++)
    matmul_check_case_b(st, cs[i].ra, cs[i].a, cs[i].rb, cs[i].b,
                        (int)((i + 5) % 10), cs[i].rb == 2 ? 1 : 0, 1,
                        i % 2 ? pool : NULL, 900 + i);
  matmul_check_case_b(st, 4, (int64_t[4]){1, 7, 7, 96}, 2,
                      (int64_t[2]){96, 70}, QI_ACT_GELU, 1, 1, pool, 950);
  matmul_check_case_b(st, 3, (int64_t[3]){2, 150, 530}, 2,
                      (int64_t[2]){530, 33}, QI_ACT_NONE, 0, 1, NULL, 951);
  qi_pool_free(pool);
  qi_graph *g = qi_graph_create();
  int64_t as[3] = {2, 3, 4}, bs[3] = {3, 4, 5};
  qi_graph_add_node(g, "matmul_bad_batch", "MatMul", "", 2, 1);
  g->nodes[0].in[0] = add_tensor(g, "A", 3, as, NULL, QI_FLOAT32);
  g->nodes[0].in[1] = add_tensor(g, "B", 3, bs, NULL, QI_FLOAT32);
  g->nodes[0].out[0] = add_tensor(g, "Y", 0, NULL, NULL, QI_UNDEFINED);
  qi_error err = {0};
  QT_CHECK(st, qi_op_matmul.infer(g, &g->nodes[0], &err) == QI_ERR_SHAPE);
  QT_CHECK(st, strstr(err.message, "matmul_bad_batch") != NULL);
  qi_graph_free(g);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_gemm);
  QT_RUN(&st, test_matmul);
  return qt_summary(&st);
}
