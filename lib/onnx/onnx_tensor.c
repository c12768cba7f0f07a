/* TensorProto: dims, element type and data from raw_data, the typed
 * repeated fields or an external file, each size checked against the bytes
 * that back it before anything is allocated. */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "onnx/onnx.h"
#include "onnx/onnx_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "raw_data is little-endian and copied as is: a big-endian host needs byte swaps"
#endif

/* TensorProto field numbers. */
enum {
  F_DIMS = 1, F_DATA_TYPE = 2, F_SEGMENT = 3, F_FLOAT_DATA = 4,
  F_INT32_DATA = 5, F_STRING_DATA = 6, F_INT64_DATA = 7, F_NAME = 8,
  F_RAW_DATA = 9, F_DOUBLE_DATA = 10, F_UINT64_DATA = 11,
  F_EXTERNAL_DATA = 13, F_DATA_LOCATION = 14
};

static const char *const dtype_names[] = {
    "undefined", "float32", "uint8", "int8", "uint16", "int16", "int32",
    "int64", "string", "bool", "float16", "float64", "uint32", "uint64",
    "complex64", "complex128", "bfloat16", "float8e4m3fn", "float8e4m3fnuz",
    "float8e5m2", "float8e5m2fnuz", "uint4", "int4", "float4e2m1"};

const char *qi_onnx_dtype_text(int64_t t, char *buf, size_t len) {
  if (t >= 0 && t < (int64_t)(sizeof dtype_names / sizeof dtype_names[0]))
    return dtype_names[t];
  snprintf(buf, len, "dtype %lld", (long long)t);
  return buf;
}

int qi_onnx_dtype_supported(int64_t t) {
  switch (t) {
    case QI_FLOAT32: case QI_UINT8: case QI_INT8: case QI_INT32:
    case QI_INT64: case QI_BOOL: case QI_FLOAT16: case QI_FLOAT64:
      return 1;
    default:
      return 0;
  }
}

qi_status qi_onnx_str(const uint8_t *buf, const qi_pb_field *f,
                      const char *field, char **out, qi_error *err) {
  *out = NULL;
  QI_TRY(qi_pb_expect(f, QI_PB_LEN, field, err));
  if (memchr(buf + f->off, 0, f->len))
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s at byte %zu holds a NUL byte", field, f->at);
  char *s = malloc(f->len + 1);
  if (!s) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
  memcpy(s, buf + f->off, f->len);
  s[f->len] = '\0';
  *out = s;
  return QI_OK;
}

/* What the first pass over a TensorProto finds. */
typedef struct tensor_scan {
  size_t at;                   /* offset of the TensorProto field */
  const qi_pb_field *name;     /* last name field, or NULL */
  qi_pb_field name_f;
  int64_t data_type;
  size_t ndims;
  int64_t dims[QI_MAX_RANK];
  int has_segment;
  size_t count[F_UINT64_DATA + 1]; /* elements per typed data field */
  int has_raw;
  qi_pb_field raw;
  uint64_t location;           /* data_location: 0 default, 1 external */
  qi_pb_field ext_loc, ext_off, ext_len; /* external_data values */
  int has_ext_loc, has_ext_off, has_ext_len;
} tensor_scan;

static int key_is(const uint8_t *buf, const qi_pb_field *f, const char *k) {
  size_t n = strlen(k);
  return f->len == n && memcmp(buf + f->off, k, n) == 0;
}

static qi_status scan_external_entry(const qi_pb *r, const qi_pb_field *f,
                                     tensor_scan *s, qi_error *err) {
  qi_pb e = qi_pb_sub(r, f);
  qi_pb_field kf, key = {0}, val = {0};
  int has_key = 0, has_val = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&e, &kf, err));
    if (!kf.num) break;
    if (kf.num == 1) {
      QI_TRY(qi_pb_expect(&kf, QI_PB_LEN, "StringStringEntryProto.key", err));
      key = kf;
      has_key = 1;
    } else if (kf.num == 2) {
      QI_TRY(qi_pb_expect(&kf, QI_PB_LEN, "StringStringEntryProto.value",
                          err));
      val = kf;
      has_val = 1;
    }
  }
  if (!has_key || !has_val) return QI_OK;
  if (key_is(r->buf, &key, "location")) {
    s->ext_loc = val;
    s->has_ext_loc = 1;
  } else if (key_is(r->buf, &key, "offset")) {
    s->ext_off = val;
    s->has_ext_off = 1;
  } else if (key_is(r->buf, &key, "length")) {
    s->ext_len = val;
    s->has_ext_len = 1;
  }
  return QI_OK;
}

static qi_status count_field(const qi_pb *r, const qi_pb_field *f, int wire,
                             const char *field, tensor_scan *s,
                             qi_error *err) {
  qi_pb_iter it;
  QI_TRY(qi_pb_iter_begin(r, f, wire, field, &it, err));
  s->count[f->num] += it.count;
  return QI_OK;
}

static qi_status scan_tensor(const uint8_t *buf, const qi_pb_field *tf,
                             tensor_scan *s, qi_error *err) {
  memset(s, 0, sizeof *s);
  s->at = tf->at;
  qi_pb r = {buf, tf->off, tf->off + tf->len};
  qi_pb_field f;
  qi_pb_iter it;
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, err));
    if (!f.num) break;
    switch (f.num) {
      case F_DIMS:
        QI_TRY(qi_pb_iter_begin(&r, &f, QI_PB_VARINT, "TensorProto.dims", &it,
                                err));
        for (size_t k = 0; k < it.count; k++) {
          uint64_t v;
          QI_TRY(qi_pb_iter_next(&it, &v, err));
          if (s->ndims < QI_MAX_RANK) s->dims[s->ndims] = (int64_t)v;
          s->ndims++;
        }
        break;
      case F_DATA_TYPE:
        QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "TensorProto.data_type", err));
        s->data_type = (int32_t)f.u;
        break;
      case F_SEGMENT:
        s->has_segment = 1;
        break;
      case F_FLOAT_DATA:
        QI_TRY(count_field(&r, &f, QI_PB_FIXED32, "TensorProto.float_data", s,
                           err));
        break;
      case F_INT32_DATA:
        QI_TRY(count_field(&r, &f, QI_PB_VARINT, "TensorProto.int32_data", s,
                           err));
        break;
      case F_STRING_DATA:
        s->count[F_STRING_DATA]++;
        break;
      case F_INT64_DATA:
        QI_TRY(count_field(&r, &f, QI_PB_VARINT, "TensorProto.int64_data", s,
                           err));
        break;
      case F_NAME:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "TensorProto.name", err));
        s->name_f = f;
        s->name = &s->name_f;
        break;
      case F_RAW_DATA:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "TensorProto.raw_data", err));
        s->raw = f;
        s->has_raw = 1;
        break;
      case F_DOUBLE_DATA:
        QI_TRY(count_field(&r, &f, QI_PB_FIXED64, "TensorProto.double_data",
                           s, err));
        break;
      case F_UINT64_DATA:
        QI_TRY(count_field(&r, &f, QI_PB_VARINT, "TensorProto.uint64_data", s,
                           err));
        break;
      case F_EXTERNAL_DATA:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "TensorProto.external_data", err));
        QI_TRY(scan_external_entry(&r, &f, s, err));
        break;
      case F_DATA_LOCATION:
        QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "TensorProto.data_location",
                            err));
        s->location = f.u;
        break;
      default:
        break;
    }
  }
  return QI_OK;
}

/* The typed field that holds elements of each supported type. */
static int typed_field(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: return F_FLOAT_DATA;
    case QI_INT64: return F_INT64_DATA;
    case QI_FLOAT64: return F_DOUBLE_DATA;
    default: return F_INT32_DATA; /* int32, int8, uint8, bool, float16 */
  }
}

static const char *field_name(int num) {
  switch (num) {
    case F_FLOAT_DATA: return "float_data";
    case F_INT32_DATA: return "int32_data";
    case F_INT64_DATA: return "int64_data";
    case F_DOUBLE_DATA: return "double_data";
    case F_UINT64_DATA: return "uint64_data";
    default: return "data";
  }
}

/* Strict non-negative decimal, as external_data offset/length are stored. */
static int parse_decimal(const uint8_t *p, size_t n, uint64_t *v) {
  if (n == 0 || n > 19) return -1;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return -1;
    x = x * 10 + (uint64_t)(p[i] - '0');
  }
  *v = x;
  return 0;
}

/* A location must stay inside base_dir: relative, and no ".." component. */
static int location_ok(const uint8_t *p, size_t n) {
  if (n == 0 || p[0] == '/' || memchr(p, 0, n)) return 0;
  size_t start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i == n || p[i] == '/') {
      if (i - start == 2 && p[start] == '.' && p[start + 1] == '.') return 0;
      start = i + 1;
    }
  }
  return 1;
}

static qi_status read_external(const uint8_t *buf, const tensor_scan *s,
                               const char *base_dir, const char *who,
                               size_t nbytes, void **data, qi_error *err) {
  if (!base_dir)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "onnx: %s: external data cannot be read here (no base "
                   "directory, e.g. a model loaded from memory)",
                   who);
  if (!s->has_ext_loc)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: external data without a 'location' entry", who);
  const uint8_t *loc = buf + s->ext_loc.off;
  size_t loc_len = s->ext_loc.len;
  if (!location_ok(loc, loc_len))
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: external data location '%.*s' (byte %zu) must "
                   "be a relative path without '..'",
                   who, (int)(loc_len > 200 ? 200 : loc_len), (const char *)loc,
                   s->ext_loc.at);
  uint64_t off = 0, len = nbytes;
  if (s->has_ext_off && parse_decimal(buf + s->ext_off.off, s->ext_off.len,
                                      &off))
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: external data offset at byte %zu is not a "
                   "decimal number",
                   who, s->ext_off.at);
  if (s->has_ext_len && parse_decimal(buf + s->ext_len.off, s->ext_len.len,
                                      &len))
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: external data length at byte %zu is not a "
                   "decimal number",
                   who, s->ext_len.at);
  if (len != nbytes)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: external data length %llu, expected %zu bytes",
                   who, (unsigned long long)len, nbytes);
  size_t blen = strlen(base_dir);
  char *path = malloc(blen + loc_len + 2);
  if (!path) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
  size_t o = 0;
  if (blen) {
    memcpy(path, base_dir, blen);
    o = blen;
    path[o++] = '/';
  }
  memcpy(path + o, loc, loc_len);
  path[o + loc_len] = '\0';
  qi_status st = QI_OK;
  void *d = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat sb;
  if (fd < 0) {
    st = qi_fail(err, QI_ERR_IO, "onnx: %s: cannot open external data '%s'",
                 who, path);
  } else if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
    st = qi_fail(err, QI_ERR_IO,
                 "onnx: %s: external data '%s' is not a regular file", who,
                 path);
  } else if (off > (uint64_t)sb.st_size || nbytes > (uint64_t)sb.st_size - off) {
    st = qi_fail(err, QI_ERR_PARSE,
                 "onnx: %s: external data '%s' has %lld bytes, cannot read "
                 "%zu bytes at offset %llu",
                 who, path, (long long)sb.st_size, nbytes,
                 (unsigned long long)off);
  } else if (!(d = malloc(nbytes ? nbytes : 1))) {
    st = qi_fail(err, QI_ERR_NOMEM, "onnx: %s: out of memory (%zu bytes)",
                 who, nbytes);
  } else {
    size_t got = 0;
    while (got < nbytes) {
      ssize_t k = pread(fd, (char *)d + got, nbytes - got, (off_t)(off + got));
      if (k <= 0) {
        st = qi_fail(err, QI_ERR_IO,
                     "onnx: %s: read of external data '%s' failed at byte %llu",
                     who, path, (unsigned long long)(off + got));
        break;
      }
      got += (size_t)k;
    }
  }
  if (fd >= 0) close(fd);
  free(path);
  if (st != QI_OK) {
    free(d);
    return st;
  }
  *data = d;
  return QI_OK;
}

/* Stores int32_data value x as element k of a tensor of type dt; the narrow
 * types must hold values in their range (float16 as its 16 bits). */
static qi_status put_int32(qi_dtype dt, void *dst, size_t k, int32_t x,
                           const char *who, qi_error *err) {
  int64_t lo = INT32_MIN, hi = INT32_MAX;
  switch (dt) {
    case QI_INT8: lo = -128; hi = 127; break;
    case QI_UINT8: lo = 0; hi = 255; break;
    case QI_FLOAT16: lo = 0; hi = 65535; break;
    default: break;
  }
  if (x < lo || x > hi)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s: int32_data value %d at element %zu does not "
                   "fit %s",
                   who, (int)x, k, qi_dtype_name(dt));
  switch (dt) {
    case QI_INT32: ((int32_t *)dst)[k] = x; break;
    case QI_INT8: ((int8_t *)dst)[k] = (int8_t)x; break;
    case QI_UINT8: ((uint8_t *)dst)[k] = (uint8_t)x; break;
    case QI_BOOL: ((uint8_t *)dst)[k] = x != 0; break;
    case QI_FLOAT16: ((uint16_t *)dst)[k] = (uint16_t)x; break;
    default: break;
  }
  return QI_OK;
}

/* Second pass: decodes every occurrence of the typed field `num` into dst,
 * whose element count the first pass has already matched to numel. */
static qi_status decode_typed(const uint8_t *buf, const qi_pb_field *tf,
                              int num, qi_dtype dt, void *dst,
                              const char *who, qi_error *err) {
  qi_pb r = {buf, tf->off, tf->off + tf->len};
  qi_pb_field f;
  qi_pb_iter it;
  size_t k = 0;
  int wire = num == F_FLOAT_DATA    ? QI_PB_FIXED32
             : num == F_DOUBLE_DATA ? QI_PB_FIXED64
                                    : QI_PB_VARINT;
  size_t esize = qi_dtype_size(dt);
  for (;;) {
    QI_TRY(qi_pb_next(&r, &f, err));
    if (!f.num) break;
    if ((int)f.num != num) continue;
    QI_TRY(qi_pb_iter_begin(&r, &f, wire, field_name(num), &it, err));
    if (wire != QI_PB_VARINT && !it.single) {
      /* Packed little-endian floats or doubles: the bytes are the data. */
      memcpy((char *)dst + k * esize, buf + f.off, f.len);
      k += it.count;
      continue;
    }
    for (size_t e = 0; e < it.count; e++, k++) {
      uint64_t v;
      QI_TRY(qi_pb_iter_next(&it, &v, err));
      if (num == F_FLOAT_DATA) {
        uint32_t b = (uint32_t)v;
        memcpy((char *)dst + k * 4, &b, 4);
      } else if (num == F_DOUBLE_DATA) {
        memcpy((char *)dst + k * 8, &v, 8);
      } else if (num == F_INT64_DATA) {
        ((int64_t *)dst)[k] = (int64_t)v;
      } else {
        /* int32 varints are sign-extended to 64 bits; keep the low half. */
        QI_TRY(put_int32(dt, dst, k, (int32_t)(uint32_t)v, who, err));
      }
    }
  }
  return QI_OK;
}

void qi_onnx_tensor_clear(qi_tensor *t) {
  free(t->name);
  free(t->data);
  t->name = NULL;
  t->data = NULL;
}

static qi_status read_data(const uint8_t *buf, const qi_pb_field *tf,
                           const tensor_scan *s, const char *base_dir,
                           const char *who, qi_tensor *out, qi_error *err) {
  char tb[32];
  if (s->data_type == 0)
    return qi_fail(err, QI_ERR_PARSE, "onnx: %s has no data_type", who);
  if (!qi_onnx_dtype_supported(s->data_type))
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "onnx: %s has element type %s, which qinfer does not "
                   "support",
                   who, qi_onnx_dtype_text(s->data_type, tb, sizeof tb));
  qi_dtype dt = (qi_dtype)s->data_type;
  if (s->ndims > QI_MAX_RANK)
    return qi_fail(err, QI_ERR_UNSUPPORTED, "onnx: %s has rank %zu > %d", who,
                   s->ndims, QI_MAX_RANK);
  if (s->has_segment)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "onnx: %s is segmented, which qinfer does not support",
                   who);
  if (s->count[F_STRING_DATA])
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "onnx: %s has string_data, which qinfer does not support",
                   who);
  int64_t numel = 1;
  for (size_t i = 0; i < s->ndims; i++) {
    int64_t d = s->dims[i];
    if (d < 0)
      return qi_fail(err, QI_ERR_PARSE, "onnx: %s has negative dim %lld", who,
                     (long long)d);
    if (d && numel > INT64_MAX / d)
      return qi_fail(err, QI_ERR_NOMEM,
                     "onnx: %s: element count overflows", who);
    numel *= d;
  }
  size_t esize = qi_dtype_size(dt);
  if ((uint64_t)numel > SIZE_MAX / esize)
    return qi_fail(err, QI_ERR_NOMEM, "onnx: %s: byte size overflows", who);
  size_t nbytes = (size_t)numel * esize;
  out->nbytes = nbytes;
  out->dtype = dt;
  out->shape.rank = (int)s->ndims;
  for (size_t i = 0; i < s->ndims; i++) out->shape.d[i] = s->dims[i];

  int want = typed_field(dt);
  size_t typed = s->count[want];
  static const int typed_fields[] = {F_FLOAT_DATA, F_INT32_DATA, F_INT64_DATA,
                                     F_DOUBLE_DATA, F_UINT64_DATA};
  for (size_t i = 0; i < sizeof typed_fields / sizeof typed_fields[0]; i++) {
    int num = typed_fields[i];
    if (num != want && s->count[num])
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: %s of type %s has %zu values in %s, which does "
                     "not hold that type",
                     who, qi_dtype_name(dt), s->count[num], field_name(num));
  }
  if (s->location > 1)
    return qi_fail(err, QI_ERR_PARSE, "onnx: %s has invalid data_location %llu",
                   who, (unsigned long long)s->location);
  int nsrc = (s->location == 1) + s->has_raw + (typed > 0);
  if (nsrc > 1)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s has data in more than one of raw_data, %s and "
                   "external data",
                   who, field_name(want));
  if (s->location == 1)
    return read_external(buf, s, base_dir, who, nbytes, &out->data, err);
  if (s->has_raw) {
    if (s->raw.len != nbytes)
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: %s: raw_data at byte %zu has %zu bytes, expected "
                     "%zu (%lld x %s)",
                     who, s->raw.at, s->raw.len, nbytes, (long long)numel,
                     qi_dtype_name(dt));
    out->data = malloc(nbytes ? nbytes : 1);
    if (!out->data) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
    memcpy(out->data, buf + s->raw.off, nbytes);
    if (dt == QI_BOOL)
      for (size_t i = 0; i < nbytes; i++)
        ((uint8_t *)out->data)[i] = ((uint8_t *)out->data)[i] != 0;
    return QI_OK;
  }
  if (typed != (uint64_t)numel)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s has %zu values in %s, expected %lld", who, typed,
                   field_name(want), (long long)numel);
  /* numel values are present in the buffer, at least a byte each, so this
   * allocation is backed by input bytes. */
  out->data = malloc(nbytes ? nbytes : 1);
  if (!out->data) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
  if (!typed) return QI_OK;
  return decode_typed(buf, tf, want, dt, out->data, who, err);
}

qi_status qi_onnx_read_tensor(const uint8_t *buf, const qi_pb_field *tf,
                              const char *base_dir, const char *what,
                              qi_tensor *out, qi_error *err) {
  memset(out, 0, sizeof *out);
  out->kind = QI_TK_CONST;
  out->producer = -1;
  out->quant.axis = -1;
  out->shape.rank = -1;
  tensor_scan s;
  QI_TRY(scan_tensor(buf, tf, &s, err));
  char who[320];
  if (s.name) {
    QI_TRY(qi_onnx_str(buf, s.name, "TensorProto.name", &out->name, err));
    snprintf(who, sizeof who, "%s '%.200s' (byte %zu)", what, out->name,
             s.at);
  } else {
    snprintf(who, sizeof who, "%s at byte %zu", what, s.at);
  }
  qi_status st = read_data(buf, tf, &s, base_dir, who, out, err);
  if (st != QI_OK) {
    qi_onnx_tensor_clear(out);
    return st;
  }
  return QI_OK;
}

qi_status qi_onnx_parse_tensor(const uint8_t *buf, size_t len,
                               const char *base_dir, qi_tensor *out,
                               qi_error *err) {
  if (!out || (!buf && len))
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "onnx: qi_onnx_parse_tensor needs a buffer and an output");
  static const uint8_t empty[1] = {0};
  qi_pb_field whole = {0};
  whole.num = 1;
  whole.wire = QI_PB_LEN;
  whole.len = len;
  return qi_onnx_read_tensor(buf ? buf : empty, &whole, base_dir, "tensor",
                             out, err);
}
