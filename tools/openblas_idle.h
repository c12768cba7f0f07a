/* The command-line tools stop OpenBLAS's idle threads as they start.
 * OpenBLAS's pthread build starts them when it is loaded and they spin for
 * about 0.1 s before sleeping; qinfer runs OpenBLAS single-threaded, so
 * they never get work, but on a 2-core machine they took the core a
 * 2-thread session needs for its first runs (a MobileNetV2 INT8 benchmark
 * process ran at half speed). The library itself leaves another program's
 * OpenBLAS threads alone; such a program can set OPENBLAS_NUM_THREADS=1.
 * blas_thread_shutdown_ is what OpenBLAS's own fork handler calls; weak,
 * so a build without it links and skips the call. */
#ifndef QI_TOOLS_OPENBLAS_IDLE_H
#define QI_TOOLS_OPENBLAS_IDLE_H

#include <cblas.h>

extern int blas_thread_shutdown_(void) __attribute__((weak));

static inline void qi_tools_stop_openblas_threads(void) {
  openblas_set_num_threads(1);
  if (blas_thread_shutdown_) (void)blas_thread_shutdown_();
}

#endif
