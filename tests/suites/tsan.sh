#!/usr/bin/env bash
# ThreadSanitizer run of tests/unit/test_concurrency.c: one model shared by
# 8 sessions on 8 threads (some with their own 2-thread pool), 1000 runs
# each, plus the per-op determinism checks at 1, 2 and 3 threads; and of
# tests/unit/test_prepare.c (weights packed by several threads at load). The whole
# library is rebuilt with -fsanitize=thread into build-tsan/ (through the
# Makefile, so the flags stay those of the normal build); any race report
# fails the suite. A deliberately racy canary is built and run first, so a
# ThreadSanitizer that silently reports nothing cannot pass for a clean run.
set -u
cd "$(dirname "$0")/../.."
TSAN_BUILD=build-tsan
CC=${CC:-cc}
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 history_size=4"
mkdir -p "$TSAN_BUILD/logs"
pass=0
fail=0

summary() {
  echo "tsan: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
  exit
}

canary=$TSAN_BUILD/canary.c
cat >"$canary" <<'EOF'
#include <pthread.h>
static int shared;
static void *bump(void *p) { (void)p; shared++; return 0; }
int main(void) {
  pthread_t a, b;
  pthread_create(&a, 0, bump, 0);
  pthread_create(&b, 0, bump, 0);
  pthread_join(a, 0);
  pthread_join(b, 0);
  return shared == 99;
}
EOF
if ! "$CC" -std=c11 -g -O1 -fsanitize=thread -pthread "$canary" -o "$TSAN_BUILD/canary" \
  >"$TSAN_BUILD/logs/canary.log" 2>&1; then
  echo "FAIL cannot build with -fsanitize=thread (see $TSAN_BUILD/logs/canary.log)"
  fail=$((fail + 1))
  summary
fi
if "$TSAN_BUILD/canary" >>"$TSAN_BUILD/logs/canary.log" 2>&1 ||
  ! grep -q 'WARNING: ThreadSanitizer: data race' "$TSAN_BUILD/logs/canary.log"; then
  echo "FAIL ThreadSanitizer did not report the canary's data race:"
  tail -n 5 "$TSAN_BUILD/logs/canary.log" | sed 's/^/    /'
  fail=$((fail + 1))
  summary
fi
echo "ok   canary race reported"
pass=$((pass + 1))

t0=$SECONDS
if ! make --no-print-directory -j"$(nproc)" BUILD="$TSAN_BUILD" LIB="$TSAN_BUILD/libqinfer.a" \
  CC="$CC" EXTRA_CFLAGS="-fsanitize=thread" LDFLAGS="-fsanitize=thread" \
  "$TSAN_BUILD/tests/test_concurrency" "$TSAN_BUILD/tests/test_prepare" \
  >"$TSAN_BUILD/build.log" 2>&1; then
  tail -n 20 "$TSAN_BUILD/build.log"
  fail=$((fail + 1))
  summary
fi
echo "built with -fsanitize=thread in $((SECONDS - t0)) s"

for t in test_concurrency test_prepare; do
  t0=$SECONDS
  log=$TSAN_BUILD/logs/$t.log
  if "$TSAN_BUILD/tests/$t" >"$log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $t under ThreadSanitizer ($((SECONDS - t0)) s): $(tail -n 1 "$log")"
  else
    fail=$((fail + 1))
    echo "FAIL $t under ThreadSanitizer (log $log):"
    grep -E 'WARNING|SUMMARY|FAIL|#[0-9] ' "$log" | head -n 20 | sed 's/^/    /'
  fi
done
summary
