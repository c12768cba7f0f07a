/* uint8 element-wise kernels (kernels/qelt): Add and Mul with every
 * broadcast kind, Concat slices with and without requantization, and the
 * dispatch table with its QINFER_ISA override. The references are checked
 * against float64 on every input pair; every kernel config this CPU runs
 * is checked byte for byte against the references on awkward sizes, with
 * guard pages. QINFER_LONG_TESTS=1 adds a random sweep. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_cases.h"
#include "qelt_util.h"
#include "qlut/qlut.h"
#include "ref/qelt_ref.h"
#include "ref/qlut_ref.h"

/* ---- dispatch ---- */

static void test_dispatch(qt_state *st) {
  for (int i = 0; i < QI_ISA_COUNT; i++) {
    const qi_qelt_config *c = qi_qelt_config_of((qi_isa)i);
    QT_CHECK(st, c && c->isa == (qi_isa)i);
    if (!c) continue;
    QT_CHECK(st, c->add && c->mul && c->concat && c->lut && c->maxpool &&
                     c->avgpool && c->gap && c->resize_nearest &&
                     c->resize_bilinear);
    QT_CHECK(st, c->kernel_isa <= c->isa);
  }
  QT_CHECK(st, qi_qelt_config_of(QI_ISA_COUNT) == NULL);
  QT_CHECK(st, qi_qelt_config_of(QI_ISA_SCALAR)->add == qi_u8_add__scalar);
  QT_CHECK(st, qi_qelt_config_of(QI_ISA_AVX2)->add == qi_u8_add__avx2);

  DISPATCH_CHOOSE_CHECKS(st, qi_qelt_config, qi_qelt_config_choose);
  /* QINFER_ISA=scalar forces the portable kernels on this CPU. */
  DISPATCH_DEFAULT_CHECKS(st, qi_qelt_config, qi_qelt_config_default,
                          cfg->isa == QI_ISA_SCALAR && cfg->add == qi_u8_add__scalar &&
                              cfg->lut == qi_u8_lut__scalar);
}

/* ---- Add / Mul: references against float64 ---- */

typedef struct binary_case {
  int mul;
  double sa, sb, sy;
  int32_t za, zb, zy, qmin, qmax;
} binary_case;

static qi_u8_binary_params params_of(const binary_case *k) {
  return k->mul ? qi_u8_mul_params_make(k->sa, k->za, k->sb, k->zb, k->sy,
                                        k->zy, k->qmin, k->qmax)
                : qi_u8_add_params_make(k->sa, k->za, k->sb, k->zb, k->sy,
                                        k->zy, k->qmin, k->qmax);
}

/* Multipliers exactly representable and products exact: no slack. */
static int exact_ratio(double r) { return r == 0.5 || r == 1.0; }

static binary_case binary_case_make(int mul, size_t idx, qe_rng *r) {
  binary_case k;
  k.mul = mul;
  k.za = qe_zero_points[idx % QE_NZP];
  k.zb = qe_zero_points[(idx / 2 + 3) % QE_NZP];
  k.zy = qe_zero_points[(idx / 3 + 5) % QE_NZP];
  qe_clamp_of(idx / 5, k.zy, &k.qmin, &k.qmax);
  k.sy = 0.02 + 0.1 * qe_unit(r);
  k.sa = k.sy * qe_ratio_of(idx, r);
  k.sb = k.sy * qe_ratio_of(idx / 6 + (idx & 1), r);
  if (mul) k.sb = qe_ratio_of(idx / 6 + 1, r); /* sa*sb/sy spans the kinds */
  return k;
}

static int check_ref_f64(qt_state *st, const binary_case *k) {
  qi_u8_binary_params p = params_of(k);
  double ra = k->sa / k->sy, rb = k->sb / k->sy, rab = k->sa * k->sb / k->sy;
  int exact = k->mul ? exact_ratio(rab) : exact_ratio(ra) && exact_ratio(rb);
  for (int a = 0; a < 256; a++)
    for (int b = 0; b < 256; b++) {
      double ta = (a - k->za) * ra, tb = (b - k->zb) * rb, v, mag;
      uint8_t got;
      if (k->mul) {
        v = (double)(a - k->za) * (b - k->zb) * rab;
        mag = fabs(v);
        got = qi_u8_mul_ref((uint8_t)a, (uint8_t)b, &p);
      } else {
        v = ta + tb;
        mag = fabs(ta) + fabs(tb);
        got = qi_u8_add_ref((uint8_t)a, (uint8_t)b, &p);
      }
      double slack = exact ? 0.0 : QE_F32_REL_SLACK * mag;
      if (!qe_near_f64(got, v, slack, k->zy, k->qmin, k->qmax)) {
        QT_CHECKF(st, 0,
                  "%s a=%d b=%d za=%d zb=%d zy=%d [%d,%d] v=%.9g got %d "
                  "f64 %d",
                  k->mul ? "mul" : "add", a, b, k->za, k->zb, k->zy, k->qmin,
                  k->qmax, v, got, qe_requant_f64(v, k->zy, k->qmin, k->qmax));
        return 0;
      }
    }
  return 1;
}

static void run_ref_f64(qt_state *st, int mul) {
  qe_rng r = {0xADD0ull + (uint64_t)mul};
  size_t n = qe_long_tests() ? 600 : 126;
  for (size_t idx = 0; idx < n; idx++) {
    binary_case k = binary_case_make(mul, idx, &r);
    if (!check_ref_f64(st, &k)) return;
  }
}

static void test_add_ref_f64(qt_state *st) { run_ref_f64(st, 0); }
static void test_mul_ref_f64(qt_state *st) { run_ref_f64(st, 1); }

/* Round half to even, seen directly: 0.5-unit multipliers put every sum
 * on a tie. (a-za)*0.5 + (b-zb)*0.5 with a-za = 1, b-zb = 2: 1.5 -> 2. */
static void test_add_ties(qt_state *st) {
  qi_u8_binary_params p =
      qi_u8_add_params_make(0.5, 10, 0.5, 20, 1.0, 100, 0, 255);
  QT_CHECK(st, qi_u8_add_ref(11, 22, &p) == 102); /* 1.5 -> 2 */
  QT_CHECK(st, qi_u8_add_ref(11, 20, &p) == 100); /* 0.5 -> 0 */
  QT_CHECK(st, qi_u8_add_ref(9, 20, &p) == 100);  /* -0.5 -> -0 */
  QT_CHECK(st, qi_u8_add_ref(10, 25, &p) == 102); /* 2.5 -> 2 */
  QT_CHECK(st, qi_u8_add_ref(10, 27, &p) == 104); /* 3.5 -> 4 */
  /* Fused Relu: qmin = zy. */
  p = qi_u8_add_params_make(1.0, 128, 1.0, 128, 1.0, 50, 50, 255);
  QT_CHECK(st, qi_u8_add_ref(0, 0, &p) == 50);
  QT_CHECK(st, qi_u8_add_ref(255, 255, &p) == 255);
  qi_u8_binary_params m = qi_u8_mul_params_make(0.5, 0, 1.0, 0, 1.0, 0, 0, 255);
  QT_CHECK(st, qi_u8_mul_ref(5, 1, &m) == 2); /* 2.5 -> 2 */
  QT_CHECK(st, qi_u8_mul_ref(7, 1, &m) == 4); /* 3.5 -> 4 */
}

/* ---- Add / Mul: kernels against the references ---- */

static uint8_t ref_binary(int mul, uint8_t a, uint8_t b,
                          const qi_u8_binary_params *p) {
  return mul ? qi_u8_mul_ref(a, b, p) : qi_u8_add_ref(a, b, p);
}

/* One case on every config: fresh guard buffers, also in place (y == a). */
static int check_binary(qt_state *st, int mul, size_t rows, size_t c,
                        qi_u8_bcast bcast, size_t idx) {
  qe_rng r = {0xB1Aull * (idx + 1) + rows * 977 + c};
  binary_case k = binary_case_make(mul, idx, &r);
  qi_u8_binary_params p = params_of(&k);
  size_t n = rows * c;
  size_t nb = bcast == QI_U8_BCAST_NONE ? n : bcast == QI_U8_BCAST_ROW ? c : 1;
  qe_buf ba, bb, by;
  uint8_t *a = qe_buf_make(st, &ba, n, idx & 1);
  uint8_t *b = qe_buf_make(st, &bb, nb, (idx >> 1) & 1);
  uint8_t *y = qe_buf_make(st, &by, n, 0);
  uint8_t *want = malloc(n ? n : 1);
  int ok = a && b && y && want;
  if (ok) {
    qe_fill(&r, a, n);
    qe_fill(&r, b, nb);
    for (size_t i = 0; i < n; i++) {
      size_t j = bcast == QI_U8_BCAST_NONE  ? i
                 : bcast == QI_U8_BCAST_ROW ? i % c
                                            : 0;
      want[i] = ref_binary(mul, a[i], b[j], &p);
    }
    const qi_qelt_config *cfgs[QI_ISA_COUNT];
    size_t ncfg = qe_configs(cfgs);
    for (size_t ci = 0; ci < ncfg && ok; ci++) {
      qi_u8_binary_fn fn = mul ? cfgs[ci]->mul : cfgs[ci]->add;
      for (int in_place = 0; in_place < 2 && ok; in_place++) {
        memset(y, QE_SENTINEL, n);
        const uint8_t *src = a;
        if (in_place) {
          memcpy(y, a, n);
          src = y;
        }
        fn(rows, c, src, b, bcast, y, &p);
        long d = qe_diff(y, want, n);
        if (d >= 0) {
          QT_CHECKF(st, 0,
                    "%s %s rows=%zu c=%zu bcast=%d in_place=%d idx=%zu: "
                    "byte %ld got %d want %d",
                    mul ? "mul" : "add", qi_isa_name(cfgs[ci]->kernel_isa),
                    rows, c, (int)bcast, in_place, idx, d, y[d], want[d]);
          ok = 0;
        }
      }
    }
  }
  free(want);
  qe_buf_free(&ba);
  qe_buf_free(&bb);
  qe_buf_free(&by);
  return ok;
}

static const size_t k_channels[] = {1,  3,   7,   17,  31,  32, 33,
                                    64, 100, 255, 256, 257, 300};
static const size_t k_rows[] = {1, 2, 5, 13};

static void run_binary_sweep(qt_state *st, int mul) {
  size_t idx = 0;
  for (int bc = 0; bc < 3; bc++)
    for (size_t ic = 0; ic < QE_LEN(k_channels); ic++)
      for (size_t ir = 0; ir < QE_LEN(k_rows); ir++, idx++)
        if (!check_binary(st, mul, k_rows[ir], k_channels[ic], (qi_u8_bcast)bc,
                          idx))
          return;
  /* Flat lengths around the 32-byte block. */
  static const size_t flat[] = {0,  1,  2,  15, 16, 31,   32,
                                33, 63, 64, 65, 95, 1000, 4099};
  for (int bc = 0; bc < 3; bc += 2)
    for (size_t i = 0; i < QE_LEN(flat); i++, idx++)
      if (!check_binary(st, mul, 1, flat[i], (qi_u8_bcast)bc, idx)) return;
  if (qe_long_tests()) {
    qe_rng r = {0x10C0ull + (uint64_t)mul};
    for (int t = 0; t < 1500; t++, idx++)
      if (!check_binary(st, mul, (size_t)qe_range(&r, 1, 40),
                        (size_t)qe_range(&r, 1, 700),
                        (qi_u8_bcast)qe_range(&r, 0, 2), idx))
        return;
  }
}

static void test_add_kernels(qt_state *st) { run_binary_sweep(st, 0); }
static void test_mul_kernels(qt_state *st) { run_binary_sweep(st, 1); }

/* ---- Concat ---- */

static void test_requant_table_f64(qt_state *st) {
  qe_rng r = {0xC0C0};
  for (size_t idx = 0; idx < 126; idx++) {
    int32_t zx = qe_zero_points[idx % QE_NZP];
    int32_t zy = qe_zero_points[(idx / 2 + 1) % QE_NZP], qmin, qmax;
    qe_clamp_of(idx / 7, zy, &qmin, &qmax);
    double ratio = qe_ratio_of(idx / 3, &r);
    float mxy = (float)ratio;
    qi_u8_out o = qi_u8_out_make(zy, qmin, qmax);
    uint8_t t[256];
    qi_u8_requant_table(zx, mxy, &o, t);
    for (int q = 0; q < 256; q++) {
      double v = (q - zx) * ratio;
      double slack = exact_ratio(ratio) ? 0.0 : QE_F32_REL_SLACK * fabs(v);
      if (!qe_near_f64(t[q], v, slack, zy, qmin, qmax) ||
          t[q] != qi_u8_requant_entry(q, zx, mxy, &o)) {
        QT_CHECKF(st, 0, "q=%d zx=%d zy=%d ratio=%g: %d", q, zx, zy, ratio,
                  t[q]);
        return;
      }
    }
  }
  /* Same scale and zero point: the identity, and said to be. */
  qi_u8_out o = qi_u8_out_make(157, 0, 255);
  uint8_t t[256];
  qi_u8_requant_table(157, 1.0f, &o, t);
  for (int q = 0; q < 256; q++) QT_CHECK(st, t[q] == q);
  QT_CHECK(st, qi_u8_requant_is_identity(157, 1.0f, &o));
  QT_CHECK(st, !qi_u8_requant_is_identity(156, 1.0f, &o));
  QT_CHECK(st, !qi_u8_requant_is_identity(157, 1.0001f, &o));
  qi_u8_out relu = qi_u8_out_make(157, 157, 255);
  QT_CHECK(st, !qi_u8_requant_is_identity(157, 1.0f, &relu));
}

/* A slice of c channels of `rows` pixels (input stride ldx = c + padx)
 * into an output of stride ldy = c + pady, the gaps holding the sentinel. */
static int check_concat(qt_state *st, size_t rows, size_t c, size_t padx,
                        size_t pady, int requant, size_t idx) {
  size_t ldx = c + padx, ldy = c + pady;
  size_t nx = rows ? (rows - 1) * ldx + c : 0;
  size_t ny = rows * ldy;
  qe_rng r = {0xCA7ull + idx * 31 + c};
  qe_buf bx, by;
  uint8_t *x = qe_buf_make(st, &bx, nx, idx & 1);
  uint8_t *y = qe_buf_make(st, &by, ny, 0);
  uint8_t *want = malloc(ny ? ny : 1);
  int ok = x && y && want;
  uint8_t table[256];
  if (ok) {
    qe_fill(&r, x, nx);
    int32_t zy = qe_zero_points[idx % QE_NZP];
    qi_u8_out o = qi_u8_out_make(zy, 0, 255);
    qi_u8_requant_table(qe_zero_points[(idx + 3) % QE_NZP],
                        (float)qe_ratio_of(idx, &r), &o, table);
    memset(want, QE_SENTINEL, ny);
    for (size_t i = 0; i < rows; i++)
      for (size_t j = 0; j < c; j++)
        want[i * ldy + j] = requant ? table[x[i * ldx + j]] : x[i * ldx + j];
    const qi_qelt_config *cfgs[QI_ISA_COUNT];
    size_t ncfg = qe_configs(cfgs);
    for (size_t ci = 0; ci < ncfg && ok; ci++) {
      memset(y, QE_SENTINEL, ny);
      cfgs[ci]->concat(rows, c, x, ldx, y, ldy, requant ? table : NULL);
      long d = qe_diff(y, want, ny);
      if (d >= 0) {
        QT_CHECKF(st, 0,
                  "%s rows=%zu c=%zu ldx=%zu ldy=%zu requant=%d: byte %ld "
                  "got %d want %d",
                  qi_isa_name(cfgs[ci]->kernel_isa), rows, c, ldx, ldy, requant,
                  d, y[d], want[d]);
        ok = 0;
      }
    }
  }
  free(want);
  qe_buf_free(&bx);
  qe_buf_free(&by);
  return ok;
}

static void test_concat_kernels(qt_state *st) {
  size_t idx = 0;
  static const size_t pads[] = {0, 1, 5, 64};
  for (int requant = 0; requant < 2; requant++)
    for (size_t ic = 0; ic < QE_LEN(k_channels); ic++)
      for (size_t ir = 0; ir < QE_LEN(k_rows); ir++)
        for (size_t ip = 0; ip < QE_LEN(pads); ip++, idx++)
          if (!check_concat(st, k_rows[ir], k_channels[ic], pads[ip],
                            pads[(ip + 1) % QE_LEN(pads)], requant, idx))
            return;
  /* Contiguous slices (one output input): flattened by the kernels. */
  for (int requant = 0; requant < 2; requant++, idx++)
    if (!check_concat(st, 97, 5, 0, 0, requant, idx)) return;
  if (qe_long_tests()) {
    qe_rng r = {0xC0CA};
    for (int t = 0; t < 800; t++, idx++)
      if (!check_concat(st, (size_t)qe_range(&r, 1, 50),
                        (size_t)qe_range(&r, 1, 300),
                        (size_t)qe_range(&r, 0, 40),
                        (size_t)qe_range(&r, 0, 40), t & 1, idx))
        return;
  }
}

int main(void) {
  qt_state st = {0};
  qe_catch_faults(&st);
  QT_RUN(&st, test_dispatch);
  QT_RUN(&st, test_add_ties);
  QT_RUN(&st, test_add_ref_f64);
  QT_RUN(&st, test_mul_ref_f64);
  QT_RUN(&st, test_add_kernels);
  QT_RUN(&st, test_mul_kernels);
  QT_RUN(&st, test_requant_table_f64);
  QT_RUN(&st, test_concat_kernels);
  return qt_summary(&st);
}
