#!/usr/bin/env bash
# Benchmarks ferrosocket against the peers people would pick instead — Node `ws`, socket.io,
# a bare tokio-tungstenite server in the style of its examples, and fastwebsockets (echo) —
# with one load generator, on loopback, server and load generator pinned to different
# cores, each measurement repeated (median kept); then the browser receive rate (headless
# Chromium) and the wasm module sizes. Writes docs/BENCHMARKS.md and its chart.
#
# Usage: scripts/bench.sh           the full run (BENCH_SECONDS=3 REPEATS=3 IDLE_CONNECTIONS=10000)
#        scripts/bench.sh --smoke   every scenario against every server for about a second
#                                   (debug server builds, nothing written to docs/): proves
#                                   the benchmarks still run; asserts completeness (and that
#                                   nothing was lost), never speed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
smoke=0
case "${1:-}" in
  --smoke) smoke=1 ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--smoke]" >&2; exit 2 ;;
esac
if [ $smoke -eq 1 ]; then
  seconds=1 repeats=1 idle=200 payloads="20" clients_list="100" max_rounds=2
  browser_count=5000 browser_rounds=1 profile=debug cargo_profile=()
else
  seconds="${BENCH_SECONDS:-3}" repeats="${REPEATS:-3}" idle="${IDLE_CONNECTIONS:-10000}"
  payloads="20 1024 16384" clients_list="100 1000" max_rounds=16
  browser_count=100000 browser_rounds=5 profile=release cargo_profile=(--release)
fi
scripts/setup.sh >/dev/null
source scripts/env.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "==> building ($profile): server, load generator, browser runner, wasm package"
cargo build -q --locked "${cargo_profile[@]}" -p ferrosocket-server -p ferrosocket-loadgen \
  -p ferrosocket-e2e --bin ferrosocket-server --bin ferrosocket-loadgen --bin browser-bench
if [ $smoke -eq 0 ]; then
  build_wasm_package www/pkg --profile wasm-release -- --features app
fi
bin="target/$profile"
loadgen=(taskset -c 1 "$bin/ferrosocket-loadgen")
# Kept after the run: `python3 scripts/bench_report.py target/bench-results.txt SECONDS REPEATS`
# rebuilds the report from it.
results=target/bench-results.txt
[ $smoke -eq 0 ] || results=target/bench-results-smoke.txt
: >"$results"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
trap 'stop_server' EXIT

# Starts server $1 pinned to core 0; sets $addr and $server_pid.
start_server() {
  local log; log="$(mktemp)"
  case "$1" in
    ferrosocket) taskset -c 0 "$bin/ferrosocket-server" --addr 127.0.0.1:0 --www www \
                   --rate-limit 1000000 --rate-burst 1000000 --rate-bytes 1073741824 --max-connections 100000 \
                   --max-connections-per-ip 100000 --outbound-messages 100000 \
                   --max-pending-connections 4096 --max-pending-connections-per-ip 4096 \
                   --outbound-bytes 268435456 >"$log" 2>&1 & ;;
    tungstenite) taskset -c 0 "$bin/ferrosocket-loadgen" peer-tungstenite >"$log" 2>&1 & ;;
    fastwebsockets) taskset -c 0 "$bin/ferrosocket-loadgen" peer-fastwebsockets >"$log" 2>&1 & ;;
    node-ws) taskset -c 0 node tests/interop/ws-bench-server.mjs 0 >"$log" 2>&1 & ;;
    socketio) taskset -c 0 node tests/interop/socketio-bench-server.mjs 0 >"$log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
  addr="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$log" | head -1)"
  rm -f "$log"
  [ -n "$addr" ] || { echo "$1 did not start" >&2; exit 1; }
}

# The URL of endpoint $2 (echo or chat) on server $1, with ADDR for its address.
url() {
  case "$1/$2" in
    socketio/echo) echo "ws://ADDR/socket.io/?EIO=4&transport=websocket" ;;
    socketio/chat) echo "ws://ADDR/socket.io/?EIO=4&transport=websocket&endpoint=chat" ;;
    *) echo "ws://ADDR/$2" ;;
  esac
}

# Runs a loadgen scenario once against server $1; keeps its RESULT line.
measure() {
  local server="$1"; shift
  start_server "$server"
  local args=("${@//ADDR/$addr}")
  set +e
  "${loadgen[@]}" "${args[@]}" --server-pid "$server_pid" 2>&1 | tee -a /dev/stderr \
    | sed -n "s/^RESULT /server=$server /p" >>"$results"
  local status="${PIPESTATUS[0]}"
  set -e
  stop_server
  if [ "$status" -ne 0 ]; then
    echo "the load generator failed (exit $status) against $server: ${args[*]}" >&2
    exit 1
  fi
}

# Runs scenario function $1 for every server in $2, $3 times over, the servers taking turns
# within each time: a machine whose speed drifts over minutes affects them all alike.
in_turns() {
  local scenario="$1" servers="$2" times="$3" server
  for _ in $(seq "$times"); do
    for server in $servers; do "$scenario" "$server"; done
  done
}

# The median of field $2 over the RESULT lines matching $1.
median_of() {
  grep -- "$1" "$results" | sed -n "s/.* $2=\([0-9.]*\).*/\1/p" | sort -n \
    | awk '{ v[NR] = $1 } END { if (NR) print int(v[int((NR + 1) / 2)]); else print 0 }'
}

echo_closed_loop() {
  echo "==> echo: $1, 100 connections x $payload B, closed loop"
  measure "$1" echo --url "$(url "$1" echo)" --connections 100 --payload "$payload" --seconds "$seconds"
}
echo_at_half_load() {
  echo "==> echo: $1, 100 connections x $payload B at $half/s (half our peak)"
  measure "$1" echo --url "$(url "$1" echo)" --connections 100 --payload "$payload" \
    --seconds "$seconds" --rate "$half"
}
broadcast_at_100() {
  echo "==> broadcast: $1, $clients clients at 100/s"
  measure "$1" broadcast --url "$(url "$1" chat)" --clients "$clients" --rate 100 --seconds "$seconds"
}
broadcast_max() {
  echo "==> broadcast-max: $1, $clients clients"
  measure "$1" broadcast-max --url "$(url "$1" chat)" --clients "$clients" \
    --start "$(( smoke ? 10 : 20000 / clients ))" --seconds "$seconds" --p99-ms 250 --max-rounds "$max_rounds"
}
connect_idle() {
  echo "==> connect: $1, $idle idle connections"
  measure "$1" connect --url "$(url "$1" echo)" --connections "$idle"
}

echo_servers="ferrosocket tungstenite node-ws socketio fastwebsockets"
broadcast_servers="ferrosocket tungstenite node-ws socketio"
for payload in $payloads; do
  in_turns echo_closed_loop "$echo_servers" "$repeats"
  # Latency compared at the same moderate load: half of our closed-loop peak.
  half=$(( $(median_of "server=ferrosocket scenario=echo payload=$payload .*target=closed-loop" rate) / 2 ))
  [ "$half" -gt 0 ] || half=1000
  in_turns echo_at_half_load "$echo_servers" "$repeats"
done
for clients in $clients_list; do
  in_turns broadcast_at_100 "$broadcast_servers" "$repeats"
  in_turns broadcast_max "$broadcast_servers" 1
done
in_turns connect_idle "$echo_servers" 1

echo "==> browser: receive $browser_count messages in headless Chromium"
FERROSOCKET_SERVER_BIN="$bin/ferrosocket-server" "$bin/browser-bench" --count "$browser_count" \
  --rounds "$browser_rounds" | tee -a /dev/stderr | sed -n "s/^RESULT /server=ferrosocket /p" >>"$results"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "the browser benchmark failed" >&2; exit 1; }

echo "==> wasm module sizes"
scripts/wasm-size.sh | tee -a /dev/stderr | sed -n "s/^RESULT /server=ferrosocket /p" >>"$results"
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "measuring the module sizes failed" >&2; exit 1; }
if [ $smoke -eq 0 ]; then
  python3 scripts/bench_report.py "$results" "$seconds" "$repeats" > docs/BENCHMARKS.md
  echo "==> wrote docs/BENCHMARKS.md"
  cat docs/BENCHMARKS.md
else
  python3 scripts/bench_report.py --check "$results"
fi
