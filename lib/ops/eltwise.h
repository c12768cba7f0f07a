/*
 * Element-wise float32 kernels shared by the unary ops, the fused
 * activation of Add and anyone else that applies an activation to a buffer
 * (Conv/Gemm epilogues may call qi_act_f32 on their output tile).
 *
 * The kernels take plain pointers and a count, never allocate, and accept
 * y == x (exactly in place; partial overlap is not allowed). The best
 * instruction set is chosen at each call from cpuid (AVX2 when present,
 * else SSE2); both give bit-identical results.
 */
#ifndef QI_OPS_ELTWISE_H
#define QI_OPS_ELTWISE_H

#include <stddef.h>

#include "ops/op.h"

typedef enum qi_unary_kind {
  QI_UN_IDENTITY = 0,
  QI_UN_RELU,
  QI_UN_LEAKY_RELU, /* alpha: slope for x < 0 */
  QI_UN_CLIP,       /* alpha: min, beta: max */
  QI_UN_SIGMOID,
  QI_UN_HARD_SIGMOID, /* clamp(alpha*x + beta, 0, 1) */
  QI_UN_HARD_SWISH,   /* x * clamp(x/6 + 1/2, 0, 1), ONNX's alpha 1/6 */
  QI_UN_TANH,
  QI_UN_ERF,
  QI_UN_GELU,      /* 0.5*x*(1 + erf(x/sqrt 2)) */
  QI_UN_GELU_TANH, /* 0.5*x*(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))) */
  QI_UN_EXP,
  QI_UN_LOG,
  QI_UN_SQRT,
  QI_UN_NEG,
  QI_UN_ABS,
  QI_UN_RECIPROCAL,
  QI_UN_FLOOR,
  QI_UN_CEIL,
  QI_UN_ROUND, /* half to even */
  QI_UN_SIGN,
  QI_UN_SOFTPLUS,
  QI_UN_SOFTSIGN,
  QI_UN_ELU,              /* alpha */
  QI_UN_SELU,             /* alpha, gamma */
  QI_UN_THRESHOLDED_RELU, /* alpha: threshold */
  QI_UN_SILU,             /* x * sigmoid(x) */
  QI_UN_MISH,             /* x * tanh(softplus(x)) */
  QI_UN_COUNT
} qi_unary_kind;

typedef struct qi_unary_params {
  qi_unary_kind kind;
  float alpha, beta, gamma;
} qi_unary_params;

/* y[i] = f(x[i]) for i < n. */
void qi_unary_f32(const qi_unary_params *p, const float *x, float *y, size_t n);
/* The per-ISA variants behind it (tests compare them). */
void qi_unary_f32_generic(const qi_unary_params *p, const float *x, float *y,
                          size_t n);
void qi_unary_f32_avx2(const qi_unary_params *p, const float *x, float *y,
                       size_t n);
/* 1 when qi_unary_f32 runs the AVX2 variant on this machine. */
int qi_unary_has_avx2(void);

/* The unary kernel that applies a fused activation (QI_ACT_*). */
qi_unary_params qi_unary_from_act(const qi_act_params *act);
/* y = act(x); a no-op copy-free return when act is QI_ACT_NONE and y == x. */
void qi_act_f32(const qi_act_params *act, const float *x, float *y, size_t n);

/* Splits n elements into tasks for ctx->pool: small tensors (below about
 * 64K elements) or a single thread give one task. Chunks are multiples of
 * 64 elements. Returns the task count and sets *chunk. */
size_t qi_eltwise_split(const qi_run_ctx *ctx, size_t n, size_t *chunk);

/* Runs fn over `ntasks` tasks on ctx->pool, or inline when there is one. */
void qi_eltwise_parallel(const qi_run_ctx *ctx, qi_pool_fn fn, void *arg,
                         size_t ntasks);

/* The QI_ERR_UNSUPPORTED report for input k of node n having type dt. */
qi_status qi_eltwise_dtype_error(const qi_node *n, int k, qi_dtype dt,
                                 qi_error *err);

#endif
