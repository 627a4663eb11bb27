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
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip >/dev/null
    .venv/bin/python -m pip install -q -e ".[test]"
    touch "$stamp"
fi
