/* AVX2 6x16 implicit-GEMM microkernel: 12 accumulators (6 rows x 2 ymm),
 * per k two aligned-panel B loads, six A broadcasts and twelve FMAs. A
 * partial tile (nr < 16) stores through masks so nothing past nr of C is
 * touched. */
#include <immintrin.h>
#include <stdint.h>

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
                                    const float *b, float *c, size_t ldc,
                                    size_t mr, size_t nr, int accumulate) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00;
  __m256 c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m256 c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  if (nr > 8) {
    for (size_t k = 0; k < kc; k++, a += QI_F32_GEMM_MR, b += QI_F32_GEMM_NR) {
      __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
      ROW_FMA(0); ROW_FMA(1); ROW_FMA(2); ROW_FMA(3); ROW_FMA(4); ROW_FMA(5);
    }
  } else {
    /* Half tile: the right half of B is zero padding; skip its FMAs. */
    for (size_t k = 0; k < kc; k++, a += QI_F32_GEMM_MR, b += QI_F32_GEMM_NR) {
      __m256 b0 = _mm256_loadu_ps(b);
      c00 = _mm256_fmadd_ps(_mm256_broadcast_ss(a), b0, c00);
      c10 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 1), b0, c10);
      c20 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2), b0, c20);
      c30 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3), b0, c30);
      c40 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 4), b0, c40);
      c50 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 5), b0, c50);
    }
  }
  /* Rows past mr hold zeros from the zero-padded A panel; skip them. */
  store_row(c, c00, c01, nr, accumulate);
  if (mr > 1) store_row(c + ldc, c10, c11, nr, accumulate);
  if (mr > 2) store_row(c + 2 * ldc, c20, c21, nr, accumulate);
  if (mr > 3) store_row(c + 3 * ldc, c30, c31, nr, accumulate);
  if (mr > 4) store_row(c + 4 * ldc, c40, c41, nr, accumulate);
  if (mr > 5) store_row(c + 5 * ldc, c50, c51, nr, accumulate);
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
  unsigned char inrow[PACK_MAX_COLS / QI_F32_GEMM_NR + 1];
  int64_t oh = j0 / s->ow, ow = j0 % s->ow;
  for (size_t c = 0; c < npanel * QI_F32_GEMM_NR; c++) {
    off[c] = c < n ? (int32_t)(oh * s->row_pitch + ow * s->sw) : 0;
    if (c % QI_F32_GEMM_NR == 0)
      inrow[c / QI_F32_GEMM_NR] =
          c + QI_F32_GEMM_NR <= n && ow + QI_F32_GEMM_NR <= s->ow &&
          (s->sw == 1 || s->sw == 2);
    if (++ow == s->ow) {
      ow = 0;
      oh++;
    }
  }
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  for (size_t k = 0; k < kc; k++) {
    const float *tap = s->img + s->boff[k];
    float *d = dst + k * QI_F32_GEMM_NR;
    for (size_t t = 0; t < npanel; t++, d += panel) {
      const int32_t *o = off + t * QI_F32_GEMM_NR;
      __m256 v0, v1;
      if (inrow[t] && s->sw == 1) {
        v0 = _mm256_loadu_ps(tap + o[0]);
        v1 = _mm256_loadu_ps(tap + o[0] + 8);
      } else if (inrow[t]) {
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
