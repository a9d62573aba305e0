#!/usr/bin/env bash
# Runs the operator on this machine against KUBECONFIG (make run): installs the CRDs, picks free
# ports for what is not set, prints every setting in effect, then runs `python -m tds_operator`.
# On the local hub (KUBECONFIG is $HUB_DIR/kubeconfig) it also sets what the hub needs unless
# already set: TDS_SIMULATION_HUB=true (its pods are simulated; jobs steer them) and an operator
# image for the output's manifest step (the hub never runs it: hack/hub/end-manifest-step.sh
# ends it). Arguments go to the operator (make run ARGS=--verbose).
set -euo pipefail
log_tag='run'
. "$(dirname "$0")/hub/lib.sh"
cd "$repo_root"
python=${PYTHON:-$repo_root/.venv/bin/python}
export KUBECONFIG=${KUBECONFIG:-$HUB_KUBECONFIG}
die() {
  log "$*"
  exit 1
}

free_port() {
  "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A port that is set must be free: say which setting names a taken one, instead of a traceback.
port_free() {
  "$python" -c 'import socket, sys
s = socket.socket()
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)' "$1"
}

check_port() {
  local name=$1 port=$2
  if [ "$port" != 0 ] && ! port_free "$port"; then
    die "$name=$port: that port is taken on this machine; unset $name to have a free one picked"
  fi
}

if [ -n "${TDS_WEBHOOK_PORT:-}" ]; then
  check_port TDS_WEBHOOK_PORT "$TDS_WEBHOOK_PORT"
else
  TDS_WEBHOOK_PORT=$(free_port)
fi
if [ -n "${TDS_METRICS_PORT:-}" ]; then
  check_port TDS_METRICS_PORT "$TDS_METRICS_PORT"
else
  TDS_METRICS_PORT=$(free_port)
fi
if [ -z "${TDS_LIVENESS_ENDPOINT:-}" ]; then
  TDS_LIVENESS_ENDPOINT=http://127.0.0.1:$(free_port)/healthz
fi
export TDS_WEBHOOK_PORT TDS_METRICS_PORT TDS_LIVENESS_ENDPOINT

if [ "$(realpath -m "$KUBECONFIG")" = "$(realpath -m "$HUB_KUBECONFIG")" ]; then
  hub_is_serving || die "the local hub is not serving ($HUB_KUBECONFIG): make hub-up first"
  export TDS_SIMULATION_HUB=${TDS_SIMULATION_HUB:-true}
  # Any name does: the hub simulates the manifest step's pod and never pulls its image.
  export TDS_OPERATOR_IMAGE=${TDS_OPERATOR_IMAGE:-tds-operator:dev}
fi

"$K8S_BIN/kubectl" apply --server-side --field-manager=tds-operator --force-conflicts -f crds/ \
  >/dev/null
log "the operator runs against $KUBECONFIG with:"
env | grep '^TDS_' | LC_ALL=C sort | sed 's/^/  /' >&2
log "metrics: http://127.0.0.1:$TDS_METRICS_PORT/metrics; health: $TDS_LIVENESS_ENDPOINT"
log "every setting: $python -m tds_operator --help"
exec "$python" -m tds_operator "$@"
