/*
 * Reference uint8 pooling (qpool/qpool.h), one output pixel at a time,
 * shared by the scalar kernels and the tests. The AVX2 kernels use the same
 * tap ranges and multiplier and mirror the float operations lane by lane
 * (cvtdq2ps, mulps, maxps, minps, cvtps2dq, paddd).
 */
#ifndef QI_KERNELS_REF_QPOOL_REF_H
#define QI_KERNELS_REF_QPOOL_REF_H

#include <stddef.h>
#include <stdint.h>

#include "qpool/qpool.h"
#include "ref/qelt_ref.h"

/* Taps t in [0, k) with lo <= base + t * d < hi form the range [*t0, *t1)
 * (empty: *t0 == *t1). */
static inline void qi_u8_pool_taps(int64_t base, size_t k, size_t d, int64_t lo,
                                   int64_t hi, size_t *t0, size_t *t1) {
  int64_t dd = (int64_t)d, kk = (int64_t)k, a, b;
  if (dd == 1) { /* the common case, without divisions */
    a = base >= lo ? 0 : lo - base;
    b = base >= hi ? 0 : hi - base;
  } else {
    a = base >= lo ? 0 : (lo - base + dd - 1) / dd;
    b = base >= hi ? 0 : (hi - base + dd - 1) / dd;
  }
  if (b > kk) b = kk;
  if (a > b) a = b;
  *t0 = (size_t)a;
  *t1 = (size_t)b;
}

/* The window of output (oh, ow): input tap ranges [*h0, *h1) x [*w0, *w1)
 * and the top-left tap position (may be negative). */
typedef struct qi_u8_pool_window {
  int64_t ih, iw; /* position of tap (0, 0) */
  size_t h0, h1, w0, w1;
} qi_u8_pool_window;

static inline qi_u8_pool_window qi_u8_pool_window_of(const qi_u8_pool_geom *g,
                                                     size_t oh, size_t ow) {
  qi_u8_pool_window w;
  w.ih = (int64_t)(oh * g->s_h) - (int64_t)g->pad_t;
  w.iw = (int64_t)(ow * g->s_w) - (int64_t)g->pad_l;
  qi_u8_pool_taps(w.ih, g->k_h, g->d_h, 0, (int64_t)g->in_h, &w.h0, &w.h1);
  qi_u8_pool_taps(w.iw, g->k_w, g->d_w, 0, (int64_t)g->in_w, &w.w0, &w.w1);
  return w;
}

/* Input pixel of tap (kh, kw) of window w. */
static inline const uint8_t *qi_u8_pool_tap(const qi_u8_pool_geom *g,
                                            const uint8_t *x,
                                            const qi_u8_pool_window *w,
                                            size_t kh, size_t kw) {
  size_t ih = (size_t)(w->ih + (int64_t)(kh * g->d_h));
  size_t iw = (size_t)(w->iw + (int64_t)(kw * g->d_w));
  return x + (ih * g->in_w + iw) * g->x_pix;
}

/* The divisor multiplier m of window w: mult / (float)max(count, 1). */
static inline float qi_u8_avgpool_mult(const qi_u8_pool_geom *g,
                                       const qi_u8_avgpool_params *p,
                                       const qi_u8_pool_window *w) {
  size_t count = (w->h1 - w->h0) * (w->w1 - w->w0);
  if (p->count_include_pad) {
    size_t a0, a1, b0, b1;
    qi_u8_pool_taps(w->ih, g->k_h, g->d_h, -(int64_t)g->pad_t,
                    (int64_t)(g->in_h + g->pad_b), &a0, &a1);
    qi_u8_pool_taps(w->iw, g->k_w, g->d_w, -(int64_t)g->pad_l,
                    (int64_t)(g->in_w + g->pad_r), &b0, &b1);
    count = (a1 - a0) * (b1 - b0);
  }
  return p->mult / (float)(count ? count : 1);
}

/* y[0..c) of output pixel (oh, ow). */
static inline void qi_u8_maxpool_pixel_ref(const qi_u8_pool_geom *g,
                                           const uint8_t *x, size_t oh,
                                           size_t ow, uint8_t *y) {
  qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
  for (size_t ch = 0; ch < g->c; ch++) {
    uint8_t m = 0;
    for (size_t kh = w.h0; kh < w.h1; kh++)
      for (size_t kw = w.w0; kw < w.w1; kw++) {
        uint8_t v = qi_u8_pool_tap(g, x, &w, kh, kw)[ch];
        m = v > m ? v : m;
      }
    y[ch] = m;
  }
}

static inline void qi_u8_avgpool_pixel_ref(const qi_u8_pool_geom *g,
                                           const qi_u8_avgpool_params *p,
                                           const uint8_t *x, size_t oh,
                                           size_t ow, uint8_t *y) {
  qi_u8_pool_window w = qi_u8_pool_window_of(g, oh, ow);
  float m = qi_u8_avgpool_mult(g, p, &w);
  int32_t n = (int32_t)((w.h1 - w.h0) * (w.w1 - w.w0));
  for (size_t ch = 0; ch < g->c; ch++) {
    int32_t acc = 0;
    for (size_t kh = w.h0; kh < w.h1; kh++)
      for (size_t kw = w.w0; kw < w.w1; kw++)
        acc += qi_u8_pool_tap(g, x, &w, kh, kw)[ch];
    acc -= n * p->zx;
    y[ch] = qi_u8_out_finish((float)acc * m, &p->out);
  }
}

/* GlobalAveragePool of channel ch. */
static inline uint8_t qi_u8_gap_channel_ref(size_t npix, const uint8_t *x,
                                            size_t x_pix, size_t ch,
                                            const qi_u8_avgpool_params *p) {
  int32_t acc = 0;
  for (size_t i = 0; i < npix; i++) acc += x[i * x_pix + ch];
  acc -= (int32_t)npix * p->zx;
  float m = p->mult / (float)npix;
  return qi_u8_out_finish((float)acc * m, &p->out);
}

#endif
