#!/usr/bin/env bash
# Installs the LibTorch that burn-tch 0.22.1 pins (tch 0.22 = PyTorch 2.9.0)
# from PyPI's torch wheel into a virtual environment of its own, then prints
# the environment that `cargo build --features tch` and the built binary need:
#
#   scripts/setup_libtorch.sh                 # install (once), print exports
#   eval "$(scripts/setup_libtorch.sh --env)" # export them into this shell
#   cargo test --locked --features tch
#
# The venv lives in $SOUNDCLASS_LIBTORCH_VENV (default
# ~/.cache/soundclass/libtorch-2.9.0), shared by every clone. PyPI's Linux
# wheel is the CUDA build: its NVIDIA runtime wheels come along (about 4 GB),
# and LibTorch uses CUDA where a driver and GPU exist, the CPU otherwise.
set -euo pipefail
torch_version=2.9.0
venv=${SOUNDCLASS_LIBTORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/soundclass/libtorch-$torch_version}
mode=${1:-}

installed() {
  [ -x "$venv/bin/python" ] &&
    [ "$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])' 2>/dev/null)" = "$torch_version" ]
}

if ! installed; then
  [ "$mode" = "--env" ] && { echo "LibTorch $torch_version is not installed in $venv: run scripts/setup_libtorch.sh first" >&2; exit 1; }
  echo "installing torch==$torch_version into $venv ..." >&2
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip >&2
  # numpy: scripts/torch_reference.py runs on this same LibTorch for
  # `bench train --device tch` comparisons.
  "$venv/bin/python" -m pip install -q "torch==$torch_version" numpy >&2
  installed || { echo "torch $torch_version did not import from $venv" >&2; exit 1; }
fi

torch_lib=$("$venv/bin/python" -c 'import torch, os; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
# torch-sys's build script asks the venv's python for LibTorch's headers and
# libraries (LIBTORCH_USE_PYTORCH); the binary finds libtorch*.so through
# LD_LIBRARY_PATH (the wheel's own rpath points its NVIDIA libraries).
cat <<EOF
export VIRTUAL_ENV="$venv"
export PATH="$venv/bin:\$PATH"
export LIBTORCH_USE_PYTORCH=1
export LD_LIBRARY_PATH="$torch_lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
EOF
if [ "$mode" != "--env" ]; then
  echo "# LibTorch $torch_version ready. Export the lines above, e.g.:" >&2
  echo "#   eval \"\$(scripts/setup_libtorch.sh --env)\" && cargo build --locked --features tch" >&2
fi
