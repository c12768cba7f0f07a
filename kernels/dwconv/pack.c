/* Weight packing for the u8s8 depthwise kernels (layouts in dwconv.h):
 * folds the activation zero point into the bias, checks the int32 range and
 * transposes [channel][tap] weights to channels-last blocks. Runs once per
 * model load, so plain loops. */
#include <string.h>

#include "dwconv/dwconv.h"

/* bias_folded = bias - za * sum_t W[c][t]; |bias_folded| + 255 * sum_t
 * |W[c][t]| must stay below 2^31 so that no input can wrap a sum. */
static int fold_bias(size_t taps, const int8_t *wc, const int32_t *bias,
                     size_t c, int32_t za, int32_t *out) {
  int64_t sum = 0, abs_sum = 0;
  for (size_t t = 0; t < taps; t++) {
    sum += wc[t];
    abs_sum += wc[t] < 0 ? -(int64_t)wc[t] : wc[t];
  }
  int64_t folded = (bias ? bias[c] : 0) - (int64_t)za * sum;
  int64_t reach = (folded < 0 ? -folded : folded) + 255 * abs_sum;
  if (reach > INT32_MAX) return 0;
  *out = (int32_t)folded;
  return 1;
}

/* Position of channel j of a block within its bias and weight rows. */
static size_t slot_of(size_t j, size_t w_bytes) {
  if (w_bytes == 1) return j;
  /* Inverse of qi_u8s8_dwconv_perm32: j = (e < 4 ? 0 : 16) + 4v + e % 4. */
  size_t v = j % 16 / 4, e = j % 4 + (j >= 16 ? 4 : 0);
  return v * 8 + e;
}

/* Checks every channel, then writes every block: bias and mult, weights
 * zeroed for the caller to fill. Returns -1 or the first bad channel. */
static int64_t pack_ends(size_t channels, size_t taps, size_t w_bytes,
                         const int8_t *w, const int32_t *bias, int32_t za,
                         const float *mult, unsigned char *packed) {
  if (taps > QI_U8S8_DWCONV_MAX_TAPS) return 0;
  for (size_t c = 0; c < channels; c++) {
    int32_t unused;
    if (!fold_bias(taps, w + c * taps, bias, c, za, &unused)) return (int64_t)c;
  }
  const size_t ct = qi_u8s8_dwconv_ct(w_bytes);
  const size_t block = qi_u8s8_dwconv_block_bytes(taps, w_bytes);
  const size_t moff = qi_u8s8_dwconv_mult_offset(taps, w_bytes);
  for (size_t c0 = 0; c0 < channels; c0 += ct) {
    unsigned char *blk = packed + c0 / ct * block;
    memset(blk, 0, block);
    int32_t *sb = (int32_t *)blk;
    float *sm = (float *)(blk + moff);
    for (size_t j = 0; j < ct && c0 + j < channels; j++) {
      fold_bias(taps, w + (c0 + j) * taps, bias, c0 + j, za,
                &sb[slot_of(j, w_bytes)]);
      sm[slot_of(j, w_bytes)] = mult[c0 + j];
    }
  }
  return -1;
}

int64_t qi_u8s8_dwconv_pack_i8(size_t channels, size_t taps, const int8_t *w,
                               const int32_t *bias, int32_t za,
                               const float *mult, void *packed) {
  int64_t bad = pack_ends(channels, taps, 1, w, bias, za, mult, packed);
  if (bad >= 0) return bad;
  const size_t ct = qi_u8s8_dwconv_ct(1);
  const size_t block = qi_u8s8_dwconv_block_bytes(taps, 1);
  for (size_t c = 0; c < channels; c++) {
    int8_t *wb = (int8_t *)packed + c / ct * block + ct * 4;
    for (size_t t = 0; t < taps; t++) wb[t * ct + c % ct] = w[c * taps + t];
  }
  return -1;
}

int64_t qi_u8s8_dwconv_pack_i16x2(size_t channels, size_t taps,
                                  const int8_t *w, const int32_t *bias,
                                  int32_t za, const float *mult,
                                  void *packed) {
  int64_t bad = pack_ends(channels, taps, 2, w, bias, za, mult, packed);
  if (bad >= 0) return bad;
  const size_t ct = qi_u8s8_dwconv_ct(2);
  const size_t block = qi_u8s8_dwconv_block_bytes(taps, 2);
  for (size_t c = 0; c < channels; c++) {
    int16_t *wb =
        (int16_t *)((unsigned char *)packed + c / ct * block + ct * 4);
    size_t slot = slot_of(c % ct, 2);
    for (size_t t = 0; t < taps; t++)
      wb[(t / 2 * ct + slot) * 2 + t % 2] = w[c * taps + t];
  }
  return -1;
}
