#!/usr/bin/env bash
# The story of the trusted data space, told on the local GPU hub (make demo).
set -euo pipefail
cd "$(dirname "$0")/.."
. hack/hub/lib.sh
export KUBECONFIG=${KUBECONFIG:-$HUB_KUBECONFIG}
PYTHON=${PYTHON:-.venv/bin/python}
k() { hack/hub/kubectl.sh "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '\033[2m$ kubectl %s\033[0m\n' "$*"; k "$@"; }

say "The hub: a real control plane with simulated CPU and GPU nodes"
k version 2>/dev/null | sed 's/^/  /'
k get nodes -o custom-columns='NODE:.metadata.name,POOL:.metadata.labels.hub\.tds\.io/pool,GPUS:.status.allocatable.nvidia\.com/gpu,PRODUCT:.metadata.labels.nvidia\.com/gpu\.product,TAINTS:.spec.taints[*].key'

say "Install the API and start the operator"
k apply --server-side --field-manager=tds-operator --force-conflicts -f crds/ >/dev/null
k wait --for=condition=Established -f crds/ >/dev/null
log=$HUB_DIR/demo-operator.log
TDS_METRICS_PORT=0 TDS_LIVENESS_ENDPOINT=http://127.0.0.1:18080/healthz \
  "$PYTHON" -m tds_operator >"$log" 2>&1 &
operator_pid=$!
trap 'kill $operator_pid 2>/dev/null || true; wait $operator_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break
  sleep 0.5
done
echo "operator running (pid $operator_pid, log $log)"

say "Three organisations get their isolated spaces"
show apply -f examples/01-dataspaces.yaml
k wait --for=condition=Ready dataspace --all --timeout=60s >/dev/null
show get dataspaces
for space in $(k get dataspaces -o jsonpath='{.items[*].metadata.name}'); do
  ns=$(k get dataspace "$space" -o jsonpath='{.status.namespace}')
  say "What $space got in namespace $ns"
  k get namespace "$ns" -o jsonpath='{"Pod Security: "}{.metadata.labels.pod-security\.kubernetes\.io/enforce}{"\n"}'
  k get networkpolicies,resourcequota,limitrange,rolebindings -n "$ns"
  k get rolebindings -n "$ns" -o custom-columns='BINDING:.metadata.name,ROLE:.roleRef.name,SUBJECTS:.subjects[*].name'
done

say "Isolation, checked by the API server's own authorizer"
a=$(k get dataspaces -o jsonpath='{.items[0].metadata.name}')
b=$(k get dataspaces -o jsonpath='{.items[1].metadata.name}')
owner_group=$(k get dataspace "$a" -o jsonpath='{.spec.owners[0].name}')
for ns in "tds-$a" "tds-$b"; do
  for verb_resource in "create pods" "get secrets" "delete networkpolicies" "patch resourcequotas"; do
    # shellcheck disable=SC2086
    answer=$(k auth can-i $verb_resource -n "$ns" --as "someone-in-$owner_group" --as-group "$owner_group" 2>/dev/null || true)
    printf '  owner of %-6s %-24s in %-10s -> %s\n' "$a" "$verb_resource" "$ns" "$answer"
  done
done
