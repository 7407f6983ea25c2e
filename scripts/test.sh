#!/usr/bin/env bash
# The test suite, from a fresh clone: makes .venv, installs the package with its test extras, runs pytest.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
"$PY" -m pytest -q -p no:cacheprovider "$@"
