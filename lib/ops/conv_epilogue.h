/*
 * The element-wise tail shared by Conv, ConvTranspose, Gemm and MatMul:
 *   y = act((src + bias) + res)
 * with a per-channel bias, an optional residual tensor of the output's
 * shape (the fused Add, "qi_sum") and the fused activation ("qi_act").
 * The order matches the unfused graph: bias first, then the residual, then
 * the activation. The arithmetic is kernels/fp32/bias_act.h.
 */
#ifndef QI_OPS_CONV_EPILOGUE_H
#define QI_OPS_CONV_EPILOGUE_H

#include "fp32/bias_act.h"
#include "ops/op.h"

typedef struct qi_epilogue {
  qi_f32_act act;
  qi_f32_bias_act_fn fn;   /* chosen for this CPU */
} qi_epilogue;

/* Reads the node's fused activation and picks the kernel variant. */
qi_epilogue qi_epilogue_make(const qi_node *n);

/* dst[i] = act((src[i] + bias) + res[i]) for i < n; res may be NULL; dst
 * may equal src or res (same index only). */
void qi_epilogue_span(const qi_epilogue *e, float bias, const float *res,
                      const float *src, float *dst, size_t n);

/* Applies the epilogue in place to an [nplanes][plane] block (planes are
 * (batch, channel) pairs: plane p uses bias[p % channels]). res, when
 * non-NULL, has the same layout as y. Splits over the pool when the block
 * is large. bias may be NULL. */
void qi_epilogue_planes(qi_pool *pool, const qi_epilogue *e,
                        const float *bias, int64_t channels, const float *res,
                        float *y, int64_t nplanes, int64_t plane);

/* Same over a strided block: rows [0, nrows) of ncols elements, row r at
 * y + r * ld using bias[r] (bias may be NULL); res has the same strides. */
void qi_epilogue_rows(qi_pool *pool, const qi_epilogue *e, const float *bias,
                      const float *res, float *y, int64_t nrows,
                      int64_t ncols, int64_t ld);

static inline int qi_epilogue_needed(const qi_epilogue *e, const float *bias,
                                     const float *res) {
  return e->act.kind != QI_F32_ACT_NONE || bias || res;
}

/* Below this many elements, work runs on the calling thread: waking the
 * pool costs more than it saves. */
#define QI_EPILOGUE_PARALLEL_MIN 32768

#endif
