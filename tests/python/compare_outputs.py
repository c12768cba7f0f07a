#!/usr/bin/env python3
"""Compare an output tensor with a reference one and fail loudly.

    compare_outputs.py --ref a.npy --got b.npy [--max-rel 1e-4] [--top1]
                       [--axis -1] [--top1-min 1.0]

Reports, in float64:
    max_abs_err  max|got - ref|
    max_rel_err  max|got - ref| / max|ref|   (the error relative to the
                 tensor's range, so near-zero elements do not blow it up;
                 this is the number checked against --max-rel)
    rel_l2_err   ||got - ref||_2 / ||ref||_2 (information only)
    top-1        with --top1: argmax along --axis (default the last axis, the
                 class axis of a (1, classes) output; use --axis 1 for NCHW
                 segmentation logits) must agree at a fraction >= --top1-min
                 of the positions (default all of them). A position where
                 the reference's two best values lie within the error the
                 check allows (top-1 minus top-2 <= max-rel * max|ref|) is a
                 tie: either class is right there, and it is counted and
                 reported as one, not as a disagreement.

The last line is PASS or FAIL with the reason; the exit status is 0 on
pass, 1 on a failed comparison, 2 on bad usage or an unreadable file.
"""
import argparse
import sys

import numpy as np

DEFAULT_MAX_REL = 1e-4


def measure(ref, got):
    """Error figures of got against ref (same shape), computed in float64."""
    ref64 = ref.astype(np.float64)
    diff = np.abs(got.astype(np.float64) - ref64)
    ref_max = float(np.max(np.abs(ref64))) if ref.size else 0.0
    max_abs = float(np.max(diff)) if diff.size else 0.0
    ref_l2 = float(np.linalg.norm(ref64))
    err_l2 = float(np.linalg.norm(diff))
    return {
        "max_abs": max_abs,
        # An all-zero reference only matches an all-zero result.
        "max_rel": max_abs / ref_max if ref_max > 0 else (0.0 if max_abs == 0 else np.inf),
        "rel_l2": err_l2 / ref_l2 if ref_l2 > 0 else (0.0 if err_l2 == 0 else np.inf),
    }


def top2_gap(ref, axis):
    """Top-1 minus top-2 value of ref along axis, at every position (float64)."""
    top = -np.partition(-ref.astype(np.float64), 1, axis=axis)
    top = np.moveaxis(top, axis, 0)
    return top[0] - top[1]


def top1_report(ref, got, axis, tie_abs=0.0):
    """(agreeing positions, ties among the rest, all positions, smallest gap,
    largest gap where they differ).

    A differing position is a tie when ref's top-1 minus top-2 value there
    is at most tie_abs. Gaps are reported as a fraction of ref's range:
    they tell whether the disagreements are near ties or real errors.
    """
    agree = np.argmax(ref, axis=axis) == np.argmax(got, axis=axis)
    if ref.shape[axis] < 2:
        return int(agree.sum()), 0, int(agree.size), None, None
    gap_abs = top2_gap(ref, axis)
    ties = int(np.count_nonzero(~agree & (gap_abs <= tie_abs)))
    span = float(np.max(ref) - np.min(ref))
    gap = gap_abs / (span if span > 0 else 1.0)
    worst = float(np.max(gap[~agree])) if not agree.all() else None
    return int(agree.sum()), ties, int(agree.size), float(np.min(gap)), worst


def compare(ref, got, max_rel=DEFAULT_MAX_REL, top1=False, axis=-1, top1_min=1.0):
    """Return (ok, report lines, reason for the verdict)."""
    lines = ["shape        %s %s (ref %s)" % (
        "x".join(map(str, got.shape)) or "scalar", got.dtype.name, ref.dtype.name)]
    if ref.shape != got.shape:
        return False, lines, "shape %s != ref shape %s" % (got.shape, ref.shape)
    if not np.all(np.isfinite(ref)):
        return False, lines, "reference holds NaN/Inf"
    bad = int(np.size(got) - np.count_nonzero(np.isfinite(got)))
    if bad:
        return False, lines, "%d NaN/Inf element(s) in the result" % bad
    m = measure(ref, got)
    lines += ["max_abs_err  %.4g" % m["max_abs"],
              "max_rel_err  %.4g   (max|got-ref| / max|ref|, limit %.3g)" % (m["max_rel"], max_rel),
              "rel_l2_err   %.4g   (||got-ref|| / ||ref||)" % m["rel_l2"]]
    ok = m["max_rel"] <= max_rel
    verdict = "max_rel_err %.3g %s %.3g" % (m["max_rel"], "<=" if ok else ">", max_rel)
    if top1:
        if ref.ndim == 0 or not -ref.ndim <= axis < ref.ndim:
            return False, lines, "--axis %d is out of range for shape %s" % (axis, ref.shape)
        ref_max = float(np.max(np.abs(ref.astype(np.float64))))
        agree, ties, total, margin, worst = top1_report(ref, got, axis, max_rel * ref_max)
        line = "top1         %d/%d agree (%.2f%%, need %.2f%%)" % (
            agree, total, 100.0 * agree / total, 100.0 * top1_min)
        if ties:
            line += ", %d more differ at ties (ref top-2 gap <= max-rel * max|ref|)" % ties
        if margin is not None:
            line += ", smallest ref top-2 gap %.3g of its range" % margin
        if worst is not None:
            line += ", largest where they differ %.3g" % worst
        lines.append(line)
        top1_ok = agree + ties >= top1_min * total
        verdict += ", top-1 agrees at %d/%d%s%s" % (
            agree, total, " (+%d ties)" % ties if ties else "",
            "" if top1_ok else " < %.2f%% required" % (100.0 * top1_min))
        ok = ok and top1_ok
    return ok, lines, verdict


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ref", required=True, help="reference .npy")
    ap.add_argument("--got", required=True, help=".npy to check")
    ap.add_argument("--max-rel", type=float, default=DEFAULT_MAX_REL,
                    help="limit on max|got-ref| / max|ref| (default %(default)g)")
    ap.add_argument("--top1", action="store_true", help="also require argmax agreement")
    ap.add_argument("--axis", type=int, default=None,
                    help="argmax axis for --top1 (default: 1 for rank-4 NCHW outputs such as "
                         "segmentation logits, else -1)")
    ap.add_argument("--top1-min", type=float, default=1.0, metavar="FRAC",
                    help="fraction of positions whose argmax must agree (default 1.0)")
    args = ap.parse_args(argv)
    if not (args.max_rel >= 0 and 0.0 <= args.top1_min <= 1.0):
        ap.error("--max-rel must be >= 0 and --top1-min within [0, 1]")

    try:
        ref = np.load(args.ref, allow_pickle=False)
        got = np.load(args.got, allow_pickle=False)
    except (OSError, ValueError) as e:
        print("compare_outputs: FAIL: cannot read input: %s" % e)
        return 2
    axis = args.axis if args.axis is not None else (1 if ref.ndim == 4 else -1)
    ok, lines, verdict = compare(ref, got, args.max_rel, args.top1, axis, args.top1_min)
    for line in lines:
        print(line)
    print("compare_outputs: %s: %s vs %s: %s" % ("PASS" if ok else "FAIL", args.got, args.ref,
                                                 verdict))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
