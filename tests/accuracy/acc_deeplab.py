#!/usr/bin/env python3
"""DeepLabV3-MobileNetV2 (PASCAL VOC, 21 classes): per-pixel agreement of
the class maps (arg-max of `logits_513` over the classes) of every INT8
build with FP32, on the person photo and the 8 COCO photos.

Preprocessing: RGB, stretch to 513x513 (bilinear as tools/image.c),
(x - 127.5) / 127.5. There are no labelled segmentation photos here, so the
same 9 photos calibrate and evaluate (few and not held out: the figures
show quantization noise, not generalisation). Target: the default INT8
build agrees with FP32 on >= 98% of the pixels.
"""
import math
import sys

import numpy as np

import acc_common as ac

NAME = "deeplab"
MODEL = ac.ASSETS / "models" / "deeplabv3_mnv2_pascal.onnx"
OUTPUT = "logits_513"
CLASSES = 21
PERSON = 15  # labels/pascal_voc21.txt, 0 = background
MIN_AGREEMENT = 0.98


def preprocess(path):
    img = ac.resize_exact(ac.load_rgb(path), 513, 513)
    return ac.to_nchw(img, mean=(127.5,) * 3, std=(127.5,) * 3)


class Score:
    """Pooled comparison of class maps and logits with the FP32 ones."""

    def __init__(self):
        self.conf = np.zeros((CLASSES, CLASSES), np.int64)
        self.per_image = []
        self.sig = self.err = 0.0

    def add(self, ref_logits, got_logits):
        ref = ref_logits.argmax(axis=1).ravel()
        got = got_logits.argmax(axis=1).ravel()
        self.conf += np.bincount(ref * CLASSES + got, minlength=CLASSES * CLASSES).reshape(
            CLASSES, CLASSES)
        self.per_image.append(float(np.mean(ref == got)))
        r = ref_logits.astype(np.float64)
        self.sig += float(np.sum(r * r))
        self.err += float(np.sum((got_logits.astype(np.float64) - r) ** 2))

    def agreement(self):
        return float(np.trace(self.conf) / self.conf.sum())

    def miou(self):
        inter = np.diag(self.conf).astype(np.float64)
        union = self.conf.sum(0) + self.conf.sum(1) - inter
        return float(np.mean(inter[union > 0] / union[union > 0]))

    def foreground(self):
        """Agreement on the pixels FP32 does not call background."""
        fg = self.conf[1:, :]
        return float(np.trace(self.conf[1:, 1:]) / fg.sum()) if fg.sum() else math.nan

    def person_iou(self):
        i = self.conf[PERSON, PERSON]
        u = self.conf[PERSON, :].sum() + self.conf[:, PERSON].sum() - i
        return float(i / u) if u else math.nan

    def sqnr(self):
        return math.inf if self.err == 0 else 10 * math.log10(self.sig / self.err)


def main(argv=None):
    opts = ac.parse_args(__doc__.splitlines()[0], argv)
    work = ac.CACHE / NAME
    photos = ac.coco_photos()
    inputs = {p.stem: preprocess(p) for p in photos}
    calib = work / "calib"
    if not ac.samples_ready(calib, ac.SAMPLES_RECIPE, inputs):
        ac.write_samples(calib, inputs, ac.SAMPLES_RECIPE)
    vs = ac.variants(opts, MODEL, calib, work)
    ref = {}
    for stem, x in inputs.items():
        ref[stem] = ac.qinfer_run(MODEL, {"input": x}, work / "eval" / "FP32" / stem,
                                  opts.threads)[OUTPUT]
    # Our FP32 against ONNX Runtime: what float noise alone looks like.
    sess = ac.ort_session(MODEL)
    scores = [("ONNX Runtime FP32", ac.ORT_INFO, Score())]
    for stem, x in inputs.items():
        scores[0][2].add(ref[stem], ac.ort_run(sess, {"input": x})[OUTPUT])
    del sess
    def run(label, model):
        s = Score()
        for stem, x in inputs.items():
            got = ref[stem] if label == "FP32" else ac.qinfer_run(
                model, {"input": x}, work / "eval" / label.replace(" ", "_") / stem,
                opts.threads)[OUTPUT]
            s.add(ref[stem], got)
        return s

    scores += ac.evaluate(vs, run)
    rows, checks = [], []
    for label, info, s in scores:
        if s is None:
            rows.append(ac.error_row(label, info, 10, checks))
            continue
        agree = s.agreement()
        ok = agree >= MIN_AGREEMENT
        rows.append([ac.label_of(label, info), ac.counts_str(info),
                     ac.fmt_pct(agree), ac.fmt_pct(s.foreground()), ac.fmt_pct(min(s.per_image)), ac.fmt_pct(s.per_image[-1]),
                     f"{s.miou():.4f}", f"{s.person_iou():.4f}", ac.fmt_db(s.sqnr()),
                     "yes" if ok else "**no**"])
        if label in ("default", "FP32 .qnf (sanity)", "ONNX Runtime FP32"):
            checks.append((f"{label}: pixel agreement with FP32 {ac.fmt_pct(agree)} "
                           f">= {ac.fmt_pct(MIN_AGREEMENT, 0)}", ok))
        if opts.sanity and label == "FP32 .qnf (sanity)":
            checks.append(("sanity: identical class maps", agree == 1.0))
    headers = ["model", "nodes", "pixel agreement", "non-background", "worst photo", "person photo",
               "mIoU vs FP32", "person IoU vs FP32", f"SQNR {OUTPUT} dB",
               f">= {ac.fmt_pct(MIN_AGREEMENT, 0)}"]
    notes = [f"{len(photos)} photos ({len(photos) - 1} COCO val2017 + person_dog_bird.jpg), "
             f"{len(photos) * 513 * 513} pixels; the same photos calibrate (few, not held out).",
             "Agreement, mIoU and SQNR are against our FP32 output, pooled over all pixels."]
    return ac.report(NAME, "DeepLabV3-MobileNetV2 (PASCAL VOC segmentation)",
                     headers, rows, checks, notes)


if __name__ == "__main__":
    sys.exit(ac.script_main(main))
