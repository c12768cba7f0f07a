/* Eight-plane depthwise convolution; see dwconv8.h. The interleave and
 * de-interleave are 8x8 transposes of (8 planes) x (8 consecutive pixels);
 * the compute keeps 8 output pixels in registers (8 FMA chains) across the
 * taps. */
#include "fp32/dwconv8.h"

#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))
#define QI_F32_DW8_MAX_TAPS 64   /* larger kernels: one pixel at a time */

typedef struct dims8 {
  int64_t hp, wp;   /* padded input extents */
} dims8;

static dims8 padded(const qi_f32_dw2d *p) {
  dims8 d;
  int64_t h_need = (p->out_h - 1) * p->stride_h + (p->k_h - 1) * p->dil_h + 1;
  int64_t w_need = (p->out_w - 1) * p->stride_w + (p->k_w - 1) * p->dil_w + 1;
  d.hp = p->in_h + p->pad_t > h_need ? p->in_h + p->pad_t : h_need;
  d.wp = p->in_w + p->pad_l > w_need ? p->in_w + p->pad_l : w_need;
  return d;
}

size_t qi_f32_dwconv2d_x8_scratch(const qi_f32_dw2d *p) {
  dims8 d = padded(p);
  return (size_t)(8 * (d.hp * d.wp + p->out_h * p->out_w + p->k_h * p->k_w));
}

/* r[0..7] rows -> columns, in place. */
INLINE void transpose8(__m256 r[8]) {
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

/* Zero-padded interleaved copy: xp[(r * wp + c) * 8 + i]. */
static void interleave(const qi_f32_dw2d *p, dims8 d, const float *const in[8],
                       float *xp) {
  const __m256 z = _mm256_setzero_ps();
  const int64_t pt = p->pad_t, pl = p->pad_l, h = p->in_h, w = p->in_w;
  for (int64_t r = 0; r < d.hp; r++) {
    float *row = xp + r * d.wp * 8;
    int64_t ir = r - pt;
    if (ir < 0 || ir >= h) {
      for (int64_t c = 0; c < d.wp; c++) _mm256_storeu_ps(row + c * 8, z);
      continue;
    }
    for (int64_t c = 0; c < pl; c++) _mm256_storeu_ps(row + c * 8, z);
    for (int64_t c = pl + w; c < d.wp; c++) _mm256_storeu_ps(row + c * 8, z);
    float *dst = row + pl * 8;
    int64_t c = 0;
    for (; c + 8 <= w; c += 8) {
      __m256 v[8];
      for (int i = 0; i < 8; i++)
        v[i] = in[i] ? _mm256_loadu_ps(in[i] + ir * w + c) : z;
      transpose8(v);
      for (int j = 0; j < 8; j++) _mm256_storeu_ps(dst + (c + j) * 8, v[j]);
    }
    if (c < w) {
      /* Last columns: masked loads, nothing read past the row. */
      const __m256i m = _mm256_cmpgt_epi32(
          _mm256_set1_epi32((int)(w - c)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      __m256 v[8];
      for (int i = 0; i < 8; i++)
        v[i] = in[i] ? _mm256_maskload_ps(in[i] + ir * w + c, m) : z;
      transpose8(v);
      for (int64_t j = 0; j < w - c; j++) _mm256_storeu_ps(dst + (c + j) * 8, v[j]);
    }
  }
}

/* yo[(oh * ow_n + ow) * 8 + i] -> out[i][oh * ow_n + ow]. */
static void deinterleave(const qi_f32_dw2d *p, const float *yo,
                         float *const out[8]) {
  const int64_t n = p->out_h * p->out_w;
  int64_t c = 0;
  for (; c + 8 <= n; c += 8) {
    __m256 v[8];
    for (int j = 0; j < 8; j++) v[j] = _mm256_loadu_ps(yo + (c + j) * 8);
    transpose8(v);
    for (int i = 0; i < 8; i++)
      if (out[i]) _mm256_storeu_ps(out[i] + c, v[i]);
  }
  for (; c < n; c++)
    for (int i = 0; i < 8; i++)
      if (out[i]) out[i][c] = yo[c * 8 + i];
}

void qi_f32_dwconv2d_x8__avx2(const qi_f32_dw2d *p, const float *const in[8],
                              const float *const w[8], const float bias[8],
                              float *const out[8], float *scratch) {
  const dims8 d = padded(p);
  const int64_t taps = p->k_h * p->k_w;
  float *xp = scratch, *yo = xp + 8 * d.hp * d.wp, *wt = yo + 8 * p->out_h * p->out_w;
  for (int64_t t = 0; t < taps; t++)
    for (int i = 0; i < 8; i++) wt[t * 8 + i] = w[i] ? w[i][t] : 0.0f;
  interleave(p, d, in, xp);
  const __m256 bv = _mm256_setr_ps(bias[0], bias[1], bias[2], bias[3],
                                   bias[4], bias[5], bias[6], bias[7]);
  const int64_t sx = 8 * p->stride_w;  /* floats between output pixels */
  const int64_t ow_n = p->out_w, npix = p->out_h * ow_n;
  if (taps > QI_F32_DW8_MAX_TAPS) {
    for (int64_t q = 0; q < npix; q++) {
      const float *base = xp + ((q / ow_n) * p->stride_h * d.wp) * 8 + q % ow_n * sx;
      __m256 a0 = bv;
      for (int64_t kh = 0; kh < p->k_h; kh++)
        for (int64_t kw = 0; kw < p->k_w; kw++)
          a0 = _mm256_fmadd_ps(
              _mm256_load_ps(wt + (kh * p->k_w + kw) * 8),
              _mm256_loadu_ps(base + (kh * p->dil_h * d.wp + kw * p->dil_w) * 8), a0);
      _mm256_storeu_ps(yo + q * 8, a0);
    }
  } else {
    int64_t toff[QI_F32_DW8_MAX_TAPS];
    for (int64_t kh = 0; kh < p->k_h; kh++)
      for (int64_t kw = 0; kw < p->k_w; kw++)
        toff[kh * p->k_w + kw] = (kh * p->dil_h * d.wp + kw * p->dil_w) * 8;
    /* Eight output pixels at a time in raster order (rows may change
     * inside a group), so narrow rows keep eight FMA chains too. The last
     * group repeats its final pixel in the unused lanes. */
    const int64_t row_step = p->stride_h * d.wp * 8;
    int64_t oh = 0, ow = 0;  /* position of pixel q0 */
    for (int64_t q0 = 0; q0 < npix; q0 += 8) {
      const float *b[8];
      int64_t h = oh, c = ow;
      for (int i = 0; i < 8; i++) {
        b[i] = xp + h * row_step + c * sx;
        if (q0 + i + 1 < npix && ++c == ow_n) {
          c = 0;
          h++;
        }
      }
      /* Advance to pixel q0 + 8. */
      ow += 8;
      while (ow >= ow_n) {
        ow -= ow_n;
        oh++;
      }
      __m256 a0 = bv, a1 = bv, a2 = bv, a3 = bv, a4 = bv, a5 = bv, a6 = bv,
             a7 = bv;
      for (int64_t t = 0; t < taps; t++) {
        const __m256 wv = _mm256_load_ps(wt + t * 8);
        const int64_t o = toff[t];
        a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[0] + o), a0);
        a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[1] + o), a1);
        a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[2] + o), a2);
        a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[3] + o), a3);
        a4 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[4] + o), a4);
        a5 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[5] + o), a5);
        a6 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[6] + o), a6);
        a7 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(b[7] + o), a7);
      }
      __m256 acc[8] = {a0, a1, a2, a3, a4, a5, a6, a7};
      for (int i = 0; i < 8 && q0 + i < npix; i++)
        _mm256_storeu_ps(yo + (q0 + i) * 8, acc[i]);
    }
  }
  deinterleave(p, yo, out);
}
