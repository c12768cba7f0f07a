/* CRC32C with the SSE4.2 crc32 instruction, eight bytes per step. Built
 * with the AVX2 flags (which include SSE4.2); called only on CPUs with AVX2
 * (see qnf_crc32c_hw_usable). */
#include <nmmintrin.h>
#include <stdint.h>
#include <string.h>

#include "qnf/qnf_internal.h"

uint32_t qnf_crc32c_hw(uint32_t crc, const void *buf, size_t len) {
  const uint8_t *p = buf;
  uint64_t c = ~crc;
  for (; len && ((uintptr_t)p & 7); len--) c = _mm_crc32_u8((uint32_t)c, *p++);
  for (; len >= 8; len -= 8, p += 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    c = _mm_crc32_u64(c, v);
  }
  for (; len; len--) c = _mm_crc32_u8((uint32_t)c, *p++);
  return ~(uint32_t)c;
}
