"""Writes seeded random inputs for every input of an ONNX model.

    random_inputs.py MODEL.onnx --out PREFIX [--shape NAME=1x3x48x320]

Files are PREFIX0.npy, PREFIX1.npy, ... in the model's input order. Symbolic
dimensions take the --shape value, or 1 when none is given.
"""
import argparse

import numpy as np
import onnxruntime as ort

DTYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64,
          "tensor(int32)": np.int32, "tensor(uint8)": np.uint8}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", action="append", default=[])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--uniform", help="LO,HI: uniform floats (e.g. 0,255 for pixel inputs)")
    a = ap.parse_args()
    given = {}
    for s in a.shape:
        name, dims = s.split("=")
        given[name] = [int(d) for d in dims.split("x")]
    rng = np.random.default_rng(a.seed)
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    for k, inp in enumerate(sess.get_inputs()):
        shape = given.get(inp.name) or [d if isinstance(d, int) else 1 for d in inp.shape]
        dt = DTYPES[inp.type]
        if dt == np.float32 and a.uniform:
            lo, hi = (float(v) for v in a.uniform.split(","))
            x = rng.uniform(lo, hi, size=shape).astype(np.float32)
        elif dt == np.float32:
            x = rng.standard_normal(shape).astype(np.float32)
        else:
            x = rng.integers(0, 4, size=shape).astype(dt)
        np.save(f"{a.out}{k}.npy", x)


if __name__ == "__main__":
    main()
