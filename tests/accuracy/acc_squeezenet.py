#!/usr/bin/env python3
"""SqueezeNet 1.1 on the 500 labelled ImageNet photos: top-1/top-5 of FP32
and of every INT8 build, on all 500 and on the 400 not used to calibrate.

Calibration: every 5th photo of the label list (100), preprocessed here with
the recipe of `qinfer eval` (shorter side 256, centre crop 224, RGB, x/255,
ImageNet mean/std; the same bilinear sampling as tools/image.c). Evaluation
is `qinfer eval` on two label lists (calibration and held-out), so the
photos are decoded and preprocessed by the engine's own tools.
Target: the default INT8 build within 1.0 point of FP32 top-1 on the
held-out 400 (and on all 500).
"""
import sys

import numpy as np

import acc_common as ac

NAME = "squeezenet"
MODEL = ac.ASSETS / "models" / "squeezenet1.1.onnx"
IMAGES = ac.ASSETS / "images" / "imagenet_dev"
LABELS = ac.ASSETS / "labels" / "imagenet_dev_labels.tsv"
CALIB_EVERY = 5
MAX_TOP1_DROP_PT = 1.0
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def split_labels(work):
    lines = LABELS.read_text().splitlines()
    header, rows = lines[0], [r for r in lines[1:] if r.strip()]
    calib = rows[::CALIB_EVERY]
    held = [r for i, r in enumerate(rows) if i % CALIB_EVERY]
    work.mkdir(parents=True, exist_ok=True)
    (work / "calib.tsv").write_text("\n".join([header] + calib) + "\n")
    (work / "heldout.tsv").write_text("\n".join([header] + held) + "\n")
    return calib, held


def preprocess(path):
    img = ac.resize_shorter_crop(ac.load_rgb(path), 256, 224, 224)
    return ac.to_nchw(img, scale=1 / 255, mean=MEAN, std=STD)


def calib_samples(work, calib_rows):
    folder = work / "calib"
    names = {f"{i:03d}_{r.split(chr(9))[0].rsplit('.', 1)[0]}": r.split("\t")[0]
             for i, r in enumerate(calib_rows)}
    if not ac.samples_ready(folder, ac.SAMPLES_RECIPE, names):
        ac.log(f"  preprocessing {len(names)} calibration photos")
        ac.write_samples(folder, {n: preprocess(IMAGES / f) for n, f in names.items()},
                         ac.SAMPLES_RECIPE)
    return folder


def ort_accuracy(rows):
    """(n, top-1, top-5) of ONNX Runtime on this script's preprocessing: the
    check that the calibration tensors match what `qinfer eval` feeds."""
    sess = ac.ort_session(MODEL)
    n = t1 = t5 = 0
    for r in rows:
        f, _, idx = r.split("\t")[:3]
        y = sess.run(None, {"data": preprocess(IMAGES / f)})[0].ravel()
        rank = int(np.sum(y > y[int(idx)]))
        n, t1, t5 = n + 1, t1 + (rank == 0), t5 + (rank < 5)
    return n, t1, t5


def main(argv=None):
    opts = ac.parse_args(__doc__.splitlines()[0], argv)
    work = ac.CACHE / NAME
    calib_rows, held_rows = split_labels(work)
    calib = calib_samples(work, calib_rows)
    def run(label, model):
        nh, h1, h5, ms = ac.qinfer_eval(model, IMAGES, work / "heldout.tsv", opts.threads)
        nc, c1, c5, _ = ac.qinfer_eval(model, IMAGES, work / "calib.tsv", opts.threads)
        # qinfer eval skips listed photos the folder lacks: all must be there.
        if (nh, nc) != (len(held_rows), len(calib_rows)):
            raise RuntimeError(f"qinfer eval saw {nh}+{nc} photos, expected "
                               f"{len(held_rows)}+{len(calib_rows)}")
        return {"held": (nh, h1, h5), "all": (nh + nc, h1 + c1, h5 + c5), "ms": ms}

    res = [dict(r or {}, label=label, info=info)
           for label, info, r in ac.evaluate(ac.variants(opts, MODEL, calib, work), run)]
    if "all" not in res[0]:
        return ac.report(NAME, "SqueezeNet 1.1", ["model", "error"],
                         [["FP32", res[0]["info"]["error"]]],
                         [("FP32 evaluation", False)])
    fp = res[0]
    if not opts.sanity:
        ac.log(f"  {NAME}: ONNX Runtime")
        oh, oc = ort_accuracy(held_rows), ort_accuracy(calib_rows)
        res.insert(0, {"label": "ONNX Runtime FP32 (Python preprocessing)", "info": ac.ORT_INFO,
                       "held": oh, "all": tuple(a + b for a, b in zip(oh, oc)), "ms": None})
    rows, checks = [], []
    for r in res:
        if "all" not in r:
            rows.append(ac.error_row(r["label"], r["info"], 10, checks))
            continue
        d_all = 100 * (r["all"][1] / r["all"][0] - fp["all"][1] / fp["all"][0])
        d_held = 100 * (r["held"][1] / r["held"][0] - fp["held"][1] / fp["held"][0])
        r["drop_all_pt"], r["drop_held_pt"] = d_all, d_held
        ok = r is fp or (d_all >= -MAX_TOP1_DROP_PT and d_held >= -MAX_TOP1_DROP_PT)
        rows.append([ac.label_of(r["label"], r["info"]), ac.counts_str(r["info"]),
                     ac.fmt_pct(r["all"][1] / r["all"][0], 1), ac.fmt_pct(r["all"][2] / r["all"][0], 1),
                     f"{d_all:+.1f}",
                     ac.fmt_pct(r["held"][1] / r["held"][0], 2), ac.fmt_pct(r["held"][2] / r["held"][0], 2),
                     f"{d_held:+.2f}", "" if r is fp or r["ms"] is None else ("yes" if ok else "**no**"),
                     "" if r["ms"] is None else f"{r['ms']:.1f}"])
        if r["label"] in ("default", "FP32 .qnf (sanity)"):
            checks.append((f"{r['label']}: top-1 within {MAX_TOP1_DROP_PT} pt of FP32 "
                           f"(all 500: {d_all:+.1f}, held-out 400: {d_held:+.2f})", ok))
        if opts.sanity and r is not fp:
            checks.append(("sanity: identical top-1/top-5 counts", r["all"] == fp["all"]))
    headers = ["model", "nodes", "top-1 (500)", "top-5 (500)", "Δtop-1 pt",
               "top-1 (held-out 400)", "top-5 (held-out 400)", "Δtop-1 pt (held-out)",
               f"within {MAX_TOP1_DROP_PT} pt", "median ms/img"]
    notes = [f"{len(calib_rows)} calibration photos (every {CALIB_EVERY}th), "
             f"{len(held_rows)} held out; `qinfer eval` with {opts.threads} thread(s); "
             "latency is indicative only (shared machine)."]
    return ac.report(NAME, "SqueezeNet 1.1 (ImageNet, 500 labelled photos)",
                     headers, rows, checks, notes,
                     extra={"results": [{k: v for k, v in r.items() if k != "info"} | {
                         "counts": r["info"].get("counts"), "error": r["info"].get("error")}
                         for r in res]})


if __name__ == "__main__":
    sys.exit(ac.script_main(main))
