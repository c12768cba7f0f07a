/* AVX2 2-D pooling of one plane; see pool.h.
 *
 * The common windows (2 or 3 rows; k_w 2 or 3 with stride 1 or 2) get
 * their own copies of the inline passes with the counts as constants, so
 * the tap loops unroll.
 *
 * Stride 2 along the row: for 8 outputs o..o+7 and tap j the 16 floats at
 * t + 2o + j hold the wanted ones at even positions; vshufps picks them as
 * [o0 o1 o4 o5 | o2 o3 o6 o7] and, since every tap comes out in the same
 * order, one vpermpd after the last tap restores it. Doubles the same way
 * with vunpcklpd, 4 outputs at a time. Row tails go through masked loads
 * and stores (floats) or the scalar formula (doubles). */
#include <immintrin.h>
#include <math.h>

#include "fp32/pool.h"

#define INLINE static inline __attribute__((always_inline))

/* All-ones in the first `rem` lanes (rem < 8). */
INLINE __m256i head_mask(size_t rem) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)rem),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* max with NaN sticking from either side: vmaxps returns its second operand
 * (m) on NaN or equal values; a NaN v makes the lane all-ones, a NaN. */
INLINE __m256 max_nan(__m256 m, __m256 v) {
  return _mm256_or_ps(_mm256_max_ps(v, m), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
}

INLINE float max_nan1(float m, float v) {
  if (v != v) return v;
  return v > m ? v : m;
}

/* ---- max ---------------------------------------------------------------- */

/* t[i] = max over r < nr of x[r * w + i], i < w; nr >= 1. The last
 * partial vector is stored whole, -inf past w (the row buffer has room):
 * full stores forward to the horizontal pass's loads, masked ones do not. */
INLINE void vmax_rows(const float *x, size_t w, size_t nr, float *t) {
  size_t i = 0;
  for (; i + 8 <= w; i += 8) {
    __m256 m = _mm256_loadu_ps(x + i);
    for (size_t r = 1; r < nr; r++) m = max_nan(m, _mm256_loadu_ps(x + r * w + i));
    _mm256_storeu_ps(t + i, m);
  }
  if (i < w) {
    __m256i mk = head_mask(w - i);
    __m256 m = _mm256_maskload_ps(x + i, mk);
    for (size_t r = 1; r < nr; r++)
      m = max_nan(m, _mm256_maskload_ps(x + r * w + i, mk));
    _mm256_storeu_ps(t + i, _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), m,
                                             _mm256_castsi256_ps(mk)));
  }
}

static void vmax_any(const float *x, size_t w, size_t nr, float *t) {
  switch (nr) {
    case 2: vmax_rows(x, w, 2, t); break;
    case 3: vmax_rows(x, w, 3, t); break;
    default: vmax_rows(x, w, nr, t); break;
  }
}

/* Taps of 8 stride-2 outputs at t, in the order [o0 o1 o4 o5 o2 o3 o6 o7]. */
INLINE __m256 even8(const float *t) {
  return _mm256_shuffle_ps(_mm256_loadu_ps(t), _mm256_loadu_ps(t + 8),
                           _MM_SHUFFLE(2, 0, 2, 0));
}

INLINE __m256 hmax_block(const float *t, size_t k, size_t s) {
  if (s == 1) {
    __m256 m = _mm256_loadu_ps(t);
    for (size_t j = 1; j < k; j++) m = max_nan(m, _mm256_loadu_ps(t + j));
    return m;
  }
  __m256 m = even8(t);
  for (size_t j = 1; j < k; j++) m = max_nan(m, even8(t + j));
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(m), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* y[o] = max over j < k of t[o * s + j], o < n. A partial last block is
 * redone whole over the last 8 outputs (the same values again) rather than
 * stored masked, which is slow on some cores. */
INLINE void hmax_row(const float *t, size_t n, size_t k, size_t s, float *y) {
  if (s > 2) {
    for (size_t o = 0; o < n; o++) {
      float m = t[o * s];
      for (size_t j = 1; j < k; j++) m = max_nan1(m, t[o * s + j]);
      y[o] = m;
    }
    return;
  }
  if (n < 8) {
    float tmp[8];
    _mm256_storeu_ps(tmp, hmax_block(t, k, s));
    for (size_t o = 0; o < n; o++) y[o] = tmp[o];
    return;
  }
  size_t o = 0;
  for (; o + 8 <= n; o += 8) _mm256_storeu_ps(y + o, hmax_block(t + o * s, k, s));
  if (o < n) _mm256_storeu_ps(y + n - 8, hmax_block(t + (n - 8) * s, k, s));
}

typedef void (*hmax_fn)(const float *t, size_t n, size_t k, size_t s, float *y);
static void hmax_any(const float *t, size_t n, size_t k, size_t s, float *y) {
  hmax_row(t, n, k, s, y);
}
#define HMAX_FIXED(K, S)                                                    \
  static void hmax_k##K##s##S(const float *t, size_t n, size_t k, size_t s, \
                              float *y) {                                   \
    (void)k;                                                                \
    (void)s;                                                                \
    hmax_row(t, n, K, S, y);                                                \
  }
HMAX_FIXED(2, 1)
HMAX_FIXED(3, 1)
HMAX_FIXED(2, 2)
HMAX_FIXED(3, 2)

static hmax_fn hmax_pick(int64_t k, int64_t s) {
  if (k == 2 && s == 1) return hmax_k2s1;
  if (k == 3 && s == 1) return hmax_k3s1;
  if (k == 2 && s == 2) return hmax_k2s2;
  if (k == 3 && s == 2) return hmax_k3s2;
  return hmax_any;
}

/* Reduces the input rows of output row oh into row (the buffer + pad_l). */
static void max_window_rows(const qi_f32_pool2d *p, const float *x, int64_t oh,
                            float *row) {
  qi_f32_pool_taps th = qi_f32_pool_taps_of(oh, p->k_h, p->stride_h, p->pad_t,
                                            p->pad_b, p->in_h);
  if (th.hi == th.lo) {
    for (int64_t i = 0; i < p->in_w; i++) row[i] = -INFINITY;
    return;
  }
  vmax_any(x + (th.start + th.lo) * p->in_w, (size_t)p->in_w,
           (size_t)(th.hi - th.lo), row);
}

/* Two row buffers: the vertical pass of row oh + 1 runs before the
 * horizontal pass of row oh, so the latter reads stores that have long
 * left the store buffer (its loads straddle those stores and could not be
 * forwarded). */
void qi_f32_maxpool2d__avx2(const qi_f32_pool2d *p, const float *x,
                            float *y, int64_t oh0, int64_t oh1,
                            void *scratch) {
  int64_t len = qi_f32_pool2d_row_len(p);
  float *t[2] = {scratch, (float *)scratch + len};
  int64_t i = 0;
  for (; i + 8 <= 2 * len; i += 8) _mm256_storeu_ps(t[0] + i, _mm256_set1_ps(-INFINITY));
  for (; i < 2 * len; i++) t[0][i] = -INFINITY;
  hmax_fn hmax = hmax_pick(p->k_w, p->stride_w);
  if (oh0 < oh1) max_window_rows(p, x, oh0, t[0] + p->pad_l);
  for (int64_t oh = oh0; oh < oh1; oh++) {
    int cur = (int)((oh - oh0) & 1);
    if (oh + 1 < oh1) max_window_rows(p, x, oh + 1, t[!cur] + p->pad_l);
    hmax(t[cur], (size_t)p->out_w, (size_t)p->k_w, (size_t)p->stride_w,
         y + oh * p->out_w);
  }
}

/* ---- average ------------------------------------------------------------ */

/* t[i] = sum over r < nr of (double)x[r * w + i], rows in order; nr >= 1. */
INLINE void vsum_rows(const float *x, size_t w, size_t nr, double *t) {
  size_t i = 0;
  for (; i + 4 <= w; i += 4) {
    __m256d a = _mm256_cvtps_pd(_mm_loadu_ps(x + i));
    for (size_t r = 1; r < nr; r++)
      a = _mm256_add_pd(a, _mm256_cvtps_pd(_mm_loadu_ps(x + r * w + i)));
    _mm256_storeu_pd(t + i, a);
  }
  for (; i < w; i++) {
    double a = (double)x[i];
    for (size_t r = 1; r < nr; r++) a += (double)x[r * w + i];
    t[i] = a;
  }
}

static void vsum_any(const float *x, size_t w, size_t nr, double *t) {
  switch (nr) {
    case 2: vsum_rows(x, w, 2, t); break;
    case 3: vsum_rows(x, w, 3, t); break;
    default: vsum_rows(x, w, nr, t); break;
  }
}

/* Taps of 4 stride-2 outputs at t, in the order [o0 o2 o1 o3]. */
INLINE __m256d even4(const double *t) {
  return _mm256_unpacklo_pd(_mm256_loadu_pd(t), _mm256_loadu_pd(t + 4));
}

/* y[o] = (float)(sum over j < k of t[o * s + j] * inv_h * inv_w[o]). */
INLINE void havg_row(const double *t, size_t n, size_t k, size_t s,
                     double inv_h, const double *inv_w, float *y) {
  size_t o = 0;
  __m256d ih = _mm256_set1_pd(inv_h);
  if (s <= 2) {
    for (; o + 4 <= n; o += 4) {
      const double *w = t + o * s;
      __m256d a;
      if (s == 1) {
        a = _mm256_loadu_pd(w);
        for (size_t j = 1; j < k; j++) a = _mm256_add_pd(a, _mm256_loadu_pd(w + j));
      } else {
        a = even4(w);
        for (size_t j = 1; j < k; j++) a = _mm256_add_pd(a, even4(w + j));
        a = _mm256_permute4x64_pd(a, _MM_SHUFFLE(3, 1, 2, 0));
      }
      a = _mm256_mul_pd(_mm256_mul_pd(a, ih), _mm256_loadu_pd(inv_w + o));
      _mm_storeu_ps(y + o, _mm256_cvtpd_ps(a));
    }
  }
  for (; o < n; o++) {
    double a = t[o * s];
    for (size_t j = 1; j < k; j++) a += t[o * s + j];
    y[o] = (float)(a * inv_h * inv_w[o]);
  }
}

typedef void (*havg_fn)(const double *t, size_t n, size_t k, size_t s,
                        double inv_h, const double *inv_w, float *y);
static void havg_any(const double *t, size_t n, size_t k, size_t s,
                     double inv_h, const double *inv_w, float *y) {
  havg_row(t, n, k, s, inv_h, inv_w, y);
}
#define HAVG_FIXED(K, S)                                                     \
  static void havg_k##K##s##S(const double *t, size_t n, size_t k, size_t s, \
                              double inv_h, const double *inv_w, float *y) { \
    (void)k;                                                                 \
    (void)s;                                                                 \
    havg_row(t, n, K, S, inv_h, inv_w, y);                                   \
  }
HAVG_FIXED(3, 1)
HAVG_FIXED(2, 2)
HAVG_FIXED(3, 2)

static havg_fn havg_pick(int64_t k, int64_t s) {
  if (k == 3 && s == 1) return havg_k3s1;
  if (k == 2 && s == 2) return havg_k2s2;
  if (k == 3 && s == 2) return havg_k3s2;
  return havg_any;
}

/* As for max: two row buffers, the vertical pass one row ahead. */
static void sum_window_rows(const qi_f32_pool2d *p, const float *x, int64_t oh,
                            double *row) {
  qi_f32_pool_taps th = qi_f32_pool_taps_of(oh, p->k_h, p->stride_h, p->pad_t,
                                            p->pad_b, p->in_h);
  if (th.hi == th.lo) {
    for (int64_t i = 0; i < p->in_w; i++) row[i] = 0.0;
    return;
  }
  vsum_any(x + (th.start + th.lo) * p->in_w, (size_t)p->in_w,
           (size_t)(th.hi - th.lo), row);
}

void qi_f32_avgpool2d__avx2(const qi_f32_pool2d *p, const float *x,
                            float *y, int64_t oh0, int64_t oh1,
                            void *scratch) {
  size_t ow_n = (size_t)p->out_w;
  int64_t len = qi_f32_pool2d_row_len(p);
  double *t[2] = {scratch, (double *)scratch + len};
  double *inv_w = t[1] + len;
  int64_t i = 0;
  for (; i + 4 <= 2 * len; i += 4) _mm256_storeu_pd(t[0] + i, _mm256_setzero_pd());
  for (; i < 2 * len; i++) t[0][i] = 0.0;
  for (size_t o = 0; o < ow_n; o++) {
    qi_f32_pool_taps tw = qi_f32_pool_taps_of((int64_t)o, p->k_w, p->stride_w,
                                              p->pad_l, p->pad_r, p->in_w);
    inv_w[o] = 1.0 / (double)(p->count_pad ? tw.padded : tw.hi - tw.lo);
  }
  havg_fn havg = havg_pick(p->k_w, p->stride_w);
  if (oh0 < oh1) sum_window_rows(p, x, oh0, t[0] + p->pad_l);
  for (int64_t oh = oh0; oh < oh1; oh++) {
    int cur = (int)((oh - oh0) & 1);
    if (oh + 1 < oh1) sum_window_rows(p, x, oh + 1, t[!cur] + p->pad_l);
    qi_f32_pool_taps th = qi_f32_pool_taps_of(oh, p->k_h, p->stride_h, p->pad_t,
                                              p->pad_b, p->in_h);
    double inv_h = 1.0 / (double)(p->count_pad ? th.padded : th.hi - th.lo);
    havg(t[cur], ow_n, (size_t)p->k_w, (size_t)p->stride_w, inv_h, inv_w,
         y + oh * p->out_w);
  }
}
