#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for a bounded time (default 60 s each) from the committed
# seed corpus, and fails if any finds a crash (saved under fuzz/artifacts/TARGET/).
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
seconds="${1:-60}"
source scripts/env.sh

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "==> installing the nightly toolchain (cargo fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz
fi

for target in $(cargo +nightly fuzz list --fuzz-dir fuzz); do
  echo "==> fuzzing $target for ${seconds}s"
  mkdir -p "fuzz/corpus/$target"
  # A scratch copy of the corpus, so new inputs do not pile up in the repository.
  work="$(mktemp -d)"
  cp -r "fuzz/corpus/$target/." "$work/"
  # The fuzzer's own status decides; the filter only shortens its output (grep exits 1
  # when nothing matched, which must not count).
  set +e
  cargo +nightly fuzz run --fuzz-dir fuzz "$target" "$work" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 2>&1 \
    | grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::peak_rss_mb|==[0-9]+== ERROR|SUMMARY|thread .* panicked)'
  status="${PIPESTATUS[0]}"
  set -e
  rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "fuzz target $target FAILED: see fuzz/artifacts/$target/" >&2
    exit 1
  fi
done
echo "fuzz: every target ran ${seconds}s without a crash"
