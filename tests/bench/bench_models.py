#!/usr/bin/env python3
"""Whole-model benchmark: qinfer against ONNX Runtime in the same run.

    bench_models.py --qinfer tools/qinfer --out build/bench [--quick | --full]
                    [--int8] [--models a,b] [--threads 1,2] [--variants v1,v2]
                    [--run-memory off|fp32|all] [--qgemm-bench build/bench/bench_qgemm]
    bench_models.py --report build/bench/models.json --out DIR   (tables again)

Modes: standard (the default, `make bench`): STANDARD_MODELS, qinfer FP32
and ORT FP32 (at 2 threads also ORT with its workers not spin-waiting, as
qinfer's do not), 1 and 2 threads, batch 1; --int8 adds qinfer INT8 (the model
calibrated by tools/calibrate on 16 inputs, run from its .qnf; --ort-int8
adds ORT's own INT8 for an INT8-to-INT8 comparison). --quick: 3 models,
few runs. --full: every zoo and real model, the other OPENBLAS_CORETYPE,
ORT INT8 and batch-8 throughput. Speedup columns are ORT ms / qinfer ms:
above 1, qinfer is faster.

Method. For each model and thread count every variant (qinfer FP32, ONNX
Runtime FP32, ...) runs B blocks of W warm-up + k timed runs, interleaved:
block i of every variant runs before block i+1 of any, with the order
rotated per block, so load from other processes hits all variants alike.
qinfer runs as `qinfer bench` (one process per block, so W >= 1); ONNX
Runtime runs in this process, one session per (model, threads) kept across
blocks, outputs pre-bound (IOBinding) so no allocation is timed. Every
variant is summarised the same way: median = median of the block medians,
p90 = median of the block p90s (index (k-1)*0.9 of the sorted block, as
`qinfer bench` computes it), min = fastest run. Block medians that spread by
more than DISTURBED_SPREAD trigger one more round of B blocks; a row still
spread after it is marked '~'. Batch-8 throughput uses copies of the models
with a symbolic batch (see batched_copy) and runs at the highest thread
count.

Also reported, beside the latency (table "Load time and run memory"):
  - load: `qinfer bench` prints `load_ms TOTAL model MS session MS`, the time
    of qi_model_load_file (FP32 from the .onnx, INT8 from the .qnf) and
    qi_session_create in that process; the figure is the median over the
    processes of a variant's blocks, shown beside the ratio load / one
    inference (the variant's median latency); ORT's InferenceSession creation
    time likewise.
  - run memory (--run-memory; standard mode: fp32, ~20 s for its 7 models on
    2 cores; --full: all; --quick: off): peak RSS growth from "loaded, session
    created" to "RUN_MEMORY_RUNS inferences done", 1 thread, batch 1, each
    engine in a fresh process (qinfer under gdb, stopped at its first
    qi_session_run; ORT in a child Python): malloc_trim, VmHWM reset through
    /proc/PID/clear_refs, then VmHWM after the runs - VmRSS at the reset.
    See bench_model_prep.run_memory_qinfer for the fallbacks.
  - INT8 % of peak (with --int8): model GMAC / qinfer INT8 median latency,
    over thr x the one-core peak GMAC/s of the instruction of the INT8 path
    qinfer dispatches to (QINFER_ISA, else the best the CPU has: vpdpbusd zmm,
    vpdpbusd ymm or vpmaddwd ymm), from `bench_qgemm --peak-only` (best of
    PEAK_TRIES runs, ~1 s), else the peaks in a kernels.txt.

Adding a variant is one function decorated with @variant: it gets the
context, the model, the thread count and the batch, and returns a runner
(QinferCli or OrtRunner), or raises Skip("reason"), or SameAs("other key")
when it would measure exactly what another variant does.
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_int8_prep import (CALIB_COUNT, calib_inputs, ort_int8_error,  # noqa: E402
                             qinfer_int8_model)
from bench_model_prep import (BATCH, BATCH_ROW_REL_L2, QUICK_MODELS,  # noqa: E402
                              REAL_MODELS, STANDARD_MODELS, ZOO_MODELS, Skip, cached_batched,
                              cached_macs, check_qinfer_batched, find_models, ort_error,
                              ort_fp32_path, ort_int8_model, ort_session, random_feed,
                              RUN_MEMORY_RUNS, run_memory_ort, run_memory_qinfer)

from bench_load import cpu_description, cpu_snapshot, git, others_cores  # noqa: E402
from bench_report import (DISTURBED_SPREAD, MAIN, MIB, PEAK_INSTRUCTIONS,  # noqa: E402
                          QUIET_CORES, fmt_ms, row_others, speedup, write_report)

ROOT = Path(__file__).resolve().parents[2]
# bench_qgemm --peak-only runs for the "INT8 % of peak" column (~0.4 s each).
PEAK_TRIES = 3

# Settings per mode; options given on the command line win.
PRESETS = {
    "quick": {"models": QUICK_MODELS, "variants": ["qinfer_fp32", "ort_fp32"],
              "batch8": False, "target_s": 0.4, "blocks": 2, "min_runs": 4, "max_runs": 6,
              "profile_worst": 1, "quiet_wait": 0, "remeasure_s": 0, "run_memory": "off"},
    # make bench: ~3.5 min of models on 2 quiet cores with INT8, ~7 under load.
    "standard": {"models": STANDARD_MODELS,
                 "variants": ["qinfer_fp32", "ort_fp32", "ort_fp32_nospin"],
                 "batch8": False, "target_s": 2.5, "blocks": 5, "min_runs": 10,
                 "max_runs": 40, "profile_worst": 2, "quiet_wait": 30, "remeasure_s": 45,
                 "run_memory": "fp32"},
    "full": {"models": ZOO_MODELS + list(REAL_MODELS),
             "variants": ["qinfer_fp32", "qinfer_fp32_blas_alt", "ort_fp32", "ort_fp32_nospin",
                          "ort_int8"],
             "batch8": True, "target_s": 1.5, "blocks": 5, "min_runs": 9, "max_runs": 40,
             "profile_worst": 3, "quiet_wait": 120, "remeasure_s": 300, "run_memory": "all"},
}


# --------------------------------------------------------------------------
# Runners: block(warmup, runs) -> dict(median, p90, min[, times]); close()

def block_stats(times):
    t = sorted(times)
    return {"median": t[len(t) // 2], "p90": t[int((len(t) - 1) * 0.9)], "min": t[0],
            "times": [round(x, 4) for x in times]}


class QinferCli:
    """`qinfer bench` in a fresh process per block."""

    def __init__(self, ctx, path, shape_args, threads, env, extra=()):
        self.cmd = [str(ctx.qinfer), "bench", str(path), "--threads", str(threads)]
        self.cmd += list(shape_args) + list(extra)
        self.env = env
        self.info = {}
        self.loads = []   # [total, model, session] ms of each process

    def block(self, warmup, runs):
        cmd = self.cmd + ["--warmup", str(max(1, warmup)), "--runs", str(runs)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            raise Skip("qinfer: " + (r.stderr or r.stdout).strip().splitlines()[-1][:120])
        lat = re.search(r"latency_ms median ([\d.]+) p90 ([\d.]+) min ([\d.]+)", r.stdout)
        arena = re.search(r"arena_bytes (\d+)", r.stdout)
        load = re.search(r"^load_ms ([\d.]+) model ([\d.]+) session ([\d.]+)", r.stdout, re.M)
        raw = re.search(r"^times_ms (.*)$", r.stdout, re.M)   # if qinfer ever prints them
        if not lat:
            raise Skip("qinfer bench printed no latency line")
        if arena:
            self.info["arena_bytes"] = int(arena.group(1))
        if load:   # one figure per process: the median over the blocks
            self.loads.append([float(x) for x in load.groups()])
            for i, k in enumerate(("load_ms", "load_model_ms", "load_session_ms")):
                self.info[k] = statistics.median(x[i] for x in self.loads)
            self.info["load_n"] = len(self.loads)
        if raw:
            return block_stats([float(x) for x in raw.group(1).split()])
        return {"median": float(lat.group(1)), "p90": float(lat.group(2)),
                "min": float(lat.group(3))}

    def close(self):
        pass


class OrtRunner:
    """One ONNX Runtime session, inputs and outputs bound once."""

    def __init__(self, path, feed, threads, spin=True):
        import onnxruntime as ort
        try:
            t0 = time.perf_counter()
            self.sess = ort_session(path, threads, spin)
            load_ms = (time.perf_counter() - t0) * 1e3
            outs = self.sess.run(None, feed)
        except Exception as e:
            raise Skip("ORT: " + ort_error(e))
        self.bind = self.sess.io_binding()
        self.keep = []
        for name, arr in feed.items():
            self.bind.bind_cpu_input(name, arr)
        for o, arr in zip(self.sess.get_outputs(), outs):
            v = ort.OrtValue.ortvalue_from_numpy(np.empty_like(arr))
            self.keep.append(v)
            self.bind.bind_ortvalue_output(o.name, v)
        self.info = {"load_ms": load_ms, "load_n": 1}

    def block(self, warmup, runs):
        for _ in range(warmup):
            self.sess.run_with_iobinding(self.bind)
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            self.sess.run_with_iobinding(self.bind)
            times.append((time.perf_counter() - t0) * 1e3)
        return block_stats(times)

    def close(self):
        self.bind = self.sess = None
        self.keep = []


# --------------------------------------------------------------------------
# Variants

class SameAs(Exception):
    """Raised by a variant that is identical to another one in this setting:
    the other's figures are shown for it, not measured twice."""

    def __init__(self, key):
        super().__init__(key)
        self.key = key


@dataclass
class Variant:
    key: str
    label: str
    factory: object
    batch8: bool


VARIANTS = {}


def variant(key, label, batch8=True):
    def register(fn):
        VARIANTS[key] = Variant(key, label, fn, batch8)
        return fn
    return register


@variant("qinfer_fp32", "qinfer FP32")
def qinfer_fp32(ctx, model, threads, batch):
    path = model.path
    if batch != 1:
        path = cached_batched(ctx, model, "fp32", model.path, BATCH_ROW_REL_L2)
        check_qinfer_batched(ctx, model, path)
    return QinferCli(ctx, path, model.shape_args(batch), threads, ctx.env)


@variant("qinfer_fp32_blas_alt", "qinfer FP32, other OPENBLAS_CORETYPE", batch8=False)
def qinfer_fp32_blas_alt(ctx, model, threads, batch):
    """Same binary with OPENBLAS_CORETYPE flipped between unset and Haswell."""
    env = dict(ctx.env)
    if ctx.alt_coretype:
        env["OPENBLAS_CORETYPE"] = ctx.alt_coretype
    else:
        env.pop("OPENBLAS_CORETYPE", None)
    return QinferCli(ctx, model.path, model.shape_args(batch), threads, env)


@variant("ort_fp32", "ORT FP32")
def ort_fp32(ctx, model, threads, batch):
    path = ort_fp32_path(ctx, model) if batch == 1 else cached_batched(
        ctx, model, "fp32", model.path, BATCH_ROW_REL_L2)
    return OrtRunner(path, random_feed(model, batch, 1), threads)


@variant("ort_fp32_nospin", "ORT FP32 no spin", batch8=False)
def ort_fp32_nospin(ctx, model, threads, batch):
    """ORT FP32 with its intra-op workers not spin-waiting (qinfer's pool
    does not spin): the fairer peer when other processes share the cores.
    With 1 thread ORT has no workers: the same as ORT FP32, not run twice."""
    if threads == 1:
        raise SameAs("ort_fp32")
    return OrtRunner(ort_fp32_path(ctx, model), random_feed(model, batch, 1), threads,
                     spin=False)


@variant("ort_int8", "ORT INT8")
def ort_int8(ctx, model, threads, batch):
    data, _, how = calib_inputs(ctx, model)
    q = ort_int8_model(ctx, model, (data, how), batched=batch != 1)
    return OrtRunner(q, random_feed(model, batch, 1), threads)


@variant("qinfer_int8", "qinfer INT8", batch8=False)
def qinfer_int8(ctx, model, threads, batch):
    """The model calibrated by tools/calibrate, run from its .qnf."""
    return QinferCli(ctx, qinfer_int8_model(ctx, model), model.shape_args(batch), threads,
                     ctx.env)


# --------------------------------------------------------------------------
# Measurement

def plan_runs(ctx, latency_ms):
    """(blocks, runs per block, warm-up per block) for ~target_s per variant."""
    total = min(ctx.max_runs, max(ctx.min_runs, round(ctx.target_s * 1e3 / latency_ms)))
    blocks = max(1, min(ctx.blocks, total // 3))
    per = max(3, math.ceil(total / blocks))
    return blocks, per, (1 if latency_ms > 100 else 2)


def summarize(blocks):
    return {"median": statistics.median(b["median"] for b in blocks),
            "p90": statistics.median(b["p90"] for b in blocks),
            "min": min(b["min"] for b in blocks),
            "spread": max(b["median"] for b in blocks) / min(b["median"] for b in blocks),
            "blocks": blocks}


def wait_quiet(ctx):
    """Before a row: wait (within the run's budget) until other processes use
    less than QUIET_CORES, so that a burst elsewhere does not land on it."""
    waited = 0.0
    while ctx.quiet_budget > 0:
        before = cpu_snapshot()
        time.sleep(0.5)
        if others_cores(before, cpu_snapshot()) < QUIET_CORES:
            break
        waited += 0.5
        ctx.quiet_budget -= 0.5
    if waited:
        print("  (waited %.0f s for other processes to go quiet)" % waited, flush=True)


def remeasure_disturbed(ctx, args, data, models, keys, threads):
    """Rows measured while other processes used >= QUIET_CORES are measured
    once more (within --remeasure-s), after waiting for quiet; the less
    disturbed of the two is kept and marked."""
    t0 = time.perf_counter()
    ctx.quiet_budget = max(ctx.quiet_budget, args.remeasure_s / 2)
    for e, m in zip(data["models"], models):
        rows = [("latency", str(t), t, 1) for t in threads]
        rows += [("throughput", None, max(threads), BATCH)] if e["throughput"] else []
        for kind, key, t, batch in rows:
            old = e[kind][key] if key else e[kind]
            if row_others(old) < QUIET_CORES:
                continue
            if time.perf_counter() - t0 > args.remeasure_s:
                print("  (re-measuring stopped: --remeasure-s %.0f spent)" % args.remeasure_s)
                return
            bkeys = [k for k in keys if batch == 1 or VARIANTS[k].batch8]
            new = measure(ctx, m, t, batch, bkeys,
                          None if batch == 1 else (2, 2 if args.quick else 3, 1))
            keep = row_others(new) < row_others(old)
            print("  re-measured %s t=%d batch %d: other CPU %.2f -> %.2f, %s" % (
                m.name, t, batch, row_others(old), row_others(new),
                "kept the new figures" if keep else "kept the first"), flush=True)
            if keep:
                for v in new.values():
                    v["remeasured"] = True
                if key:
                    e[kind][key] = new
                else:
                    e[kind] = new


def measure(ctx, model, threads, batch, keys, fixed_plan=None):
    """Interleaved blocks of every variant in keys; returns key -> result."""
    runners, res, same = {}, {}, {}
    for k in keys:
        try:
            runners[k] = VARIANTS[k].factory(ctx, model, threads, batch)
        except Skip as e:
            res[k] = {"skip": str(e)}
        except SameAs as e:
            same[k] = e.key
    if not runners:
        return res
    if fixed_plan:
        nblocks, per, warm = fixed_plan
    else:   # probe on one runner, discarded: sizes the blocks
        probe = next(iter(runners.values())).block(1, 1)
        nblocks, per, warm = plan_runs(ctx, probe["median"])
    blocks = {k: [] for k in runners}
    wait_quiet(ctx)
    load, snap = os.getloadavg()[0], cpu_snapshot()
    for rnd in range(2):
        for b in range(nblocks):
            order = list(runners)
            shift = (b + rnd) % len(order)
            for k in order[shift:] + order[:shift]:
                if k in res:
                    continue
                try:
                    blocks[k].append(runners[k].block(warm, per))
                except Skip as e:
                    res[k] = {"skip": str(e)}
        live = [k for k in runners if k not in res]
        if rnd or not any(summarize(blocks[k])["spread"] > DISTURBED_SPREAD for k in live):
            break
        print("  %s t=%d b=%d: block medians spread > %.2f, one more round"
              % (model.name, threads, batch, DISTURBED_SPREAD), flush=True)
    others = others_cores(snap, cpu_snapshot())
    for k, r in runners.items():
        if k not in res:
            res[k] = summarize(blocks[k])
            res[k].update(r.info, repeated=len(blocks[k]) > nblocks, runs_per_block=per,
                          n_runs=per * len(blocks[k]), warmup=warm, load1=load,
                          others_cores=others)
        r.close()
    for k, other in same.items():
        res[k] = dict(res.get(other, {"skip": "%s did not run" % other}), same_as=other)
    return res


def profile_model(ctx, model, threads, top):
    r = subprocess.run([str(ctx.qinfer), "bench", str(model.path), "--threads", str(threads),
                        "--warmup", "2", "--runs", "5", "--profile"]
                       + model.shape_args(1), capture_output=True, text=True, env=ctx.env)
    lines = r.stdout.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("node ")), None)
    return lines[start:start + 1 + top] if start is not None else [r.stderr.strip()]


def machine_info(ctx):
    def corename(env):
        code = ("import ctypes; f = ctypes.CDLL('libopenblas.so.0').openblas_get_corename; "
                "f.restype = ctypes.c_char_p; print(f().decode())")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        return r.stdout.strip() or "?"
    import onnxruntime
    return {"cpu": cpu_description(), "kernel": platform.release(),
            "openblas_coretype": ctx.env.get("OPENBLAS_CORETYPE") or "unset",
            "openblas_core": corename(ctx.env),
            "alt_coretype": ctx.alt_coretype or "unset",
            "alt_core": corename(ctx.alt_env()),
            "onnxruntime": onnxruntime.__version__,
            "qinfer_git": git(ROOT, "describe", "--always", "--dirty"),
            "qinfer_rev": git(ROOT, "rev-parse", "HEAD"), "qinfer_sha256": ctx.qinfer_sha}


def parse_peaks(text):
    """{isa: one-core GMAC/s} from bench_qgemm's '# instruction peaks' lines."""
    got = {}
    for isa, instr in PEAK_INSTRUCTIONS:
        m = re.search(r"^%s: ([\d.]+) GMAC/s" % re.escape(instr), text, re.M)
        if m:
            got[isa] = float(m.group(1))
    return got


def instruction_peak(ctx, args):
    """One-core peak GMAC/s of the instruction that qinfer's INT8 GEMM is
    built on for the path it dispatches to (QINFER_ISA if set, else the best
    the CPU has): `bench_qgemm --peak-only`, best of PEAK_TRIES runs after
    waiting for quiet. A peak is only ever lowered by other processes, so a
    higher figure in a kernels.txt of this same CPU (--out's, else
    build/bench's) wins; without bench_qgemm --peak-only that file alone."""
    found = []   # (peaks, where)
    exe = args.qgemm_bench
    if exe and exe.is_file():
        wait_quiet(ctx)
        snap, peaks = cpu_snapshot(), {}
        for _ in range(PEAK_TRIES):
            r = subprocess.run([str(exe), "--peak-only"], capture_output=True, text=True,
                               timeout=120)
            if r.returncode != 0:
                break
            for isa, g in parse_peaks(r.stdout).items():
                peaks[isa] = max(g, peaks.get(isa, 0.0))
        if peaks:
            found.append((peaks, "measured by `%s --peak-only`, best of %d runs, other "
                          "processes using %.2f cores meanwhile" % (
                              exe, PEAK_TRIES, others_cores(snap, cpu_snapshot()))))
    cpu_line = "CPU: %s;" % cpu_description()
    for kt in dict.fromkeys([args.out / "kernels.txt", ROOT / "build/bench/kernels.txt"]):
        text = kt.read_text() if kt.is_file() else ""
        if cpu_line in text and parse_peaks(text):
            found.append((parse_peaks(text), "read from %s (%s), an earlier make "
                          "bench-kernels run on this CPU" % (kt, next(
                              (ln[6:] for ln in text.splitlines() if ln.startswith("date: ")),
                              "undated"))))
            break
    if not found:
        return {"skip": "no instruction peak: %s lacks --peak-only (make bench-kernels "
                "builds it) and no kernels.txt of this CPU has one" % exe}
    want = ctx.env.get("QINFER_ISA")
    isa = want if want else next(i for i, _ in PEAK_INSTRUCTIONS if i in found[0][0])
    if not any(isa in p for p, _ in found):
        return {"skip": "QINFER_ISA=%s: no instruction peak for that path" % want}
    peaks, source = max(found, key=lambda f: f[0].get(isa, 0.0))
    return {"isa": isa, "instruction": dict(PEAK_INSTRUCTIONS)[isa],
            "gmacs_1core": peaks[isa], "source": source,
            "candidates": [{"gmacs_1core": p.get(isa), "source": w} for p, w in found]}


def run_memory(ctx, model, keys, mode):
    """Peak RSS growth over the runs (1 thread, batch 1), each engine in a
    fresh process: qinfer FP32, ORT FP32 and, with mode "all" and --int8,
    qinfer INT8."""
    out = {"qinfer_fp32": run_memory_qinfer(ctx, model.path, model.shape_args(1))}
    if "qinfer_int8" in keys and mode == "all":
        try:
            qnf = qinfer_int8_model(ctx, model)
        except Skip as e:
            out["qinfer_int8"] = {"skip": str(e)}
        else:
            out["qinfer_int8"] = run_memory_qinfer(ctx, qnf, model.shape_args(1))
    out["ort_fp32"] = run_memory_ort(ctx, model, ort_fp32_path(ctx, model))
    return out


# --------------------------------------------------------------------------

class Context:
    def __init__(self, args):
        self.qinfer = Path(args.qinfer).resolve()
        self.calibrate = Path(args.calibrate).resolve() if args.calibrate else None
        self.calibrate_help = None   # (text, error), filled on first use
        self.int8_cmd = args.int8_cmd
        self.images = Path(args.real_models).resolve().parent / "images/imagenet_dev"
        self.cache = args.cache.resolve()
        self.cache.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ)
        # The comparison setting: Haswell when unset, unset when set.
        self.alt_coretype = None if self.env.get("OPENBLAS_CORETYPE") else "Haswell"
        self.target_s, self.blocks = args.target_s, args.blocks
        self.min_runs, self.max_runs = args.min_runs, args.max_runs
        self.quiet_budget = args.quiet_wait
        import hashlib
        self.qinfer_sha = hashlib.sha256(self.qinfer.read_bytes()).hexdigest()

    def alt_env(self):
        env = dict(self.env)
        if self.alt_coretype:
            env["OPENBLAS_CORETYPE"] = self.alt_coretype
        else:
            env.pop("OPENBLAS_CORETYPE", None)
        return env


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qinfer", default=str(ROOT / "tools/qinfer"))
    ap.add_argument("--calibrate", default=str(ROOT / "tools/calibrate"),
                    help="tools/calibrate, for qinfer INT8")
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--zoo", type=Path, default=ROOT / ".cache/zoo")
    ap.add_argument("--real-models", type=Path,
                    default=Path(os.environ.get("QINFER_MODELS_DIR",
                                                ROOT.parent / "shared/assets/models")))
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/bench")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="3 models, few runs")
    mode.add_argument("--full", action="store_true",
                      help="every model, more variants, batch-8 throughput")
    ap.add_argument("--int8", action="store_true",
                    help="add qinfer INT8 (tools/calibrate on %d inputs, timed from the .qnf)"
                    % CALIB_COUNT)
    ap.add_argument("--ort-int8", action="store_true", help="add ORT INT8 (quantize_static)")
    ap.add_argument("--int8-cmd", help="tools/calibrate command template; fields {calibrate} "
                    "{model} {data} {input} {out} {count} {shapes}")
    ap.add_argument("--models", help="comma-separated names")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", help="comma-separated; known: " + ", ".join(VARIANTS))
    batch = ap.add_mutually_exclusive_group()
    batch.add_argument("--batch8", dest="batch8", action="store_true", default=None,
                       help="also batch-%d throughput" % BATCH)
    batch.add_argument("--no-batch", dest="batch8", action="store_false")
    ap.add_argument("--target-s", type=float, help="timed seconds per variant and thread count")
    ap.add_argument("--blocks", type=int, help="blocks per variant (interleaving)")
    ap.add_argument("--min-runs", type=int)
    ap.add_argument("--max-runs", type=int)
    ap.add_argument("--remeasure-s", type=float,
                    help="seconds in all to re-measure rows disturbed by other processes")
    ap.add_argument("--quiet-wait", type=float,
                    help="seconds in all to wait for other processes to go quiet")
    ap.add_argument("--profile-worst", type=int, help="per-node profile of the N worst speedups")
    ap.add_argument("--run-memory", choices=("off", "fp32", "all"),
                    help="peak RSS growth over %d runs after load, 1 thread, each engine "
                    "in a fresh process: fp32 = qinfer and ORT on the .onnx (standard "
                    "mode's default, ~20 s for its 7 models), all = also qinfer INT8 "
                    "from the .qnf with --int8 (--full's default); off in --quick"
                    % RUN_MEMORY_RUNS)
    ap.add_argument("--qgemm-bench", type=Path,
                    help="bench_qgemm, for the INT8 instruction peak (default: beside "
                    "--qinfer, else build/bench/bench_qgemm)")
    ap.add_argument("--report", type=Path, help="rewrite tables from a models.json")
    args = ap.parse_args(argv)
    preset = PRESETS["quick" if args.quick else "full" if args.full else "standard"]
    for k, v in preset.items():
        if k not in ("models", "variants") and getattr(args, k) is None:
            setattr(args, k, v)
    args.model_names = args.models.split(",") if args.models else list(preset["models"])
    keys = args.variants.split(",") if args.variants else list(preset["variants"])
    keys += [k for k, on in (("qinfer_int8", args.int8), ("ort_int8", args.ort_int8))
             if on and k not in keys]
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown:
        ap.error("unknown variant(s) %s; known: %s" % (", ".join(unknown), ", ".join(VARIANTS)))
    args.keys = keys
    args.thread_list = [int(t) for t in args.threads.split(",")]
    if args.qgemm_bench is None:
        near = Path(args.qinfer).resolve().parent / "bench_qgemm"
        args.qgemm_bench = near if near.is_file() else ROOT / "build/bench/bench_qgemm"
    return args


def prepare_int8(ctx, models, keys, batch8):
    """Calibrate and quantize up front: keeps the timed loop free of it."""
    for m in models:
        if "qinfer_int8" in keys:
            try:
                qinfer_int8_model(ctx, m)
            except Skip as e:
                print("  %s: qinfer INT8 skipped: %s" % (m.name, e), flush=True)
        for batched in ((False, True) if batch8 else (False,)) if "ort_int8" in keys else ():
            try:
                data, _, how = calib_inputs(ctx, m)
                q = ort_int8_model(ctx, m, (data, how), batched)
                if not batched:
                    ort_int8_error(ctx, m, q)
            except Skip as e:
                print("  %s: ORT INT8%s skipped: %s" % (m.name, " batch N" * batched, e),
                      flush=True)


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        write_report(json.loads(args.report.read_text()), args.out)
        return 0
    keys, threads = args.keys, args.thread_list
    ctx = Context(args)
    import onnxruntime
    onnxruntime.set_default_logger_severity(4)
    t_start = time.perf_counter()
    data = {"command": " ".join(shlex.quote(a) for a in [sys.argv[0]] + (argv or sys.argv[1:])),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "machine": machine_info(ctx), "threads": threads, "variants": keys,
            "labels": {k: VARIANTS[k].label for k in keys}, "calib_count": CALIB_COUNT,
            "models": []}
    models, data["missing"] = find_models(args.model_names, args.zoo, args.real_models)
    if data["missing"]:
        print("bench: not found, skipped: " + ", ".join(data["missing"]), flush=True)
    print("bench: %d model(s), variants %s, threads %s, OPENBLAS_CORETYPE=%s"
          % (len(models), ",".join(keys), args.threads, data["machine"]["openblas_coretype"]),
          flush=True)
    prepare_int8(ctx, models, keys, args.batch8)
    if "qinfer_int8" in keys:
        data["peak"] = instruction_peak(ctx, args)
        print("bench: INT8 peak: %s" % (data["peak"].get("skip") or "%s %.1f GMAC/s per core (%s)"
              % (data["peak"]["instruction"], data["peak"]["gmacs_1core"],
                 data["peak"]["source"])), flush=True)
    for m in models:
        cached_macs(ctx, m)
        ort_fp32_path(ctx, m)   # sets m.note where ORT gets a modified copy
        entry = {"name": m.name, "source": m.source, "macs": m.macs, "mac_note": m.mac_note,
                 "note": m.note, "int8": m.int8_info, "ort_int8": m.ort_int8_info,
                 "input": ",".join("x".join(map(str, s)) for s in m.inputs.values()),
                 "latency": {}, "throughput": {}}
        for t in threads:
            r = entry["latency"][str(t)] = measure(ctx, m, t, 1, keys)
            sp = speedup(r, MAIN)
            print("  [%4.0fs] %-22s t=%d  %s  ORT/qinfer %s  (other CPU %.2f)" % (
                time.perf_counter() - t_start, m.name, t,
                "  ".join("%s %s" % (k, fmt_ms(r.get(k), False)) for k in keys),
                "%.2f" % sp if sp else "-", row_others(r)), flush=True)
        if args.batch8:
            bkeys = [k for k in keys if VARIANTS[k].batch8]
            tb = entry["throughput"] = measure(ctx, m, max(threads), BATCH, bkeys,
                                               fixed_plan=(2, 2 if args.quick else 3, 1))
            print("  [%4.0fs] %-22s batch %d t=%d  %s" % (
                time.perf_counter() - t_start, m.name, BATCH, max(threads), "  ".join(
                    "%s %s" % (k, "n/a (%s)" % v["skip"] if "skip" in v else
                               "%.1f img/s" % (1e3 * BATCH / v["median"]))
                    for k, v in tb.items())), flush=True)
        if args.run_memory != "off":
            t0 = time.perf_counter()
            mem = entry["memory"] = run_memory(ctx, m, keys, args.run_memory)
            data["run_memory_s"] = data.get("run_memory_s", 0.0) + time.perf_counter() - t0
            print("  [%4.0fs] %-22s run memory MiB (1 thread, %d runs): %s" % (
                time.perf_counter() - t_start, m.name, RUN_MEMORY_RUNS, "  ".join(
                    "%s %s" % (k, "n/a (%s)" % v["skip"] if "skip" in v else
                               "%.1f" % (v["growth_bytes"] / MIB)) for k, v in mem.items())),
                  flush=True)
        data["models"].append(entry)
        data["wall_s"] = time.perf_counter() - t_start   # partial results survive a kill
        (args.out / "models.json").write_text(json.dumps(data, indent=1, default=str))
    if args.remeasure_s > 0:
        remeasure_disturbed(ctx, args, data, models, keys, threads)
    rows = sorted(((speedup(e["latency"][str(t)], MAIN), e["name"], t, m)
                   for e, m in zip(data["models"], models) for t in threads
                   if speedup(e["latency"][str(t)], MAIN)), key=lambda x: x[0])
    data["profiles"], worst = [], []
    for sp, n, t, m in rows:
        if n not in worst and len(worst) < args.profile_worst and sp < 1:
            worst.append(n)
            data["profiles"].append({"model": n, "threads": t, "speedup": sp,
                                     "lines": profile_model(ctx, m, t, 12)})
    data["load_end"] = " ".join("%.2f" % x for x in os.getloadavg())
    data["wall_s"] = time.perf_counter() - t_start
    (args.out / "models.json").write_text(json.dumps(data, indent=1, default=str))
    write_report(data, args.out)
    print("bench: wrote %s/models.{md,json,png} in %.0f s"
          % (args.out, data["wall_s"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
