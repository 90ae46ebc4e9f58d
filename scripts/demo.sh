#!/usr/bin/env bash
# The main job on a bundled example: import the trained digits CNN, inspect it, run it
# with the engine and with the reference interpreter, and check that both give the same
# bits for every thread count; then sign a receipt and verify it, catch a cheat, and
# prove the inference so that it checks without re-running the model.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q -p verity-cli
verity=target/release/verity
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

echo "== import fixtures/cnn_digits.onnx (calibrated on 32 training images)"
"$verity" import fixtures/cnn_digits.onnx --calibration fixtures/cnn_digits.calibration.json -o "$out/cnn.vrt"
echo
echo "== inspect"
"$verity" inspect "$out/cnn.vrt"
echo
echo "== run (engine)"
"$verity" run "$out/cnn.vrt" --input fixtures/cnn_digits.input.json
echo
echo "== same bits from the reference interpreter and from 1 and 2 engine threads"
a=$("$verity" run "$out/cnn.vrt" --input fixtures/cnn_digits.input.json --json --reference)
b=$("$verity" run "$out/cnn.vrt" --input fixtures/cnn_digits.input.json --json --threads 1)
c=$("$verity" run "$out/cnn.vrt" --input fixtures/cnn_digits.input.json --json --threads 2)
[ "$a" = "$b" ] && [ "$b" = "$c" ] || { echo "MISMATCH"; exit 1; }
echo "identical: $(echo "$a" | grep -o '"output_hash":"[0-9a-f]*"')"
echo
echo "== a signed receipt, checked by re-execution"
VERITY_KEY="$out/executor.key" "$verity" run "$out/cnn.vrt" --input fixtures/cnn_digits.input.json --receipt "$out/receipt.json" --new-key >/dev/null
"$verity" verify --receipt "$out/receipt.json" --model "$out/cnn.vrt" --input fixtures/cnn_digits.input.json
echo
echo "== an executor that changed one weight, caught by a bisection dispute"
"$verity" dispute "$out/cnn.vrt" --input fixtures/cnn_digits.input.json --cheat weight
echo
echo "== a proof of the inference, checked without re-running the model"
"$verity" prove "$out/cnn.vrt" --input fixtures/cnn_digits.input.json -o "$out/cnn.proof" >/dev/null
"$verity" verify --proof "$out/cnn.proof" --model "$out/cnn.vrt"
