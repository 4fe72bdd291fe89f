#!/usr/bin/env bash
# Measures the wasm modules users ship, raw and gzipped, each with its JS glue:
#   socket-only     examples/size_socket_only.rs: ferrosocket's socket layer alone
#   gloo-net        examples/size_gloo_net.rs: the same work with gloo-net's WebSocket
#   library         the whole client library with its JS classes, without the chat page
#   chat-page       what www/index.html loads (--features app)
# Every module goes through the same pipeline: cargo's `wasm-release` profile (opt-level z,
# LTO), wasm-bindgen --target web, wasm-opt -Oz, gzip -9.
#
# Usage: scripts/wasm-size.sh    prints a table and one `RESULT scenario=size ...` line each
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/env.sh
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
target=target/wasm32-unknown-unknown/wasm-release
build=(cargo build -q --locked --profile wasm-release --target wasm32-unknown-unknown -p ferrosocket)

gz() { gzip -9 -c "$1" | wc -c; }

# measure NAME WASM: bindgen + wasm-opt, then print the sizes.
measure() {
  local name="$1" wasm="$2"
  wasm-bindgen --target web --out-dir "$out/$name" --out-name module "$wasm"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals -o "$out/$name/module_bg.wasm" "$out/$name/module_bg.wasm"
  local w="$out/$name/module_bg.wasm" j="$out/$name/module.js"
  printf '%-12s wasm %7d B (%6d B gz)   js %6d B (%5d B gz)   total %6.1f KiB gz\n' \
    "$name" "$(wc -c <"$w")" "$(gz "$w")" "$(wc -c <"$j")" "$(gz "$j")" \
    "$(awk "BEGIN { print ($(gz "$w") + $(gz "$j")) / 1024 }")"
  echo "RESULT scenario=size module=$name wasm_bytes=$(wc -c <"$w") wasm_gz=$(gz "$w") js_bytes=$(wc -c <"$j") js_gz=$(gz "$j")"
}

echo "==> building the modules (profile wasm-release)"
"${build[@]}" --no-default-features --example size_socket_only --example size_gloo_net
"${build[@]}" --lib
cp "$target/ferrosocket.wasm" "$out/library.wasm"
"${build[@]}" --lib --features app
cp "$target/ferrosocket.wasm" "$out/chat-page.wasm"

measure socket-only "$target/examples/size_socket_only.wasm"
measure gloo-net "$target/examples/size_gloo_net.wasm"
measure library "$out/library.wasm"
measure chat-page "$out/chat-page.wasm"
