#!/usr/bin/env bash
# The cluster tiers of `make test`, in two lanes that share nothing but the machine, so that
# running them side by side takes about as long as the longer of the two instead of their sum:
#   - integration on the local hub ($HUB_DIR);
#   - e2e and e2e-kueue on a second hub ($E2E_HUB_DIR), then integration-kueue and a few
#     integration modules ($moved_modules) on that same hub, which then stops; then the kind tier
#     (tests/kind) on a kind cluster of real containers (hack/kind-e2e.sh): its cluster is made
#     and loaded beside the moved modules, its tests wait until both hubs' tests are done and the
#     hubs stopped, so that they run alone.
# Each line of output is tagged with its tier; both hubs and the kind cluster are gone at the end,
# whatever happened.
#   TEST_KIND=0  leaves the kind tier out (it is on by default; its images build in the
#                background from the tiers' start, cached per version under ~/.cache/tds-hub/kind)
set -euo pipefail
log_tag=tiers
. "$(dirname "$0")/kind/lib.sh"  # hack/lib.sh, and kind on the PATH

integration_hub=${HUB_DIR:-$repo_root/.hub}
e2e_hub=${E2E_HUB_DIR:-$repo_root/.hub-e2e}

on_hub() { # HUB_DIR COMMAND...: run a command against one hub
  local hub=$1
  shift
  HUB_DIR=$hub KUBECONFIG=$hub/kubeconfig "$@"
}

TEST_KIND=${TEST_KIND:-1}
kind_cluster=$(sed -n 's/^name: //p' "$repo_root/kind-config.yaml")
kind_build=${KIND_BUILD_DIR:-$repo_root/.kind-build} # the kind build's node image, status, log
# Made once the integration tier is done and its hub stopped, and once the e2e lane's hub tiers
# are: the kind tier's tests wait for both.
kind_tests_go="$kind_build/integration-done $kind_build/e2e-hub-done"
stop_all() {
  on_hub "$integration_hub" "$repo_root/hack/hub/down.sh" || true
  on_hub "$e2e_hub" "$repo_root/hack/hub/down.sh" || true
  # hack/kind-e2e.sh deletes its cluster as it exits; this is for a lane killed before that.
  if [ "$TEST_KIND" != 0 ] && command -v kind >/dev/null &&
    kind get clusters 2>/dev/null | grep -qx "$kind_cluster"; then
    kind delete cluster --name "$kind_cluster" || true
  fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The integration tier holds the operator to latencies (a revoked job stopped within 2 s), the e2e
# tier holds it to no clock: e2e's hub, operator and tests run at a lower CPU priority (nice), so
# they take the cores the integration tier leaves idle rather than its time.
E2E_NICENESS=${E2E_NICENESS:-10}

# Both hubs run Kueue: each tier runs its tests without it (the operator's own queue; Kueue
# leaves Jobs that name no queue alone), then its Kueue tests. The first start builds the hub's
# binaries, Kueue's among them, if they are not cached yet; the second reuses them.
export HUB_KUEUE=1
if [ "$TEST_KIND" != 0 ]; then
  # What the kind tier needs (Docker, kind, the images: a check of about half a minute when
  # cached, most of an hour on a fresh machine) builds in the background from now on, at the e2e
  # lane's priority; the lane waits for it once e2e is done. The hub's binaries it reuses are
  # built already (make test builds them first).
  rm -rf "$kind_build" && mkdir -p "$kind_build"
  (
    status=0
    nice -n "$E2E_NICENESS" "$repo_root/hack/kind/build.sh" >"$kind_build/node" \
      2>"$kind_build/log" || status=$?
    echo "$status" >"$kind_build/status"
  ) &
fi
# `nice` alone does not reach the hub's own processes: each of them (etcd, the API server, the
# controllers, kwok, Kueue) runs in a session of its own, and where the kernel groups processes by
# session (autogroups, kernel.sched_autogroup_enabled) a process's niceness only weighs it against
# its own session; each session weighs as much as any other. So the e2e hub's sessions are given
# the niceness themselves (/proc/PID/autogroup), and given 0 back when integration-kueue, which
# holds latencies, runs on that hub.
set_hub_priority() { # HUB_DIR NICENESS: the hub's processes and their sessions to NICENESS
  local hub=$1 niceness=$2 pid ours
  ours=$(cut -d' ' -f1 /proc/$$/autogroup 2>/dev/null) || return 0
  for pid in $(pgrep -f -- "$hub/" || true); do
    # Never this run's own session (make test's tiers share it).
    [ "$(cut -d' ' -f1 "/proc/$pid/autogroup" 2>/dev/null)" != "$ours" ] || continue
    echo "$niceness" >"/proc/$pid/autogroup" 2>/dev/null || true
    renice -n "$niceness" -p "$pid" >/dev/null 2>&1 || true
  done
}
on_hub "$integration_hub" "$repo_root/hack/hub/up.sh"
on_hub "$e2e_hub" nice -n "$E2E_NICENESS" "$repo_root/hack/hub/up.sh"
set_hub_priority "$e2e_hub" "$E2E_NICENESS"

start=$SECONDS
# Each tier's output is also kept whole in .test-logs/, and what failed is recalled at the end
# (recap), after the last tier's lines: the lanes' outputs interleave, and a failure early in one
# would otherwise be thousands of lines above the end.
logs=$repo_root/.test-logs
rm -rf "$logs" && mkdir -p "$logs"
run_tier() { # TAG HUB_DIR NICENESS TARGET...: make's TARGETs against one hub, lines tagged [TAG]
  local tag=$1 hub=$2 niceness=$3 status=0
  shift 3
  # `|| status=$?`, not PIPESTATUS after it: run in the background, a failed pipeline would end
  # the function (errexit) before it says how the tier ended.
  on_hub "$hub" nice -n "$niceness" make --no-print-directory --keep-going -C "$repo_root" "$@" 2>&1 |
    sed -u "s/^/[$tag] /" | tee "$logs/$tag.log" || status=$?
  log "$tag finished with status $status after $((SECONDS - start))s"
  return "$status"
}

# The integration modules the e2e lane runs instead, after integration-kueue: with them there, both
# lanes end at about the same time (the integration tier alone ended about 6 minutes after the e2e
# lane, bench/results/2026-12-07-test-lanes.md). Joint training's own modules, about 3 minutes.
moved_modules="tests/integration/test_joint_release.py tests/integration/test_joint_training_run.py"
ignored=
for module in $moved_modules; do ignored="$ignored --ignore=$module"; done
run_tier integration "$integration_hub" 0 integration PYTEST_FLAGS="${PYTEST_FLAGS:-}$ignored" &
integration_pid=$!
kind_tier() { # the kind tier on a new kind cluster, once the kind build is done; tagged [kind]
  local status=0
  if ! wait_for_file "$kind_build/status" || [ "$(cat "$kind_build/status")" != 0 ]; then
    sed 's/^/[kind] /' "$kind_build/log" >&2
    log "the kind build failed: no kind tier"
    return 1
  fi
  sed -n 's/^/[kind] /; /built or cached in/p' "$kind_build/log" >&2
  # Not niced, unlike e2e: the kind tier holds the operator to latencies too (hack/kind-e2e.sh
  # raises its cluster's CPU weight, hack/kind/cpu-weight.sh, for whatever else runs).
  KIND_NODE_IMAGE=$(cat "$kind_build/node") KIND_BUILT=1 KIND_TESTS=kind-tier \
    KIND_TESTS_WAIT_FOR=$kind_tests_go "$repo_root/hack/kind-e2e.sh" 2>&1 |
    sed -u "s/^/[kind] /" | tee "$logs/kind.log" || status=$?
  log "kind finished with status $status after $((SECONDS - start))s"
  return "$status"
}

# integration is the longer tier: integration-kueue (latency checks, hence not niced) follows
# e2e-kueue on the e2e hub, whose sessions get niceness 0 back first. The e2e tiers leave that hub
# as they found it (each uninstalls its release), and integration-kueue's modules make their own
# spaces, queues and flavours.
# The kind cluster is made and loaded (about 2.5 minutes) beside the moved modules rather than
# after them: with both lanes ending together, it would otherwise be on the critical path.
e2e_lane() { # e2e, e2e-kueue, integration-kueue, the moved modules on the e2e hub, which then stops
  local status=0 kind_pid=''
  run_tier e2e "$e2e_hub" "$E2E_NICENESS" e2e e2e-kueue || status=1
  set_hub_priority "$e2e_hub" 0
  run_tier integration-kueue "$e2e_hub" 0 integration-kueue || status=1
  if [ "$TEST_KIND" != 0 ]; then
    kind_tier &
    kind_pid=$!
  fi
  run_tier integration-moved "$e2e_hub" 0 integration INTEGRATION_TESTS="$moved_modules" || status=1
  on_hub "$e2e_hub" "$repo_root/hack/hub/down.sh" || true
  if [ -n "$kind_pid" ]; then
    touch "$kind_build/e2e-hub-done"
    wait "$kind_pid" || status=1
  fi
  return "$status"
}

e2e_lane &
e2e_pid=$!
integration=0 e2e=0
wait "$integration_pid" || integration=$?
# The kind tier's tests run alone, once the integration tier is done and its hub stopped too: they
# hold the operator to bounds of a second on the wire (a revoked contract's reads refused within
# 1 s), which a 2-core machine running the integration tier beside the cluster missed
# (bench/results/2026-12-07-make-test-kind.md). Its cluster is made and loaded meanwhile.
on_hub "$integration_hub" "$repo_root/hack/hub/down.sh" || true
[ "$TEST_KIND" = 0 ] || touch "$kind_build/integration-done"
wait "$e2e_pid" || e2e=$?
recap() { # what each tier's pytest said failed and why, and how each ended
  local file
  for file in "$logs"/*.log; do
    [ -e "$file" ] || continue
    # Why: the failures' assertion lines (E) and what the operator warned of meanwhile
    # (operator|, tests/conftest.py), the first 40 of them.
    grep -E '^\[[a-z0-9-]+\] (E   |operator\| )' "$file" | head -n 40 | cut -c1-400 || true
    grep -E '^\[[a-z0-9-]+\] (FAILED|ERROR) |^\[[a-z0-9-]+\] =+ .*(passed|failed|error).* =+$' "$file" || true
  done
}
log "recap of the tiers (whole outputs in .test-logs/):"
recap
[ "$integration" -eq 0 ] && [ "$e2e" -eq 0 ]
