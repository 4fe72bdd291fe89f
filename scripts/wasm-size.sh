#!/usr/bin/env bash
# Measures the wasm modules users ship, raw and gzipped, each with its JavaScript:
#   socket-only     examples/size_socket_only.rs: ferrosocket's socket layer alone
#   gloo-net        examples/size_gloo_net.rs: the same work with gloo-net's WebSocket
#   sockets         the library with FerroSocket and ReconnectingSocket, without ChatClient
#                   (--no-default-features --features js)
#   library         the whole client library with its JS classes, without the chat page
#   chat-page       what www/index.html loads (--features app)
# Every module goes through the pipeline of our packages (scripts/package.sh, scripts/run.sh):
# cargo's `wasm-release` profile (opt-level z, LTO), wasm-bindgen --target web, wasm-opt with
# the arguments wasm-pack uses (crate-client/Cargo.toml, package.metadata.wasm-pack), then
# scripts/shorten-names.mjs (the names between the module and its glue), gzip -9.
#
# The JavaScript counted is all of it: wasm-bindgen's glue and the snippets it imports
# (our classes' JS in crate-client/js/), in two forms:
#   js          as wasm-bindgen writes it (comments, whitespace, long names)
#   js-min      bundled into one file and minified by esbuild, as a bundler ships it
# `total` is wasm + js-min, gzipped: what a page built with a bundler downloads.
# `long-names` is the same total before shorten-names.mjs: what `wasm-pack build --profile
# wasm-release` of the crate gives (wasm-pack has no such step; a plain `wasm-pack build` uses
# cargo's `release` profile, opt-level 3, and gives more).
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

# wasm-pack's wasm-opt arguments for `--profile wasm-release`, from crate-client/Cargo.toml.
mapfile -t wasm_opt_args < <(sed -n '/^\[package.metadata.wasm-pack.profile.custom\]/,/^wasm-opt/s/^wasm-opt = //p' \
  crate-client/Cargo.toml | node -e 'for (const arg of JSON.parse(require("fs").readFileSync(0, "utf8"))) console.log(arg)')
[ ${#wasm_opt_args[@]} -gt 0 ] || { echo "no wasm-opt arguments in crate-client/Cargo.toml" >&2; exit 1; }

# minify NAME DIR: the glue and its snippets bundled and minified by esbuild into $out/NAME.min.js.
minify() {
  "$esbuild" "$2/module.js" --bundle --minify --format=esm --log-level=warning --outfile="$out/$1.min.js"
}

# measure NAME WASM: bindgen + wasm-opt, then print the sizes.
measure() {
  local name="$1" wasm="$2" dir="$out/$1"
  wasm-bindgen --target web --out-dir "$dir" --out-name module "$wasm"
  wasm-opt "${wasm_opt_args[@]}" -o "$dir/module_bg.wasm" "$dir/module_bg.wasm"
  minify "$name-long" "$dir"
  local long_gz=$(($(gz "$dir/module_bg.wasm") + $(gz "$out/$name-long.min.js")))
  node scripts/shorten-names.mjs "$dir/module.js" >/dev/null
  minify "$name" "$dir"
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
  printf '%-12s wasm %7d B (%6d B gz)   js %6d B (%5d B gz)   js-min %6d B (%5d B gz)   total %6.1f KiB gz   long-names %6.1f KiB gz\n' \
    "$name" "$(wc -c <"$w")" "$w_gz" "$js_bytes" "$js_gz" "$min_bytes" "$min_gz" \
    "$(awk "BEGIN { print ($w_gz + $min_gz) / 1024 }")" "$(awk "BEGIN { print $long_gz / 1024 }")"
  echo "RESULT scenario=size module=$name wasm_bytes=$(wc -c <"$w") wasm_gz=$w_gz js_bytes=$js_bytes js_gz=$js_gz js_min_bytes=$min_bytes js_min_gz=$min_gz total_gz=$((w_gz + min_gz)) long_names_gz=$long_gz"
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
