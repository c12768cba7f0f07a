#!/usr/bin/env python3
"""Instruction counts of qinfer's INT8 convolutions against oneDNN's, under
valgrind's callgrind: a second opinion that other processes on a shared
machine cannot disturb (wall-clock ratios here move by 10-20% between runs).

    bench_callgrind.py --bin build/bench/bench_qconv [--only TEXT]...

For each layer, bench_qconv runs once under callgrind with collection on
only inside its `qinfer_call` and `dnnl_call` wrappers (--reps 1
--exact-reps: one warm-up and one timed call per thread count, 1 and 2,
so four calls of each). MACs are counted dense (padding taps included:
both libraries compute them). The inclusive instruction counts (Ir) of the two wrappers give
instructions per MAC for each library and their ratio; below 1, qinfer
executes fewer instructions. Instruction counts are not time: they ignore
memory stalls and how many instructions retire per cycle (vpmaddwd and
vpmaddubsw cost the same here), so read them beside the timed table.
valgrind runs oneDNN's JIT code on its own CPU model; `impl` is what oneDNN
reported it picked under valgrind. About 10 s per layer.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# (bench_qconv layer name, MACs per call): name as in its k_shapes table.
LAYERS = [
    ("resnet 3x3 56x56x64->64", 56 * 56 * 64 * 64 * 9),
    ("resnet 3x3 28x28x128->128", 28 * 28 * 128 * 128 * 9),
    ("resnet 3x3 14x14x256->256", 14 * 14 * 256 * 256 * 9),
    ("resnet 3x3 7x7x512->512", 7 * 7 * 512 * 512 * 9),
    ("mbv2 1x1 56x56x24->144", 56 * 56 * 24 * 144),
    ("mbv2 dw3x3 56x56x144 s1", 56 * 56 * 144 * 9),
    ("convnext dw7x7 56x56x96", 56 * 56 * 96 * 49),
]
CALLS = 4  # (warm-up + 1 timed) x (1 thread, 2 threads)


def inclusive(out_file, func):
    """Inclusive Ir of `func` from a callgrind output file."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(out_file)],
                          capture_output=True, text=True, check=True).stdout
    for line in text.splitlines():
        if re.search(r":%s \[" % re.escape(func), line):
            m = re.match(r"\s*([\d,]+)", line)
            if m:
                return int(m.group(1).replace(",", ""))
    return None


def run_layer(binary, name, macs, workdir):
    out = Path(workdir) / ("cg.%d.out" % abs(hash(name)))
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=%s" % out,
           "--toggle-collect=qinfer_call", "--toggle-collect=dnnl_call",
           str(binary), "--reps", "1", "--exact-reps", "--only", name]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        return {"name": name, "error": "valgrind exit %d: %s" % (
            p.returncode, p.stderr.strip().splitlines()[-1:] or "")}
    impl = ""
    for line in p.stdout.splitlines():
        if line.startswith(name) and "|" in line:
            impl = " ".join(line.split("|", 1)[1].split()[3:])
    q = inclusive(out, "qinfer_call")
    d = inclusive(out, "dnnl_call")
    return {"name": name, "macs": macs, "qinfer_ir": q, "onednn_ir": d, "impl": impl}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="bench_qconv binary")
    ap.add_argument("--only", action="append", help="layers whose name contains TEXT")
    args = ap.parse_args(argv)
    if not shutil.which("valgrind") or not shutil.which("callgrind_annotate"):
        print("bench_callgrind: valgrind not installed: skipped")
        return 0
    layers = [(n, m) for n, m in LAYERS if not args.only or any(o in n for o in args.only)]
    print("callgrind instruction counts, %d calls of each library per layer "
          "(bench_qconv --reps 1 --exact-reps, 1 and 2 threads)" % CALLS)
    print("%-28s %14s %14s %10s %10s %7s  %s" % (
        "layer", "qinfer Ir", "oneDNN Ir", "qi Ir/MAC", "dnnl Ir/MAC", "ratio", "oneDNN impl"))
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, macs in layers:
            r = run_layer(args.bin, name, macs, tmp)
            if "error" in r or r["qinfer_ir"] is None:
                print("%-28s %s" % (name, r.get("error", "no qinfer_call count")))
                bad += 1
                continue
            q = r["qinfer_ir"] / (CALLS * macs)
            if r["onednn_ir"]:
                d = r["onednn_ir"] / (CALLS * macs)
                print("%-28s %14d %14d %10.3f %10.3f %7.2f  %s" % (
                    name, r["qinfer_ir"], r["onednn_ir"], q, d, q / d, r["impl"]))
            else:
                print("%-28s %14d %14s %10.3f %10s %7s" % (name, r["qinfer_ir"], "-", q, "-", "-"))
    return 1 if bad == len(layers) else 0


if __name__ == "__main__":
    sys.exit(main())
