#!/usr/bin/env bash
# The model zoo (real architectures with seeded random weights, exported by
# tests/python/make_zoo.py and cached in .cache/zoo) run in FP32 through
# qinfer and compared with ONNX Runtime's FP32 output: max |ours - ref| /
# max |ref| <= 1e-4 and the same top-1.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
ZOO=${QINFER_ZOO:-.cache/zoo}
WORK=$BUILD/zoo
mkdir -p "$WORK" "$ZOO"
pass=0
fail=0
if ! "$PY" tests/python/make_zoo.py --out "$ZOO" >"$WORK/export.log" 2>&1; then
  echo "FAIL export: $(tail -n 3 "$WORK/export.log")"
  fail=$((fail + 1))
fi
for model in "$ZOO"/*.onnx; do
  [ -f "$model" ] || continue
  name=$(basename "$model" .onnx)
  log=$WORK/$name.log
  ok=1
  tools/qinfer run "$model" --input "$ZOO/$name.input.npy" --out "$WORK/$name.got" >"$log" 2>&1 || ok=0
  k=0
  while [ $ok -eq 1 ] && [ -f "$ZOO/$name.out$k.npy" ]; do
    "$PY" tests/python/compare_outputs.py --ref "$ZOO/$name.out$k.npy" \
      --got "$WORK/$name.got$k.npy" --max-rel 1e-4 --top1 >>"$log" 2>&1 || ok=0
    k=$((k + 1))
  done
  if [ $ok -eq 1 ]; then
    pass=$((pass + 1))
    echo "ok   $name: $(tail -n 1 "$log")"
  else
    fail=$((fail + 1))
    echo "FAIL $name:"
    tail -n 3 "$log" | sed 's/^/    /'
  fi
done
echo "zoo models: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
