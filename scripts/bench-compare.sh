#!/usr/bin/env bash
# Compares two builds of our server side by side — typically the last release against the
# working tree — on the scenarios where a guarantee could cost throughput: closed-loop echo,
# broadcast at 100/s and at its highest sustainable rate, and idle memory per connection.
# The two servers take turns within each repeat (a drifting machine affects both alike),
# each pinned to core 0 with the load generator on core 1; medians of REPEATS are printed
# with the ratio new/old. Nothing is asserted: the figures are for people to read.
#
# Usage: scripts/bench-compare.sh OLD_SERVER_BIN NEW_SERVER_BIN [REPEATS]
#   e.g. git worktree add /tmp/old v0.1.0 && (cd /tmp/old && cargo build --release -p ferrosocket-server)
#        cargo build --release -p ferrosocket-server -p ferrosocket-loadgen
#        scripts/bench-compare.sh /tmp/old/target/release/ferrosocket-server target/release/ferrosocket-server
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
[ $# -ge 2 ] || { sed -n '2,13p' "$0" >&2; exit 2; }
old_bin="$1" new_bin="$2" repeats="${3:-2}" seconds="${BENCH_SECONDS:-3}"
loadgen=(taskset -c 1 target/release/ferrosocket-loadgen)
[ -x target/release/ferrosocket-loadgen ] \
  || cargo build -q --release --locked -p ferrosocket-loadgen --bin ferrosocket-loadgen
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
results="$(mktemp)"
server_pid=""
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; rm -f "$results"' EXIT

# Starts build $1 (old|new) with every limit lifted that the scenarios would hit.
start() {
  local bin flags log
  flags=(--addr 127.0.0.1:0 --www www --rate-limit 1000000 --rate-burst 1000000
         --max-connections 100000 --max-connections-per-ip 100000
         --outbound-messages 100000 --outbound-bytes 268435456)
  if [ "$1" = old ]; then bin="$old_bin"; else bin="$new_bin"; fi
  # Flags a build may not know yet are added only when its --help lists them.
  for extra in "--rate-bytes 1073741824" "--max-pending-connections 4096" \
               "--max-pending-connections-per-ip 4096"; do
    "$bin" --help | grep -q -- "${extra%% *}" && flags+=($extra)
  done
  log="$(mktemp)"
  taskset -c 0 "$bin" "${flags[@]}" >"$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do grep -q '^listening on' "$log" && break; sleep 0.1; done
  addr="$(sed -n 's|^listening on http://\(.*\)/$|\1|p' "$log" | head -1)"
  rm -f "$log"
  [ -n "$addr" ] || { echo "the $1 server did not start" >&2; exit 1; }
}

# Runs one scenario against build $1, keeping its RESULT line labelled with the build.
run() {
  local build="$1"; shift
  start "$build"
  local args=("${@//ADDR/$addr}")
  set +e
  "${loadgen[@]}" "${args[@]}" --server-pid "$server_pid" 2>/dev/null \
    | sed -n "s/^RESULT /build=$build /p" >>"$results"
  local status="${PIPESTATUS[0]}"
  set -e
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=""
  [ "$status" -eq 0 ] || { echo "the load generator failed against the $build build: ${args[*]}" >&2; exit 1; }
}

for _ in $(seq "$repeats"); do
  for build in old new; do
    for payload in 20 1024; do
      run "$build" echo --url ws://ADDR/echo --connections 100 --payload "$payload" --seconds "$seconds"
    done
    for clients in 100 1000; do
      run "$build" broadcast --url ws://ADDR/chat --clients "$clients" --rate 100 --seconds "$seconds"
      run "$build" broadcast-max --url ws://ADDR/chat --clients "$clients" \
        --start $((20000 / clients)) --seconds "$seconds" --p99-ms 250 --max-rounds 8
    done
    run "$build" connect --url ws://ADDR/echo --connections 10000
  done
done

python3 - "$results" <<'EOF'
import statistics, sys
from collections import defaultdict
rows = defaultdict(list)
for line in open(sys.argv[1]):
    f = dict(p.split("=", 1) for p in line.split())
    key = (f["scenario"], f.get("payload") or f.get("clients") or f.get("connections"))
    rows[(key, f["build"])].append(f)
def med(key, build, field):
    vals = []
    for f in rows.get((key, build), []):
        try:
            vals.append(float(f[field]))
        except (KeyError, ValueError):
            pass
    return statistics.median(vals) if vals else None
print("| scenario | figure | old | new | new / old |")
print("| --- | --- | --- | --- | --- |")
figures = {"echo": ["rate", "p99_us", "cpu_us_per_msg"],
           "broadcast": ["deliveries_per_s", "p99_us", "cpu_us_per_delivery"],
           "broadcast-max": ["rate", "deliveries_per_s", "cpu_us_per_delivery"],
           "connect": ["setup_per_s", "kib_per_connection"]}
for key in sorted({k for k, _ in rows}):
    for field in figures[key[0]]:
        old, new = med(key, "old", field), med(key, "new", field)
        ratio = f"{new / old:.2f}" if old and new else "–"
        fmt = lambda v: "–" if v is None else f"{v:,.3f}" if v < 100 else f"{v:,.0f}"
        print(f"| {key[0]} {key[1]} | {field} | {fmt(old)} | {fmt(new)} | {ratio} |")
EOF
