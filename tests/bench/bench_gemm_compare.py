#!/usr/bin/env python3
"""INT8 GEMM: qinfer's u8s8 GEMM beside OpenBLAS sgemm and oneDNN's
dnnl_gemm_u8s8s32 on the same shapes (a benchmark, not a test).

    bench_gemm_compare.py --qgemm build/bench/bench_qgemm [--rounds 2] [--reps 7]

qinfer and OpenBLAS figures come from `bench_qgemm --no-scalar` (best ISA
path this CPU has; weights packed once, u8 output with requantization);
oneDNN's from this script calling libdnnl.so.2 through ctypes, one process
per thread count (OMP_NUM_THREADS; OMP_WAIT_POLICY=passive unless set, as
bench_qconv does). The two alternate for --rounds rounds and every figure
is the median over rounds of per-round medians of --reps calls, so that load
from other processes falls on both alike. GMAC/s = M*N*K / time.

What differs, and favours oneDNN: its call returns int32 (no
requantization), takes zero offsets (qinfer folds a real activation zero
point into its bias), but packs B on every call (qinfer packs once).
Without libdnnl.so.2 its column reads n/a.
"""
import argparse
import ctypes
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

from bench_load import cpu_snapshot, others_cores

# The shapes of tests/bench/bench_qgemm.c (k_shapes): M x N x K.
SHAPES = [(1024, 1024, 1024, "square"), (3136, 64, 576, "resnet50 conv2 3x3"),
          (784, 128, 1152, "resnet50 conv3 3x3"), (196, 256, 2304, "resnet50 conv4 3x3"),
          (49, 512, 4608, "resnet50 conv5 3x3"), (197, 768, 768, "vit-b attn proj"),
          (197, 3072, 768, "vit-b mlp fc1")]
THREADS = (1, 2)
DNNL = "libdnnl.so.2"


class DnnlVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint),
                ("gpu_runtime", ctypes.c_uint)]


def onednn_worker(reps):
    """In a process whose OMP_NUM_THREADS is set: one line per shape,
    'M N K ms', then 'version X.Y.Z'."""
    lib = ctypes.CDLL(DNNL)
    lib.dnnl_version.restype = ctypes.POINTER(DnnlVersion)
    v = lib.dnnl_version().contents
    f = lib.dnnl_gemm_u8s8s32
    i64, p = ctypes.c_int64, ctypes.c_void_p
    f.argtypes = [ctypes.c_char, ctypes.c_char, ctypes.c_char, i64, i64, i64, ctypes.c_float,
                  p, i64, ctypes.c_uint8, p, i64, ctypes.c_int8, ctypes.c_float, p, i64, p]
    rng = np.random.default_rng(1)
    for m, n, k, _ in SHAPES:
        a = rng.integers(0, 256, (m, k), dtype=np.uint8)
        b = rng.integers(-127, 128, (n, k), dtype=np.int8)   # N x K, used transposed
        c = np.empty((m, n), np.int32)
        co = np.zeros(1, np.int32)
        args = (b"N", b"T", b"F", m, n, k, 1.0, a.ctypes.data, k, 0, b.ctypes.data, k, 0,
                0.0, c.ctypes.data, n, co.ctypes.data)
        if f(*args) != 0:
            print("error %d %d %d" % (m, n, k), flush=True)
            continue
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f(*args)
            ts.append(time.perf_counter() - t0)
        print("%d %d %d %.6f" % (m, n, k, statistics.median(ts) * 1e3), flush=True)
    print("version %d.%d.%d" % (v.major, v.minor, v.patch), flush=True)


def run_onednn(threads, reps):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    env.setdefault("OMP_WAIT_POLICY", "passive")
    r = subprocess.run([sys.executable, __file__, "--worker", "--reps", str(reps)],
                       capture_output=True, text=True, env=env)
    ms, version = {}, None
    for ln in r.stdout.splitlines():
        f = ln.split()
        if len(f) == 4 and f[0].isdigit():
            ms[tuple(map(int, f[:3]))] = float(f[3])
        elif f and f[0] == "version":
            version = f[1]
    if r.returncode != 0 and not ms:
        err = (r.stderr.strip().splitlines() or ["rc %d" % r.returncode])[-1]
        return {}, "n/a (%s)" % err[:80]
    return ms, version


def run_qgemm(path, reps):
    """(shape, threads) -> (isa, qinfer ms, sgemm GMAC/s)."""
    r = subprocess.run([path, "--no-scalar", "--reps", str(reps)], capture_output=True,
                       text=True)
    out = {}
    for ln in r.stdout.splitlines():
        mt = re.match(r"(\d+)x(\d+)x(\d+)\s+(\S+)\s+(\d+)\s+([\d.]+)\s+[\d.]+\s+\S+\s+([\d.]+)",
                      ln)
        if mt:
            shape = tuple(int(mt.group(i)) for i in (1, 2, 3))
            out[(shape, int(mt.group(5)))] = (mt.group(4), float(mt.group(6)),
                                              float(mt.group(7)))
    if not out:
        sys.exit("bench_gemm_compare: no figures from %s (rc %d): %s"
                 % (path, r.returncode, r.stderr.strip()[-200:]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--qgemm", default="build/bench/bench_qgemm")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        onednn_worker(args.reps)
        return 0
    q_rounds, d_rounds, version = [], {t: [] for t in THREADS}, None
    snap = cpu_snapshot()
    for _ in range(args.rounds):
        q_rounds.append(run_qgemm(args.qgemm, args.reps))
        for t in THREADS:
            ms, v = run_onednn(t, args.reps)
            d_rounds[t].append(ms)
            version = version or v
    print("INT8 GEMM, M x N x K, median over %d rounds of the median of %d calls; "
          "oneDNN %s (dnnl_gemm_u8s8s32, int32 out, packs B per call); "
          "ratio = qinfer GMAC/s / other GMAC/s (above 1: qinfer faster); "
          "other processes used %.2f cores meanwhile"
          % (args.rounds, args.reps, version or "n/a", others_cores(snap, cpu_snapshot())))
    print("%-16s %-20s %3s %-5s %8s %8s %8s %8s %7s %7s" % (
        "MxNxK", "layer", "thr", "isa", "qi ms", "qinfer", "sgemm", "oneDNN",
        "/sgemm", "/oneDNN"))
    for m, n, k, what in SHAPES:
        macs = m * n * k
        for t in THREADS:
            cells = [r.get(((m, n, k), t)) for r in q_rounds]
            cells = [c for c in cells if c]
            if not cells:
                continue
            q_ms = statistics.median(c[1] for c in cells)
            sg = statistics.median(c[2] for c in cells)
            d = [r[(m, n, k)] for r in d_rounds[t] if (m, n, k) in r]
            d_g = macs / statistics.median(d) / 1e6 if d else None
            q_g = macs / q_ms / 1e6
            print("%-16s %-20s %3d %-5s %8.3f %8.1f %8.1f %8s %7.2f %7s" % (
                "%dx%dx%d" % (m, n, k), what, t, cells[0][0], q_ms, q_g, sg,
                "%.1f" % d_g if d_g else "n/a", q_g / sg,
                "%.2f" % (q_g / d_g) if d_g else "n/a"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
