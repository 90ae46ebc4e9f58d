# Sourced by the node benchmarks. `start_node [FLAGS...]` builds the release CLI, starts
# `verity node` on 127.0.0.1 with a fresh data directory and FLAGS, publishes the digits
# CNN (ONNX + calibration) and sets `verity`, `work`, `url`, `id` (the model id) and
# `pixels` (the fixture input's 64 values, comma-separated). The node is stopped and the
# data removed on exit. `write_infer_lua K` then writes `$work/infer.lua`, a wrk script
# posting inferences with evidence `$EVIDENCE`, each with K random pixels (0..16) so that
# inputs, and so receipts, differ.

cleanup() {
  [ -n "${node_pid:-}" ] && kill -TERM "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
  [ -n "${work:-}" ] && rm -rf "$work"
}

start_node() {
  cargo build --release --locked -q -p verity-cli
  verity=target/release/verity
  work=$(mktemp -d)
  trap cleanup EXIT
  "$verity" node --data "$work/data" --listen 127.0.0.1:0 --api-key bench "$@" >"$work/node.out" 2>"$work/node.err" &
  node_pid=$!
  for _ in $(seq 100); do grep -q listening "$work/node.out" 2>/dev/null && break; sleep 0.1; done
  url=$(grep -o 'http://[0-9.:]*' "$work/node.out") || { cat "$work/node.err" >&2; return 1; }
  id=$(VERITY_CACHE="$work/cache" "$verity" publish --node "$url" fixtures/cnn_digits.onnx \
    --calibration fixtures/cnn_digits.calibration.json --api-key bench 2>/dev/null)
  pixels=$(sed -e 's/.*\[\[//' -e 's/\]\].*//' fixtures/cnn_digits.input.json)
}

write_infer_lua() {
  cat >"$work/infer.lua" <<EOF
local evidence = os.getenv("EVIDENCE")
local pixels = {}
for v in string.gmatch("$pixels", "[^,]+") do pixels[#pixels + 1] = v end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
function setup(thread) thread:set("seed", math.random(1, 1e9)) end
function init(args) math.randomseed(seed) end
function request()
  for i = 1, $1 do pixels[i * 9] = tostring(math.random(0, 16)) .. ".0" end
  local body = '{"model_id":"$id","evidence":"' .. evidence .. '","input":{"input_data":[[' .. table.concat(pixels, ",") .. ']]}}'
  return wrk.format(nil, "/v1/infer", nil, body)
end
EOF
}
