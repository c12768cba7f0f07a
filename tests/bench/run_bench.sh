#!/usr/bin/env bash
# Whole-model benchmark of qinfer against ONNX Runtime (`make bench`).
#
#   tests/bench/run_bench.sh BUILD_DIR [bench_models.py options...]
#
# Exports the zoo models it needs (tests/python/make_zoo.py, cached in
# .cache/zoo, with calibration inputs for the INT8 variant), snapshots
# tools/qinfer into BUILD_DIR/bench (so a rebuild during the run cannot change
# the binary being measured) and runs tests/bench/bench_models.py, which
# writes BUILD_DIR/bench/models.{md,json,png}.
# Quick mode (few models, few runs) when CI=true or QINFER_BENCH_QUICK=1.
set -euo pipefail
BUILD=${1:-build}
shift || true
cd "$(dirname "$0")/../.."

PY=.venv/bin/python
[[ -x $PY ]] || { echo "bench: $PY missing: run tools/setup-deps.sh (make deps)" >&2; exit 1; }
[[ -x tools/qinfer ]] || { echo "bench: tools/qinfer missing: run make" >&2; exit 1; }

OUT=$BUILD/bench
mkdir -p "$OUT"
cp tools/qinfer "$OUT/qinfer"

quick=()
zoo_models=resnet18,resnet50,mobilenet_v2,mobilenet_v3_large,regnet_x_400mf,efficientnet_b0,convnext_tiny,vit_b_16,vit_ti_16,swin_t,repvgg_a0,mobilenetv4_conv_small,fpn_resnet18
if [[ ${CI:-} == true || ${QINFER_BENCH_QUICK:-0} == 1 ]]; then
    quick=(--quick)
    zoo_models=resnet18,mobilenet_v2
fi

# Zoo export is cached: a no-op (a second or two) when the files are current.
# A model timm cannot build is reported by make_zoo and skipped by the bench.
echo "bench: exporting the model zoo into .cache/zoo (cached)"
$PY tests/python/make_zoo.py --out .cache/zoo --models "$zoo_models" --calib 8 ||
    echo "bench: make_zoo reported failures; those models are skipped"

echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
exec $PY tests/bench/bench_models.py --qinfer "$OUT/qinfer" --out "$OUT" "${quick[@]}" "$@"
