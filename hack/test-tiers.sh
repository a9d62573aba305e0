#!/usr/bin/env bash
# The cluster tiers of `make test`: integration on the local hub ($HUB_DIR) and e2e on a second
# hub ($E2E_HUB_DIR), at the same time. The tiers share nothing but the machine, so running them
# side by side takes about as long as the longer of the two instead of their sum. Each line of
# output is tagged with its tier; both hubs are stopped at the end, whatever happened.
set -euo pipefail
log_tag=tiers
. "$(dirname "$0")/lib.sh"

integration_hub=${HUB_DIR:-$repo_root/.hub}
e2e_hub=${E2E_HUB_DIR:-$repo_root/.hub-e2e}

on_hub() { # HUB_DIR COMMAND...: run a command against one hub
  local hub=$1
  shift
  HUB_DIR=$hub KUBECONFIG=$hub/kubeconfig "$@"
}

stop_hubs() {
  on_hub "$integration_hub" "$repo_root/hack/hub/down.sh" || true
  on_hub "$e2e_hub" "$repo_root/hack/hub/down.sh" || true
}
trap stop_hubs EXIT

# The integration tier holds the operator to latencies (a revoked job stopped within 2 s), the e2e
# tier holds it to no clock: e2e's hub, operator and tests run at a lower CPU priority (nice), so
# they take the cores the integration tier leaves idle rather than its time.
E2E_NICENESS=${E2E_NICENESS:-10}

# Both hubs run Kueue: each tier runs its tests without it (the operator's own queue; Kueue
# leaves Jobs that name no queue alone), then its Kueue tests. The first start builds the hub's
# binaries, Kueue's among them, if they are not cached yet; the second reuses them.
export HUB_KUEUE=1
on_hub "$integration_hub" "$repo_root/hack/hub/up.sh"
on_hub "$e2e_hub" nice -n "$E2E_NICENESS" "$repo_root/hack/hub/up.sh"

start=$SECONDS
run_tier() { # TIER HUB_DIR [NICENESS]: `make TIER TIER-kueue` against one hub, its lines tagged
  local tier=$1 hub=$2 niceness=${3:-0} status
  on_hub "$hub" nice -n "$niceness" make --no-print-directory --keep-going -C "$repo_root" "$tier" "$tier-kueue" 2>&1 |
    sed -u "s/^/[$tier] /"
  status=${PIPESTATUS[0]}
  log "$tier finished with status $status after $((SECONDS - start))s"
  return "$status"
}

run_tier integration "$integration_hub" &
integration_pid=$!
run_tier e2e "$e2e_hub" "$E2E_NICENESS" &
e2e_pid=$!
integration=0 e2e=0
wait "$integration_pid" || integration=$?
wait "$e2e_pid" || e2e=$?
[ "$integration" -eq 0 ] && [ "$e2e" -eq 0 ]
