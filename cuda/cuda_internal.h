/*
 * Shared by the .cu files of cuda/ only (CUDA C++): the ctx layout, the one
 * check macro that turns a cudaError_t into a qi_status, and the launch shape
 * of the grid-stride kernels.
 */
#ifndef QI_CUDA_INTERNAL_H
#define QI_CUDA_INTERNAL_H

#include <cuda_runtime.h>

#include "qi_cuda.h"

extern "C" {
#include "core/error.h"
}

struct qi_cuda_ctx {
  int device;
  cudaStream_t stream;
};

/* Writes "<what>: <cudaErrorName>: <CUDA's string>" and the status that
 * fits the error (out of memory -> QI_ERR_NOMEM, the rest QI_ERR_DEVICE),
 * and clears CUDA's last-error slot so a later launch check does not
 * report this one again. */
qi_status qi_cuda_fail(qi_error *err, cudaError_t e, const char *what);

#define QI_CUDA_TRY(err, call)                       \
  do {                                               \
    cudaError_t qi_cuda_e_ = (call);                 \
    if (qi_cuda_e_ != cudaSuccess)                   \
      return qi_cuda_fail((err), qi_cuda_e_, #call); \
  } while (0)

/* Makes ctx's device current for the calling thread (a no-op when it
 * already is): every entry point starts with it. */
qi_status qi_cuda_enter(const qi_cuda_ctx *ctx, qi_error *err);

/* After a <<<>>> launch: the launch's own error, named. */
qi_status qi_cuda_launched(qi_error *err, const char *kernel);

/* Grid-stride launch shape for `count` elements: 256 threads, at most
 * 65535 * 4 blocks (each thread then walks the rest). count > 0. */
enum { QI_CUDA_THREADS = 256 };
static inline unsigned qi_cuda_blocks(size_t count) {
  size_t b = (count + QI_CUDA_THREADS - 1) / QI_CUDA_THREADS;
  const size_t cap = (size_t)65535 * 4;
  return (unsigned)(b < cap ? b : cap);
}

/* The element index of a grid-stride loop, in size_t. */
#define QI_CUDA_FOR(o, count)                                                 \
  for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < (count); \
       o += (size_t)gridDim.x * blockDim.x)

/* rows * c without wrapping; 0 on overflow (callers refuse it). */
static inline size_t qi_cuda_mul_size(size_t a, size_t b) {
  if (a && b > SIZE_MAX / a) return 0;
  return a * b;
}

#endif
