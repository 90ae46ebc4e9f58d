#!/usr/bin/env bash
# What a large receipt store costs the node at startup (a benchmark, not a test): fills a
# store with receipts for SECONDS (wrk, 256 connections, distinct inputs), stops the node,
# then restarts it three times and reports how long it takes to serve again (the receipt
# id index is rebuilt in memory from `receipt_ids`), its resident memory, and the database
# size. A fresh node's memory is printed for comparison.
#
#   bash bench/node_index.sh [SECONDS]      (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-40}

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
source bench/node_common.sh
start_node --max-queue 1024
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2 / 1024}' "/proc/$node_pid/status"; }
echo "fresh node with one model: $(rss)"

write_infer_lua 6
EVIDENCE=receipt wrk -t2 -c256 -d"${secs}s" -s "$work/infer.lua" "$url" >/dev/null
kill -TERM "$node_pid"; wait "$node_pid" || true
echo "database: $(du -m "$work/data/verity.redb" | cut -f1) MiB"

for i in 1 2 3; do
  start=$(date +%s%N)
  "$verity" node --data "$work/data" --listen 127.0.0.1:0 --api-key bench >"$work/node.out" 2>"$work/node.err" &
  node_pid=$!
  until grep -q listening "$work/node.out" 2>/dev/null; do sleep 0.005; done
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  echo "restart $i: serving after $ms ms with $(grep -o '[0-9]* receipts' "$work/node.err" | head -1); $(rss)"
  kill -TERM "$node_pid"; wait "$node_pid" || true
done
node_pid=
