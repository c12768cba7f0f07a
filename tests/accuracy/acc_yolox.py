#!/usr/bin/env python3
"""YOLOX-Nano (COCO, 80 classes): detections of every INT8 build against
the FP32 detections on the 8 COCO photos.

Preprocessing: BGR, 0..255, letterbox to 416x416 at the top-left, pad 114.
Decoding: the raw head [1, 3549, 85] (grids of strides 8/16/32; objectness
and class scores already through a sigmoid), score = obj * cls > 0.3 for
each class, per-class NMS at IoU 0.45. The metric: the fraction of FP32
detections matched by an INT8 detection of the same class with IoU > 0.5
(greedy, one-to-one, highest FP32 score first). The photos have no
annotations, so FP32 is the reference; they also calibrate (8 photos plus
the person photo: few, not held out). Target: >= 95% for the default build.
"""
import math
import sys

import numpy as np

import acc_common as ac

NAME = "yolox"
MODEL = ac.ASSETS / "models" / "yolox_nano.onnx"
SIZE = 416
STRIDES = (8, 16, 32)
SCORE_THRESHOLD = 0.3
NMS_IOU = 0.45
MATCH_IOU = 0.5
MIN_MATCHED = 0.95


def preprocess(path):
    img, scale = ac.letterbox(ac.load_rgb(path), SIZE, SIZE, 114.0)
    return ac.to_nchw(img, bgr=True), scale


def grid():
    cells, strides = [], []
    for s in STRIDES:
        n = SIZE // s
        yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        cells.append(np.stack([xv, yv], -1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    return np.concatenate(cells).astype(np.float64), np.concatenate(strides).astype(np.float64)


GRID, GRID_STRIDES = grid()


def iou(box, boxes):
    """IoU of one x1,y1,x2,y2 box with each row of boxes."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / np.maximum(area(box) + area(boxes) - inter, 1e-12)


def nms(boxes, scores):
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i = order[0]
        keep.append(i)
        order = order[1:][iou(boxes[i], boxes[order[1:]]) <= NMS_IOU]
    return keep


def decode(raw):
    """[(class, score, x1, y1, x2, y2)] in letterboxed pixels."""
    p = raw.reshape(-1, 85).astype(np.float64)
    xy = (p[:, :2] + GRID) * GRID_STRIDES
    wh = np.exp(p[:, 2:4]) * GRID_STRIDES
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], 1)
    scores = p[:, 4:5] * p[:, 5:]
    dets = []
    for c in np.unique(np.nonzero(scores > SCORE_THRESHOLD)[1]):
        idx = np.nonzero(scores[:, c] > SCORE_THRESHOLD)[0]
        for k in nms(boxes[idx], scores[idx, c]):
            dets.append((int(c), float(scores[idx[k], c]), *boxes[idx[k]]))
    return sorted(dets, key=lambda d: -d[1])


def match(ref, got):
    """(FP32 detections matched, INT8 detections matched, IoUs of the pairs)."""
    used = [False] * len(got)
    ious = []
    for r in ref:
        best, best_j = MATCH_IOU, -1
        for j, g in enumerate(got):
            if used[j] or g[0] != r[0]:
                continue
            v = float(iou(np.array(r[2:]), np.array([g[2:]]))[0])
            if v > best:
                best, best_j = v, j
        if best_j >= 0:
            used[best_j] = True
            ious.append(best)
    return len(ious), sum(used), ious


def main(argv=None):
    opts = ac.parse_args(__doc__.splitlines()[0], argv)
    work = ac.CACHE / NAME
    coco = ac.coco_photos()[:-1]
    inputs = {p.stem: preprocess(p)[0] for p in ac.coco_photos()}
    calib = work / "calib"
    if not ac.samples_ready(calib, ac.SAMPLES_RECIPE, inputs):
        ac.write_samples(calib, inputs, ac.SAMPLES_RECIPE)
    vs = ac.variants(opts, MODEL, calib, work)
    evals = [p.stem for p in coco]
    raw = {s: ac.qinfer_run(MODEL, {"images": inputs[s]}, work / "eval" / "FP32" / s,
                            opts.threads)["output"] for s in evals}
    ref = {s: decode(raw[s]) for s in evals}
    sess = ac.ort_session(MODEL)
    outs = [("ONNX Runtime FP32", ac.ORT_INFO,
             {s: ac.ort_run(sess, {"images": inputs[s]})["output"] for s in evals})]
    del sess
    outs += ac.evaluate(vs, lambda label, model: raw if label == "FP32" else {
        s: ac.qinfer_run(model, {"images": inputs[s]},
                         work / "eval" / label.replace(" ", "_") / s, opts.threads)["output"]
        for s in evals})
    n_ref = sum(len(ref[s]) for s in evals)
    rows, checks = [], []
    for label, info, got_raw in outs:
        if got_raw is None:
            rows.append(ac.error_row(label, info, 8, checks))
            continue
        matched = n_got = got_matched = 0
        ious = []
        sig = err = 0.0
        for s in evals:
            got = decode(got_raw[s])
            m, gm, iu = match(ref[s], got)
            matched, got_matched, n_got = matched + m, got_matched + gm, n_got + len(got)
            ious += iu
            r = raw[s].astype(np.float64)
            sig += float(np.sum(r * r))
            err += float(np.sum((got_raw[s].astype(np.float64) - r) ** 2))
        frac = matched / n_ref if n_ref else math.nan
        ok = n_ref > 0 and frac >= MIN_MATCHED
        rows.append([ac.label_of(label, info), ac.counts_str(info), n_got, f"{matched}/{n_ref} = {ac.fmt_pct(frac, 1)}",
                     f"{got_matched}/{n_got}", f"{np.mean(ious):.3f}" if ious else "n/a",
                     ac.fmt_db(math.inf if err == 0 else 10 * math.log10(sig / err)),
                     "yes" if ok else "**no**"])
        if label in ("default", "FP32 .qnf (sanity)", "ONNX Runtime FP32"):
            checks.append((f"{label}: {ac.fmt_pct(frac, 1)} of the FP32 detections matched "
                           f"(>= {ac.fmt_pct(MIN_MATCHED, 0)})", ok))
        if opts.sanity and label == "FP32 .qnf (sanity)":
            checks.append(("sanity: identical raw output", err == 0))
    names = (ac.ASSETS / "labels" / "coco80_classes.txt").read_text().splitlines()
    found = {}
    for s in evals:
        for d in ref[s]:
            found[names[d[0]]] = found.get(names[d[0]], 0) + 1
    headers = ["model", "nodes", "detections", "FP32 detections matched",
               "INT8 detections matched", "mean IoU of matches", "SQNR raw head dB",
               f">= {ac.fmt_pct(MIN_MATCHED, 0)}"]
    notes = [f"{len(evals)} COCO val2017 photos; calibration on them and the person photo "
             f"({len(inputs)} samples, not held out).",
             f"score = obj * cls > {SCORE_THRESHOLD}, per-class NMS IoU {NMS_IOU}, match IoU > "
             f"{MATCH_IOU}, same class. FP32 finds: " +
             ", ".join(f"{k} x{v}" for k, v in sorted(found.items(), key=lambda kv: -kv[1]))]
    return ac.report(NAME, "YOLOX-Nano (COCO detection)", headers, rows, checks, notes)


if __name__ == "__main__":
    sys.exit(ac.script_main(main))
