/* AVX2 depthwise convolution (layout in dwconv.h): per band of output
 * rows, copy the padded, phase-split input rows into scratch, then compute
 * blocks of two rows by 32, 16 or 8 columns: 2 x 4 accumulators (narrow
 * blocks split the taps by kw parity instead) keep both FMA pipes busy
 * through the FMA latency, and each weight broadcast feeds both rows. A
 * row's last partial block is recomputed overlapping the one before (the
 * overlapped outputs get the same value again); rows narrower than 8 go
 * through a temporary. */
#include <immintrin.h>

#include "fp32/dwconv.h"

#define INLINE static inline __attribute__((always_inline))

typedef struct dw_ctx {
  const float *img;       /* phase planes */
  int64_t wpp, sh, dh, kh, kw;
  const int64_t *koff;    /* per kw: phase plane offset + column shift */
  const float *w;
  float bias;
} dw_ctx;

/* Rows oh (and oh + 1 when two), 8 * NB columns from ow, into y0 / y1.
 * Written out per NB so the accumulators stay in registers. Narrow blocks
 * (NB < 4) also split the taps by kw parity into a second set of
 * accumulators, so at least four FMA chains are in flight. */
#define DW_FMA(acc, NB, t)                                                  \
  do {                                                                      \
    acc##0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(t), acc##0);              \
    if (NB > 1) acc##1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(t + 8), acc##1);  \
    if (NB > 2) acc##2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(t + 16), acc##2); \
    if (NB > 3) acc##3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(t + 24), acc##3); \
  } while (0)

#define DW_BLOCK(NAME, NB)                                                  \
  INLINE void NAME(const dw_ctx *c, int64_t oh, int two, int64_t ow,        \
                   float *y0, float *y1) {                                   \
    const __m256 bv = _mm256_set1_ps(c->bias), z = _mm256_setzero_ps();    \
    __m256 a0 = bv, a1 = bv, a2 = bv, a3 = bv;                              \
    __m256 b0 = bv, b1 = bv, b2 = bv, b3 = bv;                              \
    __m256 e0 = z, e1 = z, f0 = z, f1 = z; /* odd-kw partial sums */        \
    const float *base = c->img + oh * c->sh * c->wpp + ow;                  \
    const int64_t row2 = c->sh * c->wpp;                                    \
    const int split = NB < 4;                                               \
    for (int64_t kh = 0; kh < c->kh; kh++) {                                \
      const float *rowp = base + kh * c->dh * c->wpp;                       \
      const float *wr = c->w + kh * c->kw;                                  \
      int64_t kw = 0;                                                       \
      if (split)                                                            \
        for (; kw + 2 <= c->kw; kw += 2) {                                  \
          __m256 wv = _mm256_broadcast_ss(wr + kw);                         \
          __m256 wu = _mm256_broadcast_ss(wr + kw + 1);                     \
          const float *s = rowp + c->koff[kw], *u = rowp + c->koff[kw + 1]; \
          a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s), a0);                 \
          e0 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u), e0);                 \
          if (NB > 1) {                                                     \
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + 8), a1);           \
            e1 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + 8), e1);           \
          }                                                                 \
          if (two) {                                                        \
            b0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + row2), b0);        \
            f0 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + row2), f0);        \
            if (NB > 1) {                                                   \
              b1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(s + row2 + 8), b1);  \
              f1 = _mm256_fmadd_ps(wu, _mm256_loadu_ps(u + row2 + 8), f1);  \
            }                                                               \
          }                                                                 \
        }                                                                   \
      for (; kw < c->kw; kw++) {                                            \
        __m256 wv = _mm256_broadcast_ss(wr + kw);                           \
        const float *s = rowp + c->koff[kw];                                \
        DW_FMA(a, NB, s);                                                   \
        if (two) DW_FMA(b, NB, s + row2);                                   \
      }                                                                     \
    }                                                                       \
    if (split) {                                                            \
      a0 = _mm256_add_ps(a0, e0);                                           \
      if (NB > 1) a1 = _mm256_add_ps(a1, e1);                               \
      b0 = _mm256_add_ps(b0, f0);                                           \
      if (NB > 1) b1 = _mm256_add_ps(b1, f1);                               \
    }                                                                       \
    _mm256_storeu_ps(y0 + ow, a0);                                          \
    if (NB > 1) _mm256_storeu_ps(y0 + ow + 8, a1);                          \
    if (NB > 2) _mm256_storeu_ps(y0 + ow + 16, a2);                         \
    if (NB > 3) _mm256_storeu_ps(y0 + ow + 24, a3);                         \
    if (two) {                                                              \
      _mm256_storeu_ps(y1 + ow, b0);                                        \
      if (NB > 1) _mm256_storeu_ps(y1 + ow + 8, b1);                        \
      if (NB > 2) _mm256_storeu_ps(y1 + ow + 16, b2);                       \
      if (NB > 3) _mm256_storeu_ps(y1 + ow + 24, b3);                       \
    }                                                                       \
  }

DW_BLOCK(block4, 4)
DW_BLOCK(block2, 2)
DW_BLOCK(block1, 1)

static void rows(const dw_ctx *c, int64_t oh, int two, int64_t ow_n,
                 float *y0, float *y1) {
  int64_t ow = 0;
  for (; ow + 32 <= ow_n; ow += 32) block4(c, oh, two, ow, y0, y1);
  for (; ow + 16 <= ow_n; ow += 16) block2(c, oh, two, ow, y0, y1);
  for (; ow + 8 <= ow_n; ow += 8) block1(c, oh, two, ow, y0, y1);
  if (ow < ow_n) block1(c, oh, two, ow_n - 8, y0, y1);
}

/* Small copies and fills inline: rows here are often a few floats, where
 * a libc call costs more than the copy. */
static inline void copy_floats(float *d, const float *s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_loadu_ps(s + i));
  for (; i < n; i++) d[i] = s[i];
}

static inline void zero_floats(float *d, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(d + i, _mm256_setzero_ps());
  for (; i < n; i++) d[i] = 0.0f;
}

/* One padded row of every phase (src NULL: a padding row). */
static void copy_row(const qi_f32_dw2d *p, const float *src,
                     int64_t phase_stride, float *dst) {
  const int64_t sw = p->stride_w, wpp = p->wpp;
  const int64_t pad_l = p->pad_l + p->e * sw;
  for (int64_t q = 0; q < sw; q++) {
    float *d = dst + q * phase_stride;
    if (!src) {
      zero_floats(d, wpp);
      continue;
    }
    const int64_t lo = p->lo[q], hi = p->hi[q];
    if (sw == 1 && lo % 8 == 0 && wpp % 8 == 0) {
      /* Whole aligned chunks: zeros, the row, the last piece through a
       * masked load (zero past the row, nothing read beyond it), zeros. */
      int64_t x = 0;
      for (; x < lo; x += 8) _mm256_storeu_ps(d + x, _mm256_setzero_ps());
      for (; x + 8 <= hi; x += 8)
        _mm256_storeu_ps(d + x, _mm256_loadu_ps(src + (x - pad_l)));
      if (x < hi) {
        __m256i m = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(hi - x)),
                                       _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        _mm256_storeu_ps(d + x, _mm256_maskload_ps(src + (x - pad_l), m));
        x += 8;
      }
      for (; x < wpp; x += 8) _mm256_storeu_ps(d + x, _mm256_setzero_ps());
      continue;
    }
    if (sw == 1) {
      zero_floats(d, lo);
      copy_floats(d + lo, src + (lo - pad_l), hi - lo);
      zero_floats(d + hi, wpp - hi);
      continue;
    }
    /* Strided: whole chunks of 8 positions; interior chunks of stride 2
     * deinterleave two loads, the others gather from the row with lanes
     * outside [lo, hi) masked to zero (and never read). */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const __m256i step = _mm256_set1_epi32((int)(8 * sw));
    __m256i idx = _mm256_add_epi32(_mm256_mullo_epi32(lane, _mm256_set1_epi32((int)sw)),
                                   _mm256_set1_epi32((int)(q - pad_l)));
    __m256i pos = lane;
    const __m256i lo_v = _mm256_set1_epi32((int)lo - 1);
    const __m256i hi_v = _mm256_set1_epi32((int)hi);
    for (int64_t x = 0; x < wpp; x += 8) {
      __m256 v;
      int64_t first = x * sw + q - pad_l; /* input column of lane 0 */
      if (sw == 2 && x >= lo && x + 8 <= hi && first + 15 < p->in_w) {
        /* Interior: 16 inputs, keep the even ones. */
        __m256 a = _mm256_loadu_ps(src + first);
        __m256 b = _mm256_loadu_ps(src + first + 8);
        __m256 e = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
        v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e),
                                                   _MM_SHUFFLE(3, 1, 2, 0)));
      } else {
        __m256i m = _mm256_and_si256(_mm256_cmpgt_epi32(pos, lo_v),
                                     _mm256_cmpgt_epi32(hi_v, pos));
        v = _mm256_mask_i32gather_ps(_mm256_setzero_ps(), src, idx,
                                     _mm256_castsi256_ps(m), 4);
      }
      _mm256_storeu_ps(d + x, v);
      idx = _mm256_add_epi32(idx, step);
      pos = _mm256_add_epi32(pos, _mm256_set1_epi32(8));
    }
  }
}

void qi_f32_dwconv2d__avx2(const qi_f32_dw2d *p, const float *in,
                           const float *w, float bias, float *out,
                           float *scratch) {
  if (!p->vector) {
    qi_f32_dwconv2d__scalar(p, in, w, bias, out, scratch);
    return;
  }
  const int64_t sw = p->stride_w, wpp = p->wpp, hp = p->hp;
  const int64_t band_rows = p->band_rows, phase_stride = band_rows * wpp;
  const int wide = p->k_w > QI_F32_DW_MAX_KW;
  dw_ctx c = {scratch, wpp, p->stride_h, p->dil_h, p->k_h, p->k_w, p->koff, w,
              bias};
  const int64_t ow_n = p->out_w;
  float tmp[2][8];
  for (int64_t oh0 = 0; oh0 < p->out_h; oh0 += QI_F32_DW_BAND) {
    /* Copy the padded input rows this band of output rows reads. */
    int64_t r0 = oh0 * p->stride_h, nr = band_rows;
    if (nr > hp - r0) nr = hp - r0;
    for (int64_t r = 0; r < nr; r++) {
      int64_t ir = r0 + r - p->pad_t;
      copy_row(p, ir >= 0 && ir < p->in_h ? in + ir * p->in_w : NULL,
               phase_stride, scratch + r * wpp);
    }
    int64_t oh1 = oh0 + QI_F32_DW_BAND < p->out_h ? oh0 + QI_F32_DW_BAND
                                                  : p->out_h;
    for (int64_t oh = oh0; oh < oh1; oh += 2) {
      int two = oh + 1 < oh1;
      int64_t rel = oh - oh0;
      float *y0 = out + oh * ow_n, *y1 = two ? y0 + ow_n : y0;
      if (wide) {
        /* Very wide kernels: offsets computed per tap, scalar. */
        for (int64_t r = 0; r < 1 + two; r++)
          for (int64_t ow = 0; ow < ow_n; ow++) {
            float acc = bias;
            for (int64_t kh = 0; kh < p->k_h; kh++)
              for (int64_t kw = 0; kw < p->k_w; kw++) {
                int64_t col = ow * sw + kw * p->dil_w;
                acc += w[kh * p->k_w + kw] *
                       scratch[col % sw * phase_stride +
                               ((rel + r) * p->stride_h + kh * p->dil_h) * wpp +
                               col / sw + p->e];
              }
            (r ? y1 : y0)[ow] = acc;
          }
      } else if (ow_n < 8) {
        /* The copy has room for 8 columns; keep the first ow_n. */
        block1(&c, rel, two, 0, tmp[0], tmp[1]);
        copy_floats(y0, tmp[0], ow_n);
        if (two) copy_floats(y1, tmp[1], ow_n);
      } else {
        rows(&c, rel, two, ow_n, y0, y1);
      }
    }
  }
}
