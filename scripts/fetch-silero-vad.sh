#!/usr/bin/env bash
# Installs the PyPI package silero-vad (its ONNX voice-activity models, 1-3 MB each)
# outside the repository, without its dependencies, and prints the directory holding the
# .onnx files. Usage: scripts/fetch-silero-vad.sh [DIR]
set -euo pipefail
dir="${1:-${VERITY_MODEL_CACHE:-$HOME/.cache/verity-models}}"
data="$dir/pkg/silero_vad/data"
if [ ! -f "$data/silero_vad_op18_ifless.onnx" ]; then
  python3 -m pip install --quiet --no-deps --target "$dir/pkg" silero-vad==6.2.3 >&2
fi
echo "$data"
