"""Model preparation for bench_models.py: which models, their MAC counts,
batch-8 copies checked against batch 1, and ONNX Runtime's INT8 models
(qinfer's are made in bench_int8_prep.py); also the run-memory probe
(run_memory_qinfer, run_memory_ort: peak RSS growth over RUN_MEMORY_RUNS
inferences after load, each engine in a fresh process).

Everything made here is cached in .cache/bench next to a JSON stamp of what
it was made from (source size and mtime, ORT version, qinfer binary hash),
so a second run starts measuring at once. ONNX Runtime's tools that write
scratch files into the current directory run inside temp_cwd().
"""
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ZOO_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large", "regnet_x_400mf",
              "efficientnet_b0", "convnext_tiny", "vit_b_16", "vit_ti_16", "swin_t",
              "repvgg_a0", "mobilenetv4_conv_small", "fpn_resnet18"]
# Real models: shapes for their symbolic dims (qinfer --shape and ORT input).
REAL_MODELS = {"squeezenet1.1": {}, "yolox_nano": {}, "deeplabv3_mnv2_pascal": {},
               "ultraface_rfb320": {}, "ppocrv4_rec": {"x": (1, 3, 48, 320)}}
QUICK_MODELS = ["resnet18", "mobilenet_v2", "squeezenet1.1"]
# `make bench`: the common vision families, in about 3 minutes on 2 cores.
STANDARD_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "squeezenet1.1",
                   "efficientnet_b0", "vit_ti_16", "convnext_tiny"]

BATCH = 8
# A batch-8 copy is accepted when rows 0 and 7 match the batch-1 output of
# the same input to this relative L2 error (kernels may block a batch
# differently) and qinfer's batch-8 output matches ORT's to QINFER_*.
BATCH_ROW_REL_L2 = 1e-4
BATCH_ROW_REL_L2_INT8 = 2e-2
QINFER_BATCH_REL_L2 = 1e-3


class Skip(Exception):
    """A variant that cannot run on a model; the message says why."""


@contextlib.contextmanager
def temp_cwd():
    """Run a block in a fresh temporary folder: ONNX Runtime's tools write
    scratch files (sym_shape_infer_temp.onnx and its .data, when symbolic
    shape inference is incomplete) into the current directory, which must
    never be the repository."""
    old = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="qinfer-bench-") as tmp:
        os.chdir(tmp)
        try:
            yield Path(tmp)
        finally:
            os.chdir(old)


def rel_l2(a, b):
    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@dataclass
class Model:
    name: str
    path: Path
    source: str                      # "zoo" or "real"
    inputs: dict                     # name -> batch-1 shape (tuple of ints)
    dynamic: list                    # inputs with symbolic dims (need --shape)
    calib: Path = None               # (N, ...) float32 calibration inputs
    macs: int = 0
    mac_note: str = ""
    note: str = ""
    int8_info: dict = field(default_factory=dict)  # qinfer INT8: calibration, error
    ort_int8_info: dict = field(default_factory=dict)  # ORT INT8: error on the check input
    batched: dict = field(default_factory=dict)   # kind -> Path or Skip reason

    def shape(self, name, batch):
        return (batch,) + tuple(self.inputs[name][1:])

    def shape_args(self, batch):
        """qinfer --shape arguments: every input of a batched copy, else the
        inputs whose dims the model leaves symbolic."""
        names = list(self.inputs) if batch != 1 else self.dynamic
        args = []
        for n in names:
            args += ["--shape", "%s=%s" % (n, "x".join(map(str, self.shape(n, batch))))]
        return args


def graph_inputs(m):
    inits = {i.name for i in m.graph.initializer}
    return [i for i in m.graph.input if i.name not in inits]


def strip_initializer_inputs(m):
    """Drop initializers from the graph inputs (old exporters list them there).
    ORT treats such an initializer as an overridable input and does not fold
    it; qinfer treats it as a constant, so ORT gets the stripped model."""
    inits = {i.name for i in m.graph.initializer}
    keep = [i for i in m.graph.input if i.name not in inits]
    dropped = len(m.graph.input) - len(keep)
    if dropped:
        del m.graph.input[:]
        m.graph.input.extend(keep)
    return dropped


def ort_fp32_path(ctx, model):
    """The model for ORT: as given, or stripped of initializer inputs."""
    import onnx
    m = onnx.load(str(model.path), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    listed = sum(i.name in inits for i in m.graph.input)
    if not listed:
        return model.path
    model.note = ("its graph inputs list %d initializers; ORT gets a copy without them "
                  "(as inputs ORT would not constant-fold them)" % listed)
    dst = ctx.cache / (model.name + ".ort_fp32.onnx")
    if not dst.is_file() or dst.stat().st_mtime < model.path.stat().st_mtime:
        m = onnx.load(str(model.path))
        strip_initializer_inputs(m)
        onnx.save(m, str(dst))
    return dst


def load_model_info(name, path, source, fixed_shapes, calib):
    import onnx
    m = onnx.load(str(path), load_external_data=False)
    inputs, dynamic = {}, []
    for i in graph_inputs(m):
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in i.type.tensor_type.shape.dim]
        if i.name in fixed_shapes:
            shape = tuple(fixed_shapes[i.name])
            dynamic.append(i.name)
        elif all(d is not None for d in dims[1:]):
            shape = tuple([1] + dims[1:])
            if dims[0] is None:
                dynamic.append(i.name)
        else:
            raise Skip("input %s has symbolic dims %s; give its shape" % (i.name, dims))
        inputs[i.name] = shape
    return Model(name, Path(path), source, inputs, dynamic,
                 calib if calib and calib.is_file() else None)


def find_models(names, zoo, real_models):
    """(models found, names not found) among the zoo and the real models."""
    zoo, real_models = Path(zoo).resolve(), Path(real_models).resolve()
    models, missing = [], []
    for n in names:
        zoo_path = zoo / (n + ".onnx")
        real_path = real_models / (n + ".onnx")
        if n in REAL_MODELS and real_path.is_file():
            models.append(load_model_info(n, real_path, "real", REAL_MODELS[n], None))
        elif zoo_path.is_file() and (zoo / (n + ".json")).is_file():
            models.append(load_model_info(n, zoo_path, "zoo", {}, zoo / (n + ".calib.npy")))
        else:
            missing.append(n)
    return models, missing


def count_macs(path, shapes):
    """Multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul, from the
    shapes that shape inference gives for the concrete input shapes.
    Returns (macs, note) where note names nodes whose shapes were unknown."""
    import onnx
    from onnx import numpy_helper, shape_inference
    m = onnx.load(str(path))
    for i in graph_inputs(m):
        for d, v in zip(i.type.tensor_type.shape.dim, shapes[i.name]):
            d.Clear()
            d.dim_value = v
    try:   # ORT's symbolic inference also follows Shape->Gather->Reshape chains
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
        with temp_cwd():
            m = SymbolicShapeInference.infer_shapes(m, auto_merge=True)
    except Exception:
        m = shape_inference.infer_shapes(m)
    dims = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        s = [d.dim_value if d.HasField("dim_value") else None
             for d in vi.type.tensor_type.shape.dim]
        if vi.type.tensor_type.HasField("shape") and None not in s:
            dims[vi.name] = s
    for t in m.graph.initializer:
        dims[t.name] = list(t.dims)
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    dims[n.output[0]] = list(numpy_helper.to_array(a.t).shape)
    total, unknown = 0, []
    for n in m.graph.node:
        if n.op_type not in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
            continue
        shp = [dims.get(x) for x in n.input[:2]] + [dims.get(n.output[0])]
        if any(s is None for s in shp):
            unknown.append(n.name or n.op_type)
            continue
        a, w, y = shp
        if n.op_type == "Conv":            # N*Cout*spatial_out * Cin/g*kernel
            total += math.prod(y) * math.prod(w[1:])
        elif n.op_type == "ConvTranspose":  # N*Cin*spatial_in * Cout/g*kernel
            total += math.prod(a) * math.prod(w[1:])
        elif n.op_type == "Gemm":
            ta = next((x.i for x in n.attribute if x.name == "transA"), 0)
            k = a[0] if ta else a[1]
            total += math.prod(y) * k
        else:                               # MatMul: output elements * K
            total += math.prod(y) * a[-1]
    return total, ("%d node(s) with unknown shapes not counted" % len(unknown)
                   if unknown else "")


def cached_macs(ctx, model):
    key = "v2|%s|%d|%d|%s" % (model.path.resolve(), model.path.stat().st_size,
                           int(model.path.stat().st_mtime), sorted(model.inputs.items()))
    cache_path = ctx.cache / "macs.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    if key not in cache:
        cache[key] = count_macs(model.path, model.inputs)
        cache_path.write_text(json.dumps(cache, indent=1))
    model.macs, model.mac_note = cache[key]


def batched_copy(src, dst):
    """A copy of the model with a symbolic batch dim N on inputs and outputs.

    value_info (batch-1 shapes) is dropped; a Reshape whose constant target
    shape starts with 1 gets 0 there ("copy the input's dim 0"), which is the
    batch for classifier heads. Models whose graph fixes the batch some other
    way fail the row check in verify_batched and are skipped."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(str(src))
    strip_initializer_inputs(m)
    for v in graph_inputs(m) + list(m.graph.output):
        shape = v.type.tensor_type.shape
        if len(shape.dim):
            shape.dim[0].Clear()
            shape.dim[0].dim_param = "N"
    del m.graph.value_info[:]
    consts = {t.name: t for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    consts[n.output[0]] = a.t
    for idx, n in enumerate(m.graph.node):
        if n.op_type != "Reshape" or len(n.input) < 2 or n.input[1] not in consts:
            continue
        if any(a.name == "allowzero" and a.i for a in n.attribute):
            continue
        shape = numpy_helper.to_array(consts[n.input[1]]).copy()
        if shape.ndim == 1 and shape.size > 1 and shape[0] == 1:
            shape[0] = 0
            name = "%s__batch_%d" % (n.input[1], idx)
            m.graph.initializer.append(numpy_helper.from_array(shape, name))
            n.input[1] = name
    onnx.save(m, str(dst))


def ort_error(e):
    """The telling part of an ONNX Runtime exception, on one short line."""
    s = " ".join(str(e).split())
    m = re.search(r"running (\w+) node\. Name:'([^']*)'", s)
    if m:
        return "%s node '%s' fails" % m.groups()
    m = re.search(r"Node \(([^)]*)\) Op \((\w+)\) \[ShapeInferenceError\]", s)
    if m:
        return "%s node '%s' fails shape inference" % (m.group(2), m.group(1))
    m = re.search(r"failed:(.*)", s)
    return (m.group(1) if m else s).strip()[:100]


def ort_session(path, threads, spin=True):
    """A CPU session as the benchmark runs it: all graph optimizations,
    `threads` intra-op threads, sequential execution; spin=False turns off
    the intra-op workers' spin-waiting (on by default in ORT)."""
    import onnxruntime as ort
    o = ort.SessionOptions()
    if not spin:
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    o.intra_op_num_threads = threads
    o.inter_op_num_threads = 1
    o.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    o.log_severity_level = 4   # failures are raised, and shown where they matter
    return ort.InferenceSession(str(path), sess_options=o, providers=["CPUExecutionProvider"])


def random_feed(model, batch, seed):
    rng = np.random.default_rng(seed)
    return {n: rng.uniform(-0.5, 0.5, model.shape(n, batch)).astype(np.float32)
            for n in model.inputs}


def verify_batched(model, single, batched, row_tol):
    """Rows 0 and BATCH-1 of an ORT batch-8 run must equal batch-1 runs of
    the same inputs; raises Skip otherwise."""
    feed = random_feed(model, BATCH, 7)
    try:
        out8 = ort_session(batched, 1).run(None, feed)
    except Exception as e:  # ORT's own shape errors: the graph fixes the batch
        raise Skip("fixed batch in the graph (ORT: %s)" % ort_error(e))
    s1 = ort_session(single, 1)
    for row in (0, BATCH - 1):
        out1 = s1.run(None, {n: v[row:row + 1] for n, v in feed.items()})
        for a, b in zip(out8, out1):
            if a.shape[0] != BATCH or rel_l2(a[row:row + 1], b) > row_tol:
                raise Skip("fixed batch in the graph (batch-8 rows differ from batch 1)")


def cached_batched(ctx, model, kind, single, row_tol):
    """Path of the checked batch-8 copy of `single`, or raise Skip."""
    if kind in model.batched:
        if isinstance(model.batched[kind], Skip):
            raise model.batched[kind]
        return model.batched[kind]
    dst = ctx.cache / ("%s.%s.batchN.onnx" % (model.name, kind))
    stamp = Path(str(dst) + ".json")
    key = {"src": str(single), "size": single.stat().st_size,
           "mtime": int(single.stat().st_mtime), "recipe": 3}
    try:
        old = json.loads(stamp.read_text()) if stamp.is_file() else {}
        if old.get("key") != key or not dst.is_file():
            try:
                batched_copy(single, dst)
                verify_batched(model, single, dst, row_tol)
                old = {"key": key, "skip": None}
            except Skip as e:
                old = {"key": key, "skip": str(e)}
            stamp.write_text(json.dumps(old))
        if old["skip"]:
            raise Skip(old["skip"])
        model.batched[kind] = dst
    except Skip as e:
        model.batched[kind] = e
        raise
    return dst


def check_qinfer_batched(ctx, model, batched):
    """qinfer's batch-8 output of the batched copy must match ORT's (checked
    once per qinfer binary); raises Skip otherwise."""
    stamp = Path(str(batched) + ".qinfer.json")
    key = {"model": int(batched.stat().st_mtime), "qinfer": ctx.qinfer_sha}
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key") != key:
        import tempfile
        feed = random_feed(model, BATCH, 7)
        out8 = ort_session(batched, 1).run(None, feed)
        skip = None
        with tempfile.TemporaryDirectory(dir=ctx.cache) as tmp:
            ins = []
            for n, v in feed.items():
                np.save("%s/in_%s.npy" % (tmp, n), v)
                ins += ["--input", "%s=%s/in_%s.npy" % (n, tmp, n)]
            r = subprocess.run([str(ctx.qinfer), "run", str(batched)]
                               + model.shape_args(BATCH) + ins + ["--out", "%s/out" % tmp],
                               capture_output=True, text=True, env=ctx.env)
            if r.returncode != 0:
                skip = "qinfer batch %d: %s" % (BATCH, (r.stderr or r.stdout).strip()[:100])
            for i, ref in enumerate(out8 if not skip else []):
                err = rel_l2(np.load("%s/out%d.npy" % (tmp, i)), ref)
                if err > QINFER_BATCH_REL_L2 and not skip:
                    skip = "qinfer batch-%d output %d differs from ORT's (rel L2 %.2g)" % (
                        BATCH, i, err)
        old = {"key": key, "skip": skip}
        stamp.write_text(json.dumps(old))
    if old["skip"]:
        raise Skip(old["skip"])


class CalibReader:
    """CalibrationDataReader over the (N, ...) calibration inputs at `data`
    (bench_int8_prep.calib_inputs: the same ones qinfer calibrates with)."""

    def __init__(self, model, data, how):
        arr = np.load(data)
        name = next(iter(model.inputs))
        self.items = [{name: np.ascontiguousarray(arr[k:k + 1], np.float32)}
                      for k in range(arr.shape[0])]
        self.source = how

    def get_next(self):
        return self.items.pop(0) if self.items else None

    def rewind(self):
        pass


def ort_int8_model(ctx, model, calib, batched=False):
    """quantize_static (QDQ, per-channel, activations QUInt8, weights QInt8,
    MinMax) of the model, cached in .cache/bench with a stamp of its inputs.
    The source gets concrete input shapes and, below opset 13 (where
    DequantizeLinear has no axis for per-channel scales), is converted to
    opset 13; the result must load and run in ORT. With batched, the source
    is the checked batch-N copy (quantizing pins batch-1 shapes otherwise),
    and its batch-8 rows must match its own batch-1 runs. calib: (path of
    the calibration inputs, their description), from calib_inputs."""
    import logging
    import onnx
    import onnxruntime
    from onnx import version_converter
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    origin = (cached_batched(ctx, model, "fp32", model.path, BATCH_ROW_REL_L2)
              if batched else model.path)
    tag = model.name + (".ort_int8.batchN" if batched else ".ort_int8")
    dst = ctx.cache / (tag + ".onnx")
    stamp = Path(str(dst) + ".json")
    key = {"src": str(origin), "size": origin.stat().st_size,
           "mtime": int(origin.stat().st_mtime), "ort": onnxruntime.__version__,
           "calib": calib[1], "recipe": 4 if batched else 3}
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key") == key:
        if old.get("skip"):
            raise Skip(old["skip"])
        return dst
    t0 = time.perf_counter()
    src = ctx.cache / (tag + ".src.onnx")
    pre = ctx.cache / (tag + ".pre.onnx")
    skip, info = None, {}
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)   # per-tensor warnings by the hundred
    try:
        m = onnx.load(str(origin))
        strip_initializer_inputs(m)
        for i in graph_inputs(m) if not batched else []:
            for d, v in zip(i.type.tensor_type.shape.dim, model.inputs[i.name]):
                d.Clear()
                d.dim_value = v
        opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
        if opset < 13:
            m = version_converter.convert_version(m, 13)
        onnx.save(m, str(src))
        with temp_cwd():
            try:
                quant_pre_process(str(src), str(pre))
            except Exception as e:  # pre-processing is advice, not required
                print("  %s: quant_pre_process failed (%s); quantizing as is"
                      % (model.name, str(e).splitlines()[0][:80]), flush=True)
                pre = src
            reader = CalibReader(model, *calib)
            quantize_static(str(pre), str(dst), reader, quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8,
                            calibrate_method=CalibrationMethod.MinMax)
        if batched:
            # Reference: the same quantized model at batch 1 (a separately
            # quantized batch-1 model may fuse and round differently).
            verify_batched(model, dst, dst, BATCH_ROW_REL_L2_INT8)
        else:
            feed = random_feed(model, 1, 3)
            out8 = ort_session(dst, 1).run(None, feed)[0]
            out32 = ort_session(ort_fp32_path(ctx, model), 1).run(None, feed)[0]
            info = {"rel_l2_vs_fp32": rel_l2(out8, out32)}
        info.update(calib_source=reader.source, opset_from=opset)
        print("  %s: ORT INT8 model%s made in %.1fs (calibration: %s%s)"
              % (model.name, " (batch N)" if batched else "", time.perf_counter() - t0,
                 reader.source, "; output rel L2 vs FP32 %.3f" % info["rel_l2_vs_fp32"]
                 if "rel_l2_vs_fp32" in info else ""), flush=True)
    except Skip as e:
        skip = str(e)
    except Exception as e:
        skip = "ORT quantization: %s" % str(e).splitlines()[0][:100]
    finally:
        logging.getLogger().setLevel(level)
        for f in (src, pre):
            f.unlink(missing_ok=True)
    stamp.write_text(json.dumps({"key": key, "skip": skip, "info": info}))
    if skip:
        raise Skip(skip)
    return dst


# --------------------------------------------------------------------------
# Run memory: how much the resident set grows from "model loaded, session
# created" to "RUN_MEMORY_RUNS inferences done" (1 thread, batch 1): the
# activation memory an engine really touches (arena, scratch, its allocator's
# caches), measured alike for both engines, each in a fresh process.
#
# The peak (VmHWM) is reset to the current RSS at the "after load" point by
# writing 5 to /proc/PID/clear_refs, so a transient peak while loading (the
# parsed file, unpacked weights) cannot hide the growth: growth = VmHWM after
# the runs - VmRSS after load. Where clear_refs cannot be written the method
# is "hwm": VmHWM after the runs - VmHWM after load (an underestimate when
# loading peaked above what the runs need). qinfer's "after load" point is
# the entry of its first qi_session_run, reached under gdb (a breakpoint,
# deleted once hit, so the runs are not slowed); without gdb, the "hwm" method
# from outside: peak RSS of `qinfer inspect` (load + session) against that of
# `qinfer bench --runs RUN_MEMORY_RUNS` (both from wait4).

RUN_MEMORY_RUNS = 10
RUN_MEMORY_TIMEOUT_S = 180

GDB_SCRIPT = r"""
import gdb, json
def status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            k, _, v = ln.partition(":")
            if k in ("VmRSS", "VmHWM"):
                d[k] = int(v.split()[0]) * 1024
    return d
out = {}
try:
    for c in ("set pagination off", "set confirm off", "set startup-with-shell off",
              "set debuginfod enabled off"):
        try:
            gdb.execute(c)
        except gdb.error:
            pass
    gdb.execute("break qi_session_run")
    gdb.execute("run", to_string=True)
    pid = gdb.selected_inferior().pid
    if not pid:
        raise RuntimeError("qinfer exited before its first run")
    try:
        gdb.execute("call (int) malloc_trim(0)", to_string=True)
        out["trimmed"] = True
    except gdb.error:
        out["trimmed"] = False
    out["load"] = status(pid)
    try:
        with open("/proc/%d/clear_refs" % pid, "w") as f:
            f.write("5")
        out["method"] = "clear_refs"
    except OSError:
        out["method"] = "hwm"
    out["reset"] = status(pid)
    gdb.execute("delete")
    gdb.execute("break qi_session_free")
    gdb.execute("continue", to_string=True)
    if not gdb.selected_inferior().pid:
        raise RuntimeError("qinfer exited before qi_session_free")
    out["runs"] = status(pid)
    gdb.execute("delete")
    gdb.execute("continue", to_string=True)
except Exception as e:
    out["error"] = str(e).strip().splitlines()[-1][:160] if str(e).strip() else repr(e)
print("RUN_MEMORY_JSON " + json.dumps(out))
"""


def memory_result(load, reset, runs, method, **extra):
    """The record of one probe: growth from after load to after the runs."""
    base = reset["VmRSS"] if method == "clear_refs" else load["VmHWM"]
    return dict(extra, growth_bytes=max(0, runs["VmHWM"] - base), method=method,
                rss_after_load=load["VmRSS"], hwm_during_load=load["VmHWM"],
                hwm_after_runs=runs["VmHWM"], runs=RUN_MEMORY_RUNS)


def child_maxrss(cmd, env):
    """(returncode, stdout+stderr, peak RSS bytes from wait4) of a command."""
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = p.stdout.read().decode(errors="replace")
    _, st, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(st)
    return p.returncode, out, ru.ru_maxrss * 1024


def run_memory_qinfer(ctx, path, shape_args):
    """Run-memory record of `qinfer bench PATH --threads 1` (see above)."""
    t0 = time.perf_counter()
    cmd = [str(ctx.qinfer), "bench", str(path), "--threads", "1", "--warmup", "0",
           "--runs", str(RUN_MEMORY_RUNS)] + list(shape_args)
    gdb = shutil.which("gdb")
    if gdb:
        with tempfile.NamedTemporaryFile("w", suffix=".py", dir=ctx.cache) as f:
            f.write(GDB_SCRIPT)
            f.flush()
            env = dict(ctx.env, DEBUGINFOD_URLS="")
            try:
                r = subprocess.run([gdb, "-q", "-nx", "-batch", "-x", f.name, "--args"] + cmd,
                                   capture_output=True, text=True, env=env,
                                   timeout=RUN_MEMORY_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                return {"skip": "gdb probe timed out after %d s" % RUN_MEMORY_TIMEOUT_S}
        m = re.search(r"^RUN_MEMORY_JSON (.*)$", r.stdout, re.M)
        got = json.loads(m.group(1)) if m else {"error": (r.stderr or r.stdout).strip()[-160:]}
        if "error" not in got:
            return memory_result(got["load"], got["reset"], got["runs"], got["method"],
                                 probe="gdb", trimmed=got["trimmed"],
                                 wall_s=round(time.perf_counter() - t0, 2))
        why = "gdb probe failed (%s)" % got["error"]
    else:
        why = "gdb not installed"
    # Fallback from outside: peak RSS of load + session alone vs with the runs.
    inspect = [str(ctx.qinfer), "inspect", str(path), "--threads", "1"] + list(shape_args)
    rc1, out1, load_peak = child_maxrss(inspect, ctx.env)
    rc2, out2, runs_peak = child_maxrss(cmd, ctx.env)
    if rc1 or rc2:
        return {"skip": "qinfer: " + (out1 if rc1 else out2).strip()[-120:]}
    return dict(memory_result({"VmRSS": load_peak, "VmHWM": load_peak}, None,
                              {"VmHWM": runs_peak}, "hwm", probe="wait4", note=why,
                              wall_s=round(time.perf_counter() - t0, 2)),
                rss_after_load=None)


def run_memory_ort(ctx, model, path):
    """Run-memory record of ONNX Runtime (1 intra-op thread) on PATH, in a
    fresh Python process (this module's __main__)."""
    t0 = time.perf_counter()
    cmd = [sys.executable, str(Path(__file__).resolve()), "ort-run-memory", str(path)]
    cmd += ["%s=%s" % (n, "x".join(map(str, model.shape(n, 1)))) for n in model.inputs]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, env=ctx.env,
                           timeout=RUN_MEMORY_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"skip": "ORT probe timed out after %d s" % RUN_MEMORY_TIMEOUT_S}
    m = re.search(r"^RUN_MEMORY_JSON (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        return {"skip": "ORT probe: " + (r.stderr or r.stdout).strip()[-120:]}
    got = json.loads(m.group(1))
    if "error" in got:
        return {"skip": "ORT: " + got["error"]}
    return memory_result(got["load"], got["reset"], got["runs"], got["method"],
                         probe="python", trimmed=got["trimmed"],
                         wall_s=round(time.perf_counter() - t0, 2))


def ort_run_memory_child(path, shapes):
    """In the child: session (1 thread) and inputs, then VmRSS/VmHWM, reset,
    RUN_MEMORY_RUNS runs, VmHWM. Prints RUN_MEMORY_JSON {...}."""
    def status():
        d = {}
        with open("/proc/self/status") as f:
            for ln in f:
                k, _, v = ln.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    d[k] = int(v.split()[0]) * 1024
        return d
    out = {}
    try:
        import onnxruntime
        onnxruntime.set_default_logger_severity(4)
        sess = ort_session(path, 1)
        rng = np.random.default_rng(1)
        feed = {n: rng.uniform(-0.5, 0.5, s).astype(np.float32) for n, s in shapes.items()}
        try:
            import ctypes
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            out["trimmed"] = True
        except (OSError, AttributeError):
            out["trimmed"] = False
        out["load"] = status()
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            out["method"] = "clear_refs"
        except OSError:
            out["method"] = "hwm"
        out["reset"] = status()
        for _ in range(RUN_MEMORY_RUNS):
            sess.run(None, feed)
        out["runs"] = status()
    except Exception as e:
        out["error"] = ort_error(e)
    print("RUN_MEMORY_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "ort-run-memory":
        ort_run_memory_child(sys.argv[2], {
            a.rpartition("=")[0]: tuple(int(x) for x in a.rpartition("=")[2].split("x"))
            for a in sys.argv[3:]})
    else:
        sys.exit("usage: bench_model_prep.py ort-run-memory MODEL NAME=D0xD1x... "
                 "(the child of bench_models.py's run-memory probe)")
