#!/usr/bin/env python3
"""The model zoo (.cache/zoo: real architectures with seeded random weights,
made by tests/python/make_zoo.py): output SQNR of INT8 builds against our
FP32 output, as a regression guard.

Each model is calibrated on its NAME.calib.npy (8 random inputs) and
compared on NAME.input.npy (another random input, not in the calibration
set). Random weights have no meaningful classes, so the figure is the SQNR
of every output (the lowest is reported). By default only calibrate's
default build is made, with --no-fallback (--methods adds per-method
builds). The guard: the
default build's SQNR must not fall more than ZOO_SLACK_DB below the value
recorded in tests/accuracy/zoo_baseline.json (--update-baseline rewrites
it from this run); models without a recorded value are only reported.
"""
import json
import math
import sys
from pathlib import Path

import numpy as np

import acc_common as ac

NAME = "zoo"
ZOO = ac.ROOT / ".cache" / "zoo"
BASELINE = Path(__file__).resolve().parent / "zoo_baseline.json"
ZOO_SLACK_DB = 3.0


def extra_args(p):
    p.add_argument("--models", default="", help="comma-separated subset of the zoo")
    p.add_argument("--update-baseline", action="store_true",
                   help=f"record this run's default-build SQNR in {BASELINE.name}")


def zoo_models(subset):
    names = sorted(p.name[: -len(".json")] for p in ZOO.glob("*.json"))
    names = [n for n in names if (ZOO / f"{n}.onnx").exists() and (ZOO / f"{n}.calib.npy").exists()
             and (ZOO / f"{n}.input.npy").exists()]
    if subset:
        want = subset.split(",")
        missing = [w for w in want if w not in names]
        if missing:
            raise SystemExit(f"acc_zoo: not in {ZOO}: {', '.join(missing)}")
        names = [n for n in names if n in want]
    return names


def main(argv=None):
    opts = ac.parse_args(__doc__.splitlines()[0], argv, extra=extra_args, default_methods=())
    names = zoo_models(opts.models)
    if not names:
        return ac.report(NAME, "Model zoo (random weights)", ["model"], [],
                         [(f"zoo models found in {ZOO} (run tests/python/make_zoo.py "
                           f"--out {ZOO} --calib 8)", False)])
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    labels, rows, checks, measured = [], [], [], {}
    for name in names:
        ac.log(f"  {NAME}: {name}")
        model = ZOO / f"{name}.onnx"
        work = ac.CACHE / NAME / name
        x = np.load(ZOO / f"{name}.input.npy")
        ort_refs = [np.load(p) for p in sorted(ZOO.glob(f"{name}.out*.npy"))]
        # Random weights on noise inputs often sit under calibrate's 20 dB
        # self-check; its --auto fallback would only measure noise, slowly.
        runs = ac.evaluate(ac.variants(opts, model, ZOO / f"{name}.calib.npy", work,
                                       default_args=["--no-fallback"]),
                           lambda label, path: list(run_first_input(
                               path, x, work / "eval" / label.replace(" ", "_"),
                               opts.threads).values()))
        ref = runs[0][2]
        labels = [lab for lab, _, _ in runs[1:]]
        if ref is None:
            rows.append([name, f"**failed**: {runs[0][1]['error']}"] + [""] * (len(labels) + 1))
            checks.append((f"{name}: FP32 run", False))
            continue
        vals = [ac.fmt_db(min(ac.sqnr_db(r, o) for r, o in zip(ort_refs, ref)))]
        for label, info, outs in runs[1:]:
            guarded = label in ("default", "FP32 .qnf (sanity)")
            if outs is None:
                vals.append("**failed**")
                checks.append((f"{name} {label}: {info['error']}", False))
                continue
            db = min(ac.sqnr_db(r, o) for r, o in zip(ref, outs))
            vals.append(ac.fmt_db(db) + (f" ({ac.counts_str(info)})" if guarded else ""))
            if not guarded:
                continue
            measured[name] = db
            if opts.sanity:
                checks.append((f"{name}: sanity .qnf identical to FP32", db == math.inf))
            elif name in baseline:
                ok = db >= baseline[name] - ZOO_SLACK_DB
                checks.append((f"{name}: default SQNR {ac.fmt_db(db)} dB >= recorded "
                               f"{ac.fmt_db(baseline[name])} - {ZOO_SLACK_DB} dB", ok))
        rows.append([name] + vals + [ac.fmt_db(baseline[name]) if name in baseline else "-"])
    if opts.update_baseline and not opts.sanity:
        baseline.update({k: round(v, 2) for k, v in measured.items() if math.isfinite(v)})
        BASELINE.write_text(json.dumps(dict(sorted(baseline.items())), indent=1) + "\n")
        ac.log(f"  wrote {BASELINE}")
    headers = (["model", "FP32 vs ONNX Runtime SQNR dB"] + [f"{lab} SQNR dB" for lab in labels]
               + ["recorded default dB"])
    notes = [f"{len(names)} models; SQNR = 10 log10(sum ref^2 / sum err^2) against our FP32 "
             "output on one random input outside the calibration set (lowest over outputs)."]
    return ac.report(NAME, "Model zoo (random weights): output SQNR vs FP32", headers, rows,
                     checks, notes)


def run_first_input(model, x, work, threads):
    """qinfer run with the single input named as the model names it."""
    stdout, _ = ac._run([ac.QINFER, "inspect", model], "qinfer inspect")
    first = next(line.split()[1] for line in stdout.splitlines() if line.startswith("input "))
    return ac.qinfer_run(model, {first: x}, work, threads)


if __name__ == "__main__":
    sys.exit(ac.script_main(main))
