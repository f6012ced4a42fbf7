#!/usr/bin/env bash
# The benchmark harness: sdim-sync against the naive way (one GET per object to read, one
# PUT per object to apply) on the emulated tenant, printed as one Markdown table with the
# machine and the command (docs/performance.md, "The harness").
#
#   scripts/bench.sh            # QUICK (the default): read and plan at 1,000 and 10,000
#   FULL=1 scripts/bench.sh     # adds 50,000 (about two more minutes)
#
# Every case runs in its own process (the benchmark binary of internal/bench, one leaf
# each, -benchtime 1x), so that each peak memory is the case's own. Then the daemon's
# figures: scripts/daemon-idle.sh for IDLE_SECONDS (default 35, at least one scheduled
# run) and BenchmarkFileWriteToTenant (3 edits). The table goes to standard output, the
# progress to standard error; RESULTS=DIR keeps the raw outputs there. Any failed case
# fails the script.
set -euo pipefail
cd "$(dirname "$0")/.."

FULL=${FULL:-0}
QUICK=${QUICK:-1}
IDLE_SECONDS=${IDLE_SECONDS:-35}
sizes="1000 10000"
cmd="scripts/bench.sh"
if [ "$FULL" = 1 ]; then
  sizes="$sizes 50000"
  cmd="FULL=1 scripts/bench.sh"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
RES=${RESULTS:-$WORK/results}
mkdir -p "$RES"
rm -f "$RES"/*.bench "$RES"/idle.txt

say() { echo "bench: $*" >&2; }

say "building"
go test -c -o "$WORK/bench.test" ./internal/bench/
go test -c -o "$WORK/daemon.test" ./internal/daemon/
go build -o "$WORK/benchtable" ./internal/bench/cmd/benchtable

# leaf NAME FILE: run one benchmark leaf (its full name, slash-separated) in its own process.
leaf() {
  local name=$1 out=$2 pattern="" part
  IFS=/ read -ra parts <<<"$name"
  for part in "${parts[@]}"; do pattern+="${pattern:+/}^${part}\$"; done
  say "$name"
  if ! (cd internal/bench && "$WORK/bench.test" -test.run '^$' -test.bench "$pattern" -test.benchtime 1x) >"$out" 2>&1; then
    cat "$out" >&2
    say "FAILED: $name"
    exit 1
  fi
  grep -q "^Benchmark" "$out" || { cat "$out" >&2; say "no result (skipped?): $name"; exit 1; }
}

for n in $sizes; do
  for way in ours-shipped ours-open naive-open; do
    leaf "BenchmarkReadPlan/n=$n/$way" "$RES/readplan-$n-$way.bench"
  done
done
for way in ours naive; do
  leaf "BenchmarkApplyThroughput/puts=200/$way" "$RES/throughput-$way.bench"
  leaf "BenchmarkApplyDrift/n=1000/$way" "$RES/drift-$way.bench"
done

say "BenchmarkFileWriteToTenant (3 edits)"
if ! (cd internal/daemon && "$WORK/daemon.test" -test.run '^$' -test.bench '^BenchmarkFileWriteToTenant$' -test.benchtime 3x) \
  >"$RES/filewrite.bench" 2>&1; then
  cat "$RES/filewrite.bench" >&2
  say "FAILED: BenchmarkFileWriteToTenant"
  exit 1
fi

say "daemon-idle.sh 1000 $IDLE_SECONDS"
if ! EPORT=${EPORT:-7197} DPORT=${DPORT:-9497} bash scripts/daemon-idle.sh 1000 "$IDLE_SECONDS" >"$RES/idle.txt" 2>&1; then
  cat "$RES/idle.txt" >&2
  say "FAILED: daemon-idle.sh"
  exit 1
fi

"$WORK/benchtable" -dir "$RES" -command "$cmd" -go "$(go version)"
