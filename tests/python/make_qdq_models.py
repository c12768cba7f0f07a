#!/usr/bin/env python3
"""Make QDQ-quantized models (ONNX Runtime quantize_static, QuantFormat.QDQ)
for qinfer's QDQ import tests (tests/suites/qdq_models.sh).

    make_qdq_models.py --out DIR [--zoo DIR] [--models a,b,...] [--list]

Sources: a small CNN written here (odd channel counts, depthwise and
grouped convolutions, ReLU/ReLU6, a residual Add, MaxPool, Concat, a MatMul
on tokens, global pooling and a Gemm head), exported with torch; and zoo
models (tests/python/make_zoo.py) found in --zoo. Each is quantized with
per-channel int8 weights and each activation type:

    NAME_u8   activations QUInt8 (zero point 0..255)
    NAME_s8   activations QInt8 (zero point -128..127)

and qat_cnn_u8: a CNN as PyTorch QAT exports it (torch.fake_quantize_* on
activations and on float weights, opset 13), i.e. QuantizeLinear ->
DequantizeLinear of constant float weights and Relu nodes kept.

For every quantized model QNAME this writes, into DIR:
    QNAME.onnx        the QDQ model
    QNAME.input.npy   a seeded random input (the zoo's own NAME.input.npy)
    QNAME.out0.npy    ONNX Runtime's output for it in the reference
                      configuration (ort_reference.py: optimization ALL,
                      which runs the QDQ groups as int8 kernels)
    QNAME.sim0.npy    ONNX Runtime with every optimization off: each
                      QuantizeLinear / DequantizeLinear runs in float, the
                      exact QDQ semantics
    QNAME.fp32_0.npy  ONNX Runtime's output of the FP32 model before
                      quantization (how far quantization itself moves it)
    QNAME.json        the recipe and files, written last (cache stamp)

Calibration: MinMax over CALIB_COUNT seeded random inputs (the zoo's
NAME.calib.npy when present). MatMul weights are quantized per channel
along axis 1 ([K, N] weights, one scale per output column), so that the
importer's MatMul case is exercised.
"""
import argparse
import json
import os
import sys
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ort_reference  # noqa: E402

RECIPE_VERSION = 2
OPSET = 17
CALIB_COUNT = 8
SMALL_SIZE = 32
SEED = 1234
ZOO_MODELS = ("resnet18", "mobilenet_v2")
ACTIVATIONS = ("u8", "s8")


def installed_version(pkg):
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def small_cnn():
    """The hand-written CNN: every op family the INT8 path lowers."""
    import torch
    import torch.nn as nn

    def cbr(ci, co, k=3, s=1, g=1, act=nn.ReLU):
        layers = [nn.Conv2d(ci, co, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(co)]
        if act is not None:
            layers.append(act())
        return nn.Sequential(*layers)

    class SmallCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = cbr(3, 13)
            self.dw = cbr(13, 13, 3, 2, g=13, act=nn.ReLU6)
            self.pw = cbr(13, 24, 1, act=None)
            self.res = cbr(24, 24)
            self.pool = nn.MaxPool2d(2)
            self.left = cbr(24, 12, 1)
            self.right = cbr(24, 20, 3, g=4)
            self.mix = nn.Linear(32, 40)          # MatMul + Add on tokens
            self.head = nn.Linear(40, 10)         # Gemm

        def forward(self, x):
            x = self.pw(self.dw(self.stem(x)))
            x = torch.relu(x + self.res(x))
            x = self.pool(x)
            x = torch.cat([self.left(x), self.right(x)], 1)
            t = x.flatten(2).transpose(1, 2)      # [1, HW, C]
            t = torch.relu(self.mix(t))
            return self.head(t.mean(1))

    torch.manual_seed(SEED)
    m = SmallCnn()
    g = torch.Generator().manual_seed(SEED + 1)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            mod.weight.data = 0.5 + torch.rand(c, generator=g)
            mod.bias.data = 0.2 * torch.randn(c, generator=g)
            mod.running_mean.data = 0.1 * torch.randn(c, generator=g)
            mod.running_var.data = 0.5 + torch.rand(c, generator=g)
    return m.eval()


def export_small(path):
    import onnx
    import torch
    x = torch.from_numpy(np.random.default_rng(SEED).standard_normal(
        (1, 3, SMALL_SIZE, SMALL_SIZE), dtype=np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(small_cnn(), x, str(path), opset_version=OPSET,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"])
    onnx.checker.check_model(str(path))


def qat_cnn(fake_quant):
    """A CNN as PyTorch QAT exports it: fake-quantized activations (uint8,
    fixed scales) and weights (int8 symmetric per output channel, scales
    held as buffers), Relu kept as a node, a linear head."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class QatCnn(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(3, 12, 3, padding=1)
            self.c2 = nn.Conv2d(12, 16, 3, stride=2, padding=1, groups=4)
            self.fc = nn.Linear(16, 10)
            for m in (self.c1, self.c2, self.fc):
                s = m.weight.detach().abs().flatten(1).max(1).values / 127
                m.register_buffer("w_scale", s.float())
                m.register_buffer("w_zp", torch.zeros(s.numel(), dtype=torch.int32))

        def act(self, x, s, z):
            return torch.fake_quantize_per_tensor_affine(x, s, z, 0, 255) if fake_quant else x

        def w(self, m):
            if not fake_quant:
                return m.weight
            return torch.fake_quantize_per_channel_affine(m.weight, m.w_scale, m.w_zp, 0,
                                                          -128, 127)

        def forward(self, x):
            x = self.act(x, 0.03, 128)
            x = self.act(torch.relu(F.conv2d(x, self.w(self.c1), self.c1.bias, padding=1)),
                         0.02, 0)
            x = F.conv2d(x, self.w(self.c2), self.c2.bias, stride=2, padding=1, groups=4)
            x = self.act(x, 0.02, 100)
            x = self.act(x.mean((2, 3)), 0.01, 128)
            return F.linear(x, self.w(self.fc), self.fc.bias)

    torch.manual_seed(SEED + 3)
    return QatCnn().eval()


def export_qat(path, fake_quant):
    import onnx
    import torch
    x = torch.zeros(1, 3, SMALL_SIZE, SMALL_SIZE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(qat_cnn(fake_quant), x, str(path), opset_version=13,
                          do_constant_folding=True, input_names=["input"],
                          output_names=["output"])
    onnx.checker.check_model(str(path))


class RandomReader:
    """CalibrationDataReader over a fixed list of input arrays."""

    def __init__(self, name, arrays):
        self.name = name
        self.items = iter([{name: a[None]} for a in arrays])

    def get_next(self):
        return next(self.items, None)

    def rewind(self):
        raise NotImplementedError


def quantize(src, dst, calib, act):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    import onnx
    name = onnx.load(str(src)).graph.input[0].name
    quantize_static(
        str(src), str(dst), RandomReader(name, calib),
        quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8 if act == "u8" else QuantType.QInt8,
        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
        extra_options={"QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}})


def run_unoptimized(model, x):
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.log_severity_level = 3
    s = ort.InferenceSession(str(model), sess_options=opts,
                             providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})


def recipe(src_name, act, src_file):
    """Everything a cached model depends on (src_file: a zoo FP32 model)."""
    return {"recipe": RECIPE_VERSION, "source": src_name, "activations": act,
            "opset": OPSET, "calib_count": CALIB_COUNT, "seed": SEED,
            "source_mtime": os.path.getmtime(src_file) if src_file else None,
            "torch": installed_version("torch"),
            "onnxruntime": installed_version("onnxruntime")}


def cached(out, qname, key):
    try:
        meta = json.loads((out / (qname + ".json")).read_text())
    except (OSError, ValueError):
        return False
    return meta.get("recipe_key") == key and all(
        (out / f).is_file() for f in meta.get("files", []))


def save_npy(path, arr):
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, np.ascontiguousarray(arr))
    os.replace(tmp, path)


def make_one(out, qname, key, build, fp32_file, x):
    """Writes QNAME.* unless cached; build(path) writes the QDQ model."""
    if cached(out, qname, key):
        print("%-24s cached" % qname, flush=True)
        return
    (out / (qname + ".json")).unlink(missing_ok=True)
    tmp = out / (qname + ".tmp.onnx")
    try:
        build(tmp)
        ref = ort_reference.run_reference(tmp, [x])
        sim = run_unoptimized(tmp, x)
        fp32 = ort_reference.run_reference(fp32_file, [x])
        os.replace(tmp, out / (qname + ".onnx"))
    finally:
        tmp.unlink(missing_ok=True)
    files = [qname + ".onnx", qname + ".input.npy"]
    save_npy(out / files[1], x)
    for k, (r, s, f) in enumerate(zip(ref, sim, fp32)):
        files += ["%s.out%d.npy" % (qname, k), "%s.sim%d.npy" % (qname, k),
                  "%s.fp32_%d.npy" % (qname, k)]
        save_npy(out / files[-3], r)
        save_npy(out / files[-2], s)
        save_npy(out / files[-1], f)
    meta = {"recipe_key": key, "files": files,
            "ort_int8_vs_qdq_float_rel_l2": rel_l2(ref[0], sim[0]),
            "qdq_float_vs_fp32_rel_l2": rel_l2(sim[0], fp32[0])}
    (out / (qname + ".json")).write_text(json.dumps(meta, indent=1) + "\n")
    print("%-24s ok  (rel L2: float QDQ vs FP32 %.3g, ORT int8 kernels vs float QDQ %.3g)"
          % (qname, meta["qdq_float_vs_fp32_rel_l2"], meta["ort_int8_vs_qdq_float_rel_l2"]),
          flush=True)


def rel_l2(got, ref):
    d = got.astype(np.float64) - ref
    return float(np.linalg.norm(d) / max(np.linalg.norm(ref.astype(np.float64)), 1e-30))


def sources(zoo):
    """(name, fp32 model file or None for the small CNN, input, calib list)."""
    rng = np.random.default_rng(SEED + 7)
    shape = (3, SMALL_SIZE, SMALL_SIZE)
    yield ("small_cnn", None, rng.standard_normal((1,) + shape, dtype=np.float32),
           list(rng.standard_normal((CALIB_COUNT,) + shape, dtype=np.float32)))
    for name in ZOO_MODELS:
        f = zoo / (name + ".onnx")
        if not (f.is_file() and (zoo / (name + ".json")).is_file()):
            print("%-24s skipped: %s not found (make_zoo.py makes it)" % (name, f))
            continue
        x = np.load(zoo / (name + ".input.npy"))
        cf = zoo / (name + ".calib.npy")
        if cf.is_file() and np.load(cf, mmap_mode="r").shape[0] >= CALIB_COUNT:
            calib = list(np.load(cf)[:CALIB_COUNT])
        else:
            calib = list(np.random.default_rng(SEED + 11).standard_normal(
                (CALIB_COUNT,) + x.shape[1:], dtype=np.float32))
        yield name, f, x, calib


def make_static(out, name, src_file, x, calib):
    """NAME_u8 and NAME_s8 from an FP32 model (None: the small CNN)."""
    small = out / "small_cnn.fp32.tmp.onnx"
    try:
        for act in ACTIVATIONS:
            key = recipe(name, act, src_file)
            if src_file is None and not small.is_file() and not cached(
                    out, "%s_%s" % (name, act), key):
                export_small(small)
            src = src_file or small
            make_one(out, "%s_%s" % (name, act), key,
                     lambda path: quantize(src, path, calib, act), src, x)
    finally:
        small.unlink(missing_ok=True)


def make_qat(out):
    """qat_cnn_u8: the fake-quantized CNN as PyTorch exports it."""
    x = np.random.default_rng(SEED + 13).standard_normal(
        (1, 3, SMALL_SIZE, SMALL_SIZE), dtype=np.float32)
    fp32 = out / "qat_cnn.fp32.tmp.onnx"
    key = recipe("qat_cnn", "u8", None)
    try:
        if not cached(out, "qat_cnn_u8", key):
            export_qat(fp32, fake_quant=False)
        make_one(out, "qat_cnn_u8", key, lambda path: export_qat(path, True),
                 fp32, x)
    finally:
        fp32.unlink(missing_ok=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--zoo", type=Path, default=Path(".cache/zoo"))
    ap.add_argument("--models", help="comma-separated source names (default: all)")
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args(argv)
    if a.list:
        print("small_cnn qat_cnn " + " ".join(ZOO_MODELS))
        return 0
    a.out.mkdir(parents=True, exist_ok=True)
    want = set(a.models.split(",")) if a.models else None
    failed = 0
    jobs = [(name, lambda f=f, x=x, c=c, n=name: make_static(a.out, n, f, x, c))
            for name, f, x, c in sources(a.zoo)]
    jobs.insert(1, ("qat_cnn", lambda: make_qat(a.out)))
    for name, job in jobs:
        if want is not None and name not in want:
            continue
        try:
            job()
        except Exception as e:  # noqa: BLE001 - report and go on
            print("%-24s FAIL: %s: %s" % (name, type(e).__name__, e), flush=True)
            failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
