#!/usr/bin/env python3
"""PP-OCRv4 text recognizer: CTC greedy strings of every INT8 build against
FP32 on rendered text lines, and FP32 against the rendered text.

Lines: words and numbers made of ASCII characters of ppocr_keys_v1.txt,
drawn with the DejaVu TrueType fonts of Debian's fonts-dejavu-core (Sans,
Serif, Mono, regular and bold) in dark ink on white, 48 pixels high, at
most 320 wide. Preprocessing as PaddleOCR's recognizer: BGR, x/255,
(x - 0.5) / 0.5, then padded with zeros to width 320 (a multiple of 8), so
the output has 40 time steps. Calibration and evaluation lines come from
different seeds. Target: the default INT8 build reads the same string as
FP32 on >= 30 lines; FP32 reading the drawn text is the pipeline's sanity
check.
"""
import math
import sys

import numpy as np
from PIL import Image, ImageDraw, ImageFont

import acc_common as ac

NAME = "ppocr"
MODEL = ac.ASSETS / "models" / "ppocrv4_rec.onnx"
KEYS = ac.ASSETS / "labels" / "ppocr_keys_v1.txt"
FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf",
         "DejaVuSans-Bold.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSansMono-Bold.ttf")
HEIGHT, WIDTH = 48, 320
EVAL_LINES, CALIB_LINES = 40, 32
EVAL_SEED, CALIB_SEED = 20240611, 7
MIN_IDENTICAL = 30
WORDS = """the of and to in is for on with as by at from this that be are was not
have has can will one all new more time year day data model quick brown fox jumps
over lazy dog hello world open close north south east west total price order item
invoice number account station street river green black white table chair paper
letter market energy signal camera engine window garden summer winter morning
Monday Friday April October London Paris Berlin Tokyo Station Road Avenue Hotel
Bank Coffee Tea Milk Bread Water Exit Entrance Parking Floor Room Gate""".split()


def keys():
    """Class k (1..6623) reads keys()[k - 1]; class 6624 is the space."""
    return KEYS.read_text(encoding="utf-8").splitlines() + [" "]


def make_text(rng, allowed):
    kind = rng.integers(6)
    if kind == 0:
        t = f"{rng.integers(1, 28):02d}-{rng.integers(1, 13):02d}-{rng.integers(1990, 2030)}"
    elif kind == 1:
        t = f"${rng.integers(1, 999)}.{rng.integers(0, 100):02d}"
    elif kind == 2:
        t = f"{rng.choice(WORDS)} {rng.integers(1, 9999)}"
    elif kind == 3:
        t = f"{rng.integers(0, 24):02d}:{rng.integers(0, 60):02d} {rng.choice(WORDS)}"
    else:
        t = " ".join(str(rng.choice(WORDS)) for _ in range(rng.integers(2, 5)))
    t = "".join(c for c in t if c in allowed)
    return t.capitalize() if rng.integers(3) == 0 else t


def render(text, font_file, size, ink):
    """White 48-pixel-high line of dark text; None when wider than 320."""
    font = ImageFont.truetype(f"{FONT_DIR}/{font_file}", size)
    x0, y0, x1, y1 = font.getbbox(text)
    w = x1 - x0 + 12
    if w > WIDTH:
        return None
    img = Image.new("RGB", (w, HEIGHT), (255, 255, 255))
    top = (HEIGHT - (y1 - y0)) // 2 - y0
    ImageDraw.Draw(img).text((6 - x0, top), text, font=font, fill=(ink, ink, ink))
    return np.asarray(img, dtype=np.float32)


def lines(seed, count, allowed):
    """[(text, [1, 3, 48, 320] tensor)], deterministic for a seed."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        text = make_text(rng, allowed)
        font = FONTS[len(out) % len(FONTS)]
        img = render(text, font, int(rng.integers(26, 35)), int(rng.integers(0, 80)))
        if img is None or not text.strip():
            continue
        x = ac.to_nchw(img, bgr=True, scale=1 / 255, mean=(0.5,) * 3, std=(0.5,) * 3)
        padded = np.zeros((1, 3, HEIGHT, WIDTH), np.float32)
        padded[..., : x.shape[-1]] = x
        out.append((text, padded))
    return out


def ctc_greedy(probs, charset):
    """[T, classes] -> string: arg-max per step, repeats merged, blanks dropped."""
    best = probs.argmax(-1)
    keep = np.concatenate([[True], best[1:] != best[:-1]]) & (best != 0)
    return "".join(charset[k - 1] for k in best[keep])


def edit_distance(a, b):
    d = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, cb in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (ca != cb))
    return d[len(b)]


def run_lines(model, xs, work, threads):
    """[N, 40, 6625]: one batch run, or one run per line when the model
    has a fixed batch of 1 (a calibrated .qnf may)."""
    batch = np.concatenate(xs)
    try:
        return ac.qinfer_run(model, {"x": batch}, work, threads,
                             shape=f"x={len(xs)}x3x{HEIGHT}x{WIDTH}")["softmax_11.tmp_0"]
    except RuntimeError as e:
        if "fixed" not in str(e):
            raise
    return np.concatenate([ac.qinfer_run(model, {"x": x}, work, threads)["softmax_11.tmp_0"]
                           for x in xs])


def main(argv=None):
    opts = ac.parse_args(__doc__.splitlines()[0], argv)
    work = ac.CACHE / NAME
    charset = keys()
    allowed = set(charset)
    evals = lines(EVAL_SEED, EVAL_LINES, allowed)
    cal = lines(CALIB_SEED, CALIB_LINES, allowed)
    calib = work / "calib"
    named = {f"line{i:02d}": x for i, (_, x) in enumerate(cal)}
    if not ac.samples_ready(calib, ac.SAMPLES_RECIPE, named):
        ac.write_samples(calib, named, ac.SAMPLES_RECIPE)
    shape = f"x=1x3x{HEIGHT}x{WIDTH}"
    vs = ac.variants(opts, MODEL, calib, work, shape=shape)
    xs = [x for _, x in evals]
    truth = [t for t, _ in evals]
    ref = run_lines(MODEL, xs, work / "eval" / "FP32", opts.threads)
    sess = ac.ort_session(MODEL)
    outs = [("ONNX Runtime FP32", ac.ORT_INFO,
             np.concatenate([ac.ort_run(sess, {"x": x})["softmax_11.tmp_0"] for x in xs]))]
    del sess
    outs += ac.evaluate(vs, lambda label, model: ref if label == "FP32" else run_lines(
        model, xs, work / "eval" / label.replace(" ", "_"), opts.threads))
    ref_str = [ctc_greedy(p, charset) for p in ref]
    rows, checks, samples = [], [], []
    for label, info, probs in outs:
        if probs is None:
            rows.append(ac.error_row(label, info, 8, checks))
            continue
        got = [ctc_greedy(p, charset) for p in probs]
        same = sum(g == r for g, r in zip(got, ref_str))
        correct = sum(g == t for g, t in zip(got, truth))
        cer_ref = sum(edit_distance(g, r) for g, r in zip(got, ref_str)) / max(
            1, sum(len(r) for r in ref_str))
        cer_truth = sum(edit_distance(g, t) for g, t in zip(got, truth)) / sum(map(len, truth))
        ok = same >= MIN_IDENTICAL
        rows.append([ac.label_of(label, info), ac.counts_str(info), f"{same}/{len(xs)}", ac.fmt_pct(cer_ref),
                     f"{correct}/{len(xs)}", ac.fmt_pct(cer_truth),
                     ac.fmt_db(ac.sqnr_db(ref, probs)), "yes" if ok else "**no**"])
        if label in ("default", "FP32 .qnf (sanity)", "ONNX Runtime FP32"):
            checks.append((f"{label}: the FP32 string on {same}/{len(xs)} lines "
                           f"(>= {MIN_IDENTICAL})", ok))
        if opts.sanity and label == "FP32 .qnf (sanity)":
            checks.append(("sanity: identical probabilities", ac.sqnr_db(ref, probs) == math.inf))
        if label == "default" or (opts.sanity and label == "FP32 .qnf (sanity)"):
            samples = [(t, r, g) for t, r, g in zip(truth, ref_str, got) if r != g or r != t]
    fp32_correct = sum(r == t for r, t in zip(ref_str, truth))
    checks.append((f"pipeline sanity: FP32 reads the drawn text exactly on {fp32_correct}/"
                   f"{len(xs)} lines (>= {MIN_IDENTICAL})", fp32_correct >= MIN_IDENTICAL))
    headers = ["model", "nodes", "same string as FP32", "CER vs FP32", "exact vs drawn text",
               "CER vs drawn text", "SQNR probabilities dB", f">= {MIN_IDENTICAL} same"]
    notes = [f"{len(xs)} evaluation lines (seed {EVAL_SEED}), {len(cal)} other calibration "
             f"lines (seed {CALIB_SEED}); CER = edit distance / characters."]
    if samples:
        notes.append("lines read differently (drawn / FP32 / default build): " + "; ".join(
            f"`{t}` / `{r}` / `{g}`" for t, r, g in samples[:8]))
    return ac.report(NAME, "PP-OCRv4 recognizer (rendered text lines)", headers, rows,
                     checks, notes)


if __name__ == "__main__":
    sys.exit(ac.script_main(main))
