#!/usr/bin/env bash
# The whole flow against the built-in emulated tenant, as a new user would run it:
# start `sdim-sync emulator`, validate configs/examples, plan (changes), apply, plan again
# (in sync), then show what pruning would delete. Needs only Go.
# Usage: scripts/demo.sh [PORT]   (default 7100)
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-7100}
WORK=$(mktemp -d)
export XDG_STATE_HOME=$WORK/state   # the ledger of this run only, not the user's
BIN=$WORK/sdim-sync
echo "== building sdim-sync"
go build -o "$BIN" ./cmd/sdim-sync

echo "== starting the emulated tenant on 127.0.0.1:$PORT with 3 integrations made by hand"
"$BIN" emulator --listen "127.0.0.1:$PORT" --generate 3 >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
EMU=$!
trap 'kill $EMU 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do
  grep -q '^http://' "$WORK/emulator.out" 2>/dev/null && break
  kill -0 $EMU 2>/dev/null || { cat "$WORK/emulator.log" >&2; echo "demo: the emulator did not start (is port $PORT taken? pass another: scripts/demo.sh 7101)" >&2; exit 1; }
  sleep 0.1
done

# The connection, as for a real tenant, and the secrets configs/examples references.
export SAIL_BASE_URL=http://127.0.0.1:$PORT SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret
export SNOW_PASSWORD=demo-snow-password JIRA_API_TOKEN=demo-jira-token FACILITIES_API_TOKEN=demo-facilities-token
export NO_COLOR=1

step() { echo; echo "== \$ sdim-sync $*"; }
expect() { # expect CODE command...: run, show, and check the exit code
  local want=$1; shift
  set +e; "$BIN" "$@"; local got=$?; set -e
  [ "$got" = "$want" ] || { echo "demo: 'sdim-sync $*' exited $got, want $want" >&2; exit 1; }
}

step validate configs/examples
expect 0 validate configs/examples
step plan configs/examples --detailed-exitcode "(exit 2: there are changes)"
expect 2 plan configs/examples --detailed-exitcode
step apply configs/examples --auto-approve
expect 0 apply configs/examples --auto-approve
step apply configs/examples --auto-approve "(again: nothing left to apply; the integration in observe mode is reported, never written)"
expect 0 apply configs/examples --auto-approve
step plan configs/examples --prune "(the 3 unmanaged integrations were built by hand: not owned by sdim-sync, so never pruned)"
expect 0 plan configs/examples --prune
step plan configs/examples --prune --prune-unowned-by-name --max-deletes 2 "(pruning by name alone would delete all 3, more than the limit: blocked)"
expect 1 plan configs/examples --prune --prune-unowned-by-name --max-deletes 2
echo
echo "demo: OK. The plan found the changes, apply made them, and the tenant now matches configs/examples."
