/* Internal pieces of the .qnf model file shared by its writer, reader and
 * tests: the layout constants of docs/format.md, CRC32C, and the checks that
 * both sides apply to a graph (so that whatever the writer accepts, the
 * reader accepts too). */
#ifndef QI_QNF_QNF_INTERNAL_H
#define QI_QNF_QNF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

#define QNF_MAGIC "\x89QNF\r\n\x1a\n"
#define QNF_MAGIC_SIZE 8
#define QNF_VERSION_MAJOR 1
#define QNF_VERSION_MINOR 0
#define QNF_HEADER_SIZE 64
#define QNF_ENTRY_SIZE 32
#define QNF_ALIGN 64
#define QNF_MAX_SECTIONS 256

/* Header field offsets (docs/format.md, "Header"). */
enum {
  QNF_H_MAGIC = 0,
  QNF_H_MAJOR = 8,
  QNF_H_MINOR = 10,
  QNF_H_HEADER_SIZE = 12,
  QNF_H_FILE_SIZE = 16,
  QNF_H_TABLE_OFFSET = 24,
  QNF_H_SECTION_COUNT = 32,
  QNF_H_ENTRY_SIZE = 36,
  QNF_H_FLAGS = 40,
  QNF_H_TABLE_CRC = 44,
  QNF_H_RESERVED = 48, /* 12 zero bytes */
  QNF_H_HEADER_CRC = 60
};

/* Section table entry field offsets. */
enum {
  QNF_E_TYPE = 0,
  QNF_E_FLAGS = 4,
  QNF_E_OFFSET = 8,
  QNF_E_SIZE = 16,
  QNF_E_CRC = 24,
  QNF_E_RESERVED = 28
};

/* Section types: four ASCII bytes read as a little-endian u32. */
#define QNF_FOURCC(a, b, c, d)                            \
  ((uint32_t)(uint8_t)(a) | (uint32_t)(uint8_t)(b) << 8 | \
   (uint32_t)(uint8_t)(c) << 16 | (uint32_t)(uint8_t)(d) << 24)
#define QNF_SEC_GRAPH QNF_FOURCC('G', 'R', 'P', 'H')
#define QNF_SEC_TENSORS QNF_FOURCC('T', 'E', 'N', 'S')
#define QNF_SEC_NODES QNF_FOURCC('N', 'O', 'D', 'E')
#define QNF_SEC_DATA QNF_FOURCC('D', 'A', 'T', 'A')

#define QNF_SEC_MAY_SKIP                                                       \
  1u                             /* section flag: readers that do not know the \
                                    type skip it instead of failing */
#define QNF_STR_NULL 0xFFFFFFFFu /* string length meaning a NULL pointer */
#define QNF_TENSOR_HAS_DATA 1u
#define QNF_NODE_DEAD 1u
enum { /* which optional parts follow an attribute record */
       QNF_ATTR_HAS_S = 1u,
       QNF_ATTR_HAS_INTS = 2u,
       QNF_ATTR_HAS_FLOATS = 4u,
       QNF_ATTR_HAS_STRINGS = 8u,
       QNF_ATTR_HAS_T = 16u,
       QNF_ATTR_HAS_ALL = 31u
};

/* Smallest encoded records, which bound every declared count by the bytes
 * left in a section before anything is allocated. */
#define QNF_MIN_TENSOR_RECORD 40
#define QNF_MIN_NODE_RECORD 32
#define QNF_MIN_ATTR_RECORD 28

/* Known dims of one shape multiply to at most this, so numel * element size
 * (<= 8) and sums of a few such sizes stay far from int64 overflow. */
#define QNF_MAX_NUMEL ((int64_t)1 << 59)

/* CRC32C (Castagnoli, reflected polynomial 0x82F63B78), in the zlib calling
 * style: start with crc = 0 and pass the previous result to continue, so
 * crc(crc(0, a), b) == crc(0, a || b). "123456789" gives 0xE3069283. */
uint32_t qnf_crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t qnf_crc32c_scalar(uint32_t crc, const void *buf, size_t len);
/* The SSE4.2 crc32 instruction; only where qnf_crc32c_hw_usable() says so. */
uint32_t qnf_crc32c_hw(uint32_t crc, const void *buf, size_t len);
int qnf_crc32c_hw_usable(void);

/* Little-endian field access on byte buffers. */
static inline uint16_t qnf_le16(const uint8_t *p) {
  return (uint16_t)(p[0] | p[1] << 8);
}
static inline uint32_t qnf_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}
static inline uint64_t qnf_le64(const uint8_t *p) {
  return (uint64_t)qnf_le32(p) | (uint64_t)qnf_le32(p + 4) << 32;
}
static inline void qnf_put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
}
static inline void qnf_put32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void qnf_put64(uint8_t *p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Section type as printable text ("TENS", or hex for other bytes). */
void qnf_type_name(uint32_t type, char out[12]);

/* Raw enum values the format accepts. */
int qnf_dtype_valid(int64_t v);
int qnf_precision_valid(int64_t v);
int qnf_attr_type_valid(int64_t v);

/* The checks on one tensor, one node and the whole graph; on a problem they
 * return nonzero and describe it in why[len] (without naming the object:
 * callers add that and, in the reader, the file offset). `attr_tensor`: the
 * tensor of a TENSOR attribute, whose name may be NULL. */
int qnf_tensor_problem(const qi_tensor *t, int attr_tensor, char *why,
                       size_t len);
int qnf_node_problem(const qi_node *n, int ntensors, char *why, size_t len);
/* Indices of graph inputs and outputs, unique tensor names, and the order of
 * the nodes: every input of a node is a constant, a graph input or an output
 * of an earlier node, and no tensor is produced twice. */
qi_status qnf_check_graph(const qi_graph *g, const char *prefix, qi_error *err);

/* Recomputes every checksum of a .qnf image in place, as far as its header
 * and table can be read; anything else is left as it is. Tests and the fuzz
 * target use it to get past the checksums into the parsers. */
void qnf_reseal(uint8_t *buf, size_t len);

#endif
