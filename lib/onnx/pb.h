/*
 * A bounds-checked reader for the protobuf wire format, enough for ONNX.
 *
 * Every reader works on the whole input buffer and carries absolute byte
 * offsets, so that an error deep inside a nested message still names the
 * byte of the file at fault. Nothing here allocates. Groups (wire types 3
 * and 4, deprecated since proto2) are rejected, as are field number 0 and
 * varints longer than 10 bytes.
 */
#ifndef QI_ONNX_PB_H
#define QI_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#include "qinfer.h"

enum {
  QI_PB_VARINT = 0,
  QI_PB_FIXED64 = 1,
  QI_PB_LEN = 2,
  QI_PB_FIXED32 = 5
};

/* A message being read: bytes [pos, end) of buf. */
typedef struct qi_pb {
  const uint8_t *buf;  /* the whole input; borrowed */
  size_t pos, end;
} qi_pb;

typedef struct qi_pb_field {
  uint32_t num;     /* field number; 0 once the message is exhausted */
  int wire;         /* QI_PB_* */
  size_t at;        /* offset of the tag */
  uint64_t u;       /* value of a VARINT, FIXED64 or FIXED32 field */
  size_t off, len;  /* payload of a LEN field: buf[off .. off+len) */
} qi_pb_field;

/* Reader over all of buf[0, len). */
qi_pb qi_pb_open(const uint8_t *buf, size_t len);
/* Reader over the payload of LEN field f (a nested message). */
qi_pb qi_pb_sub(const qi_pb *r, const qi_pb_field *f);

/* Reads the next field; f->num == 0 at the end of the message. Unknown
 * fields need no further handling: their payload is already skipped. */
qi_status qi_pb_next(qi_pb *r, qi_pb_field *f, qi_error *err);

/* Fails unless f has wire type `wire`; `field` names it ("NodeProto.name"). */
qi_status qi_pb_expect(const qi_pb_field *f, int wire, const char *field,
                       qi_error *err);

/* Decodes one varint at buf[*pos] not reading past `end`; advances *pos.
 * Returns 0 on success, -1 if truncated, -2 if longer than 10 bytes. */
int qi_pb_read_varint(const uint8_t *buf, size_t *pos, size_t end,
                      uint64_t *v);

/* The elements of a repeated scalar field, packed (one LEN field) or not
 * (one element per field). */
typedef struct qi_pb_iter {
  const uint8_t *buf;
  size_t pos, end;   /* packed bytes left */
  int wire;          /* element wire type */
  int single;        /* 1: unpacked, the one value is in `u` */
  uint64_t u;
  size_t count;      /* elements in this field */
  uint32_t num;
} qi_pb_iter;

/* Starts iterating field f whose elements have wire type elem_wire
 * (VARINT, FIXED32 or FIXED64); sets it->count. */
qi_status qi_pb_iter_begin(const qi_pb *r, const qi_pb_field *f,
                           int elem_wire, const char *field, qi_pb_iter *it,
                           qi_error *err);
/* Next element, zero-extended to 64 bits; call at most it->count times. */
qi_status qi_pb_iter_next(qi_pb_iter *it, uint64_t *v, qi_error *err);

/* Little-endian loads (the wire format is little-endian on every host). */
static inline uint32_t qi_pb_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t qi_pb_le64(const uint8_t *p) {
  return (uint64_t)qi_pb_le32(p) | (uint64_t)qi_pb_le32(p + 4) << 32;
}

#endif
