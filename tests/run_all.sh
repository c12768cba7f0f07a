#!/usr/bin/env bash
# Runs every test suite of qinfer (called by `make test` after the build).
# Each suite prints its own "N passed, N failed"; this script adds them up
# and closes with the total on a line of its own.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/.."
LOGS=$BUILD/logs
mkdir -p "$LOGS"
total_pass=0
total_fail=0
failed_suites=()

# run_suite NAME CMD...: runs CMD, keeps its log, adds its counts.
run_suite() {
  local name=$1
  shift
  local log=$LOGS/${name//\//_}.log
  local t0=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local line
  line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
  local p f
  p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
  f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
  [ -n "$line" ] || { p=0; f=1; }
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p))
  total_fail=$((total_fail + f))
  if [ "$f" -ne 0 ]; then
    failed_suites+=("$name")
    printf '%-28s FAIL  %s (%ds) — log: %s\n' "$name" "${line:-no summary, exit $rc}" $((SECONDS - t0)) "$log"
    grep -E '^(FAIL|ERROR|AddressSanitizer|runtime error)' "$log" | head -n 20 | sed 's/^/    /'
  else
    printf '%-28s ok    %s (%ds)\n' "$name" "$line" $((SECONDS - t0))
  fi
}

for t in "$BUILD"/tests/test_*; do
  [ -x "$t" ] || continue
  run_suite "unit/$(basename "$t")" "$t"
done

# ONNX's backend node tests: Debian's libonnx-testdata (ONNX 1.12) and the
# cases of the onnx wheel (newer opsets), written out by gen_node_tests.py.
run_suite onnx-node-tests-1.12 "$BUILD"/tests/onnx_node_runner tests/conformance/exclusions.txt \
  /usr/share/libonnx-testdata/data/node
if .venv/bin/python tests/python/gen_node_tests.py --out .cache/onnx-node >"$LOGS/gen_node_tests.log" 2>&1; then
  run_suite onnx-node-tests-wheel "$BUILD"/tests/onnx_node_runner tests/conformance/exclusions.txt \
    .cache/onnx-node
else
  echo "onnx-node-tests-wheel        FAIL  cannot generate the cases (see $LOGS/gen_node_tests.log)"
  total_fail=$((total_fail + 1))
  failed_suites+=(onnx-node-tests-wheel)
fi

for s in tests/suites/*.sh; do
  [ -x "$s" ] || continue
  run_suite "$(basename "$s" .sh)" "$s" "$BUILD"
done

echo
if [ ${#failed_suites[@]} -gt 0 ]; then
  echo "failed suites: ${failed_suites[*]}"
fi
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
