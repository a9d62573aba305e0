#!/usr/bin/env bash
# hack/kind/with-env.sh COMMAND...: run a command with the environment the e2e suite and the kind
# tier need on the kind cluster of `make e2e-kind` (the operator from its image, in the cluster;
# the trainer image; kind's storage class; the hub's kubectl and helm), on KIND_KUBECONFIG (or the
# default kubeconfig `make e2e-kind` writes). hack/kind-e2e.sh runs its tests through it; with
# KIND_KEEP_CLUSTER=1 it runs anything against the kept cluster, such as one test module.
set -euo pipefail
log_tag='kind-env'
. "$(dirname "$0")/lib.sh"
export KUBECONFIG=${KIND_KUBECONFIG:-${TMPDIR:-/tmp}/tds-e2e-kind.kubeconfig}
export TDS_E2E_OPERATOR=cluster TDS_E2E_IMAGE=${TDS_E2E_IMAGE:-tds-operator:e2e} \
  TDS_E2E_TRAINING_IMAGE=${TDS_E2E_TRAINING_IMAGE:-$("$kind_here/images.sh" trainer-image-name)} \
  TDS_E2E_OUTPUT_STORAGE_CLASS=${TDS_E2E_OUTPUT_STORAGE_CLASS:-standard} \
  KUBECTL=$K8S_BIN/kubectl HELM=$HELM_BIN/helm
exec "$@"
