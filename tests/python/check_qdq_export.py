#!/usr/bin/env python3
"""QDQ ONNX export (lib/calib/qdq_export.h) checked with onnx and ONNX Runtime.

    check_qdq_export.py --driver BUILD/tests/test_qdq_export --work DIR

For each model the C driver (tests/unit/test_qdq_export.c, `export` mode)
runs the FP32 model in qinfer, takes FP32 min/max ranges of every
activation, and writes the QDQ model. This script then checks that:
  - onnx.checker.check_model(full_check=True) accepts it (types, shapes,
    topological order);
  - it holds one QuantizeLinear per exported range, one DequantizeLinear
    per range and per quantized weight, int8 weight initializers, and no
    FP32 copy of a quantized weight;
  - ONNX Runtime runs it and its output is close to the FP32 model's
    (relative L2 below a measured tolerance) on inputs that were not used
    for calibration: the default 8-bit export under plain Q/DQ semantics
    (ORT_DISABLE_ALL), the 7-bit one (--reduce-range) through ORT's fused
    int8 kernels (every Conv must become QLinearConv), which must also agree
    with its plain Q/DQ run. On CPUs with VNNI the 8-bit export is run
    fused too; without VNNI ORT's u8s8 kernels saturate int16 pair sums
    with 8-bit weights (the reason for reduce_range), which is not ours to
    test;
  - SqueezeNet (real weights) calibrated on a few ImageNet photographs
    keeps the FP32 top-1 on other photographs;
  - with per-channel weights, the activation grids and int8 weights equal
    those of ONNX Runtime's own quantizer (quantize_static, MinMax) fed the
    same calibration data.
Prints "ok"/"FAIL" per check and closes with "N passed, N failed".
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ASSETS = os.path.normpath(os.path.join(HERE, "..", "..", "..", "shared", "assets"))
SQUEEZENET = os.path.join(ASSETS, "models", "squeezenet1.1.onnx")
IMAGES = os.path.join(ASSETS, "images", "imagenet_dev")

# Relative L2 error of the QDQ output against the FP32 model (both under ONNX
# Runtime), worst input, by model and weight bits: 8-bit under plain Q/DQ
# semantics, 7-bit under ORT's fused int8 kernels. Measured on this project's
# machine (AMD EPYC, AVX2): small CNN per channel 0.014 / 0.030, per tensor
# (opset 11) 0.021 / 0.041; SqueezeNet on 16 photographs 0.050 / 0.069.
# Limits are about 1.7x that. Faults land far beyond: one Conv's per-channel
# scales reversed 0.14 (CNN) and 0.38 (SqueezeNet), every weight scale 5 %
# off 0.30 and 1.1, SqueezeNet's first weight codes off by one 0.22.
# Exact codes and scales are checked by tests/unit/test_qdq_export.c.
REL_L2_MAX = {
    ("small_cnn_opset13", 8): 0.025, ("small_cnn_opset13", 7): 0.05,
    ("small_cnn_opset11", 8): 0.035, ("small_cnn_opset11", 7): 0.07,
    ("squeezenet1.1", 8): 0.09, ("squeezenet1.1", 7): 0.12,
}
# ORT's fused int8 kernels against its plain Q/DQ run of the same file
# (requantization rounding differs; measured 0.0000, 0.0099 and 0.021).
ORT_FUSED_VS_PLAIN_MAX = 0.04
# Against ONNX Runtime's own quantizer (quantize_static, QDQ, MinMax, per
# channel, uint8/int8) fed the same calibration data: the activation grids
# of the tensors both quantize (measured: scales within 7.5e-7 relative,
# zero points equal; qinfer's and ORT's FP32 activations differ by ~1e-6),
# and the int8 weights (measured: scales equal, 1 code in 1.2 million off
# by one, a rounding tie).
ORT_QUANTIZER_SCALE_REL_MAX = 1e-4
ORT_QUANTIZER_ZP_DIFF_MAX = 1
ORT_QUANTIZER_CODE_MISMATCH_MAX = 1e-4  # fraction of weight codes (each off by 1 at most)
ORT_SHARED_GRID_OPS = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten",
                       "Resize", "Gather", "Slice", "Split", "Pad", "Identity"}
# SqueezeNet top-1 agreement with FP32 on the evaluation photographs
# (measured 16/16 for both exports; room for two near ties elsewhere).
SQUEEZENET_TOP1_MIN = 0.875

CALIB_IMAGES = 8
EVAL_IMAGES = 16
CNN_CALIB_SAMPLES = 8
CNN_EVAL_SAMPLES = 4


class Checks:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, ok, detail=""):
        if ok:
            self.passed += 1
            print(f"ok   {name}" + (f": {detail}" if detail else ""))
        else:
            self.failed += 1
            print(f"FAIL {name}" + (f": {detail}" if detail else ""))
        sys.stdout.flush()
        return ok


def small_cnn(opset):
    """A CNN with every weight form the export handles: Conv with bias,
    depthwise Conv, residual Add, Concat, Gemm transB=1 and transB=0, and a
    MatMul whose weight is a Constant node; plus a Sigmoid (not Relu)."""
    rng = np.random.RandomState(7)

    def w(name, *shape, fan_in):
        return numpy_helper.from_array(
            (rng.randn(*shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)

    def b(name, n):
        return numpy_helper.from_array((rng.randn(n) * 0.1).astype(np.float32), name)

    inits = [w("c1_w", 8, 3, 3, 3, fan_in=27), b("c1_b", 8),
             w("dw_w", 8, 1, 3, 3, fan_in=9), b("dw_b", 8),
             w("pw_w", 8, 8, 1, 1, fan_in=8),
             w("c2_w", 8, 8, 3, 3, fan_in=72), b("c2_b", 8),
             w("fc1_w", 24, 16, fan_in=16), b("fc1_b", 24),
             w("fc2_w", 24, 12, fan_in=24), b("fc2_b", 12)]
    mm = (rng.randn(12, 10) * np.sqrt(2.0 / 12)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["input", "c1_w", "c1_b"], ["c1"], "conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], "relu1"),
        helper.make_node("Conv", ["r1", "dw_w", "dw_b"], ["dw"], "dwconv", pads=[1, 1, 1, 1], group=8),
        helper.make_node("Relu", ["dw"], ["r2"], "relu2"),
        helper.make_node("Conv", ["r2", "pw_w"], ["pw"], "pwconv"),
        helper.make_node("Add", ["pw", "r1"], ["res"], "residual"),
        helper.make_node("MaxPool", ["res"], ["mp"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["mp", "c2_w", "c2_b"], ["c2"], "conv2", pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Sigmoid", ["c2"], ["s2"], "sigmoid"),
        helper.make_node("Concat", ["s2", "c2"], ["cat"], "concat", axis=1),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], "gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], "flatten"),
        helper.make_node("Gemm", ["flat", "fc1_w", "fc1_b"], ["fc1"], "fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["fr1"], "relu_fc1"),
        helper.make_node("Gemm", ["fr1", "fc2_w", "fc2_b"], ["fc2"], "fc2", transB=0),
        helper.make_node("Constant", [], ["mm_w"], "mm_const",
                         value=numpy_helper.from_array(mm, "mm_value")),
        helper.make_node("MatMul", ["fc2", "mm_w"], ["output"], "matmul"),
    ]
    graph = helper.make_graph(
        nodes, "small_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                              producer_name="check_qdq_export")
    model.ir_version = 7
    onnx.checker.check_model(model, full_check=True)
    return model


def preprocess(path):
    """SqueezeNet's preprocessing (assets README): shorter side 256,
    center crop 224, RGB / 255, ImageNet mean/std, NCHW."""
    from PIL import Image
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = 256 / min(w, h)
    img = img.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
    w, h = img.size
    left, top = (w - 224) // 2, (h - 224) // 2
    img = img.crop((left, top, left + 224, top + 224))
    x = np.asarray(img, dtype=np.float32) / 255.0
    x = (x - np.array([0.485, 0.456, 0.406], np.float32)) / np.array([0.229, 0.224, 0.225], np.float32)
    return x.transpose(2, 0, 1)[None].astype(np.float32)


def session(path, level):
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    so.intra_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def run(sess, x):
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def rel_l2(got, ref):
    ref = ref.astype(np.float64)
    return float(np.linalg.norm(got.astype(np.float64) - ref) / np.linalg.norm(ref))


def export(c, name, driver, model_path, out_path, extra):
    cmd = [driver, "export", model_path, out_path] + extra
    p = subprocess.run(cmd, capture_output=True, text=True)
    line = [l for l in p.stdout.splitlines() if l.startswith("qdq_export:")]
    ok = p.returncode == 0 and line and os.path.exists(out_path)
    c.check(f"{name}: export", ok, line[0] if line else (p.stderr.strip() or p.stdout.strip())[-400:])
    if not ok:
        return None
    return dict(kv.split("=") for kv in line[0].split()[1:])


def check_structure(c, name, qdq_path, info, per_channel, qmax):
    m = onnx.load(qdq_path)
    try:
        onnx.checker.check_model(m, full_check=True)
        c.check(f"{name}: onnx.checker (full)", True)
    except Exception as e:  # the checker raises several exception types
        c.check(f"{name}: onnx.checker (full)", False, str(e)[:400])
    ops = [n.op_type for n in m.graph.node]
    nq, ndq = ops.count("QuantizeLinear"), ops.count("DequantizeLinear")
    ranges, weights = int(info["ranges"]), int(info["weights"])
    c.check(f"{name}: Q/DQ counts", nq == ranges and ndq == ranges + weights and ranges > 0,
            f"{nq} QuantizeLinear for {ranges} ranges, {ndq} DequantizeLinear for {weights} weights")
    inits = {t.name: t for t in m.graph.initializer}
    const_outs = {o for n in m.graph.node if n.op_type == "Constant" for o in n.output}
    bad, peak = [], 0
    for n in m.graph.node:
        if n.op_type not in ("Conv", "Gemm", "MatMul"):
            continue
        src = n.input[1]
        if src in inits or src in const_outs:
            bad.append(f"{n.name} reads FP32 weight {src}")
            continue
        dq = [d for d in m.graph.node if d.op_type == "DequantizeLinear" and d.output[0] == src]
        if not dq or dq[0].input[0] not in inits or inits[dq[0].input[0]].data_type != TensorProto.INT8:
            bad.append(f"{n.name}: weight {src} is not an int8 DequantizeLinear")
            continue
        codes = numpy_helper.to_array(inits[dq[0].input[0]]).astype(np.int32)
        peak = max(peak, int(np.abs(codes).max()))
        axis = [a.i for a in dq[0].attribute if a.name == "axis"]
        scale = numpy_helper.to_array(inits[dq[0].input[1]])
        if per_channel != (len(axis) == 1 and scale.ndim == 1):
            bad.append(f"{n.name}: axis {axis}, scale shape {scale.shape}")
    if peak != qmax:
        bad.append(f"largest weight code {peak}, expected {qmax}")
    c.check(f"{name}: int8 weights ({'per channel' if per_channel else 'per tensor'}, |q| <= {qmax})",
            not bad and int(info["per_channel"]) == per_channel, "; ".join(bad[:3]))


def fused_ops(path):
    """Op types of ONNX Runtime's optimized graph (its QDQ fusions)."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = path + ".ort.onnx"
    so.log_severity_level = 3
    ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return [n.op_type for n in onnx.load(so.optimized_model_filepath).graph.node]


def check_accuracy(c, name, fp32_path, qdq_path, inputs, level, max_rel_l2, top1_min=None):
    """QDQ (run at ORT optimization `level`) against FP32; also fused
    against plain Q/DQ when `level` fuses."""
    fusing = level != ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    how = "ORT fused int8" if fusing else "ORT plain Q/DQ"
    try:
        ref = session(fp32_path, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
        got = session(qdq_path, level)
        plain = session(qdq_path, ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    except Exception as e:  # ORT raises its own exception types
        c.check(f"{name}: ONNX Runtime loads it", False, str(e)[:400])
        return
    errs, vs_plain, agree = [], [], 0
    for x in inputs:
        r, g = run(ref, x), run(got, x)
        errs.append(rel_l2(g, r))
        if fusing:
            vs_plain.append(rel_l2(g, run(plain, x)))
        agree += int(np.argmax(r) == np.argmax(g))
    worst = max(errs)
    c.check(f"{name}: {how} vs FP32, relative L2", worst <= max_rel_l2,
            f"max {worst:.4f} mean {np.mean(errs):.4f} (limit {max_rel_l2}) over {len(inputs)} inputs")
    if fusing:
        c.check(f"{name}: {how} vs plain Q/DQ, relative L2", max(vs_plain) <= ORT_FUSED_VS_PLAIN_MAX,
                f"max {max(vs_plain):.4f} (limit {ORT_FUSED_VS_PLAIN_MAX})")
    if top1_min is not None:
        frac = agree / len(inputs)
        c.check(f"{name}: {how} top-1 agreement with FP32", frac >= top1_min,
                f"{agree}/{len(inputs)} (min {top1_min})")


def ort_quantizer(fp32_path, input_name, calib, out_path):
    """ONNX Runtime's static QDQ quantizer on the same calibration data."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{input_name: x} for x in calib])

        def get_next(self):
            return next(self.it, None)

    quantize_static(fp32_path, out_path, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)


def qdq_grids(path):
    """{activation: (scale, zero point)} of the QuantizeLinear nodes and
    {weight DQ output: (int8 codes, scales)} of a QDQ model."""
    m = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    acts = {n.input[0]: (float(init[n.input[1]]), int(init[n.input[2]]))
            for n in m.graph.node if n.op_type == "QuantizeLinear"}
    weights = {n.output[0]: (init[n.input[0]], init[n.input[1]]) for n in m.graph.node
               if n.op_type == "DequantizeLinear" and n.input[0] in init
               and init[n.input[0]].dtype == np.int8}
    return acts, weights


def check_vs_ort_quantizer(c, name, fp32, ours, calib, work):
    theirs = os.path.join(work, os.path.basename(fp32) + ".ort_quantizer.onnx")
    input_name = onnx.load(fp32).graph.input[0].name
    try:
        ort_quantizer(fp32, input_name, calib, theirs)
    except Exception as e:  # the quantizer raises several exception types
        c.check(f"{name}: ONNX Runtime quantizer reference", False, str(e)[:300])
        return
    a_ours, w_ours = qdq_grids(ours)
    a_theirs, w_theirs = qdq_grids(theirs)
    # Every activation of the FP32 model that ORT quantizes must be ours too
    # (ORT also quantizes Constant outputs as activations, and renames graph
    # outputs). Outputs of data-movement ops take their input's grid in ORT
    # (grid sharing), not their own min/max: present, but not compared.
    g = onnx.load(fp32).graph
    producer = {o: n.op_type for n in g.node for o in n.output}
    acts = {i.name for i in g.input} | {o for o, op in producer.items() if op != "Constant"}
    wanted = sorted(set(a_theirs) & acts)
    missing = [k for k in wanted if k not in a_ours]
    compared = [k for k in wanted if k in a_ours and producer.get(k) not in ORT_SHARED_GRID_OPS]
    scale_rel = max((abs(a_ours[k][0] - a_theirs[k][0]) / a_theirs[k][0] for k in compared), default=np.inf)
    zp_diff = max((abs(a_ours[k][1] - a_theirs[k][1]) for k in compared), default=np.inf)
    c.check(f"{name}: activation grids = ONNX Runtime quantizer's",
            not missing and scale_rel <= ORT_QUANTIZER_SCALE_REL_MAX and zp_diff <= ORT_QUANTIZER_ZP_DIFF_MAX,
            f"{len(compared)} of {len(wanted)} compared (ours {len(a_ours)}, ORT {len(a_theirs)}), "
            f"scales within {scale_rel:.2g}, zero points within {zp_diff}"
            + (f"; ORT has, we lack: {missing[:3]}" if missing else ""))
    missing = sorted(set(w_theirs) - set(w_ours))
    diff = total = worst = 0
    scale_w = 0.0
    for k in sorted(set(w_ours) & set(w_theirs)):
        (qa, sa), (qb, sb) = w_ours[k], w_theirs[k]
        if qa.shape != qb.shape or sa.shape != sb.shape:
            missing.append(k + " (shape)")
            continue
        d = np.abs(qa.astype(np.int32) - qb.astype(np.int32))
        diff, total, worst = diff + int((d > 0).sum()), total + d.size, max(worst, int(d.max()))
        scale_w = max(scale_w, float(np.max(np.abs(sa - sb) / sb)))
    frac = diff / total if total else np.inf
    c.check(f"{name}: int8 weights = ONNX Runtime quantizer's",
            not missing and frac <= ORT_QUANTIZER_CODE_MISMATCH_MAX and worst <= 1
            and scale_w <= ORT_QUANTIZER_SCALE_REL_MAX,
            f"{len(w_theirs)} weights, {diff} of {total} codes differ (max {worst}), "
            f"scales within {scale_w:.2g}" + (f"; missing {missing[:3]}" if missing else ""))


def has_vnni():
    try:
        with open("/proc/cpuinfo") as f:
            flags = f.read()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def check_model(c, driver, work, name, fp32, calib, inputs, per_channel, top1_min=None):
    """The 8-bit export checked under plain Q/DQ semantics (and fused on
    VNNI CPUs), the 7-bit (--reduce-range) one under ORT's fused kernels."""
    raw = os.path.join(work, name + ".calib.f32")
    np.concatenate(calib).astype(np.float32).tofile(raw)
    extra = ["--samples", str(len(calib)), "--calib", raw]
    n_conv = sum(n.op_type == "Conv" for n in onnx.load(fp32).graph.node)
    for bits, flag, qmax in ((8, [], 127), (7, ["--reduce-range"], 63)):
        tag = f"{name} {bits}-bit"
        qdq = os.path.join(work, f"{name}.qdq{bits}.onnx")
        info = export(c, tag, driver, fp32, qdq, extra + flag)
        if info is None:
            continue
        check_structure(c, tag, qdq, info, per_channel, qmax)
        if bits == 8 and per_channel:
            check_vs_ort_quantizer(c, tag, fp32, qdq, calib, work)
        if bits == 8:
            check_accuracy(c, tag, fp32, qdq, inputs, ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
                           REL_L2_MAX[(name, 8)], top1_min)
        if bits == 7 or has_vnni():
            ops = fused_ops(qdq)
            c.check(f"{tag}: ORT fuses every Conv into QLinearConv",
                    ops.count("QLinearConv") == n_conv,
                    f"{ops.count('QLinearConv')} of {n_conv}; {ops.count('QuantizeLinear')} Q left")
            check_accuracy(c, tag, fp32, qdq, inputs, ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
                           REL_L2_MAX[(name, bits)], top1_min)
    if not has_vnni():
        print(f"note {name}: no VNNI on this CPU: ORT's fused u8s8 kernels saturate with 8-bit "
              "weights (vpmaddubsw), so the 8-bit export is checked under plain Q/DQ only")


def check_cnn(c, driver, work, opset):
    name = f"small_cnn_opset{opset}"
    fp32 = os.path.join(work, name + ".onnx")
    onnx.save(small_cnn(opset), fp32)
    rng = np.random.RandomState(3)
    calib = [rng.randn(1, 3, 16, 16).astype(np.float32) for _ in range(CNN_CALIB_SAMPLES)]
    inputs = [rng.randn(1, 3, 16, 16).astype(np.float32) for _ in range(CNN_EVAL_SAMPLES)]
    check_model(c, driver, work, name, fp32, calib, inputs, 1 if opset >= 13 else 0)


def check_squeezenet(c, driver, work):
    files = sorted(f for f in os.listdir(IMAGES) if f.endswith(".JPEG"))
    calib_files = files[:CALIB_IMAGES]
    step = (len(files) - CALIB_IMAGES) // EVAL_IMAGES
    eval_files = files[CALIB_IMAGES::step][:EVAL_IMAGES]
    calib = [preprocess(os.path.join(IMAGES, f)) for f in calib_files]
    inputs = [preprocess(os.path.join(IMAGES, f)) for f in eval_files]
    check_model(c, driver, work, "squeezenet1.1", SQUEEZENET, calib, inputs, 1,
                SQUEEZENET_TOP1_MIN)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--driver", required=True, help="BUILD/tests/test_qdq_export")
    ap.add_argument("--work", required=True, help="folder for the exported models")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    c = Checks()
    check_cnn(c, args.driver, args.work, 13)
    check_cnn(c, args.driver, args.work, 11)
    check_squeezenet(c, args.driver, args.work)
    print(f"{c.passed} passed, {c.failed} failed")
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())
