/* Reading and writing NumPy .npy files (format versions 1.0-3.0,
 * little-endian, C order) for the command-line tools. */
#ifndef QI_TOOLS_NPY_H
#define QI_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

typedef struct qi_npy {
  qi_dtype dtype;
  int rank;
  int64_t shape[QI_MAX_RANK];
  void *data;     /* owned; free with qi_npy_free */
  size_t nbytes;
} qi_npy;

/* Parses an in-memory .npy image; errors name the byte offset at fault. */
qi_status qi_npy_parse(const uint8_t *buf, size_t len, qi_npy *out,
                       qi_error *err);
qi_status qi_npy_load(const char *path, qi_npy *out, qi_error *err);
qi_status qi_npy_save(const char *path, qi_dtype dtype, int rank,
                      const int64_t *shape, const void *data, qi_error *err);
void qi_npy_free(qi_npy *npy);

#endif
