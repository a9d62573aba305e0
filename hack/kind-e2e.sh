#!/usr/bin/env bash
# make e2e-kind: the e2e suite on a fresh kind cluster, with the operator running in it from its
# image, as a platform team would run it. Needs docker, kind (>= 0.24), kubectl and helm.
#   KIND_NODE_IMAGE    kindest/node image (default: kind's own)
#   KIND_KEEP_CLUSTER  set to keep the cluster afterwards (its kubeconfig: $KIND_KUBECONFIG)
#   TDS_E2E_IMAGE      tag of the operator image built from the Dockerfile (tds-operator:e2e)
#   TDS_E2E_TRAINING_IMAGE  an image with `sleep` that stands in for the trainer (busybox:1.37)
#   TDS_E2E_OUTPUT_STORAGE_CLASS  the class of output volumes (kind's own: standard)
set -euo pipefail
log_tag='e2e-kind'
. "$(dirname "$0")/lib.sh"
cd "$repo_root"
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { log "make e2e-kind needs $tool on PATH"; exit 1; }
done
cluster=$(sed -n 's/^name: //p' kind-config.yaml)
image=${TDS_E2E_IMAGE:-tds-operator:e2e}
trainer=${TDS_E2E_TRAINING_IMAGE:-busybox:1.37}
# The volume dataset's gateway: kube-rbac-proxy as the chart names it (its file server is the
# operator's own image).
proxy=$(sed -n 's/^  gatewayProxyImage: //p' charts/tds-operator/values.yaml)
export KUBECONFIG=${KIND_KUBECONFIG:-${TMPDIR:-/tmp}/tds-e2e-kind.kubeconfig}

log "creating kind cluster $cluster"
kind create cluster --config kind-config.yaml --kubeconfig "$KUBECONFIG" --wait 180s \
  ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
cleanup() {
  if [ -n "${KIND_KEEP_CLUSTER:-}" ]; then
    log "keeping cluster $cluster (KUBECONFIG=$KUBECONFIG); kind delete cluster --name $cluster"
  else
    kind delete cluster --name "$cluster"
  fi
}
trap cleanup EXIT

log "building $image and loading it, $trainer and $proxy into the cluster"
docker build -t "$image" .
docker pull "$trainer"
docker pull "$proxy"
kind load docker-image --name "$cluster" "$image" "$trainer" "$proxy"

# The GPU pool's capacity, as on the hub: 8 nvidia.com/gpu per node (an extended resource the
# scheduler counts; the kubelet keeps what is patched into the node's status).
for node in $(kubectl get nodes -l hub.tds.io/pool=gpu -o name); do
  kubectl patch "$node" --subresource=status --type=json \
    -p '[{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "8"}]'
done

log "running the e2e suite with the operator in the cluster"
TDS_E2E_OPERATOR=cluster TDS_E2E_IMAGE=$image TDS_E2E_TRAINING_IMAGE=$trainer \
  TDS_E2E_OUTPUT_STORAGE_CLASS=${TDS_E2E_OUTPUT_STORAGE_CLASS:-standard} \
  KUBECTL=$(command -v kubectl) HELM=$(command -v helm) \
  make e2e
