#!/usr/bin/env bash
# The CUDA checks in one call on a machine with a GPU (docs/cuda.md):
# builds the CUDA flavour (make with nvcc), runs the kernel tests against
# the CPU oracles, the same tests under compute-sanitizer's memcheck when
# it is there, and the GEMM throughput benchmark (cuBLASLt int8 and fp16,
# and qinfer's u8s8 GEMM, default 4096^3, in TOPS).
#
#   tests/cuda/run.sh [M N K]
#
# Logs go to $OUT when it is set (the lent GPU machines), else to
# $BUILD/cuda-tests/ (BUILD defaults to build). The library's CPU part needs OpenBLAS's headers to
# build; where they are missing, binaries built elsewhere with nvcc and
# carried in build/cuda-tests/ are used instead (said so in the output).
# Exit status: 0 when every step that ran passed.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LOGS=${OUT:-$BUILD/cuda-tests}
mkdir -p "$LOGS" "$BUILD/cuda-tests"
BIN=$BUILD/cuda-tests
status=0
summary=()

if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.max.sm \
    --format=csv >"$LOGS/nvidia-smi.txt" 2>&1
  cat "$LOGS/nvidia-smi.txt"
fi
command -v nvcc >/dev/null 2>&1 && nvcc --version | tail -n 2

t0=$SECONDS
if make --no-print-directory -j"$(nproc)" BUILD="$BUILD" LIB="$BUILD/libqinfer.a" \
  cuda-tests >"$LOGS/build.log" 2>&1; then
  summary+=("build            ok ($((SECONDS - t0)) s)")
elif [ -x "$BIN/test_cuda_kernels" ] && [ -x "$BIN/bench_cuda_gemm" ]; then
  summary+=("build            FAILED, using the carried binaries (see $LOGS/build.log)")
  tail -n 5 "$LOGS/build.log"
else
  tail -n 20 "$LOGS/build.log"
  echo "cuda: build failed and no binaries in $BIN"
  exit 1
fi

run_step() { # name log cmd...
  local name=$1 log=$2
  shift 2
  local t=$SECONDS
  "$@" >"$log" 2>&1
  local rc=$?
  local last
  last=$(tail -n 1 "$log")
  if [ $rc -eq 0 ]; then
    summary+=("$(printf '%-16s ok   %s (%d s)' "$name" "$last" $((SECONDS - t)))")
  else
    status=1
    summary+=("$(printf '%-16s FAIL %s (exit %d, %d s; log %s)' "$name" "$last" $rc $((SECONDS - t)) "$log")")
    grep -E '^FAIL|ERROR' "$log" | head -n 20
  fi
}

run_step kernel-tests "$LOGS/test_cuda_kernels.log" "$BIN/test_cuda_kernels"
cat "$LOGS/test_cuda_kernels.log"
if grep -q '^cuda tests: skipped' "$LOGS/test_cuda_kernels.log"; then
  echo "cuda: no usable GPU here; nothing else to run"
  printf '%s\n' "${summary[@]}"
  exit "$status"
fi
if command -v compute-sanitizer >/dev/null 2>&1; then
  run_step memcheck "$LOGS/memcheck.log" compute-sanitizer --tool memcheck \
    --error-exitcode 9 "$BIN/test_cuda_kernels"
fi
run_step gemm-bench "$LOGS/bench_cuda_gemm.log" "$BIN/bench_cuda_gemm" "$@"

echo
cat "$LOGS/bench_cuda_gemm.log"
echo
printf '%s\n' "${summary[@]}"
exit "$status"
