#!/usr/bin/env bash
# The fault soak of the daemon (internal/soak): the real `sdim-sync serve` in enforce mode
# against an emulated tenant injecting 5xx answers, dropped connections, lost write
# answers, latency, 429 storms and 2-second tokens, while random edits (creates, updates,
# renames, deletes under prune) land in its desired directory; after every round's quiet
# period the tenant must equal the files, with no duplicate, no secret in the output, and
# metrics that agree. Then an observe-mode daemon must not write.
#
# `go test ./...` runs the short version (4 rounds, 2 with -short). This runs a long one:
#   SOAK_ROUNDS=50 scripts/soak.sh          # about 6 minutes on 2 cores
#   SOAK_SEED=12345 SOAK_ROUNDS=10 scripts/soak.sh
# It prints each round and the figures table of docs/reliability.md; exit 1 on a failure,
# with the seed, the round, the faults and the daemon's log tail.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${SOAK_ROUNDS:-50}
SEED=${SOAK_SEED:-20260114}
# Each round takes about 7 s; allow three times that, plus the build.
TIMEOUT=$(( ROUNDS * 21 + 300 ))s
echo "== daemon fault soak: $ROUNDS rounds, seed $SEED (timeout $TIMEOUT)"
exec env SOAK_ROUNDS="$ROUNDS" SOAK_SEED="$SEED" \
  go test -run '^TestDaemonFaultSoak$' -count=1 -v -timeout "$TIMEOUT" ./internal/soak/
