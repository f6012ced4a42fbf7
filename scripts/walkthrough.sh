#!/usr/bin/env bash
# The README's emulator walkthrough, run as a new user would: start `sdim-sync emulator`,
# take a token with curl, create, list with filters and count, patch, put, delete.
# Every step checks its answer; the script fails at the first surprise.
# Needs curl and jq. Usage: scripts/walkthrough.sh [PORT]
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${1:-7199}
BIN=$(mktemp -d)/sdim-sync
go build -o "$BIN" ./cmd/sdim-sync
"$BIN" emulator --listen "127.0.0.1:$PORT" --generate 5 >/dev/null 2>"$BIN.log" &
EMU=$!
trap 'kill $EMU 2>/dev/null || true' EXIT
B=http://127.0.0.1:$PORT
for _ in $(seq 50); do curl -sf "$B/_emulator/healthz" >/dev/null && break; sleep 0.1; done
sleep 0.2
kill -0 $EMU 2>/dev/null || { cat "$BIN.log" >&2; echo "walkthrough: the emulator did not start (is port $PORT taken?)" >&2; exit 1; }

fail() { echo "walkthrough: $*" >&2; exit 1; }
step() { echo "--- $*"; }

step "take a token"
TOKEN=$(curl -sf -X POST "$B/oauth/token" \
  -d grant_type=client_credentials -d client_id=sdim-sync-demo -d client_secret=demo-secret | jq -r .access_token)
[ -n "$TOKEN" ] && [ "$TOKEN" != null ] || fail "no token"
AUTH="Authorization: Bearer $TOKEN"

step "create"
ID=$(curl -sf -X POST "$B/v3/service-desk-integrations" -H "$AUTH" -H 'Content-Type: application/json' -d '{
  "name": "ServiceNow Production", "description": "Tickets for manual provisioning", "type": "ServiceNowSDIM",
  "ownerRef": {"type": "IDENTITY", "id": "2c9180a46faadee4016fb4e018c20639"},
  "attributes": {"url": "https://acme.service-now.com", "username": "svc-sailpoint", "password": "s3cret"}}' | jq -r .id)
[[ "$ID" =~ ^[0-9a-f]{32}$ ]] || fail "create gave id '$ID'"

step "get: the password is stored but never returned"
curl -sf "$B/v3/service-desk-integrations/$ID" -H "$AUTH" | jq -e '.attributes | has("password") | not' >/dev/null \
  || fail "the password came back"

step "list with a filter and a count"
HEADERS=$(mktemp)
N=$(curl -sf -G "$B/v3/service-desk-integrations" -H "$AUTH" -D "$HEADERS" \
  --data-urlencode 'filters=name eq "ServiceNow Production"' --data-urlencode count=true | jq length)
[ "$N" = 1 ] || fail "filter found $N"
grep -qi '^X-Total-Count: 1' "$HEADERS" || fail "no X-Total-Count: 1"
TOTAL=$(curl -sf -G "$B/v3/service-desk-integrations" -H "$AUTH" -D - -o /dev/null \
  --data-urlencode limit=2 --data-urlencode count=true | tr -d '\r' | sed -n 's/^[Xx]-[Tt]otal-[Cc]ount: //p')
[ "$TOTAL" = 6 ] || fail "count=true says $TOTAL, want 6"

step "patch the before-provisioning rule"
curl -sf -X PATCH "$B/v3/service-desk-integrations/$ID" -H "$AUTH" -H 'Content-Type: application/json-patch+json' \
  -d '[{"op": "replace", "path": "/beforeProvisioningRule", "value": {"type": "RULE", "id": "2c918085708c274401708c2a8a760001"}}]' \
  | jq -e '.beforeProvisioningRule.id == "2c918085708c274401708c2a8a760001"' >/dev/null || fail "patch"

step "a patch on another field is refused with 403"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X PATCH "$B/v3/service-desk-integrations/$ID" -H "$AUTH" \
  -H 'Content-Type: application/json-patch+json' -d '[{"op": "replace", "path": "/description", "value": "x"}]')
[ "$CODE" = 403 ] || fail "patch of /description answered $CODE"

step "put replaces the whole object"
curl -sf -X PUT "$B/v3/service-desk-integrations/$ID" -H "$AUTH" -H 'Content-Type: application/json' -d '{
  "name": "ServiceNow Production", "description": "Replaced", "type": "ServiceNowSDIM",
  "attributes": {"url": "https://acme.service-now.com"}}' \
  | jq -e '.description == "Replaced" and (.ownerRef == null) and (.attributes | keys == ["url"])' >/dev/null || fail "put"

step "delete"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$B/v3/service-desk-integrations/$ID" -H "$AUTH")
[ "$CODE" = 204 ] || fail "delete answered $CODE"
CODE=$(curl -s -o /dev/null -w '%{http_code}' "$B/v3/service-desk-integrations/$ID" -H "$AUTH")
[ "$CODE" = 404 ] || fail "get after delete answered $CODE"

step "the counters saw four committed writes"
curl -sf "$B/_emulator/counters" | jq -e '.committedWrites == 4' >/dev/null || fail "counters: $(curl -s "$B/_emulator/counters")"
step "export the live state through the read-only client (no writes)"
OUT=$(SAIL_BASE_URL=$B SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret "$BIN" export) || fail "export failed"
DOCS=$(grep -c '^kind: ServiceDeskIntegration$' <<<"$OUT" || true)
[ "$DOCS" = 5 ] || fail "export wrote $DOCS integrations, want 5"
grep -q '^kind: StatusCheckConfiguration$' <<<"$OUT" || fail "export has no status-check configuration"
curl -sf "$B/_emulator/counters" | jq -e '.committedWrites == 4' >/dev/null || fail "export wrote to the tenant"
echo "walkthrough: OK"
