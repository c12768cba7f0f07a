/* qi_alloc_large: alignment and size rules on both sides of 2 MiB, every
 * byte writable (ASan and the guard of the allocator check the rest). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "qtest.h"

static void test_alignment(qt_state *st) {
  static const size_t sizes[] = {1, 63, 64, 4096, (2u << 20) - 1, 2u << 20,
                                 (2u << 20) + 1, 5u << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    size_t n = sizes[i];
    unsigned char *p = qi_alloc_large(n);
    QT_CHECKF(st, p != NULL, "%zu bytes: NULL", n);
    if (!p) continue;
    size_t want = n >= (2u << 20) ? (2u << 20) : 64;
    QT_CHECKF(st, (uintptr_t)p % want == 0, "%zu bytes at %p, want %zu-aligned",
              n, (void *)p, want);
    memset(p, 0xA5, n);
    QT_CHECK(st, p[0] == 0xA5 && p[n - 1] == 0xA5);
    free(p);
  }
  QT_CHECK(st, qi_alloc_large(SIZE_MAX - 5) == NULL);
}

int main(void) {
  qt_state st = {0};
  QT_RUN(&st, test_alignment);
  return qt_summary(&st);
}
