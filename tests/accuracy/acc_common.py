"""Shared pieces of the accuracy harness (tests/accuracy/acc_*.py).

Every model script compares our engine's FP32 run of a real model with the
INT8 models that `tools/calibrate` makes from it (one per calibration
method, plus whatever calibrate produces with no options), using a metric
that fits the task. Models run through the command-line tools only
(`qinfer run`, `qinfer eval`, `qinfer convert`, `calibrate`), so what is
measured is what a user gets.

Layout under .cache/accuracy/ (gitignored; photos are never copied into the
repository, only preprocessed tensors land here):
    <model>/calib/*.npy    calibration samples, one per file
    <model>/eval/...       evaluation inputs and outputs
    <model>/qnf/*.qnf      calibrated models, reused while the calibrate
                           binary, the model and the samples are unchanged
    results/<model>.json   the figures behind the printed table

Environment: QINFER and CALIBRATE override the tool paths (default
tools/qinfer, tools/calibrate); QINFER_ASSETS the assets folder (default
../shared/assets); ACC_THREADS the thread count (default 1).
"""
import argparse
import hashlib
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ASSETS = Path(os.environ.get("QINFER_ASSETS", ROOT.parent / "shared" / "assets")).resolve()
CACHE = ROOT / ".cache" / "accuracy"
RESULTS = CACHE / "results"
QINFER = Path(os.environ.get("QINFER", ROOT / "tools" / "qinfer"))
CALIBRATE = Path(os.environ.get("CALIBRATE", ROOT / "tools" / "calibrate"))

METHODS = ("minmax", "percentile", "entropy", "mse")
# Bump when preprocessing or sample selection changes: cached samples are
# then written again.
SAMPLES_RECIPE = 1


# ---- command line shared by the model scripts -------------------------------

def parse_args(description, argv=None, extra=None, default_methods=METHODS):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--methods", default=",".join(default_methods) or "none",
                   help="calibration methods to report, comma-separated "
                        "(default all four; 'none' for FP32 rows only)")
    p.add_argument("--no-default", action="store_true",
                   help="skip the row of calibrate's default build")
    p.add_argument("--auto", action="store_true",
                   help="add a row for `calibrate --auto` (per-layer precision "
                        "within calibrate's default budget; minutes per model)")
    p.add_argument("--sanity", action="store_true",
                   help="FP32 stand-in for every INT8 model (qinfer convert "
                        "of the FP32 model): every agreement must be 100%%")
    p.add_argument("--threads", type=int, default=int(os.environ.get("ACC_THREADS", "1")))
    p.add_argument("--fresh", action="store_true",
                   help="recalibrate even when a cached model matches")
    if extra:
        extra(p)
    a = p.parse_args(argv)
    a.methods = [] if a.methods == "none" else [m for m in a.methods.split(",") if m]
    for m in a.methods:
        if m not in METHODS:
            p.error(f"unknown method '{m}' (expected {', '.join(METHODS)})")
    return a


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- images: the same bilinear sampling as tools/image.c --------------------

def load_rgb(path):
    """8-bit RGB array [H, W, 3] of a JPEG/PNG file."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8)


def _sample(rgb, ox, oy, rx, ry, out_w, out_h):
    """Bilinear samples at output pixel centres mapped by (o + (i + 0.5) * r),
    half-pixel centres, clamped at the border (tools/image.c sample())."""
    h, w = rgb.shape[:2]
    sx = np.float32(ox) + (np.arange(out_w, dtype=np.float32) + np.float32(0.5)) * np.float32(rx)
    sy = np.float32(oy) + (np.arange(out_h, dtype=np.float32) + np.float32(0.5)) * np.float32(ry)
    fx = np.maximum(sx - np.float32(0.5), 0)
    fy = np.maximum(sy - np.float32(0.5), 0)
    x0 = np.minimum(fx.astype(np.int64), w - 1)
    y0 = np.minimum(fy.astype(np.int64), h - 1)
    x1 = np.minimum(x0 + 1, w - 1)
    y1 = np.minimum(y0 + 1, h - 1)
    ax = np.minimum(fx - x0.astype(np.float32), 1)[None, :, None]
    ay = np.minimum(fy - y0.astype(np.float32), 1)[:, None, None]
    img = rgb.astype(np.float32)
    top = img[y0][:, x0] * (1 - ax) + img[y0][:, x1] * ax
    bot = img[y1][:, x0] * (1 - ax) + img[y1][:, x1] * ax
    return top * (1 - ay) + bot * ay


def resize_shorter_crop(rgb, resize, out_w, out_h):
    """Shorter side to `resize`, centre crop out_w x out_h; float [H, W, 3]."""
    h, w = rgb.shape[:2]
    r = np.float32(min(w, h)) / np.float32(resize)
    ox = float(int((np.float32(w) / r - out_w) / 2 + 0.5)) * r
    oy = float(int((np.float32(h) / r - out_h) / 2 + 0.5)) * r
    return _sample(rgb, ox, oy, r, r, out_w, out_h)


def resize_exact(rgb, out_w, out_h):
    h, w = rgb.shape[:2]
    return _sample(rgb, 0, 0, np.float32(w) / out_w, np.float32(h) / out_h, out_w, out_h)


def letterbox(rgb, out_w, out_h, pad_value):
    """Keep the aspect ratio, image at the top-left, the rest pad_value.
    Returns (float [H, W, 3], scale from original to letterboxed pixels)."""
    h, w = rgb.shape[:2]
    r = max(np.float32(w) / out_w, np.float32(h) / out_h)
    vw, vh = int(np.float32(w) / r + 0.5), int(np.float32(h) / r + 0.5)
    out = np.full((out_h, out_w, 3), pad_value, dtype=np.float32)
    out[:vh, :vw] = _sample(rgb, 0, 0, r, r, out_w, out_h)[:vh, :vw]
    return out, 1.0 / float(r)


def to_nchw(img, bgr=False, scale=1.0, mean=(0, 0, 0), std=(1, 1, 1)):
    """[H, W, 3] float pixels -> [1, 3, H, W] float32, (x * scale - mean) / std."""
    x = img[..., ::-1] if bgr else img
    x = (x * np.float32(scale) - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None], dtype=np.float32)


# ---- samples on disk ---------------------------------------------------------

def write_samples(folder, named_arrays, recipe):
    """Writes {name: array} as folder/name.npy unless the folder already holds
    exactly these samples for the same recipe (a stamp file says so)."""
    folder = Path(folder)
    stamp = folder / "recipe.json"
    want = {"recipe": recipe, "names": sorted(named_arrays)}
    if stamp.exists() and json.loads(stamp.read_text()) == want:
        return folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    for name, arr in named_arrays.items():
        np.save(folder / f"{name}.npy", np.ascontiguousarray(arr, dtype=np.float32))
    stamp.write_text(json.dumps(want))
    return folder


def samples_ready(folder, recipe, names):
    stamp = Path(folder) / "recipe.json"
    return stamp.exists() and json.loads(stamp.read_text()) == {
        "recipe": recipe, "names": sorted(names)}


# ---- running the tools ---------------------------------------------------------

def _run(cmd, what, accept=None):
    """(stdout, seconds); raises unless the exit status is 0 or `accept`
    (a substring of stderr) marks a failure the caller can live with."""
    t0 = time.monotonic()
    try:
        p = subprocess.run([str(c) for c in cmd], capture_output=True, text=True)
    except OSError as e:  # a tool missing, or being rebuilt right now
        raise RuntimeError(f"{what}: {e}") from e
    if p.returncode != 0 and not (accept and accept in p.stderr):
        # The last lines that say something (not calibrate's progress).
        tail = [ln for ln in (p.stderr or p.stdout).strip().splitlines()
                if not ln.startswith("calibrating:")][-2:]
        raise RuntimeError(f"{what} failed (exit {p.returncode}): " + " | ".join(tail))
    return p.stdout, time.monotonic() - t0


def qinfer_run(model, inputs, out_dir, threads=1, shape=None):
    """Runs `qinfer run` on {input name: array}; returns {output name: array}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cmd = [QINFER, "run", model, "--threads", threads, "--out", out_dir / "out"]
    if shape:
        cmd += ["--shape", shape]
    for name, arr in inputs.items():
        path = out_dir / f"in_{name}.npy"
        np.save(path, np.ascontiguousarray(arr))
        cmd += ["--input", f"{name}={path}"]
    stdout, _ = _run(cmd, f"qinfer run {Path(model).name}")
    outs = {}
    # One line per output: "NAME -> PATH [d0,d1,...]".
    for line in stdout.splitlines():
        m = re.match(r"^(.*) -> (\S+) \[", line)
        if m:
            outs[m.group(1)] = np.load(m.group(2))
    if not outs:
        raise RuntimeError(f"qinfer run {model}: no outputs reported")
    return outs


def qinfer_eval(model, images, labels_tsv, threads=1):
    """`qinfer eval`: (images, top-1 count, top-5 count, median ms)."""
    stdout, _ = _run([QINFER, "eval", model, "--images", images, "--labels", labels_tsv,
                      "--threads", threads], f"qinfer eval {Path(model).name}")
    m = re.search(r"images (\d+) top1 ([\d.]+)% top5 ([\d.]+)% latency_ms median ([\d.]+)", stdout)
    if not m:
        raise RuntimeError(f"qinfer eval: unexpected output: {stdout.strip()}")
    n = int(m.group(1))
    return (n, round(float(m.group(2)) * n / 100), round(float(m.group(3)) * n / 100),
            float(m.group(4)))


def node_counts(model):
    """Per-precision node counts of a model from `qinfer inspect`."""
    stdout, _ = _run([QINFER, "inspect", model], f"qinfer inspect {Path(model).name}")
    counts = {"int8": 0, "fp16": 0, "fp32": 0}
    for line in stdout.splitlines():
        m = re.match(r"^\s*\d+ \S+\s+(fp32|fp16|int8) ", line)
        if m:
            counts[m.group(1)] += 1
    return counts


def _file_digest(h, path):
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)


def calibrate(model, data, out, args=(), shape=None, fresh=False, threads=1):
    """Runs `calibrate MODEL --data DATA -o OUT ARGS`, unless OUT was made
    from the same calibrate binary, model, samples and arguments. Returns
    {"path", "seconds", "cached", "summary"}."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [CALIBRATE, model, "--data", data, "-o", out, "--threads", threads, *args]
    if shape:
        cmd += ["--shape", shape]
    h = hashlib.sha256()
    for p in (CALIBRATE, model):
        _file_digest(h, p)
    h.update(" ".join(str(c) for c in cmd[1:]).encode())
    data = Path(data)
    for f in sorted(data.rglob("*") if data.is_dir() else [data]):
        st = f.stat()
        h.update(f"{f.relative_to(data.parent)}:{st.st_size}:{st.st_mtime_ns}".encode())
    key = h.hexdigest()
    meta_path = out.with_suffix(".json")
    if not fresh and out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("key") == key:
            meta["cached"] = True
            return meta
    log(f"  calibrate {Path(model).name} {' '.join(str(a) for a in args) or '(defaults)'}")
    # --auto exits 1 when its budget is not met, still writing its best try.
    stdout, secs = _run(cmd, f"calibrate {Path(model).name} {' '.join(map(str, args))}",
                        accept="budget is not met" if "--auto" in args else None)
    summary = {}
    for line in stdout.splitlines():
        m = re.match(r"^(\w[\w ]*?)\s{2,}(.*)$", line)
        if m:
            summary[m.group(1)] = m.group(2)
    meta = {"key": key, "path": str(out), "seconds": secs, "summary": summary,
            "command": " ".join(str(c) for c in cmd)}
    meta_path.write_text(json.dumps(meta, indent=1))
    meta["cached"] = False
    return meta


def convert(model, out, shape=None):
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    _run([QINFER, "convert", model, "--out", out] + (["--shape", shape] if shape else []),
         f"qinfer convert {Path(model).name}")
    return out


# ---- the models compared -----------------------------------------------------

def variants(opts, model, calib, work, shape=None, default_args=()):
    """[(label, model path, info)]: FP32 first, then one INT8 model per
    calibration method, then calibrate's default build. With --sanity each
    INT8 model is the FP32 model converted to .qnf. A default build
    byte-identical to a method's model carries info["same_as"].
    default_args are given to the default build (the zoo passes
    --no-fallback)."""
    work = Path(work)
    out = [("FP32", Path(model), {"counts": None})]
    if opts.sanity:
        qnf = convert(model, work / "qnf" / "fp32_sanity.qnf", shape)
        out.append(("FP32 .qnf (sanity)", qnf, {}))
        return out
    # Per-method rows are all-INT8 (--precision int8: no policy exceptions),
    # so they show what the default policy and --auto buy.
    builds = [(f"INT8 {m}", ["--method", m, "--precision", "int8"], f"{m}.qnf")
              for m in opts.methods]
    if not opts.no_default:
        builds.append(("default", list(default_args), "default.qnf"))
    if opts.auto:
        builds.append(("--auto", ["--auto"], "auto.qnf"))
    digests = {}
    for label, args, fname in builds:
        try:
            info = calibrate(model, calib, work / "qnf" / fname, args, shape,
                             fresh=opts.fresh, threads=opts.threads)
        except RuntimeError as e:
            # One failed build is a row that says so, not a lost report.
            log(f"  {e}")
            out.append((label, None, {"error": str(e)}))
            continue
        h = hashlib.sha256()
        _file_digest(h, info["path"])
        d = h.hexdigest()
        info["counts"] = node_counts(info["path"])
        if d in digests:
            info["same_as"] = digests[d]
        else:
            digests[d] = label
        out.append((label, Path(info["path"]), info))
    return out


ORT_INFO = {"ort": True}


def evaluate(vs, fn):
    """[(label, info, fn(label, model))] over variants(); a tool failure
    while evaluating one model is stored in info["error"] (result None)."""
    out = []
    for label, model, info in vs:
        res = None
        if not info.get("error"):
            log(f"  evaluating {label}")
            try:
                res = fn(label, model)
            except RuntimeError as e:
                log(f"  {e}")
                info = dict(info, error=str(e))
        out.append((label, info, res))
    return out


def error_row(label, info, ncols, checks):
    """The row of a model that could not be built or run (and, for the
    default build, a failed check)."""
    msg = info["error"].replace("|", "/")
    if label == "default":
        checks.append((f"default: {msg}", False))
    return [label, f"**failed**: {msg}"] + [""] * (ncols - 2)


def counts_str(info):
    if info.get("ort"):
        return "onnxruntime"
    c = info.get("counts")
    if not c:
        return "all fp32"
    s = f"{c['int8']} int8 / {c['fp32']} fp32"
    return s + (f" / {c['fp16']} fp16" if c["fp16"] else "")


def label_of(label, info):
    return f"{label} (= {info['same_as']})" if info.get("same_as") else label


# ---- metrics and reporting ---------------------------------------------------

def sqnr_db(ref, got):
    """10 log10(sum ref^2 / sum (got - ref)^2) in float64; inf when equal."""
    ref = np.asarray(ref, np.float64)
    err = np.asarray(got, np.float64) - ref
    e = float(np.sum(err * err))
    s = float(np.sum(ref * ref))
    if e == 0:
        return math.inf
    return 10 * math.log10(s / e) if s > 0 else -math.inf


def fmt_db(x):
    return "inf" if math.isinf(x) and x > 0 else f"{x:.1f}"


def fmt_pct(x, digits=2):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.{digits}f}%"


def markdown_table(headers, rows):
    lines = ["| " + " | ".join(headers) + " |",
             "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def report(name, title, headers, rows, checks, notes=(), extra=None):
    """Prints the model's Markdown section on stdout and saves the figures.
    `checks`: [(description, ok)] (targets and sanity conditions); returns
    True when all hold."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    ok = all(c[1] for c in checks)
    text = [f"### {title}", "", markdown_table(headers, rows), ""]
    text += [f"- {n}" for n in notes]
    text += [f"- {'PASS' if c[1] else 'FAIL'}: {c[0]}" for c in checks]
    print("\n".join(text) + "\n", flush=True)
    payload = {"title": title, "headers": headers, "rows": rows,
               "checks": [{"what": c[0], "ok": bool(c[1])} for c in checks],
               "notes": list(notes), "ok": ok, "extra": extra or {}}
    (RESULTS / f"{name}.json").write_text(json.dumps(payload, indent=1, default=str))
    return ok


def script_main(main):
    """Exit status of a model script: 0 when every check held; a tool
    failure outside the per-model rows (the FP32 reference) is one FAIL line
    instead of a traceback."""
    try:
        return 0 if main() else 1
    except RuntimeError as e:
        print(f"- FAIL: {e}\n", flush=True)
        return 1


def ort_session(model):
    """ONNX Runtime FP32 reference session: 1 thread, CPU provider."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def ort_run(sess, inputs):
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, inputs)))


def coco_photos():
    """The 8 COCO val2017 photos and the person photo, sorted by name."""
    photos = sorted((ASSETS / "images" / "coco").glob("*.jpg"))
    return photos + [ASSETS / "images" / "person_dog_bird.jpg"]
