/*
 * The .qnf model file: the optimised graph IR of graph/graph.h saved in one
 * versioned, little-endian, self-describing file (byte layout and rules in
 * docs/format.md). Constant data lies in 64-byte aligned blocks that a
 * loader could memory-map; every section carries a CRC32C.
 *
 * What is saved: opset, ir_version and graph name; every tensor (name,
 * dtype, shape, kind, constant data, quantization parameters); every node
 * (name, op type, domain, inputs and outputs by tensor index with -1 for an
 * absent one, attributes of every qi_attr type including TENSOR, precision,
 * the dead flag); the graph inputs and outputs. Not saved: what the runtime
 * rebuilds (node->op, node->state, tensor->producer, which the reader
 * recomputes from the nodes; `borrowed`, 0 after qi_qnf_read and 1 for
 * constants after qi_qnf_read_borrowing).
 *
 * The writer refuses a graph that the reader would refuse (see
 * qnf_check_graph in qnf_internal.h): nodes must be in topological order,
 * tensor names unique, constant data sized numel * element size.
 * The reader treats its input as hostile: every size is checked against the
 * bytes present before anything is allocated, and a damaged file gives
 * QI_ERR_PARSE (QI_ERR_UNSUPPORTED for a newer major version) with a message
 * naming the section and file offset at fault.
 */
#ifndef QI_QNF_QNF_H
#define QI_QNF_QNF_H

#include <stddef.h>
#include <stdint.h>

#include "graph/graph.h"

/* Writes `g` (borrowed for the call) to `path` (borrowed). On failure a
 * partly written regular file is removed. */
qi_status qi_qnf_write(const qi_graph *g, const char *path, qi_error *err);

/* Same, into a malloc'd buffer that the caller frees; *buf and *len are set
 * on success only. */
qi_status qi_qnf_write_memory(const qi_graph *g, uint8_t **buf, size_t *len,
                              qi_error *err);

/* Reads a .qnf image. `buf` is read during the call only: every string and
 * constant is copied into memory that the graph owns. On success *out is a
 * graph owned by the caller (qi_graph_free) with producers computed; on
 * failure *out is NULL. */
qi_status qi_qnf_read(const uint8_t *buf, size_t len, qi_graph **out,
                      qi_error *err);

/* Same, except that the graph's constant tensors point into `buf` (marked
 * borrowed) instead of being copied (attribute tensors are still copied): `buf` must stay valid, unchanged, as long as the
 * graph does. For a memory-mapped file: the weights are not copied and
 * their pages are shared with the page cache. */
qi_status qi_qnf_read_borrowing(const uint8_t *buf, size_t len,
                                qi_graph **out, qi_error *err);

/* 1 if `buf` starts with the .qnf magic bytes (whatever its version), else 0.
 * `buf` may be NULL when len is 0. */
int qi_qnf_is_qnf(const uint8_t *buf, size_t len);

#endif
