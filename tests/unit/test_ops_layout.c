/*
 * Layout ops (Transpose, Concat, Split, Slice, Pad, Gather, Tile,
 * DepthToSpace, SpaceToDepth) against naive index-by-index references.
 * Data movement is exact: outputs are compared byte for byte.
 */
#include <stdio.h>
#include <string.h>

#include "qtest.h"
#include "tensor_op_harness.h"

static qi_dtype dtype_of_size(int es) {
  return es == 1   ? QI_UINT8
         : es == 2 ? QI_FLOAT16
         : es == 4 ? QI_FLOAT32
                   : QI_INT64;
}

static void *rand_bytes(int64_t n) {
  unsigned char *p = malloc((size_t)(n ? n : 1));
  for (int64_t i = 0; i < n; i++) p[i] = (unsigned char)th_rand();
  return p;
}

/* ---- Transpose ---------------------------------------------------------- */

static int check_transpose(qt_state *st, int rank, const int64_t *d,
                           const int64_t *perm, int es, qi_pool *pool) {
  int64_t total = th_numel(rank, d);
  unsigned char *x = rand_bytes(total * es);
  qi_graph *g = th_graph(13);
  int ins[1] = {th_act(g, "x", dtype_of_size(es), rank, d)};
  int ni = th_node(g, "Transpose", 1, ins, 1);
  int64_t p[QI_MAX_RANK], od[QI_MAX_RANK];
  for (int i = 0; i < rank; i++) p[i] = perm ? perm[i] : rank - 1 - i;
  if (perm) th_attr_ints(g, ni, "perm", rank, perm);
  for (int i = 0; i < rank; i++) od[i] = d[p[i]];
  th_out o;
  void *act[1] = {x};
  int bad = th_run_pool(g, ni, act, &o, pool) != QI_OK;
  QT_CHECKF(st, !bad, "%s", o.err.message);
  if (!bad) {
    QT_CHECK(st, th_shape_is(&o.buf[0], rank, od));
    int64_t ist[QI_MAX_RANK], c[QI_MAX_RANK];
    th_strides(rank, d, ist);
    for (int64_t i = 0; i < total; i++) {
      th_unravel(i, rank, od, c);
      int64_t off = 0;
      for (int a = 0; a < rank; a++) off += c[a] * ist[p[a]];
      if (memcmp((unsigned char *)o.buf[0].data + i * es, x + off * es,
                 (size_t)es) != 0) {
        bad = 1;
        break;
      }
    }
  }
  th_done(&o);
  qi_graph_free(g);
  free(x);
  return bad;
}

static void test_transpose(qt_state *st) {
  int bad = 0;
  for (int it = 0; it < 300; it++) {
    int rank = 1 + (int)(th_rand() % 6);
    int64_t d[6], perm[6];
    for (int i = 0; i < rank; i++) {
      d[i] = 1 + th_rand() % 5;
      perm[i] = i;
    }
    for (int i = rank - 1; i > 0; i--) { /* Fisher-Yates */
      int j = (int)(th_rand() % (uint32_t)(i + 1));
      int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
    int es = 1 << (th_rand() % 4);
    if (check_transpose(st, rank, d, it % 5 == 0 ? NULL : perm, es, NULL)) {
      bad++;
      fprintf(stderr, "  transpose rank %d es %d failed\n", rank, es);
    }
  }
  QT_CHECK(st, bad == 0);
  /* Scalar, empty, and large tensors on a pool of two threads. */
  QT_CHECK(st, !check_transpose(st, 0, NULL, NULL, 4, NULL));
  QT_CHECK(st, !check_transpose(st, 3, (int64_t[]){2, 0, 3},
                                (int64_t[]){2, 0, 1}, 4, NULL));
  qi_pool *pool = qi_pool_create(2);
  QT_CHECK(st, !check_transpose(st, 4, (int64_t[]){3, 67, 129, 9},
                                (int64_t[]){0, 2, 3, 1}, 4, pool));
  QT_CHECK(st, !check_transpose(st, 3, (int64_t[]){2, 300, 257},
                                (int64_t[]){0, 2, 1}, 4, pool));
  QT_CHECK(st, !check_transpose(st, 4, (int64_t[]){2, 33, 65, 70},
                                (int64_t[]){1, 0, 2, 3}, 8, pool));
  QT_CHECK(st, !check_transpose(st, 2, (int64_t[]){513, 1031}, NULL, 1, pool));
  qi_pool_free(pool);
  /* A perm that is not a permutation. */
  qi_graph *g = th_graph(13);
  int64_t d[3] = {2, 3, 4}, p[3] = {0, 0, 1};
  int ins[1] = {th_act(g, "x", QI_FLOAT32, 3, d)};
  int ni = th_node(g, "Transpose", 1, ins, 1);
  th_attr_ints(g, ni, "perm", 3, p);
  th_out o;
  void *act[1] = {NULL};
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE);
  th_done(&o);
  qi_graph_free(g);
}

/* ---- Concat / Split ----------------------------------------------------- */

static void test_concat(qt_state *st) {
  for (int rank = 1; rank <= 4; rank++)
    for (int axis = -rank; axis < rank; axis++) {
      int a = axis < 0 ? axis + rank : axis;
      int64_t d[3][4];
      int64_t base[4] = {2, 3, 1, 5};
      int64_t along[3] = {2, 0, 3};
      qi_graph *g = th_graph(13);
      int ins[3];
      unsigned char *x[3];
      for (int k = 0; k < 3; k++) {
        for (int i = 0; i < rank; i++) d[k][i] = i == a ? along[k] : base[i];
        x[k] = rand_bytes(th_numel(rank, d[k]) * 8);
        char nm[8];
        snprintf(nm, sizeof nm, "x%d", k);
        ins[k] = th_act(g, nm, QI_INT64, rank, d[k]);
      }
      int ni = th_node(g, "Concat", 3, ins, 1);
      th_attr_int(g, ni, "axis", axis);
      th_out o;
      void *act[3] = {x[0], x[1], x[2]};
      QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
      int64_t od[4];
      for (int i = 0; i < rank; i++) od[i] = i == a ? 5 : base[i];
      QT_CHECK(st, th_shape_is(&o.buf[0], rank, od));
      int64_t total = th_numel(rank, od), c[4], bad = 0;
      for (int64_t i = 0; i < total; i++) {
        th_unravel(i, rank, od, c);
        int k = 0;
        while (c[a] >= d[k][a]) c[a] -= d[k++][a];
        int64_t ist[4], off = 0;
        th_strides(rank, d[k], ist);
        for (int q = 0; q < rank; q++) off += c[q] * ist[q];
        if (memcmp((unsigned char *)o.buf[0].data + i * 8, x[k] + off * 8, 8))
          bad++;
      }
      QT_CHECKF(st, bad == 0, "rank %d axis %d", rank, axis);
      th_done(&o);
      qi_graph_free(g);
      for (int k = 0; k < 3; k++) free(x[k]);
    }
  /* Mismatched inputs. */
  qi_graph *g = th_graph(13);
  int64_t d0[2] = {2, 3}, d1[2] = {3, 3};
  int ins[2] = {th_act(g, "a", QI_FLOAT32, 2, d0),
                th_act(g, "b", QI_FLOAT32, 2, d1)};
  int ni = th_node(g, "Concat", 2, ins, 1);
  th_attr_int(g, ni, "axis", 1);
  th_out o;
  void *act[2] = {NULL, NULL};
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE);
  th_done(&o);
  qi_graph_free(g);
}

/* Split of a [4, 5, 6] int32 tensor along `axis` into sizes `want`.
 * form: 0 split attribute (opset 11), 1 split input (13), 2 num_outputs
 * (18), 3 equal parts (no sizes given). */
static qi_status run_split(qt_state *st, int form, int axis, int nout,
                           const int64_t *sizes, const int64_t *want) {
  int64_t d[3] = {4, 5, 6};
  int32_t x[120];
  for (int i = 0; i < 120; i++) x[i] = i * 3 - 50;
  qi_graph *g = th_graph(form == 0 ? 11 : form == 2 ? 18 : 13);
  int ins[2] = {th_act(g, "x", QI_INT32, 3, d), -1};
  if (form == 1) ins[1] = th_const_i64(g, "split", nout, sizes);
  int ni = th_node(g, "Split", form == 1 ? 2 : 1, ins, nout);
  th_attr_int(g, ni, "axis", axis);
  if (form == 0) th_attr_ints(g, ni, "split", nout, sizes);
  if (form == 2) th_attr_int(g, ni, "num_outputs", nout);
  th_out o;
  void *act[2] = {x, NULL};
  qi_status s = th_run(g, ni, act, &o);
  if (s == QI_OK) {
    int a = axis < 0 ? axis + 3 : axis;
    int64_t start = 0;
    for (int k = 0; k < nout; k++) {
      int64_t od[3] = {d[0], d[1], d[2]};
      od[a] = want[k];
      QT_CHECKF(st, th_shape_is(&o.buf[k], 3, od), "output %d", k);
      int64_t c[3], bad = 0;
      for (int64_t i = 0; i < th_numel(3, od); i++) {
        th_unravel(i, 3, od, c);
        c[a] += start;
        if (((int32_t *)o.buf[k].data)[i] != x[(c[0] * 5 + c[1]) * 6 + c[2]])
          bad++;
      }
      QT_CHECKF(st, bad == 0, "output %d differs", k);
      start += want[k];
    }
  }
  th_done(&o);
  qi_graph_free(g);
  return s;
}

static void test_split(qt_state *st) {
  QT_CHECK(st, run_split(st, 0, 1, 3, (int64_t[]){1, 3, 1},
                         (int64_t[]){1, 3, 1}) == QI_OK);
  QT_CHECK(st, run_split(st, 1, -1, 2, (int64_t[]){2, 4}, (int64_t[]){2, 4}) ==
                   QI_OK);
  QT_CHECK(st, run_split(st, 1, 0, 3, (int64_t[]){0, 3, 1},
                         (int64_t[]){0, 3, 1}) == QI_OK);
  QT_CHECK(st, run_split(st, 2, 1, 3, NULL, (int64_t[]){2, 2, 1}) == QI_OK);
  /* Chunks of ceil(dim / n), the last one smaller (even empty). */
  QT_CHECK(st, run_split(st, 2, 2, 4, NULL, (int64_t[]){2, 2, 2, 0}) == QI_OK);
  QT_CHECK(st, run_split(st, 3, 2, 3, NULL, (int64_t[]){2, 2, 2}) == QI_OK);
  QT_CHECK(st, run_split(st, 3, 1, 2, NULL, (int64_t[]){3, 2}) == QI_OK);
  QT_CHECK(st, run_split(st, 3, 1, 4, NULL, NULL) == QI_ERR_SHAPE);
  QT_CHECK(st, run_split(st, 0, 1, 2, (int64_t[]){2, 2}, NULL) == QI_ERR_SHAPE);
}

/* ---- Slice -------------------------------------------------------------- */

/* The ONNX Slice text (and onnxruntime): negative starts/ends add dim;
 * positive steps clamp both to [0, dim]; negative steps clamp start to
 * [0, dim-1] and end to [-1, dim-1]; an end of INT32/64_MAX means "to the
 * last element in the step direction" (onnxruntime). numpy differs there
 * and for a start below -dim with a negative step (element 0 here, nothing
 * in numpy). */
static void ref_slice_axis(int64_t dim, int64_t start, int64_t end,
                           int64_t step, int64_t *first, int64_t *count) {
  if (start < 0) start += dim;
  if (end == INT64_MAX || end == INT32_MAX)
    end = step > 0 ? dim : -1;
  else if (end < 0)
    end += dim;
  int64_t slo = 0, shi = step > 0 ? dim : dim - 1;
  int64_t elo = step > 0 ? 0 : -1, ehi = step > 0 ? dim : dim - 1;
  start = start < slo ? slo : start > shi ? shi : start;
  end = end < elo ? elo : end > ehi ? ehi : end;
  int64_t n = 0;
  for (int64_t i = start; dim && (step > 0 ? i < end : i > end); i += step) {
    n++;
    if (step > 0 ? i > INT64_MAX - step : i < INT64_MIN - step) break;
  }
  *first = dim ? start : 0;
  *count = n;
}

static int slice_case(qt_state *st, int form, int rank, const int64_t *d, int n,
                      const int64_t *starts, const int64_t *ends,
                      const int64_t *axes, const int64_t *steps,
                      qi_status want_status) {
  int64_t total = th_numel(rank, d);
  int es = 1 << (th_rand() % 4);
  unsigned char *x = rand_bytes(total * es);
  qi_graph *g = th_graph(form ? 13 : 9);
  int ins[5] = {th_act(g, "x", dtype_of_size(es), rank, d), -1, -1, -1, -1};
  int nin = 1;
  if (form) {
    ins[1] = th_const_i64(g, "starts", n, starts);
    ins[2] = th_const_i64(g, "ends", n, ends);
    nin = 3;
    if (axes) ins[3] = th_const_i64(g, "axes", n, axes), nin = 4;
    if (steps) ins[4] = th_const_i64(g, "steps", n, steps), nin = 5;
  }
  int ni = th_node(g, "Slice", nin, ins, 1);
  if (!form) {
    th_attr_ints(g, ni, "starts", n, starts);
    th_attr_ints(g, ni, "ends", n, ends);
    if (axes) th_attr_ints(g, ni, "axes", n, axes);
  }
  th_out o;
  void *act[5] = {x, NULL, NULL, NULL, NULL};
  qi_status s = th_run(g, ni, act, &o);
  int bad = s != want_status;
  if (!bad && s == QI_OK) {
    int64_t first[QI_MAX_RANK], step[QI_MAX_RANK], od[QI_MAX_RANK];
    for (int a = 0; a < rank; a++) {
      first[a] = 0;
      step[a] = 1;
      od[a] = d[a];
    }
    for (int i = 0; i < n; i++) {
      int a = (int)(axes ? (axes[i] < 0 ? axes[i] + rank : axes[i]) : i);
      step[a] = steps ? steps[i] : 1;
      ref_slice_axis(d[a], starts[i], ends[i], step[a], &first[a], &od[a]);
    }
    bad = !th_shape_is(&o.buf[0], rank, od);
    int64_t ist[QI_MAX_RANK], c[QI_MAX_RANK];
    th_strides(rank, d, ist);
    for (int64_t i = 0; !bad && i < th_numel(rank, od); i++) {
      th_unravel(i, rank, od, c);
      int64_t off = 0;
      for (int a = 0; a < rank; a++)
        off += (first[a] + c[a] * step[a]) * ist[a];
      bad = memcmp((unsigned char *)o.buf[0].data + i * es, x + off * es,
                   (size_t)es) != 0;
    }
  }
  QT_CHECKF(st, !bad, "slice form %d rank %d: status %d (%s)", form, rank,
            (int)s, o.err.message);
  if (bad)
    for (int i = 0; i < n; i++)
      fprintf(stderr, "  dim %lld start %lld end %lld axis %lld step %lld\n",
              (long long)d[axes ? (axes[i] + rank) % rank : i],
              (long long)starts[i], (long long)ends[i],
              (long long)(axes ? axes[i] : i),
              (long long)(steps ? steps[i] : 1));
  th_done(&o);
  qi_graph_free(g);
  free(x);
  return bad;
}

static void test_slice(qt_state *st) {
  int64_t d[3] = {4, 5, 6};
  /* Opset 9 attributes, negative axes and clamped ends. */
  slice_case(st, 0, 3, d, 2, (int64_t[]){1, -4}, (int64_t[]){1000, -1},
             (int64_t[]){0, -1}, NULL, QI_OK);
  slice_case(st, 0, 3, d, 3, (int64_t[]){0, 0, 3}, (int64_t[]){2, 5, 4}, NULL,
             NULL, QI_OK);
  /* Reverse with INT64_MIN end, INT64_MAX ends, steps. */
  slice_case(st, 1, 3, d, 1, (int64_t[]){-1}, (int64_t[]){INT64_MIN},
             (int64_t[]){2}, (int64_t[]){-1}, QI_OK);
  slice_case(st, 1, 3, d, 2, (int64_t[]){1, 0}, (int64_t[]){INT64_MAX, -1},
             (int64_t[]){1, 2}, (int64_t[]){2, 3}, QI_OK);
  slice_case(st, 1, 3, d, 1, (int64_t[]){10}, (int64_t[]){-10}, (int64_t[]){0},
             (int64_t[]){-3}, QI_OK);
  slice_case(st, 1, 3, d, 1, (int64_t[]){3}, (int64_t[]){1}, (int64_t[]){1},
             NULL, QI_OK); /* empty */
  slice_case(st, 1, 3, d, 2, (int64_t[]){-1, 4},
             (int64_t[]){INT64_MAX, 2147483647}, (int64_t[]){2, 1},
             (int64_t[]){-1, -2}, QI_OK);
  slice_case(st, 1, 3, d, 1, (int64_t[]){0}, (int64_t[]){3}, (int64_t[]){1},
             (int64_t[]){0}, QI_ERR_SHAPE);
  slice_case(st, 1, 3, d, 2, (int64_t[]){0, 0}, (int64_t[]){3, 3},
             (int64_t[]){1, -2}, NULL, QI_ERR_SHAPE);
  /* Random: every rank, random axes subsets, starts/ends past both ends,
   * steps of both signs. */
  int bad = 0;
  static const int64_t edge[4] = {INT64_MIN, INT64_MAX, -INT64_MAX, INT32_MAX};
  for (int it = 0; it < 600 && bad < 5; it++) {
    int rank = 1 + (int)(th_rand() % 4);
    int64_t dd[4], st_[4], en[4], ax[4], sp[4], order[4] = {0, 1, 2, 3};
    for (int i = 0; i < rank; i++) dd[i] = th_rand() % 8;
    for (int i = rank - 1; i > 0; i--) {
      int j = (int)(th_rand() % (uint32_t)(i + 1));
      int64_t t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    int n = 1 + (int)(th_rand() % (uint32_t)rank);
    for (int i = 0; i < n; i++) {
      ax[i] = th_rand() % 2 ? order[i] : order[i] - rank;
      st_[i] = th_rand() % 8 == 0 ? edge[th_rand() % 4]
                                  : (int64_t)(th_rand() % 21) - 10;
      en[i] = th_rand() % 8 == 0 ? edge[th_rand() % 4]
                                 : (int64_t)(th_rand() % 21) - 10;
      sp[i] = (int64_t)(th_rand() % 3) + 1;
      if (th_rand() % 2) sp[i] = -sp[i];
      if (th_rand() % 16 == 0) sp[i] = th_rand() % 2 ? INT64_MAX : INT64_MIN;
    }
    bad += slice_case(st, 1, rank, dd, n, st_, en, ax, sp, QI_OK);
  }
  QT_CHECK(st, bad == 0);
  /* Non-constant starts. */
  qi_graph *g = th_graph(13);
  int64_t one[1] = {1};
  int ins[3] = {th_act(g, "x", QI_FLOAT32, 3, d),
                th_act(g, "dyn", QI_INT64, 1, one),
                th_const_i64(g, "e", 1, one)};
  int ni = th_node(g, "Slice", 3, ins, 1);
  th_out o;
  void *act[3] = {NULL, NULL, NULL};
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_UNSUPPORTED);
  QT_CHECK(st, strstr(o.err.message, "starts input 'dyn' is not constant"));
  th_done(&o);
  qi_graph_free(g);
}

/* ---- Pad ---------------------------------------------------------------- */

enum { PAD_C, PAD_REFLECT, PAD_EDGE, PAD_WRAP };
static const char *const pad_modes[4] = {"constant", "reflect", "edge", "wrap"};

/* numpy.pad after cropping the negative pads, as the ONNX reference does:
 * whether it accepts the pads of one axis ... */
static int ref_pad_valid(int mode, int64_t dim, int64_t b, int64_t e) {
  int64_t cb = b < 0 ? -b : 0, ce = e < 0 ? -e : 0, m = dim - cb - ce;
  int64_t pb = b > 0 ? b : 0, pe = e > 0 ? e : 0;
  if (dim + b + e < 0) return 0;
  if (m < 0) return mode == PAD_C;
  if (mode == PAD_REFLECT && (pb || pe) && (m < 2 || pb > m - 1 || pe > m - 1))
    return 0;
  if ((mode == PAD_EDGE || mode == PAD_WRAP) && (pb || pe) && m == 0) return 0;
  return 1;
}

/* ... and the source index of output index o (-1: the constant). */
static int64_t ref_pad_index(int mode, int64_t dim, int64_t b, int64_t e,
                             int64_t o) {
  int64_t cb = b < 0 ? -b : 0, ce = e < 0 ? -e : 0, m = dim - cb - ce;
  int64_t i = o - (b > 0 ? b : 0);
  if (i >= 0 && i < m) return cb + i;
  switch (mode) {
    case PAD_EDGE: return cb + (i < 0 ? 0 : m - 1);
    case PAD_REFLECT: return cb + (i < 0 ? -i : 2 * (m - 1) - i);
    case PAD_WRAP: return cb + ((i % m) + m) % m;
  }
  return -1;
}

/* form: 0 pads/value attributes (opset 2), 1 inputs (opset 13), 2 inputs
 * with an axes input (opset 19). */
static int pad_case(qt_state *st, int form, int mode, qi_dtype dt, int rank,
                    const int64_t *d, const int64_t *pads, int naxes,
                    const int64_t *axes, int with_value) {
  int es = (int)qi_dtype_size(dt);
  int64_t total = th_numel(rank, d);
  unsigned char *x = rand_bytes(total * es);
  unsigned char value[8] = {0};
  float fv = 1.5f;
  int64_t iv = -7;
  if (with_value && form == 0) iv = 1; /* the float attribute 1.5 */
  if (with_value) {
    if (dt == QI_FLOAT32) memcpy(value, &fv, 4);
    if (dt == QI_INT64) memcpy(value, &iv, 8);
    if (dt == QI_UINT8) value[0] = form == 0 ? 1 : 201;
  }
  int na = form == 2 ? naxes : rank;
  int64_t b[QI_MAX_RANK] = {0}, e[QI_MAX_RANK] = {0};
  for (int i = 0; i < na; i++) {
    int a = form == 2 ? (int)(axes[i] < 0 ? axes[i] + rank : axes[i]) : i;
    b[a] = pads[i];
    e[a] = pads[na + i];
  }
  qi_graph *g = th_graph(form == 0 ? 2 : form == 1 ? 13 : 19);
  int64_t none[1] = {0};
  int ins[4] = {th_act(g, "x", dt, rank, d), -1, -1, -1};
  int nin = 1;
  if (form) {
    ins[1] = th_const_i64(g, "pads", 2 * na, pads);
    nin = 2;
    if (with_value) ins[2] = th_const(g, "v", dt, 0, none, value), nin = 3;
    if (form == 2) ins[3] = th_const_i64(g, "axes", na, axes), nin = 4;
  }
  int ni = th_node(g, "Pad", nin, ins, 1);
  th_attr_str(g, ni, "mode", pad_modes[mode]);
  if (!form) {
    th_attr_ints(g, ni, "pads", 2 * na, pads);
    if (with_value) th_attr_float(g, ni, "value", 1.5f);
  }
  int reject = 0;
  int64_t od[QI_MAX_RANK];
  for (int a = 0; a < rank; a++) {
    od[a] = d[a] + b[a] + e[a];
    if (!ref_pad_valid(mode, d[a], b[a], e[a])) reject = 1;
  }
  th_out o;
  void *act[4] = {x, NULL, NULL, NULL};
  qi_status s = th_run(g, ni, act, &o);
  int bad = reject ? s != QI_ERR_SHAPE : s != QI_OK;
  if (!bad && !reject) {
    bad = !th_shape_is(&o.buf[0], rank, od);
    int64_t ist[QI_MAX_RANK], c[QI_MAX_RANK];
    th_strides(rank, d, ist);
    for (int64_t i = 0; !bad && i < th_numel(rank, od); i++) {
      th_unravel(i, rank, od, c);
      int64_t off = 0;
      for (int a = 0; a < rank && off >= 0; a++) {
        int64_t src = ref_pad_index(mode, d[a], b[a], e[a], c[a]);
        off = src < 0 ? -1 : off + src * ist[a];
      }
      const unsigned char *want = off < 0 ? value : x + off * es;
      bad = memcmp((unsigned char *)o.buf[0].data + i * es, want, (size_t)es) !=
            0;
    }
  }
  QT_CHECKF(st, !bad, "pad form %d mode %s rank %d: status %d reject %d (%s)",
            form, pad_modes[mode], rank, (int)s, reject, o.err.message);
  if (bad)
    for (int a = 0; a < rank; a++)
      fprintf(stderr, "  dim %lld pads %lld %lld\n", (long long)d[a],
              (long long)b[a], (long long)e[a]);
  th_done(&o);
  qi_graph_free(g);
  free(x);
  return bad;
}

static void test_pad(qt_state *st) {
  /* Fixed cases: NCHW spatial padding in each mode, asymmetric. */
  int64_t d[4] = {1, 2, 3, 4};
  int64_t p[8] = {0, 0, 1, 2, 0, 0, 2, 1};
  for (int mode = 0; mode < 4; mode++) {
    pad_case(st, 1, mode, QI_FLOAT32, 4, d, p, 0, NULL, 1);
    pad_case(st, 0, mode, QI_FLOAT32, 4, d, p, 0, NULL, 1);
  }
  pad_case(st, 2, PAD_C, QI_INT64, 4, d, (int64_t[]){1, 3, 2, 0}, 2,
           (int64_t[]){-3, -1}, 1);
  pad_case(st, 2, PAD_WRAP, QI_UINT8, 4, d, (int64_t[]){5, -1, 7, 2}, 2,
           (int64_t[]){3, 2}, 0);
  pad_case(st, 1, PAD_REFLECT, QI_FLOAT32, 4, d,
           (int64_t[]){0, 0, 3, 0, 0, 0, 0, 0}, 0, NULL,
           0); /* pad 3 > dim-1: rejected */
  /* Random shapes, pads from -3 to 4 (crops included), every mode. */
  int bad = 0;
  static const qi_dtype dts[3] = {QI_FLOAT32, QI_INT64, QI_UINT8};
  for (int it = 0; it < 800 && bad < 5; it++) {
    int rank = 1 + (int)(th_rand() % 3);
    int64_t dd[3], pads[6], axes[3] = {0, 1, 2};
    for (int i = 0; i < rank; i++) dd[i] = th_rand() % 6;
    int form = (int)(th_rand() % 3), na = rank;
    if (form == 2) {
      na = 1 + (int)(th_rand() % (uint32_t)rank);
      for (int i = 0; i < na; i++) axes[i] = (rank - 1 - i) - rank * (i & 1);
    }
    for (int i = 0; i < 2 * na; i++) pads[i] = (int64_t)(th_rand() % 8) - 3;
    bad += pad_case(st, form, (int)(th_rand() % 4), dts[th_rand() % 3], rank,
                    dd, pads, na, axes, (int)(th_rand() % 2));
  }
  QT_CHECK(st, bad == 0);
}

/* ---- Gather ------------------------------------------------------------- */

static void gather_case(qt_state *st, int axis, qi_dtype it, int qrank,
                        const int64_t *qd, const int64_t *idx,
                        qi_status want_status) {
  int64_t d[3] = {3, 4, 5};
  float x[60];
  for (int i = 0; i < 60; i++) x[i] = (float)i + 0.25f;
  int64_t nidx = th_numel(qrank, qd);
  int32_t i32[16];
  for (int64_t i = 0; i < nidx; i++) i32[i] = (int32_t)idx[i];
  qi_graph *g = th_graph(13);
  int ins[2] = {th_act(g, "x", QI_FLOAT32, 3, d),
                th_act(g, "i", it, qrank, qd)};
  int ni = th_node(g, "Gather", 2, ins, 1);
  th_attr_int(g, ni, "axis", axis);
  th_out o;
  void *act[2] = {x, it == QI_INT32 ? (void *)i32 : (void *)idx};
  qi_status s = th_run(g, ni, act, &o);
  QT_CHECKF(st, s == want_status, "gather axis %d: %d (%s)", axis, (int)s,
            o.err.message);
  if (s == QI_OK) {
    int a = axis < 0 ? axis + 3 : axis, r = 2 + qrank;
    int64_t od[QI_MAX_RANK], k = 0;
    for (int i = 0; i < a; i++) od[k++] = d[i];
    for (int i = 0; i < qrank; i++) od[k++] = qd[i];
    for (int i = a + 1; i < 3; i++) od[k++] = d[i];
    QT_CHECK(st, th_shape_is(&o.buf[0], r, od));
    int bad = 0;
    int64_t c[QI_MAX_RANK];
    for (int64_t i = 0; i < th_numel(r, od); i++) {
      th_unravel(i, r, od, c);
      int64_t j = 0; /* flat position in indices */
      for (int q = 0; q < qrank; q++) j = j * qd[q] + c[a + q];
      int64_t v = idx[j] < 0 ? idx[j] + d[a] : idx[j];
      int64_t src[3], m = 0;
      for (int q = 0; q < 3; q++)
        src[q] = q < a ? c[q] : q == a ? v : c[a + qrank + m++];
      if (((float *)o.buf[0].data)[i] != x[(src[0] * 4 + src[1]) * 5 + src[2]])
        bad++;
    }
    QT_CHECKF(st, bad == 0, "gather axis %d: %d wrong", axis, bad);
  }
  th_done(&o);
  qi_graph_free(g);
}

static void test_gather(qt_state *st) {
  gather_case(st, 0, QI_INT64, 0, NULL, (int64_t[]){-1}, QI_OK);
  gather_case(st, 1, QI_INT32, 2, (int64_t[]){2, 2}, (int64_t[]){0, -1, 2, 1},
              QI_OK);
  gather_case(st, -1, QI_INT64, 1, (int64_t[]){4}, (int64_t[]){4, 0, -5, 2},
              QI_OK);
  gather_case(st, 2, QI_INT64, 0, NULL, (int64_t[]){3}, QI_OK);
  gather_case(st, 1, QI_INT64, 1, (int64_t[]){0}, (int64_t[]){0}, QI_OK);
  gather_case(st, 0, QI_INT64, 1, (int64_t[]){2}, (int64_t[]){1, 3},
              QI_ERR_INVALID_ARG);
  gather_case(st, 2, QI_INT32, 1, (int64_t[]){1}, (int64_t[]){-6},
              QI_ERR_INVALID_ARG);
}

/* ---- Tile --------------------------------------------------------------- */

static void test_tile(qt_state *st) {
  int bad = 0;
  for (int it = 0; it < 200; it++) {
    int rank = 1 + (int)(th_rand() % 4), es = 1 << (th_rand() % 4);
    int64_t d[4], rep[4], od[4];
    for (int i = 0; i < rank; i++) {
      d[i] = 1 + th_rand() % 3;
      rep[i] = th_rand() % 4;
      if (it % 3) rep[i] += 1;
      od[i] = d[i] * rep[i];
    }
    unsigned char *x = rand_bytes(th_numel(rank, d) * es);
    qi_graph *g = th_graph(13);
    int ins[2] = {th_act(g, "x", dtype_of_size(es), rank, d),
                  th_const_i64(g, "r", rank, rep)};
    int ni = th_node(g, "Tile", 2, ins, 1);
    th_out o;
    void *act[2] = {x, NULL};
    int fail =
        th_run(g, ni, act, &o) != QI_OK || !th_shape_is(&o.buf[0], rank, od);
    int64_t ist[4], c[4];
    th_strides(rank, d, ist);
    for (int64_t i = 0; !fail && i < th_numel(rank, od); i++) {
      th_unravel(i, rank, od, c);
      int64_t off = 0;
      for (int a = 0; a < rank; a++) off += (c[a] % d[a]) * ist[a];
      fail = memcmp((unsigned char *)o.buf[0].data + i * es, x + off * es,
                    (size_t)es) != 0;
    }
    bad += fail;
    th_done(&o);
    qi_graph_free(g);
    free(x);
  }
  QT_CHECK(st, bad == 0);
}

/* ---- DepthToSpace / SpaceToDepth ---------------------------------------- */

static void test_depth_space(qt_state *st) {
  for (int crd = 0; crd <= 1; crd++)
    for (int64_t b = 1; b <= 3; b++) {
      int64_t c2 = 3, d[4] = {2, c2 * b * b, 3, 2};
      int64_t od[4] = {2, c2, 3 * b, 2 * b};
      int64_t n = th_numel(4, d);
      uint16_t *x = malloc(sizeof(uint16_t) * (size_t)n);
      for (int64_t i = 0; i < n; i++) x[i] = (uint16_t)(i * 7 + 1);
      qi_graph *g = th_graph(13);
      int ins[1] = {th_act(g, "x", QI_FLOAT16, 4, d)};
      int ni = th_node(g, "DepthToSpace", 1, ins, 1);
      th_attr_int(g, ni, "blocksize", b);
      if (crd) th_attr_str(g, ni, "mode", "CRD");
      th_out o;
      void *act[1] = {x};
      QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
      QT_CHECK(st, th_shape_is(&o.buf[0], 4, od));
      int bad = 0;
      for (int64_t nn = 0; nn < 2; nn++)
        for (int64_t c = 0; c < c2; c++)
          for (int64_t y = 0; y < od[2]; y++)
            for (int64_t xx = 0; xx < od[3]; xx++) {
              int64_t i = y % b, j = xx % b, h = y / b, w = xx / b;
              int64_t ic = crd ? c * b * b + i * b + j : (i * b + j) * c2 + c;
              uint16_t want = x[((nn * d[1] + ic) * d[2] + h) * d[3] + w];
              uint16_t got =
                  ((uint16_t *)o.buf[0]
                       .data)[((nn * c2 + c) * od[2] + y) * od[3] + xx];
              bad += want != got;
            }
      QT_CHECKF(st, bad == 0, "DepthToSpace %s b=%lld", crd ? "CRD" : "DCR",
                (long long)b);
      th_done(&o);
      qi_graph_free(g);
      free(x);
    }
  for (int64_t b = 1; b <= 3; b++) {
    int64_t d[4] = {2, 3, 2 * b, 3 * b}, od[4] = {2, 3 * b * b, 2, 3};
    int64_t n = th_numel(4, d);
    int64_t *x = malloc(sizeof(int64_t) * (size_t)n);
    for (int64_t i = 0; i < n; i++) x[i] = i * 13 - 9;
    qi_graph *g = th_graph(13);
    int ins[1] = {th_act(g, "x", QI_INT64, 4, d)};
    int ni = th_node(g, "SpaceToDepth", 1, ins, 1);
    th_attr_int(g, ni, "blocksize", b);
    th_out o;
    void *act[1] = {x};
    QT_CHECK(st, th_run(g, ni, act, &o) == QI_OK);
    QT_CHECK(st, th_shape_is(&o.buf[0], 4, od));
    int bad = 0;
    for (int64_t nn = 0; nn < 2; nn++)
      for (int64_t c = 0; c < 3; c++)
        for (int64_t y = 0; y < d[2]; y++)
          for (int64_t xx = 0; xx < d[3]; xx++) {
            int64_t i = y % b, j = xx % b;
            int64_t oc = (i * b + j) * 3 + c;
            int64_t want = x[((nn * 3 + c) * d[2] + y) * d[3] + xx];
            int64_t got =
                ((int64_t *)o.buf[0]
                     .data)[((nn * od[1] + oc) * 2 + y / b) * 3 + xx / b];
            bad += want != got;
          }
    QT_CHECKF(st, bad == 0, "SpaceToDepth b=%lld", (long long)b);
    th_done(&o);
    qi_graph_free(g);
    free(x);
  }
  /* Channels not divisible by blocksize^2. */
  qi_graph *g = th_graph(13);
  int64_t d[4] = {1, 6, 2, 2};
  int ins[1] = {th_act(g, "x", QI_FLOAT32, 4, d)};
  int ni = th_node(g, "DepthToSpace", 1, ins, 1);
  th_attr_int(g, ni, "blocksize", 2);
  th_out o;
  void *act[1] = {NULL};
  QT_CHECK(st, th_run(g, ni, act, &o) == QI_ERR_SHAPE);
  th_done(&o);
  qi_graph_free(g);
}

static void test_dynamic_inputs(qt_state *st) {
  QT_CHECK(st, th_rejects_dynamic("Slice", 13, 3, 2));
  QT_CHECK(st, th_rejects_dynamic("Slice", 13, 5, 4));
  QT_CHECK(st, th_rejects_dynamic("Split", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("Tile", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("Pad", 13, 2, 1));
  QT_CHECK(st, th_rejects_dynamic("Pad", 19, 4, 3));
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_transpose);
  QT_RUN(&st, test_concat);
  QT_RUN(&st, test_split);
  QT_RUN(&st, test_slice);
  QT_RUN(&st, test_pad);
  QT_RUN(&st, test_gather);
  QT_RUN(&st, test_tile);
  QT_RUN(&st, test_depth_space);
  QT_RUN(&st, test_dynamic_inputs);
  return qt_summary(&st);
}
