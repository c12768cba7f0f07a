#!/usr/bin/env python3
"""Export a zoo of real vision architectures with random weights to ONNX.

    make_zoo.py --out DIR [--models a,b,...] [--quick] [--opset 17] [--calib N]

For each model NAME it writes, into DIR:
    NAME.onnx        the model (batch 1, eval mode, constant folding on)
    NAME.input.npy   a fixed random input, float32 NCHW
    NAME.out<k>.npy  ONNX Runtime's FP32 output(s) for that input
                     (optimization level ALL, 1 thread, CPU provider)
    NAME.calib.npy   with --calib N: N more inputs (N,3,H,W) for INT8 calibration
    NAME.json        how it was made; written last, so it also marks completion

A model whose json matches the current recipe (seed, opset, torch/ORT
versions, ...) and whose files exist is not exported again.

Weights are random but not left at their initial values, because those hide
bugs and give meaningless activations:
  * BatchNorm gamma/beta are drawn at random and the running statistics are
    re-estimated on random input (train-mode forward passes), so activations
    stay normalized through deep networks as in a trained one. (The export
    folds every BN that follows a Conv into it, so no BatchNormalization
    node reaches these ONNX files; the folded weights are non-trivial.)
  * LayerNorm/GroupNorm gamma/beta are drawn at random.
  * Parameters initialised to a constant (zero heads and biases, ViT's class
    token, ConvNeXt's 1e-6 layer scale) get small random values, so that
    every branch contributes and top-1 is not an argmax over zeros.
Everything is seeded per model (torch.manual_seed, numpy default_rng), so
the same versions give the same files.
"""
import argparse
import json
import os
import sys
import time
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

# torch, torchvision, timm and onnx are imported only when a model has to be
# built: importing torch costs seconds, and a cached zoo needs none of them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
import ort_reference  # noqa: E402  (sibling script, shared session setup)

# Bump when anything below changes the exported weights or inputs, so that
# cached zoos are rebuilt.
RECIPE_VERSION = 1
DEFAULT_OPSET = 17

# A freshly exported model must match PyTorch under ONNX Runtime to this
# max relative error (max|d| / max|ref|); more means an exporter problem.
EXPORT_MAX_REL = 1e-3

# BatchNorm statistics re-estimation: batches x images of random input, the
# batch shrunk for large inputs so that pixels per statistic stay similar.
BN_CALIB_BATCHES = 2
BN_CALIB_PIXELS = 8 * 224 * 224

FPN_CLASSES = 117
FPN_WIDTH = 128


# --------------------------------------------------------------------------
# ResNet-18 + FPN semantic segmentation model (written here; not in torchvision)

def resnet18_fpn(classes=FPN_CLASSES, width=FPN_WIDTH):
    """ResNet-18 encoder (C2..C5), FPN top-down path, per-pixel classifier.

    P5 = L5(C5); P_i = L_i(C_i) + up2_nearest(P_{i+1}) for i = 4, 3, 2
    F_i = relu(bn(conv3x3(P_i)));  S = sum_i up_bilinear(F_i) to stride 4
    logits = up4_bilinear(conv1x1(S))   -> (1, classes, H, W)
    """
    import torch.nn as nn
    import torch.nn.functional as F
    import torchvision

    class Resnet18Fpn(nn.Module):
        def __init__(self):
            super().__init__()
            enc = torchvision.models.resnet18(weights=None)
            self.stem = nn.Sequential(enc.conv1, enc.bn1, enc.relu, enc.maxpool)
            self.stages = nn.ModuleList([enc.layer1, enc.layer2, enc.layer3, enc.layer4])
            self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in (64, 128, 256, 512))
            self.smooth = nn.ModuleList(
                nn.Sequential(nn.Conv2d(width, width, 3, padding=1, bias=False),
                              nn.BatchNorm2d(width), nn.ReLU(inplace=True))
                for _ in range(4))
            self.classifier = nn.Conv2d(width, classes, 1)

        def forward(self, x):
            feats = []
            h = self.stem(x)
            for stage in self.stages:
                h = stage(h)
                feats.append(h)                  # C2 (stride 4) .. C5 (stride 32)
            p = self.lateral[3](feats[3])
            pyramid = [p]
            for i in (2, 1, 0):
                p = self.lateral[i](feats[i]) + F.interpolate(p, scale_factor=2.0,
                                                              mode="nearest")
                pyramid.insert(0, p)             # ends as [P2, P3, P4, P5]
            s = self.smooth[0](pyramid[0])
            for i in (1, 2, 3):
                s = s + F.interpolate(self.smooth[i](pyramid[i]), scale_factor=float(2 ** i),
                                      mode="bilinear", align_corners=False)
            return F.interpolate(self.classifier(s), scale_factor=4.0,
                                 mode="bilinear", align_corners=False)

    return Resnet18Fpn()


# --------------------------------------------------------------------------
# The zoo: name -> (source, builder, input H=W, seed)

class Spec:
    """How one zoo model is made: source library, architecture, input size, seed.

    fold:    fold constant shape arithmetic after export (see fold_constants)
    reparam: timm re-parameterization to the deployed form before export
    vit:     torchvision VisionTransformer constructor arguments, for sizes
             torchvision has no builder for
    """

    def __init__(self, source, arch, size, seed, fold=False, reparam=False, vit=None):
        self.source, self.arch, self.size, self.seed = source, arch, size, seed
        self.fold, self.reparam, self.vit = fold, reparam, vit

    def build(self):
        if self.source == "torchvision":
            import torchvision
            if self.vit:
                from torchvision.models.vision_transformer import VisionTransformer
                return VisionTransformer(image_size=self.size, **self.vit)
            return getattr(torchvision.models, self.arch)(weights=None)
        if self.source == "timm":
            import timm
            return timm.create_model(self.arch, pretrained=False)
        return resnet18_fpn()


MODELS = {
    "resnet18":               Spec("torchvision", "resnet18", 224, 1001),
    "resnet50":               Spec("torchvision", "resnet50", 224, 1002),
    "mobilenet_v2":           Spec("torchvision", "mobilenet_v2", 224, 1003),
    "mobilenet_v3_large":     Spec("torchvision", "mobilenet_v3_large", 224, 1004),
    "regnet_x_400mf":         Spec("torchvision", "regnet_x_400mf", 224, 1005),
    "efficientnet_b0":        Spec("torchvision", "efficientnet_b0", 224, 1006),
    "convnext_tiny":          Spec("torchvision", "convnext_tiny", 224, 1007),
    # The tracer records the transformers' shape arithmetic (class token
    # expand, window padding/masks) as Shape/Gather/ScatterND/... chains on
    # constants; fold=True folds them.
    "vit_b_16":               Spec("torchvision", "vit_b_16", 224, 1008, fold=True),
    # ViT-Ti/16 (DeiT-tiny's shape: 5.7M parameters), same code as vit_b_16.
    "vit_ti_16":              Spec("torchvision", "vit_ti_16", 224, 1013, fold=True,
                                   vit=dict(patch_size=16, num_layers=12, num_heads=3,
                                            hidden_dim=192, mlp_dim=768)),
    "swin_t":                 Spec("torchvision", "swin_t", 224, 1009, fold=True),
    # RepVGG is exported in its deployed (re-parameterized, single 3x3 conv per
    # block) form, the one that is run in practice and is hard to quantize.
    "repvgg_a0":              Spec("timm", "repvgg_a0", 224, 1010, reparam=True),
    "mobilenetv4_conv_small": Spec("timm", "mobilenetv4_conv_small", 224, 1011),
    "fpn_resnet18":           Spec("local", "resnet18_fpn", 512, 1012),
}

# Small and quick, yet covering plain conv + residual (resnet18), depthwise +
# ReLU6 (mobilenet_v2) and a transformer (vit_ti_16: MatMul, LayerNorm,
# Softmax, GELU; the graph of vit_b_16 at 1/15 of its size).
QUICK_MODELS = ["resnet18", "mobilenet_v2", "vit_ti_16"]


def installed_version(package):
    """Version from the package's metadata, without importing it; None if absent."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


# --------------------------------------------------------------------------
# Weight randomization

def randomize_weights(model, gen):
    """Draw norm affine params at random and replace constant-initialised ones."""
    import torch
    import torch.nn as nn
    norm_types = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm)
    with torch.no_grad():
        norm_params = set()
        for module in model.modules():
            if isinstance(module, norm_types) and getattr(module, "weight", None) is not None:
                module.weight.uniform_(0.5, 1.5, generator=gen)
                module.bias.normal_(0.0, 0.1, generator=gen)
                norm_params.update((id(module.weight), id(module.bias)))
        for name, param in model.named_parameters():
            if id(param) in norm_params or param.numel() < 2:
                continue
            flat = param.detach().reshape(-1)
            if not bool((flat == flat[0]).all()):
                continue
            leaf = name.rsplit(".", 1)[-1]
            if "layer_scale" in leaf or leaf == "gamma":
                param.uniform_(0.1, 0.5, generator=gen)
            else:
                param.normal_(0.0, 0.02, generator=gen)


def recalibrate_batchnorm(model, shape, gen):
    """Re-estimate BN running mean/var as the plain average over random batches."""
    import torch
    import torch.nn as nn
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        return
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None                     # cumulative average, not EMA
    batch = max(2, round(BN_CALIB_PIXELS / (shape[2] * shape[3])))
    model.train()
    with torch.no_grad():
        for _ in range(BN_CALIB_BATCHES):
            model(torch.randn((batch,) + tuple(shape[1:]), generator=gen))
    model.eval()


def build_model(name):
    import torch
    spec = MODELS[name]
    torch.manual_seed(spec.seed)
    model = spec.build()
    gen = torch.Generator().manual_seed(spec.seed)
    randomize_weights(model, gen)
    recalibrate_batchnorm(model, (1, 3, spec.size, spec.size), gen)
    if spec.reparam:
        from timm.utils import reparameterize_model
        model = reparameterize_model(model)
    return model.eval()


# --------------------------------------------------------------------------
# Export, reference outputs, caching

# ONNX Runtime level-1 passes that would change op structure rather than
# fold constants (MatMul+Add -> Reshape/Gemm/Reshape, constant dedup).
FOLD_DISABLED_PASSES = ["MatMulAddFusion", "ConstantSharing"]


def fold_constants(src, dst):
    """Fold constant subgraphs of src into initializers, writing standard ONNX to dst.

    torch 1.13's own constant folding leaves shape computations on static
    shapes in the graph (swin_t: ~2700 Constant, ~470 Shape, ScatterND, Where
    ...). ONNX Runtime's basic level (constant folding, Identity/Dropout
    elimination) removes them while keeping to default-domain operators.
    """
    import onnx
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.optimized_model_filepath = str(dst)
    opts.log_severity_level = 3
    ort.InferenceSession(str(src), sess_options=opts, providers=["CPUExecutionProvider"],
                         disabled_optimizers=FOLD_DISABLED_PASSES)
    model = onnx.load(str(dst))
    used = {node.domain for node in model.graph.node} | {""}
    keep = [op for op in model.opset_import if op.domain in used]
    if "ai.onnx" in used or any(node.domain not in ("", "ai.onnx") for node in model.graph.node):
        raise RuntimeError("%s: folding produced non-default-domain nodes" % src)
    del model.opset_import[:]
    model.opset_import.extend(keep)
    onnx.save(model, str(dst))


def recipe(name, opset):
    """Everything the files depend on; a cached model must match it exactly."""
    spec = MODELS[name]
    return {
        "recipe": RECIPE_VERSION,
        "name": name,
        "source": spec.source,
        "arch": spec.arch,
        "seed": spec.seed,
        "input_seed": spec.seed + 100000,
        "input_shape": [1, 3, spec.size, spec.size],
        "opset": opset,
        "folded": spec.fold,
        "reparameterized": spec.reparam,
        "vit": spec.vit,
        "torch": installed_version("torch"),
        "torchvision": installed_version("torchvision"),
        "timm": installed_version("timm") if spec.source == "timm" else None,
        "onnxruntime": installed_version("onnxruntime"),
    }


def cached(out_dir, name, want):
    meta_path = out_dir / (name + ".json")
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    if meta.get("recipe_key") != want:
        return False
    return all((out_dir / f).is_file() for f in meta.get("files", []))


def save_npy(path, arr):
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, np.ascontiguousarray(arr))
    os.replace(tmp, path)


def max_rel(ref, got):
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    return float(np.max(np.abs(ref.astype(np.float64) - got))) / max(scale, 1e-30)


def export_one(out_dir, name, opset):
    key = recipe(name, opset)
    if cached(out_dir, name, key):
        print("%-24s cached" % name, flush=True)
        return
    # A stale json must not vouch for files that are about to be replaced.
    (out_dir / (name + ".json")).unlink(missing_ok=True)
    tmp_onnx = out_dir / (name + ".tmp.onnx")
    folded = out_dir / (name + ".tmp.folded.onnx")
    try:
        _export(out_dir, name, key, tmp_onnx, folded)
    finally:
        tmp_onnx.unlink(missing_ok=True)
        folded.unlink(missing_ok=True)


def _export(out_dir, name, key, tmp_onnx, folded):
    import torch
    t0 = time.perf_counter()
    model = build_model(name)
    t_build = time.perf_counter() - t0

    x = np.random.default_rng(key["input_seed"]).standard_normal(
        key["input_shape"], dtype=np.float32)
    onnx_path = out_dir / (name + ".onnx")
    t1 = time.perf_counter()
    with torch.no_grad():
        want = model(torch.from_numpy(x))
    outs_torch = [want] if isinstance(want, torch.Tensor) else list(want)
    out_names = ["output"] if len(outs_torch) == 1 else \
        ["output%d" % k for k in range(len(outs_torch))]
    # Export with autograd on: under no_grad, torch 1.13's MultiheadAttention
    # takes its fused fast path (aten::_native_multi_head_attention), which has
    # no ONNX export.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")        # tracer chatter about constants
        torch.onnx.export(model, torch.from_numpy(x), str(tmp_onnx),
                          opset_version=key["opset"], do_constant_folding=True,
                          input_names=["input"], output_names=out_names)
    if key["folded"]:
        fold_constants(tmp_onnx, folded)
        os.replace(folded, tmp_onnx)
    import onnx
    onnx.checker.check_model(str(tmp_onnx))
    t_export = time.perf_counter() - t1

    t2 = time.perf_counter()
    outs = ort_reference.run_reference(tmp_onnx, [x])
    t_ort = time.perf_counter() - t2
    if len(outs) != len(outs_torch):
        raise RuntimeError("%s: ONNX has %d outputs, torch %d" % (name, len(outs), len(outs_torch)))
    errs = []
    for k, (ref, got) in enumerate(zip(outs_torch, outs)):
        err = max_rel(ref.numpy(), got)
        errs.append(err)
        if ref.shape != got.shape or not err <= EXPORT_MAX_REL:
            raise RuntimeError("%s: output %d: ONNX Runtime vs torch max_rel %.3g (shapes %s %s)"
                               % (name, k, err, tuple(ref.shape), got.shape))

    files = [name + ".onnx", name + ".input.npy"]
    save_npy(out_dir / files[1], x)
    out_shapes = []
    for k, out in enumerate(outs):
        files.append("%s.out%d.npy" % (name, k))
        save_npy(out_dir / files[-1], out)
        out_shapes.append(list(out.shape))
    os.replace(tmp_onnx, onnx_path)
    meta = {"recipe_key": key, "files": files, "output_shapes": out_shapes,
            "torch_vs_ort_max_rel": errs,
            "params": int(sum(p.numel() for p in model.parameters()))}
    (out_dir / (name + ".json")).write_text(json.dumps(meta, indent=1) + "\n")
    total = time.perf_counter() - t0
    print("%-24s build %5.1fs  export %5.1fs  ort %5.1fs  total %5.1fs  %6.1f MB  out %s"
          % (name, t_build, t_export, t_ort, total, onnx_path.stat().st_size / 1e6,
             " ".join("x".join(map(str, s)) for s in out_shapes)), flush=True)


def write_calib(out_dir, name, count):
    """NAME.calib.npy: count more random inputs (not part of the cache key)."""
    spec = MODELS[name]
    path = out_dir / (name + ".calib.npy")
    shape = (count, 3, spec.size, spec.size)
    if path.is_file():
        try:
            if np.load(path, mmap_mode="r").shape == shape:
                return
        except ValueError:
            pass
    rng = np.random.default_rng(spec.seed + 200000)
    save_npy(path, rng.standard_normal(shape, dtype=np.float32))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, type=Path, help="output folder")
    ap.add_argument("--models", help="comma-separated names (default: all; see --list)")
    ap.add_argument("--quick", action="store_true", help="only " + ", ".join(QUICK_MODELS))
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET, choices=(13, 17))
    ap.add_argument("--calib", type=int, default=0, metavar="N",
                    help="also write NAME.calib.npy with N random inputs")
    ap.add_argument("--list", action="store_true", help="print the model names and exit")
    args = ap.parse_args(argv)

    have_timm = installed_version("timm") is not None
    if args.list:
        for name, spec in MODELS.items():
            note = "" if spec.source != "timm" or have_timm else "  (timm not installed)"
            print("%-24s %-12s %dx%d seed %d%s" % (name, spec.source, spec.size, spec.size,
                                                  spec.seed, note))
        return 0
    if args.models:
        names = [n.strip() for n in args.models.split(",") if n.strip()]
        unknown = [n for n in names if n not in MODELS]
        if unknown:
            ap.error("unknown model(s): %s (see --list)" % ", ".join(unknown))
    elif args.quick:
        names = list(QUICK_MODELS)
    else:
        names = list(MODELS)

    args.out.mkdir(parents=True, exist_ok=True)
    failed = []
    t0 = time.perf_counter()
    for name in names:
        if MODELS[name].source == "timm" and not have_timm:
            if args.models:
                failed.append(name)
            print("%-24s skipped: timm is not installed" % name, flush=True)
            continue
        try:
            export_one(args.out, name, args.opset)
            if args.calib > 0:
                write_calib(args.out, name, args.calib)
        except Exception as e:  # report every model, then fail at the end
            print("%-24s FAILED: %s: %s" % (name, type(e).__name__, e), flush=True)
            failed.append(name)
    print("make_zoo: %d model(s) in %.1fs%s" % (
        len(names), time.perf_counter() - t0,
        ", FAILED: " + ", ".join(failed) if failed else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
