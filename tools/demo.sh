#!/usr/bin/env bash
# The README's demo: a real pretrained classifier (SqueezeNet 1.1, ONNX Model
# Zoo weights, Apache-2.0) on real photographs, with accuracy and speed.
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
echo "== SqueezeNet 1.1 on 500 ImageNet photos, FP32, $THREADS threads"
tools/qinfer eval "$MODEL" --images "$IMAGES" --labels "$LABELS" --threads "$THREADS"
echo "== latency (synthetic input, 50 runs)"
tools/qinfer bench "$MODEL" --threads "$THREADS" --runs 50 | grep -E 'latency|throughput|arena'
