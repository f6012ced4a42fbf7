#!/usr/bin/env bash
# Measures what an idle daemon costs: an emulated tenant with N integrations (default
# 1,000), exported as the desired state so that every run finds it in sync, and
# `sdim-sync serve` in observe mode reconciling every 30 s. After the first run it samples
# the daemon's resident memory and CPU time from /proc for DURATION seconds (default 180)
# and prints the peak and average RSS, the CPU share of one core, and the runs made.
# Usage: scripts/daemon-idle.sh [N] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
DURATION=${2:-180}
EPORT=${EPORT:-7196}
DPORT=${DPORT:-9496}
WORK=$(mktemp -d)
export XDG_STATE_HOME=$WORK/state   # the ledger of this run only, not the user's
BIN=$WORK/sdim-sync
EMU="" DAEMON=""
trap '[ -n "$DAEMON" ] && kill $DAEMON 2>/dev/null; [ -n "$EMU" ] && kill $EMU 2>/dev/null; rm -rf "$WORK"' EXIT

go build -o "$BIN" ./cmd/sdim-sync
"$BIN" emulator --listen "127.0.0.1:$EPORT" --generate "$N" >/dev/null 2>"$WORK/emulator.log" &
EMU=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$EPORT/_emulator/healthz" >/dev/null && break; sleep 0.1; done
export SAIL_BASE_URL=http://127.0.0.1:$EPORT SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret
mkdir "$WORK/desired"
"$BIN" export --out "$WORK/desired/integrations.yaml" 2>/dev/null

"$BIN" serve "$WORK/desired" --mode observe --schedule '@every 30s' --listen "127.0.0.1:$DPORT" --log-format json \
  >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$DPORT/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$DPORT/readyz" >/dev/null || { cat "$WORK/daemon.log"; echo "daemon-idle: not ready" >&2; exit 1; }
inSync=$(curl -s "http://127.0.0.1:$DPORT/status" | jq '.runs[0].counts.inSync')
echo "daemon ready; first run found $inSync integrations in sync; sampling for ${DURATION}s"

TICK=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$DAEMON/stat"; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$DAEMON/status"; }
c0=$(cpu); t0=$(date +%s.%N); peak=0; sum=0; samples=0
end=$(( $(date +%s) + DURATION ))
while [ "$(date +%s)" -lt "$end" ]; do
  r=$(rss_kb); sum=$((sum + r)); samples=$((samples + 1)); [ "$r" -gt "$peak" ] && peak=$r
  sleep 1
done
c1=$(cpu); t1=$(date +%s.%N)
runs=$(curl -s "http://127.0.0.1:$DPORT/metrics" | awk '/^sdim_sync_runs_total\{/ {s += $2} END {print s}')
awk -v n="$N" -v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v tick="$TICK" -v peak="$peak" -v sum="$sum" -v k="$samples" -v runs="$runs" 'BEGIN {
  printf "integrations %d, %d runs in all, sampled %.0f s\n", n, runs, t1 - t0
  printf "RSS: peak %.1f MB, average %.1f MB\n", peak / 1024, sum / k / 1024
  printf "CPU: %.2f s over %.0f s = %.2f%% of one core\n", (c1 - c0) / tick, t1 - t0, 100 * (c1 - c0) / tick / (t1 - t0)
}'
