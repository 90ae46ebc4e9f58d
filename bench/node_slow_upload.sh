#!/usr/bin/env bash
# Memory the node holds under an upload attack (not a test): 40 slow 30 MB uploads, then
# 12 concurrent 28 MB /v1/audit bodies, against (1) a node with the memory bounds lifted
# (--max-inflight-bytes 8 GiB, --max-connections 100000: bodies are buffered as they come,
# as before the bounds existed) and (2) the default bounds. Both runs set --max-input-body
# 32 MiB so that the uploads are not simply refused as too large (the default 8 MiB would
# answer them all with 413 from their headers). Reports the node's resident memory before
# and at its peak, the worst /health latency seen meanwhile, and the answers.
#
#   bash bench/node_slow_upload.sh [SLOW_SECONDS]     (default 20)
#
# Loopback only; bounded (each phase stops after SLOW_SECONDS + 60 s); the node is stopped
# and its data removed on exit. Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
source bench/node_common.sh

run() {
  local label=$1; shift
  start_node --max-input-body 33554432 "$@"
  echo "== $label: verity node $*"
  python3 bench/slow_upload.py "$node_pid" "$url" slow 40 30 "$secs"
  python3 bench/slow_upload.py "$node_pid" "$url" burst 12 28
  cleanup
  node_pid=
}

run "bounds lifted" --max-inflight-bytes 8589934592 --max-connections 100000 --body-timeout 3600
run "default bounds"
