#!/usr/bin/env bash
# Regenerates the README's screenshots of the chat page: docs/screenshots/
# {desktop,phone}-{light,dark}.png, taken in headless Chromium from the real page served by
# the real server, with a short real conversation (tests/src/bin/screenshots.rs).
#
# Usage: scripts/screenshots.sh [OUTPUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh

build_wasm_package www/pkg --dev -- --features app
cargo build --locked -p ferrosocket-server -p ferrosocket-e2e --bin ferrosocket-server --bin screenshots
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
FERROSOCKET_SERVER_BIN="$bin/ferrosocket-server" "$bin/screenshots" "$@"
