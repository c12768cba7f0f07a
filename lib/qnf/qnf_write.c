/* .qnf writer. The records of the graph go into three small buffers (the
 * GRPH, TENS and NODE sections); constant data is not copied but listed as
 * blobs at 64-byte aligned offsets and streamed into the DATA section last,
 * so saving a large model needs no second copy of its weights. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"

typedef struct wbuf {
  uint8_t *p;
  size_t len, cap;
} wbuf;

typedef struct blob {
  const void *data;
  uint64_t off, size; /* offset within the DATA section */
} blob;

enum { SEC_GRAPH, SEC_TENSORS, SEC_NODES, SEC_DATA, NSEC };

typedef struct writer {
  wbuf meta[SEC_DATA]; /* payloads of GRPH, TENS, NODE */
  blob *blobs;
  size_t nblobs, cap_blobs;
  uint64_t data_size;
  int oom;
  const char *too_long; /* a string of 4 GiB or more */
  /* Layout of the file. */
  uint64_t off[NSEC], size[NSEC];
  uint32_t crc[NSEC];
  uint64_t file_size;
  uint8_t head[QNF_HEADER_SIZE + NSEC * QNF_ENTRY_SIZE];
} writer;

static const uint32_t k_section_types[NSEC] = {QNF_SEC_GRAPH, QNF_SEC_TENSORS,
                                               QNF_SEC_NODES, QNF_SEC_DATA};
static const uint8_t k_zeros[QNF_ALIGN];

static uint64_t align_up(uint64_t v) {
  return (v + QNF_ALIGN - 1) & ~(uint64_t)(QNF_ALIGN - 1);
}

static void wb_put(writer *w, wbuf *b, const void *d, size_t n) {
  if (w->oom || !n) return;
  if (n > b->cap - b->len) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc - b->len < n) {
      if (nc > SIZE_MAX / 2) {
        w->oom = 1;
        return;
      }
      nc *= 2;
    }
    uint8_t *p = realloc(b->p, nc);
    if (!p) {
      w->oom = 1;
      return;
    }
    b->p = p;
    b->cap = nc;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
}

static void wb_u32(writer *w, wbuf *b, uint32_t v) {
  uint8_t t[4];
  qnf_put32(t, v);
  wb_put(w, b, t, 4);
}
static void wb_i32(writer *w, wbuf *b, int32_t v) { wb_u32(w, b, (uint32_t)v); }
static void wb_u64(writer *w, wbuf *b, uint64_t v) {
  uint8_t t[8];
  qnf_put64(t, v);
  wb_put(w, b, t, 8);
}
static void wb_i64(writer *w, wbuf *b, int64_t v) { wb_u64(w, b, (uint64_t)v); }
static void wb_f32(writer *w, wbuf *b, float v) {
  uint32_t bits;
  memcpy(&bits, &v, 4);
  wb_u32(w, b, bits);
}
static void wb_str(writer *w, wbuf *b, const char *s) {
  if (!s) {
    wb_u32(w, b, QNF_STR_NULL);
    return;
  }
  size_t n = strlen(s);
  if (n >= QNF_STR_NULL) {
    w->too_long = s;
    return;
  }
  wb_u32(w, b, (uint32_t)n);
  wb_put(w, b, s, n);
}

static void add_blob(writer *w, const void *data, uint64_t size,
                     uint64_t *off) {
  *off = align_up(w->data_size);
  if (w->nblobs == w->cap_blobs) {
    size_t nc = w->cap_blobs ? w->cap_blobs * 2 : 64;
    blob *p = realloc(w->blobs, nc * sizeof *p);
    if (!p) {
      w->oom = 1;
      return;
    }
    w->blobs = p;
    w->cap_blobs = nc;
  }
  w->blobs[w->nblobs++] = (blob){data, *off, size};
  w->data_size = *off + size;
}

static void put_tensor(writer *w, wbuf *b, const qi_tensor *t) {
  wb_str(w, b, t->name);
  wb_i32(w, b, (int32_t)t->dtype);
  wb_i32(w, b, (int32_t)t->kind);
  wb_i32(w, b, t->shape.rank);
  for (int i = 0; i < t->shape.rank; i++) wb_i64(w, b, t->shape.d[i]);
  /* qnf_tensor_problem has made sure: data exactly for constants. */
  uint32_t flags = t->kind == QI_TK_CONST ? QNF_TENSOR_HAS_DATA : 0;
  wb_u32(w, b, flags);
  if (flags & QNF_TENSOR_HAS_DATA) {
    uint64_t off = 0;
    add_blob(w, t->data, t->nbytes, &off);
    wb_u64(w, b, off);
    wb_u64(w, b, t->nbytes);
  }
  const qi_quant *q = &t->quant;
  wb_i32(w, b, q->has);
  wb_f32(w, b, q->scale);
  wb_i32(w, b, q->zero_point);
  wb_i32(w, b, q->axis);
  wb_u32(w, b, (uint32_t)q->nscales);
  for (int i = 0; i < q->nscales; i++) wb_f32(w, b, q->scales[i]);
}

static void put_attr(writer *w, wbuf *b, const qi_attr *a) {
  uint32_t present =
      (a->s ? QNF_ATTR_HAS_S : 0) | (a->ints ? QNF_ATTR_HAS_INTS : 0) |
      (a->floats ? QNF_ATTR_HAS_FLOATS : 0) |
      (a->strings ? QNF_ATTR_HAS_STRINGS : 0) | (a->t ? QNF_ATTR_HAS_T : 0);
  wb_str(w, b, a->name);
  wb_i32(w, b, (int32_t)a->type);
  wb_u32(w, b, present);
  wb_i64(w, b, a->i);
  wb_f32(w, b, a->f);
  wb_i32(w, b, a->n);
  if (a->s) wb_str(w, b, a->s);
  if (a->ints)
    for (int k = 0; k < a->n; k++) wb_i64(w, b, a->ints[k]);
  if (a->floats)
    for (int k = 0; k < a->n; k++) wb_f32(w, b, a->floats[k]);
  if (a->strings)
    for (int k = 0; k < a->n; k++) wb_str(w, b, a->strings[k]);
  if (a->t) put_tensor(w, b, a->t);
}

static void put_node(writer *w, wbuf *b, const qi_node *n) {
  wb_str(w, b, n->name);
  wb_str(w, b, n->op_type);
  wb_str(w, b, n->domain);
  wb_i32(w, b, (int32_t)n->precision);
  wb_u32(w, b, n->dead ? QNF_NODE_DEAD : 0);
  wb_u32(w, b, (uint32_t)n->nin);
  for (int k = 0; k < n->nin; k++) wb_i32(w, b, n->in[k]);
  wb_u32(w, b, (uint32_t)n->nout);
  for (int k = 0; k < n->nout; k++) wb_i32(w, b, n->out[k]);
  wb_u32(w, b, (uint32_t)n->nattr);
  for (int k = 0; k < n->nattr; k++) put_attr(w, b, &n->attrs[k]);
}

static void put_graph(writer *w, wbuf *b, const qi_graph *g) {
  wb_i64(w, b, g->opset);
  wb_i64(w, b, g->ir_version);
  wb_str(w, b, g->name);
  wb_u32(w, b, (uint32_t)g->ninputs);
  for (int i = 0; i < g->ninputs; i++) wb_i32(w, b, g->inputs[i]);
  wb_u32(w, b, (uint32_t)g->noutputs);
  for (int i = 0; i < g->noutputs; i++) wb_i32(w, b, g->outputs[i]);
}

static uint32_t crc_zeros(uint32_t crc, uint64_t n) {
  for (; n > 0; n -= n < QNF_ALIGN ? n : QNF_ALIGN)
    crc = qnf_crc32c(crc, k_zeros, n < QNF_ALIGN ? (size_t)n : QNF_ALIGN);
  return crc;
}

/* Offsets, sizes and checksums of every section, then header and table. */
static void lay_out(writer *w) {
  uint64_t pos = align_up(QNF_HEADER_SIZE + NSEC * QNF_ENTRY_SIZE);
  for (int s = 0; s < NSEC; s++) {
    w->off[s] = pos;
    w->size[s] = s == SEC_DATA ? w->data_size : w->meta[s].len;
    pos = s == SEC_DATA ? pos + w->size[s] : align_up(pos + w->size[s]);
    if (s != SEC_DATA) w->crc[s] = qnf_crc32c(0, w->meta[s].p, w->meta[s].len);
  }
  w->file_size = pos;
  uint32_t crc = 0;
  uint64_t at = 0;
  for (size_t i = 0; i < w->nblobs; i++) {
    crc = crc_zeros(crc, w->blobs[i].off - at);
    crc = qnf_crc32c(crc, w->blobs[i].data, (size_t)w->blobs[i].size);
    at = w->blobs[i].off + w->blobs[i].size;
  }
  w->crc[SEC_DATA] = crc;

  uint8_t *h = w->head, *tab = w->head + QNF_HEADER_SIZE;
  memset(w->head, 0, sizeof w->head);
  for (int s = 0; s < NSEC; s++) {
    uint8_t *e = tab + s * QNF_ENTRY_SIZE;
    qnf_put32(e + QNF_E_TYPE, k_section_types[s]);
    qnf_put64(e + QNF_E_OFFSET, w->off[s]);
    qnf_put64(e + QNF_E_SIZE, w->size[s]);
    qnf_put32(e + QNF_E_CRC, w->crc[s]);
  }
  memcpy(h + QNF_H_MAGIC, QNF_MAGIC, QNF_MAGIC_SIZE);
  qnf_put16(h + QNF_H_MAJOR, QNF_VERSION_MAJOR);
  qnf_put16(h + QNF_H_MINOR, QNF_VERSION_MINOR);
  qnf_put32(h + QNF_H_HEADER_SIZE, QNF_HEADER_SIZE);
  qnf_put64(h + QNF_H_FILE_SIZE, w->file_size);
  qnf_put64(h + QNF_H_TABLE_OFFSET, QNF_HEADER_SIZE);
  qnf_put32(h + QNF_H_SECTION_COUNT, NSEC);
  qnf_put32(h + QNF_H_ENTRY_SIZE, QNF_ENTRY_SIZE);
  qnf_put32(h + QNF_H_TABLE_CRC,
            qnf_crc32c(0, tab, (size_t)NSEC * QNF_ENTRY_SIZE));
  qnf_put32(h + QNF_H_HEADER_CRC, qnf_crc32c(0, h, QNF_H_HEADER_CRC));
}

static void writer_free(writer *w) {
  for (int s = 0; s < SEC_DATA; s++) free(w->meta[s].p);
  free(w->blobs);
}

static int host_is_little_endian(void) {
  const uint16_t one = 1;
  uint8_t first;
  memcpy(&first, &one, 1);
  return first == 1;
}

/* Checks `g`, serialises its records and lays the file out. */
static qi_status prepare(const qi_graph *g, writer *w, qi_error *err) {
  memset(w, 0, sizeof *w);
  if (!g) return qi_fail(err, QI_ERR_INVALID_ARG, "qnf: no graph to save");
  if (!host_is_little_endian())
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qnf: saving needs a little-endian host");
  if (g->ntensors < 0 || g->nnodes < 0 || g->ninputs < 0 || g->noutputs < 0)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qnf: corrupt graph counts");
  char why[400];
  for (int i = 0; i < g->ntensors; i++)
    if (qnf_tensor_problem(&g->tensors[i], 0, why, sizeof why))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "qnf: cannot save tensor %d '%.200s': it %s", i,
                     g->tensors[i].name ? g->tensors[i].name : "(null)", why);
  for (int i = 0; i < g->nnodes; i++)
    if (qnf_node_problem(&g->nodes[i], g->ntensors, why, sizeof why))
      return qi_fail(err, QI_ERR_INVALID_ARG,
                     "qnf: cannot save node %d '%.200s': %s", i,
                     g->nodes[i].name ? g->nodes[i].name : "(null)", why);
  qi_status st = qnf_check_graph(g, "qnf: cannot save the graph", err);
  if (st != QI_OK) return st == QI_ERR_NOMEM ? st : QI_ERR_INVALID_ARG;

  put_graph(w, &w->meta[SEC_GRAPH], g);
  wb_u32(w, &w->meta[SEC_TENSORS], (uint32_t)g->ntensors);
  for (int i = 0; i < g->ntensors; i++)
    put_tensor(w, &w->meta[SEC_TENSORS], &g->tensors[i]);
  wb_u32(w, &w->meta[SEC_NODES], (uint32_t)g->nnodes);
  for (int i = 0; i < g->nnodes; i++)
    put_node(w, &w->meta[SEC_NODES], &g->nodes[i]);
  if (w->too_long)
    return qi_fail(err, QI_ERR_INVALID_ARG,
                   "qnf: cannot save a string of 4 GiB or more ('%.40s...')",
                   w->too_long);
  if (w->oom) return qi_fail(err, QI_ERR_NOMEM, "qnf: out of memory saving");
  lay_out(w);
  return QI_OK;
}

/* Where the bytes go: a buffer of file_size bytes, or a stream. */
typedef struct sink {
  uint8_t *mem;
  FILE *f;
  uint64_t pos;
  int failed;
} sink;

static void sink_put(sink *s, const void *d, uint64_t n) {
  if (s->failed || !n) return;
  if (s->mem)
    memcpy(s->mem + s->pos, d, (size_t)n);
  else if (fwrite(d, 1, (size_t)n, s->f) != (size_t)n)
    s->failed = 1;
  s->pos += n;
}

static void sink_pad_to(sink *s, uint64_t off) {
  while (s->pos < off && !s->failed) {
    uint64_t n = off - s->pos;
    sink_put(s, k_zeros, n < QNF_ALIGN ? n : QNF_ALIGN);
  }
}

static void emit(const writer *w, sink *s) {
  sink_put(s, w->head, sizeof w->head);
  for (int sec = 0; sec < SEC_DATA; sec++) {
    sink_pad_to(s, w->off[sec]);
    sink_put(s, w->meta[sec].p, w->meta[sec].len);
  }
  uint64_t base = w->off[SEC_DATA];
  sink_pad_to(s, base);
  for (size_t i = 0; i < w->nblobs; i++) {
    sink_pad_to(s, base + w->blobs[i].off);
    sink_put(s, w->blobs[i].data, w->blobs[i].size);
  }
  sink_pad_to(s, w->file_size);
}

qi_status qi_qnf_write_memory(const qi_graph *g, uint8_t **buf, size_t *len,
                              qi_error *err) {
  if (!buf || !len)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qnf: no place for the result");
  writer w;
  qi_status st = prepare(g, &w, err);
  if (st == QI_OK && w.file_size > SIZE_MAX - 1)
    st = qi_fail(err, QI_ERR_NOMEM, "qnf: model too large for memory");
  uint8_t *mem = NULL;
  if (st == QI_OK && !(mem = malloc((size_t)w.file_size)))
    st = qi_fail(err, QI_ERR_NOMEM, "qnf: out of memory (%llu bytes)",
                 (unsigned long long)w.file_size);
  if (st == QI_OK) {
    sink s = {mem, NULL, 0, 0};
    emit(&w, &s);
    *buf = mem;
    *len = (size_t)w.file_size;
  }
  writer_free(&w);
  return st;
}

qi_status qi_qnf_write(const qi_graph *g, const char *path, qi_error *err) {
  if (!path) return qi_fail(err, QI_ERR_INVALID_ARG, "qnf: no file name");
  writer w;
  qi_status st = prepare(g, &w, err);
  if (st != QI_OK) {
    writer_free(&w);
    return st;
  }
  FILE *f = fopen(path, "wb");
  if (!f) {
    st = qi_fail(err, QI_ERR_IO, "qnf: cannot create '%s': %s", path,
                 strerror(errno));
    writer_free(&w);
    return st;
  }
  /* Only a regular file is removed after a failure, never a device. */
  struct stat sb;
  int regular = fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode);
  sink s = {NULL, f, 0, 0};
  emit(&w, &s);
  int write_errno = s.failed ? errno : 0;
  if (fclose(f) != 0 && !s.failed) {
    s.failed = 1;
    write_errno = errno;
  }
  if (s.failed) {
    if (regular) remove(path);
    st = qi_fail(err, QI_ERR_IO, "qnf: writing '%s' failed at byte %llu: %s",
                 path, (unsigned long long)s.pos, strerror(write_errno));
  }
  writer_free(&w);
  return st;
}

void qnf_reseal(uint8_t *buf, size_t len) {
  if (!buf || len < QNF_HEADER_SIZE) return;
  uint64_t toff = qnf_le64(buf + QNF_H_TABLE_OFFSET);
  uint64_t count = qnf_le32(buf + QNF_H_SECTION_COUNT);
  if (qnf_le32(buf + QNF_H_ENTRY_SIZE) == QNF_ENTRY_SIZE && toff <= len &&
      count <= (len - toff) / QNF_ENTRY_SIZE) {
    uint8_t *tab = buf + toff;
    for (uint64_t i = 0; i < count; i++) {
      uint8_t *e = tab + i * QNF_ENTRY_SIZE;
      uint64_t off = qnf_le64(e + QNF_E_OFFSET),
               size = qnf_le64(e + QNF_E_SIZE);
      if (off <= len && size <= len - off)
        qnf_put32(e + QNF_E_CRC, qnf_crc32c(0, buf + off, (size_t)size));
    }
    qnf_put32(buf + QNF_H_TABLE_CRC,
              qnf_crc32c(0, tab, (size_t)count * QNF_ENTRY_SIZE));
  }
  qnf_put32(buf + QNF_H_HEADER_CRC, qnf_crc32c(0, buf, QNF_H_HEADER_CRC));
}
