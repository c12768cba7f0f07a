#include "core/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_BYTES ((size_t)2 << 20)

void *qi_alloc_large(size_t bytes) {
  if (bytes < HUGE_BYTES) return aligned_alloc(64, (bytes + 63) & ~(size_t)63);
  if (bytes > SIZE_MAX - HUGE_BYTES) return NULL;
  size_t rounded = (bytes + HUGE_BYTES - 1) & ~(HUGE_BYTES - 1);
  void *p = aligned_alloc(HUGE_BYTES, rounded);
#ifdef MADV_HUGEPAGE
  /* Advice only: where huge pages are off or unavailable nothing changes. */
  if (p) (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
  return p;
}
