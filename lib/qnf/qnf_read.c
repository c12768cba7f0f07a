/* .qnf reader. The input is hostile until proven otherwise: the header and
 * section table are checked (checksums, bounds, alignment, no overlap, zero
 * padding) before any section is parsed, every count is bounded by the bytes
 * left in its section before anything is allocated, and the graph that comes
 * out passes the same checks the writer applies (qnf_internal.h). Errors
 * name the section and the file offset. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "qnf/qnf.h"
#include "qnf/qnf_internal.h"

/* A cursor over one section's payload. */
typedef struct rd {
  const uint8_t *buf; /* the whole file */
  size_t pos, end;    /* file offsets */
  const char *sec;    /* section name for messages */
  qi_error *err;
  /* The DATA section and the end of the last constant read from it. */
  const uint8_t *data;
  uint64_t data_size, data_cursor;
  int ntensors;
  int borrow; /* constants point into buf (qi_qnf_read_borrowing) */
} rd;

static qi_status rd_fail(const rd *r, size_t at, qi_status st, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
static qi_status rd_fail(const rd *r, size_t at, qi_status st, const char *fmt,
                         ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return qi_fail(r->err, st, "qnf: section '%s', file byte %zu: %s", r->sec, at,
                 msg);
}

static qi_status need(rd *r, uint64_t n, const char *what) {
  if (n > r->end - r->pos)
    return rd_fail(r, r->pos, QI_ERR_PARSE,
                   "%s needs %llu bytes, the section has %zu left", what,
                   (unsigned long long)n, r->end - r->pos);
  return QI_OK;
}

static qi_status rd_u32(rd *r, const char *what, uint32_t *v) {
  QI_TRY(need(r, 4, what));
  *v = qnf_le32(r->buf + r->pos);
  r->pos += 4;
  return QI_OK;
}

static qi_status rd_i32(rd *r, const char *what, int32_t *v) {
  uint32_t u;
  QI_TRY(rd_u32(r, what, &u));
  *v = (int32_t)u;
  return QI_OK;
}

static qi_status rd_u64(rd *r, const char *what, uint64_t *v) {
  QI_TRY(need(r, 8, what));
  *v = qnf_le64(r->buf + r->pos);
  r->pos += 8;
  return QI_OK;
}

static qi_status rd_f32(rd *r, const char *what, float *v) {
  uint32_t u;
  QI_TRY(rd_u32(r, what, &u));
  memcpy(v, &u, 4);
  return QI_OK;
}

/* A u32 count whose `min_each`-byte items must fit in the section. */
static qi_status rd_count(rd *r, const char *what, uint64_t min_each,
                          int *count) {
  size_t at = r->pos;
  uint32_t n;
  QI_TRY(rd_u32(r, what, &n));
  if (n > INT_MAX || (uint64_t)n * min_each > r->end - r->pos)
    return rd_fail(r, at, QI_ERR_PARSE,
                   "%s is %u, more than the %zu bytes left can hold", what, n,
                   r->end - r->pos);
  *count = (int)n;
  return QI_OK;
}

/* A string: u32 length and bytes without a NUL; QNF_STR_NULL means NULL,
 * allowed only where `nullable`. */
static qi_status rd_str(rd *r, const char *what, int nullable, char **out) {
  size_t at = r->pos;
  uint32_t n;
  QI_TRY(rd_u32(r, what, &n));
  if (n == QNF_STR_NULL) {
    if (!nullable)
      return rd_fail(r, at, QI_ERR_PARSE, "%s may not be absent", what);
    *out = NULL;
    return QI_OK;
  }
  QI_TRY(need(r, n, what));
  const uint8_t *p = r->buf + r->pos;
  if (memchr(p, 0, n))
    return rd_fail(r, at, QI_ERR_PARSE, "%s holds a NUL byte", what);
  char *s = malloc((size_t)n + 1);
  if (!s) return rd_fail(r, at, QI_ERR_NOMEM, "out of memory for %s", what);
  memcpy(s, p, n);
  s[n] = '\0';
  r->pos += n;
  *out = s;
  return QI_OK;
}

/* One tensor record into *t (zeroed by the caller). */
static qi_status rd_tensor(rd *r, qi_tensor *t, int attr_tensor,
                           const char *who) {
  size_t at = r->pos;
  t->producer = -1;
  t->quant.axis = -1;
  int32_t dtype, kind, rank;
  QI_TRY(rd_str(r, "tensor name", attr_tensor, &t->name));
  QI_TRY(rd_i32(r, "tensor dtype", &dtype));
  QI_TRY(rd_i32(r, "tensor kind", &kind));
  QI_TRY(rd_i32(r, "tensor rank", &rank));
  if (!qnf_dtype_valid(dtype) || (kind != QI_TK_ACT && kind != QI_TK_CONST) ||
      rank < -1 || rank > QI_MAX_RANK)
    return rd_fail(r, at, QI_ERR_PARSE,
                   "%s has data type %d, kind %d, rank %d: one is not valid",
                   who, (int)dtype, (int)kind, (int)rank);
  t->dtype = (qi_dtype)dtype;
  t->kind = (qi_tensor_kind)kind;
  t->shape.rank = rank;
  for (int i = 0; i < rank; i++) {
    uint64_t d;
    QI_TRY(rd_u64(r, "tensor dim", &d));
    t->shape.d[i] = (int64_t)d;
  }
  uint32_t flags;
  QI_TRY(rd_u32(r, "tensor flags", &flags));
  if (flags & ~QNF_TENSOR_HAS_DATA)
    return rd_fail(r, at, QI_ERR_PARSE, "%s has unknown flags 0x%x", who,
                   (unsigned)flags);
  if (flags & QNF_TENSOR_HAS_DATA) {
    uint64_t off, size;
    size_t data_at = r->pos;
    QI_TRY(rd_u64(r, "data offset", &off));
    QI_TRY(rd_u64(r, "data size", &size));
    /* Blocks come in file order and never overlap, so the constants copied
     * out can never add up to more than the DATA section. */
    const char *bad = off % QNF_ALIGN        ? "is not 64-byte aligned"
                      : off < r->data_cursor ? "overlaps the previous block"
                      : off > r->data_size || size > r->data_size - off
                          ? "lies beyond the DATA section"
                          : NULL;
    if (bad)
      return rd_fail(r, data_at, QI_ERR_PARSE,
                     "%s: data block at %llu of %llu bytes %s (previous "
                     "block ends at %llu, DATA has %llu bytes)",
                     who, (unsigned long long)off, (unsigned long long)size,
                     bad, (unsigned long long)r->data_cursor,
                     (unsigned long long)r->data_size);
    /* Attribute tensors are copied: attributes get copied around by
     * passes; only the graph's constants are borrowed. */
    if (r->borrow && !attr_tensor) {
      t->data = (void *)(uintptr_t)(r->data + off);
      t->borrowed = 1;
    } else {
      t->data = malloc(size ? (size_t)size : 1);
      if (!t->data)
        return rd_fail(r, data_at, QI_ERR_NOMEM, "%s: out of memory (%llu bytes)",
                       who, (unsigned long long)size);
      if (size) memcpy(t->data, r->data + off, (size_t)size);
    }
    t->nbytes = (size_t)size;
    r->data_cursor = off + size;
  }
  qi_quant *q = &t->quant;
  QI_TRY(rd_i32(r, "quantization flag", &q->has));
  QI_TRY(rd_f32(r, "quantization scale", &q->scale));
  QI_TRY(rd_i32(r, "zero point", &q->zero_point));
  QI_TRY(rd_i32(r, "quantization axis", &q->axis));
  int nscales;
  QI_TRY(rd_count(r, "scale count", 4, &nscales));
  if (nscales) {
    if (!(q->scales = malloc(sizeof(float) * (size_t)nscales)))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    q->nscales = nscales;
    for (int i = 0; i < nscales; i++) QI_TRY(rd_f32(r, "scale", &q->scales[i]));
  }
  char why[300];
  if (qnf_tensor_problem(t, attr_tensor, why, sizeof why))
    return rd_fail(r, at, QI_ERR_PARSE, "%s '%.200s' %s", who,
                   t->name ? t->name : "", why);
  return QI_OK;
}

static qi_status rd_attr(rd *r, qi_attr *a, const char *node) {
  size_t at = r->pos;
  int32_t type;
  uint32_t present;
  uint64_t i;
  QI_TRY(rd_str(r, "attribute name", 0, &a->name));
  QI_TRY(rd_i32(r, "attribute type", &type));
  QI_TRY(rd_u32(r, "attribute parts", &present));
  if (!qnf_attr_type_valid(type) || (present & ~(uint32_t)QNF_ATTR_HAS_ALL))
    return rd_fail(r, at, QI_ERR_PARSE,
                   "attribute '%.100s' of node '%.200s' has type %d and "
                   "parts 0x%x: one is not valid",
                   a->name, node, (int)type, (unsigned)present);
  a->type = (qi_attr_type)type;
  QI_TRY(rd_u64(r, "attribute int", &i));
  a->i = (int64_t)i;
  QI_TRY(rd_f32(r, "attribute float", &a->f));
  int32_t n;
  size_t n_at = r->pos;
  QI_TRY(rd_i32(r, "attribute value count", &n));
  /* Each value takes at least 4 bytes (a float or a string length). */
  if (n < 0 || (present & (QNF_ATTR_HAS_INTS | QNF_ATTR_HAS_FLOATS |
                           QNF_ATTR_HAS_STRINGS) &&
                (uint64_t)n * 4 > r->end - r->pos))
    return rd_fail(r, n_at, QI_ERR_PARSE,
                   "attribute '%.100s' of node '%.200s' declares %d values, "
                   "more than the %zu bytes left can hold",
                   a->name, node, (int)n, r->end - r->pos);
  a->n = n;
  size_t cnt = (size_t)n ? (size_t)n : 1;
  if (present & QNF_ATTR_HAS_S) QI_TRY(rd_str(r, "attribute string", 0, &a->s));
  if (present & QNF_ATTR_HAS_INTS) {
    QI_TRY(need(r, (uint64_t)n * 8, "attribute ints"));
    if (!(a->ints = malloc(cnt * sizeof(int64_t))))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++) {
      QI_TRY(rd_u64(r, "attribute int", &i));
      a->ints[k] = (int64_t)i;
    }
  }
  if (present & QNF_ATTR_HAS_FLOATS) {
    if (!(a->floats = malloc(cnt * sizeof(float))))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++)
      QI_TRY(rd_f32(r, "attribute float", &a->floats[k]));
  }
  if (present & QNF_ATTR_HAS_STRINGS) {
    if (!(a->strings = calloc(cnt, sizeof(char *))))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n; k++)
      QI_TRY(rd_str(r, "attribute strings", 0, &a->strings[k]));
  }
  if (present & QNF_ATTR_HAS_T) {
    if (!(a->t = calloc(1, sizeof *a->t)))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    QI_TRY(rd_tensor(r, a->t, 1, "attribute tensor"));
  }
  return QI_OK;
}

static qi_status rd_node(rd *r, qi_node *n, int index) {
  size_t at = r->pos;
  int32_t precision;
  uint32_t flags;
  QI_TRY(rd_str(r, "node name", 0, &n->name));
  QI_TRY(rd_str(r, "node op type", 0, &n->op_type));
  QI_TRY(rd_str(r, "node domain", 0, &n->domain));
  QI_TRY(rd_i32(r, "node precision", &precision));
  QI_TRY(rd_u32(r, "node flags", &flags));
  if (!qnf_precision_valid(precision) || (flags & ~QNF_NODE_DEAD))
    return rd_fail(r, at, QI_ERR_PARSE,
                   "node %d '%.200s' has precision %d and flags 0x%x: one is "
                   "not valid",
                   index, n->name, (int)precision, (unsigned)flags);
  n->precision = (qi_precision)precision;
  n->dead = (flags & QNF_NODE_DEAD) != 0;
  for (int side = 0; side < 2; side++) {
    int count, **list = side ? &n->out : &n->in;
    QI_TRY(rd_count(r, side ? "output count" : "input count", 4, &count));
    /* One spare slot, as qi_graph_add_node allocates. */
    if (!(*list = malloc(sizeof(int) * ((size_t)count + 1))))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    if (side)
      n->nout = count;
    else
      n->nin = count;
    for (int k = 0; k < count; k++) {
      size_t k_at = r->pos;
      int32_t t;
      QI_TRY(rd_i32(r, "tensor index", &t));
      if (t < -1 || t >= r->ntensors)
        return rd_fail(r, k_at, QI_ERR_PARSE,
                       "node %d '%.200s' %s %d is tensor %d; the graph has "
                       "%d",
                       index, n->name, side ? "output" : "input", k, (int)t,
                       r->ntensors);
      (*list)[k] = t;
    }
  }
  int nattr;
  QI_TRY(rd_count(r, "attribute count", QNF_MIN_ATTR_RECORD, &nattr));
  if (nattr) {
    if (!(n->attrs = calloc((size_t)nattr, sizeof(qi_attr))))
      return rd_fail(r, at, QI_ERR_NOMEM, "out of memory");
    n->nattr = nattr;
    for (int k = 0; k < nattr; k++) QI_TRY(rd_attr(r, &n->attrs[k], n->name));
  }
  char why[400];
  if (qnf_node_problem(n, r->ntensors, why, sizeof why))
    return rd_fail(r, at, QI_ERR_PARSE, "node %d '%.200s': %s", index, n->name,
                   why);
  return QI_OK;
}

static qi_status rd_end(rd *r) {
  if (r->pos != r->end)
    return rd_fail(r, r->pos, QI_ERR_PARSE, "%zu bytes after the last record",
                   r->end - r->pos);
  return QI_OK;
}

static qi_status rd_tensors(rd *r, qi_graph *g) {
  int count;
  QI_TRY(rd_count(r, "tensor count", QNF_MIN_TENSOR_RECORD, &count));
  if (!(g->tensors = calloc((size_t)count + 1, sizeof(qi_tensor))))
    return rd_fail(r, r->pos, QI_ERR_NOMEM, "out of memory");
  g->cap_tensors = count + 1;
  for (int i = 0; i < count; i++) {
    char who[32];
    snprintf(who, sizeof who, "tensor %d", i);
    g->ntensors = i + 1; /* owned fields are freed with the graph */
    QI_TRY(rd_tensor(r, &g->tensors[i], 0, who));
  }
  r->ntensors = count;
  return rd_end(r);
}

static qi_status rd_nodes(rd *r, qi_graph *g) {
  int count;
  QI_TRY(rd_count(r, "node count", QNF_MIN_NODE_RECORD, &count));
  if (!(g->nodes = calloc((size_t)count + 1, sizeof(qi_node))))
    return rd_fail(r, r->pos, QI_ERR_NOMEM, "out of memory");
  g->cap_nodes = count + 1;
  for (int i = 0; i < count; i++) {
    g->nnodes = i + 1;
    QI_TRY(rd_node(r, &g->nodes[i], i));
  }
  return rd_end(r);
}

static qi_status rd_graph(rd *r, qi_graph *g) {
  uint64_t v;
  QI_TRY(rd_u64(r, "opset", &v));
  g->opset = (int64_t)v;
  QI_TRY(rd_u64(r, "ir_version", &v));
  g->ir_version = (int64_t)v;
  QI_TRY(rd_str(r, "graph name", 1, &g->name));
  for (int side = 0; side < 2; side++) {
    int count, **list = side ? &g->outputs : &g->inputs;
    QI_TRY(rd_count(r, side ? "graph output count" : "graph input count", 4,
                    &count));
    if (!(*list = malloc(sizeof(int) * ((size_t)count + 1))))
      return rd_fail(r, r->pos, QI_ERR_NOMEM, "out of memory");
    for (int k = 0; k < count; k++) {
      size_t k_at = r->pos;
      int32_t t;
      QI_TRY(rd_i32(r, "tensor index", &t));
      if (t < 0 || t >= r->ntensors)
        return rd_fail(r, k_at, QI_ERR_PARSE,
                       "graph %s %d is tensor %d; the graph has %d",
                       side ? "output" : "input", k, (int)t, r->ntensors);
      (*list)[k] = t;
      if (side)
        g->noutputs = k + 1;
      else
        g->ninputs = k + 1;
    }
  }
  return rd_end(r);
}

/* Where each known section lies, once the table has been checked. */
enum { SEC_GRAPH, SEC_TENSORS, SEC_NODES, SEC_DATA, NSEC };
static const uint32_t k_known[NSEC] = {QNF_SEC_GRAPH, QNF_SEC_TENSORS,
                                       QNF_SEC_NODES, QNF_SEC_DATA};
static const char *const k_known_names[NSEC] = {"GRPH", "TENS", "NODE", "DATA"};

typedef struct layout {
  uint64_t off[NSEC], size[NSEC];
} layout;

static int all_zero(const uint8_t *p, uint64_t n) {
  for (uint64_t i = 0; i < n; i++)
    if (p[i]) return 0;
  return 1;
}

static qi_status check_header(const uint8_t *buf, size_t len, qi_error *err) {
  if (!qi_qnf_is_qnf(buf, len))
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header, file byte 0: not a .qnf file (bad magic)");
  /* The magic and the version fields keep their place in every version, so
   * a newer file is named as such before anything else is looked at. */
  if (len < QNF_H_MINOR + 2)
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header: file truncated to %zu bytes (the header "
                   "has %d)",
                   len, QNF_HEADER_SIZE);
  unsigned major = qnf_le16(buf + QNF_H_MAJOR);
  unsigned minor = qnf_le16(buf + QNF_H_MINOR);
  if (major > QNF_VERSION_MAJOR)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qnf: header, file byte %d: the file is format version "
                   "%u.%u, newer than this reader (%d.x); load it with a newer "
                   "qinfer or save the model again with this one",
                   QNF_H_MAJOR, major, minor, QNF_VERSION_MAJOR);
  if (major < QNF_VERSION_MAJOR)
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header, file byte %d: unknown format version %u.%u",
                   QNF_H_MAJOR, major, minor);
  if (len < QNF_HEADER_SIZE)
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header: file truncated to %zu bytes (the header "
                   "has %d)",
                   len, QNF_HEADER_SIZE);
  uint32_t crc = qnf_crc32c(0, buf, QNF_H_HEADER_CRC);
  if (crc != qnf_le32(buf + QNF_H_HEADER_CRC))
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header, file byte %d: checksum mismatch (stored "
                   "0x%08x, computed 0x%08x): the header is damaged",
                   QNF_H_HEADER_CRC, (unsigned)qnf_le32(buf + QNF_H_HEADER_CRC),
                   (unsigned)crc);
  uint64_t file_size = qnf_le64(buf + QNF_H_FILE_SIZE);
  if (file_size != len)
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header, file byte %d: the file should have %llu "
                   "bytes but has %zu (%s)",
                   QNF_H_FILE_SIZE, (unsigned long long)file_size, len,
                   file_size > len ? "truncated" : "trailing bytes");
  if (qnf_le32(buf + QNF_H_HEADER_SIZE) != QNF_HEADER_SIZE ||
      qnf_le32(buf + QNF_H_ENTRY_SIZE) != QNF_ENTRY_SIZE ||
      qnf_le64(buf + QNF_H_TABLE_OFFSET) != QNF_HEADER_SIZE ||
      qnf_le32(buf + QNF_H_FLAGS) != 0 ||
      !all_zero(buf + QNF_H_RESERVED, QNF_H_HEADER_CRC - QNF_H_RESERVED))
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header: header size, table offset, entry size, flags "
                   "or reserved bytes differ from version %d.x",
                   QNF_VERSION_MAJOR);
  return QI_OK;
}

static qi_status check_table(const uint8_t *buf, size_t len, layout *lay,
                             qi_error *err) {
  uint32_t count = qnf_le32(buf + QNF_H_SECTION_COUNT);
  const uint64_t tab = QNF_HEADER_SIZE;
  if (count == 0 || count > QNF_MAX_SECTIONS ||
      (uint64_t)count * QNF_ENTRY_SIZE > len - tab)
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: header, file byte %d: %u sections (1..%d, and the "
                   "table must fit in the file)",
                   QNF_H_SECTION_COUNT, (unsigned)count, QNF_MAX_SECTIONS);
  uint32_t crc = qnf_crc32c(0, buf + tab, (size_t)count * QNF_ENTRY_SIZE);
  if (crc != qnf_le32(buf + QNF_H_TABLE_CRC))
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: section table, file bytes %llu..%llu: checksum "
                   "mismatch: the table is damaged",
                   (unsigned long long)tab,
                   (unsigned long long)(tab + count * QNF_ENTRY_SIZE));
  int seen[NSEC] = {0};
  uint64_t prev_end = tab + (uint64_t)count * QNF_ENTRY_SIZE;
  for (uint32_t i = 0; i < count; i++) {
    const uint8_t *e = buf + tab + (uint64_t)i * QNF_ENTRY_SIZE;
    uint64_t e_at = tab + (uint64_t)i * QNF_ENTRY_SIZE;
    uint32_t type = qnf_le32(e + QNF_E_TYPE), flags = qnf_le32(e + QNF_E_FLAGS);
    uint64_t off = qnf_le64(e + QNF_E_OFFSET), size = qnf_le64(e + QNF_E_SIZE);
    char name[12];
    qnf_type_name(type, name);
    const char *bad = off % QNF_ALIGN  ? "do not start 64-byte aligned"
                      : off < prev_end ? "overlap what comes before"
                      : off > len || size > len - off ? "lie beyond the file"
                      : qnf_le32(e + QNF_E_RESERVED) != 0
                          ? "come with a nonzero reserved field"
                          : NULL;
    if (bad)
      return qi_fail(err, QI_ERR_PARSE,
                     "qnf: section table entry %u (file byte %llu), section "
                     "'%s': bytes %llu..+%llu %s (file: %zu bytes)",
                     (unsigned)i, (unsigned long long)e_at, name,
                     (unsigned long long)off, (unsigned long long)size, bad,
                     len);
    if (!all_zero(buf + prev_end, off - prev_end))
      return qi_fail(err, QI_ERR_PARSE,
                     "qnf: padding before section '%s', file bytes %llu..%llu: "
                     "not zero: the file is damaged",
                     name, (unsigned long long)prev_end,
                     (unsigned long long)off);
    uint32_t sum = qnf_crc32c(0, buf + off, (size_t)size);
    if (sum != qnf_le32(e + QNF_E_CRC))
      return qi_fail(err, QI_ERR_PARSE,
                     "qnf: section '%s', file bytes %llu..%llu: checksum "
                     "mismatch (stored 0x%08x, computed 0x%08x): the section "
                     "is damaged",
                     name, (unsigned long long)off,
                     (unsigned long long)(off + size),
                     (unsigned)qnf_le32(e + QNF_E_CRC), (unsigned)sum);
    prev_end = off + size;
    int known = -1;
    for (int s = 0; s < NSEC; s++)
      if (type == k_known[s]) known = s;
    if (known < 0) {
      if (flags & QNF_SEC_MAY_SKIP) continue;
      return qi_fail(err, QI_ERR_UNSUPPORTED,
                     "qnf: section table entry %u (file byte %llu): section "
                     "'%s' is unknown to this reader and not marked "
                     "skippable; it needs a newer qinfer",
                     (unsigned)i, (unsigned long long)e_at, name);
    }
    if (seen[known] || (flags & ~QNF_SEC_MAY_SKIP))
      return qi_fail(err, QI_ERR_PARSE,
                     "qnf: section table entry %u (file byte %llu): section "
                     "'%s' %s",
                     (unsigned)i, (unsigned long long)e_at, name,
                     seen[known] ? "appears twice" : "has unknown flags");
    seen[known] = 1;
    lay->off[known] = off;
    lay->size[known] = size;
  }
  if (!all_zero(buf + prev_end, len - prev_end))
    return qi_fail(err, QI_ERR_PARSE,
                   "qnf: file bytes %llu..%zu after the last section are not "
                   "zero: the file is damaged",
                   (unsigned long long)prev_end, len);
  for (int s = 0; s < NSEC; s++)
    if (!seen[s])
      return qi_fail(err, QI_ERR_PARSE, "qnf: section table: no '%s' section",
                     k_known_names[s]);
  return QI_OK;
}

int qi_qnf_is_qnf(const uint8_t *buf, size_t len) {
  return buf && len >= QNF_MAGIC_SIZE &&
         memcmp(buf, QNF_MAGIC, QNF_MAGIC_SIZE) == 0;
}

static void open_section(rd *r, const layout *lay, int s) {
  r->pos = (size_t)lay->off[s];
  r->end = (size_t)(lay->off[s] + lay->size[s]);
  r->sec = k_known_names[s];
}

static qi_status read_graph(const uint8_t *buf, size_t len, int borrow,
                            qi_graph **out, qi_error *err) {
  if (!out)
    return qi_fail(err, QI_ERR_INVALID_ARG, "qnf: no place for the graph");
  *out = NULL;
  const uint16_t one = 1;
  if (*(const uint8_t *)&one != 1)
    return qi_fail(err, QI_ERR_UNSUPPORTED,
                   "qnf: loading needs a little-endian host");
  QI_TRY(check_header(buf, len, err));
  layout lay;
  QI_TRY(check_table(buf, len, &lay, err));
  qi_graph *g = qi_graph_create();
  if (!g) return qi_fail(err, QI_ERR_NOMEM, "qnf: out of memory");
  rd r = {.buf = buf,
          .err = err,
          .data = buf + lay.off[SEC_DATA],
          .data_size = lay.size[SEC_DATA],
          .borrow = borrow};
  qi_status st;
  open_section(&r, &lay, SEC_TENSORS);
  st = rd_tensors(&r, g);
  if (st == QI_OK) {
    open_section(&r, &lay, SEC_NODES);
    st = rd_nodes(&r, g);
  }
  if (st == QI_OK) {
    open_section(&r, &lay, SEC_GRAPH);
    st = rd_graph(&r, g);
  }
  if (st == QI_OK) st = qnf_check_graph(g, "qnf: graph", err);
  if (st != QI_OK) {
    qi_graph_free(g);
    return st;
  }
  for (int i = 0; i < g->nnodes; i++)
    for (int k = 0; k < g->nodes[i].nout; k++)
      if (g->nodes[i].out[k] >= 0) g->tensors[g->nodes[i].out[k]].producer = i;
  *out = g;
  return QI_OK;
}

qi_status qi_qnf_read(const uint8_t *buf, size_t len, qi_graph **out,
                      qi_error *err) {
  return read_graph(buf, len, 0, out, err);
}

qi_status qi_qnf_read_borrowing(const uint8_t *buf, size_t len,
                                qi_graph **out, qi_error *err) {
  return read_graph(buf, len, 1, out, err);
}
