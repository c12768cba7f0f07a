"""Writes ONNX's backend node test cases from the installed onnx package
(newer opsets than Debian's libonnx-testdata) in the on-disk layout of
onnx/backend/test/data/node: DIR/test_x/model.onnx and
DIR/test_x/test_data_set_0/{input,output}_K.pb.

    gen_node_tests.py --out DIR

Cached: a stamp with the onnx version skips the work when nothing changed.
"""
import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper
from onnx.backend.test.case.node import collect_testcases


def write_tensor(path, value, name):
    if isinstance(value, np.generic):  # numpy scalars are rank-0 tensors
        value = np.asarray(value)
    if not isinstance(value, np.ndarray):
        return False  # sequences / optionals: not tensors
    try:
        t = numpy_helper.from_array(value, name)
    except Exception:  # noqa: BLE001 - exotic dtypes (float8, int4, strings)
        return False
    with open(path, "wb") as f:
        f.write(t.SerializeToString())
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    stamp = os.path.join(a.out, ".stamp")
    want = "onnx " + onnx.__version__
    if os.path.exists(stamp) and open(stamp).read() == want:
        return 0
    os.makedirs(a.out, exist_ok=True)
    written = 0
    for case in collect_testcases(None):
        if case.kind != "node" or case.model is None:
            continue
        d = os.path.join(a.out, case.name)
        ok = True
        os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
        for i, (inputs, outputs) in enumerate(case.data_sets or []):
            ds = os.path.join(d, "test_data_set_%d" % i)
            os.makedirs(ds, exist_ok=True)
            graph = case.model.graph
            for k, v in enumerate(inputs):
                ok = ok and write_tensor(os.path.join(ds, "input_%d.pb" % k), v, graph.input[k].name)
            for k, v in enumerate(outputs):
                ok = ok and write_tensor(os.path.join(ds, "output_%d.pb" % k), v, graph.output[k].name)
        if not ok:  # data qinfer's reader cannot hold: not a test we can run
            shutil.rmtree(d)
            continue
        with open(os.path.join(d, "model.onnx"), "wb") as f:
            f.write(case.model.SerializeToString())
        written += 1
    with open(stamp, "w") as f:
        f.write(want)
    print("wrote %d node tests to %s" % (written, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
