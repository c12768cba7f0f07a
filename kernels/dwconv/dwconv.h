/*
 * uint8 x int8 depthwise convolution (groups == c_in == c_out, one filter
 * per channel), channels-last: the microkernel signature, the packed-weights
 * layouts and the packing functions.
 *
 * The math is the convolution's (conv/conv.h) with one input channel per
 * output channel: for output pixel (b, oy, ox) and channel c,
 *   acc[c] = bias_folded[c] + sum_t x_t[c] * W[c][t]                 (int32)
 *   bias_folded[c] = bias[c] - za * sum_t W[c][t]
 * over the kh*kw taps t (in an order of the caller's choosing, see below),
 * where x_t is the input pixel under tap t or, for a tap in the padding, a
 * row of za bytes (so padded taps add za * W, which the folded bias takes
 * back: real value 0). The epilogue is
 * the u8s8 GEMM family's, in its exact float order (gemm/gemm.h), with the
 * same qi_u8s8_gemm_params. Packing refuses a channel whose
 * |bias_folded| + 255 * sum_t |W[c][t]| could leave int32.
 *
 * Kernels take indirection pointers: for output pixel j, `taps` pointers
 * input[j * step + t] (t < taps) to the input pixel (its channel 0) under
 * tap t, or to a row of za bytes for a tap in the padding; every pointer
 * must have `channels` readable bytes. They read exactly those bytes (no
 * over-read), so the pointers can go straight into the caller's NHWC
 * tensor. step = taps gives every pixel its own pointers; a smaller step
 * lets neighbouring pixels share them: with taps ordered column by column
 * (t = kx * kh + ky) and no dilation across columns, pixel j + 1's taps
 * start stride_w columns (stride_w * kh pointers) after pixel j's. The tap
 * order is the caller's choice; the weights must be packed in the same.
 */
#ifndef QI_KERNELS_DWCONV_H
#define QI_KERNELS_DWCONV_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"

/* Largest tap count: keeps 255 * 127 * taps far inside int32. */
#define QI_U8S8_DWCONV_MAX_TAPS 4096

/*
 * Packed weights: ceil(channels / CT) blocks of CT channels, each
 * qi_u8s8_dwconv_block_bytes(taps, w_bytes) long (a multiple of 64 bytes,
 * so a 64-byte aligned buffer keeps every block aligned; loads are
 * unaligned, alignment is for speed only). With c0 = CT * block:
 *   i8 layout (w_bytes 1, scalar kernel), CT = 16:
 *     int32 bias_folded[16]           channel c0 + j at j
 *     int8  w[t][j] = W[c0 + j][t]    for t < taps
 *     float mult[16]
 *   i16x2 layout (w_bytes 2, AVX2 kernel), CT = 32, tap pairs for vpmaddwd
 *   and the channel order that in-lane unpacking produces: vector v (0..3)
 *   element e (0..7) holds channel c0 + perm(v, e), where
 *     perm(v, e) = (e < 4 ? 0 : 16) + 4 * v + e % 4
 *   (vector 0 holds channels 0-3 and 16-19, vector 1 4-7 and 20-23, ...):
 *     int32 bias_folded[v][e]
 *     int16 w[q][v][e][s] = W[c0 + perm(v, e)][2q + s]  for q < ceil(taps/2)
 *     float mult[v][e]
 * Entries past `channels` or past `taps` are zero.
 */
static inline size_t qi_u8s8_dwconv_ct(size_t w_bytes) {
  return w_bytes == 2 ? 32 : 16;
}

static inline size_t qi_u8s8_dwconv_perm32(size_t v, size_t e) {
  return (e < 4 ? 0 : 16) + 4 * v + e % 4;
}

/* Offset of the mult floats inside a block. */
static inline size_t qi_u8s8_dwconv_mult_offset(size_t taps, size_t w_bytes) {
  size_t ct = qi_u8s8_dwconv_ct(w_bytes);
  size_t wt = w_bytes == 2 ? (taps + 1) / 2 * 2 : taps;
  return ct * 4 + wt * ct * w_bytes;
}

static inline size_t qi_u8s8_dwconv_block_bytes(size_t taps, size_t w_bytes) {
  size_t bytes = qi_u8s8_dwconv_mult_offset(taps, w_bytes) +
                 qi_u8s8_dwconv_ct(w_bytes) * 4;
  return (bytes + 63) & ~(size_t)63;
}

static inline size_t qi_u8s8_dwconv_packed_bytes(size_t channels, size_t taps,
                                                 size_t w_bytes) {
  size_t ct = qi_u8s8_dwconv_ct(w_bytes);
  return (channels + ct - 1) / ct * qi_u8s8_dwconv_block_bytes(taps, w_bytes);
}

/* Packs W [channels][taps] (row stride taps, taps in the order the
 * indirection pointers will have). bias may be NULL (zero); mult holds
 * `channels` floats. Writes qi_u8s8_dwconv_packed_bytes(channels, taps,
 * w_bytes) bytes. Returns -1 on success, or the first channel whose
 * accumulator could overflow int32 (nothing is written then). */
typedef int64_t (*qi_u8s8_dwconv_pack_fn)(size_t channels, size_t taps,
                                          const int8_t *w,
                                          const int32_t *bias, int32_t za,
                                          const float *mult, void *packed);

int64_t qi_u8s8_dwconv_pack_i8(size_t channels, size_t taps, const int8_t *w,
                               const int32_t *bias, int32_t za,
                               const float *mult, void *packed);
int64_t qi_u8s8_dwconv_pack_i16x2(size_t channels, size_t taps,
                                  const int8_t *w, const int32_t *bias,
                                  int32_t za, const float *mult,
                                  void *packed);

/*
 * Microkernel: `pixels` output pixels of all `channels` channels.
 *   input  tap t of pixel j is input[j * step + t]
 *   w      packed weights for `channels` and `taps` (layout above)
 *   y      pixel j at y + j * y_stride elements (uint8 or float per
 *          p->out_f32); writes exactly `channels` elements per pixel
 *   r      residual, pixel j at r + j * r_stride, or NULL; reads exactly
 *          `channels` bytes per pixel (may be y itself when the strides
 *          agree: each pixel is read before it is written)
 * Kernels never allocate and keep no state.
 */
typedef void (*qi_u8s8_dwconv_ukernel_fn)(size_t channels, size_t pixels,
                                          size_t taps,
                                          const uint8_t *const *input,
                                          size_t step,
                                          const void *w, void *y,
                                          size_t y_stride, const uint8_t *r,
                                          size_t r_stride,
                                          const qi_u8s8_gemm_params *p);

void qi_u8s8_dwconv_requant_ukernel_16c__scalar(
    size_t channels, size_t pixels, size_t taps, const uint8_t *const *input,
    size_t step, const void *w, void *y, size_t y_stride, const uint8_t *r,
    size_t r_stride, const qi_u8s8_gemm_params *p);
void qi_u8s8_dwconv_requant_ukernel_32c__avx2(
    size_t channels, size_t pixels, size_t taps, const uint8_t *const *input,
    size_t step, const void *w, void *y, size_t y_stride, const uint8_t *r,
    size_t r_stride, const qi_u8s8_gemm_params *p);

#endif
