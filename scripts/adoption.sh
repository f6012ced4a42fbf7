#!/usr/bin/env bash
# The adoption journey, as a team bringing an existing tenant under management lives it:
# a tenant with N integrations made by hand (default 10,000), `export --dir` (one file per
# object), `plan` (0 changes), edit one description, `plan` (blocked: the PUT would clear
# the password the tenant hides), declare the password as the exported comment says,
# `apply`, `plan` (0 changes), and the password in the tenant is the declared one.
# Every step's exit code is checked. Needs curl and jq. Usage: scripts/adoption.sh [N] [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
PORT=${2:-7195}
WORK=$(mktemp -d)
export XDG_STATE_HOME=$WORK/state   # the ledger of this run only, not the user's
BIN=$WORK/sdim-sync
EMU=""
trap '[ -n "$EMU" ] && kill $EMU 2>/dev/null; rm -rf "$WORK"' EXIT
fail() { echo "adoption: $*" >&2; exit 1; }
! curl -s -o /dev/null "http://127.0.0.1:$PORT/" || fail "port $PORT is taken; pass another: scripts/adoption.sh $N PORT"

go build -o "$BIN" ./cmd/sdim-sync
"$BIN" emulator --listen "127.0.0.1:$PORT" --generate "$N" >/dev/null 2>"$WORK/emulator.log" &
EMU=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$PORT/_emulator/healthz" >/dev/null && break; sleep 0.1; done
export SAIL_BASE_URL=http://127.0.0.1:$PORT SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret NO_COLOR=1
D=$WORK/adopted
# run CODE ARGS...: run sdim-sync, keep its output in $WORK/out, check the exit code.
run() {
  local want=$1; shift
  local start; start=$(date +%s%N)
  set +e; "$BIN" "$@" >"$WORK/out" 2>&1; local got=$?; set -e
  echo "\$ sdim-sync $* -> exit $got in $(( ($(date +%s%N) - start) / 1000000 )) ms"
  [ "$got" = "$want" ] || { tail -n 30 "$WORK/out"; fail "'sdim-sync $*' exited $got, want $want"; }
}

echo "== export $N integrations, one file each"
run 0 export --dir "$D"
files=$(find "$D" -name '*.yaml' | wc -l)
[ "$files" = $((N + 1)) ] || fail "exported $files files, want $((N + 1)) (the integrations and the status check)"

echo "== plan the export against the tenant it came from: no changes"
run 0 plan "$D" --detailed-exitcode
grep -q "No changes" "$WORK/out" || fail "the plan of a fresh export has changes: $(head -n 20 "$WORK/out")"

F=$D/service-desk/generated-integration-00007.yaml
echo "== edit one description: the plan is blocked, the PUT would clear the hidden password"
sed -i 's/^  description: .*/  description: Owned by the IAM team now/' "$F"
run 1 plan "$D"
grep -q 'Generated Integration 00007' "$WORK/out" && grep -q 'password' "$WORK/out" \
  || fail "the blocked plan does not name the object and its password: $(tail -n 20 "$WORK/out")"

echo "== declare the password as the exported comment says, and apply"
ref=$(sed -n 's/^#   password: \(\${env:[A-Z0-9_]*}\)$/\1/p' "$F")
[ -n "$ref" ] || fail "the exported file has no comment saying how to declare its password"
var=${ref#\$\{env:}; var=${var%\}}
sed -i "s|^  attributes:\$|  attributes:\n    password: $ref|" "$F"
export "$var=adopted-password-7"
run 0 apply "$D" --auto-approve
grep -q "Apply complete: 1 applied" "$WORK/out" || fail "apply did not make exactly one change: $(tail -n 5 "$WORK/out")"

echo "== plan again: no changes; the tenant holds the edit and the declared password"
run 0 plan "$D" --detailed-exitcode
grep -q "No changes" "$WORK/out" || fail "changes after the apply: $(head -n 20 "$WORK/out")"
curl -sf "http://127.0.0.1:$PORT/_emulator/state" | jq -e '.serviceDeskIntegrations[] | select(.name == "Generated Integration 00007")
  | select(.description == "Owned by the IAM team now" and .attributes.password == "adopted-password-7")' >/dev/null \
  || fail "the tenant does not hold the edit with the declared password"
! grep -rq "adopted-password-7" "$D" "$WORK/out" || fail "the password value leaked into the files or the output"
echo "adoption: OK. $N integrations exported, planned with no changes, one edited, its password declared and kept."
