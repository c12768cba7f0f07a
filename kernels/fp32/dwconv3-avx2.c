/* Three-tap-wide depthwise convolution on NCHW planes; see dwconv3.h.
 *
 * Stride 2: with A = in[x0 .. x0+7], B = in[x0+8 .. x0+15],
 * shuffle(A, B, 2,0,2,0) holds the columns x0 + {0,2,8,10 | 4,6,12,14},
 * i.e. outputs j = {0,1,4,5 | 2,3,6,7} of tap 0, and shuffle(A, B,
 * 3,1,3,1) the same outputs of tap 1. Tap 2 (columns x0 + 2 + 2j) takes
 * the even lanes of C = in[x0+2 ..] and the odd lanes of D = in[x0+9 ..],
 * which puts the outputs in the same order and reads nothing past column
 * x0 + 16, the last one needed. One 64-bit permute per block restores the
 * order. Taps 0 and 2 feed one accumulator, tap 1 another, so a block of
 * four registers keeps eight FMA chains in flight. */
#include <immintrin.h>

#include "fp32/dwconv3.h"

#define INLINE static inline __attribute__((always_inline))

/* Lanes i with 0 <= c + i < n. */
INLINE __m256i lanes_in(int64_t c, int64_t n) {
  __m256i col = _mm256_add_epi32(_mm256_set1_epi32((int)c),
                                 _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  __m256i neg = _mm256_cmpgt_epi32(_mm256_setzero_si256(), col);
  return _mm256_andnot_si256(neg, _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), col));
}

INLINE __m256 ld(const float *p, int masked, __m256i m) {
  return masked ? _mm256_maskload_ps(p, m) : _mm256_loadu_ps(p);
}

typedef struct dw3_out {
  __m256 lo, hi;      /* CLIP bounds */
  __m256i store;      /* lanes written by a masked block */
  int64_t n;          /* their number: lanes [0, n) */
} dw3_out;

/* Finishes one block of 8 outputs: residual, activation, store. */
INLINE void put(float *y, const float *r, __m256 v, int M, int ACT,
                const dw3_out *o) {
  if (r) v = _mm256_add_ps(v, ld(r, M, o->store));
  if (ACT == QI_F32_ACT_RELU) v = _mm256_max_ps(v, _mm256_setzero_ps());
  if (ACT == QI_F32_ACT_CLIP) v = _mm256_min_ps(o->hi, _mm256_max_ps(o->lo, v));
  if (M) {
    /* Not vmaskmovps to memory: microcoded and slow on AMD cores. */
    float t[8];
    _mm256_storeu_ps(t, v);
    for (int64_t i = 0; i < o->n; i++) y[i] = t[i];
  } else {
    _mm256_storeu_ps(y, v);
  }
}

/* NB blocks of 8 outputs whose input window starts at column x0 of the
 * nk rows from `row` (rstep floats apart). M: one block, loads masked by
 * mk (per load offset), store masked by o->store. */
/* Eight outputs of block b (input window s = row + 8 * SW * b) into
 * accumulators a (taps 0 and 2) and e (tap 1). */
#define DW3_TAPS(b)                                                        \
  do {                                                                     \
    if (SW == 1) {                                                         \
      const float *s = row + 8 * (b);                                      \
      a##b = _mm256_fmadd_ps(w0, ld(s, M, mk[0]), a##b);                   \
      e##b = _mm256_fmadd_ps(w1, ld(s + 1, M, mk[1]), e##b);               \
      a##b = _mm256_fmadd_ps(w2, ld(s + 2, M, mk[2]), a##b);               \
    } else {                                                               \
      const float *s = row + 16 * (b);                                     \
      __m256 A = ld(s, M, mk[0]), B = ld(s + 8, M, mk[1]);                 \
      __m256 C = ld(s + 2, M, mk[2]), D = ld(s + 9, M, mk[3]);             \
      a##b = _mm256_fmadd_ps(w0, _mm256_shuffle_ps(A, B, _MM_SHUFFLE(2, 0, 2, 0)), a##b); \
      e##b = _mm256_fmadd_ps(w1, _mm256_shuffle_ps(A, B, _MM_SHUFFLE(3, 1, 3, 1)), e##b); \
      a##b = _mm256_fmadd_ps(w2, _mm256_shuffle_ps(C, D, _MM_SHUFFLE(3, 1, 2, 0)), a##b); \
    }                                                                      \
  } while (0)

INLINE void finish(__m256 a, __m256 e, int SW, float *y, const float *r,
                   int M, int ACT, const dw3_out *o) {
  __m256 v = _mm256_add_ps(a, e);
  if (SW == 2)
    v = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(v),
                                               _MM_SHUFFLE(3, 1, 2, 0)));
  put(y, r, v, M, ACT, o);
}

/* NB (1 or 4) blocks of 8 outputs whose input window starts at column x0
 * of the nk rows from `row` (rstep floats apart). M: one block, loads
 * masked by mk (per load offset), store masked by o->store. */
INLINE void block(const float *row, int64_t rstep, const float *w, int64_t nk,
                  int SW, int NB, int M, const __m256i mk[4], __m256 bv,
                  float *y, const float *r, int ACT, const dw3_out *o) {
  const __m256 z = _mm256_setzero_ps();
  __m256 a0 = bv, a1 = bv, a2 = bv, a3 = bv, e0 = z, e1 = z, e2 = z, e3 = z;
  for (int64_t k = 0; k < nk; k++, row += rstep, w += 3) {
    const __m256 w0 = _mm256_broadcast_ss(w), w1 = _mm256_broadcast_ss(w + 1),
                 w2 = _mm256_broadcast_ss(w + 2);
    DW3_TAPS(0);
    if (NB > 1) {
      DW3_TAPS(1);
      DW3_TAPS(2);
      DW3_TAPS(3);
    }
  }
  finish(a0, e0, SW, y, r, M, ACT, o);
  if (NB > 1) {
    finish(a1, e1, SW, y + 8, r ? r + 8 : NULL, M, ACT, o);
    finish(a2, e2, SW, y + 16, r ? r + 16 : NULL, M, ACT, o);
    finish(a3, e3, SW, y + 24, r ? r + 24 : NULL, M, ACT, o);
  }
}

/* Range [*lo, *hi) of kh in [0, k) with 0 <= base + kh * step < limit. */
static void rows_in(int64_t base, int64_t step, int64_t limit, int64_t k,
                    int64_t *lo, int64_t *hi) {
  int64_t a = base >= 0 ? 0 : (-base + step - 1) / step;
  int64_t b = base > limit - 1 ? 0 : (limit - 1 - base) / step + 1;
  if (a > k) a = k;
  if (b > k) b = k;
  if (b < a) b = a;
  *lo = a;
  *hi = b;
}

INLINE void plane(const qi_f32_dw2d *p, const float *in, const float *w,
                  float bias, const float *res, const qi_f32_act *act,
                  float *out, int SW, int ACT) {
  const int64_t in_w = p->in_w, out_w = p->out_w, pl = p->pad_l;
  /* Columns past x0 an unmasked block of one (four) registers reads. */
  const int64_t span1 = SW == 1 ? 9 : 16, span4 = span1 + 24 * SW;
  const __m256 bv = _mm256_set1_ps(bias);
  dw3_out o;
  o.lo = _mm256_set1_ps(act->alpha);
  o.hi = _mm256_set1_ps(act->beta);
  o.store = _mm256_setzero_si256();
  o.n = 0;
  const __m256i none[4] = {o.store, o.store, o.store, o.store};
  for (int64_t oh = 0; oh < p->out_h; oh++) {
    const int64_t ih0 = oh * p->stride_h - p->pad_t;
    int64_t klo = 0, khi = p->k_h;
    if (ih0 < 0 || ih0 + (p->k_h - 1) * p->dil_h >= p->in_h)
      rows_in(ih0, p->dil_h, p->in_h, p->k_h, &klo, &khi); /* divides */
    const int64_t nk = khi - klo, rstep = p->dil_h * in_w;
    const float *row = nk ? in + (ih0 + klo * p->dil_h) * in_w : in;
    const float *wk = w + klo * 3;
    float *y = out + oh * out_w;
    const float *r = res ? res + oh * out_w : NULL;
    for (int64_t ow = 0; ow < out_w;) {
      const int64_t x0 = ow * SW - pl, n = out_w - ow;
      if (n >= 32 && x0 >= 0 && x0 + span4 < in_w) {
        block(row + x0, rstep, wk, nk, SW, 4, 0, none, bv, y + ow,
              r ? r + ow : NULL, ACT, &o);
        ow += 32;
      } else if (n >= 8 && x0 >= 0 && x0 + span1 < in_w) {
        block(row + x0, rstep, wk, nk, SW, 1, 0, none, bv, y + ow,
              r ? r + ow : NULL, ACT, &o);
        ow += 8;
      } else {
        /* A row end: lanes outside the input read zero (and nothing),
         * lanes past the output row are not stored. The window pointer may
         * lie before the row; only in-row lanes are accessed. */
        __m256i mk[4];
        mk[0] = lanes_in(x0, in_w);
        if (SW == 1) {
          mk[1] = lanes_in(x0 + 1, in_w);
          mk[2] = lanes_in(x0 + 2, in_w);
          mk[3] = mk[2];
        } else {
          mk[1] = lanes_in(x0 + 8, in_w);
          mk[2] = lanes_in(x0 + 2, in_w);
          mk[3] = lanes_in(x0 + 9, in_w);
        }
        o.store = lanes_in(0, n);
        o.n = n < 8 ? n : 8;
        block(row + x0, rstep, wk, nk, SW, 1, 1, mk, bv, y + ow,
              r ? r + ow : NULL, ACT, &o);
        ow += 8;
      }
    }
  }
}

#define DW3_VARIANT(NAME, SW, ACT)                                          \
  static void NAME(const qi_f32_dw2d *p, const float *in, const float *w,  \
                   float bias, const float *res, const qi_f32_act *act,    \
                   float *out) {                                           \
    plane(p, in, w, bias, res, act, out, SW, ACT);                         \
  }

DW3_VARIANT(s1_none, 1, QI_F32_ACT_NONE)
DW3_VARIANT(s1_relu, 1, QI_F32_ACT_RELU)
DW3_VARIANT(s1_clip, 1, QI_F32_ACT_CLIP)
DW3_VARIANT(s2_none, 2, QI_F32_ACT_NONE)
DW3_VARIANT(s2_relu, 2, QI_F32_ACT_RELU)
DW3_VARIANT(s2_clip, 2, QI_F32_ACT_CLIP)

void qi_f32_dwconv3_plane__avx2(const qi_f32_dw2d *p, const float *in,
                                const float *w, float bias, const float *res,
                                const qi_f32_act *act, float *out) {
  const int s2 = p->stride_w == 2;
  switch (act->kind) {
    case QI_F32_ACT_RELU:
      (s2 ? s2_relu : s1_relu)(p, in, w, bias, res, act, out);
      break;
    case QI_F32_ACT_CLIP:
      (s2 ? s2_clip : s1_clip)(p, in, w, bias, res, act, out);
      break;
    default:
      (s2 ? s2_none : s1_none)(p, in, w, bias, res, act, out);
      break;
  }
}
