#!/usr/bin/env bash
# QDQ models run through qinfer, which imports their Q/DQ pairs
# (lib/quant/qdq_import.c) and runs them in INT8, compared with ONNX
# Runtime running the same QDQ model. The models (tests/python/
# make_qdq_models.py, cached in .cache/qdq): ONNX Runtime quantize_static
# (QuantFormat.QDQ, per-channel int8 weights, uint8 "_u8" and int8 "_s8"
# activations) of a small CNN and of the zoo's resnet18 and mobilenet_v2,
# and a PyTorch QAT-style export (fake-quantized float weights).
#
# The reference is ONNX Runtime with graph optimizations off: every
# QuantizeLinear / DequantizeLinear then runs in float, which is the exact
# meaning of the QDQ graph. ORT's default session (optimization ALL) fuses
# the QDQ groups into its own int8 kernels, which are not exact: measured
# here (AVX2, no VNNI) they are 1.3x the quantization error itself away
# from the exact result (rel L2 0.056 on resnet18, 0.28-0.32 on
# mobilenet_v2, where the uint8 x int8 pair sums of its AVX2 kernel
# saturate), and on mobilenet_v2_s8 ORT's int8 top-1 differs from its own
# exact result. That comparison is printed for information.
#
# Tolerance: an INT8 engine that rounds where the graph says reproduces the
# exact result up to rounding decisions (ties, accumulation order, float
# requantization, and the roundings that fused Conv+Add / MatMul+bias and
# float-output convolutions skip), and random-weight networks amplify each
# flipped rounding. So the limit is relative to each model's own
# quantization error q = rel L2(exact QDQ, FP32 model):
#   rel L2(qinfer, exact QDQ) <= QDQ_NOISE_FRACTION * q  (floor QDQ_MIN_TOL)
# and the same top-1 as the exact result. Measured fractions: small_cnn 0
# (q 0.004), resnet18 0.70 (0.031 of q 0.044), mobilenet_v2 0.72 (0.165 of
# q 0.230), qat_cnn 0.76 (0.009 of q 0.012). Even two float runs of the same
# QDQ graph (qinfer's FP32 Q/DQ ops vs ORT's) differ by 0.015 and 0.035 on
# resnet18 and mobilenet_v2. Checked to fail: a 3% error on every
# activation scale (4 of the 6 quantize_static models), a wrong int8 zero
# point shift (no INT8 node left: the check below).
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
QDQ=${QINFER_QDQ:-.cache/qdq}
ZOO=${QINFER_ZOO:-.cache/zoo}
WORK=$BUILD/qdq
QINFER=${QINFER:-tools/qinfer}
QDQ_NOISE_FRACTION=1.0
QDQ_MIN_TOL=1e-3
mkdir -p "$WORK" "$QDQ" "$ZOO"
pass=0
fail=0
# The zoo sources (cached by make_zoo.py), then the QDQ models (cached).
if ! "$PY" tests/python/make_zoo.py --out "$ZOO" --models resnet18,mobilenet_v2 \
    >"$WORK/zoo.log" 2>&1; then
  echo "FAIL zoo export: $(tail -n 3 "$WORK/zoo.log")"
  fail=$((fail + 1))
fi
if ! "$PY" tests/python/make_qdq_models.py --out "$QDQ" --zoo "$ZOO" >"$WORK/make.log" 2>&1; then
  echo "FAIL make_qdq_models: $(grep FAIL "$WORK/make.log" | head -n 3)"
  fail=$((fail + 1))
fi
for model in "$QDQ"/*_u8.onnx "$QDQ"/*_s8.onnx; do
  [ -f "$model" ] || continue
  name=$(basename "$model" .onnx)
  [ -f "$QDQ/$name.json" ] || continue
  log=$WORK/$name.log
  ok=1
  "$QINFER" run "$model" --input "$QDQ/$name.input.npy" --out "$WORK/$name.got" >"$log" 2>&1 || ok=0
  # The model must really run in INT8 (QDQ import + lowering), not in FP32.
  nint8=$("$QINFER" inspect "$model" 2>>"$log" | grep -cE '^ *[0-9]+ +QiQ[A-Za-z]+ +int8 ')
  if [ "$nint8" -eq 0 ]; then
    echo "no INT8 node after QDQ import" >>"$log"
    ok=0
  fi
  if [ $ok -eq 1 ]; then
    "$PY" - "$QDQ/$name" "$WORK/$name.got0.npy" "$QDQ_NOISE_FRACTION" "$QDQ_MIN_TOL" \
      "$nint8" >>"$log" 2>&1 <<'EOF' || ok=0
import sys
import numpy as np
sys.path.insert(0, "tests/python")
import compare_outputs as co
prefix, got_path, frac, floor, nint8 = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    float(sys.argv[4]), sys.argv[5]
got = np.load(got_path)
exact, ort8, fp32 = (np.load(prefix + s) for s in (".sim0.npy", ".out0.npy", ".fp32_0.npy"))
if got.shape != exact.shape or not np.all(np.isfinite(got)):
    print("FAIL: shape %s (want %s) or non-finite values" % (got.shape, exact.shape))
    sys.exit(1)
q = co.measure(exact, fp32)["rel_l2"]
limit = max(frac * q, floor)
err = co.measure(exact, got)["rel_l2"]
top1 = np.argmax(got, -1) == np.argmax(exact, -1)
ort_err = co.measure(ort8, got)["rel_l2"]
ort_top1 = np.argmax(got, -1) == np.argmax(ort8, -1)
ok = err <= limit and bool(np.all(top1))
print("%s: %s INT8 nodes; rel L2 vs exact QDQ %.3g (limit %.3g = %g x quantization error %.3g), "
      "top-1 %s; vs ORT int8 kernels rel L2 %.3g, top-1 %s"
      % ("PASS" if ok else "FAIL", nint8, err, limit, frac, q,
         "agrees" if np.all(top1) else "DIFFERS", ort_err,
         "agrees" if np.all(ort_top1) else "differs"))
sys.exit(0 if ok else 1)
EOF
  fi
  if [ $ok -eq 1 ]; then
    pass=$((pass + 1))
    echo "ok   $name: $(tail -n 1 "$log")"
  else
    fail=$((fail + 1))
    echo "FAIL $name:"
    tail -n 3 "$log" | sed 's/^/    /'
  fi
done
if [ $((pass + fail)) -eq 0 ]; then
  echo "FAIL no QDQ model in $QDQ"
  fail=1
fi
echo "qdq models: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
