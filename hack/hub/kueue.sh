#!/usr/bin/env bash
# Kueue on the local hub: its CRDs from the module, its manager as a local process managing
# batch/v1 Jobs, its webhooks reached by the API server at 127.0.0.1 with a certificate of its own,
# its visibility API (pending workloads and their positions) aggregated into the hub's API server.
# Usage: kueue.sh start | stop. State (config, certificates, log, pid) in $HUB_DIR/kueue.
set -euo pipefail
log_tag='hub-kueue'
. "$(dirname "$0")/lib.sh"

kueue_dir=$HUB_DIR/kueue
pid_file=$kueue_dir/pid

# Free TCP ports on 127.0.0.1, one per argument name, as NAME=PORT lines.
free_ports() {
  python3 - "$@" <<'PY'
import socket, sys
held = []
for name in sys.argv[1:]:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
    print(f"{name}={s.getsockname()[1]}")
PY
}

# The aggregated visibility API's Service: the API server reaches an ExternalName Service at
# https://<externalName>:<port> (the hub has no kube-proxy to route a ClusterIP) and verifies the
# certificate for <service>.<namespace>.svc.
visibility_service=tds-hub-kueue-visibility
visibility_namespace=kube-system

# A CA of the hub's Kueue, a serving certificate for 127.0.0.1 signed by it, and one for the
# visibility API's Service name.
make_certificates() {
  local certs=$1
  mkdir -p "$certs"
  openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=tds-hub-kueue-ca" \
    -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$certs/tls.key" -out "$certs/tls.csr" 2>/dev/null
  openssl x509 -req -in "$certs/tls.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
    -CAcreateserial -days 30 -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') \
    -out "$certs/tls.crt" 2>/dev/null
  mkdir -p "$certs/visibility"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$visibility_service" \
    -keyout "$certs/visibility/tls.key" -out "$certs/visibility/tls.csr" 2>/dev/null
  openssl x509 -req -in "$certs/visibility/tls.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
    -CAcreateserial -days 30 -out "$certs/visibility/tls.crt" 2>/dev/null \
    -extfile <(printf 'subjectAltName=DNS:%s.%s.svc\n' "$visibility_service" "$visibility_namespace")
}

# The visibility API's Service and APIService: the API server proxies
# /apis/visibility.kueue.x-k8s.io/v1beta2 to the manager's visibility server on 127.0.0.1.
visibility_api() {
  local port=$1 ca
  ca=$(base64 -w0 <"$2")
  cat <<YAML
apiVersion: v1
kind: Service
metadata: {name: $visibility_service, namespace: $visibility_namespace}
spec: {type: ExternalName, externalName: 127.0.0.1}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta2.visibility.kueue.x-k8s.io}
spec:
  group: visibility.kueue.x-k8s.io
  version: v1beta2
  groupPriorityMinimum: 100
  versionPriority: 100
  caBundle: $ca
  service: {name: $visibility_service, namespace: $visibility_namespace, port: $port}
YAML
}

# Kueue's webhook configurations for batch/v1 Jobs and its own kinds only, each service
# reference rewritten to the local manager's URL with the hub Kueue's CA.
webhook_configurations() {
  local port=$1 ca=$2
  hub_kubectl create --dry-run=client -o json -f "$KUEUE_BIN/webhooks.yaml" |
    python3 -c '
import base64, json, sys
port, ca = sys.argv[1], base64.b64encode(open(sys.argv[2], "rb").read()).decode()
kept = ("/mutate-batch-v1-job", "/validate-batch-v1-job", "-kueue-x-k8s-io-")
text, items, at = sys.stdin.read(), [], 0
while text[at:].strip():
    item, at = json.JSONDecoder().raw_decode(text, len(text) - len(text[at:].lstrip()))
    items.append(item)
for item in items:
    item["metadata"]["name"] = "tds-hub-kueue-" + item["metadata"]["name"]
    hooks = [w for w in item["webhooks"] if any(k in w["clientConfig"]["service"]["path"] for k in kept)]
    for hook in hooks:
        path = hook["clientConfig"]["service"]["path"]
        hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca}
    item["webhooks"] = hooks
print(json.dumps({"apiVersion": "v1", "kind": "List", "items": items}))
' "$port" "$ca"
}

kueue_running() { [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null; }

start() {
  if kueue_running; then log "kueue is already running (pid $(cat "$pid_file"))"; return; fi
  [ -x "$KUEUE_BIN/kueue" ] || "$hub_here/build.sh" kueue
  local start=$SECONDS
  rm -rf "$kueue_dir"; mkdir -p "$kueue_dir"
  hub_kubectl apply --server-side --field-manager=tds-hub -f "$KUEUE_BIN/crd" >/dev/null
  hub_kubectl wait --for=condition=Established -f "$KUEUE_BIN/crd" --timeout=60s >/dev/null
  make_certificates "$kueue_dir/certs"
  local WEBHOOK HEALTH METRICS VISIBILITY
  eval "$(free_ports WEBHOOK HEALTH METRICS VISIBILITY)"
  cat >"$kueue_dir/config.yaml" <<YAML
apiVersion: config.kueue.x-k8s.io/v1beta2
kind: Configuration
health:
  healthProbeBindAddress: 127.0.0.1:$HEALTH
metrics:
  bindAddress: 127.0.0.1:$METRICS
webhook:
  host: 127.0.0.1
  port: $WEBHOOK
  certDir: $kueue_dir/certs
internalCertManagement:
  enable: false
visibilityServer:
  bindAddress: 127.0.0.1
leaderElection:
  leaderElect: false
integrations:
  frameworks: ["batch/job"]
# Fair sharing on: organisations borrow the pool's idle GPUs by the weights of their ClusterQueues
# (the strategies only matter to queues that preempt, which the operator's do not).
fairSharing:
  preemptionStrategies: [LessThanOrEqualToFinalShare, LessThanInitialShare]
YAML
  # The manager reads its metrics certificate from a fixed path, /etc/kueue/metrics/certs, and its
  # visibility server's from /visibility: it runs in a mount namespace of its own, where /etc and
  # /visibility are scratch directories holding only those (the empty mount point /visibility is
  # made once). The visibility server authenticates and authorizes each request through the hub's
  # API server (its --kubeconfig): the front-proxy headers, then a SubjectAccessReview.
  # shellcheck disable=SC2016 # the inner shell expands its own arguments
  KUBECONFIG=$HUB_KUBECONFIG setsid unshare --mount --propagation private -- sh -c '
    mount -t tmpfs tmpfs /etc && mkdir -p /etc/kueue/metrics/certs &&
    cp "$1"/tls.crt "$1"/tls.key /etc/kueue/metrics/certs/ &&
    mkdir -p /visibility && mount -t tmpfs tmpfs /visibility &&
    cp "$1"/visibility/tls.crt "$1"/visibility/tls.key /visibility/ && shift && exec "$@"' \
    kueue "$kueue_dir/certs" "$KUEUE_BIN/kueue" --config "$kueue_dir/config.yaml" \
    --kubeconfig "$HUB_KUBECONFIG" --visibility-server-port "$VISIBILITY" \
    --feature-gates=VisibilityOnDemand=true \
    >"$kueue_dir/kueue.log" 2>&1 </dev/null &
  echo $! >"$pid_file"
  local _
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$HEALTH/readyz" >/dev/null 2>&1 && break
    kueue_running || { log "kueue exited; its log ($kueue_dir/kueue.log) ends with:"; tail -n 20 "$kueue_dir/kueue.log" >&2; exit 1; }
    sleep 0.5
  done
  webhook_configurations "$WEBHOOK" "$kueue_dir/certs/ca.crt" >"$kueue_dir/webhooks.json"
  hub_kubectl apply --server-side --field-manager=tds-hub -f "$kueue_dir/webhooks.json" >/dev/null
  local visible=$SECONDS
  visibility_api "$VISIBILITY" "$kueue_dir/certs/ca.crt" >"$kueue_dir/visibility.yaml"
  hub_kubectl apply --server-side --field-manager=tds-hub -f "$kueue_dir/visibility.yaml" >/dev/null
  hub_kubectl wait --for=condition=Available --timeout=60s \
    apiservice/v1beta2.visibility.kueue.x-k8s.io >/dev/null
  log "kueue visibility API available after $((SECONDS - visible))s (127.0.0.1:$VISIBILITY)"
  log "kueue $KUEUE_VERSION serving after $((SECONDS - start))s (pid $(cat "$pid_file"), webhooks on 127.0.0.1:$WEBHOOK)"
}

stop() {
  # Without the manager its webhooks would refuse every batch Job: they go first.
  if [ -f "$kueue_dir/webhooks.json" ] && hub_is_serving; then
    hub_kubectl delete --ignore-not-found -f "$kueue_dir/webhooks.json" >/dev/null
  fi
  # Without the manager the API server would answer the visibility API with 503: it goes too.
  if [ -f "$kueue_dir/visibility.yaml" ] && hub_is_serving; then
    hub_kubectl delete --ignore-not-found -f "$kueue_dir/visibility.yaml" >/dev/null
  fi
  if kueue_running; then
    local pid
    pid=$(cat "$pid_file")
    log "stopping kueue (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$kueue_dir"
}

case ${1:-} in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
