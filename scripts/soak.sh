#!/usr/bin/env bash
# Soak test on loopback: CONNECTIONS plain chat connections (default 10,000) with broadcast
# traffic for SECONDS (default 60) against a release build of the server. Reports
# delivered/expected (must be equal), latency percentiles and the server's RSS every 5 s;
# stops by itself and exits non-zero if anything was lost or if the RSS rose more than 10%
# (at least 8 MiB) above its value after a 10 s warm-up (the load generator's --warm-up and
# --rss-tolerance-percent). Not part of scripts/test.sh: it takes minutes and a release build.
#
# Usage: scripts/soak.sh [CONNECTIONS] [SECONDS]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
connections="${1:-10000}"
seconds="${2:-60}"
source scripts/env.sh

# Each connection is a file descriptor on both sides.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "==> file limit: $(ulimit -n)"

cargo build --release -q -p ferrosocket-server -p ferrosocket-loadgen
log="$(mktemp)"
target/release/ferrosocket-server --addr 127.0.0.1:0 --www www \
  --max-connections $((connections + 100)) --max-connections-per-ip $((connections + 100)) \
  --max-pending-connections 4096 --max-pending-connections-per-ip 4096 \
  --outbound-messages 1024 >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
addr="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$log")"
echo "==> server pid $server at $addr; $connections connections for ${seconds}s"
target/release/ferrosocket-loadgen soak --url "ws://$addr/chat" --connections "$connections" \
  --seconds "$seconds" --server-pid "$server"
