#!/usr/bin/env python3
"""Run a model through ONNX Runtime (FP32, CPU) and save every output as .npy.

ONNX Runtime is the peer that qinfer's whole-model tests compare against.
It is pinned to one configuration so that reference files are reproducible:
graph optimization level ALL, one intra-op and one inter-op thread,
sequential execution, CPUExecutionProvider only.

    ort_reference.py MODEL.onnx --inputs in0.npy [in1.npy ...] --out-prefix P

writes P0.npy, P1.npy, ... in the order of the graph's outputs. Inputs are
bound to the graph's (non-initializer) inputs in order; --inputs may also be
repeated (--inputs in0.npy --inputs in1.npy).
"""
import argparse
import sys

import numpy as np

# numpy dtype for each ONNX Runtime tensor type string that qinfer models use.
ORT_TYPE_TO_NUMPY = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(uint8)": np.uint8,
    "tensor(int8)": np.int8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def make_session(model_path):
    """One ONNX Runtime session in the fixed reference configuration."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3  # errors only: keep test logs readable
    return ort.InferenceSession(str(model_path), sess_options=opts,
                                providers=["CPUExecutionProvider"])


def bind_inputs(session, arrays):
    """Map arrays to the session's inputs by position, checking type and shape.

    Raises ValueError with the input's name on any mismatch, so a stale or
    wrong .npy file is reported instead of silently broadcast or cast.
    """
    inputs = session.get_inputs()
    if len(arrays) != len(inputs):
        raise ValueError("model has %d inputs (%s), got %d arrays" % (
            len(inputs), ", ".join(i.name for i in inputs), len(arrays)))
    feed = {}
    for spec, arr in zip(inputs, arrays):
        want = ORT_TYPE_TO_NUMPY.get(spec.type)
        if want is None:
            raise ValueError("input %s: unsupported type %s" % (spec.name, spec.type))
        if arr.dtype != want:
            raise ValueError("input %s: model wants %s, array is %s" % (
                spec.name, np.dtype(want).name, arr.dtype.name))
        if len(spec.shape) != arr.ndim:
            raise ValueError("input %s: model wants rank %d %s, array has shape %s" % (
                spec.name, len(spec.shape), spec.shape, arr.shape))
        for axis, (dim, got) in enumerate(zip(spec.shape, arr.shape)):
            # Symbolic dims (strings / None) accept any size.
            if isinstance(dim, int) and dim != got:
                raise ValueError("input %s: axis %d is %d in the model, %d in the array" % (
                    spec.name, axis, dim, got))
        feed[spec.name] = np.ascontiguousarray(arr)
    return feed


def run_reference(model_path, arrays):
    """FP32 outputs of the model for the given input arrays, in graph order."""
    session = make_session(model_path)
    feed = bind_inputs(session, arrays)
    return session.run(None, feed)


def save_outputs(outputs, prefix):
    """Write outputs as <prefix><k>.npy (C order, native dtype); return the paths."""
    paths = []
    for k, out in enumerate(outputs):
        path = "%s%d.npy" % (prefix, k)
        np.save(path, np.ascontiguousarray(out))
        paths.append(path)
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="ONNX model file")
    ap.add_argument("--inputs", nargs="+", action="extend", required=True, metavar="NPY",
                    help="one .npy file per graph input, in graph order "
                         "(--inputs a b, or --inputs a --inputs b)")
    ap.add_argument("--out-prefix", required=True, metavar="P",
                    help="outputs are written as P0.npy, P1.npy, ...")
    args = ap.parse_args(argv)

    arrays = [np.load(p, allow_pickle=False) for p in args.inputs]
    try:
        outputs = run_reference(args.model, arrays)
    except ValueError as e:
        print("ort_reference: FAIL: %s: %s" % (args.model, e), file=sys.stderr)
        return 1
    for path, out in zip(save_outputs(outputs, args.out_prefix), outputs):
        print("%s %s %s" % (path, out.dtype.name, "x".join(map(str, out.shape))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
