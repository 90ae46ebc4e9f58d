#!/usr/bin/env bash
# Proof-job throughput of a Verity node (a benchmark, not a test): how fast `zk` answers
# turn into stored proofs.
#
#   bash bench/node_proofs.sh [JOBS]      (default 40, at most 289)
#
# Builds the release CLI, starts `verity node` on 127.0.0.1 with a fresh data directory,
# publishes fixtures/cnn_digits.onnx, then submits JOBS inferences with evidence "zk", each
# on a different input, as fast as curl can, and times them until the node reports every
# proof made (`verity_proofs_made_total`). The node proves one job at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-40}

source bench/node_common.sh
start_node
made() { curl -s "$url/metrics" | awk '$1 == "verity_proofs_made_total" {print $2}'; }

rest=${pixels#*,}; rest=${rest#*,}
start=$(date +%s.%N)
for i in $(seq "$jobs"); do
  # The first two pixels (whole numbers, 0..16) make every input, so every job, distinct.
  body="{\"model_id\":\"$id\",\"evidence\":\"zk\",\"input\":{\"input_data\":[[$((i % 17)),$((i / 17 % 17)),$rest]]}}"
  curl -s -H 'Content-Type: application/json' -d "$body" "$url/v1/infer" | grep -o '"proof_job":"[0-9a-f]*"' >>"$work/jobs" ||
    { echo "job $i was not accepted" >&2; exit 1; }
done
queued=$(date +%s.%N)
distinct=$(sort -u "$work/jobs" | wc -l)
[ "$distinct" = "$jobs" ] || { echo "only $distinct distinct jobs of $jobs" >&2; exit 1; }
for _ in $(seq 6000); do [ "$(made)" -ge "$jobs" ] && break; sleep 0.02; done
[ "$(made)" -ge "$jobs" ] || { echo "timed out: $(made) of $jobs proofs made" >&2; exit 1; }
done_at=$(date +%s.%N)
failed=$(curl -s "$url/metrics" | awk '$1 == "verity_proof_jobs_failed_total" {print $2}')
awk -v n="$jobs" -v s="$start" -v q="$queued" -v d="$done_at" -v f="$failed" 'BEGIN {
  printf "%d zk jobs accepted in %.2f s; all proved and stored after %.2f s: %.1f proofs/s, %.1f ms per proof (%d failed)\n",
    n, q - s, d - s, n / (d - s), 1000 * (d - s) / n, f }'
