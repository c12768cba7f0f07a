/* Eight-plane depthwise convolution; see dwconv8.h. The interleave is 8x8
 * transposes of (8 planes) x (8 consecutive pixels); the compute keeps 8
 * output pixels in registers (8 FMA chains) across the taps and transposes
 * them straight into the eight output planes (consecutive pixels in raster
 * order are consecutive floats of a plane), residual and activation fused
 * there: no pixel-major output buffer, no second pass. */
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
  return (size_t)(8 * (d.hp * d.wp + p->k_h * p->k_w));
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

/* Eight consecutive output pixels q0 .. q0+7 of all eight planes (acc[j]:
 * pixel q0 + j, lane i: plane i) -> out[i][q0 ..], transposed in registers
 * and finished with the residual and activation on the way out; only
 * pixels below npix are read from res or written. Each output is written
 * once, after its residual is read, so res[i] may equal out[i]. */
INLINE void emit8(__m256 acc[8], int64_t q0, int64_t npix,
                  const float *const res[8], int act, __m256 lo, __m256 hi,
                  float *const out[8]) {
  transpose8(acc);
  const int64_t n = npix - q0 < 8 ? npix - q0 : 8;
  const __m256i m = _mm256_cmpgt_epi32(
      _mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  for (int i = 0; i < 8; i++) {
    if (!out[i]) continue;
    __m256 v = acc[i];
    if (res && res[i])
      v = _mm256_add_ps(v, n == 8 ? _mm256_loadu_ps(res[i] + q0)
                                  : _mm256_maskload_ps(res[i] + q0, m));
    if (act == QI_F32_ACT_RELU) v = _mm256_max_ps(v, _mm256_setzero_ps());
    if (act == QI_F32_ACT_CLIP) v = _mm256_min_ps(hi, _mm256_max_ps(lo, v));
    if (n == 8) {
      _mm256_storeu_ps(out[i] + q0, v);
    } else {
      /* Not vmaskmovps to memory: microcoded and slow on AMD cores. */
      float t[8];
      _mm256_storeu_ps(t, v);
      for (int64_t j = 0; j < n; j++) out[i][q0 + j] = t[j];
    }
  }
}

int qi_f32_dwconv2d_x8_fuses(const qi_f32_act *act) {
  return act->kind == QI_F32_ACT_NONE || act->kind == QI_F32_ACT_RELU ||
         act->kind == QI_F32_ACT_CLIP;
}

INLINE void dw8(const qi_f32_dw2d *p, const float *const in[8],
                const float *const w[8], const float bias[8],
                const float *const res[8], int act, float lo_s, float hi_s,
                float *const out[8], float *scratch) {
  const dims8 d = padded(p);
  const int64_t taps = p->k_h * p->k_w;
  float *xp = scratch, *wt = xp + 8 * d.hp * d.wp;
  for (int64_t t = 0; t < taps; t++)
    for (int i = 0; i < 8; i++) wt[t * 8 + i] = w[i] ? w[i][t] : 0.0f;
  interleave(p, d, in, xp);
  const __m256 bv = _mm256_setr_ps(bias[0], bias[1], bias[2], bias[3],
                                   bias[4], bias[5], bias[6], bias[7]);
  const __m256 lo = _mm256_set1_ps(lo_s), hi = _mm256_set1_ps(hi_s);
  const int64_t sx = 8 * p->stride_w;  /* floats between output pixels */
  const int64_t ow_n = p->out_w, npix = p->out_h * ow_n;
  if (taps > QI_F32_DW8_MAX_TAPS) {
    for (int64_t q0 = 0; q0 < npix; q0 += 8) {
      __m256 acc[8];
      for (int i = 0; i < 8; i++) {
        const int64_t q = q0 + i < npix ? q0 + i : npix - 1;
        const float *base =
            xp + ((q / ow_n) * p->stride_h * d.wp) * 8 + q % ow_n * sx;
        __m256 a0 = bv;
        for (int64_t kh = 0; kh < p->k_h; kh++)
          for (int64_t kw = 0; kw < p->k_w; kw++)
            a0 = _mm256_fmadd_ps(
                _mm256_load_ps(wt + (kh * p->k_w + kw) * 8),
                _mm256_loadu_ps(base + (kh * p->dil_h * d.wp + kw * p->dil_w) * 8), a0);
        acc[i] = a0;
      }
      emit8(acc, q0, npix, res, act, lo, hi, out);
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
      emit8(acc, q0, npix, res, act, lo, hi, out);
    }
  }
}

void qi_f32_dwconv2d_x8__avx2(const qi_f32_dw2d *p, const float *const in[8],
                              const float *const w[8], const float bias[8],
                              float *const out[8], float *scratch) {
  dw8(p, in, w, bias, NULL, QI_F32_ACT_NONE, 0.0f, 0.0f, out, scratch);
}

/* One copy of the pixel loops per fused activation (the tests in emit8
 * fold away). */
static void dw8_none(const qi_f32_dw2d *p, const float *const in[8],
                     const float *const w[8], const float bias[8],
                     const float *const res[8], const qi_f32_act *a,
                     float *const out[8], float *scratch) {
  dw8(p, in, w, bias, res, QI_F32_ACT_NONE, a->alpha, a->beta, out, scratch);
}
static void dw8_relu(const qi_f32_dw2d *p, const float *const in[8],
                     const float *const w[8], const float bias[8],
                     const float *const res[8], const qi_f32_act *a,
                     float *const out[8], float *scratch) {
  dw8(p, in, w, bias, res, QI_F32_ACT_RELU, a->alpha, a->beta, out, scratch);
}
static void dw8_clip(const qi_f32_dw2d *p, const float *const in[8],
                     const float *const w[8], const float bias[8],
                     const float *const res[8], const qi_f32_act *a,
                     float *const out[8], float *scratch) {
  dw8(p, in, w, bias, res, QI_F32_ACT_CLIP, a->alpha, a->beta, out, scratch);
}

void qi_f32_dwconv2d_x8_fused__avx2(const qi_f32_dw2d *p,
                                    const float *const in[8],
                                    const float *const w[8],
                                    const float bias[8],
                                    const float *const res[8],
                                    const qi_f32_act *act, float *const out[8],
                                    float *scratch) {
  switch (act->kind) {
    case QI_F32_ACT_RELU: dw8_relu(p, in, w, bias, res, act, out, scratch); break;
    case QI_F32_ACT_CLIP: dw8_clip(p, in, w, bias, res, act, out, scratch); break;
    default: dw8_none(p, in, w, bias, res, act, out, scratch); break;
  }
}
