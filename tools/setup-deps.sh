#!/usr/bin/env bash
# Install what qinfer's build, tests and benchmarks need, then exit quietly.
#
#   1. Debian packages (apt-get when root; otherwise one line naming them).
#   2. .venv: Debian's /usr/bin/python3 with --system-site-packages (so that
#      Debian's torch/torchvision/numpy are visible) plus the pinned wheels of
#      tests/python/requirements.txt. A stamp holding the hash of that file
#      skips pip when nothing changed.
#
# Idempotent; with everything in place it runs in well under a second and
# prints nothing. Safe under `set -euo pipefail`, without stdin, with CI=true,
# and when started twice at once (make -j): runs are serialized by a lock.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

deb_packages=(
    build-essential libopenblas-dev libjpeg-dev libpng-dev  # library, tools
    clang libclang-rt-14-dev                               # clang build, sanitizers, fuzzers
    libonnx-testdata                                       # ONNX node conformance data
    python3-venv python3-numpy python3-torch python3-torchvision  # tests' Python
    libdnnl-dev                                            # benchmarks: oneDNN peer
    fonts-dejavu-core                                      # demo: label font
)
venv="$root/.venv"
venv_python="$venv/bin/python"
system_python=/usr/bin/python3   # Debian's: the pyenv python3 on PATH cannot see python3-torch
requirements="$root/tests/python/requirements.txt"
stamp="$venv/.qinfer-stamp"

say() { echo "qinfer: $*" >&2; }

# Serialize concurrent runs; the lock is released when this process exits.
exec 9<"$root/tools/setup-deps.sh"
flock 9

# --- 1. Debian packages ----------------------------------------------------
if ! command -v dpkg-query >/dev/null 2>&1; then
    say "not a Debian system: install the equivalents of: ${deb_packages[*]}"
    exit 1
fi

missing_packages() {
    local installed
    installed="$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${deb_packages[@]}" \
                 2>/dev/null || true)"
    local p
    for p in "${deb_packages[@]}"; do
        awk -v p="$p" '$1 == p && $2 == "ii" { found = 1 } END { exit !found }' \
            <<<"$installed" || echo "$p"
    done
}

mapfile -t missing < <(missing_packages)
if ((${#missing[@]})); then
    if [[ "$(id -u)" != 0 ]]; then
        echo "qinfer: missing packages: run: sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    say "installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt_opts=(-q -o DPkg::Lock::Timeout=600 -o Dpkg::Use-Pty=0)
    apt-get "${apt_opts[@]}" update </dev/null >/dev/null
    apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" </dev/null
    mapfile -t missing < <(missing_packages)
    if ((${#missing[@]})); then
        say "still missing after apt-get install: ${missing[*]}"
        exit 1
    fi
fi

# --- 2. Python virtual environment ------------------------------------------
venv_ok() {
    [[ -x "$venv_python" && -f "$venv/pyvenv.cfg" ]] &&
        grep -qx 'home = /usr/bin' "$venv/pyvenv.cfg" &&
        grep -qx 'include-system-site-packages = true' "$venv/pyvenv.cfg" &&
        "$venv_python" -c '' </dev/null >/dev/null 2>&1
}

want_stamp="$(sha256sum "$requirements" | cut -d' ' -f1)"
if venv_ok && [[ -f "$stamp" && "$(cat "$stamp")" == "$want_stamp" ]]; then
    exit 0
fi

if ! venv_ok; then
    say "creating $venv from $system_python"
    rm -rf "$venv"
    "$system_python" -m venv --system-site-packages "$venv" </dev/null
fi

say "installing tests/python/requirements.txt into .venv"
rm -f "$stamp"
# The file is a complete lock: --no-deps keeps pip from pulling torch or
# numpy 2 from PyPI over Debian's; binary wheels only, nothing is compiled.
PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv_python" -m pip install --no-input --no-deps \
    --only-binary=:all: --progress-bar off -q -r "$requirements" </dev/null

# The combination must really work: Debian's torch with the numpy in use,
# ONNX Runtime and onnx on a model built here.
"$venv_python" - <<'EOF'
import sys
import numpy as np
import torch, torchvision, onnx, onnxruntime as ort
from onnx import helper, TensorProto

if int(np.__version__.split(".")[0]) >= 2:
    sys.exit("qinfer: numpy %s in .venv, Debian's torch %s needs numpy < 2"
             % (np.__version__, torch.__version__))
x = np.arange(6, dtype=np.float32).reshape(2, 3)
assert torch.from_numpy(x).sum().item() == 15.0
graph = helper.make_graph(
    [helper.make_node("Relu", ["x"], ["y"])], "probe",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
onnx.checker.check_model(model)
sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
assert (sess.run(None, {"x": x - 2})[0] == np.maximum(x - 2, 0)).all()
try:
    import timm
    extra = ", timm " + timm.__version__
except ImportError:
    extra = ", timm not available (make_zoo.py skips its models)"
print("qinfer: .venv ready: torch %s, torchvision %s, numpy %s, onnxruntime %s, onnx %s%s"
      % (torch.__version__, torchvision.__version__, np.__version__, ort.__version__,
         onnx.__version__, extra), file=sys.stderr)
EOF

echo "$want_stamp" >"$stamp"
