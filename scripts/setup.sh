#!/usr/bin/env bash
# Takes a fresh Debian machine to everything this project needs to build, run and test.
#
# Idempotent: every step checks before it installs, says what it does, and a second run
# on a ready machine only prints "ok" lines. A failing step stops the script and names
# itself. Safe unattended (CI=true, no stdin).
#
# Usage: scripts/setup.sh            (run.sh and test.sh call it first)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=scripts/env.sh
source "$root/scripts/env.sh"

current_step=""
step() { current_step="$1"; printf '\033[1m==> %s\033[0m\n' "$1"; }
ok() { printf '    ok: %s\n' "$1"; }
doing() { printf '    installing: %s\n' "$1"; }
trap 'rc=$?; [ $rc -ne 0 ] && printf "\033[31mset-up FAILED at step: %s (exit %s)\033[0m\n" "$current_step" "$rc" >&2' EXIT

installed_anything=0
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  if [ $apt_updated -eq 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
  installed_anything=1
}

# The one wasm-bindgen version: Cargo.toml pins it with `=`, the CLI must match it exactly.
pinned_wasm_bindgen() {
  sed -n 's/^wasm-bindgen *= *{ *version *= *"=\([0-9.]*\)".*/\1/p; s/^wasm-bindgen *= *"=\([0-9.]*\)".*/\1/p' \
    "$root/Cargo.toml" | head -1
}

step "Rust toolchain"
command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2; exit 1; }
ok "$(cargo --version)"

step "Debian packages: Chromium, ChromeDriver, Firefox ESR, Redis, pkg-config (and Node.js if there is none)"
missing=()
for pkg in chromium chromium-driver firefox-esr redis-server pkg-config curl ca-certificates; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
# Node.js runs the build's scripts (shorten-names.mjs), npm installs wasm-opt and the peers.
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
if [ ${#missing[@]} -eq 0 ]; then ok "all present"; else doing "${missing[*]}"; apt_install "${missing[@]}"; fi

step "wasm32-unknown-unknown target"
if rustc --print target-libdir --target wasm32-unknown-unknown 2>/dev/null | xargs -I{} test -d {} \
   && ls "$(rustc --print target-libdir --target wasm32-unknown-unknown)"/libstd-*.rlib >/dev/null 2>&1; then
  ok "installed for $(rustc --version)"
elif command -v rustup >/dev/null && rustup target add wasm32-unknown-unknown; then
  installed_anything=1
  ok "installed with rustup"
else
  # Verified fallback (see docs/TOOLCHAIN.md): Debian's rustc plus a wasm32 std built from source.
  echo "    rustup could not add the target; building it from Debian's rust sources instead"
  apt_install rustc-web cargo-web rust-web-src lld-22
  tmp="$(mktemp -d)"
  (cd "$tmp" && cargo init --lib --name stdbuild -q \
     && RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc cargo test --release --no-run \
        --target wasm32-unknown-unknown -Z build-std=std,panic_abort,panic_unwind,test,proc_macro)
  dest=/usr/lib/rustlib/wasm32-unknown-unknown/lib
  as_root mkdir -p "$dest"
  find "$tmp/target/wasm32-unknown-unknown/release/deps" -name '*.rlib' ! -name 'libstdbuild-*' \
    -exec cp {} "$dest/" \;
  rm -rf "$tmp"
  ok "built; scripts/env.sh now selects /usr/bin/rustc"
fi

want="$(pinned_wasm_bindgen)"
step "wasm-bindgen CLI $want (the version pinned in Cargo.toml)"
[ -n "$want" ] || { echo "could not read the pinned wasm-bindgen version from Cargo.toml" >&2; exit 1; }
have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
if [ "$have" = "$want" ]; then ok "wasm-bindgen $have"; else
  doing "wasm-bindgen-cli $want (found: ${have:-none}; takes a few minutes)"
  cargo install wasm-bindgen-cli --version "$want" --force
  installed_anything=1
fi

step "wasm-pack"
if command -v wasm-pack >/dev/null; then ok "$(wasm-pack --version)"; else
  doing "wasm-pack (takes a few minutes)"
  cargo install wasm-pack
  installed_anything=1
fi

step "wasm-opt (binaryen, from npm: Debian's is too old)"
if command -v wasm-opt >/dev/null && [ "$(wasm-opt --version | grep -o '[0-9]\+' | head -1)" -ge 116 ]; then
  ok "$(wasm-opt --version)"
else
  doing "binaryen"
  npm install -g binaryen
  installed_anything=1
fi

step "geckodriver"
if command -v geckodriver >/dev/null; then ok "$(geckodriver --version | sed -n 1p)"; else
  doing "geckodriver (takes a couple of minutes)"
  cargo install geckodriver
  installed_anything=1
fi

step "interoperability and benchmark peers: Python websockets, Node ws and socket.io; axe-core for the accessibility tests; partysocket for the ReconnectingSocket differential test; esbuild and typescript for the npm package test (tests/interop)"
if python3 -c 'import websockets' 2>/dev/null; then ok "python websockets $(python3 -c 'import websockets; print(websockets.__version__)')"; else
  doing "python websockets (pip)"
  python3 -m pip install --quiet websockets 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages websockets
  installed_anything=1
fi
if [ -f "$root/tests/interop/node_modules/ws/package.json" ] \
   && [ -f "$root/tests/interop/node_modules/socket.io/package.json" ] \
   && [ -f "$root/tests/interop/node_modules/axe-core/axe.min.js" ] \
   && [ -f "$root/tests/interop/node_modules/partysocket/package.json" ] \
   && [ -x "$root/tests/interop/node_modules/.bin/esbuild" ] \
   && [ -x "$root/tests/interop/node_modules/.bin/tsc" ]; then
  ok "node ws, socket.io, partysocket, axe-core, esbuild and typescript (tests/interop/node_modules)"
else
  doing "node ws, socket.io, partysocket, axe-core, esbuild and typescript (npm ci in tests/interop)"
  (cd "$root/tests/interop" && npm ci --silent --no-audit --no-fund)
  installed_anything=1
fi

step "rustfmt and clippy"
if cargo fmt --version >/dev/null 2>&1 && cargo clippy --version >/dev/null 2>&1; then ok "present"; else
  doing "rustfmt clippy"; rustup component add rustfmt clippy; installed_anything=1
fi

if [ $installed_anything -eq 0 ]; then
  echo "set-up: everything was already installed; nothing to do."
else
  echo "set-up: done."
fi
