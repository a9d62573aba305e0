#!/usr/bin/env bash
# The story of the trusted data space, told on the local GPU hub (make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/hub/lib.sh
export KUBECONFIG=${KUBECONFIG:-$HUB_KUBECONFIG}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "The hub: a real control plane with simulated CPU and GPU nodes"
hub_kubectl version 2>/dev/null | sed 's/^/  /'
hub_kubectl get nodes -o custom-columns='NODE:.metadata.name,POOL:.metadata.labels.hub\.tds\.io/pool,GPUS:.status.allocatable.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,TAINTS:.spec.taints[*].key'
