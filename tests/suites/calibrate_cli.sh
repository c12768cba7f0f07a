#!/usr/bin/env bash
# tools/calibrate from the command line: usage errors (exit 2), bad data and
# bad patterns (exit 1, one line on stderr naming the file or option), and
# end-to-end runs on the tiny models of tests/data/calib (made by
# make_fixtures.py) whose .qnf must load in `qinfer inspect`, run in
# `qinfer run`, and stay within INT8_MAX_REL of the FP32 output.
# CALIBRATE / QINFER override the binaries under test.
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.."
PY=.venv/bin/python
CAL=${CALIBRATE:-tools/calibrate}
QI=${QINFER:-tools/qinfer}
FIX=tests/data/calib
W=$BUILD/calibrate_cli
D=$W/data
ASSETS=../shared/assets
# SqueezeNet INT8 (8 calibration images) vs FP32 on a real photo: measured
# ~0.025; a broken range or layout gives ~1.
SQUEEZENET_MAX_REL=0.1
# INT8 output of the tiny models vs FP32: max |q - f| / max |f| (they reach
# ~50 dB SQNR; 0.05 still catches a wrong scale or layout).
INT8_MAX_REL=0.05
rm -rf "$W"
mkdir -p "$W"
pass=0
fail=0

ok() {
  pass=$((pass + 1))
  echo "ok   $1"
}
bad() {
  fail=$((fail + 1))
  echo "FAIL $1"
  shift
  for l in "$@"; do echo "    $l"; done
}

# expect NAME RC PATTERN ARGS...: calibrate exits with RC and prints exactly
# one line on stderr, matching PATTERN (grep -E).
expect() {
  local name=$1 rc=$2 pat=$3
  shift 3
  "$CAL" "$@" >"$W/out" 2>"$W/err"
  local got=$? lines
  lines=$(grep -c . "$W/err")
  if [ "$got" -eq "$rc" ] && [ "$lines" -eq 1 ] && grep -qE -- "$pat" "$W/err"; then
    ok "$name"
  else
    bad "$name" "exit $got (want $rc), $lines stderr lines (want 1, matching: $pat):" \
      "$(head -c 400 "$W/err")"
  fi
}

# run_ok NAME ARGS...: calibrate succeeds and the model after -o loads in
# `qinfer inspect`; stdout/stderr kept in $W/NAME.*.
run_ok() {
  local name=$1
  shift
  local out="" prev="" a
  for a in "$@"; do
    [ "$prev" = "-o" ] && out=$a
    prev=$a
  done
  rm -f "$out"
  if ! "$CAL" "$@" >"$W/$name.out" 2>"$W/$name.err"; then
    bad "$name" "exit $?: $(tail -n 3 "$W/$name.err")"
    return 1
  fi
  if ! "$QI" inspect "$out" >"$W/$name.inspect" 2>&1; then
    bad "$name" "'$out' does not load: $(tail -n 2 "$W/$name.inspect")"
    return 1
  fi
  ok "$name"
}

# check NAME CMD...: CMD succeeds.
check() {
  local name=$1
  shift
  if "$@" >"$W/check.log" 2>&1; then ok "$name"; else bad "$name" "$(tail -n 5 "$W/check.log")"; fi
}

# close_to_fp32 NAME MODEL QNF INPUTS...: qinfer run of both, compared.
close_to_fp32() {
  local name=$1 model=$2 qnf=$3
  shift 3
  local ins=()
  for f in "$@"; do ins+=(--input "$f"); done
  check "$name" bash -c '
    "$1" run "$2" "${@:6}" --out "$4/f" && "$1" run "$3" "${@:6}" --out "$4/q" &&
    "$5" tests/python/compare_outputs.py --ref "$4/f0.npy" --got "$4/q0.npy" --max-rel '"$INT8_MAX_REL"' --top1
  ' _ "$QI" "$model" "$qnf" "$W" "$PY" "${ins[@]}"
}

# ---- data -------------------------------------------------------------------
if ! "$PY" - "$D" >"$W/data.log" 2>&1 <<'EOF'; then
import os, sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(3)
for sub in ("npy", "empty", "img", "img_nhwc", "mix", "a", "b", "b_more", "bad"):
    os.makedirs(f"{d}/{sub}", exist_ok=True)
x = lambda *s: rng.normal(0, 1, s).astype(np.float32)
for i in range(5):
    np.save(f"{d}/npy/s{i}.npy", x(1, 3, 8, 8))
np.save(f"{d}/npy/s5_nobatch.npy", x(3, 8, 8))        # [3,8,8] for [1,3,8,8]
np.save(f"{d}/batch6.npy", x(6, 3, 8, 8))             # 6 samples
open(f"{d}/npy/README.txt", "w").write("not data: skipped in folders\n")
np.save(f"{d}/one.npy", x(1, 3, 8, 8))
for i in range(8):
    h, w = 9 + 3 * i, 30 - 2 * i
    Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)).save(
        f"{d}/img/p{i}." + ("png" if i % 2 else "jpg"))
for i in range(3):
    Image.fromarray((rng.random((7, 11, 3)) * 255).astype(np.uint8)).save(f"{d}/img_nhwc/q{i}.png")
np.save(f"{d}/mix/a.npy", x(1, 3, 8, 8))
Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(f"{d}/mix/b.png")
for i in range(3):
    np.save(f"{d}/a/{i}.npy", x(1, 2, 4, 4))
    np.save(f"{d}/b/{i}.npy", x(1, 2, 4, 4))
for i in range(4):
    np.save(f"{d}/b_more/{i}.npy", x(1, 2, 4, 4))
nan = x(1, 3, 8, 8)
nan.flat[17] = np.nan
np.save(f"{d}/bad/nan.npy", nan)
np.save(f"{d}/bad/inf_in_batch.npy", np.concatenate([x(2, 3, 8, 8), np.full((1, 3, 8, 8), np.inf, np.float32)]))
np.save(f"{d}/bad/shape.npy", x(1, 3, 7, 8))
np.save(f"{d}/bad/batch_rows.npy", x(4, 3, 8, 7))
np.save(f"{d}/bad/f64.npy", rng.normal(0, 1, (1, 3, 8, 8)))
good = open(f"{d}/one.npy", "rb").read()
open(f"{d}/bad/magic.npy", "wb").write(b"NOTNUMPY" + good[8:])
open(f"{d}/bad/truncated.npy", "wb").write(good[:200])
open(f"{d}/bad/header.npy", "wb").write(good[:10] + b"{'descr': '<f4', 'fortran_order': False}".ljust(len(good) - 10))
open(f"{d}/bad/empty.npy", "wb").close()
open(f"{d}/bad/notes.txt", "w").write("hello\n")
# A frame header with a 0x0 size: libjpeg fails without a warning first
# (a truncated JPEG only warns and decodes gray; see the report).
open(f"{d}/bad/broken.jpg", "wb").write(b"\xff\xd8\xff\xc0\x00\x11\x08" + bytes(100))
os.symlink("does-not-exist.npy", f"{d}/bad/dangling.npy")
EOF
  echo "FAIL data: cannot make the test data ($(tail -n 2 "$W/data.log"))"
  echo "calibrate cli: $pass passed, $((fail + 1)) failed"
  exit 1
fi
M=$FIX/tiny.onnx
O=$W/out.qnf
mkdir -p "$D/bad_dir"
cp "$D/one.npy" "$D/bad_dir/ok.npy"
ln -s does-not-exist.npy "$D/bad_dir/unreadable.npy"

# ---- usage errors: exit 2 ---------------------------------------------------
expect usage-no-args 2 'missing MODEL'
expect usage-no-output 2 'missing -o' "$M" --data "$D/npy"
expect usage-no-data 2 'missing --data' "$M" -o "$O"
expect usage-empty-data 2 '--data needs' "$M" --data -o "$O"
expect usage-unknown-option 2 "unknown option '--bogus'" "$M" --data "$D/npy" -o "$O" --bogus
expect usage-two-models 2 "unexpected argument" "$M" "$M" --data "$D/npy" -o "$O"
expect usage-method 2 "--method 'kl'" "$M" --data "$D/npy" -o "$O" --method kl
expect usage-precision 2 "--precision 'int4'" "$M" --data "$D/npy" -o "$O" --precision int4
expect usage-limit 2 "--limit '0'" "$M" --data "$D/npy" -o "$O" --limit 0
expect usage-threads 2 "--threads 'x'" "$M" --data "$D/npy" -o "$O" --threads x
expect usage-missing-value 2 "--bins needs a value" "$M" --data "$D/npy" -o "$O" --bins
expect usage-mean 2 "--mean '1,2'" "$M" --data "$D/img" -o "$O" --mean 1,2
expect usage-std-zero 2 "--std '0'" "$M" --data "$D/img" -o "$O" --std 0
expect usage-resize 2 "--resize '8x'" "$M" --data "$D/img" -o "$O" --resize 8x
expect usage-letterbox-resize 2 '--letterbox does its own resize' "$M" --data "$D/img" -o "$O" --letterbox 8x8 --resize 9
expect usage-shape 2 "--input-shape 'x=1x0'" "$M" --data "$D/npy" -o "$O" --input-shape x=1x0
expect usage-budget-without-auto 2 'add --auto' "$M" --data "$D/npy" -o "$O" --min-sqnr 30
expect usage-data-and-data-input 2 'either --data or --data-input' "$M" --data "$D/npy" --data-input x="$D/npy" -o "$O"
expect usage-empty-pattern 2 '--fp32 needs' "$M" --data "$D/npy" -o "$O" --fp32 ,
expect usage-flag-value 2 '--auto takes no value' "$M" --data "$D/npy" -o "$O" --auto=1
if "$CAL" --help >"$W/help.out" 2>&1 && grep -q '^usage: calibrate' "$W/help.out"; then
  ok help
else
  bad help "$(head -n 3 "$W/help.out")"
fi

# ---- data and pattern errors: exit 1, one line naming the culprit ----------
expect missing-data-dir 1 "cannot open '$D/nope'" "$M" --data "$D/nope" -o "$O" --quiet
expect empty-data-dir 1 "'$D/empty': no .npy" "$M" --data "$D/empty" -o "$O" --quiet
expect corrupt-npy-magic 1 "$D/bad/magic.npy: neither a .npy" "$M" --data "$D/bad/magic.npy" -o "$O" --quiet
expect corrupt-npy-truncated 1 "$D/bad/truncated.npy: truncated npy" "$M" --data "$D/bad/truncated.npy" -o "$O" --quiet
expect corrupt-npy-header 1 "$D/bad/header.npy: npy header lacks" "$M" --data "$D/bad/header.npy" -o "$O" --quiet
expect empty-file 1 "$D/bad/empty.npy: .*empty file" "$M" --data "$D/bad/empty.npy" -o "$O" --quiet
expect nan-npy 1 "$D/bad/nan.npy: NaN or Inf at element 17 of input 'x'" "$M" --data "$D/bad/nan.npy" -o "$O" --quiet
expect inf-in-batch 1 "$D/bad/inf_in_batch.npy\[2\]: NaN or Inf at element 0" "$M" --data "$D/bad/inf_in_batch.npy" -o "$O" --quiet
expect wrong-shape-npy 1 "$D/bad/shape.npy: shape \[1,3,7,8\] does not fit input 'x' \[1,3,8,8\]" "$M" --data "$D/bad/shape.npy" -o "$O" --quiet
expect wrong-rows-npy 1 "$D/bad/batch_rows.npy: shape \[4,3,8,7\]" "$M" --data "$D/bad/batch_rows.npy" -o "$O" --quiet
expect wrong-dtype-npy 1 "$D/bad/f64.npy: dtype float64, but input 'x' is float32" "$M" --data "$D/bad/f64.npy" -o "$O" --quiet
expect unreadable-file 1 "cannot open '$D/bad_dir/unreadable.npy'" "$M" --data "$D/bad_dir" -o "$O" --quiet
expect not-data-file 1 "$D/bad/notes.txt: neither a .npy file nor a JPEG/PNG" "$M" --data "$D/bad/notes.txt" -o "$O" --quiet
expect corrupt-jpeg 1 "$D/bad/broken.jpg: JPEG error: Empty JPEG image" "$M" --data "$D/bad/broken.jpg" -o "$O" --quiet
expect mixed-kinds 1 "is a .npy file but .* is an image" "$M" --data "$D/mix" -o "$O" --quiet
expect unknown-pattern 1 "^calibrate: --fp32 nomatch\*: .*matches no node" "$M" --data "$D/npy" -o "$O" --quiet --fp32 'nomatch*'
expect unknown-pattern-in-list 1 "^calibrate: --int8 Conv,Nope: .*'Nope'" "$M" --data "$D/npy" -o "$O" --quiet --int8 Conv,Nope
expect missing-model 1 "cannot open '$W/none.onnx'" "$W/none.onnx" --data "$D/npy" -o "$O" --quiet
expect bad-model 1 "calibrate: " "$D/one.npy" --data "$D/npy" -o "$O" --quiet
expect output-dir-missing 1 "cannot create '$W/no/such/dir.qnf'" "$M" --data "$D/npy" -o "$W/no/such/dir.qnf" --quiet
expect crop-size 1 "--crop 9x9 gives a 9x9 .* wants 8x8" "$M" --data "$D/img" -o "$O" --quiet --crop 9x9
expect resize-short 1 "--resize 7 is smaller than the 8x8 crop" "$M" --data "$D/img" -o "$O" --quiet --resize 7
expect resize-size 1 "--resize 10x10 gives" "$M" --data "$D/img" -o "$O" --quiet --resize 10x10
expect nchw-hint 1 "add --nhwc" "$FIX/nhwc.onnx" --data "$D/img_nhwc" -o "$O" --quiet
expect multi-input-data 1 "2 inputs \(a, b\): give --data-input" "$FIX/two_in.onnx" --data "$D/a" -o "$O" --quiet
expect multi-input-missing 1 "no --data-input for model input 'b'" "$FIX/two_in.onnx" --data-input a="$D/a" -o "$O" --quiet
expect multi-input-unknown 1 "--data-input c: the model has no input" "$FIX/two_in.onnx" --data-input a="$D/a" --data-input c="$D/b" -o "$O" --quiet
expect multi-input-counts 1 "input 'a' has 3 samples but input 'b' has 4" "$FIX/two_in.onnx" --data-input a="$D/a" --data-input b="$D/b_more" -o "$O" --quiet
expect method-param 1 "parameter 1 is out of range" "$M" --data "$D/npy" -o "$O" --quiet --method entropy --param 1
if [ ! -e "$O" ]; then ok no-output-after-failures; else bad no-output-after-failures "$O exists"; fi

# ---- end to end -------------------------------------------------------------
if run_ok npy-folder-and-batch "$M" --data "$D/npy" "$D/batch6.npy" -o "$O"; then
  # 5 one-sample files + one [3,8,8] file + 6 in the batch file.
  check npy-sample-count grep -qE '^samples +12$' "$W/npy-folder-and-batch.out"
  check npy-summary bash -c "grep -qE '^observers .*bytes' $W/npy-folder-and-batch.out &&
    grep -qE '^peak RSS +[0-9.]+ MiB' $W/npy-folder-and-batch.out &&
    grep -qE '^output +$O' $W/npy-folder-and-batch.out &&
    grep -qE '^nodes +[0-9]+: [1-9][0-9]* int8, 0 fp16, [0-9]+ fp32' $W/npy-folder-and-batch.out"
  check npy-progress-lines grep -q 'calibrating: 12/12' "$W/npy-folder-and-batch.err"
  check qnf-inspect bash -c "'$QI' inspect '$O' | grep -q 'QiQConv *int8 conv1'"
  close_to_fp32 qnf-run-close-to-fp32 "$M" "$O" "$D/one.npy"
fi
if run_ok limit "$M" --data "$D/npy" "$D/batch6.npy" -o "$W/limit.qnf" --limit 3; then
  check limit-count grep -qE '^samples +3$' "$W/limit.out"
fi
for method in minmax percentile entropy mse; do
  run_ok "method-$method" "$M" --data "$D/npy" -o "$W/$method.qnf" --method "$method" --bins 512 --threads 2
done
check methods-differ bash -c "test -s '$W/minmax.qnf' && test -s '$W/mse.qnf' && ! cmp -s '$W/minmax.qnf' '$W/mse.qnf' && ! cmp -s '$W/minmax.qnf' '$W/percentile.qnf'"
# --bias-correction: accepted, writes corrected biases (named
# "<node>:bias_corrected"), so the bytes differ from the same run without
# it, and the model stays close to FP32.
expect usage-bias-correction-value 2 '--bias-correction takes no value' "$M" --data "$D/npy" -o "$O" --bias-correction=1
if run_ok bias-correction-off "$M" --data "$D/npy" -o "$W/bc_off.qnf" --quiet &&
  run_ok bias-correction "$M" --data "$D/npy" -o "$W/bc_on.qnf" --quiet --bias-correction; then
  check bias-correction-changes-model bash -c "! cmp -s '$W/bc_off.qnf' '$W/bc_on.qnf' &&
    grep -qa ':bias_corrected' '$W/bc_on.qnf' && ! grep -qa ':bias_corrected' '$W/bc_off.qnf'"
  close_to_fp32 bias-correction-close-to-fp32 "$M" "$W/bc_on.qnf" "$D/one.npy"
fi
run_ok quiet "$M" --data "$D/npy" -o "$W/quiet.qnf" --quiet &&
  check quiet-is-silent test ! -s "$W/quiet.out" -a ! -s "$W/quiet.err"
if run_ok images-imagenet-recipe "$M" --data "$D/img" -o "$W/img.qnf" --resize 12 --crop 8x8 \
  --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225 --shuffle; then
  check images-count grep -qE '^samples +8$' "$W/images-imagenet-recipe.out"
  check images-describe grep -q 'resize shorter side 12, center crop 8x8, RGB' "$W/images-imagenet-recipe.err"
  close_to_fp32 images-qnf-close-to-fp32 "$M" "$W/img.qnf" "$D/one.npy"
fi
run_ok images-letterbox "$M" --data "$D/img" -o "$W/lb.qnf" --letterbox 8x8 --pad-value 114 --bgr --scale 1/255
run_ok images-exact-crop "$M" --data "$D/img" -o "$W/ec.qnf" --resize 10x12 --crop 8x8 --mean 127.5 --std 127.5
run_ok images-native-crop "$M" --data "$D/img" -o "$W/nc.qnf" --crop 8x8 --scale 0.00392156862745098
run_ok images-nhwc "$FIX/nhwc.onnx" --data "$D/img_nhwc" -o "$W/nhwc.qnf" --nhwc --scale 1/255
# Symbolic batch set to 2: batch file rows pair up, images go two a sample.
if run_ok batch2-npy "$FIX/tiny_dyn.onnx" --input-shape x=2x3x8x8 --data "$D/batch6.npy" -o "$W/b2.qnf"; then
  check batch2-npy-count grep -qE '^samples +3$' "$W/batch2-npy.out"
fi
if run_ok batch2-images "$FIX/tiny_dyn.onnx" --shape x=2x3x8x8 --data "$D/img" -o "$W/b2i.qnf"; then
  check batch2-images-count grep -qE '^samples +4$' "$W/batch2-images.out"
fi
if run_ok precision-fp32-conv "$M" --data "$D/npy" -o "$W/p.qnf" --fp32 Conv --int8 conv2; then
  check precision-fp32-conv-inspect bash -c "'$QI' inspect '$W/p.qnf' >'$W/p.txt' &&
    grep -qE 'Conv +fp32 conv1' '$W/p.txt' && grep -qE 'QiQConv +int8 conv2' '$W/p.txt'"
fi
if run_ok precision-all-fp32 "$M" --data "$D/npy" -o "$W/f.qnf" --precision fp32; then
  check precision-all-fp32-count grep -qE '^nodes +[0-9]+: 0 int8' "$W/precision-all-fp32.out"
fi
if run_ok two-inputs "$FIX/two_in.onnx" --data-input a="$D/a" --data-input b="$D/b" -o "$W/two.qnf"; then
  close_to_fp32 two-inputs-close-to-fp32 "$FIX/two_in.onnx" "$W/two.qnf" "a=$D/a/0.npy" "b=$D/b/0.npy"
fi
if run_ok report "$M" --data "$D/npy" -o "$W/r.qnf" --report "$W/r.md" --eval-samples 3; then
  check report-table bash -c "grep -qE '^\| 0 \| conv1 \| Conv \| \[1,8,8,8\] \| int8 \| [0-9.e-]+ \| 0 \| [0-9.]+ \|' '$W/r.md' &&
    grep -q 'first 3 kept' '$W/r.md' && grep -q 'reads model outputs only' '$W/r.md'"
  check report-png "$PY" -c "
from PIL import Image
im = Image.open('$W/r.png'); im.load()
assert im.size[0] > 40 and im.size[1] > 100, im.size"
fi
if run_ok export-qdq "$M" --data "$D/npy" -o "$W/q.qnf" --export-qdq "$W/q.onnx" --qdq-reduce-range; then
  check export-qdq-ort "$PY" -c "
import numpy as np, onnx, onnxruntime as ort
m = onnx.load('$W/q.onnx'); onnx.checker.check_model(m)
ops = [n.op_type for n in m.graph.node]
assert ops.count('QuantizeLinear') > 0 and ops.count('DequantizeLinear') > ops.count('QuantizeLinear'), ops
x = np.load('$D/one.npy')
q = ort.InferenceSession('$W/q.onnx', providers=['CPUExecutionProvider'])
f = ort.InferenceSession('$M', providers=['CPUExecutionProvider'])
name = q.get_inputs()[0].name
yq, yf = q.run(None, {name: x})[0], f.run(None, {name: x})[0]
rel = np.linalg.norm(yq - yf) / max(np.linalg.norm(yf), 1e-12)
assert rel < 0.1, rel"
fi
expect export-qdq-no-name 2 '--export-qdq needs' "$M" --data "$D/npy" -o "$O" --export-qdq ''
if run_ok auto-unreachable "$M" --data "$D/npy" -o "$W/a.qnf" --auto --min-sqnr 500; then
  # Only all-FP32 meets 500 dB (identical outputs): every candidate moves.
  check auto-unreachable-table bash -c "grep -q 'fp32 (sensitive)' '$W/auto-unreachable.out' &&
    ! grep -qE ' int8$' '$W/auto-unreachable.out' && grep -q 'budget met' '$W/auto-unreachable.out' &&
    grep -qE '^nodes +[0-9]+: 0 int8' '$W/auto-unreachable.out'"
fi
if run_ok auto-loose "$M" --data "$D/npy" -o "$W/l.qnf" --auto --min-sqnr 10 --max-drop 50 --report "$W/l.md"; then
  check auto-loose-table bash -c "grep -q '0 layers out of INT8 (0 for speed, 0 for the budget); budget met' '$W/auto-loose.out' &&
    grep -qE '^ +0 conv1 .* int8$' '$W/auto-loose.out' && grep -q '| auto |' '$W/l.md' &&
    grep -qE '^\| 0 \| conv1 .*[0-9.]+% \| int8 \|$' '$W/l.md'"
  close_to_fp32 auto-qnf-close-to-fp32 "$M" "$W/l.qnf" "$D/one.npy"
fi

# The default build checks itself: y = conv_a(x) - conv_b(x) with nearly
# equal weights is all rounding noise in INT8 (far under 20 dB), so plain
# calibrate falls back to --auto and reaches its 25 dB budget by moving
# layers out of INT8; --no-fallback and --precision int8 keep the build.
if "$PY" - "$W/cancel.onnx" >"$W/cancel.log" 2>&1 <<'EOF'; then
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
rng = np.random.default_rng(5)
wa = rng.normal(0, 1, (4, 3, 3, 3)).astype(np.float32)
wb = (wa + rng.normal(0, 1e-3, wa.shape)).astype(np.float32)
g = helper.make_graph(
    [helper.make_node("Conv", ["x", "wa"], ["a"], name="conv_a", pads=[1, 1, 1, 1]),
     helper.make_node("Conv", ["x", "wb"], ["b"], name="conv_b", pads=[1, 1, 1, 1]),
     helper.make_node("Sub", ["a", "b"], ["y"], name="diff")],
    "cancel", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
    [numpy_helper.from_array(wa, "wa"), numpy_helper.from_array(wb, "wb")])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
EOF
  if run_ok fallback "$W/cancel.onnx" --data "$D/npy" -o "$W/fb.qnf"; then
    check fallback-message grep -q "under 20 dB: choosing per-layer precision" "$W/fallback.err"
    check fallback-budget bash -c "grep -q 'budget met' '$W/fallback.out' &&
      grep -qE '^vs FP32 +SQNR (inf|[2-9][0-9]|[1-9][0-9][0-9])' '$W/fallback.out' &&
      ! grep -qE '^nodes +[0-9]+: [1-9][0-9]* int8, 0 fp16, 0 fp32' '$W/fallback.out'"
  fi
  for how in "--no-fallback" "--precision int8"; do
    tag=keep-${how#--}; tag=${tag// /-}
    if run_ok "$tag" "$W/cancel.onnx" --data "$D/npy" -o "$W/nf.qnf" $how; then
      check "$tag-as-built" bash -c "! grep -q 'per-layer' '$W/$tag.err' && ! grep -q 'budget' '$W/$tag.out' &&
        grep -qE '^nodes +[0-9]+: 2 int8' '$W/$tag.out'"
    fi
  done
else
  bad fallback-model "$(tail -n 3 "$W/cancel.log")"
fi

# A real model: SqueezeNet 1.1 calibrated on 8 ImageNet photos with its
# recipe, then run on a ninth photo preprocessed the same way by PIL.
mkdir -p "$W/imagenet8"
for f in $(ls "$ASSETS/images/imagenet_dev" | head -n 9); do ln -sf "$(realpath "$ASSETS/images/imagenet_dev/$f")" "$W/imagenet8/$f"; done
ninth=$(ls "$W/imagenet8" | tail -n 1)
mv "$W/imagenet8/$ninth" "$W/$ninth"
if run_ok squeezenet "$ASSETS/models/squeezenet1.1.onnx" --data "$W/imagenet8" -o "$W/sq.qnf" \
  --resize 256 --crop 224x224 --scale 1/255 --mean 0.485,0.456,0.406 --std 0.229,0.224,0.225; then
  check squeezenet-count grep -qE '^samples +8$' "$W/squeezenet.out"
  check squeezenet-input "$PY" -c "
import numpy as np
from PIL import Image
im = Image.open('$W/$ninth').convert('RGB')
w, h = im.size; s = 256 / min(w, h)
im = im.resize((round(w * s), round(h * s)), Image.BILINEAR)
w, h = im.size; l, t = (w - 224) // 2, (h - 224) // 2
x = np.asarray(im.crop((l, t, l + 224, t + 224)), np.float32) / 255
x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
np.save('$W/photo.npy', x.transpose(2, 0, 1)[None].astype(np.float32))"
  INT8_MAX_REL=$SQUEEZENET_MAX_REL close_to_fp32 squeezenet-close-to-fp32 \
    "$ASSETS/models/squeezenet1.1.onnx" "$W/sq.qnf" "$W/photo.npy"
fi

echo "calibrate cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
