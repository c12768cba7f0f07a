/* The .qnf reader on crafted files: one field of the sample graph's file
 * changed, checksums fixed up, and the exact error expected: huge counts and
 * sizes (refused as QI_ERR_PARSE before any allocation: an attempt to
 * allocate them would fail as QI_ERR_NOMEM or trip ASan), data types, kinds,
 * ranks, dims, element counts against data sizes, data blocks, string
 * lengths and NULs, quantization, tensor indices, attribute types and
 * parts, precision, node order; and the header and section table (section
 * count, bounds, alignment, overlap, padding, duplicates, missing, unknown
 * flags, file size). Field positions come from a walker written from
 * docs/format.md, independent of the reader. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"
#include "qnf_test_util.h"
#include "qtest.h"

/* File offsets of the fields of one tensor, attribute or node record. */
typedef struct tfields {
  size_t name, dtype, kind, rank, dims, flags, data_off, data_size, has, axis,
      nscales;
} tfields;
typedef struct afields {
  size_t name, type, present, n;
  tfields t;
} afields;
typedef struct nfields {
  size_t name, precision, flags, nin, in, out;
  int nattr;
  afields a[12];
} nfields;
typedef struct walk {
  size_t tens, node, grph, table; /* section payloads; the table */
  size_t node_end;
  int ntensors, nnodes;
  tfields t[16];
  nfields n[4];
  size_t g_name, g_ninputs, g_inputs, g_noutputs, g_outputs;
} walk;

static size_t skip_str(const uint8_t *b, size_t p) {
  uint32_t n = qnf_t_le32(b + p);
  return p + 4 + (n == 0xffffffffu ? 0 : n);
}

static size_t walk_tensor(const uint8_t *b, size_t p, tfields *f) {
  f->name = p;
  p = skip_str(b, p);
  f->dtype = p, f->kind = p + 4, f->rank = p + 8, f->dims = p + 12;
  int32_t rank = (int32_t)qnf_t_le32(b + f->rank);
  p += 12 + 8 * (size_t)(rank > 0 ? rank : 0);
  f->flags = p;
  p += 4;
  if (qnf_t_le32(b + f->flags) & 1)
    f->data_off = p, f->data_size = p + 8, p += 16;
  f->has = p, f->axis = p + 12, f->nscales = p + 16;
  return p + 20 + 4 * (size_t)qnf_t_le32(b + f->nscales);
}

static size_t walk_attr(const uint8_t *b, size_t p, afields *a) {
  a->name = p;
  p = skip_str(b, p);
  a->type = p, a->present = p + 4, a->n = p + 20;
  uint32_t present = qnf_t_le32(b + a->present);
  size_t n = qnf_t_le32(b + a->n);
  p += 24;
  if (present & 1) p = skip_str(b, p);
  if (present & 2) p += 8 * n;
  if (present & 4) p += 4 * n;
  for (size_t k = 0; (present & 8) && k < n; k++) p = skip_str(b, p);
  if (present & 16) p = walk_tensor(b, p, &a->t);
  return p;
}

static void walk_file(const uint8_t *b, walk *w) {
  memset(w, 0, sizeof *w);
  qnf_sec secs[8];
  int n = qnf_sections(b, secs, 8);
  w->table = 64;
  for (int i = 0; i < n; i++) {
    size_t off = (size_t)(secs[i].payload - b);
    if (secs[i].type == QNF_SEC_TENSORS) w->tens = off;
    if (secs[i].type == QNF_SEC_NODES) w->node = off;
    if (secs[i].type == QNF_SEC_NODES) w->node_end = off + (size_t)secs[i].size;
    if (secs[i].type == QNF_SEC_GRAPH) w->grph = off;
  }
  w->ntensors = (int)qnf_t_le32(b + w->tens);
  size_t p = w->tens + 4;
  for (int i = 0; i < w->ntensors && i < 16; i++)
    p = walk_tensor(b, p, &w->t[i]);
  w->nnodes = (int)qnf_t_le32(b + w->node);
  p = w->node + 4;
  for (int i = 0; i < w->nnodes && i < 4; i++) {
    nfields *f = &w->n[i];
    f->name = p;
    p = skip_str(b, skip_str(b, skip_str(b, p)));
    f->precision = p, f->flags = p + 4, f->nin = p + 8, f->in = p + 12;
    p = f->in + 4 * (size_t)qnf_t_le32(b + f->nin);
    f->out = p + 4;
    p = f->out + 4 * (size_t)qnf_t_le32(b + p);
    f->nattr = (int)qnf_t_le32(b + p);
    p += 4;
    for (int k = 0; k < f->nattr && k < 12; k++) p = walk_attr(b, p, &f->a[k]);
  }
  w->g_name = w->grph + 16;
  w->g_ninputs = skip_str(b, w->g_name);
  w->g_inputs = w->g_ninputs + 4;
  w->g_noutputs = w->g_inputs + 4 * (size_t)qnf_t_le32(b + w->g_ninputs);
  w->g_outputs = w->g_noutputs + 4;
}

typedef struct edit {
  size_t at;
  int width; /* 1, 4 or 8 bytes */
  uint64_t value;
  qi_status want;
  const char *msg1, *msg2; /* both in the message (NULL: not checked) */
} edit;

static void check_edit(qt_state *st, const uint8_t *orig, size_t len,
                       const edit *ed, int index, int reseal) {
  uint8_t *f = malloc(len);
  memcpy(f, orig, len);
  if (ed->width == 1) f[ed->at] = (uint8_t)ed->value;
  if (ed->width == 4) qnf_t_put32(f + ed->at, (uint32_t)ed->value);
  if (ed->width == 8) qnf_t_put64(f + ed->at, ed->value);
  if (reseal) qnf_reseal(f, len);
  qi_graph *g = NULL;
  qi_error e = {0};
  qi_status s = qi_qnf_read(f, len, &g, &e);
  const char *m = s ? e.message : "";
  QT_CHECKF(st,
            s == ed->want && (s == QI_OK) == (g != NULL) &&
                (!ed->msg1 || strstr(m, ed->msg1)) &&
                (!ed->msg2 || strstr(m, ed->msg2)),
            "edit %d (byte %zu = %llu): status %d, '%s'; expected %d with "
            "'%s' and '%s'",
            index, ed->at, (unsigned long long)ed->value, s, m, ed->want,
            ed->msg1 ? ed->msg1 : "", ed->msg2 ? ed->msg2 : "");
  qi_graph_free(g);
  free(f);
}

#define PARSE QI_ERR_PARSE
#define U32MAX 0xffffffffull

static void test_crafted_fields(qt_state *st) {
  qi_graph *g = qnf_sample_graph();
  uint8_t *b = NULL;
  size_t len = 0;
  qi_error e;
  QT_CHECK(st, qi_qnf_write_memory(g, &b, &len, &e) == QI_OK);
  if (!b) return;
  walk w;
  walk_file(b, &w);
  /* The walker agrees with the graph it walks. */
  QT_CHECK(st, w.ntensors == 12 && w.nnodes == 4 && g->ntensors == 12);
  QT_CHECK(st, qnf_t_le32(b + w.t[1].name) == 1 && b[w.t[1].name + 4] == 'w');
  QT_CHECK(st, qnf_t_le32(b + w.n[0].nin) == 3 && w.n[0].nattr == 10);
  QT_CHECK(st, qnf_t_le32(b + w.n[0].a[3].t.rank) == 1);
  QT_CHECK(st, qnf_t_le32(b + w.g_noutputs) == 2);
  const tfields *x = &w.t[0], *wt = &w.t[1], *bt = &w.t[2];
  const nfields *c = &w.n[0];
  const edit edits[] = {
      /* TENS */
      {w.tens, 4, U32MAX, PARSE, "section 'TENS'",
       "tensor count is 4294967295, more than"},
      {w.tens, 4, 0x7fffffff, PARSE, "section 'TENS'",
       "tensor count is 2147483647"},
      {w.tens, 4, 13, PARSE, "section 'TENS'", "needs"},
      {w.tens, 4, 11, PARSE, "section 'TENS'", "bytes after the last record"},
      {x->name, 4, 0xfffffffe, PARSE, "section 'TENS'",
       "tensor name needs 4294967294 bytes"},
      {x->name, 4, U32MAX, PARSE, "section 'TENS'",
       "tensor name may not be absent"},
      {x->name + 4, 1, 0, PARSE, "section 'TENS'", "NUL byte"},
      {x->dtype, 4, 4, PARSE, "section 'TENS'", "data type 4"},
      {x->dtype, 4, 99, PARSE, "section 'TENS'", "data type 99"},
      {x->dtype, 4, U32MAX, PARSE, "section 'TENS'", "data type -1"},
      {x->kind, 4, 2, PARSE, "section 'TENS'", "kind 2"},
      {x->kind, 4, 1, PARSE, "tensor 0 'x'",
       "is a constant with unknown dim 2"},
      {x->rank, 4, 9, PARSE, "section 'TENS'", "rank 9"},
      {x->rank, 4, (uint32_t)-2, PARSE, "section 'TENS'", "rank -2"},
      {x->dims + 16, 8, (uint64_t)-2, PARSE, "tensor 0 'x'", "dim 2 = -2"},
      {x->dims + 16, 8, 1ull << 61, PARSE, "tensor 0 'x'", "more than 2^59"},
      {x->dims + 16, 8, 1ull << 50, QI_OK, NULL, NULL},
      {wt->dims, 8, (uint64_t)-5, PARSE, "tensor 1 'w'", "dim 0 = -5"},
      {wt->dims, 8, 5, PARSE, "tensor 1 'w'",
       "holds 12 bytes of data, but 15 elements"},
      {wt->dims, 8, 1ull << 62, PARSE, "tensor 1 'w'", "more than 2^59"},
      {wt->flags, 4, 3, PARSE, "section 'TENS'", "unknown flags 0x3"},
      {wt->data_off, 8, 1, PARSE, "section 'TENS'", "not 64-byte aligned"},
      {wt->data_size, 8, 1ull << 63, PARSE, "section 'TENS'",
       "beyond the DATA section"},
      {wt->data_size, 8, U32MAX * 64, PARSE, "section 'TENS'",
       "beyond the DATA section"},
      {bt->data_off, 8, 0, PARSE, "section 'TENS'",
       "overlaps the previous block"},
      {wt->has, 4, 2, PARSE, "tensor 1 'w'", "quantization flag 2"},
      {wt->axis, 4, 8, PARSE, "tensor 1 'w'", "quantization axis 8"},
      {wt->axis, 4, 3, PARSE, "tensor 1 'w'",
       "4 per-channel scales along axis 3 of size 1"},
      {wt->nscales, 4, U32MAX, PARSE, "section 'TENS'",
       "scale count is 4294967295"},
      {wt->nscales, 4, 0x40000000, PARSE, "section 'TENS'",
       "scale count is 1073741824"},
      {bt->name + 4, 1, 'w', PARSE, "qnf: graph", "two tensors are named 'w'"},
      {w.t[3].dtype, 4, 0, PARSE, "tensor 3 'empty'",
       "is a constant of type undefined"},
      {w.t[5].dtype, 4, 1, PARSE, "tensor 5 'half'",
       "holds 6 bytes of data, but 3 elements of float32 need 12"},
      /* NODE */
      {w.node, 4, U32MAX, PARSE, "section 'NODE'", "node count is 4294967295"},
      {c->name, 4, U32MAX, PARSE, "section 'NODE'",
       "node name may not be absent"},
      {c->precision, 4, 3, PARSE, "section 'NODE'", "precision 3"},
      {c->flags, 4, 2, PARSE, "section 'NODE'", "flags 0x2"},
      {c->nin, 4, 0x7fffffff, PARSE, "section 'NODE'",
       "input count is 2147483647"},
      {c->in, 4, 12, PARSE, "section 'NODE'",
       "input 0 is tensor 12; the graph has 12"},
      {c->in, 4, (uint32_t)-2, PARSE, "section 'NODE'", "input 0 is tensor -2"},
      {c->out, 4, 999, PARSE, "section 'NODE'", "output 0 is tensor 999"},
      {c->out + 4, 4, 0x10000000, PARSE, "section 'NODE'",
       "attribute count is 268435456"},
      {c->a[0].name, 4, U32MAX, PARSE, "section 'NODE'",
       "attribute name may not be absent"},
      {c->a[0].type, 4, 0, PARSE, "section 'NODE'", "type 0 and parts"},
      {c->a[0].type, 4, 9, PARSE, "section 'NODE'", "type 9 and parts"},
      {c->a[0].present, 4, 0x20, PARSE, "section 'NODE'", "parts 0x20"},
      {c->a[5].n, 4, 0x7ffffff0, PARSE, "section 'NODE'",
       "declares 2147483632 values"},
      {c->a[5].n, 4, U32MAX, PARSE, "section 'NODE'", "declares -1 values"},
      {c->a[6].n, 4, (w.node_end - c->a[6].n - 4) / 4, PARSE, "section 'NODE'",
       "attribute ints needs"},
      {c->a[4].type, 4, QI_ATTR_STRING, PARSE, "section 'NODE'",
       "'body' lacks the value of its type"},
      {c->a[4].type, 4, QI_ATTR_INTS, QI_OK, NULL,
       NULL}, /* no values, none needed */
      {c->a[3].t.rank, 4, 9, PARSE, "section 'NODE'", "rank 9"},
      {c->a[3].t.dtype, 4, QI_FLOAT32, PARSE, "attribute tensor",
       "holds 16 bytes of data"},
      {c->a[3].t.data_off, 8, 0, PARSE, "attribute tensor",
       "overlaps the previous block"},
      {c->a[3].t.name, 4, 0, QI_OK, NULL, NULL}, /* an empty name is fine */
      {c->a[2].present, 4, 0, PARSE, "section 'NODE'", NULL},
      {c->in, 4, 9, PARSE, "qnf: graph: node 0 'conv0' reads tensor 'z'",
       "earlier node"},
      {w.n[1].out + 8, 4, 8, PARSE, "node 1 'custom' writes tensor 'y'",
       "already produced"},
      {w.n[1].out, 4, 1, PARSE, "node 1 'custom' writes tensor 'w'",
       "a constant"},
      {w.n[2].in, 4, 11, PARSE, "node 2 'dead one' reads tensor",
       "earlier node"},
      /* GRPH */
      {w.g_name + 5, 1, 0, PARSE, "section 'GRPH'", "graph name holds a NUL"},
      {w.g_name, 4, U32MAX, QI_ERR_PARSE, "section 'GRPH'", NULL},
      {w.g_ninputs, 4, U32MAX, PARSE, "section 'GRPH'",
       "graph input count is 4294967295"},
      {w.g_inputs, 4, U32MAX, PARSE, "section 'GRPH'",
       "graph input 0 is tensor -1"},
      {w.g_outputs, 4, 12, PARSE, "section 'GRPH'",
       "graph output 0 is tensor 12"},
      {w.g_noutputs, 4, 3, PARSE, "section 'GRPH'", "graph output count is 3"},
      {w.g_outputs, 4, 3, QI_OK, NULL, NULL},       /* a constant as output */
      {w.grph, 8, (uint64_t)-1, QI_OK, NULL, NULL}, /* any opset */
      {w.n[1].out, 4, 0, PARSE, "node 1 'custom' writes tensor 'x'",
       "graph input"},
  };
  int n = (int)(sizeof edits / sizeof edits[0]);
  for (int i = 0; i < n; i++) check_edit(st, b, len, &edits[i], i, 1);
  printf("  %d field edits\n", n);
  free(b);
  qi_graph_free(g);
}

static void test_crafted_layout(qt_state *st) {
  qi_graph *g = qnf_sample_graph();
  uint8_t *b = NULL;
  size_t len = 0;
  qi_error e;
  QT_CHECK(st, qi_qnf_write_memory(g, &b, &len, &e) == QI_OK);
  if (!b) return;
  qnf_sec secs[8];
  int nsec = qnf_sections(b, secs, 8);
  QT_CHECK(st, nsec == 4 && secs[0].type == QNF_SEC_GRAPH &&
                   secs[3].type == QNF_SEC_DATA);
  size_t e0 = 64, e1 = 96, s0 = (size_t)(secs[0].payload - b);
  size_t s0_end = s0 + (size_t)secs[0].size;
  const edit edits[] = {
      {QNF_H_SECTION_COUNT, 4, 0, PARSE, "header", "0 sections"},
      {QNF_H_SECTION_COUNT, 4, 300, PARSE, "header", "300 sections"},
      {QNF_H_SECTION_COUNT, 4, U32MAX, PARSE, "header", "4294967295 sections"},
      {QNF_H_SECTION_COUNT, 4, 5, PARSE, "section table entry 0", "overlap"},
      {e0 + QNF_E_OFFSET, 8, s0 + 8, PARSE, "entry 0", "64-byte aligned"},
      {e0 + QNF_E_OFFSET, 8, 0, PARSE, "entry 0", "overlap"},
      {e0 + QNF_E_SIZE, 8, 1ull << 62, PARSE, "entry 0", "beyond the file"},
      {e0 + QNF_E_SIZE, 8, (uint64_t)-64, PARSE, "entry 0", "beyond the file"},
      {e1 + QNF_E_OFFSET, 8, s0, PARSE, "entry 1", "overlap"},
      {e0 + QNF_E_OFFSET, 8, (uint64_t)-64, PARSE, "entry 0",
       "beyond the file"},
      {e0 + QNF_E_RESERVED, 4, 1, PARSE, "entry 0", "nonzero reserved"},
      {e0 + QNF_E_TYPE, 4, QNF_FOURCC('A', 'B', 'C', 'D'), QI_ERR_UNSUPPORTED,
       "'ABCD' is unknown to this reader and not marked skippable", NULL},
      {e0 + QNF_E_TYPE, 4, 0x01020304, QI_ERR_UNSUPPORTED, "'0x01020304'",
       NULL},
      {e0 + QNF_E_FLAGS, 4, 2, PARSE, "'GRPH' has unknown flags", NULL},
      {e0 + QNF_E_FLAGS, 4, QNF_SEC_MAY_SKIP, QI_OK, NULL, NULL},
      {e1 + QNF_E_TYPE, 4, QNF_SEC_GRAPH, PARSE, "'GRPH' appears twice", NULL},
      {QNF_H_FLAGS, 4, 1, PARSE, "header", "differ from version 1.x"},
      {QNF_H_HEADER_SIZE, 4, 128, PARSE, "header", "differ from version 1.x"},
      {QNF_H_ENTRY_SIZE, 4, 48, PARSE, "header", "differ from version 1.x"},
      {QNF_H_TABLE_OFFSET, 8, 128, PARSE, "header", "differ from version 1.x"},
      {QNF_H_RESERVED + 2, 1, 1, PARSE, "header", "differ from version 1.x"},
      {QNF_H_FILE_SIZE, 8, len + 1, PARSE, "header", "truncated"},
      {QNF_H_FILE_SIZE, 8, len - 1, PARSE, "header", "trailing bytes"},
      {QNF_H_MAJOR, 4, 0x0001ffffu, QI_ERR_UNSUPPORTED, "version 65535.1",
       NULL},
      {QNF_H_MAJOR, 4, 0x00090001u, QI_OK, NULL, NULL}, /* version 1.9 */
  };
  int n = (int)(sizeof edits / sizeof edits[0]);
  for (int i = 0; i < n; i++) check_edit(st, b, len, &edits[i], i, 1);
  /* Unsealed: the checksums catch the edit. */
  const edit unsealed[] = {
      {QNF_H_FILE_SIZE, 8, len, QI_OK, NULL, NULL},
      {QNF_H_FILE_SIZE + 7, 1, 1, PARSE,
       "header, file byte 60: checksum mismatch", NULL},
      {e0 + QNF_E_SIZE, 1, 0, PARSE,
       "section table, file bytes 64..192: checksum", NULL},
      {s0 + 3, 1, 0xee, PARSE, "section 'GRPH', file bytes",
       "checksum mismatch"},
      {s0_end, 1, 1, PARSE, "padding before section 'TENS'", NULL},
  };
  for (int i = 0; i < 5; i++) check_edit(st, b, len, &unsealed[i], 100 + i, 0);

  /* Rebuilt files: sections reordered, duplicated, missing, trailing. */
  qnf_sec mod[8];
  size_t flen;
  qi_graph *r = NULL;
  char why[600];
  const int order[4] = {3, 2, 0, 1};
  for (int i = 0; i < 4; i++) mod[i] = secs[order[i]];
  uint8_t *f = qnf_build(mod, 4, 1, 0, &flen);
  QT_CHECKF(st, qi_qnf_read(f, flen, &r, &e) == QI_OK, "reordered: %s",
            e.message);
  QT_CHECKF(st, r && qnf_graph_eq(g, r, why, sizeof why), "%s", why);
  qi_graph_free(r);
  free(f);
  memcpy(mod, secs, sizeof secs);
  mod[4] = secs[1];
  f = qnf_build(mod, 5, 1, 0, &flen);
  QT_CHECK(st, qi_qnf_read(f, flen, &r, &e) == PARSE &&
                   strstr(e.message, "'TENS' appears twice"));
  free(f);
  for (int drop = 0; drop < 4; drop++) {
    int k = 0;
    for (int i = 0; i < 4; i++)
      if (i != drop) mod[k++] = secs[i];
    f = qnf_build(mod, 3, 1, 0, &flen);
    char name[12], want[40];
    qnf_type_name(secs[drop].type, name);
    snprintf(want, sizeof want, "no '%s' section", name);
    QT_CHECKF(st,
              qi_qnf_read(f, flen, &r, &e) == PARSE && strstr(e.message, want),
              "%s", e.message);
    free(f);
  }
  /* GRPH with 4 zero bytes more: not all of the section was read. */
  memcpy(mod, secs, sizeof secs);
  uint8_t *grown = calloc((size_t)secs[0].size + 4, 1);
  memcpy(grown, secs[0].payload, (size_t)secs[0].size);
  mod[0].payload = grown;
  mod[0].size += 4;
  f = qnf_build(mod, 4, 1, 0, &flen);
  QT_CHECK(st, qi_qnf_read(f, flen, &r, &e) == PARSE &&
                   strstr(e.message, "section 'GRPH'") &&
                   strstr(e.message, "4 bytes after the last record"));
  free(f);
  free(grown);
  /* Zero bytes after the last section are padding; others are damage. */
  uint8_t *longer = calloc(len + 100, 1);
  memcpy(longer, b, len);
  qnf_t_put64(longer + QNF_H_FILE_SIZE, len + 100);
  qnf_reseal(longer, len + 100);
  QT_CHECKF(st, qi_qnf_read(longer, len + 100, &r, &e) == QI_OK, "%s",
            e.message);
  qi_graph_free(r);
  longer[len + 99] = 1;
  QT_CHECK(st, qi_qnf_read(longer, len + 100, &r, &e) == PARSE &&
                   strstr(e.message, "after the last section are not zero"));
  free(longer);
  /* Not .qnf at all. */
  static const char *const junk[] = {"", "\x89QNF\r\n\x1a", "hello world",
                                     "\x89QNF\r\n\x1a\n\x01"};
  for (int i = 0; i < 4; i++) {
    size_t jl = strlen(junk[i]) + (i == 3);
    qi_status s = qi_qnf_read((const uint8_t *)junk[i], jl, &r, &e);
    QT_CHECKF(st,
              s == PARSE && !r &&
                  strstr(e.message, i == 3 ? "truncated" : "bad magic"),
              "junk %d: %s", i, e.message);
  }
  free(b);
  qi_graph_free(g);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_crafted_fields);
  QT_RUN(&st, test_crafted_layout);
  return qt_summary(&st);
}
