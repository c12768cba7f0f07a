/*
 * A protobuf wire-format writer, the twin of onnx/pb.h: enough to write
 * ONNX messages (tags, varints, fixed32/64, length-delimited fields).
 *
 * A writer is a growable byte buffer. Allocation failure and size overflow
 * are sticky: every later call does nothing and qi_pbw_status reports it
 * once, so encoding code reads straight through without checks. Nested
 * messages are written into their own writer and appended with
 * qi_pbw_message (the length prefix must be known before the payload).
 * Integers are written as protobuf does: int32/int64 values sign-extended
 * to 64 bits (a negative value takes 10 bytes), repeated scalars unpacked
 * (ONNX is proto2). Output is little-endian on every host.
 */
#ifndef QI_ONNX_PB_WRITE_H
#define QI_ONNX_PB_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "onnx/pb.h"
#include "qinfer.h"

typedef struct qi_pbw {
  uint8_t *buf; /* owned; NULL until the first byte */
  size_t len, cap;
  int failed; /* 1 after an allocation failure or size overflow */
} qi_pbw;

/* A zeroed qi_pbw is a valid empty writer; init does just that. */
void qi_pbw_init(qi_pbw *w);
void qi_pbw_free(qi_pbw *w);
/* Gives up the bytes: *len is their count; the caller frees the pointer
 * (NULL when nothing was written). The writer is left empty. */
uint8_t *qi_pbw_take(qi_pbw *w, size_t *len);

/* QI_ERR_NOMEM naming `what` if any write failed, else QI_OK. */
qi_status qi_pbw_status(const qi_pbw *w, const char *what, qi_error *err);

/* Untagged pieces. */
void qi_pbw_raw(qi_pbw *w, const void *p, size_t n);
void qi_pbw_raw_varint(qi_pbw *w, uint64_t v);
void qi_pbw_tag(qi_pbw *w, uint32_t num, int wire);

/* Whole fields. num must be 1 .. 2^29 - 1. */
void qi_pbw_varint(qi_pbw *w, uint32_t num, uint64_t v);
static inline void qi_pbw_int64(qi_pbw *w, uint32_t num, int64_t v) {
  qi_pbw_varint(w, num, (uint64_t)v);
}
void qi_pbw_fixed32(qi_pbw *w, uint32_t num, uint32_t v);
void qi_pbw_fixed64(qi_pbw *w, uint32_t num, uint64_t v);
void qi_pbw_float(qi_pbw *w, uint32_t num, float v);
void qi_pbw_bytes(qi_pbw *w, uint32_t num, const void *p, size_t n);
/* A NUL-terminated string, without the NUL. */
void qi_pbw_string(qi_pbw *w, uint32_t num, const char *s);
/* Appends the bytes of `sub` as LEN field num (sub is left unchanged); a
 * failed sub fails w. */
void qi_pbw_message(qi_pbw *w, uint32_t num, const qi_pbw *sub);

/* Writes field f, read by qi_pb_next from buf, again: same number, wire
 * type and value (the same bytes when the input used minimal varints, as
 * every protobuf serializer does). Copies unknown fields through. */
void qi_pbw_field(qi_pbw *w, const uint8_t *buf, const qi_pb_field *f);

#endif
