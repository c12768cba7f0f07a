#include "calibrate_npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define NPY_MAX_HEADER 65536

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

static int descr_dtype(const char *d, qi_dtype *dt, size_t *es) {
  static const struct {
    const char *name;
    qi_dtype dt;
    size_t size;
  } map[] = {{"<f4", QI_FLOAT32, 4}, {"|u1", QI_UINT8, 1},   {"|i1", QI_INT8, 1},
             {"<i4", QI_INT32, 4},   {"<i8", QI_INT64, 8},   {"|b1", QI_BOOL, 1},
             {"<f2", QI_FLOAT16, 2}, {"<f8", QI_FLOAT64, 8}, {"<u1", QI_UINT8, 1},
             {"<i1", QI_INT8, 1}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(d, map[i].name) == 0) {
      *dt = map[i].dt;
      *es = map[i].size;
      return 1;
    }
  return 0;
}

/* The value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key) {
  const char *p = strstr(hdr, key);
  if (!p) return NULL;
  p = strchr(p + strlen(key), ':');
  if (!p) return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

static qi_status parse_header(const char *path, const char *hdr, calib_npy_file *f, qi_error *err) {
  const char *d = dict_value(hdr, "'descr'");
  const char *fo = dict_value(hdr, "'fortran_order'");
  const char *s = dict_value(hdr, "'shape'");
  if (!d || !fo || !s || *d != '\'' || *s != '(')
    return fail(err, QI_ERR_PARSE, "%s: npy header lacks descr/fortran_order/shape", path);
  char descr[8] = {0};
  size_t i = 0;
  for (d++; *d && *d != '\'' && i < sizeof descr - 1;) descr[i++] = *d++;
  if (!descr_dtype(descr, &f->dtype, &f->elem_size))
    return fail(err, QI_ERR_UNSUPPORTED, "%s: npy dtype '%s' not supported", path, descr);
  if (strncmp(fo, "False", 5) != 0)
    return fail(err, QI_ERR_UNSUPPORTED, "%s: Fortran-order npy not supported", path);
  uint64_t count = 1;
  s++;
  for (;;) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    if (*s < '0' || *s > '9')
      return fail(err, QI_ERR_PARSE, "%s: malformed shape in npy header", path);
    if (f->rank >= QI_MAX_RANK)
      return fail(err, QI_ERR_UNSUPPORTED, "%s: npy rank above %d", path, QI_MAX_RANK);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v > ((unsigned long long)1 << 40))
      return fail(err, QI_ERR_PARSE, "%s: npy dimension out of range", path);
    f->shape[f->rank++] = (int64_t)v;
    if (v && count > ((uint64_t)1 << 62) / v)
      return fail(err, QI_ERR_NOMEM, "%s: npy array too large", path);
    count *= v;
    s = end;
  }
  if (count > ((uint64_t)1 << 62) / f->elem_size)
    return fail(err, QI_ERR_NOMEM, "%s: npy array too large", path);
  f->nbytes = count * f->elem_size;
  return QI_OK;
}

qi_status calib_npy_open(const char *path, calib_npy_file *f, qi_error *err) {
  memset(f, 0, sizeof *f);
  FILE *fp = fopen(path, "rb");
  if (!fp) return fail(err, QI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  struct stat stt;
  uint8_t pre[12];
  qi_status st = QI_OK;
  char *hdr = NULL;
  size_t got = fread(pre, 1, sizeof pre, fp);
  if (fstat(fileno(fp), &stt) != 0 || !S_ISREG(stt.st_mode)) {
    st = fail(err, QI_ERR_IO, "'%s' is not a regular file", path);
  } else if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
    st = fail(err, QI_ERR_PARSE, "%s: not a .npy file (bad magic at byte 0)", path);
  } else if (pre[6] < 1 || pre[6] > 3) {
    st = fail(err, QI_ERR_PARSE, "%s: unsupported npy version %d at byte 6", path, pre[6]);
  } else {
    size_t hoff = pre[6] == 1 ? 10 : 12;
    size_t hlen = (size_t)pre[8] | (size_t)pre[9] << 8;
    if (pre[6] != 1)
      hlen |= (got >= 12 ? (size_t)pre[10] << 16 | (size_t)pre[11] << 24 : (size_t)1 << 30);
    uint64_t fsize = (uint64_t)stt.st_size;
    if (hlen > NPY_MAX_HEADER || hoff + hlen > fsize) {
      st = fail(err, QI_ERR_PARSE, "%s: npy header length %zu at byte 8 exceeds the file", path,
                hlen);
    } else if (!(hdr = malloc(hlen + 1))) {
      st = fail(err, QI_ERR_NOMEM, "%s: out of memory", path);
    } else if (fseek(fp, (long)hoff, SEEK_SET) != 0 || fread(hdr, 1, hlen, fp) != hlen) {
      st = fail(err, QI_ERR_IO, "%s: short read in the npy header", path);
    } else {
      hdr[hlen] = '\0';
      st = parse_header(path, hdr, f, err);
      f->data_offset = hoff + hlen;
      if (st == QI_OK && fsize - f->data_offset < f->nbytes)
        st = fail(err, QI_ERR_PARSE,
                  "%s: truncated npy: data needs %llu bytes from byte %llu, "
                  "the file has %llu",
                  path, (unsigned long long)f->nbytes, (unsigned long long)f->data_offset,
                  (unsigned long long)(fsize - f->data_offset));
    }
  }
  free(hdr);
  if (st != QI_OK) {
    fclose(fp);
    memset(f, 0, sizeof *f);
    return st;
  }
  f->fp = fp;
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
