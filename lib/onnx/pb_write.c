/* Protobuf wire-format writer: a growable buffer with sticky failure. */
#include "onnx/pb_write.h"

#include <stdlib.h>
#include <string.h>

#include "core/error.h"

void qi_pbw_init(qi_pbw *w) { memset(w, 0, sizeof *w); }

void qi_pbw_free(qi_pbw *w) {
  free(w->buf);
  qi_pbw_init(w);
}

uint8_t *qi_pbw_take(qi_pbw *w, size_t *len) {
  uint8_t *b = w->buf;
  *len = w->len;
  qi_pbw_init(w);
  return b;
}

qi_status qi_pbw_status(const qi_pbw *w, const char *what, qi_error *err) {
  if (!w->failed) return QI_OK;
  return qi_fail(err, QI_ERR_NOMEM,
                 "out of memory (or beyond size_t) while encoding %s", what);
}

/* Room for n more bytes, doubling; fails the writer on overflow. */
static int reserve(qi_pbw *w, size_t n) {
  if (w->failed) return 0;
  if (n <= w->cap - w->len) return 1;
  if (n > SIZE_MAX / 2 - w->len) {
    w->failed = 1;
    return 0;
  }
  size_t cap = w->cap ? w->cap : 256;
  while (cap < w->len + n) cap *= 2;
  uint8_t *b = realloc(w->buf, cap);
  if (!b) {
    w->failed = 1;
    return 0;
  }
  w->buf = b;
  w->cap = cap;
  return 1;
}

void qi_pbw_raw(qi_pbw *w, const void *p, size_t n) {
  if (!n || !reserve(w, n)) return;
  memcpy(w->buf + w->len, p, n);
  w->len += n;
}

void qi_pbw_raw_varint(qi_pbw *w, uint64_t v) {
  uint8_t b[10];
  size_t n = 0;
  do {
    b[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) b[n] |= 0x80;
    n++;
  } while (v);
  qi_pbw_raw(w, b, n);
}

void qi_pbw_tag(qi_pbw *w, uint32_t num, int wire) {
  qi_pbw_raw_varint(w, (uint64_t)num << 3 | (uint64_t)(wire & 7));
}

void qi_pbw_varint(qi_pbw *w, uint32_t num, uint64_t v) {
  qi_pbw_tag(w, num, QI_PB_VARINT);
  qi_pbw_raw_varint(w, v);
}

void qi_pbw_fixed32(qi_pbw *w, uint32_t num, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                  (uint8_t)(v >> 24)};
  qi_pbw_tag(w, num, QI_PB_FIXED32);
  qi_pbw_raw(w, b, 4);
}

void qi_pbw_fixed64(qi_pbw *w, uint32_t num, uint64_t v) {
  uint8_t b[8];
  for (int i = 0; i < 8; i++) b[i] = (uint8_t)(v >> (8 * i));
  qi_pbw_tag(w, num, QI_PB_FIXED64);
  qi_pbw_raw(w, b, 8);
}

void qi_pbw_float(qi_pbw *w, uint32_t num, float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  qi_pbw_fixed32(w, num, u);
}

void qi_pbw_bytes(qi_pbw *w, uint32_t num, const void *p, size_t n) {
  qi_pbw_tag(w, num, QI_PB_LEN);
  qi_pbw_raw_varint(w, (uint64_t)n);
  qi_pbw_raw(w, p, n);
}

void qi_pbw_string(qi_pbw *w, uint32_t num, const char *s) {
  qi_pbw_bytes(w, num, s, strlen(s));
}

void qi_pbw_message(qi_pbw *w, uint32_t num, const qi_pbw *sub) {
  if (sub->failed) {
    w->failed = 1;
    return;
  }
  qi_pbw_bytes(w, num, sub->buf, sub->len);
}

void qi_pbw_field(qi_pbw *w, const uint8_t *buf, const qi_pb_field *f) {
  switch (f->wire) {
    case QI_PB_VARINT: qi_pbw_varint(w, f->num, f->u); break;
    case QI_PB_FIXED64: qi_pbw_fixed64(w, f->num, f->u); break;
    case QI_PB_FIXED32: qi_pbw_fixed32(w, f->num, (uint32_t)f->u); break;
    case QI_PB_LEN: qi_pbw_bytes(w, f->num, buf + f->off, f->len); break;
    default: w->failed = 1; break; /* qi_pb_next never returns another */
  }
}
