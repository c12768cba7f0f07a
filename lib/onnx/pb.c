/* Protobuf wire-format reader: tags, varints, fixed values, nested lengths
 * and packed repeated scalars, each checked against the bytes present. */
#include "onnx/pb.h"

#include "core/error.h"

qi_pb qi_pb_open(const uint8_t *buf, size_t len) {
  qi_pb r = {buf, 0, len};
  return r;
}

qi_pb qi_pb_sub(const qi_pb *r, const qi_pb_field *f) {
  qi_pb s = {r->buf, f->off, f->off + f->len};
  return s;
}

int qi_pb_read_varint(const uint8_t *buf, size_t *pos, size_t end,
                      uint64_t *v) {
  uint64_t x = 0;
  size_t p = *pos;
  for (int i = 0; i < 10; i++) {
    if (p >= end) return -1;
    uint8_t b = buf[p++];
    /* The tenth byte holds bit 63 only; anything more cannot be a uint64. */
    if (i == 9 && b > 1) return -2;
    x |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      *pos = p;
      *v = x;
      return 0;
    }
  }
  return -2;
}

static qi_status varint_fail(int rc, uint32_t num, size_t at, qi_error *err) {
  if (rc == -1)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: truncated varint in field %u at byte %zu", num, at);
  return qi_fail(err, QI_ERR_PARSE,
                 "onnx: varint longer than 10 bytes in field %u at byte %zu",
                 num, at);
}

qi_status qi_pb_next(qi_pb *r, qi_pb_field *f, qi_error *err) {
  f->num = 0;
  f->wire = 0;
  f->u = 0;
  f->off = f->len = 0;
  f->at = r->pos;
  if (r->pos >= r->end) return QI_OK;
  uint64_t tag;
  int rc = qi_pb_read_varint(r->buf, &r->pos, r->end, &tag);
  if (rc) {
    if (rc == -1)
      return qi_fail(err, QI_ERR_PARSE, "onnx: truncated tag at byte %zu",
                     f->at);
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: tag longer than 10 bytes at byte %zu", f->at);
  }
  /* Field numbers are 29 bits: a tag never exceeds 32 bits. */
  if (tag > UINT32_MAX || (tag >> 3) == 0)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: invalid field number %llu at byte %zu",
                   (unsigned long long)(tag >> 3), f->at);
  f->num = (uint32_t)(tag >> 3);
  f->wire = (int)(tag & 7);
  size_t left = r->end - r->pos;
  switch (f->wire) {
    case QI_PB_VARINT:
      rc = qi_pb_read_varint(r->buf, &r->pos, r->end, &f->u);
      if (rc) return varint_fail(rc, f->num, f->at, err);
      return QI_OK;
    case QI_PB_FIXED64:
      if (left < 8)
        return qi_fail(err, QI_ERR_PARSE,
                       "onnx: truncated fixed64 field %u at byte %zu "
                       "(needs 8 bytes, %zu left)",
                       f->num, f->at, left);
      f->u = qi_pb_le64(r->buf + r->pos);
      r->pos += 8;
      return QI_OK;
    case QI_PB_FIXED32:
      if (left < 4)
        return qi_fail(err, QI_ERR_PARSE,
                       "onnx: truncated fixed32 field %u at byte %zu "
                       "(needs 4 bytes, %zu left)",
                       f->num, f->at, left);
      f->u = qi_pb_le32(r->buf + r->pos);
      r->pos += 4;
      return QI_OK;
    case QI_PB_LEN: {
      uint64_t n;
      rc = qi_pb_read_varint(r->buf, &r->pos, r->end, &n);
      if (rc) return varint_fail(rc, f->num, f->at, err);
      left = r->end - r->pos;
      if (n > left)
        return qi_fail(err, QI_ERR_PARSE,
                       "onnx: truncated length-delimited field %u at byte %zu "
                       "(needs %llu bytes, %zu left)",
                       f->num, f->at, (unsigned long long)n, left);
      f->off = r->pos;
      f->len = (size_t)n;
      r->pos += (size_t)n;
      return QI_OK;
    }
    case 3:
    case 4:
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: field %u at byte %zu uses the group wire type %d "
                     "(deprecated groups are not supported)",
                     f->num, f->at, f->wire);
    default:
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: invalid wire type %d for field %u at byte %zu",
                     f->wire, f->num, f->at);
  }
}

qi_status qi_pb_expect(const qi_pb_field *f, int wire, const char *field,
                       qi_error *err) {
  if (f->wire == wire) return QI_OK;
  return qi_fail(err, QI_ERR_PARSE,
                 "onnx: %s (field %u) at byte %zu has wire type %d, "
                 "expected %d",
                 field, f->num, f->at, f->wire, wire);
}

qi_status qi_pb_iter_begin(const qi_pb *r, const qi_pb_field *f,
                           int elem_wire, const char *field, qi_pb_iter *it,
                           qi_error *err) {
  it->buf = r->buf;
  it->wire = elem_wire;
  it->num = f->num;
  it->pos = it->end = 0;
  it->u = 0;
  if (f->wire == elem_wire) {
    it->single = 1;
    it->u = f->u;
    it->count = 1;
    return QI_OK;
  }
  if (f->wire != QI_PB_LEN)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: %s (field %u) at byte %zu has wire type %d, "
                   "expected %d or packed",
                   field, f->num, f->at, f->wire, elem_wire);
  it->single = 0;
  it->pos = f->off;
  it->end = f->off + f->len;
  if (elem_wire == QI_PB_VARINT) {
    /* Each varint ends in the one byte whose top bit is clear. */
    size_t n = 0;
    for (size_t p = it->pos; p < it->end; p++) n += !(r->buf[p] & 0x80);
    if (f->len && (r->buf[it->end - 1] & 0x80))
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: packed %s (field %u) at byte %zu ends inside a "
                     "varint",
                     field, f->num, f->at);
    it->count = n;
    return QI_OK;
  }
  size_t size = elem_wire == QI_PB_FIXED32 ? 4 : 8;
  if (f->len % size)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: packed %s (field %u) at byte %zu has %zu bytes, "
                   "not a multiple of %zu",
                   field, f->num, f->at, f->len, size);
  it->count = f->len / size;
  return QI_OK;
}

qi_status qi_pb_iter_next(qi_pb_iter *it, uint64_t *v, qi_error *err) {
  if (it->single) {
    *v = it->u;
    return QI_OK;
  }
  size_t at = it->pos;
  if (it->wire == QI_PB_VARINT) {
    int rc = qi_pb_read_varint(it->buf, &it->pos, it->end, v);
    if (rc) return varint_fail(rc, it->num, at, err);
    return QI_OK;
  }
  size_t size = it->wire == QI_PB_FIXED32 ? 4 : 8;
  if (it->end - it->pos < size)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: read past packed field %u at byte %zu", it->num, at);
  *v = size == 4 ? qi_pb_le32(it->buf + it->pos) : qi_pb_le64(it->buf + it->pos);
  it->pos += size;
  return QI_OK;
}
