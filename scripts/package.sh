#!/usr/bin/env bash
# Builds the npm package of the client library (FerroSocket, ReconnectingSocket,
# ChatClient) into crate-client/pkg, ready for `npm publish` or `npm pack`.
#
# One wasm-pack `--target web` build, its names between module and glue shortened
# (scripts/shorten-names.mjs), plus an entry module (index.js) that instantiates
# the WebAssembly module on import with top-level await, so that neither a bundler user
# nor a plain <script type="module"> page calls init(). Why not `--target bundler`: its
# `import * as wasm from "./x_bg.wasm"` needs the WebAssembly/ES module integration, which
# esbuild lacks and webpack and Vite enable only with extra configuration, and a browser
# cannot load it at all; `new URL("x_bg.wasm", import.meta.url)` (what --target web
# fetches) works unbundled, and webpack, Vite, Parcel copy the file by themselves.
#
# The package's entry points (package.json `exports`):
#   "ferrosocket"            index.js: ready on import (no init())
#   "ferrosocket/init"       ferrosocket.js: the raw module; call init(urlOrBytes) yourself
#                            (a wasm file served from elsewhere, initSync in a worker)
#   "ferrosocket/ferrosocket_bg.wasm"  the WebAssembly file, to copy or import as a URL
#   "ferrosocket/sockets", "ferrosocket/sockets/init", "ferrosocket/sockets/ferrosocket_bg.wasm"
#                            the same for a second module without ChatClient (cargo feature
#                            `js-chat` off): 38.9 KiB gzipped instead of 59.7 (scripts/wasm-size.sh)
#
# Usage: scripts/package.sh [--dev] [--out-dir DIR]   (default crate-client/pkg)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"

profile=(--profile wasm-release)
out="$root/crate-client/pkg"
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) profile=(--dev); shift ;;
    --out-dir) out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    *) echo "unknown argument: $1 (usage: scripts/package.sh [--dev] [--out-dir DIR])" >&2; exit 2 ;;
  esac
done

echo "==> wasm-pack build crate-client ${profile[*]} --target web --out-dir $out"
# Without the `app` feature: a library user's module carries only the socket layers.
build_wasm_package "$out" "${profile[@]}"

sockets=(--no-default-features --features js)
echo "==> wasm-pack build crate-client ${profile[*]} --target web --out-dir $out/sockets -- ${sockets[*]}"
build_wasm_package "$out/sockets" "${profile[@]}" -- "${sockets[@]}"
# Only the module: the package's own files are written below.
rm -f "$out/sockets/package.json" "$out/sockets/README.md" "$out/sockets/.gitignore"

echo "==> writing the auto-initialising entries and package.json"
cp "$root/crate-client/npm/index.js" "$root/crate-client/npm/index.d.ts" "$root/crate-client/npm/README.md" "$out/"
# The same entry for the module without ChatClient, naming its own paths.
for file in index.js index.d.ts; do
  sed -e 's|The package.s main entry ("ferrosocket")|The package'"'"'s "ferrosocket/sockets" entry (FerroSocket and ReconnectingSocket, no ChatClient)|' \
      -e 's|node_modules/ferrosocket/ferrosocket_bg.wasm|node_modules/ferrosocket/sockets/ferrosocket_bg.wasm|' \
      -e 's|"ferrosocket/init"|"ferrosocket/sockets/init"|' \
      "$root/crate-client/npm/$file" > "$out/sockets/$file"
done
# wasm-pack's .gitignore ("*") would make `npm pack` from a git checkout skip everything.
rm -f "$out/.gitignore"
# wasm-bindgen declares `[Symbol.dispose]()`: name the lib that types it, so that a strict
# project whose `lib` stops at es2022 type-checks the package without skipLibCheck.
for types in "$out/ferrosocket.d.ts" "$out/sockets/ferrosocket.d.ts"; do
  if ! grep -q 'reference lib="esnext.disposable"' "$types"; then
    { echo '/// <reference lib="esnext.disposable" />'; cat "$types"; } > "$types.new"
    mv "$types.new" "$types"
  fi
done
node "$root/crate-client/npm/package-json.mjs" "$out/package.json"

echo "==> $out: $(cd "$out" && npm pack --dry-run --json 2>/dev/null | node -e '
  const [info] = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(`${info.name}@${info.version}, ${info.entryCount} files, ${(info.size / 1024).toFixed(1)} KiB packed`);
')"
