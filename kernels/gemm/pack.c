/* Weight packing for the u8s8 GEMM kernels: folds the activation zero point
 * into the bias and lays the weights out in each kernel's K grouping (see
 * the layout in gemm/gemm.h). Runs once per model load, so plain loops. */
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "gemm/gemm.h"

/* sum_k B[j][k] and sum_k |B[j][k]| of one row. SSE2 (every x86-64):
 * psadbw adds 16 unsigned bytes at a time, so the signed sum is taken as
 * the sum of x ^ 0x80 (x + 128) less 128 per byte, and |x| as
 * (x ^ s) - s with s the sign mask (-128 gives 128, its unsigned value). */
static void row_sums(const int8_t *bj, size_t k, int64_t *sum,
                     int64_t *abs_sum) {
  int64_t s = 0, a = 0;
  size_t t = 0;
#ifdef __SSE2__
  const __m128i bias = _mm_set1_epi8((char)0x80), zero = _mm_setzero_si128();
  __m128i vs = zero, va = zero;
  for (; t + 16 <= k; t += 16) {
    __m128i x = _mm_loadu_si128((const __m128i *)(bj + t));
    __m128i sign = _mm_cmpgt_epi8(zero, x);
    __m128i ax = _mm_sub_epi8(_mm_xor_si128(x, sign), sign);
    vs = _mm_add_epi64(vs, _mm_sad_epu8(_mm_xor_si128(x, bias), zero));
    va = _mm_add_epi64(va, _mm_sad_epu8(ax, zero));
  }
  int64_t lanes[4];
  _mm_storeu_si128((__m128i *)lanes, vs);
  _mm_storeu_si128((__m128i *)(lanes + 2), va);
  s = lanes[0] + lanes[1] - 128 * (int64_t)t;
  a = lanes[2] + lanes[3];
#endif
  for (; t < k; t++) {
    int32_t v = bj[t];
    s += v;
    a += v < 0 ? -v : v;
  }
  *sum = s;
  *abs_sum = a;
}

/* bias_folded[j] = bias[j] - za * sum_k B[j][k], with the range check of
 * gemm.h: |bias_folded| + 255 * sum_k |B[j][k]| must stay below 2^31. */
static int fold_bias(size_t k, const int8_t *bj, const int32_t *bias,
                     size_t j, int32_t za, int32_t *out) {
  int64_t sum, abs_sum;
  row_sums(bj, k, &sum, &abs_sum);
  int64_t folded = (bias ? bias[j] : 0) - (int64_t)za * sum;
  int64_t reach = (folded < 0 ? -folded : folded) + 255 * abs_sum;
  if (reach > INT32_MAX) return 0;
  *out = (int32_t)folded;
  return 1;
}

static int64_t check_all(size_t n, size_t k, const int8_t *b, size_t ldb,
                         const int32_t *bias, int32_t za) {
  if (k > QI_U8S8_GEMM_MAX_K) return 0;
  for (size_t j = 0; j < n; j++) {
    int32_t unused;
    if (!fold_bias(k, b + j * ldb, bias, j, za, &unused)) return (int64_t)j;
  }
  return -1;
}

/* Writes the bias and mult of one strip (columns past n zero); returns the
 * weights' start. */
static unsigned char *strip_ends(size_t n, size_t k, size_t nr, size_t j0,
                                 size_t w_bytes, const int8_t *b, size_t ldb,
                                 const int32_t *bias, int32_t za,
                                 const float *mult, unsigned char *strip) {
  size_t kpad = (k + 3) & ~(size_t)3;
  int32_t *sb = (int32_t *)strip;
  float *sm = (float *)(strip + nr * 4 + kpad * nr * w_bytes);
  for (size_t j = 0; j < nr; j++) {
    sb[j] = 0;
    sm[j] = 0.0f;
    if (j0 + j < n) {
      fold_bias(k, b + (j0 + j) * ldb, bias, j0 + j, za, &sb[j]);
      sm[j] = mult[j0 + j];
    }
  }
  return strip + nr * 4;
}

/* The weights are written row by row of B: each row's k values go to their
 * places in the strip, zeros (columns past n, k past K) written first. */
int64_t qi_u8s8_gemm_pack_c4_i8(size_t n, size_t k, size_t nr,
                                const int8_t *b, size_t ldb,
                                const int32_t *bias, int32_t za,
                                const float *mult, void *packed) {
  int64_t bad = check_all(n, k, b, ldb, bias, za);
  if (bad >= 0) return bad;
  size_t groups = (k + 3) / 4, full = k / 4;
  size_t strip_bytes = qi_u8s8_gemm_strip_bytes(k, nr, 1);
  unsigned char *out = packed;
  for (size_t j0 = 0; j0 < n; j0 += nr, out += strip_bytes) {
    int8_t *w = (int8_t *)strip_ends(n, k, nr, j0, 1, b, ldb, bias, za, mult,
                                     out);
    memset(w, 0, groups * nr * 4);
    /* w[(g * nr + j) * 4 + t] = B[j0 + j][4g + t] */
    for (size_t j = 0; j < nr && j0 + j < n; j++) {
      const int8_t *bj = b + (j0 + j) * ldb;
      int8_t *wj = w + j * 4;
      for (size_t g = 0; g < full; g++) memcpy(wj + g * nr * 4, bj + 4 * g, 4);
      if (full < groups) memcpy(wj + full * nr * 4, bj + 4 * full, k - 4 * full);
    }
  }
  return -1;
}

int64_t qi_u8s8_gemm_pack_c2_i16(size_t n, size_t k, size_t nr,
                                 const int8_t *b, size_t ldb,
                                 const int32_t *bias, int32_t za,
                                 const float *mult, void *packed) {
  int64_t bad = check_all(n, k, b, ldb, bias, za);
  if (bad >= 0) return bad;
  size_t groups = (k + 3) / 4;
  size_t strip_bytes = qi_u8s8_gemm_strip_bytes(k, nr, 2);
  unsigned char *out = packed;
  for (size_t j0 = 0; j0 < n; j0 += nr, out += strip_bytes) {
    int16_t *w = (int16_t *)strip_ends(n, k, nr, j0, 2, b, ldb, bias, za,
                                       mult, out);
    memset(w, 0, groups * nr * 4 * sizeof(int16_t));
    /* w[((g * 2 + p) * nr + j) * 2 + t] = B[j0 + j][4g + 2p + t]: with
     * q = 2g + p the pair index, k pair q of row j at (q * nr + j) * 2.
     * Pair by pair, so each pair's nr entries (a cache line at nr = 16)
     * are written at once. */
    const size_t cols = n - j0 < nr ? n - j0 : nr, pairs = k / 2;
    const int8_t *row[64];
    for (size_t j = 0; j < cols && j < 64; j++) row[j] = b + (j0 + j) * ldb;
    if (cols <= 64) {
      for (size_t q = 0; q < pairs; q++) {
        int16_t *wq = w + q * nr * 2;
        for (size_t j = 0; j < cols; j++) {
          wq[2 * j] = row[j][2 * q];
          wq[2 * j + 1] = row[j][2 * q + 1];
        }
      }
      if (k % 2)
        for (size_t j = 0; j < cols; j++)
          w[pairs * nr * 2 + 2 * j] = row[j][k - 1];
    } else {
      for (size_t j = 0; j < cols; j++) {
        const int8_t *bj = b + (j0 + j) * ldb;
        for (size_t t = 0; t < k; t++) w[(t / 2 * nr + j) * 2 + t % 2] = bj[t];
      }
    }
  }
  return -1;
}
