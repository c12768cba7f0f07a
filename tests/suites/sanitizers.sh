#!/usr/bin/env bash
# Every unit test and the ONNX node tests again, built with AddressSanitizer
# (leak checking on) and UndefinedBehaviorSanitizer; any report fails the run.
set -u
cd "$(dirname "$0")/../.."
SAN_BUILD=build-san
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
mkdir -p "$SAN_BUILD"
if ! make --no-print-directory SAN=1 -j"$(nproc)" tests >"$SAN_BUILD/build.log" 2>&1; then
  tail -n 20 "$SAN_BUILD/build.log"
  echo "sanitizers: 0 passed, 1 failed"
  exit 1
fi
pass=0
fail=0
mkdir -p "$SAN_BUILD/logs"
for t in "$SAN_BUILD"/tests/test_*; do
  [ -x "$t" ] && [ "${t%.log}" = "$t" ] || continue
  log=$SAN_BUILD/logs/$(basename "$t").log
  if "$t" >"$log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $(basename "$t"): $(tail -n 1 "$log")"
  else
    fail=$((fail + 1))
    echo "FAIL $(basename "$t"):"
    grep -E 'ERROR|runtime error|FAIL|SUMMARY' "$log" | head -n 10 | sed 's/^/    /'
  fi
done
if "$SAN_BUILD"/tests/onnx_node_runner tests/conformance/exclusions.txt \
  /usr/share/libonnx-testdata/data/node >"$SAN_BUILD/node.log" 2>&1; then
  pass=$((pass + 1))
  echo "ok   onnx node tests: $(tail -n 1 "$SAN_BUILD/node.log")"
else
  fail=$((fail + 1))
  echo "FAIL onnx node tests under sanitizers:"
  grep -E 'ERROR|runtime error|FAIL|SUMMARY' "$SAN_BUILD/node.log" | head -n 10 | sed 's/^/    /'
fi
echo "sanitizers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
