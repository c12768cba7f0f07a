#!/usr/bin/env python3
"""Is an INT8 loss the engine's fault or the model's? Fake-quantizes chosen
activation tensors of an ONNX model in ONNX Runtime (QuantizeLinear +
DequantizeLinear, uint8, one scale per tensor as docs/quantization.md) and
prints the output SQNR against the plain FP32 model.

    fakequant_probe.py MODEL.onnx --data DIR [--tensor NAME]... [--all]
                       [--percentile P]

DIR holds .npy samples of the model's single input (as written by the
acc_*.py scripts under .cache/accuracy/<model>/calib). Ranges come from
those samples: min/max, or with --percentile P the P-th percentile of the
values as the top (calibrate's default is 99.99). Without --tensor, every
tensor is probed alone and the 15 worst are listed; --all quantizes every
tensor at once (the best an activation-only per-tensor INT8 can do). If the engine's INT8
build with only that tensor quantized loses about as much, the loss is the
model's sensitivity to 8-bit per-tensor activations, not a kernel bug.
"""
import argparse
import math
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import acc_common as ac


def with_outputs(model, names):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for n in names:
        m.graph.output.append(helper.make_tensor_value_info(n, TensorProto.FLOAT, None))
    return m


def fake_quant(model, ranges):
    """Copy of model with tensor -> Q -> DQ for each {tensor: (lo, hi)}."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = list(m.graph.node)
    out = []
    for node in nodes:
        for i, t in enumerate(node.input):
            if t in ranges:
                node.input[i] = t + "__fq"
        out.append(node)
        for t in node.output:
            if t not in ranges:
                continue
            lo, hi = min(ranges[t][0], 0.0), max(ranges[t][1], 0.0)
            scale = max(hi - lo, 1e-12) / 255
            zp = int(round(-lo / scale))
            m.graph.initializer.extend([
                numpy_helper.from_array(np.array(scale, np.float32), t + "__s"),
                numpy_helper.from_array(np.array(zp, np.uint8), t + "__z")])
            out.append(helper.make_node("QuantizeLinear", [t, t + "__s", t + "__z"], [t + "__q"]))
            out.append(helper.make_node("DequantizeLinear", [t + "__q", t + "__s", t + "__z"],
                                        [t + "__fq"]))
    del m.graph.node[:]
    m.graph.node.extend(out)
    return m


def session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def output_sqnr(ref_outs, model, inputs, in_name):
    s = session(model)
    sig = err = 0.0
    for x, ref in zip(inputs, ref_outs):
        got = s.run(None, {in_name: x})
        for r, g in zip(ref, got):
            r = r.astype(np.float64)
            sig += float(np.sum(r * r))
            err += float(np.sum((g.astype(np.float64) - r) ** 2))
    return math.inf if err == 0 else 10 * math.log10(sig / err)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model")
    p.add_argument("--data", required=True)
    p.add_argument("--tensor", action="append", default=[])
    p.add_argument("--percentile", type=float, default=None)
    p.add_argument("--all", action="store_true",
                   help="also every tensor at once (activations only: weights stay float)")
    a = p.parse_args()
    model = onnx.load(a.model)
    inputs = [np.load(f) for f in sorted(Path(a.data).glob("*.npy"))]
    in_name = model.graph.input[0].name
    float_tensors = [o for n in model.graph.node for o in n.output
                     if n.op_type not in ("Shape", "Constant", "ConstantOfShape")]
    probe = float_tensors if a.all or not a.tensor else a.tensor
    plain = session(model)
    ref_outs = [plain.run(None, {in_name: x}) for x in inputs]
    # Ranges of the probed tensors over the samples.
    watch = session(with_outputs(model, probe))
    names = [o.name for o in watch.get_outputs()]
    values = {t: [] for t in probe}
    for x in inputs:
        for n, v in zip(names, watch.run(None, {in_name: x})):
            if n in values and v.dtype == np.float32:
                values[n].append(v.ravel())
    ranges = {}
    for t, vs in values.items():
        if not vs:
            continue
        v = np.concatenate(vs)
        hi = float(np.percentile(v, a.percentile)) if a.percentile else float(v.max())
        lo = float(np.percentile(v, 100 - a.percentile)) if a.percentile else float(v.min())
        ranges[t] = (lo, hi)
    if a.all:
        db = output_sqnr(ref_outs, fake_quant(model, ranges), inputs, in_name)
        print(f"all {len(ranges)} tensors together -> output SQNR {ac.fmt_db(db)} dB")
    if a.tensor:
        for t in a.tensor:
            db = output_sqnr(ref_outs, fake_quant(model, {t: ranges[t]}), inputs, in_name)
            print(f"{t}: range [{ranges[t][0]:.4g}, {ranges[t][1]:.4g}] -> output SQNR "
                  f"{ac.fmt_db(db)} dB")
        if len(a.tensor) > 1 and not a.all:
            db = output_sqnr(ref_outs, fake_quant(model, ranges), inputs, in_name)
            print(f"all {len(a.tensor)} together -> output SQNR {ac.fmt_db(db)} dB")
        return 0
    if a.all:
        return 0
    res = []
    for t, r in ranges.items():
        res.append((output_sqnr(ref_outs, fake_quant(model, {t: r}), inputs, in_name), t, r))
    for db, t, r in sorted(res)[:15]:
        print(f"{ac.fmt_db(db):>6} dB  {t}  range [{r[0]:.4g}, {r[1]:.4g}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
