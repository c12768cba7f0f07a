/* Guard-page buffers for kernel tests: data placed right against a
 * PROT_NONE page, so a read or write one byte outside it faults at once
 * (the MLAS MatrixGuardBuffer idea). Three shapes:
 *   qt_guard_after   the data ends where an inaccessible page begins;
 *   qt_guard_before  the data starts where an inaccessible page ends;
 *   qt_guard_rows    every row ends against its own inaccessible page
 *                    (row stride returned), so an over-read or over-write
 *                    of any row, not just the last, faults. */
#ifndef QT_GUARD_H
#define QT_GUARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct qt_guard {
  unsigned char *map;
  size_t map_bytes;
} qt_guard;

static inline size_t qt_page_size(void) {
  return (size_t)sysconf(_SC_PAGESIZE);
}

static inline size_t qt_round_pages(size_t bytes) {
  size_t pg = qt_page_size();
  return (bytes + pg - 1) / pg * pg;
}

static inline unsigned char *qt_guard_map(qt_guard *g, size_t bytes) {
  g->map_bytes = bytes;
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  g->map = p == MAP_FAILED ? NULL : p;
  return g->map;
}

/* `size` bytes ending at a PROT_NONE page; NULL if mapping failed. */
static inline void *qt_guard_after(qt_guard *g, size_t size) {
  size_t body = qt_round_pages(size ? size : 1), pg = qt_page_size();
  unsigned char *m = qt_guard_map(g, body + pg);
  if (!m) return NULL;
  if (mprotect(m + body, pg, PROT_NONE) != 0) return NULL;
  return m + body - size;
}

/* `size` bytes starting right after a PROT_NONE page. */
static inline void *qt_guard_before(qt_guard *g, size_t size) {
  size_t body = qt_round_pages(size ? size : 1), pg = qt_page_size();
  unsigned char *m = qt_guard_map(g, pg + body);
  if (!m) return NULL;
  if (mprotect(m, pg, PROT_NONE) != 0) return NULL;
  return m + pg;
}

/* `rows` rows of `row_bytes`, each ending against a PROT_NONE page; the
 * row stride is written to *stride. Returns row 0. */
static inline void *qt_guard_rows(qt_guard *g, size_t rows, size_t row_bytes,
                                  size_t *stride) {
  size_t pg = qt_page_size(), body = qt_round_pages(row_bytes ? row_bytes : 1);
  *stride = body + pg;
  unsigned char *m = qt_guard_map(g, rows * (body + pg));
  if (!m) return NULL;
  for (size_t i = 0; i < rows; i++)
    if (mprotect(m + i * (body + pg) + body, pg, PROT_NONE) != 0) return NULL;
  return m + body - row_bytes;
}

static inline void qt_guard_free(qt_guard *g) {
  if (g->map) munmap(g->map, g->map_bytes);
  g->map = NULL;
}

#endif
