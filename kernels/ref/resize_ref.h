/*
 * Reference uint8 bilinear Resize pixel (qpool/resize.h), shared by the
 * scalar kernel and the tests; the AVX2 kernel forms the same int32 sum
 * (any order: integer arithmetic, no overflow) and mirrors the float ops
 * (cvtdq2ps, mulps, maxps, minps, cvtps2dq, paddd).
 */
#ifndef QI_KERNELS_REF_RESIZE_REF_H
#define QI_KERNELS_REF_RESIZE_REF_H

#include <stddef.h>
#include <stdint.h>

#include "qpool/resize.h"
#include "ref/qelt_ref.h"

/* The four corner weights of output pixel (wy, wx); they sum to 2^22. */
static inline void qi_resize_corner_weights(int32_t wy, int32_t wx,
                                            int32_t w[4]) {
  const int32_t one = QI_RESIZE_WONE;
  w[0] = (one - wx) * (one - wy);
  w[1] = wx * (one - wy);
  w[2] = (one - wx) * wy;
  w[3] = wx * wy;
}

/* Output pixel (oh, ow), all c channels, into y. */
static inline void qi_u8_resize_bilinear_pixel_ref(
    const qi_u8_resize_geom *g, const qi_resize_linear_axis *ay,
    const qi_resize_linear_axis *ax, const qi_u8_resize_params *p,
    const uint8_t *x, size_t oh, size_t ow, uint8_t *y) {
  int32_t w[4];
  qi_resize_corner_weights(ay->w[oh], ax->w[ow], w);
  size_t row0 = ay->i0[oh] * g->in_w, row1 = ay->i1[oh] * g->in_w;
  const uint8_t *p00 = x + (row0 + ax->i0[ow]) * g->x_pix;
  const uint8_t *p01 = x + (row0 + ax->i1[ow]) * g->x_pix;
  const uint8_t *p10 = x + (row1 + ax->i0[ow]) * g->x_pix;
  const uint8_t *p11 = x + (row1 + ax->i1[ow]) * g->x_pix;
  int32_t bias = p->zx << (2 * QI_RESIZE_WBITS);
  for (size_t ch = 0; ch < g->c; ch++) {
    int32_t acc =
        p00[ch] * w[0] + p01[ch] * w[1] + p10[ch] * w[2] + p11[ch] * w[3];
    y[ch] = qi_u8_out_finish((float)(acc - bias) * p->mult, &p->out);
  }
}

#endif
