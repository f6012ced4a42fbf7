#!/usr/bin/env bash
# The checks of deploy/, for CI (.ci/run calls it; so can you):
#   1. promtool check rules and promtool test rules on deploy/prometheus;
#   2. deploy/generate.sh --check: the PrometheusRule is what the rules file makes;
#   3. go test ./deploy/: every manifest decoded strictly, the kustomizations, the
#      Deployment's security settings, the config, rules and PrometheusRule alike, runbook
#      anchors, the dashboard, Dockerfile, systemd unit (systemd-analyze verify when
#      installed), the CI examples, and every metric named served by the daemon.
# Installs Debian's prometheus package (for promtool) with apt-get when promtool is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v promtool >/dev/null; then
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "check: promtool is missing and this is not root: apt-get install prometheus" >&2; exit 1; }
    as_root=(sudo -n)
  fi
  echo "== installing prometheus (promtool) with apt-get"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq </dev/null
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus </dev/null >/dev/null
fi

echo "== promtool check rules"
promtool check rules deploy/prometheus/rules.yaml
echo "== promtool test rules"
(cd deploy/prometheus && promtool test rules rules_test.yaml)
echo "== deploy/generate.sh --check"
bash deploy/generate.sh --check
echo "== go test ./deploy/"
go test -count=1 ./deploy/
echo "check: deploy/ OK"
