#!/usr/bin/env python3
"""Calibration cost: wall time and peak memory of tools/calibrate on the zoo
ResNet-50 fed real ImageNet photographs, beside ONNX Runtime's calibrator.

    bench_calib.py --calibrate build/bench/calibrate --qinfer build/bench/qinfer
                   --out build/bench [--count 500] [--counts 5,10,25]
                   [--ort-counts 5,10,25 | --no-ort] [--threads 1]
    bench_calib.py --report build/bench/calib.json --out DIR   (tables again)

What runs, in this order, each step interleaved with the next so that load
from other processes falls on all of them alike:
  - for every count in --counts and then --count: one `qinfer bench` block of
    the FP32 model (the per-image cost of one plain inference, for scale),
    then `tools/calibrate` on the first N photographs of --images (JPEG,
    decoded and preprocessed by calibrate itself: shorter side 256, centre
    crop 224, x/255, ImageNet mean/std), then ORT's quantize_static (QDQ,
    per-channel; MinMax and Percentile, --ort-methods) on N images
    preprocessed the same way in Python (bench_int8_prep.imagenet_inputs),
    in a child process of its own;
  - calibrate reports its own peak RSS and observer bytes; /usr/bin/time -v
    (when installed) and wait4()'s ru_maxrss give the same peak from the
    kernel's side.
ORT runs are bounded: the child is killed above --ort-max-gib of RSS or
--ort-max-s seconds, and a count is skipped when a straight line through the
earlier counts predicts either limit would be passed.

Writes OUT/calib.json and OUT/calib.md (bench_report.calib_lines).
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import (cpu_description, cpu_snapshot, git, others_cores,  # noqa: E402
                        write_results)
from bench_report import calib_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
IMAGENET_MEAN = "0.485,0.456,0.406"
IMAGENET_STD = "0.229,0.224,0.225"
PREPROCESS = ["--resize", "256", "--crop", "224x224", "--scale", "1/255",
              "--mean", IMAGENET_MEAN, "--std", IMAGENET_STD]
# FP32 latency blocks: timed runs per block (ResNet-50 runs ~0.12 s each).
FP32_RUNS = 5
RSS_POLL_S = 0.05
# ORT's percentile, set to calibrate's default (ORT's own default is 99.999).
ORT_PERCENTILE = 99.99
GIB = 2 ** 30
MIB = 2 ** 20


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run_measured(argv, env=None, max_rss=None, max_s=None):
    """Run argv; returns dict(rc, wall_s, maxrss (bytes, from wait4), stdout,
    stderr, killed: reason or None). With max_rss/max_s the child is polled
    every RSS_POLL_S and killed when its RSS or run time passes the bound."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        p = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        killed = None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            el = time.perf_counter() - t0
            rss = vm_rss(p.pid)
            if killed is None and max_rss and rss > max_rss:
                killed = "RSS passed %.1f GiB" % (max_rss / GIB)
            elif killed is None and max_s and el > max_s:
                killed = "ran past %.0f s" % max_s
            if killed:
                p.kill()
                pid, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(RSS_POLL_S if (max_rss or max_s) else 0.2)
        p.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        return {"rc": p.returncode, "wall_s": wall, "maxrss": ru.ru_maxrss * 1024,
                "stdout": out.read().decode(errors="replace"),
                "stderr": err.read().decode(errors="replace"), "killed": killed}


def vm_rss(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) * 1024
    except OSError:
        pass
    return 0


# --------------------------------------------------------------------------
# qinfer: FP32 latency and tools/calibrate

def fp32_block(args, env):
    r = subprocess.run([str(args.qinfer), "bench", str(args.model), "--threads",
                        str(args.threads), "--warmup", "1", "--runs", str(FP32_RUNS)],
                       capture_output=True, text=True, env=env)
    m = re.search(r"latency_ms median ([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("qinfer bench %s: %s" % (args.model, (r.stderr or r.stdout)[-200:]))
    return float(m.group(1))


def parse_summary(text):
    """calibrate's summary lines ('samples   500', 'time   12.3 s (...)', ...)."""
    s = {}
    for key, pat in (("samples", r"^samples\s+(\d+)"),
                     ("time_s", r"^time\s+([\d.]+) s"),
                     ("calib_s", r"^time\s+[\d.]+ s \(calibration ([\d.]+) s\)"),
                     ("observer_bytes", r"^observers\s+[\d.]+ MiB \((\d+) bytes\)"),
                     ("peak_rss_mib", r"^peak RSS\s+([\d.]+) MiB"),
                     ("nodes", r"^nodes\s+(.*)$")):
        m = re.search(pat, text, re.M)
        if m:
            v = m.group(1)
            s[key] = v if key == "nodes" else float(v) if "." in v else int(v)
    return s


def time_v_peak(path):
    """/usr/bin/time -v's 'Maximum resident set size (kbytes)', in bytes."""
    try:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", Path(path).read_text())
        return int(m.group(1)) * 1024 if m else None
    except OSError:
        return None


def calibrate_run(args, count, tmp, env):
    out_qnf = Path(tmp) / "resnet50.qnf"
    argv = [str(args.calibrate), str(args.model), "--data", str(args.images),
            "--limit", str(count)] + PREPROCESS + ["--threads", str(args.threads),
                                                    "-o", str(out_qnf)] + args.extra
    tv = Path(tmp) / "time_v.txt"
    timev = shutil.which("time", path="/usr/bin") if not args.no_time_v else None
    full = ([timev, "-v", "-o", str(tv)] if timev else []) + argv
    snap = cpu_snapshot()
    r = run_measured(full, env=env)
    others = others_cores(snap, cpu_snapshot())
    if r["rc"] != 0:
        raise RuntimeError("calibrate failed (rc %d): %s" % (r["rc"], r["stderr"][-300:]))
    s = parse_summary(r["stdout"])
    pre = re.search(r"^calibrate: \d+ samples?; (.*)$", r["stderr"], re.M)
    res = {"count": count, "wall_s": r["wall_s"], "wait4_maxrss": r["maxrss"],
           "time_v_maxrss": time_v_peak(tv) if timev else None, "others_cores": others,
           "preprocessing": pre.group(1) if pre else None,
           "command": " ".join(shlex.quote(a) for a in argv).replace(str(tmp), "TMP"),
           "qnf_bytes": out_qnf.stat().st_size}
    res.update(s)
    out_qnf.unlink(missing_ok=True)
    return res


# --------------------------------------------------------------------------
# ONNX Runtime's calibrator, in a child process (this same file, --ort-worker)

def ort_worker(args):
    """quantize_static on the first --count images of --data; prints one
    JSON line. The calibrator's session gets --threads intra-op threads."""
    import numpy as np
    import onnxruntime
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod,
                                          QuantFormat, QuantType, quantize_static)
    threads_set = True
    try:    # the calibrator builds its session from onnxruntime.SessionOptions()
        base = onnxruntime.SessionOptions

        class Options(base):
            def __init__(self):
                super().__init__()
                self.intra_op_num_threads = args.threads
        onnxruntime.SessionOptions = Options
    except TypeError:
        threads_set = False
    data = np.load(args.data, mmap_mode="r")
    name, model = args.input_name, args.model.resolve()

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.k = 0

        def get_next(self):
            if self.k >= args.count:
                return None
            self.k += 1
            return {name: np.ascontiguousarray(data[self.k - 1:self.k], np.float32)}

    import logging
    logging.getLogger().setLevel(logging.ERROR)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="worker-") as tmp:   # under the parent's TMPDIR
        os.chdir(tmp)   # the calibrator's scratch files stay out of the repository
        method = {"minmax": CalibrationMethod.MinMax,
                  "percentile": CalibrationMethod.Percentile}[args.ort_method]
        extra = {"CalibPercentile": ORT_PERCENTILE} if args.ort_method == "percentile" else {}
        quantize_static(str(model), str(Path(tmp) / "q.onnx"), Reader(),
                        quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=method, extra_options=extra)
        size = (Path(tmp) / "q.onnx").stat().st_size
    print(json.dumps({"quantize_s": time.perf_counter() - t0, "threads_set": threads_set,
                      "ort": onnxruntime.__version__, "qdq_bytes": size}))
    return 0


def predict(points, count):
    """Straight line through the (count, value) points (the last two), at count."""
    if not points:
        return None
    if len(points) == 1:
        c, v = points[0]
        return v * count / c
    (c0, v0), (c1, v1) = points[-2:]
    return v1 + (v1 - v0) / (c1 - c0) * (count - c1) if c1 != c0 else v1


def ort_run(args, method, count, data_path, env, history):
    lim_rss, lim_s = args.ort_max_gib * GIB, args.ort_max_s
    p_rss = predict([(h["count"], h["maxrss"]) for h in history], count)
    p_s = predict([(h["count"], h["wall_s"]) for h in history], count)
    if p_rss and p_rss > lim_rss:
        return {"count": count, "method": method, "skip": "predicted peak RSS %.1f GiB > "
                "%.0f GiB limit" % (p_rss / GIB, args.ort_max_gib)}
    if p_s and p_s > lim_s:
        return {"count": count, "method": method,
                "skip": "predicted %.0f s > %.0f s limit" % (p_s, lim_s)}
    argv = [sys.executable, str(Path(__file__).resolve()), "--ort-worker", "--model",
            str(args.model), "--data", str(data_path), "--count", str(count),
            "--threads", str(args.threads), "--input-name", args.input_name,
            "--ort-method", method]
    snap = cpu_snapshot()
    # The child's scratch (and ORT's own temporary files) in a folder this
    # process removes, also when the child is killed at a bound.
    with tempfile.TemporaryDirectory(prefix="qinfer-bench-ort-") as tmp:
        r = run_measured(argv, env=dict(env, TMPDIR=tmp), max_rss=lim_rss, max_s=lim_s)
    res = {"count": count, "method": method, "wall_s": r["wall_s"], "maxrss": r["maxrss"],
           "others_cores": others_cores(snap, cpu_snapshot())}
    if r["killed"]:
        res["skip"] = "stopped: " + r["killed"]
        return res
    line = r["stdout"].strip().splitlines()[-1:] if r["rc"] == 0 else []
    if not line:
        res["skip"] = "ORT failed (rc %d): %s" % (r["rc"], r["stderr"].strip()[-200:])
        return res
    res.update(json.loads(line[0]))
    return res


def preprocessed_images(args, count):
    """(count, 3, 224, 224) float32 .npy of the first `count` photographs,
    cached in --cache: ORT's calibrator reads tensors, not JPEGs."""
    from bench_int8_prep import imagenet_inputs
    import numpy as np
    args.cache.mkdir(parents=True, exist_ok=True)
    dst = args.cache / ("imagenet_dev.first%d.npy" % count)
    files = sorted(p.name for p in Path(args.images).iterdir())
    key = {"images": str(Path(args.images).resolve()), "files": files[:count + 5],
           "recipe": 1}
    stamp = Path(str(dst) + ".json")
    if not dst.is_file() or not stamp.is_file() or json.loads(stamp.read_text()) != key:
        np.save(dst, imagenet_inputs(args.images, count))
        stamp.write_text(json.dumps(key))
    return dst


def input_name(model):
    import onnx
    m = onnx.load(str(model), load_external_data=False)
    inits = {i.name for i in m.graph.initializer}
    return next(i.name for i in m.graph.input if i.name not in inits)


# --------------------------------------------------------------------------

def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qinfer", type=Path, default=ROOT / "tools/qinfer")
    ap.add_argument("--calibrate", type=Path, default=ROOT / "tools/calibrate")
    ap.add_argument("--model", type=Path, default=ROOT / ".cache/zoo/resnet50.onnx")
    ap.add_argument("--images", type=Path,
                    default=ROOT.parent / "shared/assets/images/imagenet_dev")
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/bench/calib_cost")
    ap.add_argument("--count", type=int, default=500, help="images of the main run")
    ap.add_argument("--counts", default="5,10,25",
                    help="smaller counts, for the memory-against-count comparison")
    ap.add_argument("--ort-counts", default=None,
                    help="counts for ORT's calibrator (default: --counts)")
    ap.add_argument("--no-ort", action="store_true", help="skip ORT's calibrator")
    ap.add_argument("--ort-methods", default="minmax,percentile",
                    help="ORT calibration methods: minmax (ReduceMin/Max nodes in the "
                    "graph), percentile (histograms of every activation, as calibrate's "
                    "default)")
    ap.add_argument("--ort-max-gib", type=float, default=8.0)
    ap.add_argument("--ort-max-s", type=float, default=180.0)
    ap.add_argument("--threads", type=int, default=1,
                    help="threads of calibrate, of the FP32 latency and of ORT's session")
    ap.add_argument("--no-time-v", action="store_true", help="do not wrap in /usr/bin/time -v")
    ap.add_argument("--report", type=Path, help="rewrite calib.md from a calib.json")
    ap.add_argument("--ort-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--input-name", help=argparse.SUPPRESS)
    ap.add_argument("--ort-method", default="minmax", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if args.ort_worker:
        args.count = int(args.count)
        return ort_worker(args)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        data = json.loads(args.report.read_text())
        (args.out / "calib.md").write_text("\n".join(calib_lines(data)) + "\n")
        print("\n".join(calib_lines(data)))
        return 0
    for p, what in ((args.calibrate, "tools/calibrate"), (args.qinfer, "tools/qinfer"),
                    (args.model, "the model (make_zoo.py --models resnet50)"),
                    (args.images, "the ImageNet images")):
        if not p.exists():
            print("bench_calib: %s missing: %s" % (what, p), file=sys.stderr)
            return 1
    n_images = sum(1 for p in args.images.iterdir()
                   if p.suffix.lower() in (".jpeg", ".jpg", ".png"))
    counts = sorted({int(c) for c in args.counts.split(",") if c})
    ort_counts = [] if args.no_ort else sorted(
        {int(c) for c in (args.ort_counts or args.counts).split(",") if c})
    if args.count > n_images:
        print("bench_calib: --count %d but %d images in %s; using %d"
              % (args.count, n_images, args.images, n_images), flush=True)
        args.count = n_images
    args.input_name = input_name(args.model)
    # Newer calibrate checks its default build on kept samples and runs --auto
    # (a per-layer sweep: minutes on ResNet-50) when the SQNR is low: the
    # streaming calibration alone is measured here.
    h = subprocess.run([str(args.calibrate), "--help"], capture_output=True, text=True)
    args.extra = ["--no-fallback"] if "--no-fallback" in h.stdout + h.stderr else []
    methods = [m for m in args.ort_methods.split(",") if m]
    bad = [m for m in methods if m not in ("minmax", "percentile")]
    if bad:
        print("bench_calib: unknown --ort-methods %s" % ",".join(bad), file=sys.stderr)
        return 2
    env = dict(os.environ)
    import onnxruntime
    t_start = time.perf_counter()
    data = {"command": " ".join(shlex.quote(a) for a in
                                [sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "cpu": cpu_description(), "onnxruntime": onnxruntime.__version__,
            "qinfer_git": git(ROOT, "describe", "--always", "--dirty"),
            "calibrate_sha256": sha256(args.calibrate), "model": str(args.model),
            "model_bytes": args.model.stat().st_size, "images": str(args.images),
            "threads": args.threads, "fp32_runs_per_block": FP32_RUNS,
            "ort_limits": {"max_gib": args.ort_max_gib, "max_s": args.ort_max_s},
            "ort_methods": methods, "ort_percentile": ORT_PERCENTILE,
            "ours": [], "ort": [], "fp32_ms": []}
    ort_data = preprocessed_images(args, max(ort_counts)) if ort_counts else None
    plan = [(c, c in ort_counts) for c in counts if c != args.count] + [
        (c, True) for c in ort_counts if c not in counts and c != args.count]
    plan = sorted(plan) + [(args.count, args.count in ort_counts)]
    print("bench_calib: %s, counts %s; ORT at %s; %d thread(s)" % (
        args.model.name, ",".join(str(c) for c, _ in plan),
        ",".join(map(str, ort_counts)) or "-", args.threads), flush=True)
    with tempfile.TemporaryDirectory(prefix="qinfer-bench-calib-") as tmp:
        for count, with_ort in plan:
            data["fp32_ms"].append(fp32_block(args, env))
            if count in counts or count == args.count:
                r = calibrate_run(args, count, tmp, env)
                data["ours"].append(r)
                print("  [%4.0fs] calibrate %3d images: %.1f s (%.3f s/image), peak RSS %.0f "
                      "MiB (time -v %s), observers %d bytes; other CPU %.2f" % (
                          time.perf_counter() - t_start, count, r["wall_s"],
                          r["wall_s"] / count, r.get("peak_rss_mib", float("nan")),
                          "%.0f MiB" % (r["time_v_maxrss"] / MIB) if r["time_v_maxrss"]
                          else "n/a", r.get("observer_bytes", -1), r["others_cores"]),
                      flush=True)
            for method in methods if with_ort else ():
                o = ort_run(args, method, count, ort_data, env,
                            [h for h in data["ort"] if "skip" not in h and h["method"] == method])
                data["ort"].append(o)
                print("  [%4.0fs] ORT quantize_static %s %3d images: %s" % (
                    time.perf_counter() - t_start, method, count, o["skip"] if "skip" in o else
                    "%.1f s, peak RSS %.0f MiB; other CPU %.2f" % (
                        o["wall_s"], o["maxrss"] / MIB, o["others_cores"])), flush=True)
            data["wall_s"] = time.perf_counter() - t_start
            (args.out / "calib.json").write_text(json.dumps(data, indent=1))
    data["fp32_ms"].append(fp32_block(args, env))   # one more, after the last
    data["fp32_ms_median"] = statistics.median(data["fp32_ms"])
    write_results(args.out, "calib", data, calib_lines(data), t_start, "bench_calib")
    return 0


if __name__ == "__main__":
    sys.exit(main())
