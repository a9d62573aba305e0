# The local GPU hub's paths and helpers; sourced by the hub scripts. Sources hack/lib.sh.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
log_tag=${log_tag:-hub}
. "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
hub_here=$repo_root/hack/hub
. "$hub_here/versions.env"
HUB_DIR=${HUB_DIR:-$repo_root/.hub}
HUB_NAME=${HUB_NAME:-tds-hub}
HUB_KUBECONFIG=$HUB_DIR/kubeconfig
# Where the output volumes' host paths lie: in /tmp (the only place the hostPath deleter erases),
# one directory per hub directory.
HUB_OUTPUT_ROOT=${HUB_OUTPUT_ROOT:-/tmp/tds-hub-outputs-$(printf '%s' "$HUB_DIR" | sha256sum | cut -c1-12)}
export HUB_OUTPUT_ROOT
K8S_BIN=$HUB_CACHE_DIR/kubernetes-$K8S_VERSION
ETCD_BIN=$HUB_CACHE_DIR/etcd-$ETCD_VERSION
KWOK_BIN=$HUB_CACHE_DIR/kwok-$KWOK_VERSION
HELM_BIN=$HUB_CACHE_DIR/helm-$HELM_VERSION
KUEUE_BIN=$HUB_CACHE_DIR/kueue-$KUEUE_VERSION
# Kueue runs on the hub only when asked for: HUB_KUEUE=1.
HUB_KUEUE=${HUB_KUEUE:-0}
PROMTOOL_BIN=$HUB_CACHE_DIR/promtool-$PROMTOOL_VERSION
# kwokctl keeps each cluster's state (certificates, etcd data, logs, pids) under this directory.
export KWOK_WORKDIR=$HUB_DIR/kwok
export PATH=$K8S_BIN:$KWOK_BIN:$HELM_BIN:$PATH

# kubectl -o custom-columns for the hub's nodes: name, pool, GPUs and GPU product; callers append
# the columns they need besides.
hub_node_columns='NODE:.metadata.name,POOL:.metadata.labels.hub\.tds\.io/pool'
hub_node_columns+=',GPUS:.status.allocatable.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product'

hub_kubectl() { "$K8S_BIN/kubectl" --kubeconfig "$HUB_KUBECONFIG" "$@"; }

hub_is_serving() {
  [ -f "$HUB_KUBECONFIG" ] && hub_kubectl get --raw /readyz --request-timeout=3s >/dev/null 2>&1
}
