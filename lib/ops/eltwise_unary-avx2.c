/* The AVX2 instantiation of the float32 unary kernel (the build gives
 * *-avx2.c files -mavx2 -mfma; without them this falls back to 16-byte
 * vectors and stays correct). Callers reach it through qi_unary_f32. */
#ifdef __AVX2__
#define QI_VEC_BYTES 32
#else
#define QI_VEC_BYTES 16
#endif
#define QI_UNARY_FN qi_unary_f32_avx2
#include "ops/eltwise_unary_body.h"
