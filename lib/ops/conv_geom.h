/*
 * Geometry of Conv and ConvTranspose nodes: attributes (kernel_shape,
 * strides, dilations, pads, auto_pad, group, output_padding, output_shape)
 * resolved against the input and weight shapes, checked, and normalised to
 * three spatial axes (D, H, W) with unit leading axes for 1-D and 2-D.
 */
#ifndef QI_OPS_CONV_GEOM_H
#define QI_OPS_CONV_GEOM_H

#include "fp32/im2col.h"
#include "ops/op.h"

typedef struct qi_conv_geom {
  int nsp;          /* spatial rank of the node: 1..3 */
  int transpose;    /* 1 for ConvTranspose */
  int64_t batch, cin, cout, group;
  int64_t in[3], out[3], k[3];
  int64_t stride[3], dil[3], pad_b[3], pad_e[3];
} qi_conv_geom;

/* Resolves the geometry of Conv (transpose = 0) or ConvTranspose node `n`
 * for input shape x and weight shape w. Errors name the node. */
qi_status qi_conv_geom_make(const qi_node *n, const qi_shape *x,
                            const qi_shape *w, int transpose,
                            qi_conv_geom *geo, qi_error *err);

/* Output tensor shape [N, Cout, spatial...]. */
qi_shape qi_conv_geom_out_shape(const qi_conv_geom *geo);

/* The im2col/col2im window of one group: for Conv the image is the input
 * and the grid the output; for ConvTranspose the other way round. */
qi_f32_window qi_conv_geom_window(const qi_conv_geom *geo);

static inline int64_t qi_conv_geom_ksize(const qi_conv_geom *g) {
  return g->k[0] * g->k[1] * g->k[2];
}
static inline int64_t qi_conv_geom_in_plane(const qi_conv_geom *g) {
  return g->in[0] * g->in[1] * g->in[2];
}
static inline int64_t qi_conv_geom_out_plane(const qi_conv_geom *g) {
  return g->out[0] * g->out[1] * g->out[2];
}

/* Checks that the fused-activation attribute holds a known value. */
qi_status qi_conv_check_act(const qi_node *n, qi_error *err);

#endif
