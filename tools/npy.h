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

/* What a .npy header says. */
typedef struct qi_npy_header {
  qi_dtype dtype;
  int rank;
  int64_t shape[QI_MAX_RANK];
  size_t elem_size;
  uint64_t data_offset; /* first data byte */
  uint64_t nbytes;      /* product of shape * elem_size */
} qi_npy_header;

/* The longest preamble + header a .npy file can have: reading that many
 * bytes (or the whole file) gives qi_npy_read_header all it needs. */
#define QI_NPY_MAX_PREFIX ((size_t)12 + 65536)

/* Parses the preamble and header of a .npy file of `file_size` bytes from
 * its first `len` bytes in buf (len <= file_size). Errors name the byte
 * offset at fault: QI_ERR_PARSE for a malformed header or a file too short
 * for its data, QI_ERR_UNSUPPORTED for a dtype, order or rank not read,
 * QI_ERR_NOMEM for data of more than max_bytes. */
qi_status qi_npy_read_header(const uint8_t *buf, size_t len,
                             uint64_t file_size, uint64_t max_bytes,
                             qi_npy_header *h, qi_error *err);

/* Prepends "path: " to the message in err (if non-NULL). */
void qi_npy_error_path(qi_error *err, const char *path);

/* Parses an in-memory .npy image; errors name the byte offset at fault. */
qi_status qi_npy_parse(const uint8_t *buf, size_t len, qi_npy *out,
                       qi_error *err);
qi_status qi_npy_load(const char *path, qi_npy *out, qi_error *err);
qi_status qi_npy_save(const char *path, qi_dtype dtype, int rank,
                      const int64_t *shape, const void *data, qi_error *err);
void qi_npy_free(qi_npy *npy);

#endif
