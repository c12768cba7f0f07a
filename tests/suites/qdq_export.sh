#!/usr/bin/env bash
# QDQ ONNX export (lib/calib/qdq_export.h) through onnx and ONNX Runtime: a
# small CNN at opset 13 (per-channel weights) and 11 (per-tensor), and
# SqueezeNet 1.1 calibrated on ImageNet photographs, each exported with
# 8-bit and 7-bit (reduce_range) weights by the driver mode of
# $BUILD/tests/test_qdq_export, then checked by
# tests/python/check_qdq_export.py (checker, Q/DQ counts, int8 weights,
# ONNX Runtime output against FP32, top-1). Prints "N passed, N failed".
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
DRIVER=$BUILD/tests/test_qdq_export
WORK=$BUILD/qdq_export
mkdir -p "$WORK"
if [ ! -x "$DRIVER" ]; then
  echo "FAIL driver: $DRIVER is not built (make tests)"
  echo "qdq export: 0 passed, 1 failed"
  exit 1
fi
"$PY" tests/python/check_qdq_export.py --driver "$DRIVER" --work "$WORK"
