#!/usr/bin/env bash
# The daemon end to end, as an operator runs it: start an emulated tenant, start
# `sdim-sync serve` in enforce mode on a copy of configs/examples, wait until it is ready,
# edit a file the way an editor does (write a temp file, rename it over the old one), wait
# until the change is in the tenant, check /metrics and /status, send SIGTERM, and expect
# exit 0. Every wait is bounded; on failure the logs are shown.
# Needs curl and jq. Usage: scripts/serve-e2e.sh [EMULATOR_PORT] [DAEMON_PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
EPORT=${1:-7197}
DPORT=${2:-9497}
WORK=$(mktemp -d)
export XDG_STATE_HOME=$WORK/state   # the ledger of this run only, not the user's
BIN=$WORK/sdim-sync
EMU="" DAEMON=""
cleanup() {
  [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null || true
  [ -n "$EMU" ] && kill "$EMU" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() {
  echo "serve-e2e: $*" >&2
  echo "--- daemon log" >&2; tail -n 60 "$WORK/daemon.log" >&2 || true
  echo "--- emulator log" >&2; tail -n 20 "$WORK/emulator.log" >&2 || true
  exit 1
}
now_ms() { date +%s%3N; }
# wait_for SECONDS DESCRIPTION COMMAND...: run COMMAND every 50 ms until it succeeds.
wait_for() {
  local limit=$1 what=$2; shift 2
  local deadline=$(( $(now_ms) + limit * 1000 ))
  until "$@" >/dev/null 2>&1; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "$what: not within ${limit}s"
    sleep 0.05
  done
}

for port in "$EPORT" "$DPORT"; do
  ! curl -s -o /dev/null "http://127.0.0.1:$port/" || { echo "serve-e2e: port $port is taken; pass others: scripts/serve-e2e.sh EPORT DPORT" >&2; exit 1; }
done

echo "== building sdim-sync"
go build -o "$BIN" ./cmd/sdim-sync

echo "== starting the emulated tenant on 127.0.0.1:$EPORT"
"$BIN" emulator --listen "127.0.0.1:$EPORT" >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
EMU=$!
wait_for 10 "the emulator's health" curl -sf "http://127.0.0.1:$EPORT/_emulator/healthz"

DIR=$WORK/desired
cp -r configs/examples "$DIR"
export SAIL_BASE_URL=http://127.0.0.1:$EPORT SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret
export SNOW_PASSWORD=e2e-snow-password JIRA_API_TOKEN=e2e-jira-token FACILITIES_API_TOKEN=e2e-facilities-token

echo "== starting sdim-sync serve (enforce, watch, schedule hourly) on 127.0.0.1:$DPORT"
"$BIN" serve "$DIR" --mode enforce --watch --schedule '@every 1h' --listen "127.0.0.1:$DPORT" \
  --api-version v2024 --log-format json >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
D=http://127.0.0.1:$DPORT
wait_for 20 "/readyz" curl -sf "$D/readyz"
echo "ready: $(curl -s "$D/readyz")"
state() { curl -sf "http://127.0.0.1:$EPORT/_emulator/state"; }
count=$(state | jq '.serviceDeskIntegrations | length')
[ "$count" = 2 ] || fail "the first run left $count integrations in the tenant, want the 2 the examples enforce (the third is observe-only)"

echo "== editing servicenow.yaml as an editor does (temp file, rename)"
sed 's/^  description: .*/  description: Edited by the end-to-end test/' "$DIR/servicenow.yaml" >"$DIR/.servicenow.yaml.tmp"
start=$(now_ms)
mv "$DIR/.servicenow.yaml.tmp" "$DIR/servicenow.yaml"
has_edit() { state | jq -e '.serviceDeskIntegrations[] | select(.name == "ServiceNow Production") | select(.description == "Edited by the end-to-end test")'; }
wait_for 15 "the edit in the tenant" has_edit
echo "the edit reached the tenant $(( $(now_ms) - start )) ms after the rename (debounce 1 s included)"

echo "== /metrics and /status"
watch_run_done() { curl -sf "$D/status" | jq -e '.running == null and .runs[0].trigger == "watch"'; }
wait_for 15 "the watch-triggered run recorded" watch_run_done
curl -sf "$D/metrics" >"$WORK/metrics.txt"
for want in 'sdim_sync_runs_total{result="success",trigger="watch"} 1' \
            'sdim_sync_runs_total{result="success",trigger="startup"} 1' \
            'sdim_sync_desired_state_valid 1' \
            'sdim_sync_objects{kind="ServiceDeskIntegration",state="drifted"} 0'; do
  grep -qF "$want" "$WORK/metrics.txt" || fail "/metrics lacks: $want"
done
grep -q '^sdim_sync_api_requests_total{code="200",method="PUT"' "$WORK/metrics.txt" || fail "/metrics counts no PUT"
curl -sf "$D/status" >"$WORK/status.json"
jq -e '.formatVersion == 1 and .runs[0].trigger == "watch" and .runs[0].result == "success" and .ready' "$WORK/status.json" >/dev/null \
  || fail "/status: $(jq -c '{ready, run: .runs[0] | {trigger, result, error}}' "$WORK/status.json")"

echo "== SIGTERM"
kill -TERM "$DAEMON"
code=0
wait "$DAEMON" || code=$?
DAEMON=""
[ "$code" = 0 ] || fail "serve exited $code after SIGTERM, want 0"
grep -q '"msg":"sdim-sync serve exited"' "$WORK/daemon.log" || fail "no clean-exit line in the log"
for secret in e2e-snow-password e2e-jira-token e2e-facilities-token demo-secret; do
  ! grep -q "$secret" "$WORK/daemon.log" "$WORK/metrics.txt" "$WORK/status.json" || fail "a secret ($secret) is in the log, /metrics or /status"
done
echo "serve-e2e: OK. Ready, a file edit applied, metrics and status agree, SIGTERM gave exit 0, no secret in the output."
