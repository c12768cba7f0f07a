/*
 * The one door from lib/ to cuda/ (docs/cuda.md). lib/runtime/session.c
 * calls it for qi_session_options.backend == QI_BACKEND_CUDA; this header
 * and its .c are the only lib/ files that know whether the build has CUDA
 * (the Makefile compiles backend_cuda_glue.c with -DQI_HAVE_CUDA when it
 * finds nvcc).
 */
#ifndef QI_RUNTIME_BACKEND_CUDA_GLUE_H
#define QI_RUNTIME_BACKEND_CUDA_GLUE_H

#include "qinfer.h"

/* Whether this build has the CUDA backend (1) or not (0). */
int qi_backend_cuda_built(void);

/* What a CUDA session on device `device_index` gets today. Never QI_OK yet:
 *   built without CUDA     QI_ERR_DEVICE "this build of qinfer has no CUDA
 *                          backend"
 *   no device / no driver  QI_ERR_DEVICE "no CUDA device: <CUDA's reason>"
 *   a bad device_index     QI_ERR_DEVICE naming the index and the count
 *   a usable device        QI_ERR_UNSUPPORTED: the CUDA backend runs kernels
 *                          only; whole models do not run on it yet. */
qi_status qi_backend_cuda_session_check(int device_index, qi_error *err);

#endif
