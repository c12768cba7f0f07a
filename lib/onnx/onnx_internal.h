/* Pieces shared by the files of lib/onnx; not for use outside it. */
#ifndef QI_ONNX_INTERNAL_H
#define QI_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"
#include "onnx/pb.h"

/* ONNX TensorProto.DataType as text, for messages ("bfloat16", "dtype 99"
 * for unknown numbers; buf is used only for those). */
const char *qi_onnx_dtype_text(int64_t onnx_type, char *buf, size_t len);
/* 1 if the ONNX element type is one qinfer holds (a qi_dtype). */
int qi_onnx_dtype_supported(int64_t onnx_type);

/* Copies the payload of LEN field f into a new NUL-terminated string;
 * fails on an embedded NUL byte. `field` names it in errors. */
qi_status qi_onnx_str(const uint8_t *buf, const qi_pb_field *f,
                      const char *field, char **out, qi_error *err);

/* Reads the TensorProto held in LEN field f of buf into *out (all fields
 * set; name NULL if absent). `what` names its role in errors, e.g.
 * "initializer" or "attribute 'value' of node 'c1'". */
qi_status qi_onnx_read_tensor(const uint8_t *buf, const qi_pb_field *f,
                              const char *base_dir, const char *what,
                              qi_tensor *out, qi_error *err);
/* Frees what qi_onnx_read_tensor allocated and zeroes the pointers. */
void qi_onnx_tensor_clear(qi_tensor *t);

/* Reads the AttributeProto in LEN field f into *a (zeroed by the caller).
 * `node` names the node in errors. On failure *a may hold allocations:
 * release them with qi_onnx_attr_clear. */
qi_status qi_onnx_read_attr(const uint8_t *buf, const qi_pb_field *f,
                            const char *base_dir, const char *node,
                            qi_attr *a, qi_error *err);
void qi_onnx_attr_clear(qi_attr *a);

/* For a Constant node: moves the value held by attribute `a` (value,
 * value_float(s), value_int(s)) into the dtype, shape and data of `t`. */
qi_status qi_onnx_constant_take(qi_attr *a, const char *node, qi_tensor *t,
                                qi_error *err);

/* Open-addressing hash from names to indices. The names themselves live
 * elsewhere (tensor or node names); name_of returns the one for an index. */
typedef const char *(*qi_name_of_fn)(const void *owner, int idx);
typedef struct qi_name_slot {
  uint32_t hash;
  int idx;  /* -1: empty */
} qi_name_slot;
typedef struct qi_name_map {
  qi_name_slot *slots;
  size_t cap, count;
  qi_name_of_fn name_of;
  const void *owner;
} qi_name_map;

/* Returns 0, or -1 when out of memory. */
int qi_name_map_init(qi_name_map *m, qi_name_of_fn name_of,
                     const void *owner, size_t expected);
void qi_name_map_free(qi_name_map *m);
/* Index of the name s[0, len), or -1. */
int qi_name_map_find(const qi_name_map *m, const char *s, size_t len);
/* Adds index idx under the name name_of(idx); returns 0, -1 on no memory. */
int qi_name_map_add(qi_name_map *m, int idx);

#endif
