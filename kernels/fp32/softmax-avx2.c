/* AVX2 + FMA softmax row kernels; see softmax.h. Eight floats per step;
 * the last n % 8 go through a masked load, and their results out through a
 * small buffer rather than a masked store, which is slow on some cores. */
#include <immintrin.h>
#include <math.h>
#include <stdint.h>

#include "fp32/expf_consts.h"
#include "fp32/norm.h"
#include "fp32/softmax.h"

#define INLINE static inline __attribute__((always_inline))

INLINE __m256 exp_ps(__m256 x) {
  /* min/max return the second operand when one is NaN: NaN passes. */
  x = _mm256_min_ps(_mm256_set1_ps(QI_EXPF_HI), x);
  x = _mm256_max_ps(_mm256_set1_ps(QI_EXPF_LO), x);
  const __m256 magic = _mm256_set1_ps(QI_EXPF_ROUND_MAGIC);
  __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(QI_EXPF_LOG2E), magic);
  __m256 nf = _mm256_sub_ps(t, magic);
  __m256i n = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(magic));
  __m256 r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(QI_EXPF_LN2_HI), x);
  r = _mm256_fnmadd_ps(nf, _mm256_set1_ps(QI_EXPF_LN2_LO), r);
  __m256 p = _mm256_set1_ps(QI_EXPF_P0);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(QI_EXPF_P1));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(QI_EXPF_P2));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(QI_EXPF_P3));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(QI_EXPF_P4));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(QI_EXPF_P5));
  /* 1 + r (1 + r P): the last rounding lands on the result only (0.894 ulp
   * worst, against 1.01 for (r + r^2 P) + 1 with these coefficients). */
  __m256 u = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  __m256 y = _mm256_fmadd_ps(r, u, _mm256_set1_ps(1.0f));
  /* 2^n = 2^(n >> 1) * 2^(n - (n >> 1)): both factors normal for n in
   * [-159, 128], so a denormal result is rounded once, by the last product. */
  __m256i n1 = _mm256_srai_epi32(n, 1), n2 = _mm256_sub_epi32(n, n1);
  const __m256i bias = _mm256_set1_epi32(127);
  __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
  __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
  return _mm256_mul_ps(_mm256_mul_ps(y, s1), s2);
}

void qi_f32_exp__avx2(const float *x, float *y, size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, exp_ps(_mm256_loadu_ps(x + i)));
  if (i < n) {
    __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)),
                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    float buf[8];
    _mm256_storeu_ps(buf, exp_ps(_mm256_maskload_ps(x + i, mk)));
    for (size_t k = 0; i + k < n; k++) y[i + k] = buf[k];
  }
}

/* Elements [i, e) of one block of at most QI_F32_SOFTMAX_SUM_BLOCK; the
 * block's float lanes are added into d (lanes 0..3, 4..7) in double. */
INLINE void exp_sum_block(const float *x, __m256 mv, float *y, size_t i,
                          size_t e, __m256d d[2]) {
  __m256 a = _mm256_setzero_ps();
  for (; i + 8 <= e; i += 8) {
    __m256 t = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), mv));
    if (y) _mm256_storeu_ps(y + i, t);
    a = _mm256_add_ps(a, t);
  }
  if (i < e) {
    /* Lanes past e read -inf, whose exp adds +0. */
    __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(e - i)),
                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY),
                                _mm256_maskload_ps(x + i, mk), _mm256_castsi256_ps(mk));
    __m256 t = exp_ps(_mm256_sub_ps(v, mv));
    a = _mm256_add_ps(a, t);
    if (y) {
      float buf[8];
      _mm256_storeu_ps(buf, t);
      for (size_t k = 0; i + k < e; k++) y[i + k] = buf[k];
    }
  }
  d[0] = _mm256_add_pd(d[0], _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
  d[1] = _mm256_add_pd(d[1], _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
}

double qi_f32_softmax_exp_sum__avx2(const float *x, float m, float *y,
                                    size_t n) {
  __m256d d[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
  __m256 mv = _mm256_set1_ps(m);
  for (size_t b = 0; b < n; b += QI_F32_SOFTMAX_SUM_BLOCK) {
    size_t e = n - b < QI_F32_SOFTMAX_SUM_BLOCK ? n : b + QI_F32_SOFTMAX_SUM_BLOCK;
    exp_sum_block(x, mv, y, b, e, d);
  }
  double l[8];
  _mm256_storeu_pd(l, d[0]);
  _mm256_storeu_pd(l + 4, d[1]);
  return qi_f32_softmax_lane_total(l);
}

/* exp_sum_block for two rows at once: two independent dependency chains,
 * so the latency at the end of one row overlaps the other's work. Each
 * row gets exactly the operations of exp_sum_block. */
INLINE void exp_sum_block2(const float *xa, __m256 ma, float *ya,
                           const float *xb, __m256 mb, float *yb, size_t i,
                           size_t e, __m256d da[2], __m256d db[2]) {
  __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
  for (; i + 8 <= e; i += 8) {
    __m256 ta = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xa + i), ma));
    __m256 tb = exp_ps(_mm256_sub_ps(_mm256_loadu_ps(xb + i), mb));
    if (ya) {
      _mm256_storeu_ps(ya + i, ta);
      _mm256_storeu_ps(yb + i, tb);
    }
    a = _mm256_add_ps(a, ta);
    b = _mm256_add_ps(b, tb);
  }
  if (i < e) {
    __m256i mk = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(e - i)),
                                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    const __m256 mf = _mm256_castsi256_ps(mk);
    __m256 va = _mm256_blendv_ps(ninf, _mm256_maskload_ps(xa + i, mk), mf);
    __m256 vb = _mm256_blendv_ps(ninf, _mm256_maskload_ps(xb + i, mk), mf);
    __m256 ta = exp_ps(_mm256_sub_ps(va, ma)), tb = exp_ps(_mm256_sub_ps(vb, mb));
    a = _mm256_add_ps(a, ta);
    b = _mm256_add_ps(b, tb);
    if (ya) {
      float buf[16];
      _mm256_storeu_ps(buf, ta);
      _mm256_storeu_ps(buf + 8, tb);
      for (size_t k = 0; i + k < e; k++) {
        ya[i + k] = buf[k];
        yb[i + k] = buf[8 + k];
      }
    }
  }
  da[0] = _mm256_add_pd(da[0], _mm256_cvtps_pd(_mm256_castps256_ps128(a)));
  da[1] = _mm256_add_pd(da[1], _mm256_cvtps_pd(_mm256_extractf128_ps(a, 1)));
  db[0] = _mm256_add_pd(db[0], _mm256_cvtps_pd(_mm256_castps256_ps128(b)));
  db[1] = _mm256_add_pd(db[1], _mm256_cvtps_pd(_mm256_extractf128_ps(b, 1)));
}

static double lanes_total(const __m256d d[2]) {
  double l[8];
  _mm256_storeu_pd(l, d[0]);
  _mm256_storeu_pd(l + 4, d[1]);
  return qi_f32_softmax_lane_total(l);
}

void qi_f32_scale__avx2(float *y, float s, size_t n) {
  __m256 sv = _mm256_set1_ps(s);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), sv));
  for (; i < n; i++) y[i] *= s;
}

INLINE __m256 sub_f64_ps(__m256 x, __m256d c) {
  __m256d xl = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
  __m256d xh = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
  __m128 lo = _mm256_cvtpd_ps(_mm256_sub_pd(xl, c));
  __m128 hi = _mm256_cvtpd_ps(_mm256_sub_pd(xh, c));
  return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
}

void qi_f32_sub_f64__avx2(const float *x, double c, float *y, size_t n) {
  __m256d cv = _mm256_set1_pd(c);
  size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, sub_f64_ps(_mm256_loadu_ps(x + i), cv));
  for (; i < n; i++) y[i] = (float)((double)x[i] - c);
}

/* Rows in pairs (see exp_sum_block2), then the last odd one. */
void qi_f32_softmax_rows__avx2(const float *x, float *y, size_t rows,
                               size_t n, int log_out) {
  size_t r = 0;
  for (; r + 2 <= rows; r += 2) {
    const float *xa = x + r * n, *xb = xa + n;
    float *ya = y + r * n, *yb = ya + n;
    float ma = qi_f32_rowmax__avx2(xa, n), mb = qi_f32_rowmax__avx2(xb, n);
    __m256d da[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256d db[2] = {_mm256_setzero_pd(), _mm256_setzero_pd()};
    __m256 mva = _mm256_set1_ps(ma), mvb = _mm256_set1_ps(mb);
    for (size_t b = 0; b < n; b += QI_F32_SOFTMAX_SUM_BLOCK) {
      size_t e = n - b < QI_F32_SOFTMAX_SUM_BLOCK ? n : b + QI_F32_SOFTMAX_SUM_BLOCK;
      exp_sum_block2(xa, mva, log_out ? NULL : ya, xb, mvb, log_out ? NULL : yb, b,
                     e, da, db);
    }
    double sa = lanes_total(da), sb = lanes_total(db);
    if (log_out) {
      qi_f32_sub_f64__avx2(xa, (double)ma + log(sa), ya, n);
      qi_f32_sub_f64__avx2(xb, (double)mb + log(sb), yb, n);
    } else {
      qi_f32_scale__avx2(ya, (float)(1.0 / sa), n);
      qi_f32_scale__avx2(yb, (float)(1.0 / sb), n);
    }
  }
  if (r < rows) {
    const float *xr = x + r * n;
    float *yr = y + r * n;
    float m = qi_f32_rowmax__avx2(xr, n);
    if (log_out) {
      double s = qi_f32_softmax_exp_sum__avx2(xr, m, NULL, n);
      qi_f32_sub_f64__avx2(xr, (double)m + log(s), yr, n);
    } else {
      double s = qi_f32_softmax_exp_sum__avx2(xr, m, yr, n);
      qi_f32_scale__avx2(yr, (float)(1.0 / s), n);
    }
  }
}
