#!/usr/bin/env bash
# The main job, end to end on the DNA bundled in data/: build a small NT-v2 model, pretrain it briefly,
# fill-mask and embed. Extra arguments go to examples/quickstart.py (e.g. --max-steps 600).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup_env.sh"
"$PY" examples/quickstart.py "$@"
