/*
 * Helpers shared by the tensor-manipulation ops (op_shape.c, op_cast.c,
 * op_layout.c, op_slice_pad.c, op_resize.c): reading shape-determining
 * constant inputs, checked element counts, element conversion between
 * dtypes, and the N-D permutation copy behind Transpose, DepthToSpace and
 * SpaceToDepth. Private to lib/ops.
 */
#ifndef QI_OPS_OP_TENSOR_UTIL_H
#define QI_OPS_OP_TENSOR_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ops/op.h"

/* Largest element count any op here will produce: keeps byte sizes far
 * from size_t overflow for every element size. */
#define QI_OPT_MAX_NUMEL (INT64_C(1) << 40)

/* Reads integer input k (int32 or int64) that decides an output shape.
 * Absent input: *count = -1 and QI_OK. Present but not constant:
 * QI_ERR_UNSUPPORTED naming the node and input (`what` says which input,
 * e.g. "shape"). More than maxvals values: QI_ERR_SHAPE. */
qi_status qi_opt_const_ints(const qi_graph *g, const qi_node *n, int k,
                            const char *what, int64_t *vals, int maxvals,
                            int *count, qi_error *err);
/* Same for a floating (or integer) input, values as double. */
qi_status qi_opt_const_reals(const qi_graph *g, const qi_node *n, int k,
                             const char *what, double *vals, int maxvals,
                             int *count, qi_error *err);
/* Input k as a buffer over its constant data (data NULL when absent),
 * failing like qi_opt_const_ints when present but not constant. */
qi_status qi_opt_const_buf(const qi_graph *g, const qi_node *n, int k,
                           const char *what, qi_buf *out, qi_error *err);
/* Run-time twins over a bound buffer: element count, or -1 if the buffer
 * is absent, of another type, or holds more than maxvals values. */
int qi_opt_buf_ints(const qi_buf *b, int64_t *vals, int maxvals);
int qi_opt_buf_reals(const qi_buf *b, double *vals, int maxvals);

/* Element count, or -1 if unknown, negative or beyond QI_OPT_MAX_NUMEL. */
int64_t qi_opt_numel(const qi_shape *s);
/* Fails with QI_ERR_NOMEM naming the node when `s` is too large. */
qi_status qi_opt_check_numel(const qi_node *n, const qi_shape *s,
                             qi_error *err);
/* Row-major element strides of `s`. */
void qi_opt_strides(const qi_shape *s, int64_t *strides);
/* 1 if elements of `dt` can be moved (known, non-zero size). */
int qi_opt_movable(qi_dtype dt);
/* QI_ERR_UNSUPPORTED naming the node unless `dt` is movable. */
qi_status qi_opt_check_movable(const qi_node *n, qi_dtype dt, qi_error *err);
/* memcpy unless dst == src (in-place ops such as Reshape). */
void qi_opt_copy(void *dst, const void *src, size_t nbytes);
/* Fills `count` elements of size `esize` with the element at `value`. */
void qi_opt_fill(void *dst, const void *value, size_t esize, int64_t count);

/* IEEE binary16 <-> binary32/64, round to nearest even. */
float qi_opt_f16_to_f32(uint16_t h);
uint16_t qi_opt_f16_from_f64(double x);

/* Element conversion: reads element i of `src` (dtype sdt) and writes it
 * as element i of `dst` (dtype ddt), the way Cast defines it: integer and
 * bool sources convert exactly through int64; floating sources go through
 * double; float -> int truncates toward zero like C, and a NaN or out of
 * range value gives the x86 "integer indefinite" (INT_MIN of the 32- or
 * 64-bit conversion, then wrapped for 8-bit targets); -> bool is x != 0. */
void qi_opt_convert(qi_dtype ddt, void *dst, qi_dtype sdt, const void *src,
                    int64_t count);
/* Writes `v` as one element of dtype `dt` (same rules as above). */
void qi_opt_store_real(qi_dtype dt, void *dst, double v);

/* out = permute(in): output axis i is input axis perm[i]. Runs on `pool`
 * (may be NULL) for large tensors. */
void qi_opt_permute(qi_pool *pool, const void *src, void *dst, size_t esize,
                    int rank, const int64_t *in_dims, const int *perm);

#endif
