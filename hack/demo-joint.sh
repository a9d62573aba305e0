# The end of the demo (hack/demo.sh sources it): three organisations train one model together.
# sgcc's load curves and cma's observations, each under its own contract with cmcc, in one joint
# TrainingJob; its model leaves only when every contract allows it.
# shellcheck shell=bash disable=SC2154
joint_job=joint-load-forecast-v1
joint_release=joint-load-forecast-v1-model
joint_contracts=(sgcc-to-cmcc-joint cma-to-cmcc-joint)
cma_owner=(--as wang.fang --as-group cma-data-office)

say "Joint training: sgcc and cma each contract with cmcc, each consenting to be combined"
# A second run starts afresh, as above: the previous run's job, release, contracts and ledgers go.
k delete trainingjob "$joint_job" -n tds-cmcc --ignore-not-found --timeout=60s >/dev/null
k delete modelrelease "$joint_release" -n tds-cmcc --ignore-not-found >/dev/null
k delete pvc "$joint_release" -n tds-cmcc --ignore-not-found >/dev/null
for name in "${joint_contracts[@]}"; do
  k delete dc "$name" --ignore-not-found --timeout=60s >/dev/null
  k delete configmap -n tds-system -l "${ledger_selector%=*}=$name" --ignore-not-found >/dev/null
done
# Each provider proposes its own contract, as its owner (the file holds both: one per owner).
one_of() {
  "$PYTHON" -c '
import sys, yaml
for doc in yaml.safe_load_all(open(sys.argv[1])):
    if doc and doc["metadata"]["name"] == sys.argv[2]:
        print(yaml.safe_dump(doc))
' examples/joint-training/01-datacontracts.yaml "$1"
}
one_of sgcc-to-cmcc-joint | k create -f - "${sgcc_owner[@]}"
one_of cma-to-cmcc-joint | k create -f - "${cma_owner[@]}"
for name in "${joint_contracts[@]}"; do
  show patch dc "$name" --type merge -p '{"spec":{"consent":{"consumer":{"approved":true}}}}' "${cmcc_owner[@]}"
  k wait --for=jsonpath='{.status.phase}'=Active dc "$name" --timeout=60s >/dev/null
done
k get dc "${joint_contracts[@]}" \
  -o custom-columns='CONTRACT:.metadata.name,PROVIDER:.spec.provider.space,JOINT:.spec.jointTraining.allowed,WITH:.spec.jointTraining.with,EXPORT:.spec.outputs.modelExport,PHASE:.status.phase'

say "cmcc trains one model on both providers' data (examples/joint-training/02-trainingjob.yaml)"
k annotate --local -f examples/joint-training/02-trainingjob.yaml hub.tds.io/run-for=5s -o yaml \
  | k apply -f - "${cmcc_owner[@]}"
k wait --for=jsonpath='{.status.output.state}'=Inventorying tj "$joint_job" -n tds-cmcc --timeout=120s >/dev/null
show get tj "$joint_job" -n tds-cmcc
joint_room=$(k get tj "$joint_job" -n tds-cmcc -o jsonpath='{.status.cleanRoom}')
for name in "${joint_contracts[@]}"; do
  printf '  %s: GPU-hours used %s\n' "$name" "$(k get dc "$name" -o jsonpath='{.status.usage.gpuHours}')"
done

say "Its manifest, then the model waits in the joint clean room $joint_room, Quarantined"
k wait --for=jsonpath='{.status.phase}'=Running pod "$joint_job-manifest" -n "$joint_room" --timeout=60s >/dev/null
k patch pod "$joint_job-manifest" -n "$joint_room" --subresource=status --type=merge -p "$status" >/dev/null
k wait --for=jsonpath='{.status.output.state}'=Quarantined tj "$joint_job" -n tds-cmcc --timeout=30s >/dev/null
k get tj "$joint_job" -n tds-cmcc -o jsonpath='{"  manifest "}{.status.output.manifestDigest}{"\n"}'

say "cmcc asks for the model: every contract decides (sgcc's says review, cma's allowed)"
show create -f examples/joint-training/03-modelrelease.yaml "${cmcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=AwaitingReview mrel "$joint_release" -n tds-cmcc --timeout=30s >/dev/null
k get mrel "$joint_release" -n tds-cmcc \
  -o jsonpath='{range .status.contracts[*]}{"  "}{.contract}{": "}{.clause}{" -> "}{.outcome}{"\n"}{end}'
echo "cma's contract needs no review: cma's owner cannot reach the release, let alone review for sgcc's:"
review='[{"op":"add","path":"/spec/reviews/-","value":{"contract":"sgcc-to-cmcc-joint","decision":"Approved"}}]'
fails patch mrel "$joint_release" -n tds-cmcc --type=json -p "$review" "${cma_owner[@]}"

say "sgcc's owner alice approves for sgcc's contract: the model is released"
show patch mrel "$joint_release" -n tds-cmcc --type=json -p "$review" "${sgcc_owner[@]}"
k wait --for=jsonpath='{.status.phase}'=Released mrel "$joint_release" -n tds-cmcc --timeout=60s >/dev/null
show get mrel "$joint_release" -n tds-cmcc
k get mrel "$joint_release" -n tds-cmcc \
  -o jsonpath='{range .status.contracts[*]}{"  "}{.contract}{": "}{.outcome}{" "}{.reviewer}{"\n"}{end}'

say "Each contract's ledger records the joint job and where its output went; each party verifies it"
for name in "${joint_contracts[@]}"; do
  tds status "$name" "${cmcc_owner[@]}"
  tds audit verify "$name" "${cmcc_owner[@]}"
done
