"""INT8 models for bench_models.py: the calibration inputs (one set per
model, shared by qinfer's tools/calibrate and ONNX Runtime's
quantize_static, so both quantize from the same data) and qinfer's
calibrated .qnf, made by tools/calibrate and cached in .cache/bench.

Calibration inputs, CALIB_COUNT per model, NAME.calibN.npy:
  - real ImageNet classifiers (IMAGENET_CALIB): the first CALIB_COUNT
    photographs of ../shared/assets/images/imagenet_dev, preprocessed as the
    model expects (shorter side 256, centre crop 224, ImageNet mean/std);
  - everything else (the zoo's random-weight models, the other real models):
    seeded standard-normal noise, the distribution make_zoo calibrates with.
One more input of the same kind (NAME.check.npy, not in the calibration set)
checks the INT8 output against ORT FP32.

How tools/calibrate is called: --int8-cmd TEMPLATE if given (fields
{calibrate} {model} {data} {input} {out} {count} {shapes}), else the options
its --help lists (see calibrate_argv).
"""
import hashlib
import json
import os
import re
import shlex
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from bench_model_prep import Skip, ort_fp32_path, ort_session, rel_l2, temp_cwd

CALIB_COUNT = 16
IMAGENET_CALIB = {"squeezenet1.1"}
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
# Longest a calibration may take (it runs the FP32 model CALIB_COUNT times).
CALIBRATE_TIMEOUT_S = 600


def file_sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def imagenet_inputs(images_dir, count, skip=0):
    """(count, 3, 224, 224) float32 from the sorted photographs, skipping the
    first `skip`: RGB, shorter side 256 (bilinear), centre crop 224, x/255,
    ImageNet mean/std (the assets README's preprocessing)."""
    from PIL import Image
    files = sorted(p for p in Path(images_dir).iterdir()
                   if p.suffix.lower() in (".jpeg", ".jpg", ".png"))[skip:skip + count]
    if len(files) < count:
        raise Skip("fewer than %d images in %s" % (count + skip, images_dir))
    out = []
    for f in files:
        img = Image.open(f).convert("RGB")
        s = 256 / min(img.size)
        img = img.resize((max(256, round(img.width * s)), max(256, round(img.height * s))),
                         Image.BILINEAR)
        left, top = (img.width - 224) // 2, (img.height - 224) // 2
        a = np.asarray(img.crop((left, top, left + 224, top + 224)), np.float32) / 255.0
        out.append(((a - IMAGENET_MEAN) / IMAGENET_STD).transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(out), np.float32)


def calib_inputs(ctx, model):
    """(path of the (CALIB_COUNT, ...) calibration inputs, path of one
    held-out check input (1, ...), description); cached."""
    if len(model.inputs) != 1:
        raise Skip("INT8 benchmark: models with one input only")
    name, shape = next(iter(model.inputs.items()))
    data = ctx.cache / ("%s.calib%d.npy" % (model.name, CALIB_COUNT))
    check = ctx.cache / ("%s.check.npy" % model.name)
    stamp = Path(str(data) + ".json")
    images = ctx.images if model.name in IMAGENET_CALIB else None
    if images is not None and not Path(images).is_dir():
        images = None
    how = ("%d ImageNet photographs from %s" % (CALIB_COUNT, images) if images else
           "%d seeded standard-normal inputs" % CALIB_COUNT)
    key = {"shape": list(shape), "count": CALIB_COUNT, "how": how, "recipe": 1}
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key") != key or not data.is_file() or not check.is_file():
        if images:
            if tuple(shape[1:]) != (3, 224, 224):
                raise Skip("ImageNet calibration expects 3x224x224, model has %s" % (shape,))
            arr = imagenet_inputs(images, CALIB_COUNT + 1)
        else:
            rng = np.random.default_rng(zlib.crc32(model.name.encode()) + 31337)
            arr = rng.standard_normal((CALIB_COUNT + 1,) + tuple(shape[1:]), dtype=np.float32)
        np.save(data, arr[:CALIB_COUNT])
        np.save(check, arr[CALIB_COUNT:])
        stamp.write_text(json.dumps({"key": key}))
    return data, check, how


# --------------------------------------------------------------------------
# tools/calibrate

def calibrate_help(ctx):
    if ctx.calibrate_help is None:
        if not ctx.calibrate or not Path(ctx.calibrate).is_file():
            ctx.calibrate_help = (None, "tools/calibrate is not built")
        else:
            try:
                r = subprocess.run([str(ctx.calibrate), "--help"], capture_output=True,
                                   text=True, timeout=30)
                ctx.calibrate_help = (r.stdout + r.stderr, None)
            except (OSError, subprocess.TimeoutExpired) as e:
                ctx.calibrate_help = (None, "tools/calibrate --help: %s" % e)
    return ctx.calibrate_help


def has_opt(text, opt):
    return re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(opt), text) is not None


def calibrate_argv(ctx, model, data, out):
    """The tools/calibrate command line. With --int8-cmd the template is
    filled in; otherwise the options named in --help are used: the first of
    --data/--calib-data/--calib/--npy/--inputs/--input for the .npy of
    samples (NAME=FILE when the help shows that form), --out/--output/-o for
    the .qnf, --samples/--num-samples/--limit for the count and --shape for
    symbolic input dims. Raises Skip when --help names none of these."""
    name = next(iter(model.inputs))
    shapes = " ".join(shlex.quote(a) for a in model.shape_args(1))
    if ctx.int8_cmd:
        return shlex.split(ctx.int8_cmd.format(
            calibrate=shlex.quote(str(ctx.calibrate)), model=shlex.quote(str(model.path)),
            data=shlex.quote(str(data)), input=shlex.quote(name), out=shlex.quote(str(out)),
            count=CALIB_COUNT, shapes=shapes))
    text, err = calibrate_help(ctx)
    if err:
        raise Skip(err)
    data_opt = next((o for o in ("--data", "--calib-data", "--calib", "--npy", "--inputs",
                                 "--input") if has_opt(text, o)), None)
    out_opt = next((o for o in ("--out", "--output", "-o") if has_opt(text, o)), None)
    if not data_opt or not out_opt:
        raise Skip("tools/calibrate --help names no .npy-input or output option; "
                   "give the command with --int8-cmd")
    named = re.search(r"%s[ =]+\[?NAME=" % re.escape(data_opt), text, re.I) is not None
    argv = [str(ctx.calibrate), str(model.path), data_opt,
            "%s=%s" % (name, data) if named else str(data), out_opt, str(out)]
    count_opt = next((o for o in ("--samples", "--num-samples", "--limit")
                      if has_opt(text, o)), None)
    if count_opt:
        argv += [count_opt, str(CALIB_COUNT)]
    if model.dynamic and has_opt(text, "--shape"):
        argv += model.shape_args(1)
    if has_opt(text, "--threads"):   # calibration runs the FP32 model: use the cores
        argv += ["--threads", str(os.cpu_count() or 1)]
    # The INT8 column times every INT8-capable node in INT8: calibrate's
    # default would keep output layers float and may fall back to --auto
    # (random-weight models sit under its 20 dB check); bench_mixed.py
    # times the default policy on the real models.
    if has_opt(text, "--precision"):
        argv += ["--precision", "int8"]
    return argv


def qinfer_int8_model(ctx, model):
    """Path of the model calibrated by tools/calibrate (.qnf), made once per
    (model, calibration inputs, calibrate and qinfer binaries); its output on
    the held-out input is compared with ORT FP32 and the rel L2 error kept in
    model.int8_info. Raises Skip when calibration fails."""
    data, check, how = calib_inputs(ctx, model)
    dst = ctx.cache / ("%s.qinfer_int8.qnf" % model.name)
    stamp = Path(str(dst) + ".json")
    key = {"src": str(model.path), "size": model.path.stat().st_size,
           "mtime": int(model.path.stat().st_mtime), "data": how,
           "calibrate": file_sha(ctx.calibrate) if ctx.calibrate and
           Path(ctx.calibrate).is_file() else None,
           "qinfer": ctx.qinfer_sha, "cmd": ctx.int8_cmd, "recipe": 2}  # 2: --precision int8
    old = json.loads(stamp.read_text()) if stamp.is_file() else {}
    if old.get("key") == key and (old.get("skip") or dst.is_file()):
        model.int8_info = old.get("info", {})
        if old.get("skip"):
            raise Skip(old["skip"])
        return dst
    t0, skip, info = time.perf_counter(), None, {"calibration": how}
    try:
        argv = calibrate_argv(ctx, model, data, dst)
        info["command"] = " ".join(shlex.quote(a) for a in argv)
        with temp_cwd():
            r = subprocess.run(argv, capture_output=True, text=True, env=ctx.env,
                               timeout=CALIBRATE_TIMEOUT_S)
        if r.returncode != 0 or not dst.is_file():
            tail = (r.stderr or r.stdout).strip().splitlines()
            raise Skip("calibrate failed: %s" % (tail[-1][:120] if tail else "rc %d"
                                                  % r.returncode))
        info["calibrate_s"] = round(time.perf_counter() - t0, 1)
        info["rel_l2_vs_ort_fp32"] = int8_error(ctx, model, dst, check)
        print("  %s: qinfer INT8 model made in %.1fs (%s); output rel L2 vs ORT FP32 %.3f"
              % (model.name, info["calibrate_s"], how, info["rel_l2_vs_ort_fp32"]), flush=True)
    except subprocess.TimeoutExpired:
        skip = "calibrate took over %d s" % CALIBRATE_TIMEOUT_S
    except Skip as e:
        skip = str(e)
    stamp.write_text(json.dumps({"key": key, "skip": skip, "info": info}))
    model.int8_info = info
    if skip:
        dst.unlink(missing_ok=True)
        raise Skip(skip)
    return dst


def int8_error(ctx, model, qnf, check):
    """Relative L2 error of the first output of `qinfer run` on the .qnf
    against ONNX Runtime FP32 on the same held-out input."""
    name = next(iter(model.inputs))
    x = np.load(check)
    ref = ort_session(ort_fp32_path(ctx, model), 1).run(None, {name: x})[0]
    with tempfile.TemporaryDirectory(prefix="qinfer-bench-") as tmp:
        r = subprocess.run([str(ctx.qinfer), "run", str(qnf), "--input",
                            "%s=%s" % (name, check), "--out", "%s/out" % tmp]
                           + model.shape_args(1), capture_output=True, text=True, env=ctx.env)
        if r.returncode != 0:
            msg = (r.stderr or r.stdout).strip().splitlines() or ["rc %d" % r.returncode]
            raise Skip("qinfer run on the INT8 model: %s" % msg[0][:160])
        return rel_l2(np.load("%s/out0.npy" % tmp), ref)


def ort_int8_error(ctx, model, qmodel):
    """Relative L2 error of ORT's INT8 model's first output against ORT FP32
    on the held-out check input (the one qinfer INT8 is checked on), kept
    in model.ort_int8_info."""
    _, check, _ = calib_inputs(ctx, model)
    feed = {next(iter(model.inputs)): np.load(check)}
    out8 = ort_session(qmodel, 1).run(None, feed)[0]
    out32 = ort_session(ort_fp32_path(ctx, model), 1).run(None, feed)[0]
    model.ort_int8_info = {"rel_l2_vs_ort_fp32": rel_l2(out8, out32)}

