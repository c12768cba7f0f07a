/* Streaming .npy access for `calibrate`: parse only the header (with
 * tools/npy.c's qi_npy_read_header), then read any byte range of the data,
 * so that a batch file of N samples is fed one sample at a time instead of
 * loaded whole (qi_npy_load reads whole files). */
#ifndef QI_TOOLS_CALIBRATE_NPY_H
#define QI_TOOLS_CALIBRATE_NPY_H

#include <stdint.h>
#include <stdio.h>

#include "qinfer.h"

typedef struct calib_npy_file {
  FILE *fp; /* owned; closed by calib_npy_close */
  qi_dtype dtype;
  int rank;
  int64_t shape[QI_MAX_RANK];
  size_t elem_size;
  uint64_t data_offset; /* first data byte */
  uint64_t nbytes;      /* product of shape * elem_size, checked <= file */
} calib_npy_file;

/* Opens `path` (borrowed) and parses its header; errors name the file and
 * the byte offset at fault. On failure nothing stays open. */
qi_status calib_npy_open(const char *path, calib_npy_file *f, qi_error *err);
/* Reads `bytes` data bytes starting `offset` bytes into the data. */
qi_status calib_npy_read(calib_npy_file *f, const char *path, uint64_t offset, void *dst,
                         size_t bytes, qi_error *err);
void calib_npy_close(calib_npy_file *f);

#endif
