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

qi_status qi_npy_parse(const uint8_t *buf, size_t len, qi_npy *out,
                       qi_error *err) {
  memset(out, 0, sizeof *out);
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
  if (hlen > len - hoff || hlen > 65536)
    return fail(err, QI_ERR_PARSE,
                "npy: header length %zu at byte 8 exceeds the file", hlen);
  char hdr[65537];
  memcpy(hdr, buf + hoff, hlen);
  hdr[hlen] = '\0';
  const char *d = dict_value(hdr, "'descr'");
  const char *f = dict_value(hdr, "'fortran_order'");
  const char *s = dict_value(hdr, "'shape'");
  if (!d || !f || !s || *d != '\'' || *s != '(')
    return fail(err, QI_ERR_PARSE, "npy: header lacks descr/fortran_order/shape");
  char descr[8] = {0};
  size_t i = 0;
  for (d++; *d && *d != '\'' && i < sizeof descr - 1;) descr[i++] = *d++;
  if (!descr_dtype(descr, &out->dtype))
    return fail(err, QI_ERR_UNSUPPORTED, "npy: dtype '%s' not supported", descr);
  if (strncmp(f, "False", 5) != 0)
    return fail(err, QI_ERR_UNSUPPORTED, "npy: Fortran order not supported");
  size_t count = 1;
  s++;
  for (;;) {
    while (*s == ' ' || *s == ',') s++;
    if (*s == ')') break;
    if (*s < '0' || *s > '9')
      return fail(err, QI_ERR_PARSE, "npy: malformed shape in header");
    if (out->rank >= QI_MAX_RANK)
      return fail(err, QI_ERR_UNSUPPORTED, "npy: rank above %d", QI_MAX_RANK);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || v > ((unsigned long long)1 << 40))
      return fail(err, QI_ERR_PARSE, "npy: dimension out of range");
    out->shape[out->rank++] = (int64_t)v;
    if (v && count > NPY_MAX_BYTES / v)
      return fail(err, QI_ERR_NOMEM, "npy: array too large");
    count *= (size_t)v;
    s = end;
  }
  size_t es = dtype_size(out->dtype);
  if (count > NPY_MAX_BYTES / es)
    return fail(err, QI_ERR_NOMEM, "npy: array too large");
  out->nbytes = count * es;
  size_t doff = hoff + hlen;
  if (len - doff < out->nbytes)
    return fail(err, QI_ERR_PARSE,
                "npy: data needs %zu bytes from byte %zu, file has %zu",
                out->nbytes, doff, len - doff);
  out->data = malloc(out->nbytes ? out->nbytes : 1);
  if (!out->data) return fail(err, QI_ERR_NOMEM, "npy: out of memory");
  memcpy(out->data, buf + doff, out->nbytes);
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
  if (st != QI_OK && err) {
    char msg[sizeof err->message];
    snprintf(msg, sizeof msg, "%s", err->message);
    snprintf(err->message, sizeof err->message, "%.200s: %.300s", path, msg);
  }
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
