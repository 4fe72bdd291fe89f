# Conveniences around the scripts; the README's two commands need only scripts/.
FUZZ_SECONDS ?= 60
SOAK_CONNECTIONS ?= 10000
SOAK_SECONDS ?= 60

.PHONY: run test fuzz soak bench

run:
	scripts/run.sh

test:
	scripts/test.sh

# Each fuzz target for FUZZ_SECONDS (nightly + cargo-fuzz, installed if missing).
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

# SOAK_CONNECTIONS connections with broadcast traffic for SOAK_SECONDS, on loopback.
soak:
	scripts/soak.sh $(SOAK_CONNECTIONS) $(SOAK_SECONDS)

# Every scenario against every peer; writes docs/BENCHMARKS.md (about 15 minutes).
bench:
	scripts/bench.sh
