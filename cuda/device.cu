/* Devices, contexts, memory, copies and timers (qi_cuda.h). Every CUDA
 * call is checked; nothing here aborts or prints. */
#include <stdlib.h>
#include <string.h>

#include "cuda_internal.h"

qi_status qi_cuda_fail(qi_error *err, cudaError_t e, const char *what) {
  (void)cudaGetLastError();
  qi_status st = e == cudaErrorMemoryAllocation ? QI_ERR_NOMEM : QI_ERR_DEVICE;
  return qi_fail(err, st, "%s: %s: %s", what, cudaGetErrorName(e),
                 cudaGetErrorString(e));
}

qi_status qi_cuda_launched(qi_error *err, const char *kernel) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) return QI_OK;
  return qi_cuda_fail(err, e, kernel);
}

qi_status qi_cuda_enter(const qi_cuda_ctx *ctx, qi_error *err) {
  if (!ctx) return qi_fail(err, QI_ERR_INVALID_ARG, "CUDA context is NULL");
  int cur = -1;
  QI_CUDA_TRY(err, cudaGetDevice(&cur));
  if (cur != ctx->device) QI_CUDA_TRY(err, cudaSetDevice(ctx->device));
  return QI_OK;
}

qi_status qi_cuda_device_count(int *count, qi_error *err) {
  if (!count) return qi_fail(err, QI_ERR_INVALID_ARG, "count is NULL");
  *count = 0;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    (void)cudaGetLastError();
    return qi_fail(err, QI_ERR_DEVICE, "no CUDA device: %s (%s)",
                   cudaGetErrorString(e), cudaGetErrorName(e));
  }
  if (n <= 0)
    return qi_fail(err, QI_ERR_DEVICE,
                   "no CUDA device: the CUDA runtime reports 0 devices");
  *count = n;
  return QI_OK;
}

qi_status qi_cuda_device_check(int device_index, qi_error *err) {
  int n = 0;
  QI_TRY(qi_cuda_device_count(&n, err));
  if (device_index < 0 || device_index >= n)
    return qi_fail(err, QI_ERR_DEVICE,
                   "CUDA device_index %d does not exist: this machine has %d "
                   "CUDA device%s (0..%d)",
                   device_index, n, n == 1 ? "" : "s", n - 1);
  return QI_OK;
}

qi_status qi_cuda_device_describe(int device_index, char *name,
                                  size_t name_size, int *cc_major,
                                  int *cc_minor, qi_error *err) {
  QI_TRY(qi_cuda_device_check(device_index, err));
  cudaDeviceProp prop;
  QI_CUDA_TRY(err, cudaGetDeviceProperties(&prop, device_index));
  if (name && name_size) {
    strncpy(name, prop.name, name_size - 1);
    name[name_size - 1] = '\0';
  }
  if (cc_major) *cc_major = prop.major;
  if (cc_minor) *cc_minor = prop.minor;
  return QI_OK;
}

qi_status qi_cuda_ctx_create(int device_index, qi_cuda_ctx **out,
                             qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "ctx is NULL");
  *out = NULL;
  QI_TRY(qi_cuda_device_check(device_index, err));
  qi_cuda_ctx *ctx = (qi_cuda_ctx *)calloc(1, sizeof *ctx);
  if (!ctx) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  ctx->device = device_index;
  qi_status st = qi_cuda_enter(ctx, err);
  if (st == QI_OK) {
    cudaError_t e =
        cudaStreamCreateWithFlags(&ctx->stream, cudaStreamNonBlocking);
    if (e != cudaSuccess) {
      ctx->stream = NULL;
      st = qi_cuda_fail(err, e, "cudaStreamCreateWithFlags");
    }
  }
  if (st != QI_OK) {
    free(ctx);
    return st;
  }
  *out = ctx;
  return QI_OK;
}

void qi_cuda_ctx_free(qi_cuda_ctx *ctx) {
  if (!ctx) return;
  if (qi_cuda_enter(ctx, NULL) == QI_OK && ctx->stream) {
    (void)cudaStreamSynchronize(ctx->stream);
    (void)cudaStreamDestroy(ctx->stream);
  }
  (void)cudaGetLastError();
  free(ctx);
}

qi_status qi_cuda_alloc(qi_cuda_ctx *ctx, size_t bytes, void **dev,
                        qi_error *err) {
  if (!dev) return qi_fail(err, QI_ERR_INVALID_ARG, "dev is NULL");
  *dev = NULL;
  QI_TRY(qi_cuda_enter(ctx, err));
  cudaError_t e = cudaMalloc(dev, bytes ? bytes : 1);
  if (e != cudaSuccess) {
    *dev = NULL;
    qi_cuda_fail(err, e, "cudaMalloc");
    if (err)
      qi_error_prefix(err, "cannot allocate %zu bytes on CUDA device %d", bytes,
                      ctx->device);
    return e == cudaErrorMemoryAllocation ? QI_ERR_NOMEM : QI_ERR_DEVICE;
  }
  return QI_OK;
}

void qi_cuda_free(qi_cuda_ctx *ctx, void *dev) {
  if (!dev || qi_cuda_enter(ctx, NULL) != QI_OK) return;
  (void)cudaFree(dev);
  (void)cudaGetLastError();
}

qi_status qi_cuda_upload(qi_cuda_ctx *ctx, void *dev, const void *host,
                         size_t bytes, qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!bytes) return QI_OK;
  if (!dev || !host)
    return qi_fail(err, QI_ERR_INVALID_ARG, "upload of %zu bytes: NULL buffer",
                   bytes);
  QI_CUDA_TRY(err, cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice,
                                   ctx->stream));
  QI_CUDA_TRY(err, cudaStreamSynchronize(ctx->stream));
  return QI_OK;
}

qi_status qi_cuda_download(qi_cuda_ctx *ctx, void *host, const void *dev,
                           size_t bytes, qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!bytes) return QI_OK;
  if (!dev || !host)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "download of %zu bytes: NULL buffer", bytes);
  QI_CUDA_TRY(err, cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost,
                                   ctx->stream));
  QI_CUDA_TRY(err, cudaStreamSynchronize(ctx->stream));
  return QI_OK;
}

qi_status qi_cuda_fill(qi_cuda_ctx *ctx, void *dev, int byte, size_t bytes,
                       qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  if (!bytes) return QI_OK;
  if (!dev) return qi_fail(err, QI_ERR_INVALID_ARG, "fill: NULL buffer");
  QI_CUDA_TRY(err, cudaMemsetAsync(dev, byte, bytes, ctx->stream));
  return QI_OK;
}

qi_status qi_cuda_sync(qi_cuda_ctx *ctx, qi_error *err) {
  QI_TRY(qi_cuda_enter(ctx, err));
  QI_CUDA_TRY(err, cudaStreamSynchronize(ctx->stream));
  return QI_OK;
}

struct qi_cuda_timer {
  qi_cuda_ctx *ctx;
  cudaEvent_t start, stop;
};

qi_status qi_cuda_timer_create(qi_cuda_ctx *ctx, qi_cuda_timer **out,
                               qi_error *err) {
  if (!out) return qi_fail(err, QI_ERR_INVALID_ARG, "timer is NULL");
  *out = NULL;
  QI_TRY(qi_cuda_enter(ctx, err));
  qi_cuda_timer *t = (qi_cuda_timer *)calloc(1, sizeof *t);
  if (!t) return qi_fail(err, QI_ERR_NOMEM, "out of memory");
  t->ctx = ctx;
  cudaError_t e = cudaEventCreate(&t->start);
  if (e == cudaSuccess) {
    e = cudaEventCreate(&t->stop);
    if (e != cudaSuccess) (void)cudaEventDestroy(t->start);
  }
  if (e != cudaSuccess) {
    free(t);
    return qi_cuda_fail(err, e, "cudaEventCreate");
  }
  *out = t;
  return QI_OK;
}

qi_status qi_cuda_timer_start(qi_cuda_timer *t, qi_error *err) {
  if (!t) return qi_fail(err, QI_ERR_INVALID_ARG, "timer is NULL");
  QI_TRY(qi_cuda_enter(t->ctx, err));
  QI_CUDA_TRY(err, cudaEventRecord(t->start, t->ctx->stream));
  return QI_OK;
}

qi_status qi_cuda_timer_stop(qi_cuda_timer *t, float *ms, qi_error *err) {
  if (!t || !ms) return qi_fail(err, QI_ERR_INVALID_ARG, "timer is NULL");
  QI_TRY(qi_cuda_enter(t->ctx, err));
  QI_CUDA_TRY(err, cudaEventRecord(t->stop, t->ctx->stream));
  QI_CUDA_TRY(err, cudaEventSynchronize(t->stop));
  QI_CUDA_TRY(err, cudaEventElapsedTime(ms, t->start, t->stop));
  return QI_OK;
}

void qi_cuda_timer_free(qi_cuda_timer *t) {
  if (!t) return;
  if (qi_cuda_enter(t->ctx, NULL) == QI_OK) {
    (void)cudaEventDestroy(t->start);
    (void)cudaEventDestroy(t->stop);
  }
  (void)cudaGetLastError();
  free(t);
}
