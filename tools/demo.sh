#!/usr/bin/env bash
# The README's demo: a real pretrained classifier (SqueezeNet 1.1, ONNX Model
# Zoo weights, Apache-2.0) calibrated on 100 real photographs, then run in
# FP32 and INT8 on the 400 other photographs: accuracy and speed side by
# side. The photos stay in ../shared/assets (ImageNet research terms: they
# are used in place, never copied into the project; .cache holds symlinks).
set -euo pipefail
cd "$(dirname "$0")/.."
ASSETS=../shared/assets
MODEL=$ASSETS/models/squeezenet1.1.onnx
IMAGES=$ASSETS/images/imagenet_dev
LABELS=$ASSETS/labels/imagenet_dev_labels.tsv
for f in "$MODEL" "$IMAGES" "$LABELS"; do
  [ -e "$f" ] || { echo "demo: $f is missing (the shared assets sit beside the repository)"; exit 1; }
done
THREADS=${THREADS:-$(nproc)}
WORK=.cache/demo
rm -rf "$WORK"
mkdir -p "$WORK/calib" "$WORK/eval"
# Every 5th photo calibrates; the other 400 are held out for evaluation.
i=0
for f in $(ls "$IMAGES" | sort); do
  if [ $((i % 5)) -eq 0 ]; then dst=$WORK/calib; else dst=$WORK/eval; fi
  ln -s "$(realpath "$IMAGES/$f")" "$dst/$f"
  i=$((i + 1))
done
RECIPE=(--resize 256 --crop 224x224 --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225)

echo "== calibrating SqueezeNet 1.1 on $(ls "$WORK/calib" | wc -l) photos (INT8, default precision policy)"
t0=$(date +%s.%N)
tools/calibrate "$MODEL" --data "$WORK/calib" "${RECIPE[@]}" --threads "$THREADS" \
  -o "$WORK/squeezenet_int8.qnf" --quiet
t1=$(date +%s.%N)
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "calibration took %.1f s\n", b - a }'

eval_model() { # prints "top1 top5"
  tools/qinfer eval "$1" --images "$WORK/eval" --labels "$LABELS" --threads "$THREADS" |
    sed -nE 's/.*top1 ([0-9.]+)% top5 ([0-9.]+)%.*/\1 \2/p'
}
latency() { # median ms at $2 threads
  tools/qinfer bench "$1" --threads "$2" --runs 40 | sed -nE 's/^latency_ms median ([0-9.]+).*/\1/p'
}
echo "== evaluating on the $(ls "$WORK/eval" | wc -l) held-out photos"
read -r f1 f5 < <(eval_model "$MODEL")
read -r q1 q5 < <(eval_model "$WORK/squeezenet_int8.qnf")
echo "== latency (median of 40 runs, synthetic input)"
fl1=$(latency "$MODEL" 1); ql1=$(latency "$WORK/squeezenet_int8.qnf" 1)
flt=$(latency "$MODEL" "$THREADS"); qlt=$(latency "$WORK/squeezenet_int8.qnf" "$THREADS")
echo
printf '%-6s %8s %8s %12s %12s\n' "" top-1 top-5 "ms 1 thread" "ms $THREADS threads"
printf '%-6s %7s%% %7s%% %12s %12s\n' FP32 "$f1" "$f5" "$fl1" "$flt"
printf '%-6s %7s%% %7s%% %12s %12s\n' INT8 "$q1" "$q5" "$ql1" "$qlt"
awk -v f1="$f1" -v q1="$q1" -v a="$fl1" -v b="$ql1" -v c="$flt" -v d="$qlt" -v t="$THREADS" \
  'BEGIN { printf "INT8 - FP32 top-1: %+.1f points; INT8 speed-up: %.2fx (1 thread), %.2fx (%s threads)\n", q1 - f1, a / b, c / d, t }'
