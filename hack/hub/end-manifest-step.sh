#!/usr/bin/env bash
# Ends a TrainingJob's output manifest step on the local hub, as the real step would have
# (make hub-end-manifest JOB=... NAMESPACE=... [FILES=dir]). The hub's pods are simulated: the
# operator's image never runs there, so the step's pod stays Running. As hub staff standing in
# for the kubelet, this ends its container with the termination message the real step writes
# (`python -m tds_operator.output_manifest DIR`) for FILES, or for a small model of its own, as the
# tests and `make demo` do. Then the job's output is Quarantined and a release can be reviewed.
set -euo pipefail
log_tag='end-manifest-step'
. "$(dirname "$0")/lib.sh"
cd "$repo_root"
python=${PYTHON:-$repo_root/.venv/bin/python}
job=${1:-}
namespace=${2:-}
files=${3:-}
if [ -z "$job" ] || [ -z "$namespace" ]; then
  log "usage: $0 JOB NAMESPACE [DIR]   (make hub-end-manifest JOB=... NAMESPACE=... [FILES=dir])"
  exit 2
fi
hub_is_serving || { log "the local hub is not serving ($HUB_KUBECONFIG): make hub-up first"; exit 1; }
contract=$(hub_kubectl get trainingjob "$job" -n "$namespace" -o jsonpath='{.spec.contract}')
cleanroom=$("$python" -c 'import sys
from tds_operator.desired.cleanroom import clean_room_namespace
print(clean_room_namespace(sys.argv[1]))' "$contract")
pod=$job-manifest
log "waiting for the manifest step of $namespace/$job (pod $pod in $cleanroom)"
if ! hub_kubectl wait --for=jsonpath='{.status.phase}'=Running pod "$pod" -n "$cleanroom" \
  --timeout=60s >/dev/null 2>&1; then
  log "no running manifest step: the job must have ended with an output (spec.output), and the"
  log "operator must run with TDS_OPERATOR_IMAGE set (make run sets it on the hub)"
  exit 1
fi
if [ -z "$files" ]; then
  files=$(mktemp -d)
  trap 'rm -rf "$files"' EXIT
  mkdir "$files/model"
  printf 'weights' >"$files/model/weights.bin"
  printf 'a model\n' >"$files/README"
fi
message=$("$python" -m tds_operator.output_manifest "$files")
status=$("$python" -c 'import json, sys
terminated = {"exitCode": 0, "reason": "Completed", "message": sys.argv[1]}
container = {"name": "manifest", "image": "", "imageID": "", "ready": False, "restartCount": 0,
             "state": {"terminated": terminated}}
print(json.dumps({"status": {"phase": "Succeeded", "containerStatuses": [container]}}))' "$message")
hub_kubectl patch pod "$pod" -n "$cleanroom" --subresource=status --type=merge -p "$status" \
  >/dev/null
hub_kubectl wait --for=jsonpath='{.status.output.state}'=Quarantined trainingjob "$job" \
  -n "$namespace" --timeout=60s >/dev/null
log "the output of $namespace/$job is Quarantined, its manifest on the record:"
hub_kubectl get trainingjob "$job" -n "$namespace" \
  -o jsonpath='{"  digest "}{.status.output.manifestDigest}{", "}{.status.output.manifestFiles}{" files, "}{.status.output.manifestBytes}{" bytes\n"}' >&2
