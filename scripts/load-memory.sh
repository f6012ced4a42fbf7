#!/usr/bin/env bash
# What a cold load of the desired state costs a user: peak resident memory and wall time
# of `sdim-sync validate` (a load and nothing else) on 10,000 service desk integrations in
# 100 files (the files of BenchmarkLoad10k), best and worst of RUNS runs (default 5), and
# the peak of the same command on an empty directory, which is what the process costs
# without a desired state.
# With a revision, the same is measured for that revision's build in the same run, side by
# side:
#
#   scripts/load-memory.sh              # this checkout
#   scripts/load-memory.sh 250c3a7      # and 250c3a7 (before yamlsubset), for the ratio
#
# Prints a Markdown table; needs /usr/bin/time (Debian: apt-get install time).
set -euo pipefail
cd "$(dirname "$0")/.."
REV=${1:-}
RUNS=${RUNS:-5}
WORK=$(mktemp -d)
trap 'git worktree remove --force "$WORK/old" 2>/dev/null || true; rm -rf "$WORK"' EXIT
say() { echo "load-memory: $*" >&2; }
[ -x /usr/bin/time ] || { say "needs /usr/bin/time (apt-get install time)"; exit 1; }

say "writing 10,000 integrations in 100 files"
mkdir -p "$WORK/desired"
for f in $(seq 0 99); do
  for i in $(seq 0 99); do
    n=$((f * 100 + i)); m=$((n % 10000))
    printf -- '---\nkind: ServiceDeskIntegration\nname: Integration %05d\nspec:\n  description: Tickets for manual provisioning, team %d\n  type: ServiceNowSDIM\n  ownerRef: {type: IDENTITY, id: 2c9180a46faadee4016fb4e018c2%04d}\n  clusterRef: {type: CLUSTER, id: 2c9180847a7fccdd017aa5896f9f4f6f}\n  provisioningConfig:\n    managedResourceRefs:\n      - {type: SOURCE, id: 2c9180855d191c59015d291ceb05%04d}\n      - {type: SOURCE, id: 2c9180855d191c59015d291ceb06%04d}\n    noProvisioningRequests: false\n    provisioningRequestExpiration: 7\n  attributes:\n    url: https://acme-%d.service-now.com\n    username: svc-sailpoint\n    password: ${env:SNOW_PASSWORD}\n    authType: basic\n    requestType: catalog\n  beforeProvisioningRule: {type: RULE, id: 2c918085708c274401708c2a8a760001}\noptions:\n  ignore: [/attributes/lastSyncDate]\n' \
      "$n" $((n % 50)) "$m" "$m" "$m" "$n"
  done >"$WORK/desired/integrations-$(printf %03d "$f").yaml"
done

say "building this checkout"
go build -o "$WORK/new" ./cmd/sdim-sync
builds="new"
if [ -n "$REV" ]; then
  say "building $REV"
  git worktree add --detach -q "$WORK/old" "$REV"
  (cd "$WORK/old" && go build -o "$WORK/old.bin" ./cmd/sdim-sync)
  builds="old new"
fi

# measure BUILD DIR: RUNS validations of DIR, one "KB seconds" line each.
measure() {
  local bin=$WORK/$1; [ "$1" = old ] && bin=$WORK/old.bin
  for _ in $(seq "$RUNS"); do
    SNOW_PASSWORD=x /usr/bin/time -f '%M %e' -o "$WORK/time" "$bin" validate "$2" >"$WORK/out" 2>&1 ||
      { cat "$WORK/out" >&2; say "validate failed ($1)"; exit 1; }
    cat "$WORK/time"
  done
}
range() { sort -n | awk -v f="$1" 'NR==1{lo=$1} {hi=$1} END{printf f, lo, hi}'; }

mkdir "$WORK/empty"
echo "| build | peak RSS (MB) | wall time (s) | peak RSS of an empty directory (MB) |"
echo "| --- | --- | --- | --- |"
for b in $builds; do
  say "measuring $b ($RUNS runs)"
  measure "$b" "$WORK/desired" >"$WORK/$b.txt"
  measure "$b" "$WORK/empty" >"$WORK/$b-empty.txt"
  rss=$(awk '{print $1/1024}' "$WORK/$b.txt" | range '%.0f–%.0f')
  wall=$(awk '{print $2}' "$WORK/$b.txt" | range '%.2f–%.2f')
  base=$(awk '{print $1/1024}' "$WORK/$b-empty.txt" | range '%.0f–%.0f')
  label="this checkout"; [ "$b" = old ] && label="$REV"
  echo "| $label | $rss | $wall | $base |"
done
echo
echo "$(nproc) cores, $(go env GOVERSION), $(date -u +%F); command: scripts/load-memory.sh${REV:+ $REV}"
