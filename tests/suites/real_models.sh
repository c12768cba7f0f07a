#!/usr/bin/env bash
# The real pretrained models in ../shared/assets/models, in FP32, against
# ONNX Runtime's FP32 output on the same input (and, for SqueezeNet, against
# the reference outputs shipped with it). Criterion: max |ours - ref| /
# max |ref| <= 1e-4 and the same arg-max along the last axis.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
ASSETS=../shared/assets
PY=.venv/bin/python
WORK=$BUILD/real_models
mkdir -p "$WORK"
pass=0
fail=0

check() { # NAME CMD...
  local name=$1
  shift
  if "$@" >"$WORK/$name.log" 2>&1; then
    pass=$((pass + 1))
    echo "ok   $name: $(tail -n 1 "$WORK/$name.log")"
  else
    fail=$((fail + 1))
    echo "FAIL $name:"
    tail -n 5 "$WORK/$name.log" | sed 's/^/    /'
  fi
}

# run_vs_ort NAME MODEL [SHAPE] [LO,HI]: a seeded random input (normal, or
# uniform in LO..HI for models fed raw pixels), ORT reference, compare.
run_vs_ort() {
  local name=$1 model=$2 shape=${3:-} range=${4:-}
  local sh=()
  [ -n "$shape" ] && sh=(--shape "$shape")
  "$PY" tests/python/random_inputs.py "$model" --out "$WORK/$name.in" \
    ${shape:+--shape "$shape"} ${range:+--uniform "$range"} || return 1
  local ins=()
  for f in "$WORK/$name".in*.npy; do ins+=(--inputs "$f"); done
  "$PY" tests/python/ort_reference.py "$model" "${ins[@]}" --out-prefix "$WORK/$name.ref" || return 1
  local qins=()
  for f in "$WORK/$name".in*.npy; do qins+=(--input "$f"); done
  tools/qinfer run "$model" "${sh[@]}" "${qins[@]}" --out "$WORK/$name.got" || return 1
  local k=0
  while [ -f "$WORK/$name.ref$k.npy" ]; do
    "$PY" tests/python/compare_outputs.py --ref "$WORK/$name.ref$k.npy" \
      --got "$WORK/$name.got$k.npy" --max-rel 1e-4 --top1 || return 1
    k=$((k + 1))
  done
}

for i in 0 1 2; do
  d=$ASSETS/testdata/squeezenet1.1_nchw/$i
  check "squeezenet1.1-reference-$i" bash -c "
    tools/qinfer run $ASSETS/models/squeezenet1.1.onnx --input $d/input_0.npy --out $WORK/sq$i. &&
    $PY tests/python/compare_outputs.py --ref $d/output_0.npy --got $WORK/sq$i.0.npy --max-rel 1e-5 --top1"
done

check squeezenet1.1-vs-ort run_vs_ort squeezenet $ASSETS/models/squeezenet1.1.onnx
check yolox_nano-vs-ort run_vs_ort yolox $ASSETS/models/yolox_nano.onnx "" 0,255
check deeplabv3_mnv2-vs-ort run_vs_ort deeplab $ASSETS/models/deeplabv3_mnv2_pascal.onnx
check ultraface_rfb320-vs-ort run_vs_ort ultraface $ASSETS/models/ultraface_rfb320.onnx
check ppocrv4_rec-vs-ort run_vs_ort ppocr $ASSETS/models/ppocrv4_rec.onnx "x=1x3x48x320"

echo "real models: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
