#!/usr/bin/env bash
# Runs the whole test suite: set-up, lints, server and end-to-end tests, the browser
# tests in headless Chromium and headless Firefox against the real server, and a smoke run
# of every benchmark scenario.
#
# Usage: scripts/test.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

scripts/setup.sh
source scripts/env.sh

results="$(mktemp)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -f "$results"
}
trap cleanup EXIT

section() { printf '\n\033[1m==> %s\033[0m\n' "$1"; }
# Runs a test command, echoing its output and keeping its "test result" lines.
run_tests() {
  local label="$1" output rc; shift
  output="$(mktemp)"
  set +e
  "$@" 2>&1 | tee "$output"
  rc="${PIPESTATUS[0]}"
  set -e
  grep -E '^test result:' "$output" | sed "s/^/$label: /" >> "$results" || true
  rm -f "$output"
  return "$rc"
}

section "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p ferrosocket --target wasm32-unknown-unknown --all-targets --all-features --locked -- -D warnings
# The module without ChatClient (cargo feature `js-chat` off), which users may build.
cargo clippy -p ferrosocket --target wasm32-unknown-unknown --all-targets --no-default-features --features js --locked -- -D warnings
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked -q

section "the build step that shortens the names between a wasm module and its glue"
shorten_out="$(node --test scripts/shorten-names.test.mjs 2>&1)" || { echo "$shorten_out"; exit 1; }
echo "$shorten_out" | grep -E '^# (tests|pass|fail) '
echo "shorten-names: test result: ok. $(sed -n 's/^# pass //p' <<<"$shorten_out") passed" >> "$results"

section "building the wasm package into www/pkg, the npm package into crate-client/pkg, and the server"
# As scripts/run.sh builds it (names shortened), in the dev profile.
build_wasm_package www/pkg --dev -- --features app
# The npm package, built as it is published (release profile); tests/tests/npm_package.rs
# installs it into an app, bundles it with esbuild and loads it in both browsers.
scripts/package.sh
cargo build --locked -p ferrosocket-server
export FERROSOCKET_SERVER_BIN="$root/target/debug/ferrosocket-server"
export FERROSOCKET_WWW="$root/www"

section "unit, server, interoperability and scale-out tests (cargo test)"
run_tests "cargo" cargo test --workspace --exclude ferrosocket-e2e --locked

section "end-to-end tests: the server binary and real pages in Chromium and Firefox"
# One at a time: each test drives several real browsers, and two machines' worth of them
# at once on two cores makes timing-sensitive pages flaky.
run_tests "e2e" cargo test -p ferrosocket-e2e --locked -- --test-threads 1

section "starting the server on a free port for the browser tests"
log="$(mktemp)"
# wasm-bindgen-test-runner serves the tests from its own origin on a random port, so this
# server must accept any Origin (only here: by default only its own origin may connect).
"$FERROSOCKET_SERVER_BIN" --addr 127.0.0.1:0 --www www --allow-origin '*' --test-endpoints >"$log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
base="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$log")"
[ -n "$base" ] || { cat "$log"; echo "the server did not start" >&2; exit 1; }
export FERROSOCKET_ECHO_URL="ws://$base/echo"
# A second server with token authentication for crate-client/tests/auth.rs, which signs its
# tokens with the same secret.
auth_log="$(mktemp)"
"$FERROSOCKET_SERVER_BIN" --addr 127.0.0.1:0 --www www --allow-origin '*' --test-endpoints \
  --auth-jwt-secret "the browser tests' HS256 secret, 32+ bytes" >"$auth_log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '^listening on' "$auth_log" && break; sleep 0.1; done
auth_base="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$auth_log")"
[ -n "$auth_base" ] || { cat "$auth_log"; echo "the auth server did not start" >&2; exit 1; }
export FERROSOCKET_AUTH_URL="ws://$auth_base/chat"
# The runner's default limit for a whole test binary is 20 s; the session suite sends 1,000
# lines at the server's default rate of 20 per second, which takes about a minute.
export WASM_BINDGEN_TEST_TIMEOUT=300
echo "server at http://$base/"

section "browser tests in headless Chromium"
run_tests "chromium" wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" crate-client

section "browser tests in headless Firefox"
run_tests "firefox" wasm-pack test --headless --firefox --geckodriver "$(command -v geckodriver)" crate-client

section "browser tests of the module without ChatClient (feature js-chat off), in headless Chromium"
run_tests "chromium (no ChatClient)" wasm-pack test --headless --chrome --chromedriver "$(command -v chromedriver)" crate-client \
  --no-default-features --features js --test sockets_only

section "benchmark smoke: every scenario against every peer for about a second (no speed asserted)"
scripts/bench.sh --smoke
echo "bench-smoke: every scenario ran" >> "$results"

section "summary"
cat "$results"
passed=$(grep -o '[0-9]* passed' "$results" | awk '{s+=$1} END {print s+0}')
failed=$(grep -o '[0-9]* failed' "$results" | awk '{s+=$1} END {print s+0}')
for browser in chromium firefox; do
  grep -q "^$browser: test result: ok. [1-9]" "$results" \
    || { echo "no browser test ran in $browser" >&2; exit 1; }
done
echo "$passed passed, $failed failed"
