#!/usr/bin/env bash
# Runs the app: set-up, build the wasm package into www/pkg, start the server, print the URL.
#
# Usage: scripts/run.sh [--port N] [any ferrosocket-server flag...]
#   PORT=N scripts/run.sh   also works; the default port is 8080.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

port="${PORT:-8080}"
if [ "${1:-}" = "--port" ]; then port="$2"; shift 2; fi

scripts/setup.sh
source scripts/env.sh

echo "==> building the wasm package (wasm-pack build crate-client --profile wasm-release --target web --out-dir ../www/pkg -- --features app)"
# Then the names between the module and its glue shortened (about 7 KiB gzipped less).
build_wasm_package www/pkg --profile wasm-release -- --features app

echo "==> building the server"
cargo build --release -p ferrosocket-server

echo "==> starting the server; open the URL below (Ctrl-C stops it)"
exec target/release/ferrosocket-server --addr "127.0.0.1:$port" --www www "$@"
