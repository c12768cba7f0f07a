/* AttributeProto, and the values of Constant nodes. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "onnx/onnx_internal.h"

/* AttributeProto field numbers; AttributeType values 1..8 equal qi_attr_type. */
enum {
  A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_G = 6, A_FLOATS = 7,
  A_INTS = 8, A_STRINGS = 9, A_TENSORS = 10, A_GRAPHS = 11, A_TP = 14,
  A_TYPE_PROTOS = 15, A_TYPE = 20, A_REF_ATTR_NAME = 21,
  A_SPARSE_TENSOR = 22, A_SPARSE_TENSORS = 23
};

static const char *const attr_type_names[] = {
    "UNDEFINED", "FLOAT", "INT", "STRING", "TENSOR", "GRAPH", "FLOATS",
    "INTS", "STRINGS", "TENSORS", "GRAPHS", "SPARSE_TENSOR", "SPARSE_TENSORS",
    "TYPE_PROTO", "TYPE_PROTOS"};

/* Fields found in the first pass. present[] is indexed by field number. */
typedef struct attr_scan {
  char present[A_SPARSE_TENSORS + 1];
  qi_pb_field name, s, t;
  uint32_t f_bits;
  uint64_t i;
  uint64_t type;
  size_t nfloats, nints, nstrings;
} attr_scan;

static qi_status scan_attr(const qi_pb *r, attr_scan *sc, qi_error *err) {
  qi_pb p = *r;
  qi_pb_field f;
  qi_pb_iter it;
  for (;;) {
    QI_TRY(qi_pb_next(&p, &f, err));
    if (!f.num) break;
    if (f.num <= A_SPARSE_TENSORS) sc->present[f.num] = 1;
    switch (f.num) {
      case A_NAME:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "AttributeProto.name", err));
        sc->name = f;
        break;
      case A_TYPE:
        QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "AttributeProto.type", err));
        sc->type = f.u;
        break;
      case A_F:
        QI_TRY(qi_pb_expect(&f, QI_PB_FIXED32, "AttributeProto.f", err));
        sc->f_bits = (uint32_t)f.u;
        break;
      case A_I:
        QI_TRY(qi_pb_expect(&f, QI_PB_VARINT, "AttributeProto.i", err));
        sc->i = f.u;
        break;
      case A_S:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "AttributeProto.s", err));
        sc->s = f;
        break;
      case A_T:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "AttributeProto.t", err));
        sc->t = f;
        break;
      case A_FLOATS:
        QI_TRY(qi_pb_iter_begin(&p, &f, QI_PB_FIXED32, "AttributeProto.floats",
                                &it, err));
        sc->nfloats += it.count;
        break;
      case A_INTS:
        QI_TRY(qi_pb_iter_begin(&p, &f, QI_PB_VARINT, "AttributeProto.ints",
                                &it, err));
        sc->nints += it.count;
        break;
      case A_STRINGS:
        QI_TRY(qi_pb_expect(&f, QI_PB_LEN, "AttributeProto.strings", err));
        sc->nstrings++;
        break;
      default:
        break;
    }
  }
  return QI_OK;
}

/* Old exporters leave `type` out: take it from the one value field set. */
static uint64_t infer_type(const attr_scan *sc, int *ambiguous) {
  static const struct { int field; uint64_t type; } map[] = {
      {A_F, 1}, {A_I, 2}, {A_S, 3}, {A_T, 4}, {A_G, 5}, {A_FLOATS, 6},
      {A_INTS, 7}, {A_STRINGS, 8}, {A_TENSORS, 9}, {A_GRAPHS, 10},
      {A_SPARSE_TENSOR, 11}, {A_SPARSE_TENSORS, 12}, {A_TP, 13},
      {A_TYPE_PROTOS, 14}};
  uint64_t type = 0;
  int n = 0;
  for (size_t k = 0; k < sizeof map / sizeof map[0]; k++)
    if (sc->present[map[k].field]) {
      type = map[k].type;
      n++;
    }
  *ambiguous = n > 1;
  return n == 1 ? type : 0;
}

/* A NUL-terminated copy of bytes that may hold NULs (a C reader then sees
 * the part before the first one). */
static char *copy_bytes(const uint8_t *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

/* Second pass: the elements of the repeated field `num` into a. */
static qi_status read_list(const qi_pb *r, int num, qi_attr *a,
                           const char *who, qi_error *err) {
  qi_pb p = *r;
  qi_pb_field f;
  qi_pb_iter it;
  int k = 0;
  for (;;) {
    QI_TRY(qi_pb_next(&p, &f, err));
    if (!f.num) break;
    if ((int)f.num != num) continue;
    if (num == A_STRINGS) {
      if (!(a->strings[k++] = copy_bytes(p.buf + f.off, f.len)))
        return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      continue;
    }
    QI_TRY(qi_pb_iter_begin(&p, &f, num == A_FLOATS ? QI_PB_FIXED32
                                                     : QI_PB_VARINT,
                            who, &it, err));
    for (size_t e = 0; e < it.count; e++, k++) {
      uint64_t v;
      QI_TRY(qi_pb_iter_next(&it, &v, err));
      if (num == A_FLOATS) {
        uint32_t b = (uint32_t)v;
        memcpy(&a->floats[k], &b, 4);
      } else {
        a->ints[k] = (int64_t)v;
      }
    }
  }
  return QI_OK;
}

static qi_status read_value(const qi_pb *r, const attr_scan *sc,
                            const char *base_dir, const char *who, qi_attr *a,
                            qi_error *err) {
  size_t count = a->type == QI_ATTR_FLOATS   ? sc->nfloats
                 : a->type == QI_ATTR_INTS   ? sc->nints
                 : a->type == QI_ATTR_STRINGS ? sc->nstrings
                                              : 0;
  if (count > INT_MAX)
    return qi_fail(err, QI_ERR_NOMEM, "onnx: %s has too many values", who);
  switch (a->type) {
    case QI_ATTR_FLOAT:
      memcpy(&a->f, &sc->f_bits, 4);
      return QI_OK;
    case QI_ATTR_INT:
      a->i = (int64_t)sc->i;
      return QI_OK;
    case QI_ATTR_STRING:
      a->s = copy_bytes(r->buf + sc->s.off, sc->s.len);
      if (!a->s) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      return QI_OK;
    case QI_ATTR_TENSOR:
      if (!sc->present[A_T])
        return qi_fail(err, QI_ERR_PARSE, "onnx: %s is a TENSOR without t",
                       who);
      a->t = calloc(1, sizeof *a->t);
      if (!a->t) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      return qi_onnx_read_tensor(r->buf, &sc->t, base_dir, who, a->t, err);
    case QI_ATTR_GRAPH:
      return QI_OK; /* only the type: no op with a subgraph runs here */
    case QI_ATTR_FLOATS:
      a->floats = malloc((count ? count : 1) * sizeof(float));
      if (!a->floats) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      a->n = (int)count;
      return read_list(r, A_FLOATS, a, who, err);
    case QI_ATTR_INTS:
      a->ints = malloc((count ? count : 1) * sizeof(int64_t));
      if (!a->ints) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      a->n = (int)count;
      return read_list(r, A_INTS, a, who, err);
    case QI_ATTR_STRINGS:
      a->strings = calloc(count ? count : 1, sizeof(char *));
      if (!a->strings) return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      a->n = (int)count;
      return read_list(r, A_STRINGS, a, who, err);
  }
  return qi_fail(err, QI_ERR_INTERNAL, "onnx: %s: bad attribute type", who);
}

qi_status qi_onnx_read_attr(const uint8_t *buf, const qi_pb_field *af,
                            const char *base_dir, const char *node,
                            qi_attr *a, qi_error *err) {
  qi_pb r = {buf, af->off, af->off + af->len};
  attr_scan sc;
  memset(&sc, 0, sizeof sc);
  QI_TRY(scan_attr(&r, &sc, err));
  if (!sc.present[A_NAME] || sc.name.len == 0)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: attribute at byte %zu of node '%s' has no name",
                   af->at, node);
  QI_TRY(qi_onnx_str(buf, &sc.name, "AttributeProto.name", &a->name, err));
  char who[400];
  snprintf(who, sizeof who, "attribute '%.100s' of node '%.200s' (byte %zu)",
           a->name, node, af->at);
  if (sc.present[A_REF_ATTR_NAME])
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "onnx: %s refers to a function attribute (ref_attr_name), "
                   "which only functions may do",
                   who);
  uint64_t type = sc.type;
  if (type == 0) {
    int ambiguous;
    type = infer_type(&sc, &ambiguous);
    if (!type)
      return qi_fail(err, QI_ERR_PARSE,
                     "onnx: %s has no type and %s", who,
                     ambiguous ? "more than one value field"
                               : "no value field");
  }
  if (type >= sizeof attr_type_names / sizeof attr_type_names[0])
    return qi_fail(err, QI_ERR_PARSE, "onnx: %s has unknown type %llu", who,
                   (unsigned long long)type);
  if (type > QI_ATTR_STRINGS)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "onnx: %s has type %s, which qinfer does not support", who,
                   attr_type_names[type]);
  a->type = (qi_attr_type)type;
  return read_value(&r, &sc, base_dir, who, a, err);
}

void qi_onnx_attr_clear(qi_attr *a) {
  free(a->name);
  free(a->s);
  free(a->ints);
  free(a->floats);
  if (a->strings)
    for (int i = 0; i < a->n; i++) free(a->strings[i]);
  free(a->strings);
  if (a->t) {
    qi_onnx_tensor_clear(a->t);
    free(a->t->quant.scales);
    free(a->t);
  }
  memset(a, 0, sizeof *a);
}

static void take(qi_tensor *t, qi_dtype dt, int rank, int64_t d0, void *data,
                 size_t nbytes) {
  t->dtype = dt;
  t->shape.rank = rank;
  t->shape.d[0] = d0;
  qi_tensor_set_const(t, data, nbytes);
}

qi_status qi_onnx_constant_take(qi_attr *a, const char *node, qi_tensor *t,
                                qi_error *err) {
  const char *n = a->name;
  qi_attr_type want = strcmp(n, "value") == 0          ? QI_ATTR_TENSOR
                      : strcmp(n, "value_float") == 0  ? QI_ATTR_FLOAT
                      : strcmp(n, "value_floats") == 0 ? QI_ATTR_FLOATS
                      : strcmp(n, "value_int") == 0    ? QI_ATTR_INT
                      : strcmp(n, "value_ints") == 0   ? QI_ATTR_INTS
                                                       : (qi_attr_type)0;
  if (!want) {
    if (strcmp(n, "value_string") == 0 || strcmp(n, "value_strings") == 0 ||
        strcmp(n, "sparse_value") == 0)
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "onnx: Constant node '%s' has a %s, which qinfer does "
                     "not support",
                     node, n);
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: Constant node '%s' has unknown attribute '%s'", node,
                   n);
  }
  if (a->type != want)
    return qi_fail(err, QI_ERR_PARSE,
                   "onnx: attribute '%s' of Constant node '%s' has type %s, "
                   "expected %s",
                   n, node, attr_type_names[a->type], attr_type_names[want]);
  void *d;
  switch (want) {
    case QI_ATTR_TENSOR:
      t->dtype = a->t->dtype;
      t->shape = a->t->shape;
      qi_tensor_set_const(t, a->t->data, a->t->nbytes);
      a->t->data = NULL;
      return QI_OK;
    case QI_ATTR_FLOAT:
    case QI_ATTR_INT:
      if (!(d = malloc(8)))
        return qi_fail(err, QI_ERR_NOMEM, "onnx: out of memory");
      if (want == QI_ATTR_FLOAT) {
        memcpy(d, &a->f, 4);
        take(t, QI_FLOAT32, 0, 0, d, 4);
      } else {
        memcpy(d, &a->i, 8);
        take(t, QI_INT64, 0, 0, d, 8);
      }
      return QI_OK;
    case QI_ATTR_FLOATS:
      take(t, QI_FLOAT32, 1, a->n, a->floats, (size_t)a->n * 4);
      a->floats = NULL;
      return QI_OK;
    default: /* QI_ATTR_INTS */
      take(t, QI_INT64, 1, a->n, a->ints, (size_t)a->n * 8);
      a->ints = NULL;
      return QI_OK;
  }
}
