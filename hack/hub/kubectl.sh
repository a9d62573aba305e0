#!/usr/bin/env bash
# The hub's kubectl (the version the hub was built with), against $KUBECONFIG or the local hub.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
exec "$K8S_BIN/kubectl" --kubeconfig "${KUBECONFIG:-$HUB_KUBECONFIG}" "$@"
