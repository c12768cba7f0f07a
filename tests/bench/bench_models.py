#!/usr/bin/env python3
"""Whole-model benchmark: qinfer against ONNX Runtime in the same run.

    bench_models.py --qinfer tools/qinfer --out build/bench [--quick]
                    [--models a,b] [--threads 1,2] [--variants v1,v2]
    bench_models.py --report build/bench/models.json --out DIR   (tables again)

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

Adding a variant is one function decorated with @variant: it gets the
context, the model, the thread count and the batch, and returns a runner
(QinferCli or OrtRunner) or raises Skip("reason").
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
from bench_model_prep import (BATCH, BATCH_ROW_REL_L2, CALIB_SAMPLES,  # noqa: E402
                              Skip, cached_batched, cached_macs, check_qinfer_batched,
                              find_models, ort_error,
                              ort_fp32_path, ort_int8_model, ort_session, random_feed)

ROOT = Path(__file__).resolve().parents[2]

# A variant whose block medians differ by more than this factor (max/min) was
# disturbed by other load: its blocks are repeated once.
DISTURBED_SPREAD = 1.20
# Ratios above this are listed as "slower than ORT" in the report.
SLOW_RATIO = 1.25
# Other processes using fewer cores than this leave a row undisturbed.
QUIET_CORES = 0.25


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

    def block(self, warmup, runs):
        cmd = self.cmd + ["--warmup", str(max(1, warmup)), "--runs", str(runs)]
        r = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
        if r.returncode != 0:
            raise Skip("qinfer: " + (r.stderr or r.stdout).strip().splitlines()[-1][:120])
        lat = re.search(r"latency_ms median ([\d.]+) p90 ([\d.]+) min ([\d.]+)", r.stdout)
        arena = re.search(r"arena_bytes (\d+)", r.stdout)
        raw = re.search(r"^times_ms (.*)$", r.stdout, re.M)   # if qinfer ever prints them
        if not lat:
            raise Skip("qinfer bench printed no latency line")
        if arena:
            self.info["arena_bytes"] = int(arena.group(1))
        if raw:
            return block_stats([float(x) for x in raw.group(1).split()])
        return {"median": float(lat.group(1)), "p90": float(lat.group(2)),
                "min": float(lat.group(3))}

    def close(self):
        pass


class OrtRunner:
    """One ONNX Runtime session, inputs and outputs bound once."""

    def __init__(self, path, feed, threads):
        import onnxruntime as ort
        try:
            self.sess = ort_session(path, threads)
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
        self.info = {}

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


@variant("ort_int8", "ORT INT8")
def ort_int8(ctx, model, threads, batch):
    q = ort_int8_model(ctx, model, batched=batch != 1)
    return OrtRunner(q, random_feed(model, batch, 1), threads)


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


def cpu_snapshot():
    """(wall s, busy CPU s of the whole machine, CPU s of this process and its
    waited-for children, steal s) -- the difference between two of these
    says how much CPU the rest of the machine took meanwhile."""
    hz = os.sysconf("SC_CLK_TCK")
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    t = os.times()
    return (time.monotonic(), (sum(v) - v[3] - v[4]) / hz,
            t.user + t.system + t.children_user + t.children_system, v[7] / hz)


def others_cores(before, after):
    """Average number of cores that other processes (and the hypervisor's
    steal) used between two snapshots."""
    wall = after[0] - before[0]
    return max(0.0, ((after[1] - before[1]) - (after[2] - before[2])) / wall) if wall > 0 else 0.0


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


def measure(ctx, model, threads, batch, keys, fixed_plan=None):
    """Interleaved blocks of every variant in keys; returns key -> result."""
    runners, res = {}, {}
    for k in keys:
        try:
            runners[k] = VARIANTS[k].factory(ctx, model, threads, batch)
        except Skip as e:
            res[k] = {"skip": str(e)}
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
                          warmup=warm, load1=load, others_cores=others)
        r.close()
    return res


def profile_model(ctx, model, threads, top):
    r = subprocess.run([str(ctx.qinfer), "bench", str(model.path), "--threads", str(threads),
                        "--warmup", "2", "--runs", "5", "--profile"]
                       + model.shape_args(1), capture_output=True, text=True, env=ctx.env)
    lines = r.stdout.splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("node ")), None)
    return lines[start:start + 1 + top] if start is not None else [r.stderr.strip()]


def machine_info(ctx):
    cpu = {}
    for ln in Path("/proc/cpuinfo").read_text().splitlines():
        k, _, v = ln.partition(":")
        cpu.setdefault(k.strip(), v.strip())
    flags = set(cpu.get("flags", "").split())
    isa = " ".join("%s%s" % ("" if f in flags else "no ", f)
                   for f in ("avx2", "fma", "f16c", "avx512f", "avx512_vnni", "avx_vnni"))

    def corename(env):
        code = ("import ctypes; f = ctypes.CDLL('libopenblas.so.0').openblas_get_corename; "
                "f.restype = ctypes.c_char_p; print(f().decode())")
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
        return r.stdout.strip() or "?"
    import onnxruntime
    git = subprocess.run(["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
                         capture_output=True, text=True).stdout.strip()
    return {"cpu": "%s (family %s model %s), %d cores; %s" % (
                cpu.get("model name", "?"), cpu.get("cpu family", "?"), cpu.get("model", "?"),
                os.cpu_count(), isa),
            "kernel": platform.release(),
            "openblas_coretype": ctx.env.get("OPENBLAS_CORETYPE") or "unset",
            "openblas_core": corename(ctx.env),
            "alt_coretype": ctx.alt_coretype or "unset",
            "alt_core": corename(ctx.alt_env()),
            "onnxruntime": onnxruntime.__version__, "qinfer_git": git,
            "qinfer_sha256": ctx.qinfer_sha}


# --------------------------------------------------------------------------
# Output

def fmt_ms(r, p90=True):
    if not r:
        return "-"
    if "skip" in r:
        return "n/a"
    s = "%.2f" % r["median"] if r["median"] < 100 else "%.1f" % r["median"]
    if p90:
        s += " / %.2f" % r["p90"] if r["p90"] < 100 else " / %.1f" % r["p90"]
    return s + ("~" if r["spread"] > DISTURBED_SPREAD else "")


def ratio(a, b):
    if a and b and "median" in a and "median" in b:
        return a["median"] / b["median"]
    return None


def tables(data):
    """Markdown and plain rows of the results."""
    keys = data["variants"]
    lat_head = ["model", "input", "GMAC", "thr"] + [
        VARIANTS[k].label + (" ms med / p90" if k in ("qinfer_fp32", "ort_fp32") else " ms")
        for k in keys] + ["qinfer/ORT", "arena MiB", "other CPU"]
    if "qinfer_fp32_blas_alt" in keys:
        lat_head[4 + keys.index("qinfer_fp32_blas_alt")] = "qinfer FP32 OPENBLAS_CORETYPE=%s ms" % (
            data["machine"]["alt_coretype"])
    lat_rows, tp_rows = [], []
    for m in data["models"]:
        for t in data["threads"]:
            r = m["latency"].get(str(t), {})
            q = r.get("qinfer_fp32", {})
            rt = ratio(q, r.get("ort_fp32"))
            lat_rows.append([m["name"], m["input"], "%.2f" % (m["macs"] / 1e9), str(t)]
                            + [fmt_ms(r.get(k), k in ("qinfer_fp32", "ort_fp32")) for k in keys]
                            + ["%.2f" % rt if rt else "-",
                               "%.1f" % (q["arena_bytes"] / 2**20) if "arena_bytes" in q else "-",
                               "%.2f" % r.get("ort_fp32", q).get("others_cores", float("nan"))])
        tb = m["throughput"]
        if not tb:
            continue
        cells = []
        for k in [k for k in keys if VARIANTS[k].batch8]:
            v = tb.get(k)
            cells.append("-" if not v else "n/a" if "skip" in v else
                         "%.1f" % (1e3 * BATCH / v["median"]))
        rt = ratio(tb.get("qinfer_fp32"), tb.get("ort_fp32"))
        why = sorted({v["skip"] for v in tb.values() if "skip" in v})
        tp_rows.append([m["name"]] + cells + ["%.2f" % rt if rt else "-", "; ".join(why)])
    tp_head = ["model"] + ["%s img/s" % VARIANTS[k].label for k in keys
                           if VARIANTS[k].batch8] + ["qinfer/ORT time", "note"]
    return lat_head, lat_rows, tp_head, tp_rows


def md_table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(r) + " |" for r in rows]


def text_table(head, rows):
    w = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    return ["  ".join(str(x).ljust(n) for x, n in zip(r, w)) for r in [head] + rows]


def write_report(data, out):
    lat_head, lat_rows, tp_head, tp_rows = tables(data)
    mi = data["machine"]
    thr = max(data["threads"])
    lines = ["# Whole-model benchmark: qinfer vs ONNX Runtime", "",
             "- command: `%s`" % data["command"],
             "- date: %s; wall time %.0f s" % (data["date"], data["wall_s"]),
             "- machine: %s; Linux %s" % (mi["cpu"], mi["kernel"]),
             "- OPENBLAS_CORETYPE: %s (OpenBLAS core %s); other setting measured: %s (core %s)"
             % (mi["openblas_coretype"], mi["openblas_core"], mi["alt_coretype"], mi["alt_core"]),
             "- load average (1/5/15 min): start %s, end %s" % (
                 data["load_start"], data.get("load_end", "(run cut short)")),
             "- onnxruntime %s; qinfer %s (binary sha256 %s)" % (
                 mi["onnxruntime"], mi["qinfer_git"], mi["qinfer_sha256"][:12]),
             ] + (["- ORT INT8: `quantize_static`, QDQ, per-channel, activations QUInt8, "
                   "weights QInt8, MinMax over %d calibration inputs (zoo: NAME.calib.npy; "
                   "real models: seeded normal noise)" % CALIB_SAMPLES]
                  if "ort_int8" in data["variants"] else []) + [
             "", "## Latency, batch 1 (ms; median / p90; `~`: blocks spread > %.2fx)"
             % DISTURBED_SPREAD, "",
             "'other CPU': cores used by other processes on the machine (and steal) "
             "while the row was measured, from /proc/stat less this benchmark's own "
             "CPU time.", ""]
    lines += md_table(lat_head, lat_rows)
    if tp_rows:
        lines += ["", "## Throughput, batch %d, %d threads (images/s)" % (BATCH, thr), ""]
        lines += md_table(tp_head, tp_rows)
    busy = ["%s t=%s (%.2f)" % (m["name"], t, v["others_cores"]) for m in data["models"]
            for t, r in m["latency"].items() for v in list(r.values())[:1]
            if v.get("others_cores", 0) >= QUIET_CORES]
    if busy:
        lines += ["", "Rows measured while other processes used >= %.2f cores: %s"
                  % (QUIET_CORES, ", ".join(busy))]
    if data.get("slow"):
        lines += ["", "## Slower than %.2fx ORT FP32" % SLOW_RATIO, ""]
        lines += ["- %s, %d thread(s): %.2fx" % tuple(s) for s in data["slow"]]
    for p in data.get("profiles", []):
        lines += ["", "### qinfer per-node profile: %s, %d thread(s), qinfer/ORT %.2f" % (
                      p["model"], p["threads"], p["ratio"]),
                  "", "```"] + p["lines"] + ["```"]
    notes = ["- %s: %s" % (m["name"], n) for m in data["models"]
             for n in (m.get("note"), m.get("mac_note")) if n]
    if notes:
        lines += ["", "## Notes", ""] + notes
    if data.get("missing"):
        lines += ["", "Not measured (model file missing): " + ", ".join(data["missing"])]
    (out / "models.md").write_text("\n".join(lines) + "\n")
    print("\n".join(text_table(lat_head, lat_rows)))
    if tp_rows:
        print()
        print("\n".join(text_table(tp_head, tp_rows)))
    write_chart(data, out / "models.png")


def write_chart(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed (Debian: python3-matplotlib); no chart",
              flush=True)
        return
    names = [m["name"] for m in data["models"]]
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(names)), 4.5))
    width = 0.8 / len(data["threads"])
    for i, t in enumerate(data["threads"]):
        vals = [ratio(m["latency"].get(str(t), {}).get("qinfer_fp32"),
                      m["latency"].get(str(t), {}).get("ort_fp32")) or 0
                for m in data["models"]]
        ax.bar([x + i * width for x in range(len(names))], vals, width,
               label="%d thread%s" % (t, "s" if t > 1 else ""))
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.axhline(SLOW_RATIO, color="red", linewidth=0.8, linestyle="--",
               label="%.2fx" % SLOW_RATIO)
    ax.set_xticks([x + width * (len(data["threads"]) - 1) / 2 for x in range(len(names))])
    ax.set_xticklabels(names, rotation=45, ha="right")
    ax.set_ylabel("qinfer / ORT latency (FP32, batch 1)")
    ax.set_title("qinfer vs ONNX Runtime %s, %s" % (data["machine"]["onnxruntime"],
                                                     data["date"][:10]))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------

class Context:
    def __init__(self, args):
        self.qinfer = Path(args.qinfer).resolve()
        self.cache = args.cache
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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qinfer", default=str(ROOT / "tools/qinfer"))
    ap.add_argument("--out", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--zoo", type=Path, default=ROOT / ".cache/zoo")
    ap.add_argument("--real-models", type=Path,
                    default=Path(os.environ.get("QINFER_MODELS_DIR",
                                                ROOT.parent / "shared/assets/models")))
    ap.add_argument("--cache", type=Path, default=ROOT / ".cache/bench")
    ap.add_argument("--quick", action="store_true", help="few models, few runs")
    ap.add_argument("--models", help="comma-separated names")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--variants", help="comma-separated; known: " + ", ".join(VARIANTS))
    ap.add_argument("--no-batch", action="store_true", help="skip batch-%d throughput" % BATCH)
    ap.add_argument("--target-s", type=float, help="timed seconds per variant and thread count")
    ap.add_argument("--blocks", type=int, help="blocks per variant (interleaving)")
    ap.add_argument("--min-runs", type=int)
    ap.add_argument("--max-runs", type=int)
    ap.add_argument("--quiet-wait", type=float,
                    help="seconds in all to wait for other processes to go quiet")
    ap.add_argument("--profile-worst", type=int, help="per-node profile of the N worst ratios")
    ap.add_argument("--report", type=Path, help="rewrite tables from a models.json")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        write_report(json.loads(args.report.read_text()), args.out)
        return 0
    quick = {"target_s": 0.4, "blocks": 2, "min_runs": 4, "max_runs": 6, "profile_worst": 1,
             "quiet_wait": 0}
    full = {"target_s": 1.5, "blocks": 5, "min_runs": 9, "max_runs": 40, "profile_worst": 3,
            "quiet_wait": 120}
    for k, v in (quick if args.quick else full).items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    keys = (args.variants.split(",") if args.variants else
            ["qinfer_fp32", "ort_fp32"] if args.quick else
            ["qinfer_fp32", "qinfer_fp32_blas_alt", "ort_fp32", "ort_int8"])
    unknown = [k for k in keys if k not in VARIANTS]
    if unknown:
        ap.error("unknown variant(s) %s; known: %s" % (", ".join(unknown), ", ".join(VARIANTS)))
    threads = [int(t) for t in args.threads.split(",")]
    ctx = Context(args)
    import onnxruntime
    onnxruntime.set_default_logger_severity(4)
    t_start = time.perf_counter()
    data = {"command": " ".join(shlex.quote(a) for a in [sys.argv[0]] + (argv or sys.argv[1:])),
            "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "load_start": " ".join("%.2f" % x for x in os.getloadavg()),
            "machine": machine_info(ctx), "threads": threads, "variants": keys, "models": []}
    models, data["missing"] = find_models(args)
    if data["missing"]:
        print("bench: not found, skipped: " + ", ".join(data["missing"]), flush=True)
    print("bench: %d model(s), variants %s, threads %s, OPENBLAS_CORETYPE=%s"
          % (len(models), ",".join(keys), args.threads, data["machine"]["openblas_coretype"]),
          flush=True)
    if "ort_int8" in keys:   # quantize up front: keeps the timed loop free of it
        for m in models:
            for batched in (False,) if args.no_batch else (False, True):
                try:
                    ort_int8_model(ctx, m, batched)
                except Skip as e:
                    print("  %s: ORT INT8%s skipped: %s" % (m.name, " batch N" * batched, e),
                          flush=True)
    for m in models:
        cached_macs(ctx, m)
        ort_fp32_path(ctx, m)   # sets m.note where ORT gets a modified copy
        entry = {"name": m.name, "source": m.source, "macs": m.macs, "mac_note": m.mac_note,
                 "note": m.note,
                 "input": ",".join("x".join(map(str, s)) for s in m.inputs.values()),
                 "latency": {}, "throughput": {}}
        for t in threads:
            r = entry["latency"][str(t)] = measure(ctx, m, t, 1, keys)
            rt = ratio(r.get("qinfer_fp32"), r.get("ort_fp32"))
            others = next((v["others_cores"] for v in r.values() if "others_cores" in v), 0)
            print("  [%4.0fs] %-24s t=%d  %s  ratio %s  (other CPU %.2f)" % (
                time.perf_counter() - t_start, m.name, t,
                "  ".join("%s %s" % (k, fmt_ms(r.get(k))) for k in keys),
                "%.2f" % rt if rt else "-", others), flush=True)
        if not args.no_batch:
            bkeys = [k for k in keys if VARIANTS[k].batch8]
            tb = entry["throughput"] = measure(ctx, m, max(threads), BATCH, bkeys,
                                               fixed_plan=(2, 2 if args.quick else 3, 1))
            print("  [%4.0fs] %-24s batch %d t=%d  %s" % (
                time.perf_counter() - t_start, m.name, BATCH, max(threads), "  ".join(
                    "%s %s" % (k, "n/a (%s)" % v["skip"] if "skip" in v else
                               "%.1f img/s" % (1e3 * BATCH / v["median"]))
                    for k, v in tb.items())), flush=True)
        data["models"].append(entry)
        data["wall_s"] = time.perf_counter() - t_start   # partial results survive a kill
        (args.out / "models.json").write_text(json.dumps(data, indent=1, default=str))
    ratios = []
    for e, m in zip(data["models"], models):
        for t in threads:
            r = e["latency"][str(t)]
            rt = ratio(r.get("qinfer_fp32"), r.get("ort_fp32"))
            if rt:
                ratios.append((rt, e["name"], t, m))
    data["slow"] = [(n, t, rt) for rt, n, t, _ in sorted(ratios, reverse=True) if rt > SLOW_RATIO]
    data["profiles"] = []
    worst = []
    for rt, n, t, m in sorted(ratios, key=lambda x: -x[0]):
        if n not in worst and len(worst) < args.profile_worst:
            worst.append(n)
            data["profiles"].append({"model": n, "threads": t, "ratio": rt,
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
