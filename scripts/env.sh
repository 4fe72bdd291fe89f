# Sourced by the project's scripts: puts the tools the set-up installs on PATH, and selects
# Debian's rustc when rustup's toolchain has no wasm32 standard library but the set-up's
# verified fallback built one (see scripts/setup.sh).
export PATH="$HOME/.cargo/bin:$(npm prefix -g 2>/dev/null || echo /usr/local)/bin:$PATH"
if ! ls "$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)"/libstd-*.rlib >/dev/null 2>&1 \
   && ls /usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib >/dev/null 2>&1; then
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
fi

# build_wasm_package OUT [wasm-pack build options] [-- cargo options]: the client crate built
# by wasm-pack (--target web) into OUT, then the names between its module and glue shortened
# (scripts/shorten-names.mjs): how every package we ship or test is built (the npm package,
# www/pkg), so that what the tests load is what scripts/wasm-size.sh measures.
build_wasm_package() {
  local out="$1" scripts
  shift
  scripts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  mkdir -p "$out"
  out="$(cd "$out" && pwd)"
  wasm-pack build "$scripts/../crate-client" --target web --out-dir "$out" "$@"
  node "$scripts/shorten-names.mjs" "$out/ferrosocket.js"
}
