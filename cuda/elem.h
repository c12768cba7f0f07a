/*
 * The per-element arithmetic of the CUDA INT8 kernels, written once for the
 * device and the host. Every kernel of cuda/ is a grid-stride loop that
 * writes out[o] = qi_cu_*(o, ...) and nothing else, so the host build of
 * this header (plain C11, tests/cuda/test_cuda_elem.c) checks the exact
 * bytes and the index arithmetic of every kernel against the CPU oracles of
 * kernels/ref without a GPU.
 *
 * Float rules (docs/quantization.md): the same float32 operations in the
 * same order as the CPU paths. On the device each one is an explicitly
 * rounded intrinsic (__fmul_rn, __fadd_rn, __fdiv_rn: never contracted into
 * an FMA, whatever -fmad says) and round-half-even is __float2int_rn; on
 * the host they are plain operators under -ffp-contract=off and lrintf.
 * Clamps keep the operand order of maxps/minps (x > y ? x : y), so a NaN
 * becomes the lower bound on every path.
 */
#ifndef QI_CUDA_ELEM_H
#define QI_CUDA_ELEM_H

#include <stddef.h>
#include <stdint.h>

#include "gemm/gemm.h"
#include "qelt/qelt.h"
#include "qpool/qpool.h"

#ifdef __CUDACC__
#define QI_HD __host__ __device__
#else
#define QI_HD
#endif

#ifdef __CUDA_ARCH__
#define QI_FMUL(a, b) __fmul_rn((a), (b))
#define QI_FADD(a, b) __fadd_rn((a), (b))
#define QI_FDIV(a, b) __fdiv_rn((a), (b))
#define QI_I2F(x) __int2float_rn(x)
#define QI_RNE(x) __float2int_rn(x)
#else
#include <math.h>
#define QI_FMUL(a, b) ((a) * (b))
#define QI_FADD(a, b) ((a) + (b))
#define QI_FDIV(a, b) ((a) / (b))
#define QI_I2F(x) ((float)(x))
#define QI_RNE(x) ((int32_t)lrintf(x))
#endif

/* The uint8 output rule of qelt/qelt.h and gemm/gemm.h: clamp to
 * [lo, hi] = [qmin - zy, qmax - zy], round half to even, add zy. After the
 * clamp |v| <= 255, so the conversion is exact and in range. */
static inline QI_HD uint8_t qi_cu_out_rule(float v, float lo, float hi,
                                           int32_t zy) {
  v = v > lo ? v : lo;
  v = v < hi ? v : hi;
  return (uint8_t)(QI_RNE(v) + zy);
}

/* ---- QiQuantize / QiDequantize (ops/qop_convert.h) ----------------------- */

/* q = sat_0..255(rne(x / scale) + zp), NaN -> zp. */
static inline QI_HD uint8_t qi_cu_quantize(float x, float scale, int32_t zp) {
  float v = QI_FDIV(x, scale);
  if (v != v) v = 0.0f;
  return qi_cu_out_rule(v, QI_I2F(0 - zp), QI_I2F(255 - zp), zp);
}

static inline QI_HD float qi_cu_dequantize(uint8_t q, float scale, int32_t zp) {
  return QI_FMUL(QI_I2F((int32_t)q - zp), scale);
}

/* Output element o of an NHWC [n, hw, c] tensor made from NCHW [n, c, hw]:
 * its index in the NCHW source. */
static inline QI_HD size_t qi_cu_nhwc_src(size_t o, size_t c, size_t hw) {
  size_t img = o / (hw * c), rem = o % (hw * c);
  return (img * c + rem % c) * hw + rem / c;
}

/* Output element o of an NCHW [n, c, hw] tensor made from NHWC [n, hw, c]. */
static inline QI_HD size_t qi_cu_nchw_src(size_t o, size_t c, size_t hw) {
  size_t img = o / (hw * c), rem = o % (hw * c);
  return (img * hw + rem % hw) * c + rem / hw;
}

/* Element o of rows x c (row stride ld): its offset. */
static inline QI_HD size_t qi_cu_row_offset(size_t o, size_t c, size_t ld) {
  return o / c * ld + o % c;
}

/* ---- GEMM epilogue (gemm/gemm.h) ----------------------------------------- */

static inline QI_HD uint8_t qi_cu_requant_u8(int32_t acc, float mult,
                                             const qi_u8s8_gemm_params *p) {
  float v = QI_FMUL(QI_I2F(acc), mult);
  return qi_cu_out_rule(v, p->lo, p->hi, p->zy);
}

static inline QI_HD uint8_t qi_cu_requant_u8_residual(
    int32_t acc, float mult, uint8_t r, const qi_u8s8_gemm_params *p) {
  float v = QI_FMUL(QI_I2F(acc), mult);
  float t = QI_FMUL(QI_I2F((int32_t)r - p->zr), p->rmult);
  v = QI_FADD(v, t);
  return qi_cu_out_rule(v, p->lo, p->hi, p->zy);
}

static inline QI_HD float qi_cu_dequant_acc(int32_t acc, float mult) {
  return QI_FMUL(QI_I2F(acc), mult);
}

/* Element o of an m x n epilogue: accumulator (row stride ldacc) plus
 * bias[o % n] (NULL: none). The caller keeps the sum inside int32. */
static inline QI_HD int32_t qi_cu_acc_at(size_t o, size_t n, const int32_t *acc,
                                         size_t ldacc, const int32_t *bias) {
  return acc[o / n * ldacc + o % n] + (bias ? bias[o % n] : 0);
}

/* cuBLASLt's IMMA path multiplies int8 by int8, so activations are shifted:
 * a' = a - 128 in -128..127 (the same bits with the top one flipped). Then
 *   sum_k a*w + bias - za*sum_k w  =  sum_k a'*w + bias + (128 - za)*sum_k w
 * so the bias handed to the GPU epilogue is the CPU's bias_folded plus
 * 128 * sum_k w (qi_cu_qgemm_bias below). */
static inline QI_HD int8_t qi_cu_shift_s8(uint8_t a) {
  return (int8_t)((int32_t)a - 128);
}

/* Element o of the shifted, K-padded activation matrix [m x kpad]: a' for
 * t < k, 0 (which adds nothing) for k <= t < kpad. */
static inline QI_HD int8_t qi_cu_shift_at(size_t o, size_t k, size_t kpad,
                                          const uint8_t *a, size_t lda) {
  size_t i = o / kpad, t = o % kpad;
  return t < k ? qi_cu_shift_s8(a[i * lda + t]) : (int8_t)0;
}

/* The GPU bias of channel j: bias + (128 - za) * sum_k w, with the CPU
 * packer's range check (kernels/gemm/pack.c): the channel is refused (0)
 * when |bias - za*sum w| + 255*sum|w| could leave int32. The GPU bias is
 * bias_folded + 128*sum w, so it and every partial sum of a'*w stay
 * inside int32 too. Host only (runs at weight upload). */
static inline int qi_cu_qgemm_bias(size_t k, const int8_t *wj, int32_t bias,
                                   int32_t za, int32_t *out) {
  int64_t sum = 0, abs_sum = 0;
  for (size_t t = 0; t < k; t++) {
    sum += wj[t];
    abs_sum += wj[t] < 0 ? -(int64_t)wj[t] : wj[t];
  }
  int64_t folded = (int64_t)bias - (int64_t)za * sum;
  int64_t reach = (folded < 0 ? -folded : folded) + 255 * abs_sum;
  if (reach > INT32_MAX) return 0;
  *out = (int32_t)(folded + 128 * sum);
  return 1;
}

/* ---- uint8 Add / Mul / table (qelt/qelt.h, qlut/qlut.h) ------------------ */

static inline QI_HD size_t qi_cu_bcast_index(size_t o, size_t c,
                                             qi_u8_bcast bcast) {
  return bcast == QI_U8_BCAST_NONE ? o : bcast == QI_U8_BCAST_ROW ? o % c : 0;
}

static inline QI_HD uint8_t qi_cu_u8_add(uint8_t a, uint8_t b,
                                         const qi_u8_binary_params *p) {
  float va = QI_FMUL(QI_I2F((int32_t)a - p->za), p->ma);
  float vb = QI_FMUL(QI_I2F((int32_t)b - p->zb), p->mb);
  return qi_cu_out_rule(QI_FADD(va, vb), p->out.lo, p->out.hi, p->out.zy);
}

/* The product is an integer of magnitude <= 65025: exact in float32. */
static inline QI_HD uint8_t qi_cu_u8_mul(uint8_t a, uint8_t b,
                                         const qi_u8_binary_params *p) {
  int32_t prod = ((int32_t)a - p->za) * ((int32_t)b - p->zb);
  return qi_cu_out_rule(QI_FMUL(QI_I2F(prod), p->ma), p->out.lo, p->out.hi,
                        p->out.zy);
}

/* ---- uint8 pooling (qpool/qpool.h, ref/qpool_ref.h) ---------------------- */

/* Taps t in [0, k) with lo <= base + t*d < hi form [*t0, *t1). */
static inline QI_HD void qi_cu_pool_taps(int64_t base, size_t k, size_t d,
                                         int64_t lo, int64_t hi, size_t *t0,
                                         size_t *t1) {
  int64_t dd = (int64_t)d, kk = (int64_t)k;
  int64_t a = base >= lo ? 0 : (lo - base + dd - 1) / dd;
  int64_t b = base >= hi ? 0 : (hi - base + dd - 1) / dd;
  if (b > kk) b = kk;
  if (a > b) a = b;
  *t0 = (size_t)a;
  *t1 = (size_t)b;
}

typedef struct qi_cu_window {
  int64_t ih, iw; /* position of tap (0, 0), may be negative */
  size_t h0, h1, w0, w1;
} qi_cu_window;

static inline QI_HD qi_cu_window qi_cu_window_of(const qi_u8_pool_geom *g,
                                                 size_t oh, size_t ow) {
  qi_cu_window w;
  w.ih = (int64_t)(oh * g->s_h) - (int64_t)g->pad_t;
  w.iw = (int64_t)(ow * g->s_w) - (int64_t)g->pad_l;
  qi_cu_pool_taps(w.ih, g->k_h, g->d_h, 0, (int64_t)g->in_h, &w.h0, &w.h1);
  qi_cu_pool_taps(w.iw, g->k_w, g->d_w, 0, (int64_t)g->in_w, &w.w0, &w.w1);
  return w;
}

/* Input byte of tap (kh, kw), channel ch. */
static inline QI_HD uint8_t qi_cu_pool_tap(const qi_u8_pool_geom *g,
                                           const uint8_t *x,
                                           const qi_cu_window *w, size_t kh,
                                           size_t kw, size_t ch) {
  size_t ih = (size_t)(w->ih + (int64_t)(kh * g->d_h));
  size_t iw = (size_t)(w->iw + (int64_t)(kw * g->d_w));
  return x[(ih * g->in_w + iw) * g->x_pix + ch];
}

/* Output element o = (oh * out_w + ow) * c + ch of a pool: its offset in y
 * (pixel stride y_pix). */
static inline QI_HD size_t qi_cu_pool_y_offset(const qi_u8_pool_geom *g,
                                               size_t o) {
  return o / g->c * g->y_pix + o % g->c;
}

/* MaxPool output element o; a window without input taps gives 0. */
static inline QI_HD uint8_t qi_cu_maxpool_at(const qi_u8_pool_geom *g,
                                             const uint8_t *x, size_t o) {
  size_t ch = o % g->c, pix = o / g->c;
  qi_cu_window w = qi_cu_window_of(g, pix / g->out_w, pix % g->out_w);
  uint8_t m = 0;
  for (size_t kh = w.h0; kh < w.h1; kh++)
    for (size_t kw = w.w0; kw < w.w1; kw++) {
      uint8_t v = qi_cu_pool_tap(g, x, &w, kh, kw, ch);
      m = v > m ? v : m;
    }
  return m;
}

/* AveragePool output element o: acc = sum - n*zx (int32, exact for
 * k_h*k_w < 2^23), m = mult / (float)max(count, 1), v = (float)acc * m. */
static inline QI_HD uint8_t qi_cu_avgpool_at(const qi_u8_pool_geom *g,
                                             const qi_u8_avgpool_params *p,
                                             const uint8_t *x, size_t o) {
  size_t ch = o % g->c, pix = o / g->c;
  qi_cu_window w = qi_cu_window_of(g, pix / g->out_w, pix % g->out_w);
  size_t count = (w.h1 - w.h0) * (w.w1 - w.w0);
  int32_t n = (int32_t)count;
  if (p->count_include_pad) {
    size_t a0, a1, b0, b1;
    qi_cu_pool_taps(w.ih, g->k_h, g->d_h, -(int64_t)g->pad_t,
                    (int64_t)(g->in_h + g->pad_b), &a0, &a1);
    qi_cu_pool_taps(w.iw, g->k_w, g->d_w, -(int64_t)g->pad_l,
                    (int64_t)(g->in_w + g->pad_r), &b0, &b1);
    count = (a1 - a0) * (b1 - b0);
  }
  float m = QI_FDIV(p->mult, QI_I2F((int32_t)(count ? count : 1)));
  int32_t acc = 0;
  for (size_t kh = w.h0; kh < w.h1; kh++)
    for (size_t kw = w.w0; kw < w.w1; kw++)
      acc += qi_cu_pool_tap(g, x, &w, kh, kw, ch);
  acc -= n * p->zx;
  return qi_cu_out_rule(QI_FMUL(QI_I2F(acc), m), p->out.lo, p->out.hi,
                        p->out.zy);
}

/* GlobalAveragePool of channel ch over npix pixels (1..2^23). */
static inline QI_HD uint8_t qi_cu_gap_at(size_t npix, const uint8_t *x,
                                         size_t x_pix, size_t ch,
                                         const qi_u8_avgpool_params *p) {
  int32_t acc = 0;
  for (size_t i = 0; i < npix; i++) acc += x[i * x_pix + ch];
  acc -= (int32_t)npix * p->zx;
  float m = QI_FDIV(p->mult, QI_I2F((int32_t)npix));
  return qi_cu_out_rule(QI_FMUL(QI_I2F(acc), m), p->out.lo, p->out.hi,
                        p->out.zy);
}

#endif
