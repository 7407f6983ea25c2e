#!/usr/bin/env bash
# The test suite, from a fresh clone: makes .venv, installs the package with its test extras, checks formatting and
# lint (ruff, configured in pyproject.toml), checks that the README's performance table is the newest results', and
# runs pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
"$VENV/bin/ruff" format --check --quiet .
"$VENV/bin/ruff" check --quiet .
"$PY" benchmarks/readme_table.py --check
"$PY" -m pytest -q -p no:cacheprovider "$@"
