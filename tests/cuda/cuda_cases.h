/*
 * The cases of the CUDA kernel tests, shared by the host check of the
 * kernels' arithmetic (test_cuda_elem.c, no GPU) and the GPU test
 * (test_cuda_kernels.c): awkward sizes, strides with gaps, every
 * broadcast and clamp kind, zero points from the MLAS cycle, special floats
 * (NaN, infinities, exact ties), and the CPU oracle's output for each.
 * Every comparison is byte for byte (float outputs bit for bit): the INT8
 * rules of docs/quantization.md leave no tolerance.
 *
 * Outputs are compared as whole buffers that start filled with
 * CC_SENTINEL, so a kernel writing into a stride gap, or leaving an output
 * unwritten, shows.
 */
#ifndef QT_CUDA_CASES_H
#define QT_CUDA_CASES_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gemm/gemm.h"
#include "ops/qop_convert.h"
#include "qelt/qelt.h"
#include "qlut/qlut.h"
#include "qpool/qpool.h"
#include "ref/gemm_ref.h"
#include "ref/requant.h"

#define CC_SENTINEL 0xA5
#define CC_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct cc_rng {
  uint64_t s;
} cc_rng;

static inline uint64_t cc_next(cc_rng *r) { /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static inline int32_t cc_range(cc_rng *r, int32_t lo, int32_t hi) {
  return lo + (int32_t)(cc_next(r) % (uint64_t)((int64_t)hi - lo + 1));
}
static inline double cc_unit(cc_rng *r) { /* [0, 1) */
  return (double)(cc_next(r) >> 11) / 9007199254740992.0;
}
static inline void cc_fill(cc_rng *r, uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)cc_next(r);
}

static const int32_t cc_zero_points[] = {0, 18, 75, 128, 157, 231, 255};

static inline int32_t cc_zp(size_t idx) {
  return cc_zero_points[idx % CC_LEN(cc_zero_points)];
}

/* Output clamps: none, Relu (qmin = zy), a narrow Clip. */
static inline void cc_clamp_of(size_t idx, int32_t zy, int32_t *qmin,
                               int32_t *qmax) {
  switch (idx % 3) {
    case 0:
      *qmin = 0;
      *qmax = 255;
      break;
    case 1:
      *qmin = zy;
      *qmax = 255;
      break;
    default:
      *qmin = zy > 30 ? zy - 30 : 0;
      *qmax = zy + 30 < 255 ? zy + 30 : 255;
      break;
  }
}

/* Scale ratios: tiny, exact half (ties), spreads, one, large, huge. */
static inline double cc_ratio_of(size_t idx, cc_rng *r) {
  static const double fixed[] = {1e-5, 0.5, 1.0, 1e4};
  switch (idx % 6) {
    case 0:
      return fixed[0];
    case 1:
      return fixed[1];
    case 2:
      return 0.25 + cc_unit(r);
    case 3:
      return fixed[2];
    case 4:
      return 3.0 + 2.0 * cc_unit(r);
    default:
      return fixed[3];
  }
}

static inline void *cc_alloc(size_t bytes, int fill) {
  void *p = malloc(bytes ? bytes : 1);
  if (p) memset(p, fill, bytes ? bytes : 1);
  return p;
}

/* ---- QiQuantize / QiDequantize ------------------------------------------- */

typedef struct cc_convert_case {
  size_t n, c, hw;
  int layout; /* 0: same layout; 1: NCHW <-> NHWC */
  float scale;
  int32_t zp;
} cc_convert_case;

static const cc_convert_case cc_convert_cases[] = {
    {1, 1, 1, 0, 1.0f, 0},    {1, 3, 35, 0, 0.03125f, 128},
    {2, 5, 13, 1, 0.02f, 75}, {1, 17, 1, 1, 0.5f, 255},
    {3, 1, 64, 1, 7.25f, 18}, {1, 32, 784, 1, 0.0078125f, 157},
    {2, 7, 9, 0, 1e-3f, 231}, {1, 1, 1, 1, 3.0f, 0},
};

/* x values: spread over about twice the representable range (both
 * saturations), with NaN, +-inf, -0, exact ties of x / scale and huge
 * values at fixed places. */
static inline void cc_convert_input(cc_rng *r, const cc_convert_case *cs,
                                    float *x, size_t count) {
  for (size_t i = 0; i < count; i++) {
    double q = (cc_unit(r) * 2.0 - 1.0) * 300.0;
    x[i] = (float)(q * cs->scale);
    switch (i % 11) {
      case 3:
        x[i] = NAN;
        break;
      case 5:
        x[i] = (float)((double)cc_range(r, -300, 300) + 0.5) * cs->scale;
        break;
      case 7:
        x[i] = i % 2 ? INFINITY : -INFINITY;
        break;
      case 8:
        x[i] = i % 3 ? -0.0f : 3e38f;
        break;
      default:
        break;
    }
  }
}

/* The CPU's QiQuantize (op_qconvert.c's loops over the scalar rows). */
static inline void cc_quantize_ref(const cc_convert_case *cs, const float *x,
                                   uint8_t *y) {
  size_t count = cs->n * cs->c * cs->hw;
  if (!cs->layout) {
    qi_qop_quantize_row__scalar(count, x, y, 1, cs->scale, cs->zp);
    return;
  }
  for (size_t b = 0; b < cs->n; b++)
    for (size_t ch = 0; ch < cs->c; ch++) {
      size_t img = b * cs->c * cs->hw;
      qi_qop_quantize_row__scalar(cs->hw, x + img + ch * cs->hw, y + img + ch,
                                  cs->c, cs->scale, cs->zp);
    }
}

static inline void cc_dequantize_ref(const cc_convert_case *cs,
                                     const uint8_t *q, float *y) {
  size_t count = cs->n * cs->c * cs->hw;
  if (!cs->layout) {
    qi_qop_dequantize_row__scalar(count, q, 1, y, cs->scale, cs->zp);
    return;
  }
  for (size_t b = 0; b < cs->n; b++)
    for (size_t ch = 0; ch < cs->c; ch++) {
      size_t img = b * cs->c * cs->hw;
      qi_qop_dequantize_row__scalar(cs->hw, q + img + ch, cs->c,
                                    y + img + ch * cs->hw, cs->scale, cs->zp);
    }
}

/* ---- GEMM epilogue ------------------------------------------------------- */

typedef struct cc_requant_case {
  size_t m, n;
  size_t ldacc, ldc, ldr; /* >= n; gaps where larger */
  int out_f32, residual, with_bias;
} cc_requant_case;

static const cc_requant_case cc_requant_cases[] = {
    {1, 1, 1, 1, 1, 0, 0, 1},      {7, 13, 16, 15, 14, 0, 1, 1},
    {5, 17, 17, 17, 17, 0, 0, 0},  {3, 33, 40, 33, 35, 1, 0, 1},
    {64, 48, 48, 50, 48, 0, 1, 1}, {2, 5, 5, 9, 5, 1, 0, 0},
};

/* Accumulators: mostly around the scale that mult brings to 0..255, some
 * near +-2^30, so the clamps and exact ties all get exercised; mult per
 * channel from the ratio cycle, one NaN and one infinite channel. */
typedef struct cc_requant_data {
  int32_t *acc, *bias;
  float *mult;
  uint8_t *r;
  qi_u8s8_gemm_params p;
} cc_requant_data;

static inline int cc_requant_make(cc_rng *r, const cc_requant_case *cs,
                                  size_t idx, cc_requant_data *d) {
  memset(d, 0, sizeof *d);
  d->acc = cc_alloc(cs->m * cs->ldacc * sizeof(int32_t), 0);
  d->bias = cc_alloc(cs->n * sizeof(int32_t), 0);
  d->mult = cc_alloc(cs->n * sizeof(float), 0);
  d->r = cc_alloc(cs->m * cs->ldr, 0);
  if (!d->acc || !d->bias || !d->mult || !d->r) return 0;
  for (size_t i = 0; i < cs->m * cs->ldacc; i++)
    d->acc[i] = i % 13 == 4 ? cc_range(r, -(1 << 30), 1 << 30)
                            : cc_range(r, -(1 << 16), 1 << 16);
  for (size_t j = 0; j < cs->n; j++) {
    d->bias[j] = cs->with_bias ? cc_range(r, -(1 << 20), 1 << 20) : 0;
    d->mult[j] = (float)(cc_ratio_of(j + idx, r) / 256.0);
  }
  if (cs->n > 3) d->mult[1] = NAN;
  if (cs->n > 4) d->mult[3] = INFINITY;
  cc_fill(r, d->r, cs->m * cs->ldr);
  int32_t zy = cc_zp(idx), qmin, qmax;
  cc_clamp_of(idx, zy, &qmin, &qmax);
  d->p = qi_u8s8_gemm_params_make(cs->out_f32, zy, qmin, qmax, cc_zp(idx + 3),
                                  (float)cc_ratio_of(idx + 2, r));
  return 1;
}

static inline void cc_requant_free(cc_requant_data *d) {
  free(d->acc);
  free(d->bias);
  free(d->mult);
  free(d->r);
}

static inline size_t cc_requant_out_bytes(const cc_requant_case *cs) {
  return cs->m * cs->ldc * (cs->out_f32 ? sizeof(float) : 1);
}

/* kernels/ref/requant.h per element; gaps keep CC_SENTINEL. */
static inline void cc_requant_ref(const cc_requant_case *cs,
                                  const cc_requant_data *d, void *c) {
  for (size_t i = 0; i < cs->m; i++)
    for (size_t j = 0; j < cs->n; j++) {
      int32_t s = d->acc[i * cs->ldacc + j] + (cs->with_bias ? d->bias[j] : 0);
      if (cs->out_f32)
        ((float *)c)[i * cs->ldc + j] = qi_dequant_f32(s, d->mult[j]);
      else if (cs->residual)
        ((uint8_t *)c)[i * cs->ldc + j] =
            qi_requant_u8_residual(s, d->mult[j], d->r[i * cs->ldr + j], &d->p);
      else
        ((uint8_t *)c)[i * cs->ldc + j] = qi_requant_u8(s, d->mult[j], &d->p);
    }
}

/* ---- u8s8 GEMM ----------------------------------------------------------- */

typedef struct cc_gemm_case {
  size_t m, n, k;
  size_t lda, ldc; /* >= k, >= n */
  int out_f32, residual;
} cc_gemm_case;

static const cc_gemm_case cc_gemm_cases[] = {
    {1, 1, 1, 1, 1, 0, 0},          {1, 3, 5, 7, 3, 0, 0},
    {7, 13, 17, 17, 16, 0, 1},      {16, 16, 16, 16, 16, 1, 0},
    {33, 65, 129, 130, 65, 0, 0},   {5, 31, 300, 300, 33, 0, 1},
    {64, 48, 1000, 1003, 48, 1, 0}, {2, 5, 4099, 4099, 5, 0, 0},
    {100, 7, 3, 3, 7, 0, 1},
};

typedef struct cc_gemm_data {
  uint8_t *a, *r;
  int8_t *b;
  int32_t *bias;
  float *mult;
  int32_t za;
  qi_u8s8_gemm_params p;
} cc_gemm_data;

static inline int cc_gemm_make(cc_rng *r, const cc_gemm_case *cs, size_t idx,
                               cc_gemm_data *d) {
  memset(d, 0, sizeof *d);
  d->a = cc_alloc(cs->m * cs->lda, 0);
  d->r = cc_alloc(cs->m * cs->ldc, 0);
  d->b = cc_alloc(cs->n * cs->k, 0);
  d->bias = cc_alloc(cs->n * sizeof(int32_t), 0);
  d->mult = cc_alloc(cs->n * sizeof(float), 0);
  if (!d->a || !d->r || !d->b || !d->bias || !d->mult) return 0;
  cc_fill(r, d->a, cs->m * cs->lda);
  cc_fill(r, d->r, cs->m * cs->ldc);
  for (size_t i = 0; i < cs->n * cs->k; i++)
    d->b[i] = (int8_t)cc_range(r, -127, 127);
  /* mult brings a typical |acc| ~ 128 * 73 * sqrt(k) to tens of steps. */
  double typical = 128.0 * 73.0 * sqrt((double)cs->k);
  for (size_t j = 0; j < cs->n; j++) {
    d->bias[j] = cc_range(r, -(1 << 20), 1 << 20);
    d->mult[j] = (float)(cc_ratio_of(j + idx, r) * 40.0 / typical);
  }
  d->za = cc_zp(idx);
  int32_t zy = cc_zp(idx + 2), qmin, qmax;
  cc_clamp_of(idx, zy, &qmin, &qmax);
  d->p = qi_u8s8_gemm_params_make(cs->out_f32, zy, qmin, qmax, cc_zp(idx + 5),
                                  (float)cc_ratio_of(idx + 1, r));
  return 1;
}

static inline void cc_gemm_free(cc_gemm_data *d) {
  free(d->a);
  free(d->r);
  free(d->b);
  free(d->bias);
  free(d->mult);
}

static inline size_t cc_gemm_out_bytes(const cc_gemm_case *cs) {
  return cs->m * cs->ldc * (cs->out_f32 ? sizeof(float) : 1);
}

static inline void cc_gemm_ref(const cc_gemm_case *cs, const cc_gemm_data *d,
                               void *c) {
  qi_u8s8_gemm_ref(cs->m, cs->n, cs->k, d->a, cs->lda, d->b, cs->k, d->bias,
                   d->za, d->mult, &d->p, cs->residual ? d->r : NULL, cs->ldc,
                   c, cs->ldc, NULL);
}

/* ---- uint8 Add / Mul / table --------------------------------------------- */

typedef struct cc_binary_case {
  size_t rows, c;
  qi_u8_bcast bcast;
} cc_binary_case;

static const cc_binary_case cc_binary_cases[] = {
    {1, 1, QI_U8_BCAST_NONE},    {7, 13, QI_U8_BCAST_NONE},
    {5, 17, QI_U8_BCAST_ROW},    {3, 1, QI_U8_BCAST_ROW},
    {9, 33, QI_U8_BCAST_SCALAR}, {1, 1000, QI_U8_BCAST_NONE},
    {56, 24, QI_U8_BCAST_ROW},   {1, 1, QI_U8_BCAST_SCALAR},
};

static inline size_t cc_binary_b_len(const cc_binary_case *cs) {
  return cs->bcast == QI_U8_BCAST_NONE  ? cs->rows * cs->c
         : cs->bcast == QI_U8_BCAST_ROW ? cs->c
                                        : 1;
}

static inline qi_u8_binary_params cc_binary_params(cc_rng *r, size_t idx,
                                                   int mul) {
  double sa = 0.02 + 0.1 * cc_unit(r), sb = 0.02 + 0.1 * cc_unit(r);
  double sy = mul ? sa * sb * 255.0 / cc_ratio_of(idx, r) / 64.0
                  : sa / cc_ratio_of(idx, r);
  int32_t zy = cc_zp(idx + 1), qmin, qmax;
  cc_clamp_of(idx, zy, &qmin, &qmax);
  return mul ? qi_u8_mul_params_make(sa, cc_zp(idx), sb, cc_zp(idx + 3), sy, zy,
                                     qmin, qmax)
             : qi_u8_add_params_make(sa, cc_zp(idx), sb, cc_zp(idx + 3), sy, zy,
                                     qmin, qmax);
}

typedef struct cc_lut_case {
  size_t rows, c, ldx, ldy;
} cc_lut_case;

static const cc_lut_case cc_lut_cases[] = {
    {1, 1, 1, 1},
    {7, 13, 20, 15},
    {4, 100, 100, 100},
    {33, 3, 7, 5},
};

/* ---- uint8 pooling ------------------------------------------------------- */

typedef struct cc_pool_case {
  qi_u8_pool_geom g;
  int count_include_pad;
} cc_pool_case;

/* in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, d_h, d_w, pad_t, pad_l,
 * pad_b, pad_r, x_pix, y_pix; out sizes as ONNX gives them (floor or ceil
 * mode), windows hanging past the input included. */
static const cc_pool_case cc_pool_cases[] = {
    {{7, 7, 3, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 3}, 0},
    {{7, 7, 3, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 3, 3}, 1},
    {{5, 6, 5, 4, 2, 2, 3, 1, 2, 1, 1, 0, 0, 0, 0, 8, 7}, 0},
    {{6, 6, 4, 3, 3, 3, 3, 2, 2, 1, 1, 0, 0, 0, 0, 4, 4}, 1}, /* ceil */
    {{9, 9, 7, 9, 9, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 7, 9}, 0}, /* dilated */
    {{5, 5, 1, 2, 5, 4, 2, 3, 1, 1, 1, 2, 0, 1, 1, 1, 1}, 1}, /* asymmetric */
    {{1, 1, 9, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 9, 9}, 0},
    {{7, 7, 16, 1, 1, 7, 7, 1, 1, 1, 1, 0, 0, 0, 0, 19, 16}, 1},
    {{3, 3, 2, 3, 3, 5, 5, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2}, 0}, /* big pads */
};

static inline size_t cc_pool_x_bytes(const qi_u8_pool_geom *g) {
  return (g->in_h * g->in_w - 1) * g->x_pix + g->c;
}
static inline size_t cc_pool_y_bytes(const qi_u8_pool_geom *g) {
  return (g->out_h * g->out_w - 1) * g->y_pix + g->c;
}

static inline qi_u8_avgpool_params cc_avgpool_params(cc_rng *r, size_t idx,
                                                     int include_pad) {
  int32_t zy = cc_zp(idx + 4), qmin, qmax;
  cc_clamp_of(idx, zy, &qmin, &qmax);
  return qi_u8_avgpool_params_make(0.05, cc_zp(idx), 0.05 / cc_ratio_of(idx, r),
                                   zy, qmin, qmax, include_pad);
}

typedef struct cc_gap_case {
  size_t npix, c, x_pix;
} cc_gap_case;

static const cc_gap_case cc_gap_cases[] = {
    {1, 1, 1}, {49, 17, 20}, {3136, 64, 64}, {5, 3, 3}, {7, 1000, 1001},
};

#endif
