#!/usr/bin/env bash
# Measures the wasm modules users ship, raw and gzipped, each with its JavaScript:
#   socket-only     examples/size_socket_only.rs: ferrosocket's socket layer alone
#   gloo-net        examples/size_gloo_net.rs: the same work with gloo-net's WebSocket
#   sockets         the library with FerroSocket and ReconnectingSocket, without ChatClient
#                   (--no-default-features --features js)
#   library         the whole client library with its JS classes, without the chat page
#   chat-page       what www/index.html loads (--features app)
# Every module goes through the same pipeline: cargo's `wasm-release` profile (opt-level z,
# LTO), wasm-bindgen --target web, wasm-opt -Oz, gzip -9.
#
# The JavaScript counted is all of it: wasm-bindgen's glue and the snippets it imports
# (our classes' JS in crate-client/js/), in two forms:
#   js          as wasm-bindgen writes it (comments, whitespace, long names)
#   js-min      bundled into one file and minified by esbuild, as a bundler ships it
# `total` is wasm + js-min, gzipped: what a page built with a bundler downloads.
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
esbuild="$root/tests/interop/node_modules/.bin/esbuild"
[ -x "$esbuild" ] || { echo "esbuild missing: run scripts/setup.sh (npm ci in tests/interop)" >&2; exit 1; }

gz() { gzip -9 -c "$@" | wc -c; }

# measure NAME WASM: bindgen + wasm-opt, then print the sizes.
measure() {
  local name="$1" wasm="$2" dir="$out/$1"
  wasm-bindgen --target web --out-dir "$dir" --out-name module "$wasm"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals -o "$dir/module_bg.wasm" "$dir/module_bg.wasm"
  "$esbuild" "$dir/module.js" --bundle --minify --format=esm --log-level=warning \
    --outfile="$out/$name.min.js"
  local w="$dir/module_bg.wasm" min="$out/$name.min.js" js
  # The glue first, then its snippets, in a stable order.
  js=("$dir/module.js")
  if [ -d "$dir/snippets" ]; then
    while IFS= read -r file; do js+=("$file"); done < <(find "$dir/snippets" -name '*.js' | LC_ALL=C sort)
  fi
  local w_gz js_bytes js_gz min_bytes min_gz
  w_gz="$(gz "$w")"
  js_bytes="$(cat "${js[@]}" | wc -c)"
  js_gz="$(cat "${js[@]}" | gz)"
  min_bytes="$(wc -c <"$min")"
  min_gz="$(gz "$min")"
  printf '%-12s wasm %7d B (%6d B gz)   js %6d B (%5d B gz)   js-min %6d B (%5d B gz)   total %6.1f KiB gz\n' \
    "$name" "$(wc -c <"$w")" "$w_gz" "$js_bytes" "$js_gz" "$min_bytes" "$min_gz" \
    "$(awk "BEGIN { print ($w_gz + $min_gz) / 1024 }")"
  echo "RESULT scenario=size module=$name wasm_bytes=$(wc -c <"$w") wasm_gz=$w_gz js_bytes=$js_bytes js_gz=$js_gz js_min_bytes=$min_bytes js_min_gz=$min_gz total_gz=$((w_gz + min_gz))"
}

echo "==> building the modules (profile wasm-release)"
"${build[@]}" --no-default-features --example size_socket_only --example size_gloo_net
"${build[@]}" --lib --no-default-features --features js
cp "$target/ferrosocket.wasm" "$out/sockets.wasm"
"${build[@]}" --lib
cp "$target/ferrosocket.wasm" "$out/library.wasm"
"${build[@]}" --lib --features app
cp "$target/ferrosocket.wasm" "$out/chat-page.wasm"

measure socket-only "$target/examples/size_socket_only.wasm"
measure gloo-net "$target/examples/size_gloo_net.wasm"
measure sockets "$out/sockets.wasm"
measure library "$out/library.wasm"
measure chat-page "$out/chat-page.wasm"
