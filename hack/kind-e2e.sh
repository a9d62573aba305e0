#!/usr/bin/env bash
# make e2e-kind: the e2e suite (and the kind tier, tests/kind) on a fresh kind cluster whose pods
# are real containers, with the operator running in it from its image, as a platform team would run
# it. Everything is built on this machine (hack/kind/build.sh: Docker from Debian's packages, kind
# and every image from Go modules and Debian packages); nothing is pulled from a registry.
#   KIND_NODE_IMAGE    another kind node image (default: the one hack/kind/ builds)
#   KIND_BUILT         set when hack/kind/build.sh has just run (make test runs it beforehand,
#                      in the background): its check is not repeated; KIND_NODE_IMAGE is its output
#   KIND_KEEP_CLUSTER  set to keep the cluster afterwards (its kubeconfig: $KIND_KUBECONFIG)
#   TDS_E2E_IMAGE      tag of the operator image built from the Dockerfile (tds-operator:e2e)
#   KIND_TESTS         the make targets run on the cluster: "e2e kind-tier" (default), or either
#   KIND_TESTS_WAIT_FOR  files, separated by spaces: the tests start once all exist (at most two
#                      hours each), the cluster being made and loaded meanwhile (make test makes it
#                      while the hub tiers end)
# shellcheck disable=SC2329 # create and cleanup are called by step and trap
set -euo pipefail
log_tag='e2e-kind'
. "$(dirname "$0")/kind/lib.sh"
cd "$repo_root"
start=$SECONDS
if [ -n "${KIND_BUILT:-}" ]; then
  node=${KIND_NODE_IMAGE:?KIND_BUILT needs KIND_NODE_IMAGE, the node image hack/kind/build.sh built}
else
  node=$(hack/kind/build.sh)
  node=${KIND_NODE_IMAGE:-$node}
fi
cluster=$(sed -n 's/^name: //p' kind-config.yaml)
image=${TDS_E2E_IMAGE:-tds-operator:e2e}
trainer=$(hack/kind/images.sh trainer-image-name)
# The volume dataset's gateway: kube-rbac-proxy as the chart names it (its file server is the
# operator's own image).
proxy=$(hack/kind/images.sh proxy-image-name)
hack/kind/images.sh operator "$image"
export KUBECONFIG=${KIND_KUBECONFIG:-${TMPDIR:-/tmp}/tds-e2e-kind.kubeconfig}
log "built or checked everything in $((SECONDS - start))s"

if kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  log "deleting the kind cluster $cluster left by an earlier run"
  kind delete cluster --name "$cluster"
fi
# The nodes' shared volume directory (kind-config.yaml's extraMounts, relative to the repository's
# root): made empty for each cluster, removed with it.
storage=.kind-build/storage
create() {
  rm -rf "$storage" && mkdir -p "$storage"
  kind create cluster --config kind-config.yaml --kubeconfig "$KUBECONFIG" --image "$node" --wait 300s
}
cleanup() {
  hack/kind/cpu-weight.sh restore "$cluster" || true
  if [ -n "${KIND_KEEP_CLUSTER:-}" ]; then
    log "keeping cluster $cluster (KUBECONFIG=$KUBECONFIG); kind delete cluster --name $cluster"
  else
    kind delete cluster --name "$cluster"
    rm -rf "$storage"
  fi
}
# The cluster goes however this ends: also when its creation fails halfway, or on a signal.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
step "kind cluster $cluster on $node" create

step "loading $image, $trainer and $proxy into the cluster" \
  kind load docker-image --name "$cluster" "$image" "$trainer" "$proxy"

# The GPU pool's capacity, as on the hub: its two GPU nodes have 8 nvidia.com/gpu each, kind's one
# GPU worker stands for both with 16 (an extended resource the scheduler counts; no GPU is used):
# the story's job runs two workers of 8.
for node_name in $(kubectl get nodes -l hub.tds.io/pool=gpu -o name); do
  kubectl patch "$node_name" --subresource=status --type=json -p '[
    {"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "16"},
    {"op": "add", "path": "/status/allocatable/nvidia.com~1gpu", "value": "16"}]' >/dev/null
done

for file in ${KIND_TESTS_WAIT_FOR:-}; do
  [ ! -e "$file" ] || continue
  log "the cluster is ready; the tests wait for $file"
  wait_for_file "$file" || { log "$file never came"; exit 1; }
done
# The cluster's containers outweigh the rest of the machine for the CPU while its tests run:
# their bounds measure the operator, not the queue for a core. Raised only now, so that making and
# loading the cluster take no more than their share from the hub tiers that may still run beside.
hack/kind/cpu-weight.sh raise "$cluster"
status=0
for tests in ${KIND_TESTS:-e2e kind-tier}; do
  log "running the $tests tests with the operator in the cluster"
  step "make $tests on kind" env KIND_KUBECONFIG="$KUBECONFIG" TDS_E2E_IMAGE="$image" \
    TDS_E2E_TRAINING_IMAGE="$trainer" hack/kind/with-env.sh make --no-print-directory "$tests" || status=1
done
log "make e2e-kind finished in $((SECONDS - start))s"
exit "$status"
