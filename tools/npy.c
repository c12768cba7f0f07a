#include "npy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inputs larger than this are refused before any allocation. */
#define NPY_MAX_BYTES ((size_t)1 << 32)

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

static int descr_dtype(const char *d, qi_dtype *dt) {
  static const struct {
    const char *name;
    qi_dtype dt;
  } map[] = {{"<f4", QI_FLOAT32}, {"|u1", QI_UINT8},   {"|i1", QI_INT8},
             {"<i4", QI_INT32},   {"<i8", QI_INT64},   {"|b1", QI_BOOL},
             {"<f2", QI_FLOAT16}, {"<f8", QI_FLOAT64}, {"<u1", QI_UINT8},
             {"<i1", QI_INT8}};
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(d, map[i].name) == 0) {
      *dt = map[i].dt;
      return 1;
    }
  return 0;
}

static size_t dtype_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: case QI_INT32: return 4;
    case QI_UINT8: case QI_INT8: case QI_BOOL: return 1;
    case QI_INT64: case QI_FLOAT64: return 8;
    case QI_FLOAT16: return 2;
    default: return 0;
  }
}

/* Finds the value text after 'key': in the header dict. */
static const char *dict_value(const char *hdr, const char *key) {
  const char *p = strstr(hdr, key);
  if (!p) return NULL;
  p = strchr(p + strlen(key), ':');
  if (!p) return NULL;
  p++;
  while (*p == ' ') p++;
  return p;
}

/* The dict of header text `hdr`: dtype, shape and sizes into h, with the
 * data capped at max_bytes. */
static qi_status parse_dict(const char *hdr, uint64_t max_bytes,
                            qi_npy_header *h, qi_error *err) {
  const char *d = dict_value(hdr, "'descr'");
  const char *f = dict_value(hdr, "'fortran_order'");
  const char *s = dict_value(hdr, "'shape'");
  if (!d || !f || !s || *d != '\'' || *s != '(')
    return fail(err, QI_ERR_PARSE, "npy header lacks descr/fortran_order/shape");
  char descr[8] = {0};
  size_t i = 0;
  for (d++; *d && *d != '\'' && i < sizeof descr - 1;) descr[i++] = *d++;
  if (!descr_dtype(descr, &h->dtype))
    return fail(err, QI_ERR_UNSUPPORTED, "npy: dtype '%s' not supported", descr);
  if (strncmp(f, "False", 5) != 0)
    return fail(err, QI_ERR_UNSUPPORTED, "npy: Fortran order not supported");
  uint64_t count = 1;
  s++;
  for (;;) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    if (*s < '0' || *s > '9')
      return fail(err, QI_ERR_PARSE, "npy: malformed shape in header");
    if (h->rank >= QI_MAX_RANK)
      return fail(err, QI_ERR_UNSUPPORTED, "npy: rank above %d", QI_MAX_RANK);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v > ((unsigned long long)1 << 40))
      return fail(err, QI_ERR_PARSE, "npy: dimension out of range");
    h->shape[h->rank++] = (int64_t)v;
    if (v && count > max_bytes / v)
      return fail(err, QI_ERR_NOMEM, "npy: array too large");
    count *= v;
    s = end;
  }
  h->elem_size = dtype_size(h->dtype);
  if (count > max_bytes / h->elem_size)
    return fail(err, QI_ERR_NOMEM, "npy: array too large");
  h->nbytes = count * h->elem_size;
  return QI_OK;
}

qi_status qi_npy_read_header(const uint8_t *buf, size_t len,
                             uint64_t file_size, uint64_t max_bytes,
                             qi_npy_header *h, qi_error *err) {
  memset(h, 0, sizeof *h);
  if (len < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
    return fail(err, QI_ERR_PARSE, "npy: bad magic at byte 0");
  int major = buf[6];
  size_t hlen, hoff;
  if (major == 1) {
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    hoff = 10;
  } else if (major == 2 || major == 3) {
    if (len < 12) return fail(err, QI_ERR_PARSE, "npy: truncated header");
    hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 |
           (size_t)buf[11] << 24;
    hoff = 12;
  } else {
    return fail(err, QI_ERR_PARSE, "npy: unsupported version %d at byte 6",
                major);
  }
  if (hlen > len - hoff || hlen > QI_NPY_MAX_PREFIX - 12)
    return fail(err, QI_ERR_PARSE,
                "npy: header length %zu at byte 8 exceeds the file", hlen);
  char *hdr = malloc(hlen + 1);
  if (!hdr) return fail(err, QI_ERR_NOMEM, "npy: out of memory");
  memcpy(hdr, buf + hoff, hlen);
  hdr[hlen] = '\0';
  qi_status st = parse_dict(hdr, max_bytes, h, err);
  free(hdr);
  if (st != QI_OK) return st;
  h->data_offset = hoff + hlen;
  if (file_size - h->data_offset < h->nbytes)
    return fail(err, QI_ERR_PARSE,
                "truncated npy: data needs %llu bytes from byte %llu, file "
                "has %llu",
                (unsigned long long)h->nbytes,
                (unsigned long long)h->data_offset,
                (unsigned long long)(file_size - h->data_offset));
  return QI_OK;
}

void qi_npy_error_path(qi_error *err, const char *path) {
  if (!err) return;
  char msg[sizeof err->message];
  snprintf(msg, sizeof msg, "%s", err->message);
  snprintf(err->message, sizeof err->message, "%.200s: %.300s", path, msg);
}

qi_status qi_npy_parse(const uint8_t *buf, size_t len, qi_npy *out,
                       qi_error *err) {
  memset(out, 0, sizeof *out);
  qi_npy_header h;
  qi_status st = qi_npy_read_header(buf, len, len, NPY_MAX_BYTES, &h, err);
  if (st != QI_OK) return st;
  out->dtype = h.dtype;
  out->rank = h.rank;
  memcpy(out->shape, h.shape, sizeof out->shape);
  out->nbytes = (size_t)h.nbytes;
  out->data = malloc(out->nbytes ? out->nbytes : 1);
  if (!out->data) return fail(err, QI_ERR_NOMEM, "npy: out of memory");
  memcpy(out->data, buf + h.data_offset, out->nbytes);
  return QI_OK;
}

qi_status qi_npy_load(const char *path, qi_npy *out, qi_error *err) {
  memset(out, 0, sizeof *out);
  FILE *fp = fopen(path, "rb");
  if (!fp)
    return fail(err, QI_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
  fseek(fp, 0, SEEK_END);
  long sz = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  if (sz < 0 || (size_t)sz > NPY_MAX_BYTES + 65536) {
    fclose(fp);
    return fail(err, QI_ERR_IO, "'%s': unreadable or too large", path);
  }
  uint8_t *buf = malloc((size_t)sz ? (size_t)sz : 1);
  if (!buf) {
    fclose(fp);
    return fail(err, QI_ERR_NOMEM, "out of memory reading '%s'", path);
  }
  size_t got = fread(buf, 1, (size_t)sz, fp);
  fclose(fp);
  qi_status st = got == (size_t)sz ? qi_npy_parse(buf, got, out, err)
                                   : fail(err, QI_ERR_IO, "short read on '%s'", path);
  free(buf);
  if (st != QI_OK) qi_npy_error_path(err, path);
  return st;
}

qi_status qi_npy_save(const char *path, qi_dtype dtype, int rank,
                      const int64_t *shape, const void *data, qi_error *err) {
  const char *descr = NULL;
  switch (dtype) {
    case QI_FLOAT32: descr = "<f4"; break;
    case QI_UINT8: descr = "|u1"; break;
    case QI_INT8: descr = "|i1"; break;
    case QI_INT32: descr = "<i4"; break;
    case QI_INT64: descr = "<i8"; break;
    case QI_BOOL: descr = "|b1"; break;
    case QI_FLOAT16: descr = "<f2"; break;
    case QI_FLOAT64: descr = "<f8"; break;
    default: return fail(err, QI_ERR_UNSUPPORTED, "npy: cannot save dtype %d", dtype);
  }
  char hdr[512];
  int o = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  size_t count = 1;
  for (int i = 0; i < rank; i++) {
    o += snprintf(hdr + o, sizeof hdr - (size_t)o, "%lld,%s", (long long)shape[i],
                  i + 1 < rank ? " " : "");
    count *= (size_t)shape[i];
  }
  o += snprintf(hdr + o, sizeof hdr - (size_t)o, "), }");
  /* Pad with spaces so that magic + length + header is a multiple of 64. */
  while ((10 + o + 1) % 64) hdr[o++] = ' ';
  hdr[o++] = '\n';
  FILE *fp = fopen(path, "wb");
  if (!fp)
    return fail(err, QI_ERR_IO, "cannot create '%s': %s", path, strerror(errno));
  uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (uint8_t)(o & 255),
                     (uint8_t)(o >> 8)};
  size_t nbytes = count * dtype_size(dtype);
  int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(hdr, 1, (size_t)o, fp) == (size_t)o &&
           fwrite(data, 1, nbytes, fp) == nbytes;
  ok = (fclose(fp) == 0) && ok;
  return ok ? QI_OK : fail(err, QI_ERR_IO, "write error on '%s'", path);
}

void qi_npy_free(qi_npy *npy) {
  if (!npy) return;
  free(npy->data);
  npy->data = NULL;
}
