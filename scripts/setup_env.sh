#!/usr/bin/env bash
# Creates (or reuses) a virtual environment and installs the package into it. Sourced by main.sh and test.sh.
# TORCH_SPEC picks the torch build: the default pins the CPU wheel this project is tested with; on a GPU machine
# use e.g. TORCH_SPEC="torch==2.13.0" with your CUDA index, or an already installed torch ("torch").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
EXTRAS="${EXTRAS:-test}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --disable-pip-version-check "$TORCH_SPEC"
"$PY" -m pip install --quiet --disable-pip-version-check -e ".[$EXTRAS]"
