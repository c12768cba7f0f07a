#include "calibrate_npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "npy.h"

/* Streamed files are never loaded whole: the cap only keeps byte counts
 * far from overflow. */
#define CALIB_NPY_MAX_BYTES ((uint64_t)1 << 62)

static qi_status fail(qi_error *err, qi_status st, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    err->status = st;
  }
  return st;
}

/* The header of open file fp of `size` bytes, parsed by tools/npy.c. */
static qi_status read_header(FILE *fp, const char *path, uint64_t size,
                             qi_npy_header *h, qi_error *err) {
  size_t want = size < QI_NPY_MAX_PREFIX ? (size_t)size : QI_NPY_MAX_PREFIX;
  uint8_t *buf = malloc(want ? want : 1);
  if (!buf) return fail(err, QI_ERR_NOMEM, "%s: out of memory", path);
  qi_status st;
  if (fread(buf, 1, want, fp) != want) {
    st = fail(err, QI_ERR_IO, "%s: short read in the npy header", path);
  } else {
    st = qi_npy_read_header(buf, want, size, CALIB_NPY_MAX_BYTES, h, err);
    if (st != QI_OK) qi_npy_error_path(err, path);
  }
  free(buf);
  return st;
}

qi_status calib_npy_open(const char *path, calib_npy_file *f, qi_error *err) {
  memset(f, 0, sizeof *f);
  FILE *fp = fopen(path, "rb");
  if (!fp) return fail(err, QI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat stt;
  qi_npy_header h;
  qi_status st = fstat(fileno(fp), &stt) != 0 || !S_ISREG(stt.st_mode)
                     ? fail(err, QI_ERR_IO, "'%s' is not a regular file", path)
                     : read_header(fp, path, (uint64_t)stt.st_size, &h, err);
  if (st != QI_OK) {
    fclose(fp);
    return st;
  }
  f->fp = fp;
  f->dtype = h.dtype;
  f->rank = h.rank;
  memcpy(f->shape, h.shape, sizeof f->shape);
  f->elem_size = h.elem_size;
  f->data_offset = h.data_offset;
  f->nbytes = h.nbytes;
  return QI_OK;
}

qi_status calib_npy_read(calib_npy_file *f, const char *path, uint64_t offset, void *dst,
                         size_t bytes, qi_error *err) {
  if (!f->fp || offset > f->nbytes || bytes > f->nbytes - offset)
    return fail(err, QI_ERR_INTERNAL, "%s: read beyond the npy data", path);
  uint64_t pos = f->data_offset + offset;
  if (pos > (uint64_t)INT64_MAX || fseeko(f->fp, (off_t)pos, SEEK_SET) != 0 ||
      fread(dst, 1, bytes, f->fp) != bytes)
    return fail(err, QI_ERR_IO, "%s: read error at byte %llu", path, (unsigned long long)pos);
  return QI_OK;
}

void calib_npy_close(calib_npy_file *f) {
  if (f && f->fp) fclose(f->fp);
  if (f) f->fp = NULL;
}
