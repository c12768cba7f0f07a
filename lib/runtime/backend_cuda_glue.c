/* The CUDA backend seen from lib/ (backend_cuda_glue.h). The only #if on
 * QI_HAVE_CUDA in lib/: each build gets one of the two definitions. */
#include "runtime/backend_cuda_glue.h"

#include "core/error.h"

#ifdef QI_HAVE_CUDA
#include "cuda/qi_cuda.h"

int qi_backend_cuda_built(void) { return 1; }

qi_status qi_backend_cuda_session_check(int device_index, qi_error *err) {
  QI_TRY(qi_cuda_device_check(device_index, err));
  return qi_fail(err, QI_ERR_UNSUPPORTED,
                 "the CUDA backend runs kernels only; whole-model execution "
                 "is not implemented yet (device %d is present; see "
                 "docs/cuda.md)",
                 device_index);
}

#else

int qi_backend_cuda_built(void) { return 0; }

qi_status qi_backend_cuda_session_check(int device_index, qi_error *err) {
  (void)device_index;
  return qi_fail(err, QI_ERR_DEVICE,
                 "this build of qinfer has no CUDA backend");
}

#endif
