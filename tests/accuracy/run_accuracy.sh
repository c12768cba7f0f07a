#!/usr/bin/env bash
# FP32 versus INT8 accuracy of qinfer on the real models (and an SQNR guard
# on the random-weight zoo). Prints a Markdown report on stdout (also saved
# to .cache/accuracy/report.md); progress goes to stderr.
#
#   tests/accuracy/run_accuracy.sh [options] [MODEL...]
#     MODEL: squeezenet deeplab yolox ppocr zoo (default: all of them)
#     --sanity         FP32 .qnf stand-ins instead of INT8 builds: every
#                      agreement must come out at 100% (checks the harness)
#     --methods LIST   calibration methods (default minmax,percentile,
#                      entropy,mse; the zoo only builds calibrate's default
#                      unless LIST is given)
#     --auto           also report `calibrate --auto` builds of the real
#                      models (minutes per model: not in the default run)
#     --fresh          recalibrate even when a cached .qnf matches
#     --threads N      threads for the engine (default 1, or $ACC_THREADS)
#     --zoo-models L   zoo subset, comma-separated
#     --update-zoo-baseline  record the zoo's default SQNR figures
#
# Needs tools/qinfer and tools/calibrate (make all) or $QINFER/$CALIBRATE,
# .venv (make deps), the assets in ../shared/assets (or $QINFER_ASSETS)
# and, for the zoo, .cache/zoo (tests/python/make_zoo.py). Exit status 0
# when every target and sanity check holds, 1 otherwise, 2 on bad usage.
set -uo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-.venv/bin/python}
ALL_MODELS=(squeezenet deeplab yolox ppocr zoo)

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

shown_args=$*
common=()
real_args=()   # for the real models only (the zoo would take too long)
zoo_args=()
models=()
while (($#)); do
  case $1 in
    --sanity|--fresh) common+=("$1") ;;
    --auto) real_args+=("$1") ;;
    --methods) [ $# -ge 2 ] || usage; common+=(--methods "$2"); shift ;;
    --threads) [ $# -ge 2 ] || usage; common+=(--threads "$2"); shift ;;
    --zoo-models) [ $# -ge 2 ] || usage; zoo_args+=(--models "$2"); shift ;;
    --update-zoo-baseline) zoo_args+=(--update-baseline) ;;
    -h|--help) usage ;;
    squeezenet|deeplab|yolox|ppocr|zoo) models+=("$1") ;;
    *) echo "run_accuracy: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
((${#models[@]})) || models=("${ALL_MODELS[@]}")

QINFER=${QINFER:-tools/qinfer}
CALIBRATE=${CALIBRATE:-tools/calibrate}
for t in "$QINFER" "$CALIBRATE"; do
  [ -x "$t" ] || { echo "run_accuracy: $t not found: run 'make all' first" >&2; exit 1; }
done
[ -x "$PY" ] || { echo "run_accuracy: $PY not found: run 'make deps' first" >&2; exit 1; }
# Run on copies: the tree may be rebuilt while this runs (minutes).
snap=.cache/accuracy/tools
mkdir -p "$snap"
# (copy, then rename: a copy still running elsewhere cannot be overwritten)
for t in qinfer calibrate; do
  src=$QINFER
  [ $t = calibrate ] && src=$CALIBRATE
  cp "$src" "$snap/$t.$$" && mv -f "$snap/$t.$$" "$snap/$t" || exit 1
done
export QINFER=$snap/qinfer CALIBRATE=$snap/calibrate

mkdir -p .cache/accuracy
report=.cache/accuracy/report.md
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (with local changes)")
{
  echo "## qinfer accuracy: FP32 vs INT8"
  echo
  echo "- command: \`tests/accuracy/run_accuracy.sh${shown_args:+ $shown_args}\`"
  echo "- commit $rev$dirty, $(date -u '+%Y-%m-%d %H:%M UTC'), $cpu, $(nproc) cores"
  echo
} | tee "$report"

failed=()
t_all=$SECONDS
for m in "${models[@]}"; do
  t0=$SECONDS
  echo "run_accuracy: $m" >&2
  args=("${common[@]}")
  if [ "$m" = zoo ]; then args+=("${zoo_args[@]}"); else args+=("${real_args[@]}"); fi
  if ! "$PY" "tests/accuracy/acc_$m.py" "${args[@]}" | tee -a "$report"; then
    failed+=("$m")
  fi
  echo "run_accuracy: $m took $((SECONDS - t0)) s" >&2
  echo "_${m}: $((SECONDS - t0)) s_" | tee -a "$report"
  echo | tee -a "$report"
done
echo "Total time $((SECONDS - t_all)) s. ${#failed[@]} of ${#models[@]} model sections with a failed check${failed:+: ${failed[*]}}." | tee -a "$report"
((${#failed[@]} == 0))
