/* Geometry checks of the u8s8 convolution (conv/conv.h). Shapes come from
 * model files, so every product that later sizes a buffer or an index is
 * checked here, once, against overflow. */
#include "conv/conv.h"

/* a * b, or -1 if it would pass 2^56 (room for strides and byte sizes). */
static int64_t mul_capped(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r) || r > ((int64_t)1 << 56)) return -1;
  return r;
}

static int in_range(int64_t v, int64_t lo) {
  return v >= lo && v <= QI_CONV_MAX_DIM;
}

const char *qi_u8s8_conv_derive(qi_u8s8_conv_params *p) {
  if (!in_range(p->n, 1) || !in_range(p->h, 1) || !in_range(p->w, 1) ||
      !in_range(p->c_in, 1) || !in_range(p->c_out, 1))
    return "input or output dimension outside 1..2^30";
  if (!in_range(p->groups, 1) || p->c_in % p->groups != 0 ||
      p->c_out % p->groups != 0)
    return "groups must divide the input and output channels";
  if (!in_range(p->kh, 1) || !in_range(p->kw, 1))
    return "kernel size outside 1..2^30";
  if (!in_range(p->stride_h, 1) || !in_range(p->stride_w, 1) ||
      !in_range(p->dil_h, 1) || !in_range(p->dil_w, 1))
    return "stride or dilation outside 1..2^30";
  if (!in_range(p->pad_t, 0) || !in_range(p->pad_l, 0) ||
      !in_range(p->pad_b, 0) || !in_range(p->pad_r, 0))
    return "padding outside 0..2^30";
  if (p->za < 0 || p->za > 255) return "input zero point outside 0..255";
  /* Each term <= 2^60: no overflow below. */
  int64_t ekh = p->dil_h * (p->kh - 1) + 1, ekw = p->dil_w * (p->kw - 1) + 1;
  int64_t ph = p->h + p->pad_t + p->pad_b, pw = p->w + p->pad_l + p->pad_r;
  if (ph < ekh || pw < ekw) return "dilated kernel larger than padded input";
  int64_t oh = (ph - ekh) / p->stride_h + 1, ow = (pw - ekw) / p->stride_w + 1;
  int64_t in_px = mul_capped(mul_capped(p->n, p->h), p->w);
  int64_t out_px = mul_capped(mul_capped(p->n, oh), ow);
  if (in_px < 0 || out_px < 0 || mul_capped(in_px, p->c_in) < 0 ||
      mul_capped(out_px, p->c_out) < 0)
    return "tensor too large";
  int64_t k = mul_capped(mul_capped(p->kh, p->kw), p->c_in / p->groups);
  if (k < 0 || mul_capped(k, p->c_out) < 0) return "kernel too large";
  p->out_h = oh;
  p->out_w = ow;
  return NULL;
}
