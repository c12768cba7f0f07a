/* libFuzzer target for the .npy reader of the tools (tools/npy.c): any bytes
 * must give a status, never a crash, a leak, an over-read or an allocation
 * the bytes do not pay for. An accepted array must be self-consistent (its
 * byte count is its element count times its element size, and the file
 * really holds that many bytes), and it must survive a save/parse round
 * trip unchanged. Build and run from the repo root (tests/suites/fuzz.sh
 * does both):
 *   clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
 *     -Iinclude -Itools tests/fuzz/fuzz_npy.c tools/npy.c -o fuzz_npy
 *   mkdir -p corpus && ./fuzz_npy -max_total_time=60 corpus
 *     tests/fuzz/corpus/npy */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "npy.h"

static size_t elem_size(qi_dtype dt) {
  switch (dt) {
    case QI_FLOAT32: case QI_INT32: return 4;
    case QI_UINT8: case QI_INT8: case QI_BOOL: return 1;
    case QI_INT64: case QI_FLOAT64: return 8;
    case QI_FLOAT16: return 2;
    default: return 0;
  }
}

/* Writes `a` with qi_npy_save and parses the file again: same dtype, shape
 * and bytes. Arrays over a few KiB are skipped to keep the target fast. */
static void round_trip(const qi_npy *a) {
  if (a->nbytes > 4096) return;
  char path[64];
  snprintf(path, sizeof path, "/tmp/fuzz_npy_%ld.npy", (long)getpid());
  qi_error err;
  if (qi_npy_save(path, a->dtype, a->rank, a->shape, a->data, &err) != QI_OK)
    __builtin_trap();
  qi_npy b;
  if (qi_npy_load(path, &b, &err) != QI_OK) __builtin_trap();
  unlink(path);
  if (b.dtype != a->dtype || b.rank != a->rank || b.nbytes != a->nbytes ||
      memcmp(b.shape, a->shape, sizeof(int64_t) * (size_t)a->rank) != 0 ||
      (a->nbytes && memcmp(a->data, b.data, a->nbytes) != 0))
    __builtin_trap();
  qi_npy_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  qi_npy a;
  qi_error err;
  err.message[0] = '\0';
  if (qi_npy_parse(data, size, &a, &err) != QI_OK) {
    /* Failures leave nothing to free and say why. */
    if (a.data || !err.message[0] || strlen(err.message) >= sizeof err.message)
      __builtin_trap();
    return 0;
  }
  size_t es = elem_size(a.dtype);
  if (!es || a.rank < 0 || a.rank > QI_MAX_RANK || !a.data) __builtin_trap();
  size_t count = 1;
  for (int i = 0; i < a.rank; i++) {
    if (a.shape[i] < 0) __builtin_trap();
    count *= (size_t)a.shape[i];
  }
  if (count * es != a.nbytes || a.nbytes > size) __builtin_trap();
  round_trip(&a);
  qi_npy_free(&a);
  return 0;
}
