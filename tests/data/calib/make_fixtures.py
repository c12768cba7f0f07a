#!/usr/bin/env python3
"""Writes the tiny ONNX models used by tests/suites/calibrate_cli.sh.

    make_fixtures.py OUT_DIR

tiny.onnx      x float[1,3,8,8] -> Conv3x3(8)+Relu -> Conv1x1(4) -> Sigmoid
               -> GlobalAveragePool -> Flatten -> Gemm(10) -> y float[1,10]
tiny_dyn.onnx  tiny.onnx with a symbolic batch: x float[N,3,8,8] -> y [N,10]
nhwc.onnx      x float[1,6,5,3] (NHWC) -> Transpose to NCHW -> Conv3x3(4)+Relu
               -> y float[1,4,4,3]
two_in.onnx    a, b float[1,2,4,4] -> Conv1x1(a) + Conv1x1(b) -> Relu -> y
Weights are seeded random, so the files are the same on every run.
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def init(name, arr):
    return numpy_helper.from_array(arr.astype(np.float32), name)


def tiny(rng, batch=1):
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="conv2"),
        helper.make_node("Sigmoid", ["c2"], ["s2"], name="sig2"),
        helper.make_node("GlobalAveragePool", ["s2"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flat"),
        helper.make_node("Gemm", ["f", "w3", "b3"], ["y"], name="fc", transB=1),
    ]
    inits = [init("w1", rng.normal(0, 0.5, (8, 3, 3, 3))), init("b1", rng.normal(0, 0.1, 8)),
             init("w2", rng.normal(0, 0.5, (4, 8, 1, 1))), init("b2", rng.normal(0, 0.1, 4)),
             init("w3", rng.normal(0, 1.0, (10, 4))), init("b3", rng.normal(0, 0.1, 10))]
    g = helper.make_graph(nodes, "tiny",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def nhwc(rng):
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], name="to_nchw", perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["t", "w", "b"], ["c"], name="conv"),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    inits = [init("w", rng.normal(0, 0.5, (4, 3, 3, 3))), init("b", rng.normal(0, 0.1, 4))]
    g = helper.make_graph(nodes, "nhwc",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6, 5, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 4, 3])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def two_in(rng):
    nodes = [
        helper.make_node("Conv", ["a", "wa"], ["ca"], name="conv_a"),
        helper.make_node("Conv", ["b", "wb"], ["cb"], name="conv_b"),
        helper.make_node("Add", ["ca", "cb"], ["s"], name="add"),
        helper.make_node("Relu", ["s"], ["y"], name="relu"),
    ]
    inits = [init("wa", rng.normal(0, 0.5, (3, 2, 1, 1))), init("wb", rng.normal(0, 0.5, (3, 2, 1, 1)))]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 4, 4]) for n in ("a", "b")]
    g = helper.make_graph(nodes, "two_in", vi,
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 4, 4])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


def main():
    out = sys.argv[1]
    makers = (("tiny", tiny), ("two_in", two_in), ("nhwc", nhwc),
              ("tiny_dyn", lambda r: tiny(r, batch="N")))
    for name, make in makers:
        m = make(np.random.default_rng(sum(map(ord, name))))
        m.ir_version = 8
        onnx.checker.check_model(m)
        onnx.save(m, f"{out}/{name}.onnx")


if __name__ == "__main__":
    main()
