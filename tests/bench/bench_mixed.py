#!/usr/bin/env python3
"""Mixed-precision latency: each real model in FP32, all-INT8, the default
precision policy and --auto, timed in the same run.

    bench_mixed.py --qinfer build/bench/qinfer --calibrate build/bench/calibrate
                   --out build/bench [--models a,b] [--rounds 5] [--target-s 0.5]
                   [--auto-build stale|never]
    bench_mixed.py --report build/bench/mixed.json --out DIR   (tables again)

Variants, built by tools/calibrate from the preprocessed calibration tensors
the accuracy harness caches in .cache/accuracy/<dir>/calib (make accuracy):
  fp32     the .onnx itself;
  int8     --precision int8: every node INT8;
  default  no precision option: INT8 except the layers that write the model
           outputs (FP32); with --no-fallback where calibrate has it (newer
           calibrate otherwise switches to --auto when the default build's
           SQNR is under 20 dB: that case is what `auto` times);
  auto     --auto: layers moved to FP32 by measured sensitivity until the
           default budget (SQNR >= 25 dB vs FP32) is met.
int8 and default are rebuilt when calibrate, the model or the data change
(stamps in --cache; a few seconds each). auto takes one to three minutes a
model, so it is reused: the accuracy harness's .cache/accuracy/<dir>/qnf/auto.qnf
when it is newer than --calibrate-ref (default: the --calibrate binary, whose
copy in build/bench keeps tools/calibrate's mtime), else this script's
own cached build when made by the same calibrate binary; otherwise it is
built (--auto-build stale, the default) or an older one is used and marked
(--auto-build never).

Timing: `qinfer bench FILE --threads T --warmup 2 --runs k`, one process per
block; every round runs one block of each variant, the order rotated per
round; figure = median of the block medians. k is sized from a probe so a
block takes about --target-s. Node counts from `qinfer inspect`.
Writes OUT/mixed.json and OUT/mixed.md (bench_report.mixed_lines).
"""
import argparse
import datetime
import hashlib
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_load import (cpu_description, cpu_snapshot, git, others_cores,  # noqa: E402
                        write_results)
from bench_report import QUIET_CORES, mixed_lines  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
# name -> (folder under .cache/accuracy, --shape for symbolic input dims)
MODELS = {"squeezenet1.1": ("squeezenet", None),
          "deeplabv3_mnv2_pascal": ("deeplab", None),
          "yolox_nano": ("yolox", None),
          "ppocrv4_rec": ("ppocr", "x=1x3x48x320")}
VARIANTS = ["fp32", "int8", "default", "auto"]
LABELS = {"fp32": "FP32", "int8": "all-INT8", "default": "default", "auto": "auto"}
DESCRIPTIONS = {"fp32": "the .onnx, FP32",
                "int8": "`calibrate --precision int8` (every node INT8)",
                "default": "`calibrate` without a precision option (INT8 except the "
                           "layers writing the model outputs, FP32; `--no-fallback` where "
                           "calibrate has it, so it never turns into `--auto`)",
                "auto": "`calibrate --auto` (layers to FP32 by measured sensitivity "
                        "until SQNR >= 25 dB vs FP32)"}
PRECISION_ARGS = {"int8": ["--precision", "int8"], "default": [], "auto": ["--auto"]}
CALIBRATE_TIMEOUT_S = 600
MIN_RUNS, MAX_RUNS = 3, 60


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def shape_args(shape):
    return ["--shape", shape] if shape else []


def calib_files(d):
    return sorted((p.name, p.stat().st_size) for p in Path(d).glob("*.npy"))


def parse_summary(text):
    s = {}
    for line in text.splitlines():
        m = re.match(r"^(samples|time|observers|peak RSS|nodes|vs FP32)\s{2,}(.*)$", line)
        if m:
            s[m.group(1)] = m.group(2).strip()
    return s


def inspect_counts(ctx, path, shape):
    """{'int8': n, 'fp16': n, 'fp32': n, 'nodes': n} from `qinfer inspect`."""
    r = subprocess.run([str(ctx.qinfer), "inspect", str(path)] + shape_args(shape),
                       capture_output=True, text=True, env=ctx.env)
    if r.returncode != 0:
        return None
    n = {"int8": 0, "fp16": 0, "fp32": 0}
    for ln in r.stdout.splitlines():
        m = re.match(r"^\s*\d+\s+\S+\s+(int8|fp16|fp32)\s", ln)
        if m:
            n[m.group(1)] += 1
    n["nodes"] = sum(n.values())
    return n


class Ctx:
    def __init__(self, args):
        self.qinfer, self.calibrate = args.qinfer.resolve(), args.calibrate.resolve()
        self.calibrate_sha = sha256(self.calibrate)
        ref = args.calibrate_ref or args.calibrate
        self.ref_mtime = (ref.stat().st_mtime if ref.is_file()
                          else self.calibrate.stat().st_mtime)
        self.cache, self.acc = args.cache.resolve(), args.accuracy_cache.resolve()
        self.models_dir = args.real_models.resolve()
        self.env = dict(os.environ)
        self.auto_build, self.threads = args.auto_build, args.threads
        self.quiet_budget = args.quiet_wait
        r = subprocess.run([str(self.calibrate), "--help"], capture_output=True, text=True)
        # Newer calibrate: without a precision option it falls back to --auto
        # when the default build's SQNR is low; the policy alone is timed here.
        self.no_fallback = "--no-fallback" in (r.stdout + r.stderr)


def precision_args(ctx, key):
    extra = ["--no-fallback"] if key == "default" and ctx.no_fallback else []
    return PRECISION_ARGS[key] + extra


def build(ctx, name, key, src, calib, shape, dst, notes):
    """Run calibrate for variant `key` into dst (cached by a stamp)."""
    stamp = Path(str(dst) + ".json")
    want = {"calibrate": ctx.calibrate_sha, "model": [src.stat().st_size,
                                                      int(src.stat().st_mtime)],
            "data": calib_files(calib), "args": precision_args(ctx, key), "shape": shape,
            "recipe": 1}
    want = json.loads(json.dumps(want))   # as read back: tuples become lists
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key") == want and dst.is_file():
        return old
    argv = ([str(ctx.calibrate), str(src), "--data", str(calib), "-o", str(dst),
             "--threads", str(ctx.threads)] + precision_args(ctx, key)
            + (["--shape", shape] if shape else []))
    print("  %s: building %s (%s)" % (name, key, " ".join(precision_args(ctx, key)) or
                                     "no precision option"), flush=True)
    t0 = time.perf_counter()
    r = subprocess.run(argv, capture_output=True, text=True, env=ctx.env,
                       timeout=CALIBRATE_TIMEOUT_S)
    # --auto exits 1 when its budget is not met but still writes the best model.
    if not dst.is_file() or (r.returncode != 0 and not (key == "auto" and r.returncode == 1)):
        dst.unlink(missing_ok=True)
        tail = (r.stderr or r.stdout).strip().splitlines()
        raise RuntimeError("calibrate %s failed: %s" % (key, tail[-1] if tail else r.returncode))
    if r.returncode:
        notes[key] = "the --auto budget was not met; the most accurate assignment is timed"
    info = {"key": want, "seconds": round(time.perf_counter() - t0, 1),
            "summary": parse_summary(r.stdout),
            "command": " ".join(shlex.quote(a) for a in argv)}
    stamp.write_text(json.dumps(info, indent=1))
    print("    %.0f s: %s%s" % (info["seconds"], info["summary"].get("nodes", "?"), (
        "; vs FP32 " + info["summary"]["vs FP32"]) if "vs FP32" in info["summary"] else ""),
        flush=True)
    return info


def auto_model(ctx, name, acc_dir, src, calib, shape, mine, notes):
    """(path, where it came from) of the --auto model (see the module doc)."""
    theirs = ctx.acc / acc_dir / "qnf/auto.qnf"
    if theirs.is_file() and theirs.stat().st_mtime > ctx.ref_mtime:
        # The harness runs its own copy of calibrate: say whether it is this one.
        snap = ctx.acc / "tools/calibrate"
        same = ("built by the same calibrate binary" if snap.is_file() and
                sha256(snap) == ctx.calibrate_sha else
                "the harness's calibrate copy differs from the one timed here"
                if snap.is_file() else "by an unknown calibrate binary")
        return theirs, "reused %s (newer than the calibrate binary; %s)" % (
            os.path.relpath(theirs, ROOT), same)
    stamp = Path(str(mine) + ".json")
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key", {}).get("calibrate") == ctx.calibrate_sha and mine.is_file():
        return mine, "%s, built earlier by this calibrate in %s s" % (
            os.path.relpath(mine, ROOT), old.get("seconds"))
    if ctx.auto_build == "never":
        have = [p for p in (theirs, mine) if p.is_file()]
        if not have:
            raise RuntimeError("no auto.qnf and --auto-build never")
        p = max(have, key=lambda p: p.stat().st_mtime)
        return p, "%s, older than the calibrate binary, timed as it is (--auto-build never)" % (
            os.path.relpath(p, ROOT))
    info = build(ctx, name, "auto", src, calib, shape, mine, notes)
    return mine, "built now in %s s" % info["seconds"]


def prepare(ctx, name):
    """{variant: path}, node counts, notes and build info of one model."""
    acc_dir, shape = MODELS[name]
    src = ctx.models_dir / (name + ".onnx")
    calib = ctx.acc / acc_dir / "calib"
    if not src.is_file():
        raise RuntimeError("model missing: %s" % src)
    if not calib_files(calib):
        raise RuntimeError("no calibration tensors in %s (run make accuracy)" % calib)
    out = ctx.cache / acc_dir
    out.mkdir(parents=True, exist_ok=True)
    paths, notes, builds = {"fp32": src}, {}, {}
    for key in ("int8", "default"):
        dst = out / (key + ".qnf")
        builds[key] = build(ctx, name, key, src, calib, shape, dst, notes)
        paths[key] = dst
    paths["auto"], builds["auto_source"] = auto_model(ctx, name, acc_dir, src, calib, shape,
                                                      out / "auto.qnf", notes)
    mine = out / "auto.qnf"
    auto_stamp = (Path(str(mine) + ".json") if paths["auto"] == mine
                  else paths["auto"].with_suffix(".json"))   # the accuracy harness's
    if auto_stamp.is_file():
        s = json.loads(auto_stamp.read_text()).get("summary", {})
        if "vs FP32" in s:
            builds["auto_vs_fp32"] = s["vs FP32"]
    return paths, notes, builds, shape, len(calib_files(calib))


def bench_block(ctx, path, shape, runs):
    r = subprocess.run([str(ctx.qinfer), "bench", str(path), "--threads", str(ctx.threads),
                        "--warmup", "2", "--runs", str(runs)] + shape_args(shape),
                       capture_output=True, text=True, env=ctx.env)
    m = re.search(r"latency_ms median ([\d.]+) p90 ([\d.]+) min ([\d.]+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("qinfer bench %s: %s" % (path, (r.stderr or r.stdout).strip()[-200:]))
    return float(m.group(1))


def wait_quiet(ctx):
    """Wait (within what is left of --quiet-wait) until other processes use
    under QUIET_CORES, so a burst elsewhere does not land on a whole model."""
    while ctx.quiet_budget > 0:
        before = cpu_snapshot()
        time.sleep(0.5)
        ctx.quiet_budget -= 0.5
        if others_cores(before, cpu_snapshot()) < QUIET_CORES:
            break


def measure(ctx, paths, shape, rounds, target_s):
    keys = [k for k in VARIANTS if k in paths]
    wait_quiet(ctx)
    probe = bench_block(ctx, paths["fp32"], shape, 2)   # sizes the blocks
    runs = max(MIN_RUNS, min(MAX_RUNS, round(target_s * 1e3 / probe)))
    blocks, failed = {k: [] for k in keys}, {}
    snap = cpu_snapshot()
    for rnd in range(rounds):
        order = keys[rnd % len(keys):] + keys[:rnd % len(keys)]
        for k in order:
            if k in failed:
                continue
            try:
                blocks[k].append(bench_block(ctx, paths[k], shape, runs))
            except RuntimeError as e:   # e.g. an older .qnf this qinfer rejects
                if k == "fp32":
                    raise
                failed[k] = {"skip": str(e)}
    others = others_cores(snap, cpu_snapshot())
    res = {k: {"median": statistics.median(b), "min_block": min(b),
               "spread": max(b) / min(b), "blocks": b} for k, b in blocks.items()
           if k not in failed}
    res.update(failed)
    return res, runs, others


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qinfer", type=Path, default=ROOT / "tools/qinfer")
    ap.add_argument("--calibrate", type=Path, default=ROOT / "tools/calibrate")
    ap.add_argument("--calibrate-ref", type=Path,
                    help="the binary whose mtime a reused auto.qnf must be newer than "
                    "(default: --calibrate; run_bench.sh copies it with its mtime)")
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--real-models", type=Path,
                    default=Path(os.environ.get("QINFER_MODELS_DIR",
                                                ROOT.parent / "shared/assets/models")))
    ap.add_argument("--accuracy-cache", type=Path, default=ROOT / ".cache/accuracy")
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/bench/mixed")
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--target-s", type=float, default=0.35, help="timed seconds per block")
    ap.add_argument("--quiet-wait", type=float, default=20,
                    help="seconds in all to wait, before a model, for other processes "
                    "to use under %.2f core" % QUIET_CORES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--auto-build", choices=("stale", "never"), default="stale")
    ap.add_argument("--report", type=Path, help="rewrite mixed.md from a mixed.json")
    return ap.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        data = json.loads(args.report.read_text())
        (args.out / "mixed.md").write_text("\n".join(mixed_lines(data)) + "\n")
        print("\n".join(mixed_lines(data)))
        return 0
    names = [n for n in args.models.split(",") if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        print("bench_mixed: unknown model(s) %s; known: %s" % (
            ",".join(unknown), ",".join(MODELS)), file=sys.stderr)
        return 2
    ctx = Ctx(args)
    t_start = time.perf_counter()
    data = {"command": " ".join(shlex.quote(a) for a in
                                [sys.argv[0]] + (argv if argv is not None else sys.argv[1:])),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "cpu": cpu_description(), "qinfer_git": git(ROOT, "describe", "--always", "--dirty"),
            "calibrate_sha256": ctx.calibrate_sha, "threads": args.threads,
            "rounds": args.rounds, "variants": VARIANTS, "labels": LABELS,
            "descriptions": DESCRIPTIONS, "models": []}
    print("bench_mixed: %s; variants %s; %d rounds, %d thread(s)" % (
        ",".join(names), ",".join(VARIANTS), args.rounds, args.threads), flush=True)
    for name in names:
        entry = {"name": name, "results": {}, "nodes": {}, "notes": {}}
        try:
            paths, notes, builds, shape, ncal = prepare(ctx, name)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            print("  %s: skipped: %s" % (name, e), flush=True)
            entry["notes"]["fp32"] = "not measured: %s" % e
            data["models"].append(entry)
            continue
        entry.update(notes=notes, builds=builds, shape=shape, calib_samples=ncal,
                     paths={k: str(v) for k, v in paths.items()})
        entry["nodes"] = {k: inspect_counts(ctx, p, shape) for k, p in paths.items()}
        entry["notes"]["auto"] = "; ".join(x for x in (
            notes.get("auto"), builds["auto_source"],
            "vs FP32 " + builds["auto_vs_fp32"] if "auto_vs_fp32" in builds else None) if x)
        try:
            res, runs, others = measure(ctx, paths, shape, args.rounds, args.target_s)
        except RuntimeError as e:
            print("  %s: not timed: %s" % (name, e), flush=True)
            entry["notes"]["fp32"] = "not timed: %s" % e
            data["models"].append(entry)
            continue
        entry.update(results=res, runs_per_block=runs, others_cores=others)
        base = res["fp32"]["median"]
        for k, r in res.items():
            if "skip" in r:
                entry["notes"][k] = "not timed: " + r["skip"]
        print("  [%4.0fs] %-22s %s  (other CPU %.2f)" % (
            time.perf_counter() - t_start, name, "  ".join(
                "%s %.2f ms (x%.2f)" % (k, r["median"], base / r["median"])
                if "median" in r else "%s n/a" % k for k, r in res.items()), others),
            flush=True)
        data["models"].append(entry)
        data["wall_s"] = time.perf_counter() - t_start
        (args.out / "mixed.json").write_text(json.dumps(data, indent=1))
    write_results(args.out, "mixed", data, mixed_lines(data), t_start, "bench_mixed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
