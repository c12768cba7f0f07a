/*
 * The CUDA kernels' arithmetic and indexing, checked on the host: every
 * kernel of cuda/ writes out[o] = <a cuda/elem.h function of o> in a
 * grid-stride loop, so running the same functions over every o here gives
 * the bytes the kernel must give. Each is compared byte for byte with the
 * CPU oracle on the cases of cuda_cases.h. Needs no GPU and no nvcc; the GPU
 * itself is checked by test_cuda_kernels.c (tests/cuda/run.sh).
 *
 * What this cannot see: the intrinsics' own behaviour on the device
 * (__fmul_rn etc. are IEEE round-to-nearest operations, as the host ones
 * under -ffp-contract=off), the launch shapes and cuBLASLt, whose int8
 * product is emulated here by an exact integer loop.
 */
#include <stdio.h>

#include "cuda/elem.h"
#include "cuda_cases.h"
#include "qtest.h"
#include "ref/qelt_ref.h"

/* Float outputs: equal bits, or both NaN (NaN payloads differ between x86
 * and the GPU and carry no meaning). */
static int same_floats(const float *a, const float *b, size_t n, size_t *bad) {
  for (size_t i = 0; i < n; i++) {
    if (isnan(a[i]) && isnan(b[i])) continue;
    if (memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      *bad = i;
      return 0;
    }
  }
  return 1;
}

static int same_bytes(const uint8_t *a, const uint8_t *b, size_t n,
                      size_t *bad) {
  for (size_t i = 0; i < n; i++)
    if (a[i] != b[i]) {
      *bad = i;
      return 0;
    }
  return 1;
}

static void test_quantize(qt_state *st) {
  cc_rng r = {11};
  for (size_t ci = 0; ci < CC_LEN(cc_convert_cases); ci++) {
    const cc_convert_case *cs = &cc_convert_cases[ci];
    size_t count = cs->n * cs->c * cs->hw, bad = 0;
    float *x = cc_alloc(count * sizeof(float), 0);
    uint8_t *want = cc_alloc(count, CC_SENTINEL);
    uint8_t *got = cc_alloc(count, CC_SENTINEL);
    cc_convert_input(&r, cs, x, count);
    cc_quantize_ref(cs, x, want);
    for (size_t o = 0; o < count; o++)
      got[o] = cs->layout ? qi_cu_quantize(x[qi_cu_nhwc_src(o, cs->c, cs->hw)],
                                           cs->scale, cs->zp)
                          : qi_cu_quantize(x[o], cs->scale, cs->zp);
    QT_CHECKF(st, same_bytes(want, got, count, &bad),
              "case %zu: element %zu: %u, CPU %u", ci, bad, got[bad],
              want[bad]);
    free(x);
    free(want);
    free(got);
  }
}

static void test_dequantize(qt_state *st) {
  cc_rng r = {12};
  for (size_t ci = 0; ci < CC_LEN(cc_convert_cases); ci++) {
    const cc_convert_case *cs = &cc_convert_cases[ci];
    size_t count = cs->n * cs->c * cs->hw, bad = 0;
    uint8_t *q = cc_alloc(count, 0);
    float *want = cc_alloc(count * sizeof(float), CC_SENTINEL);
    float *got = cc_alloc(count * sizeof(float), CC_SENTINEL);
    cc_fill(&r, q, count);
    cc_dequantize_ref(cs, q, want);
    for (size_t o = 0; o < count; o++)
      got[o] = cs->layout
                   ? qi_cu_dequantize(q[qi_cu_nchw_src(o, cs->c, cs->hw)],
                                      cs->scale, cs->zp)
                   : qi_cu_dequantize(q[o], cs->scale, cs->zp);
    QT_CHECKF(st, same_floats(want, got, count, &bad),
              "case %zu: element %zu: %a, CPU %a", ci, bad, (double)got[bad],
              (double)want[bad]);
    free(q);
    free(want);
    free(got);
  }
}

/* The body of cuda/requant.cu's kernels, over every o. */
static void requant_emulated(const cc_requant_case *cs,
                             const cc_requant_data *d, void *c) {
  const int32_t *bias = cs->with_bias ? d->bias : NULL;
  for (size_t o = 0; o < cs->m * cs->n; o++) {
    int32_t s = qi_cu_acc_at(o, cs->n, d->acc, cs->ldacc, bias);
    size_t at = qi_cu_row_offset(o, cs->n, cs->ldc);
    if (cs->out_f32)
      ((float *)c)[at] = qi_cu_dequant_acc(s, d->mult[o % cs->n]);
    else if (cs->residual)
      ((uint8_t *)c)[at] = qi_cu_requant_u8_residual(
          s, d->mult[o % cs->n], d->r[qi_cu_row_offset(o, cs->n, cs->ldr)],
          &d->p);
    else
      ((uint8_t *)c)[at] = qi_cu_requant_u8(s, d->mult[o % cs->n], &d->p);
  }
}

static void test_requant(qt_state *st) {
  cc_rng r = {13};
  for (size_t ci = 0; ci < CC_LEN(cc_requant_cases); ci++) {
    const cc_requant_case *cs = &cc_requant_cases[ci];
    cc_requant_data d;
    size_t bytes = cc_requant_out_bytes(cs), bad = 0;
    void *want = cc_alloc(bytes, CC_SENTINEL),
         *got = cc_alloc(bytes, CC_SENTINEL);
    QT_CHECK(st, cc_requant_make(&r, cs, ci, &d) && want && got);
    cc_requant_ref(cs, &d, want);
    requant_emulated(cs, &d, got);
    if (cs->out_f32)
      QT_CHECKF(st, same_floats(want, got, bytes / 4, &bad),
                "case %zu: float %zu differs", ci, bad);
    else
      QT_CHECKF(st, same_bytes(want, got, bytes, &bad),
                "case %zu: byte %zu: %u, CPU %u", ci, bad,
                ((uint8_t *)got)[bad], ((uint8_t *)want)[bad]);
    cc_requant_free(&d);
    free(want);
    free(got);
  }
}

/* Every (acc, r) corner of the epilogue rule against ref/requant.h on a
 * grid of multipliers: ties, saturation and NaN. */
static void test_requant_rule_sweep(qt_state *st) {
  cc_rng r = {14};
  static const float mults[] = {0.5f, 0.25f,  1.0f, 1e-7f,   3.0f,
                                1e9f, -0.75f, NAN,  INFINITY};
  size_t bad = 0;
  for (size_t mi = 0; mi < CC_LEN(mults); mi++)
    for (size_t zi = 0; zi < CC_LEN(cc_zero_points); zi++) {
      int32_t zy = cc_zp(zi), qmin, qmax;
      cc_clamp_of(mi + zi, zy, &qmin, &qmax);
      qi_u8s8_gemm_params p = qi_u8s8_gemm_params_make(
          0, zy, qmin, qmax, cc_zp(zi + 1), (float)cc_ratio_of(mi, &r));
      for (int32_t acc = -700; acc <= 700; acc++) {
        uint8_t rv = (uint8_t)cc_next(&r);
        if (qi_cu_requant_u8(acc, mults[mi], &p) !=
                qi_requant_u8(acc, mults[mi], &p) ||
            qi_cu_requant_u8_residual(acc, mults[mi], rv, &p) !=
                qi_requant_u8_residual(acc, mults[mi], rv, &p))
          bad++;
      }
    }
  QT_CHECKF(st, bad == 0, "%zu epilogue results differ", bad);
}

/* cuda/qgemm.cu's pipeline with its int8 product done by an exact loop:
 * shift, pad, GPU bias, accumulate over kpad, epilogue. */
static int gemm_emulated(const cc_gemm_case *cs, const cc_gemm_data *d,
                         void *c) {
  size_t kpad = (cs->k + 15) / 16 * 16, npad = (cs->n + 15) / 16 * 16;
  int8_t *a8 = cc_alloc(cs->m * kpad, 0), *b8 = cc_alloc(npad * kpad, 0);
  int32_t *bias = cc_alloc(npad * sizeof(int32_t), 0);
  int32_t *acc = cc_alloc(cs->m * npad * sizeof(int32_t), 0);
  int ok = a8 && b8 && bias && acc;
  for (size_t o = 0; ok && o < cs->m * kpad; o++)
    a8[o] = qi_cu_shift_at(o, cs->k, kpad, d->a, cs->lda);
  for (size_t j = 0; ok && j < cs->n; j++) {
    ok = qi_cu_qgemm_bias(cs->k, d->b + j * cs->k, d->bias[j], d->za, &bias[j]);
    memcpy(b8 + j * kpad, d->b + j * cs->k, cs->k);
  }
  for (size_t i = 0; ok && i < cs->m; i++)
    for (size_t j = 0; j < npad; j++) {
      int64_t s = 0;
      for (size_t t = 0; t < kpad; t++)
        s += (int64_t)a8[i * kpad + t] * b8[j * kpad + t];
      ok = ok && s >= INT32_MIN && s <= INT32_MAX;
      acc[i * npad + j] = (int32_t)s;
    }
  for (size_t o = 0; ok && o < cs->m * cs->n; o++) {
    int32_t s = qi_cu_acc_at(o, cs->n, acc, npad, bias);
    float mult = d->mult[o % cs->n];
    size_t at = qi_cu_row_offset(o, cs->n, cs->ldc);
    if (cs->out_f32)
      ((float *)c)[at] = qi_cu_dequant_acc(s, mult);
    else if (cs->residual)
      ((uint8_t *)c)[at] = qi_cu_requant_u8_residual(
          s, mult, d->r[qi_cu_row_offset(o, cs->n, cs->ldc)], &d->p);
    else
      ((uint8_t *)c)[at] = qi_cu_requant_u8(s, mult, &d->p);
  }
  free(a8);
  free(b8);
  free(bias);
  free(acc);
  return ok;
}

static void test_qgemm(qt_state *st) {
  cc_rng r = {15};
  for (size_t ci = 0; ci < CC_LEN(cc_gemm_cases); ci++) {
    const cc_gemm_case *cs = &cc_gemm_cases[ci];
    cc_gemm_data d;
    size_t bytes = cc_gemm_out_bytes(cs), bad = 0;
    void *want = cc_alloc(bytes, CC_SENTINEL),
         *got = cc_alloc(bytes, CC_SENTINEL);
    QT_CHECK(st, cc_gemm_make(&r, cs, ci, &d) && want && got);
    cc_gemm_ref(cs, &d, want);
    QT_CHECKF(st, gemm_emulated(cs, &d, got),
              "case %zu: a channel was refused or an int32 overflowed", ci);
    if (cs->out_f32)
      QT_CHECKF(st, same_floats(want, got, bytes / 4, &bad),
                "case %zu (%zux%zux%zu): float %zu differs", ci, cs->m, cs->n,
                cs->k, bad);
    else
      QT_CHECKF(st, same_bytes(want, got, bytes, &bad),
                "case %zu (%zux%zux%zu): byte %zu: %u, CPU %u", ci, cs->m,
                cs->n, cs->k, bad, ((uint8_t *)got)[bad],
                ((uint8_t *)want)[bad]);
    cc_gemm_free(&d);
    free(want);
    free(got);
  }
}

/* The GPU weight upload refuses exactly the channels the CPU packer
 * refuses: weights and biases around the int32 reach limit. */
static void test_qgemm_range_check(qt_state *st) {
  cc_rng r = {16};
  enum { K = 65536, N = 12 };
  int8_t *b = cc_alloc((size_t)N * K, 0);
  void *packed = cc_alloc(qi_u8s8_gemm_packed_bytes(1, K, 8, 1), 0);
  QT_CHECK(st, b && packed);
  size_t disagree = 0, refused = 0;
  for (size_t j = 0; b && packed && j < N; j++) {
    int8_t *bj = b + j * K;
    int64_t abs_sum = 0, sum = 0;
    for (size_t t = 0; t < K; t++) {
      bj[t] = (int8_t)(cc_next(&r) % 8 ? (j % 2 ? 127 : -127)
                                       : cc_range(&r, -127, 127));
      abs_sum += bj[t] < 0 ? -bj[t] : bj[t];
      sum += bj[t];
    }
    int32_t za = cc_zp(j);
    /* bias placing |bias - za*sum| + 255*abs_sum just below or above
     * INT32_MAX. */
    int64_t room = (int64_t)INT32_MAX - 255 * abs_sum;
    int64_t target = room + (int64_t)(j % 3) - 1;
    int64_t bias = (int64_t)za * sum + (j % 4 < 2 ? target : -target);
    if (bias > INT32_MAX || bias < INT32_MIN)
      bias = j % 2 ? INT32_MAX : INT32_MIN;
    int32_t b32 = (int32_t)bias, out = 0;
    float mult = 1.0f;
    int cpu_ok =
        qi_u8s8_gemm_pack_c4_i8(1, K, 8, bj, K, &b32, za, &mult, packed) < 0;
    int gpu_ok = qi_cu_qgemm_bias(K, bj, b32, za, &out);
    disagree += cpu_ok != gpu_ok;
    refused += !gpu_ok;
  }
  QT_CHECKF(st, disagree == 0, "%zu channels judged differently", disagree);
  QT_CHECKF(st, refused > 0 && refused < N,
            "the sweep should refuse some channels and accept others "
            "(refused %zu of %d)",
            refused, N);
  free(b);
  free(packed);
}

static void test_u8_binary(qt_state *st, int mul) {
  cc_rng r = {17u + (uint64_t)mul};
  for (size_t ci = 0; ci < CC_LEN(cc_binary_cases); ci++) {
    const cc_binary_case *cs = &cc_binary_cases[ci];
    size_t n = cs->rows * cs->c, bad = 0;
    qi_u8_binary_params p = cc_binary_params(&r, ci, mul);
    uint8_t *a = cc_alloc(n, 0), *b = cc_alloc(cc_binary_b_len(cs), 0);
    uint8_t *want = cc_alloc(n, CC_SENTINEL), *got = cc_alloc(n, CC_SENTINEL);
    cc_fill(&r, a, n);
    cc_fill(&r, b, cc_binary_b_len(cs));
    (mul ? qi_u8_mul__scalar : qi_u8_add__scalar)(cs->rows, cs->c, a, b,
                                                  cs->bcast, want, &p);
    for (size_t o = 0; o < n; o++) {
      uint8_t bv = b[qi_cu_bcast_index(o, cs->c, cs->bcast)];
      got[o] = mul ? qi_cu_u8_mul(a[o], bv, &p) : qi_cu_u8_add(a[o], bv, &p);
    }
    QT_CHECKF(st, same_bytes(want, got, n, &bad),
              "%s case %zu: element %zu: %u, CPU %u", mul ? "mul" : "add", ci,
              bad, got[bad], want[bad]);
    free(a);
    free(b);
    free(want);
    free(got);
  }
}

static void test_u8_add(qt_state *st) { test_u8_binary(st, 0); }
static void test_u8_mul(qt_state *st) { test_u8_binary(st, 1); }

/* All 65536 (a, b) pairs of Add and Mul for every ratio kind. */
static void test_u8_binary_exhaustive(qt_state *st) {
  cc_rng r = {19};
  size_t bad = 0;
  for (size_t idx = 0; idx < 6; idx++) {
    qi_u8_binary_params pa = cc_binary_params(&r, idx, 0);
    qi_u8_binary_params pm = cc_binary_params(&r, idx, 1);
    for (int a = 0; a < 256; a++)
      for (int b = 0; b < 256; b++) {
        bad += qi_cu_u8_add((uint8_t)a, (uint8_t)b, &pa) !=
               qi_u8_add_ref((uint8_t)a, (uint8_t)b, &pa);
        bad += qi_cu_u8_mul((uint8_t)a, (uint8_t)b, &pm) !=
               qi_u8_mul_ref((uint8_t)a, (uint8_t)b, &pm);
      }
  }
  QT_CHECKF(st, bad == 0, "%zu Add/Mul results differ", bad);
}

static void test_u8_lut(qt_state *st) {
  cc_rng r = {20};
  for (size_t ci = 0; ci < CC_LEN(cc_lut_cases); ci++) {
    const cc_lut_case *cs = &cc_lut_cases[ci];
    uint8_t table[256];
    cc_fill(&r, table, sizeof table);
    size_t xb = (cs->rows - 1) * cs->ldx + cs->c;
    size_t yb = (cs->rows - 1) * cs->ldy + cs->c, bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(yb, CC_SENTINEL);
    uint8_t *got = cc_alloc(yb, CC_SENTINEL);
    cc_fill(&r, x, xb);
    qi_u8_lut__scalar(cs->rows, cs->c, x, cs->ldx, want, cs->ldy, table);
    for (size_t o = 0; o < cs->rows * cs->c; o++)
      got[qi_cu_row_offset(o, cs->c, cs->ldy)] =
          table[x[qi_cu_row_offset(o, cs->c, cs->ldx)]];
    QT_CHECKF(st, same_bytes(want, got, yb, &bad),
              "case %zu: byte %zu: %u, CPU %u", ci, bad, got[bad], want[bad]);
    free(x);
    free(want);
    free(got);
  }
}

static void test_u8_pool(qt_state *st, int avg) {
  cc_rng r = {21u + (uint64_t)avg};
  for (size_t ci = 0; ci < CC_LEN(cc_pool_cases); ci++) {
    const qi_u8_pool_geom *g = &cc_pool_cases[ci].g;
    qi_u8_avgpool_params p =
        cc_avgpool_params(&r, ci, cc_pool_cases[ci].count_include_pad);
    size_t xb = cc_pool_x_bytes(g), yb = cc_pool_y_bytes(g), bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(yb, CC_SENTINEL);
    uint8_t *got = cc_alloc(yb, CC_SENTINEL);
    cc_fill(&r, x, xb);
    if (avg)
      qi_u8_avgpool__scalar(g, &p, x, want, 0, g->out_h);
    else
      qi_u8_maxpool__scalar(g, x, want, 0, g->out_h);
    for (size_t o = 0; o < g->out_h * g->out_w * g->c; o++)
      got[qi_cu_pool_y_offset(g, o)] =
          avg ? qi_cu_avgpool_at(g, &p, x, o) : qi_cu_maxpool_at(g, x, o);
    QT_CHECKF(st, same_bytes(want, got, yb, &bad),
              "%s case %zu: byte %zu: %u, CPU %u", avg ? "avg" : "max", ci, bad,
              got[bad], want[bad]);
    free(x);
    free(want);
    free(got);
  }
}

static void test_u8_maxpool(qt_state *st) { test_u8_pool(st, 0); }
static void test_u8_avgpool(qt_state *st) { test_u8_pool(st, 1); }

static void test_u8_gap(qt_state *st) {
  cc_rng r = {23};
  for (size_t ci = 0; ci < CC_LEN(cc_gap_cases); ci++) {
    const cc_gap_case *cs = &cc_gap_cases[ci];
    qi_u8_avgpool_params p = cc_avgpool_params(&r, ci, 0);
    size_t xb = (cs->npix - 1) * cs->x_pix + cs->c, bad = 0;
    uint8_t *x = cc_alloc(xb, 0), *want = cc_alloc(cs->c, CC_SENTINEL);
    uint8_t *got = cc_alloc(cs->c, CC_SENTINEL);
    cc_fill(&r, x, xb);
    qi_u8_gap__scalar(cs->npix, cs->c, x, cs->x_pix, want, &p);
    for (size_t ch = 0; ch < cs->c; ch++)
      got[ch] = qi_cu_gap_at(cs->npix, x, cs->x_pix, ch, &p);
    QT_CHECKF(st, same_bytes(want, got, cs->c, &bad),
              "case %zu: channel %zu: %u, CPU %u", ci, bad, got[bad],
              want[bad]);
    free(x);
    free(want);
    free(got);
  }
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_quantize);
  QT_RUN(&st, test_dequantize);
  QT_RUN(&st, test_requant);
  QT_RUN(&st, test_requant_rule_sweep);
  QT_RUN(&st, test_qgemm);
  QT_RUN(&st, test_qgemm_range_check);
  QT_RUN(&st, test_u8_add);
  QT_RUN(&st, test_u8_mul);
  QT_RUN(&st, test_u8_binary_exhaustive);
  QT_RUN(&st, test_u8_lut);
  QT_RUN(&st, test_u8_maxpool);
  QT_RUN(&st, test_u8_avgpool);
  QT_RUN(&st, test_u8_gap);
  return qt_summary(&st);
}
