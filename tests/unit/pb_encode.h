/* A tiny protobuf encoder for tests that build ONNX messages by hand.
 * Test code only: allocation failure aborts. */
#ifndef PB_ENCODE_H
#define PB_ENCODE_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct pbe {
  uint8_t *b;
  size_t n, cap;
} pbe;

static inline void pbe_free(pbe *e) {
  free(e->b);
  e->b = NULL;
  e->n = e->cap = 0;
}

static inline void pbe_raw(pbe *e, const void *p, size_t n) {
  if (e->n + n > e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 64;
    while (cap < e->n + n) cap *= 2;
    e->b = realloc(e->b, cap);
    if (!e->b) abort();
    e->cap = cap;
  }
  if (n) memcpy(e->b + e->n, p, n);
  e->n += n;
}

static inline void pbe_varint(pbe *e, uint64_t v) {
  do {
    uint8_t b = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) b |= 0x80;
    pbe_raw(e, &b, 1);
  } while (v);
}

static inline void pbe_tag(pbe *e, uint32_t field, int wire) {
  pbe_varint(e, (uint64_t)field << 3 | (uint64_t)wire);
}

/* int64 and negative int32 values are sign-extended to 64 bits, as
 * protobuf writes them. */
static inline void pbe_int(pbe *e, uint32_t field, int64_t v) {
  pbe_tag(e, field, 0);
  pbe_varint(e, (uint64_t)v);
}

static inline void pbe_f32(pbe *e, uint32_t field, float v) {
  uint8_t b[4];
  memcpy(b, &v, 4);
  pbe_tag(e, field, 5);
  pbe_raw(e, b, 4);
}

static inline void pbe_f64(pbe *e, uint32_t field, double v) {
  uint8_t b[8];
  memcpy(b, &v, 8);
  pbe_tag(e, field, 1);
  pbe_raw(e, b, 8);
}

static inline void pbe_bytes(pbe *e, uint32_t field, const void *p, size_t n) {
  pbe_tag(e, field, 2);
  pbe_varint(e, n);
  pbe_raw(e, p, n);
}

static inline void pbe_str(pbe *e, uint32_t field, const char *s) {
  pbe_bytes(e, field, s, strlen(s));
}

/* Appends `sub` as a length-delimited field and frees it. */
static inline void pbe_msg(pbe *e, uint32_t field, pbe *sub) {
  pbe_bytes(e, field, sub->b, sub->n);
  pbe_free(sub);
}

static inline void pbe_packed_ints(pbe *e, uint32_t field, const int64_t *v,
                                   size_t n) {
  pbe p = {0};
  for (size_t i = 0; i < n; i++) pbe_varint(&p, (uint64_t)v[i]);
  pbe_msg(e, field, &p);
}

static inline void pbe_packed_f32(pbe *e, uint32_t field, const float *v,
                                  size_t n) {
  pbe_bytes(e, field, v, n * sizeof(float));
}

static inline void pbe_packed_f64(pbe *e, uint32_t field, const double *v,
                                  size_t n) {
  pbe_bytes(e, field, v, n * sizeof(double));
}

#endif
