#!/usr/bin/env bash
# Load benchmark of forwarding (not a test): POST /v1/infer sent to an executor directly
# versus sent to an entry node that does not hold the model and forwards each request over
# libp2p to that executor, with the load generator of bench/node_load.sh (wrk, closed loop,
# each request a different input so every receipt is a distinct row).
#
#   bash bench/net_forward.sh [SECONDS_PER_RUN]      (default 10)
#
# Two release nodes on loopback: B (executor, holds the digits CNN) and A (entry, knows B
# only through the p2p network: it bootstraps from B and finds B among the DHT providers
# of the model). The receipts are B's in both cases. Everything shares this machine's
# cores with wrk.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}

command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
source bench/node_common.sh

b_p2p=$(free_port)
start_node --max-queue 1024 --role executor --p2p-listen "/ip4/127.0.0.1/tcp/$b_p2p"
direct=$url

"$verity" node --data "$work/a" --listen 127.0.0.1:0 --api-key bench --max-queue 1024 --role executor \
  --p2p-listen "/ip4/127.0.0.1/tcp/$(free_port)" --bootstrap "/ip4/127.0.0.1/tcp/$b_p2p" \
  >"$work/a.out" 2>"$work/a.err" &
entry_pid=$!
trap 'kill -TERM "$entry_pid" 2>/dev/null; wait "$entry_pid" 2>/dev/null; cleanup' EXIT
for _ in $(seq 100); do grep -q listening "$work/a.out" 2>/dev/null && break; sleep 0.1; done
entry=$(grep -o 'http://[0-9.:]*' "$work/a.out") || { cat "$work/a.err" >&2; exit 1; }

body="{\"model_id\":\"$id\",\"evidence\":\"receipt\",\"input\":{\"input_data\":[[$pixels]]}}"
for _ in $(seq 300); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d "$body" "$entry/v1/infer" || true)
  [ "$code" = 200 ] && break
  sleep 0.1
done
[ "$code" = 200 ] || { echo "the entry node never forwarded (last status $code)" >&2; tail -5 "$work/a.err" >&2; exit 1; }
executed_by=$(curl -s -D - -o /dev/null -H 'Content-Type: application/json' -d "$body" "$entry/v1/infer" |
  awk -F': ' 'tolower($1) == "x-verity-executed-by" {print $2}' | tr -d '\r')
echo "entry $entry forwards to executor $direct (x-verity-executed-by: $executed_by)"

write_infer_lua 4
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}'; }

declare -A rps
printf '%-8s %-9s %6s %12s %10s %10s %8s\n' evidence path conns "requests/s" "p50 ms" "p99 ms" non-2xx
for evidence in none receipt; do
  for c in 1 16 64; do
    t=$(( c < 2 ? 1 : 2 ))
    for path in direct entry; do
      target=$direct
      [ "$path" = entry ] && target=$entry
      EVIDENCE=$evidence wrk -t"$t" -c"$c" -d"${secs}s" --latency -s "$work/infer.lua" "$target" >"$work/wrk.txt"
      r=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
      p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt" | to_ms)
      p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt" | to_ms)
      bad=$(awk '/Non-2xx/ {print $5}' "$work/wrk.txt"); bad=${bad:-0}
      rps[$evidence,$c,$path]=$r
      printf '%-8s %-9s %6s %12s %10s %10s %8s\n' "$evidence" "$path" "$c" "$r" "$p50" "$p99" "$bad"
    done
  done
done
for evidence in none receipt; do
  for c in 1 16 64; do
    awk -v e="$evidence" -v c="$c" -v a="${rps[$evidence,$c,entry]}" -v b="${rps[$evidence,$c,direct]}" \
      'BEGIN {printf "forwarded/direct throughput, evidence %s, %s connections: %.2f\n", e, c, a / b}'
  done
done
curl -s "$entry/metrics" | awk '$1 ~ /^verity_net_events_total\{event="forwarded/ {print "entry node: " $0}'
echo "$(nproc) cores shared by both nodes and wrk"
