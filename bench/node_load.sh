#!/usr/bin/env bash
# Load benchmark of a Verity node (not a test): requests/s and latency of POST /v1/infer
# with evidence "none" and "receipt", at 1, 16 and 256 concurrent connections.
#
#   bash bench/node_load.sh [SECONDS_PER_RUN]      (default 10)
#
# Builds the release CLI, starts `verity node` on 127.0.0.1 with a fresh data directory,
# publishes fixtures/cnn_digits.onnx with its calibration file, then drives the node with
# wrk (Debian package `wrk`; installed with apt-get if missing, which needs root). wrk is a
# closed-loop generator: each connection sends its next request when the previous answer
# arrives, so latency includes queueing at the node. Each request carries a different
# input (four random pixels), so every receipt is a distinct row committed to redb.
# Everything runs on this machine: the generator competes with the node for the cores.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
# A queue deep enough for 256 connections: this measures throughput, not 503s (any
# non-2xx answer is reported below).
source bench/node_common.sh
start_node --max-queue 1024

write_infer_lua 4

# wrk prints latency with a unit; normalize to milliseconds.
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }

declare -A rps
printf '%-8s %6s %12s %10s %10s %8s\n' evidence conns "requests/s" "p50 ms" "p99 ms" non-2xx
for evidence in none receipt; do
  for c in 1 16 256; do
    t=$(( c < 2 ? 1 : 2 ))
    EVIDENCE=$evidence wrk -t"$t" -c"$c" -d"${secs}s" --latency -s "$work/infer.lua" "$url" >"$work/wrk.txt"
    r=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt" | to_ms)
    p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt" | to_ms)
    bad=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt"); bad=${bad:-0}
    err=$(grep -o 'Socket errors.*' "$work/wrk.txt" || true)
    rps[$evidence,$c]=$r
    printf '%-8s %6s %12s %10s %10s %8s %s\n' "$evidence" "$c" "$r" "$p50" "$p99" "$bad" "$err"
  done
done
for c in 1 16 256; do
  awk -v c="$c" -v a="${rps[receipt,$c]}" -v b="${rps[none,$c]}" 'BEGIN {printf "receipt/none throughput at %s connections: %.2f\n", c, a / b}'
done
receipts=$(curl -s "$url/v1/info" 2>/dev/null | grep -o '"receipts":[0-9]*' || true)
echo "node: $(nproc) cores shared with wrk; ${receipts:-receipts stored: (curl missing)}"
curl -s "$url/metrics" 2>/dev/null | awk '$1 == "verity_receipts_issued_total" {n = $2} $1 == "verity_receipt_batches_total" {b = $2}
  END {if (b) printf "receipts per group commit (one signature, one fsync): %.1f on average\n", n / b}'
