# Sourced by the project's scripts: puts the tools the set-up installs on PATH, and selects
# Debian's rustc when rustup's toolchain has no wasm32 standard library but the set-up's
# verified fallback built one (see scripts/setup.sh).
export PATH="$HOME/.cargo/bin:$(npm prefix -g 2>/dev/null || echo /usr/local)/bin:$PATH"
if ! ls "$(rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null)"/libstd-*.rlib >/dev/null 2>&1 \
   && ls /usr/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib >/dev/null 2>&1; then
  export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
fi
