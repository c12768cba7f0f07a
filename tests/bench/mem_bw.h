/* Read bandwidth of one core from a buffer of a given size (a benchmark
 * helper): the buffer is read again and again with 32-byte loads (AVX2
 * when the CPU has it, else 16-byte SSE2), so that a 192 KiB buffer
 * measures L2 (most x86 cores have 512 KiB to 2 MiB of L2, 32-48 KiB of
 * L1) and a 256 MiB one DRAM. Best of several passes, in GB/s. */
#ifndef QI_BENCH_MEM_BW_H
#define QI_BENCH_MEM_BW_H

#include <immintrin.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define QI_BW_L2_BYTES ((size_t)192 << 10)
#define QI_BW_DRAM_BYTES ((size_t)256 << 20)

static double qi_bw_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Four independent accumulators so that the loads, not the xors, bound. */
__attribute__((target("avx2"))) static uint64_t qi_bw_read_avx2(
    const unsigned char *p, size_t n) {
  __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a0 = _mm256_xor_si256(a0, _mm256_load_si256((const __m256i *)(p + i)));
    a1 = _mm256_xor_si256(a1, _mm256_load_si256((const __m256i *)(p + i + 32)));
    a2 = _mm256_xor_si256(a2, _mm256_load_si256((const __m256i *)(p + i + 64)));
    a3 = _mm256_xor_si256(a3, _mm256_load_si256((const __m256i *)(p + i + 96)));
  }
  __m256i a = _mm256_xor_si256(_mm256_xor_si256(a0, a1), _mm256_xor_si256(a2, a3));
  return (uint64_t)_mm256_extract_epi64(a, 0);
}

static uint64_t qi_bw_read_sse2(const unsigned char *p, size_t n) {
  __m128i a0 = _mm_setzero_si128(), a1 = a0, a2 = a0, a3 = a0;
  for (size_t i = 0; i + 64 <= n; i += 64) {
    a0 = _mm_xor_si128(a0, _mm_load_si128((const __m128i *)(p + i)));
    a1 = _mm_xor_si128(a1, _mm_load_si128((const __m128i *)(p + i + 16)));
    a2 = _mm_xor_si128(a2, _mm_load_si128((const __m128i *)(p + i + 32)));
    a3 = _mm_xor_si128(a3, _mm_load_si128((const __m128i *)(p + i + 48)));
  }
  __m128i a = _mm_xor_si128(_mm_xor_si128(a0, a1), _mm_xor_si128(a2, a3));
  return (uint64_t)_mm_cvtsi128_si64(a);
}

/* GB/s reading `bytes` (at least ~0.1 s of reading per pass, 5 passes);
 * 0 if the buffer cannot be allocated. *sink keeps the reads alive. */
static double qi_bw_read_gbs(size_t bytes, uint64_t *sink) {
  unsigned char *p = aligned_alloc(64, bytes);
  if (!p) return 0;
  memset(p, 1, bytes);
  const int avx2 = __builtin_cpu_supports("avx2");
  size_t reps = (size_t)(2e8 / (double)bytes) + 1;
  double best = 0;
  for (int pass = 0; pass < 5; pass++) {
    double t0 = qi_bw_now();
    for (size_t r = 0; r < reps; r++)
      *sink ^= avx2 ? qi_bw_read_avx2(p, bytes) : qi_bw_read_sse2(p, bytes);
    double gbs = (double)bytes * (double)reps / (qi_bw_now() - t0) * 1e-9;
    if (gbs > best) best = gbs;
  }
  free(p);
  return best;
}

#endif
