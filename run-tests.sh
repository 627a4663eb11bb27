#!/usr/bin/env bash
# The test command: make sure the tools and .venv are there, then run the suite
# on both cores. Platform data comes from $EDA_PLATFORMS_DIR (or ../shared/platforms).
set -euo pipefail
cd "$(dirname "$0")"
./install.sh
if [ -z "${EDA_PLATFORMS_DIR:-}" ] && [ -d ../shared/platforms ]; then
    export EDA_PLATFORMS_DIR="$(cd ../shared/platforms && pwd)"
fi
# The layering (docs/architecture.md): no import points up a layer or across backends.
.venv/bin/lint-imports --no-cache
# Coverage is measured on the whole package; the method layer (pure numpy/pandas) is reported
# on its own, file by file, then the total.
.venv/bin/python -m pytest -n 2 -q --cov=eda --cov-report= "$@"
.venv/bin/python -m coverage report --include='eda/method/*' --skip-covered --sort=cover | tail -n 25
.venv/bin/python -m coverage report | tail -n 1
