#!/usr/bin/env bash
# Benchmarks ferrosocket-server against the peers people would pick instead — Node `ws`,
# a bare tokio-tungstenite server in the style of its examples, and fastwebsockets (echo) —
# with one load generator, on loopback, server and load generator pinned to different
# cores, each measurement repeated (median kept). Writes docs/BENCHMARKS.md.
#
# Usage: scripts/bench.sh            (BENCH_SECONDS=5 REPEATS=3 IDLE_CONNECTIONS=10000)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${BENCH_SECONDS:-5}"
repeats="${REPEATS:-3}"
idle="${IDLE_CONNECTIONS:-10000}"
scripts/setup.sh >/dev/null
source scripts/env.sh
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

echo "==> building release binaries"
cargo build --release -q -p ferrosocket-server -p ferrosocket-loadgen
loadgen=(taskset -c 1 target/release/ferrosocket-loadgen)
results="$(mktemp)"
server_pid=""
stop_server() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
}
trap 'stop_server; rm -f "$results"' EXIT

# Starts server $1 pinned to core 0; sets $addr and $server_pid.
start_server() {
  local log; log="$(mktemp)"
  case "$1" in
    ferrosocket) taskset -c 0 target/release/ferrosocket-server --addr 127.0.0.1:0 --www www \
                   --rate-limit 1000000 --rate-burst 1000000 --max-connections 100000 \
                   --max-connections-per-ip 100000 --outbound-messages 100000 \
                   --outbound-bytes 268435456 >"$log" 2>&1 & ;;
    tungstenite) taskset -c 0 target/release/ferrosocket-loadgen peer-tungstenite >"$log" 2>&1 & ;;
    fastwebsockets) taskset -c 0 target/release/ferrosocket-loadgen peer-fastwebsockets >"$log" 2>&1 & ;;
    node-ws) taskset -c 0 node tests/interop/ws-bench-server.mjs 0 >"$log" 2>&1 & ;;
  esac
  server_pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
  addr="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$log" | head -1)"
  rm -f "$log"
  [ -n "$addr" ] || { echo "$1 did not start" >&2; exit 1; }
}

# Runs a loadgen scenario against server $1, REPEATS times; keeps RESULT lines.
measure() {
  local server="$1"; shift
  for _ in $(seq "$repeats"); do
    start_server "$server"
    local args=("${@//ADDR/$addr}")
    "${loadgen[@]}" "${args[@]}" --server-pid "$server_pid" 2>&1 | tee -a /dev/stderr \
      | sed -n "s/^RESULT /server=$server /p" >>"$results" || true
    stop_server
  done
}

for server in ferrosocket tungstenite node-ws fastwebsockets; do
  for payload in 20 1024 16384; do
    echo "==> echo: $server, 100 connections x $payload B"
    measure "$server" echo --url "ws://ADDR/echo" --connections 100 --payload "$payload" --seconds "$seconds"
  done
done
for server in ferrosocket tungstenite node-ws; do
  for clients in 100 1000; do
    for rate in 100 0; do
      echo "==> broadcast: $server, $clients clients, rate ${rate:-full}"
      measure "$server" broadcast --url "ws://ADDR/chat" --clients "$clients" --rate "$rate" --seconds "$seconds"
    done
  done
done
for server in ferrosocket tungstenite node-ws fastwebsockets; do
  echo "==> connect: $server, $idle idle connections"
  repeats=1 measure "$server" connect --url "ws://ADDR/echo" --connections "$idle"
done

python3 scripts/bench_report.py "$results" "$seconds" "$repeats" > docs/BENCHMARKS.md
echo "==> wrote docs/BENCHMARKS.md"
cat docs/BENCHMARKS.md
