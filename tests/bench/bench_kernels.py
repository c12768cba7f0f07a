#!/usr/bin/env python3
"""Kernel benchmarks of `make bench`: every BUILD/bench/bench_* program in
turn (their own tables), then the INT8 GEMM beside OpenBLAS and oneDNN
(bench_gemm_compare.py). Prints everything and writes BUILD/bench/kernels.txt
with a header (date, CPU, git revision, OPENBLAS_CORETYPE, load) and, per
program, how many cores other processes used while it ran.

    bench_kernels.py --bin-dir build/bench [--out build/bench/kernels.txt]
                     [--reps N] [--skip-compare]
"""
import argparse
import datetime
import io
import os
import platform
import subprocess
import sys
import time
from contextlib import redirect_stdout
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_gemm_compare  # noqa: E402
from bench_load import cpu_description, cpu_snapshot, git, others_cores  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def header(argv):
    return ["# qinfer kernel benchmarks",
            "command: %s" % " ".join([sys.argv[0]] + argv),
            "date: %s" % datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "CPU: %s; Linux %s" % (cpu_description(), platform.release()),
            "qinfer git %s (%s)" % (git(ROOT, "describe", "--always", "--dirty"),
                                    git(ROOT, "rev-parse", "HEAD")),
            "OPENBLAS_CORETYPE in the environment: %s"
            % (os.environ.get("OPENBLAS_CORETYPE") or "unset"),
            "load average at start: %s" % " ".join("%.2f" % x for x in os.getloadavg())]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin-dir", type=Path, default=ROOT / "build/bench")
    ap.add_argument("--out", type=Path, help="default: BIN_DIR/kernels.txt")
    ap.add_argument("--reps", type=int, help="passed to every program as --reps N")
    ap.add_argument("--skip-compare", action="store_true", help="no GEMM comparison")
    args = ap.parse_args(argv)
    out = args.out or args.bin_dir / "kernels.txt"
    lines = header(argv)
    print("\n".join(lines), flush=True)
    progs = sorted(p for p in args.bin_dir.glob("bench_*")
                   if p.is_file() and os.access(p, os.X_OK) and not p.suffix)
    if not progs:
        print("bench: no kernel benchmarks in %s (make bench-kernels builds them)"
              % args.bin_dir, flush=True)
    rc = 0
    for p in progs:
        cmd = [str(p)] + (["--reps", str(args.reps)] if args.reps else [])
        snap, t0 = cpu_snapshot(), time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        head = ["", "## %s  (%.1f s; other processes used %.2f cores meanwhile%s)" % (
            " ".join([p.name] + cmd[1:]), time.perf_counter() - t0,
            others_cores(snap, cpu_snapshot()), "" if r.returncode == 0
            else "; FAILED rc %d" % r.returncode)]
        body = (r.stdout + (r.stderr if r.returncode else "")).rstrip().splitlines()
        print("\n".join(head + body), flush=True)
        lines += head + body
        rc |= r.returncode != 0
    qgemm = args.bin_dir / "bench_qgemm"
    if not args.skip_compare and qgemm.is_file():
        buf = io.StringIO()
        snap, t0 = cpu_snapshot(), time.perf_counter()
        with redirect_stdout(buf):
            bench_gemm_compare.main(["--qgemm", str(qgemm)])
        head = ["", "## bench_gemm_compare.py  (%.1f s)" % (time.perf_counter() - t0)]
        body = buf.getvalue().rstrip().splitlines()
        print("\n".join(head + body), flush=True)
        lines += head + body
    out.write_text("\n".join(lines) + "\n")
    print("bench: wrote %s" % out, flush=True)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
