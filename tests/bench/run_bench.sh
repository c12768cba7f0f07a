#!/usr/bin/env bash
# `make bench`: whole-model latency of qinfer against ONNX Runtime, the
# mixed-precision latency and calibration cost, then the kernel benchmarks.
# About 4 minutes on a quiet 2-core machine, up to about 8 while other
# processes load it (rows are re-measured), plus 4 to 6 for steps 4 and 5;
# more the first time: model export and INT8 calibration are cached
# afterwards (the --auto models of step 4: 5 to 8 minutes once per
# tools/calibrate build).
#
#   tests/bench/run_bench.sh BUILD_DIR [bench_models.py options...]
#
# 1. exports the zoo models it needs (tests/python/make_zoo.py, cached in
#    .cache/zoo);
# 2. snapshots tools/qinfer (and tools/calibrate) into BUILD_DIR/bench, so a
#    rebuild during the run cannot change the binaries being measured;
# 3. runs bench_models.py: qinfer FP32 vs ORT FP32, 1 and 2 threads,
#    interleaved; adds qinfer INT8 (--int8) when tools/calibrate answers
#    --help; writes BUILD_DIR/bench/models.{md,json,png};
# 4. runs bench_mixed.py (with tools/calibrate): the real models in FP32,
#    all-INT8, the default precision policy and --auto, 1 thread, interleaved;
#    writes BUILD_DIR/bench/mixed.{md,json} (~1.5 min; --auto builds are
#    cached, the first after a calibrate rebuild adds 1-3 min per model);
# 5. runs bench_calib.py (with tools/calibrate): time and peak memory of
#    calibrating the zoo ResNet-50 on the 500 ImageNet photographs, and at
#    5/10/25 images beside ONNX Runtime's calibrator (MinMax, Percentile);
#    writes BUILD_DIR/bench/calib.{md,json} (~2.5 min);
#    both sections are appended to BUILD_DIR/bench/models.md;
# 6. runs bench_kernels.py: every BUILD_DIR/bench/bench_* program and the
#    INT8 GEMM beside OpenBLAS and oneDNN; writes BUILD_DIR/bench/kernels.txt.
#
# Environment: CI=true or QINFER_BENCH_QUICK=1: 3 models, few runs.
# QINFER_BENCH_FULL=1: every model, both OPENBLAS_CORETYPE settings, ORT INT8,
# batch 8 (~20 min). QINFER_BENCH_INT8=0/1 forces the INT8 column off/on.
# QINFER_BENCH_MIXED=0/1 and QINFER_BENCH_CALIB=0/1 force steps 4 and 5 off/on
# (default: on, except in quick mode); QINFER_BENCH_MIXED_AUTO=never times the
# existing --auto models even when older than tools/calibrate instead of
# rebuilding them. QINFER_BENCH_KERNELS=0 skips step 6.
set -euo pipefail
BUILD=${1:-build}
shift || true
cd "$(dirname "$0")/../.."
t0=$SECONDS

PY=.venv/bin/python
[[ -x $PY ]] || { echo "bench: $PY missing: run tools/setup-deps.sh (make deps)" >&2; exit 1; }
[[ -x tools/qinfer ]] || { echo "bench: tools/qinfer missing: run make" >&2; exit 1; }

OUT=$BUILD/bench
mkdir -p "$OUT"
cp tools/qinfer "$OUT/qinfer"
# Sections of this run only: models.md appends these files when present.
rm -f "$OUT/calib.json" "$OUT/calib.md" "$OUT/mixed.json" "$OUT/mixed.md"

mode=()
zoo_models=resnet18,resnet50,mobilenet_v2,efficientnet_b0,vit_ti_16,convnext_tiny
want_mixed=${QINFER_BENCH_MIXED:-1}
want_calib=${QINFER_BENCH_CALIB:-1}
if [[ ${CI:-} == true || ${QINFER_BENCH_QUICK:-0} == 1 ]]; then
    mode=(--quick)
    zoo_models=resnet18,mobilenet_v2
    want_mixed=${QINFER_BENCH_MIXED:-0}
    want_calib=${QINFER_BENCH_CALIB:-0}
    [[ $want_calib == 0 ]] || zoo_models+=,resnet50
elif [[ ${QINFER_BENCH_FULL:-0} == 1 ]]; then
    mode=(--full)
    zoo_models=$($PY tests/python/make_zoo.py --list | awk '{print $1}' | paste -sd,)
fi

# INT8: when tools/calibrate exists and answers --help (with a usage text).
int8=()
want_int8=${QINFER_BENCH_INT8:-auto}
if [[ $want_int8 != 0 && -x tools/calibrate ]] &&
   tools/calibrate --help 2>&1 | grep -qi usage; then
    cp -p tools/calibrate "$OUT/calibrate"   # -p: bench_mixed.py compares mtimes
    int8=(--int8 --calibrate "$OUT/calibrate")
elif [[ $want_int8 == 1 ]]; then
    echo "bench: QINFER_BENCH_INT8=1 but tools/calibrate is missing or gives no usage" >&2
    exit 1
else
    echo "bench: tools/calibrate not ready: no INT8 column (it is added by --int8)"
fi

# Zoo export is cached: a no-op (a second or two) when the files are current.
echo "bench: exporting the model zoo into .cache/zoo (cached)"
$PY tests/python/make_zoo.py --out .cache/zoo --models "$zoo_models" ||
    echo "bench: make_zoo reported failures; those models are skipped"

echo "bench: load average $(cut -d' ' -f1-3 /proc/loadavg), OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}"
$PY tests/bench/bench_models.py --qinfer "$OUT/qinfer" --out "$OUT" \
    ${mode[@]+"${mode[@]}"} ${int8[@]+"${int8[@]}"} "$@"

# Steps 4 and 5 need tools/calibrate (the snapshot made above).
if [[ ${#int8[@]} -eq 0 && ( $want_mixed != 0 || $want_calib != 0 ) ]]; then
    echo "bench: tools/calibrate not used (not ready, or QINFER_BENCH_INT8=0):" \
         "mixed-precision and calibration-cost steps skipped"
    want_mixed=0 want_calib=0
fi
if [[ $want_mixed != 0 ]]; then
    echo
    echo "bench: mixed-precision latency (real models; calibration data from make accuracy)"
    $PY tests/bench/bench_mixed.py --qinfer "$OUT/qinfer" --calibrate "$OUT/calibrate" \
        --auto-build "${QINFER_BENCH_MIXED_AUTO:-stale}" --out "$OUT" ||
        echo "bench: bench_mixed.py failed; no mixed-precision section"
fi
if [[ $want_calib != 0 ]]; then
    echo
    echo "bench: calibration cost (ResNet-50, 500 ImageNet photographs; ORT beside it)"
    $PY tests/bench/bench_calib.py --qinfer "$OUT/qinfer" --calibrate "$OUT/calibrate" \
        --out "$OUT" || echo "bench: bench_calib.py failed; no calibration-cost section"
fi
if [[ -f $OUT/models.json && ( -f $OUT/mixed.json || -f $OUT/calib.json ) ]]; then
    $PY tests/bench/bench_models.py --report "$OUT/models.json" --out "$OUT" >/dev/null
fi

if [[ ${QINFER_BENCH_KERNELS:-1} != 0 ]]; then
    echo
    echo "bench: kernel benchmarks (the programs of make bench-kernels)"
    $PY tests/bench/bench_kernels.py --bin-dir "$OUT"
fi
echo "bench: done in $((SECONDS - t0)) s; results in $OUT/models.md (with mixed.md and" \
     "calib.md when made) and $OUT/kernels.txt"
