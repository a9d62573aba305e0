#!/usr/bin/env bash
# The hub's kubectl (the version the hub was built with), against $KUBECONFIG or the local hub.
# The kubeconfig goes through the environment, not --kubeconfig: kubectl refuses flags placed
# before a plugin's name (`kubectl tds ...`).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
export KUBECONFIG=${KUBECONFIG:-$HUB_KUBECONFIG}
exec "$K8S_BIN/kubectl" "$@"
