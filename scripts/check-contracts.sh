#!/usr/bin/env bash
# Compiles contracts/ with the pinned solc and fails if the committed artifacts in
# contracts/out (which the Rust bindings are generated from) differ from a fresh compile.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix contracts --silent --no-audit --no-fund
node contracts/build.mjs --check
