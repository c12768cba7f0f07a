/* AVX2 6x16 implicit-GEMM microkernel: 12 accumulators (6 rows x 2 ymm),
 * per k two aligned-panel B loads, six A broadcasts and twelve FMAs. A
 * partial tile (nr < 16) stores through masks so nothing past nr of C is
 * touched. */
#include <immintrin.h>
#include <stdint.h>

#include "fp32/bias_act.h"
#include "fp32/conv_gemm.h"

static const int32_t mask_table[24] = {-1, -1, -1, -1, -1, -1, -1, -1,
                                       0,  0,  0,  0,  0,  0,  0,  0,
                                       0,  0,  0,  0,  0,  0,  0,  0};

#define ROW_FMA(r)                                      \
  do {                                                  \
    __m256 av = _mm256_broadcast_ss(a + r);             \
    c##r##0 = _mm256_fmadd_ps(av, b0, c##r##0);         \
    c##r##1 = _mm256_fmadd_ps(av, b1, c##r##1);         \
  } while (0)

/* The k loop of both microkernels: A x B into the twelve c## registers,
 * the right half skipped when nr <= 8 (B's zero padding). */
#define K_LOOP_6X16()                                                       \
  if (nr > 8) {                                                             \
    for (size_t k = 0; k < kc; k++, a += QI_F32_GEMM_MR, b += ldb) {        \
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);          \
      ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5);\
    }                                                                       \
  } else {                                                                  \
    /* Half tile: the right half of B is zero padding; skip its FMAs. */    \
    for (size_t k = 0; k < kc; k++, a += QI_F32_GEMM_MR, b += ldb) {        \
      __m256 b0 = _mm256_loadu_ps(b);                                       \
      c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), b0, c00);               \
      c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 1), b0, c10);           \
      c20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2), b0, c20);           \
      c30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3), b0, c30);           \
      c40 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 4), b0, c40);           \
      c50 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 5), b0, c50);           \
    }                                                                       \
  }

static inline void store_row(float *ci, __m256 v0, __m256 v1, size_t nr,
                             int accumulate) {
  if (nr == QI_F32_GEMM_NR) {
    if (accumulate) {
      v0 = _mm256_add_ps(_mm256_loadu_ps(ci), v0);
      v1 = _mm256_add_ps(_mm256_loadu_ps(ci + 8), v1);
    }
    _mm256_storeu_ps(ci, v0);
    _mm256_storeu_ps(ci + 8, v1);
    return;
  }
  if (nr == 8) {
    if (accumulate) v0 = _mm256_add_ps(_mm256_loadu_ps(ci), v0);
    _mm256_storeu_ps(ci, v0);
    return;
  }
  size_t n0 = nr < 8 ? nr : 8, n1 = nr - n0;
  __m256i m0 = _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n0));
  __m256i m1 = _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n1));
  if (accumulate) {
    v0 = _mm256_add_ps(_mm256_maskload_ps(ci, m0), v0);
    v1 = _mm256_add_ps(_mm256_maskload_ps(ci + 8, m1), v1);
  }
  _mm256_maskstore_ps(ci, m0, v0);
  _mm256_maskstore_ps(ci + 8, m1, v1);
}

void qi_f32_gemm_ukernel_6x16__avx2(size_t kc, const float *a,
                                    const float *b, size_t ldb, float *c,
                                    size_t ldc, size_t mr, size_t nr,
                                    int accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m256 c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  K_LOOP_6X16()
  /* Rows past mr hold zeros from the zero-padded A panel; skip them. */
  store_row(c, c00, c01, nr, accumulate);
  if (mr > 1) store_row(c + ldc, c10, c11, nr, accumulate);
  if (mr > 2) store_row(c + 2 * ldc, c20, c21, nr, accumulate);
  if (mr > 3) store_row(c + 3 * ldc, c30, c31, nr, accumulate);
  if (mr > 4) store_row(c + 4 * ldc, c40, c41, nr, accumulate);
  if (mr > 5) store_row(c + 5 * ldc, c50, c51, nr, accumulate);
}

/* Fused-epilogue variant (conv_gemm.h): the same accumulation, then per
 * row (P + acc) + bias, + residual, activation, in the unfused order. One
 * body per activation (a constant after inlining) so the twelve
 * accumulators plus the epilogue's constants fit the 16 registers. Partial
 * tiles (nr < 16: the last tile of an output plane) go through the tile
 * in memory and qi_f32_gemm_epi_tile, the scalar formulas, which round
 * identically. */
#define EPI_INLINE static inline __attribute__((always_inline))

EPI_INLINE __m256 epi_act_ps(int act, __m256 v, const qi_f32_gemm_epi *e) {
  if (act == QI_F32_ACT_RELU) return _mm256_max_ps(v, _mm256_setzero_ps());
  if (act == QI_F32_ACT_CLIP)
    return _mm256_min_ps(_mm256_set1_ps(e->hi),
                         _mm256_max_ps(_mm256_set1_ps(e->lo), v));
  return v;
}

EPI_INLINE void epi_row16(int act, const qi_f32_gemm_epi *e, size_t i,
                          float *ci, __m256 v0, __m256 v1) {
  if (e->acc) {
    const float *p = e->acc + i * e->ld_acc;
    v0 = _mm256_add_ps(_mm256_loadu_ps(p), v0);
    v1 = _mm256_add_ps(_mm256_loadu_ps(p + 8), v1);
  }
  const __m256 bias = _mm256_set1_ps(e->bias ? e->bias[i] : 0.0f);
  v0 = _mm256_add_ps(v0, bias);
  v1 = _mm256_add_ps(v1, bias);
  if (e->res) {
    const float *r = e->res + i * e->ld_res;
    v0 = _mm256_add_ps(v0, _mm256_loadu_ps(r));
    v1 = _mm256_add_ps(v1, _mm256_loadu_ps(r + 8));
  }
  _mm256_storeu_ps(ci, epi_act_ps(act, v0, e));
  _mm256_storeu_ps(ci + 8, epi_act_ps(act, v1, e));
}

EPI_INLINE void ukernel_epi(int act, size_t kc, const float *a,
                            const float *b, size_t ldb, float *c, size_t ldc,
                            size_t mr, size_t nr, const qi_f32_gemm_epi *e) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m256 c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  K_LOOP_6X16()
  if (nr < QI_F32_GEMM_NR) {
    float t[QI_F32_GEMM_MR][QI_F32_GEMM_NR];
    _mm256_storeu_ps(t[0], c00); _mm256_storeu_ps(t[0] + 8, c01);
    _mm256_storeu_ps(t[1], c10); _mm256_storeu_ps(t[1] + 8, c11);
    _mm256_storeu_ps(t[2], c20); _mm256_storeu_ps(t[2] + 8, c21);
    _mm256_storeu_ps(t[3], c30); _mm256_storeu_ps(t[3] + 8, c31);
    _mm256_storeu_ps(t[4], c40); _mm256_storeu_ps(t[4] + 8, c41);
    _mm256_storeu_ps(t[5], c50); _mm256_storeu_ps(t[5] + 8, c51);
    qi_f32_gemm_epi_tile(e, (const float(*)[QI_F32_GEMM_NR])t, c, ldc, mr, nr);
    return;
  }
  epi_row16(act, e, 0, c, c00, c01);
  if (mr > 1) epi_row16(act, e, 1, c + ldc, c10, c11);
  if (mr > 2) epi_row16(act, e, 2, c + 2 * ldc, c20, c21);
  if (mr > 3) epi_row16(act, e, 3, c + 3 * ldc, c30, c31);
  if (mr > 4) epi_row16(act, e, 4, c + 4 * ldc, c40, c41);
  if (mr > 5) epi_row16(act, e, 5, c + 5 * ldc, c50, c51);
}

void qi_f32_gemm_ukernel_6x16_epi__avx2(size_t kc, const float *a,
                                        const float *b, size_t ldb, float *c,
                                        size_t ldc, size_t mr, size_t nr,
                                        const qi_f32_gemm_epi *e) {
  switch (e->act) {
    case QI_F32_ACT_RELU:
      ukernel_epi(QI_F32_ACT_RELU, kc, a, b, ldb, c, ldc, mr, nr, e);
      break;
    case QI_F32_ACT_CLIP:
      ukernel_epi(QI_F32_ACT_CLIP, kc, a, b, ldb, c, ldc, mr, nr, e);
      break;
    default:
      ukernel_epi(QI_F32_ACT_NONE, kc, a, b, ldb, c, ldc, mr, nr, e);
      break;
  }
}

/* B packing, one 16-float panel row (16 columns of one tap) at a time.
 * The columns' pixel offsets are computed once per call; a panel whose 16
 * columns lie in one output row is read with plain loads (stride 1) or
 * loads and a deinterleave (stride 2), any other one (row ends, short
 * rows, other strides, the partial last panel) with a gather. No masked
 * stores: they are slow on some CPUs. */
static inline __m256 deinterleave(__m256 a, __m256 b) {
  __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(e), _MM_SHUFFLE(3, 1, 2, 0)));
}

#define PACK_MAX_COLS 4096
#define PANEL_INROW 16
#define PANEL_GATHER 17

void qi_f32_gemm_pack_b_16__avx2(const qi_f32_pack_src *s, size_t kc,
                                 int64_t j0, size_t n, float *dst) {
  const size_t panel = kc * QI_F32_GEMM_NR;
  const size_t npanel = (n + QI_F32_GEMM_NR - 1) / QI_F32_GEMM_NR;
  if (n > PACK_MAX_COLS) { /* not used by the convolutions: stay correct */
    qi_f32_gemm_pack_b_16__scalar(s, kc, j0, n, dst);
    return;
  }
  /* Offsets fit in int32: callers keep images below 2^31 floats. */
  int32_t off[PACK_MAX_COLS + QI_F32_GEMM_NR];
  /* Per panel: PANEL_INROW, PANEL_GATHER, or (stride 1) the column 1..15
   * where its 16 columns move from one output row to the next. */
  unsigned char kind[PACK_MAX_COLS / QI_F32_GEMM_NR + 1];
  int64_t oh = j0 / s->ow, ow = j0 % s->ow;
  for (size_t c = 0; c < npanel * QI_F32_GEMM_NR; c++) {
    off[c] = c < n ? (int32_t)(oh * s->row_pitch + ow * s->sw) : 0;
    if (c % QI_F32_GEMM_NR == 0) {
      unsigned char k = PANEL_GATHER;
      if (c + QI_F32_GEMM_NR <= n && ow + QI_F32_GEMM_NR <= s->ow &&
          (s->sw == 1 || s->sw == 2))
        k = PANEL_INROW;
      else if (s->sw == 1 && s->ow >= QI_F32_GEMM_NR && ow + QI_F32_GEMM_NR > s->ow &&
               c + QI_F32_GEMM_NR <= n)
        k = (unsigned char)(s->ow - ow); /* two rows: the second from here */
      kind[c / QI_F32_GEMM_NR] = k;
    }
    if (++ow == s->ow) {
      ow = 0;
      oh++;
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i ones = _mm256_set1_epi32(-1);
  for (size_t kr = 0; kr < kc; kr++) {
    const float *tap = s->img + s->boff[kr];
    float *d = dst + kr * QI_F32_GEMM_NR;
    for (size_t t = 0; t < npanel; t++, d += panel) {
      const int32_t *o = off + t * QI_F32_GEMM_NR;
      __m256 v0, v1;
      const unsigned k = kind[t];
      if (k == PANEL_INROW && s->sw == 1) {
        v0 = _mm256_loadu_ps(tap + o[0]);
        v1 = _mm256_loadu_ps(tap + o[0] + 8);
      } else if (k < QI_F32_GEMM_NR) {
        /* Columns [0, k) continue row o[0], [k, 16) start row o[k]: two
         * masked loads per half (they never touch the masked-out lanes'
         * memory), far cheaper than gathers. */
        const __m256i lo0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k), lane);
        const __m256i lo1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)k - 8), lane);
        const float *r0 = tap + o[0], *r1 = tap + o[k] - k;
        v0 = _mm256_or_ps(_mm256_maskload_ps(r0, lo0),
                          _mm256_maskload_ps(r1, _mm256_xor_si256(lo0, ones)));
        v1 = _mm256_or_ps(_mm256_maskload_ps(r0 + 8, lo1),
                          _mm256_maskload_ps(r1 + 8, _mm256_xor_si256(lo1, ones)));
      } else if (k == PANEL_INROW) {
        /* 16 outputs read inputs [0, 30]: the last load stops at 30. */
        const float *p = tap + o[0];
        v0 = deinterleave(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8));
        v1 = deinterleave(_mm256_loadu_ps(p + 16),
                          _mm256_maskload_ps(p + 24, _mm256_cmpgt_epi32(
                                                         _mm256_set1_epi32(7), lane)));
      } else {
        size_t valid = n - t * QI_F32_GEMM_NR;
        __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(valid < 8 ? valid : 8)), lane);
        __m256i m1 = _mm256_cmpgt_epi32(
            _mm256_set1_epi32((int)(valid > 8 ? (valid < 16 ? valid : 16) - 8 : 0)), lane);
        const __m256i i0 = _mm256_loadu_si256((const __m256i *)o);
        const __m256i i1 = _mm256_loadu_si256((const __m256i *)(o + 8));
        v0 = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), tap, i0,
                                      _mm256_castsi256_ps(m0), 4);
        v1 = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), tap, i1,
                                      _mm256_castsi256_ps(m1), 4);
      }
      _mm256_storeu_ps(d, v0);
      _mm256_storeu_ps(d + 8, v1);
    }
  }
}

/* A packing. Rows contiguous in k (cs == 1) and all six rows present: 8 k
 * at a time from each row, transposed as an 8x8 block with two zero rows,
 * each k's six values stored with an 8-float store that the next k's
 * store overlaps (hence the 2-float slack). Columns contiguous (rs == 1):
 * six floats per k the same way. Anything else: the scalar loop. */
static inline void transpose8x8(__m256 r[8]) {
  __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
  __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
  __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
  __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 u6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 u7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  r[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  r[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  r[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  r[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  r[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  r[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  r[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  r[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

void qi_f32_gemm_pack_a_6s__avx2(const float *a, int64_t rs, int64_t cs,
                                 int64_t m, int64_t k, int64_t m0, float alpha,
                                 float *panel) {
  const __m256 av = _mm256_set1_ps(alpha);
  if (cs == 1 && m0 + QI_F32_GEMM_MR <= m) {
    const float *row[6];
    for (int i = 0; i < 6; i++) row[i] = a + (m0 + i) * rs;
    int64_t kk = 0;
    for (; kk + 8 <= k; kk += 8) {
      __m256 r[8];
      for (int i = 0; i < 6; i++) r[i] = _mm256_mul_ps(av, _mm256_loadu_ps(row[i] + kk));
      r[6] = r[7] = _mm256_setzero_ps();
      transpose8x8(r);
      for (int t = 0; t < 8; t++)
        _mm256_storeu_ps(panel + (kk + t) * QI_F32_GEMM_MR, r[t]);
    }
    for (; kk < k; kk++)
      for (int i = 0; i < 6; i++)
        panel[kk * QI_F32_GEMM_MR + i] = alpha * row[i][kk];
    return;
  }
  if (rs == 1 && m0 + QI_F32_GEMM_MR <= m) {
    const __m256i six = _mm256_setr_epi32(-1, -1, -1, -1, -1, -1, 0, 0);
    for (int64_t kk = 0; kk < k; kk++)
      _mm256_storeu_ps(panel + kk * QI_F32_GEMM_MR,
                       _mm256_mul_ps(av, _mm256_maskload_ps(a + kk * cs + m0, six)));
    return;
  }
  qi_f32_gemm_pack_a_6s(a, rs, cs, m, k, m0, alpha, panel);
}
