/* ONNX importer on hand-built protobuf bytes, part 1: the wire reader's
 * limits, every way a TensorProto holds data, external data, and the
 * fuzzer's corpus replayed. Graphs, nodes and attributes are in
 * test_onnx_graph.c, real models in test_onnx_models.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "onnx/onnx.h"
#include "onnx/pb.h"
#include "onnx_build.h"
#include "qtest.h"

/* ---- wire format ------------------------------------------------------- */

static void test_pb_varint(qt_state *st) {
  static const uint64_t vals[] = {0, 1, 127, 128, 300, 1ull << 35,
                                  (1ull << 63), UINT64_MAX};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    pbe e = {0};
    pbe_varint(&e, vals[i]);
    size_t pos = 0;
    uint64_t v = 0;
    QT_CHECK(st, qi_pb_read_varint(e.b, &pos, e.n, &v) == 0);
    QT_CHECK(st, v == vals[i] && pos == e.n);
    pos = 0;
    QT_CHECK(st, qi_pb_read_varint(e.b, &pos, e.n - 1, &v) == -1);
    pbe_free(&e);
  }
  /* 10th byte may carry bit 63 only; an 11th byte is never valid. */
  uint8_t bad10[10], bad11[11];
  memset(bad10, 0xff, sizeof bad10);
  bad10[9] = 0x02;
  memset(bad11, 0x80, sizeof bad11);
  bad11[10] = 0x00;
  size_t pos = 0;
  uint64_t v;
  QT_CHECK(st, qi_pb_read_varint(bad10, &pos, sizeof bad10, &v) == -2);
  pos = 0;
  QT_CHECK(st, qi_pb_read_varint(bad11, &pos, sizeof bad11, &v) == -2);
}

/* A valid float scalar tensor followed by `tail` bytes. */
static qi_status parse_with_tail(const uint8_t *tail, size_t n, qi_error *e) {
  pbe t = tensor_hdr("x", QI_FLOAT32, NULL, 0);
  pbe_f32(&t, T_FLOATS, 1.0f);
  pbe_raw(&t, tail, n);
  qi_tensor out;
  qi_status s = parse(&t, NULL, &out, e);
  if (s == QI_OK) tensor_free(&out);
  return s;
}

static void test_pb_wire_errors(qt_state *st) {
  qi_error e;
  /* Unknown fields of every valid wire type are skipped. */
  pbe u = {0};
  pbe_int(&u, 100, 5);
  pbe_f64(&u, 101, 1.0);
  pbe_str(&u, 102, "skip me");
  pbe_f32(&u, 103, 2.0f);
  pbe_int(&u, 536870911, 1); /* the largest field number */
  QT_CHECK(st, parse_with_tail(u.b, u.n, &e) == QI_OK);
  pbe_free(&u);

  const uint8_t group_start[] = {(104 << 3 | 3) & 0xff, 104 >> 5, 0};
  QT_CHECK(st, parse_with_tail(group_start, sizeof group_start, &e) ==
                   QI_ERR_PARSE && has(&e, "group"));
  const uint8_t group_end[] = {0x0c};  /* field 1, wire type 4 */
  QT_CHECK(st, parse_with_tail(group_end, 1, &e) == QI_ERR_PARSE &&
                   has(&e, "group"));
  const uint8_t wire6[] = {0x0e, 0}, wire7[] = {0x0f, 0};
  QT_CHECK(st, parse_with_tail(wire6, 2, &e) == QI_ERR_PARSE &&
                   has(&e, "wire type 6"));
  QT_CHECK(st, parse_with_tail(wire7, 2, &e) == QI_ERR_PARSE);
  const uint8_t field0[] = {0x00, 0x01};
  QT_CHECK(st, parse_with_tail(field0, 2, &e) == QI_ERR_PARSE &&
                   has(&e, "field number 0"));
  const uint8_t bigtag[] = {0xff, 0xff, 0xff, 0xff, 0x1f, 0};
  QT_CHECK(st, parse_with_tail(bigtag, sizeof bigtag, &e) == QI_ERR_PARSE);
  const uint8_t long_varint[] = {0xa0, 0x06, 0x80, 0x80, 0x80, 0x80, 0x80,
                                 0x80, 0x80, 0x80, 0x80, 0x80, 0x00};
  QT_CHECK(st, parse_with_tail(long_varint, sizeof long_varint, &e) ==
                   QI_ERR_PARSE && has(&e, "longer than 10"));
  const uint8_t trunc_varint[] = {0xa0, 0x06, 0x80};
  QT_CHECK(st, parse_with_tail(trunc_varint, 3, &e) == QI_ERR_PARSE &&
                   has(&e, "truncated varint"));
  const uint8_t trunc_f32[] = {0xa5, 0x06, 1, 2};
  QT_CHECK(st, parse_with_tail(trunc_f32, 4, &e) == QI_ERR_PARSE &&
                   has(&e, "fixed32"));
  const uint8_t trunc_f64[] = {0xa1, 0x06, 1, 2, 3, 4, 5, 6, 7};
  QT_CHECK(st, parse_with_tail(trunc_f64, 9, &e) == QI_ERR_PARSE &&
                   has(&e, "fixed64"));

  /* A length running past the end names field, byte and sizes. */
  pbe t = tensor_hdr("x", QI_FLOAT32, NULL, 0);
  size_t at = t.n;
  pbe_tag(&t, T_RAW, 2);
  pbe_varint(&t, 800);
  uint8_t twenty[20] = {0};
  pbe_raw(&t, twenty, sizeof twenty);
  qi_tensor out;
  char want[128];
  snprintf(want, sizeof want,
           "truncated length-delimited field 9 at byte %zu (needs 800 bytes, "
           "20 left)", at);
  QT_CHECKF(st, parse(&t, NULL, &out, &e) == QI_ERR_PARSE && has(&e, want),
            "%s", e.message);

  /* Packed fields: a varint cut at the end, floats not a multiple of 4. */
  t = tensor_hdr("x", QI_INT64, (const int64_t[]){2}, 1);
  const uint8_t cut[] = {0x01, 0x81};
  pbe_bytes(&t, T_INT64, cut, 2);
  QT_CHECK(st, parse(&t, NULL, &out, &e) == QI_ERR_PARSE &&
                   has(&e, "ends inside a varint"));
  t = tensor_hdr("x", QI_FLOAT32, (const int64_t[]){1}, 1);
  pbe_bytes(&t, T_FLOATS, "abcde", 5);
  QT_CHECK(st, parse(&t, NULL, &out, &e) == QI_ERR_PARSE &&
                   has(&e, "multiple of 4"));
  /* A known field with the wrong wire type. */
  t = tensor_hdr("x", 0, NULL, 0);
  pbe_str(&t, T_TYPE, "float");
  QT_CHECK(st, parse(&t, NULL, &out, &e) == QI_ERR_PARSE &&
                   has(&e, "data_type"));
}

/* ---- TensorProto ------------------------------------------------------- */

static void test_tensor_raw_vs_typed(qt_state *st) {
  qi_error e;
  qi_tensor t;
  const int64_t d23[] = {2, 3};
  const float f[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e-30f};
  for (int how = 0; how < 4; how++) {
    pbe p = tensor_hdr("f", QI_FLOAT32, d23, 2);
    if (how == 0) pbe_bytes(&p, T_RAW, f, sizeof f);
    if (how == 1) pbe_packed_f32(&p, T_FLOATS, f, 6);
    if (how == 2)
      for (int i = 0; i < 6; i++) pbe_f32(&p, T_FLOATS, f[i]);
    if (how == 3) { /* repeated fields concatenate, packed or not */
      pbe_packed_f32(&p, T_FLOATS, f, 2);
      pbe_f32(&p, T_FLOATS, f[2]);
      pbe_packed_f32(&p, T_FLOATS, f + 3, 3);
    }
    QT_CHECKF(st, parse(&p, NULL, &t, &e) == QI_OK, "how %d: %s", how,
              e.message);
    QT_CHECKF(st, same(&t, QI_FLOAT32, d23, 2, f, sizeof f), "how %d", how);
    QT_CHECK(st, t.name && strcmp(t.name, "f") == 0);
    tensor_free(&t);
  }
  const int64_t i64[3] = {-1, INT64_MAX, INT64_MIN};
  const int64_t d3[] = {3};
  for (int how = 0; how < 3; how++) {
    pbe p = tensor_hdr("i", QI_INT64, d3, 1);
    if (how == 0) pbe_bytes(&p, T_RAW, i64, sizeof i64);
    if (how == 1) pbe_packed_ints(&p, T_INT64, i64, 3);
    if (how == 2)
      for (int i = 0; i < 3; i++) pbe_int(&p, T_INT64, i64[i]);
    QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
    QT_CHECKF(st, same(&t, QI_INT64, d3, 1, i64, sizeof i64), "how %d", how);
    tensor_free(&t);
  }
  const int32_t i32[3] = {-5, INT32_MAX, INT32_MIN};
  pbe p = tensor_hdr("i", QI_INT32, d3, 1);
  for (int i = 0; i < 3; i++) pbe_int(&p, T_INT32, i32[i]);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
  QT_CHECK(st, same(&t, QI_INT32, d3, 1, i32, sizeof i32));
  tensor_free(&t);
  const double dv[3] = {1.0 / 3, -2.5e300, 0};
  for (int how = 0; how < 3; how++) {
    p = tensor_hdr("d", QI_FLOAT64, d3, 1);
    if (how == 0) pbe_bytes(&p, T_RAW, dv, sizeof dv);
    if (how == 1) pbe_packed_f64(&p, T_DOUBLES, dv, 3);
    if (how == 2)
      for (int i = 0; i < 3; i++) pbe_f64(&p, T_DOUBLES, dv[i]);
    QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
    QT_CHECKF(st, same(&t, QI_FLOAT64, d3, 1, dv, sizeof dv), "how %d", how);
    tensor_free(&t);
  }
  /* A scalar has no dims and one element; an empty tensor has no data. */
  p = tensor_hdr(NULL, QI_FLOAT32, NULL, 0);
  pbe_f32(&p, T_FLOATS, 7.0f);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
  QT_CHECK(st, same(&t, QI_FLOAT32, NULL, 0, (float[]){7.0f}, 4));
  QT_CHECK(st, t.name == NULL);
  tensor_free(&t);
  const int64_t d20[] = {2, 0};
  p = tensor_hdr("e", QI_FLOAT32, d20, 2);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
  QT_CHECK(st, same(&t, QI_FLOAT32, d20, 2, "", 0));
  tensor_free(&t);
  /* bool raw bytes are normalized to 0/1. */
  p = tensor_hdr("b", QI_BOOL, d3, 1);
  pbe_bytes(&p, T_RAW, "\0\1\2", 3);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_OK);
  QT_CHECK(st, same(&t, QI_BOOL, d3, 1, "\0\1\1", 3));
  tensor_free(&t);
}

static void test_tensor_int32_narrow(qt_state *st) {
  qi_error e;
  qi_tensor t;
  const int64_t d4[] = {4};
  const int64_t u8[4] = {0, 1, 200, 255}, s8[4] = {-128, -1, 0, 127};
  const int64_t b[4] = {0, 1, 0, 1}, h[4] = {0x3c00, 0xc000, 0x7bff, 0xffff};
  const uint8_t u8b[4] = {0, 1, 200, 255}, bb[4] = {0, 1, 0, 1};
  const int8_t s8b[4] = {-128, -1, 0, 127};
  const uint16_t hb[4] = {0x3c00, 0xc000, 0x7bff, 0xffff};
  struct { qi_dtype dt; const int64_t *v; const void *want; size_t n; } c[] = {
      {QI_UINT8, u8, u8b, 4}, {QI_INT8, s8, s8b, 4}, {QI_BOOL, b, bb, 4},
      {QI_FLOAT16, h, hb, 8}};
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
    for (int packed = 0; packed < 2; packed++) {
      pbe p = tensor_hdr("n", c[k].dt, d4, 1);
      if (packed) pbe_packed_ints(&p, T_INT32, c[k].v, 4);
      else for (int i = 0; i < 4; i++) pbe_int(&p, T_INT32, c[k].v[i]);
      QT_CHECKF(st, parse(&p, NULL, &t, &e) == QI_OK, "%s", e.message);
      QT_CHECKF(st, same(&t, c[k].dt, d4, 1, c[k].want, c[k].n), "case %zu",
                k);
      tensor_free(&t);
    }
  }
  /* Values that do not fit the declared type are refused. */
  struct { qi_dtype dt; int64_t v; } bad[] = {
      {QI_UINT8, 256}, {QI_UINT8, -1}, {QI_INT8, 128}, {QI_INT8, -129},
      {QI_FLOAT16, 65536}, {QI_FLOAT16, -1}};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    pbe p = tensor_hdr("n", bad[k].dt, NULL, 0);
    pbe_int(&p, T_INT32, bad[k].v);
    QT_CHECKF(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE && has(&e, "fit"),
              "case %zu", k);
  }
}

static void test_tensor_errors(qt_state *st) {
  qi_error e;
  qi_tensor t;
  const int64_t d22[] = {2, 2}, d3[] = {3};
  pbe p = tensor_hdr("w", QI_FLOAT32, d22, 2);
  pbe_bytes(&p, T_RAW, "123456789012", 12);
  QT_CHECKF(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                    has(&e, "'w'") && has(&e, "raw_data") &&
                    has(&e, "12 bytes, expected 16"),
            "%s", e.message);
  p = tensor_hdr("w", QI_FLOAT32, d3, 1);
  pbe_packed_f32(&p, T_FLOATS, (float[]){1, 2}, 2);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                   has(&e, "2 values in float_data, expected 3"));
  p = tensor_hdr("w", QI_FLOAT32, d3, 1);
  pbe_packed_f32(&p, T_FLOATS, (float[]){1, 2, 3}, 3);
  pbe_bytes(&p, T_RAW, "123456789012", 12);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                   has(&e, "more than one"));
  p = tensor_hdr("w", QI_FLOAT32, d3, 1);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE);  /* no data */
  p = tensor_hdr("w", QI_FLOAT32, (const int64_t[]){-1}, 1);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE && has(&e, "negative"));
  p = tensor_hdr("w", QI_FLOAT32, d3, 1);
  pbe_packed_ints(&p, T_INT64, (int64_t[]){1, 2, 3}, 3);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                   has(&e, "int64_data"));
  p = tensor_hdr("w", QI_INT64, d3, 1);
  pbe_packed_ints(&p, T_UINT64, (int64_t[]){1, 2, 3}, 3);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                   has(&e, "uint64_data"));
  p = tensor_hdr("w", 0, d3, 1);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE && has(&e, "data_type"));
  p = tensor_hdr("s", 8, NULL, 0);
  pbe_str(&p, T_STRINGS, "hello");
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED);
  p = tensor_hdr("s", QI_FLOAT32, NULL, 0);
  pbe_str(&p, T_STRINGS, "hello");
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "string_data"));
  p = tensor_hdr("i16", 5, d3, 1);
  pbe_bytes(&p, T_RAW, "123456", 6);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "int16"));
  p = tensor_hdr("bf", 16, NULL, 0);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "bfloat16"));
  p = tensor_hdr("odd", 99, NULL, 0);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "dtype 99"));
  const int64_t d9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  p = tensor_hdr("r9", QI_FLOAT32, d9, 9);
  pbe_f32(&p, T_FLOATS, 1.0f);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "rank 9"));
  p = tensor_hdr("seg", QI_FLOAT32, NULL, 0);
  pbe s = {0};
  pbe_int(&s, 1, 0);
  pbe_msg(&p, 3, &s);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_UNSUPPORTED &&
                   has(&e, "segmented"));
  p = tensor_hdr("loc", QI_FLOAT32, NULL, 0);
  pbe_int(&p, T_LOCATION, 2);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE &&
                   has(&e, "data_location"));
  /* Declared sizes the bytes cannot back fail before any allocation. */
  const int64_t huge[] = {1ll << 20, 1ll << 20, 1ll << 10};
  p = tensor_hdr("huge", QI_FLOAT32, huge, 3);
  pbe_f32(&p, T_FLOATS, 1.0f);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE);
  const int64_t big[] = {1ll << 40, 1ll << 20};
  p = tensor_hdr("big", QI_FLOAT32, big, 2);
  pbe_bytes(&p, T_RAW, "1234", 4);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_PARSE);
  const int64_t over[] = {INT64_MAX, 2};
  p = tensor_hdr("over", QI_FLOAT32, over, 2);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_NOMEM);
  const int64_t over2[] = {1ll << 62};
  p = tensor_hdr("over2", QI_FLOAT32, over2, 1);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_NOMEM);
  /* External data needs a directory. */
  p = tensor_hdr("ext", QI_FLOAT32, NULL, 0);
  pbe_int(&p, T_LOCATION, 1);
  QT_CHECK(st, parse(&p, NULL, &t, &e) == QI_ERR_INVALID_ARG);
  QT_CHECK(st, qi_onnx_parse_tensor(NULL, 0, NULL, &t, &e) == QI_ERR_PARSE);
  QT_CHECK(st, qi_onnx_parse_tensor(NULL, 4, NULL, &t, &e) ==
                   QI_ERR_INVALID_ARG);
}

/* ---- external data ----------------------------------------------------- */

static void test_external_data(qt_state *st) {
  char dir[] = "/tmp/qi_onnx_XXXXXX";
  if (!mkdtemp(dir)) {
    QT_CHECK(st, !"mkdtemp failed");
    return;
  }
  char path[256], sub[256], path2[256];
  const float f[6] = {1, 2, 3, 4, 5, 6};
  uint8_t file[16 + sizeof f];
  memset(file, 0xee, 16);
  memcpy(file + 16, f, sizeof f);
  snprintf(path, sizeof path, "%s/w.bin", dir);
  snprintf(sub, sizeof sub, "%s/sub", dir);
  snprintf(path2, sizeof path2, "%s/sub/w2.bin", dir);
  write_file(path, file, sizeof file);
  mkdir(sub, 0700);
  write_file(path2, f, sizeof f);
  const int64_t d23[] = {2, 3};
  qi_error e;
  qi_tensor t;

  struct { const char *loc, *off, *len; qi_status want; const char *msg; }
  c[] = {
      {"w.bin", "16", "24", QI_OK, NULL},
      {"w.bin", "16", NULL, QI_OK, NULL},
      {"sub/w2.bin", NULL, NULL, QI_OK, NULL},
      {"./sub/w2.bin", "0", "24", QI_OK, NULL},
      {"w.bin", "20", "24", QI_ERR_PARSE, "cannot read"},
      {"w.bin", "99999999999", NULL, QI_ERR_PARSE, "cannot read"},
      {"w.bin", "16", "20", QI_ERR_PARSE, "length 20"},
      {"w.bin", "-1", NULL, QI_ERR_PARSE, "offset"},
      {"w.bin", "1x", NULL, QI_ERR_PARSE, "offset"},
      {"w.bin", "16", "", QI_ERR_PARSE, "length"},
      {"w.bin", NULL, NULL, QI_OK, NULL}, /* offset 0: see below */
      {path, "16", NULL, QI_ERR_PARSE, "relative"},
      {"../w.bin", NULL, NULL, QI_ERR_PARSE, "relative"},
      {"sub/../w.bin", "16", NULL, QI_ERR_PARSE, "relative"},
      {"..", NULL, NULL, QI_ERR_PARSE, "relative"},
      {"", NULL, NULL, QI_ERR_PARSE, "relative"},
      {"missing.bin", NULL, NULL, QI_ERR_IO, "cannot open"},
      {"sub", NULL, NULL, QI_ERR_IO, "regular file"},
      {NULL, "0", NULL, QI_ERR_PARSE, "location"},
  };
  for (size_t k = 0; k < sizeof c / sizeof c[0]; k++) {
    pbe p = ext_tensor(c[k].loc, c[k].off, c[k].len);
    qi_status s = parse(&p, dir, &t, &e);
    if (k == 10) {
      /* offset 0 reads the first 24 bytes, the 0xee header included */
      QT_CHECK(st, s == QI_OK && t.nbytes == 24 &&
                       memcmp(t.data, file, 24) == 0);
      if (s == QI_OK) tensor_free(&t);
      continue;
    }
    QT_CHECKF(st, s == c[k].want && (!c[k].msg || has(&e, c[k].msg)),
              "case %zu: status %d: %s", k, (int)s,
              s ? e.message : "ok");
    if (s == QI_OK) {
      QT_CHECK(st, same(&t, QI_FLOAT32, d23, 2, f, sizeof f));
      tensor_free(&t);
    }
  }
  /* External data together with raw_data is contradictory. */
  pbe p = ext_tensor("w.bin", "16", NULL);
  pbe_bytes(&p, T_RAW, f, sizeof f);
  QT_CHECK(st, parse(&p, dir, &t, &e) == QI_ERR_PARSE);
  /* A huge declared shape against a small file: refused, not allocated. */
  const int64_t huge[] = {1ll << 30, 1ll << 20};
  p = tensor_hdr("huge", QI_FLOAT32, huge, 2);
  pbe kv = {0};
  pbe_str(&kv, 1, "location");
  pbe_str(&kv, 2, "w.bin");
  pbe_msg(&p, T_EXTERNAL, &kv);
  pbe_int(&p, T_LOCATION, 1);
  QT_CHECK(st, parse(&p, dir, &t, &e) == QI_ERR_PARSE);

  /* Through a model: an external initializer. */
  pbe g = {0}, init = ext_tensor("w.bin", "16", "24");
  pbe_msg(&g, 5, &init);
  node1(&g, "Relu", "r", "ext", "y");
  value_info(&g, 12, "y", QI_FLOAT32, d23, 2);
  pbe m = model(13, &g);
  pbe m2 = {0};
  pbe_raw(&m2, m.b, m.n);
  qi_graph *gr;
  QT_CHECKF(st, import(&m, dir, &gr, &e) == QI_OK, "%s", e.message);
  if (gr) {
    int w = find(gr, "ext");
    QT_CHECK(st, w >= 0 && same(&gr->tensors[w], QI_FLOAT32, d23, 2, f,
                                sizeof f));
    qi_graph_free(gr);
  }
  QT_CHECK(st, import(&m2, NULL, &gr, &e) == QI_ERR_INVALID_ARG && !gr);
  unlink(path);
  unlink(path2);
  rmdir(sub);
  rmdir(dir);
}

/* Every file of the fuzzer's seed corpus, where inputs that once crashed
 * it are kept too (none so far: 4 million runs found nothing), must give a
 * clean outcome: a graph, or an error with a message and no graph. */
#define FUZZ_CORPUS "tests/fuzz/corpus/onnx"
#define MIN_CORPUS_FILES 10

static void test_fuzz_corpus(qt_state *st) {
  DIR *d = opendir(FUZZ_CORPUS);
  QT_CHECKF(st, d, "cannot open %s (run from the repo root)", FUZZ_CORPUS);
  if (!d) return;
  int nfiles = 0, imported = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char path[512];
    snprintf(path, sizeof path, "%s/%s", FUZZ_CORPUS, de->d_name);
    FILE *f = fopen(path, "rb");
    if (!f) continue;
    pbe buf = {0};
    uint8_t chunk[4096];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) pbe_raw(&buf, chunk, k);
    fclose(f);
    nfiles++;
    qi_graph *g;
    qi_error e;
    e.message[0] = '\0';
    qi_status s = qi_onnx_import(buf.b, buf.n, NULL, &g, &e);
    QT_CHECKF(st, s == QI_OK ? g != NULL : !g && e.message[0], "%s", path);
    imported += s == QI_OK;
    qi_graph_free(s == QI_OK ? g : NULL);
    qi_tensor t;
    if (qi_onnx_parse_tensor(buf.b, buf.n, NULL, &t, &e) == QI_OK)
      tensor_free(&t);
    pbe_free(&buf);
  }
  closedir(d);
  QT_CHECKF(st, nfiles >= MIN_CORPUS_FILES && imported > 0,
            "%d files, %d imported", nfiles, imported);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_pb_varint);
  QT_RUN(&st, test_pb_wire_errors);
  QT_RUN(&st, test_tensor_raw_vs_typed);
  QT_RUN(&st, test_tensor_int32_narrow);
  QT_RUN(&st, test_tensor_errors);
  QT_RUN(&st, test_external_data);
  QT_RUN(&st, test_fuzz_corpus);
  return qt_summary(&st);
}
