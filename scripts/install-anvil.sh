#!/usr/bin/env bash
# Installs the pinned anvil (local EVM chain) that the settlement tests start:
# tools/anvil/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil. Needs Node.js with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
npm ci --prefix tools/anvil --silent --no-audit --no-fund
tools/anvil/node_modules/.bin/anvil --version | head -1
