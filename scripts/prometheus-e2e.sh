#!/usr/bin/env bash
# End to end with a real Prometheus: the shipped alert rules against a running daemon.
#
#   1. build sdim-sync, start the emulated tenant (empty) and `sdim-sync serve` on
#      configs/examples in observe mode: every desired object is missing, so it drifts;
#   2. start Prometheus on loopback, scraping the daemon every second and evaluating a test
#      copy of deploy/prometheus/rules.yaml (every `for:` shortened to $FOR) every second;
#   3. assert through Prometheus's HTTP API that SdimSyncDriftPending fires (the desired objects are missing: pending drift);
#   4. restart the daemon in enforce mode against the same emulator, which applies the
#      drift, and assert that the alert resolves.
#
# Needs Go, curl, jq and Prometheus 2.x (installed with apt-get when missing: Debian's
# `prometheus` package brings promtool too). Runs as root or with sudo; CI=true is fine.
# Usage: scripts/prometheus-e2e.sh     (ports are picked at random; the waits are bounded
# by FIRE_TIMEOUT and RESOLVE_TIMEOUT seconds, default 90)
set -euo pipefail
cd "$(dirname "$0")/.."

FOR=${FOR:-5s}
FIRE_TIMEOUT=${FIRE_TIMEOUT:-90}
RESOLVE_TIMEOUT=${RESOLVE_TIMEOUT:-90}
ALERT=SdimSyncDriftPending

log() { echo "prometheus-e2e: $*"; }

# --- tools -----------------------------------------------------------------------------
missing=()
command -v prometheus >/dev/null || missing+=(prometheus)
command -v promtool >/dev/null || missing+=(prometheus)
command -v curl >/dev/null || missing+=(curl)
command -v jq >/dev/null || missing+=(jq)
if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { log "missing ${missing[*]} and not root (no sudo): install them" >&2; exit 1; }
    as_root=(sudo -n)
  fi
  log "installing ${missing[*]} with apt-get"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  mapfile -t pkgs < <(printf '%s\n' "${missing[@]}" | sort -u)
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${pkgs[@]}" </dev/null >/dev/null
fi
log "$(prometheus --version 2>&1 | head -n 1)"

# --- work dir, processes and the cleanup ------------------------------------------------
WORK=$(mktemp -d)
export XDG_STATE_HOME=$WORK/state   # the ledger of this run only, not the user's
EMU_PID='' DAEMON_PID='' PROM_PID=''

stop() { # stop PID: end one process we started, by its id, and reap it
  local pid=$1
  [ -n "$pid" ] || return 0
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

show_logs() {
  local f
  for f in emulator.log daemon-observe.log daemon-enforce.log prometheus.log; do
    [ -s "$WORK/$f" ] || continue
    echo "----- $f (last 80 lines)" >&2
    tail -n 80 "$WORK/$f" >&2
  done
  if [ -n "$PROM_PID" ] && kill -0 "$PROM_PID" 2>/dev/null; then
    echo "----- Prometheus alerts" >&2
    curl -fsS "$PROM/api/v1/alerts" >&2 || true
    echo >&2
  fi
}

cleanup() {
  local rc=$?
  if [ "$rc" != 0 ]; then
    log "FAILED (exit $rc); logs follow" >&2
    show_logs
  fi
  stop "$PROM_PID"
  stop "$DAEMON_PID"
  stop "$EMU_PID"
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() { log "$*" >&2; exit 1; }

# A free loopback port: a random one nothing answers on.
pick_port() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  fail "no free port found"
}

# wait_for SECONDS WHAT PID COMMAND...: run COMMAND every 0.2 s until it succeeds; fail
# after SECONDS or as soon as the process PID is gone.
wait_for() {
  local secs=$1 what=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ -z "$pid" ] || kill -0 "$pid" 2>/dev/null || fail "$what: the process exited"
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${secs}s"
    sleep 0.2
  done
}

now_ms() { date +%s%3N; }
since() { # since START_MS: seconds elapsed, with one decimal
  local ms=$(($(now_ms) - $1))
  printf '%d.%ds' $((ms / 1000)) $((ms % 1000 / 100))
}

# --- build, emulator --------------------------------------------------------------------
BIN=$WORK/sdim-sync
log "building sdim-sync"
go build -o "$BIN" ./cmd/sdim-sync
"$BIN" serve --help >/dev/null 2>&1 || fail "this sdim-sync has no serve command yet"

EMU_PORT=$(pick_port)
"$BIN" emulator --listen "127.0.0.1:$EMU_PORT" </dev/null >"$WORK/emulator.out" 2>"$WORK/emulator.log" &
EMU_PID=$!
wait_for 20 "the emulator on port $EMU_PORT" "$EMU_PID" grep -q '^http://' "$WORK/emulator.out"
EMU_URL=$(grep -m1 '^http://' "$WORK/emulator.out")
log "emulator at $EMU_URL (pid $EMU_PID)"

# --- the daemon -------------------------------------------------------------------------
export SAIL_BASE_URL=$EMU_URL SAIL_CLIENT_ID=sdim-sync-demo SAIL_CLIENT_SECRET=demo-secret
export SNOW_PASSWORD=e2e-snow-password JIRA_API_TOKEN=e2e-jira-token FACILITIES_API_TOKEN=e2e-facilities-token
DAEMON_PORT=$(pick_port)
DAEMON=http://127.0.0.1:$DAEMON_PORT

start_daemon() { # start_daemon MODE
  "$BIN" serve configs/examples --mode "$1" --schedule '@every 2s' \
    --listen "127.0.0.1:$DAEMON_PORT" --log-format json \
    </dev/null >>"$WORK/daemon-$1.log" 2>&1 &
  DAEMON_PID=$!
  wait_for 30 "the daemon ($1) to be ready at $DAEMON/readyz" "$DAEMON_PID" curl -fsS "$DAEMON/readyz"
  log "daemon in $1 mode at $DAEMON (pid $DAEMON_PID) is ready"
}
start_daemon observe

# --- Prometheus -------------------------------------------------------------------------
# The test copy of the rules: the shipped file with every `for:` shortened, nothing else.
sed -E "s/^([[:space:]]*)for:[[:space:]]*[0-9a-z]+[[:space:]]*$/\1for: $FOR/" \
  deploy/prometheus/rules.yaml >"$WORK/rules.yaml"
grep -q "for: $FOR" "$WORK/rules.yaml" || fail "the test copy of the rules has no shortened for:"
promtool check rules "$WORK/rules.yaml" >/dev/null || fail "promtool check rules of the test copy failed"

PROM_PORT=$(pick_port)
PROM=http://127.0.0.1:$PROM_PORT
cat >"$WORK/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $WORK/rules.yaml
scrape_configs:
  - job_name: sdim-sync
    static_configs:
      - targets: ['127.0.0.1:$DAEMON_PORT']
EOF
promtool check config "$WORK/prometheus.yml" >/dev/null || fail "promtool check config failed"
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=info \
  </dev/null >"$WORK/prometheus.log" 2>&1 &
PROM_PID=$!
wait_for 60 "Prometheus to be ready at $PROM" "$PROM_PID" curl -fsS "$PROM/-/ready"
log "Prometheus at $PROM (pid $PROM_PID), storage in $WORK/tsdb"

alert_state() { # the state of $ALERT: firing, pending or nothing
  curl -fsS "$PROM/api/v1/alerts" |
    jq -r --arg a "$ALERT" '[.data.alerts[] | select(.labels.alertname == $a) | .state] | first // ""'
}
query() { # query PROMQL: the first value of an instant query, or nothing
  curl -fsS "$PROM/api/v1/query" --data-urlencode "query=$1" | jq -r '.data.result[0].value[1] // ""'
}
alert_is() { [ "$(alert_state)" = "$1" ]; }
# Resolved because the drift is gone, not because the series went stale while the daemon
# restarted: the target is up, Prometheus has a sample of 0 drifted objects, no alert.
resolved() {
  [ "$(query 'up{job="sdim-sync"}')" = 1 ] &&
    [ "$(query 'sum(sdim_sync_objects{job="sdim-sync",state="drifted"})')" = 0 ] &&
    [ -z "$(alert_state)" ]
}

# --- the alert fires --------------------------------------------------------------------
start=$(now_ms)
wait_for "$FIRE_TIMEOUT" "$ALERT to fire" "$DAEMON_PID" alert_is firing
fired=$(since "$start")
drifted=$(query 'sum(sdim_sync_objects{state="drifted"})')
log "$ALERT fired ${fired} after Prometheus started (for: $FOR; $drifted objects drifted)"
[ "$(query 'up{job="sdim-sync"}')" = 1 ] || fail "up{job=\"sdim-sync\"} is not 1"

# --- enforce: the drift is applied, the alert resolves -----------------------------------
log "restarting the daemon in enforce mode"
stop "$DAEMON_PID"
DAEMON_PID=''
start=$(now_ms)
start_daemon enforce
wait_for "$RESOLVE_TIMEOUT" "$ALERT to resolve (target up, 0 objects drifted, no alert)" "$DAEMON_PID" resolved
took=$(since "$start")
log "$ALERT resolved ${took} after the enforcing daemon started (0 objects drifted)"

firing=$(curl -fsS "$PROM/api/v1/alerts" | jq -r '[.data.alerts[] | select(.state == "firing") | .labels.alertname] | join(", ")')
[ -z "$firing" ] || log "note: still firing: $firing"
log "OK: fired in ${fired}, resolved in ${took}"
