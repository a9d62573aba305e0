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
k get nodes -o custom-columns="$hub_node_columns,TAINTS:.spec.taints[*].key"

say "Install the API and start the operator"
k apply --server-side --field-manager=tds-operator --force-conflicts -f crds/ >/dev/null
k wait --for=condition=Established -f crds/ >/dev/null
operator_log=$HUB_DIR/demo-operator.log
# The hub simulates pods: the demo's jobs steer them with hub.tds.io/* annotations.
TDS_SIMULATION_HUB=true TDS_OPERATOR_IMAGE=tds-operator:dev TDS_METRICS_PORT=0 TDS_LIVENESS_ENDPOINT=http://127.0.0.1:18080/healthz \
  "$PYTHON" -m tds_operator >"$operator_log" 2>&1 &
operator_pid=$!
trap 'kill $operator_pid 2>/dev/null || true; wait $operator_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fsS http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break
  sleep 0.5
done
echo "operator running (pid $operator_pid, log $operator_log)"

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
for space in "$a" "$b"; do
  ns=$(k get dataspace "$space" -o jsonpath='{.status.namespace}')
  for verb_resource in "create pods" "get secrets" "delete networkpolicies" "patch resourcequotas"; do
    # shellcheck disable=SC2086
    answer=$(k auth can-i $verb_resource -n "$ns" --as "someone-in-$owner_group" --as-group "$owner_group" 2>/dev/null || true)
    printf '  owner of %-6s %-24s in %-10s -> %s\n' "$a" "$verb_resource" "$ns" "$answer"
  done
done

contract=sgcc-to-cmcc-load
training=load-forecast-v1
# The names the operator gives this contract's clean room, the policy that admits it in the
# provider's namespace, and the contract's ledger pages: from the operator's own code, so the demo
# cannot drift from them (long contract names are shortened with a digest).
names=$("$PYTHON" -c '
import sys
from tds_operator.audit.store import LEDGER_LABEL
from tds_operator.desired.cleanroom import clean_room_namespace, provider_policy_name
from tds_operator.desired.labels import CONTRACT_LABEL
contract = sys.argv[1]
print(clean_room_namespace(contract), provider_policy_name(contract),
      f"{LEDGER_LABEL}=true,{CONTRACT_LABEL}={contract}")
' "$contract")
read -r cleanroom provider_policy ledger_selector <<<"$names"
sgcc_owner=(--as alice --as-group sgcc-admins)
cmcc_owner=(--as zhang.min)
fails() { printf '\033[2m$ kubectl %s\033[0m\n' "$*"; k "$@" 2>&1 | sed 's/^/  -> /' || true; }
phase() { k get dc "$contract" -o jsonpath='{"phase "}{.status.phase}{": "}{.status.conditions[?(@.type=="Active")].message}{"\n"}'; }

say "sgcc serves grid-load-2025 from its gateway Service, as its owner alice"
# Clean rooms have no resolver: they reach the dataset at this Service's cluster IP.
k create service clusterip grid-load-gateway --tcp=8443:9443 -n tds-sgcc --dry-run=client -o yaml \
  | k apply -f - "${sgcc_owner[@]}" >/dev/null
show get service grid-load-gateway -n tds-sgcc

say "sgcc proposes a contract to cmcc (examples/02-datacontract.yaml), as its owner alice"
# A contract is final once revoked, so a second run of the demo starts this part afresh: the
# previous run's contract goes, and so does its ledger, which a new contract of the same name
# would otherwise continue.
k delete trainingjob "$training" -n tds-cmcc --ignore-not-found --timeout=60s >/dev/null
k delete modelrelease,pvc -n tds-cmcc -l app.kubernetes.io/managed-by=tds-operator --ignore-not-found >/dev/null
k delete modelrelease load-forecast-v1-model -n tds-cmcc --ignore-not-found >/dev/null
if k get dc "$contract" >/dev/null 2>&1; then
  k delete dc "$contract" --timeout=60s >/dev/null
fi
k delete configmap -n tds-system -l "$ledger_selector" --ignore-not-found >/dev/null
# The operator's admission webhook answers once it refuses a proposal by a non-party.
for _ in $(seq 1 60); do
  k create --dry-run=server -f examples/02-datacontract.yaml 2>&1 | grep -q "denied the request" && break
  sleep 0.5
done
show create -f examples/02-datacontract.yaml "${sgcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Proposed dc "$contract" --timeout=30s >/dev/null
provider=$(k get dc "$contract" -o jsonpath='{.spec.provider.space}')
provider_ns=$(k get dataspace "$provider" -o jsonpath='{.status.namespace}')
phase

say "Only cmcc's owners speak for cmcc: sgcc cannot consent on its behalf, nor can the cluster admin"
fails patch dc "$contract" --type merge -p '{"spec":{"consent":{"consumer":{"approved":true}}}}' "${sgcc_owner[@]}"
fails patch dc "$contract" --type merge -p '{"spec":{"consent":{"consumer":{"approved":true}}}}'

say "cmcc's owner zhang.min consents: the contract is Active"
show patch dc "$contract" --type merge -p '{"spec":{"consent":{"consumer":{"approved":true}}}}' "${cmcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Active dc "$contract" --timeout=30s >/dev/null
show get dc "$contract"
phase
echo "Signatures, stamped by the admission webhook from the requester's identity:"
k get dc "$contract" -o jsonpath='{range .status.signatures[*]}{"  "}{.party}{"\t"}{.user}{"\t"}{.groups}{"\t"}{.at}{"\t"}{.specDigest}{"\n"}{end}'

say "The clean room: an operator-owned namespace next to sgcc's data"
show get networkpolicies,resourcequota -n "$cleanroom"
echo "and in sgcc's namespace, the only way in:"
show get networkpolicy "$provider_policy" -n "$provider_ns" \
  -o custom-columns='NAME:.metadata.name,FROM NAMESPACE:.spec.ingress[0].from[0].namespaceSelector.matchLabels.kubernetes\.io/metadata\.name,PORTS:.spec.ingress[0].ports[*].port'

say "The terms are frozen once a party has consented"
fails patch dc "$contract" --type merge -p '{"spec":{"compute":{"maxGpuHours":5000}}}' "${sgcc_owner[@]}"

say "cmcc trains under the contract (examples/03-trainingjob.yaml): 2 workers x 8 GPUs, in the clean room"
# On the hub, pods are simulated: hub.tds.io/run-for keeps the workers running long enough to watch.
k annotate --local -f examples/03-trainingjob.yaml hub.tds.io/run-for=10m -o yaml \
  | k apply -f - "${cmcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Running tj "$training" -n tds-cmcc --timeout=60s >/dev/null
show get tj -n tds-cmcc
show get pods -n "$cleanroom" -o wide
echo "The workers have no resolver: every address they are given is an IP."
k get pods -n "$cleanroom" -o jsonpath='{range .items[*]}{"  "}{.metadata.name}{": dnsPolicy "}{.spec.dnsPolicy}{", nameservers "}{.spec.dnsConfig.nameservers}{"\n    MASTER_ADDR="}{.spec.containers[0].env[?(@.name=="MASTER_ADDR")].value}{" TDS_DATASET_ENDPOINTS="}{.spec.containers[0].env[?(@.name=="TDS_DATASET_ENDPOINTS")].value}{"\n"}{end}'
echo "GPU usage, metered from the workers' run time into the job and the contract:"
for _ in 1 2 3; do
  sleep 3
  printf '  job %s GPU-seconds, contract %s GPU-hours of %s\n' \
    "$(k get tj "$training" -n tds-cmcc -o jsonpath='{.status.gpuSeconds}')" \
    "$(k get dc "$contract" -o jsonpath='{.status.usage.gpuHours}')" \
    "$(k get dc "$contract" -o jsonpath='{.spec.compute.maxGpuHours}')"
done

say "sgcc revokes the contract: access ends at once, for good, and the running training stops"
show patch dc "$contract" --type merge -p '{"spec":{"revoked":true}}' "${sgcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Revoked dc "$contract" --timeout=30s >/dev/null
phase
fails get networkpolicy "$provider_policy" -n "$provider_ns"
k wait --for=jsonpath='{.status.phase}'=Stopped tj "$training" -n tds-cmcc --timeout=30s >/dev/null
show get tj -n tds-cmcc
k get tj "$training" -n tds-cmcc \
  -o jsonpath='{"  "}{.status.conditions[?(@.type=="Finished")].reason}{": "}{.status.conditions[?(@.type=="Finished")].message}{"\n"}'
echo "and no new training is admitted under it:"
sed "s/name: $training/name: $training-retry/" examples/03-trainingjob.yaml \
  | fails create -f - "${cmcc_owner[@]}"
fails patch dc "$contract" --type merge -p '{"spec":{"revoked":false}}' "${sgcc_owner[@]}"

say "The operator's own image lists the output (read-only) into its manifest"
release=load-forecast-v1-model
manifest_pod=$training-manifest
k wait --for=jsonpath='{.status.phase}'=Running pod "$manifest_pod" -n "$cleanroom" --timeout=60s >/dev/null
k get pod "$manifest_pod" -n "$cleanroom" \
  -o jsonpath='{"  "}{.metadata.name}{": image "}{.spec.containers[0].image}{", command "}{.spec.containers[0].command}{", /output read-only "}{.spec.containers[0].volumeMounts[0].readOnly}{"\n"}'
echo "(the hub's pods are simulated: as hub staff standing in for the kubelet, we end the step with"
echo " the message the real module writes for a directory of ours)"
model_dir=$(mktemp -d)
printf 'weights' >"$model_dir/model.bin"
message=$("$PYTHON" -m tds_operator.output_manifest "$model_dir")
rm -r "$model_dir"
status=$("$PYTHON" -c 'import json, sys; print(json.dumps({"status": {"phase": "Succeeded", "containerStatuses": [{"name": "manifest", "image": "", "imageID": "", "ready": False, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed", "message": sys.argv[1]}}}]}}))' "$message")
k patch pod "$manifest_pod" -n "$cleanroom" --subresource=status --type=merge -p "$status" >/dev/null

say "The model the job wrote to /output waits in the clean room, Quarantined, its manifest on the record"
k wait --for=jsonpath='{.status.output.state}'=Quarantined tj "$training" -n tds-cmcc --timeout=30s >/dev/null
show get tj "$training" -n tds-cmcc
k get tj "$training" -n tds-cmcc -o jsonpath='{"  manifest "}{.status.output.manifestDigest}{" ("}{.status.output.manifestFiles}{" files, "}{.status.output.manifestBytes}{" bytes)\n"}'
echo "cmcc cannot read the clean room, nor any volume:"
fails get pvc -n "$cleanroom" "${cmcc_owner[@]}"
fails get pv "${cmcc_owner[@]}"

say "cmcc's owner asks for the model (examples/04-modelrelease.yaml); the contract says review"
show create -f examples/04-modelrelease.yaml "${cmcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=AwaitingReview mrel "$release" -n tds-cmcc --timeout=30s >/dev/null
show get mrel -n tds-cmcc
echo "cmcc cannot approve its own release:"
fails patch mrel "$release" -n tds-cmcc --type merge -p '{"spec":{"review":{"decision":"Approved"}}}' "${cmcc_owner[@]}"

say "sgcc's owner alice reviews and approves: the same volume is bound in cmcc's namespace"
show patch mrel "$release" -n tds-cmcc --type merge -p '{"spec":{"review":{"decision":"Approved"}}}' "${sgcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Released mrel "$release" -n tds-cmcc --timeout=60s >/dev/null
show get mrel,pvc -n tds-cmcc
k get mrel "$release" -n tds-cmcc -o jsonpath='{"  requested by "}{.spec.requestedBy.user}{", approved by "}{.spec.review.reviewer.user}{", manifest "}{.spec.review.manifestDigest}{", volume "}{.status.volume}{"\n"}'
echo "With its last output gone, the clean room is removed:"
k wait --for=delete namespace "$cleanroom" --timeout=60s >/dev/null 2>&1 || true
fails get namespace "$cleanroom"

say "Everything above is in the contract's hash-chained audit ledger; each party verifies it"
uid=$(k get dc "$contract" -o jsonpath='{.metadata.uid}')
show get events -n tds-cmcc --field-selector "involvedObject.uid=$uid" --sort-by=.metadata.creationTimestamp \
  -o custom-columns='TYPE:.type,REASON:.reason,MESSAGE:.message' "${cmcc_owner[@]}"
tds() { printf '\033[2m$ kubectl tds %s\033[0m\n' "$*"; "$(dirname "$PYTHON")/kubectl-tds" "$@"; }
tds status "$contract" "${cmcc_owner[@]}"
tds audit verify "$contract" "${sgcc_owner[@]}"
tds audit verify "$contract" "${cmcc_owner[@]}"
. hack/demo-joint.sh
