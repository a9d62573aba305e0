#!/usr/bin/env bash
# Starts the local GPU hub: a real control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler) run by kwokctl from locally built binaries, with simulated CPU and GPU nodes.
# Idempotent: on a serving hub it only makes sure the nodes exist. Writes $HUB_DIR/kubeconfig.
# HUB_KUEUE=1 adds Kueue (hack/hub/kueue.sh), managing batch/v1 Jobs that name a queue.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$hub_here/components.sh"

# A front-proxy CA of the hub and the API server's client certificate (CN front-proxy-client)
# signed by it; EC keys, made in a fraction of a second.
make_front_proxy_certificates() {
  local certs=$1
  mkdir -p "$certs"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
    -subj "/CN=tds-hub-front-proxy-ca" -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=front-proxy-client" \
    -keyout "$certs/client.key" -out "$certs/client.csr" 2>/dev/null
  openssl x509 -req -in "$certs/client.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
    -CAcreateserial -days 30 -extfile <(printf 'extendedKeyUsage=clientAuth\n') \
    -out "$certs/client.crt" 2>/dev/null
}

# Start the control plane and the nodes: kwokctl, watched for a component that dies on the way
# (its port taken, say), then the nodes Ready. False, having said why, if either fails.
start_hub() {
  local config=$1 start=$SECONDS kwokctl_pid
  kwokctl create cluster --name "$HUB_NAME" --config "$config" --kubeconfig "$HUB_KUBECONFIG" \
    --wait 180s >"$HUB_DIR/kwokctl.log" 2>&1 &
  kwokctl_pid=$!
  while kill -0 "$kwokctl_pid" 2>/dev/null; do
    if hub_report_dead_components; then
      kill "$kwokctl_pid" 2>/dev/null || true
      wait "$kwokctl_pid" 2>/dev/null || true
      return 1
    fi
    sleep 2
  done
  if ! wait "$kwokctl_pid"; then
    hub_report_dead_components || true
    log "kwokctl could not start the hub; its log ($HUB_DIR/kwokctl.log) ends with:"
    tail -n 30 "$HUB_DIR/kwokctl.log" >&2
    return 1
  fi
  hub_report_dead_components && return 1
  log "control plane serving after $((SECONDS - start))s"
  "$hub_here/nodes.sh" | hub_kubectl apply --server-side --field-manager=tds-hub -f - >/dev/null
  # Watched too: a dead kwok-controller leaves the nodes never Ready.
  local deadline=$((SECONDS + 120))
  until hub_kubectl wait --for=condition=Ready node --all --timeout=2s >/dev/null 2>&1; do
    hub_report_dead_components && return 1
    if [ "$SECONDS" -ge "$deadline" ]; then
      log "the nodes are not Ready after 120s, though every component runs"
      return 1
    fi
  done
}

if hub_is_serving; then
  log "hub '$HUB_NAME' is already serving ($HUB_KUBECONFIG)"
  "$hub_here/nodes.sh" | hub_kubectl apply --server-side --field-manager=tds-hub -f - >/dev/null
  hub_kubectl wait --for=condition=Ready node --all --timeout=120s >/dev/null
else
  "$hub_here/build.sh"
  if [ -d "$KWOK_WORKDIR/clusters/$HUB_NAME" ]; then
    log "removing the stale state of a hub that is not serving"
    "$hub_here/down.sh"
  fi
  mkdir -p "$HUB_DIR"
  front_proxy=$HUB_DIR/front-proxy
  make_front_proxy_certificates "$front_proxy"
  config=$HUB_DIR/kwokctl.yaml
  # Every component is a local file, so kwokctl never downloads anything.
  cat >"$config" <<YAML
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  kubeVersion: $K8S_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: $KWOK_VERSION
  kubeApiserverBinary: $K8S_BIN/kube-apiserver
  kubeControllerManagerBinary: $K8S_BIN/kube-controller-manager
  kubeSchedulerBinary: $K8S_BIN/kube-scheduler
  kubectlBinary: $K8S_BIN/kubectl
  etcdBinary: $ETCD_BIN/etcd
  kwokControllerBinary: $KWOK_BIN/kwok
  securePort: true
  kubeAuthorization: true
  kubeAdmission: true
  bindAddress: 127.0.0.1
  quietPull: true
# The hub runs one controller-manager and one scheduler: without leader election they need no
# lease, so an API server restart neither makes them exit nor leaves them waiting for their own
# old lease (about 17 s without a Job controller to enforce deadlines).
componentsPatches:
# The API server proxies aggregated APIs (Kueue's visibility API) as a front proxy: it presents a
# client certificate of a front-proxy CA of its own and names the user in X-Remote-* headers, which
# the extension server trusts from that CA only.
- name: kube-apiserver
  extraArgs:
  - {key: proxy-client-cert-file, value: $front_proxy/client.crt, override: true}
  - {key: proxy-client-key-file, value: $front_proxy/client.key, override: true}
  - {key: requestheader-client-ca-file, value: $front_proxy/ca.crt}
  - {key: requestheader-allowed-names, value: front-proxy-client}
  - {key: requestheader-username-headers, value: X-Remote-User}
  - {key: requestheader-group-headers, value: X-Remote-Group}
  - {key: requestheader-extra-headers-prefix, value: X-Remote-Extra-}
- name: kube-controller-manager
  extraArgs:
  - key: leader-elect
    value: "false"
- name: kube-scheduler
  extraArgs:
  - key: leader-elect
    value: "false"
YAML
  cat "$hub_here/stages.yaml" >>"$config"
  log "starting hub '$HUB_NAME' (Kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION)"
  if ! start_hub "$config"; then
    # A component that lost a race for a port on a busy machine usually wins the second one.
    log "the hub did not start; removing it and trying once more"
    kept=$(cat "$config")
    "$hub_here/down.sh"
    mkdir -p "$HUB_DIR"
    printf '%s\n' "$kept" >"$config"
    make_front_proxy_certificates "$front_proxy"
    start_hub "$config" || { log "the hub did not start twice: see the logs above"; exit 1; }
  fi
fi

"$hub_here/volumes.sh" | hub_kubectl apply --server-side --field-manager=tds-hub -f - >/dev/null
# Unused volumes of the pool's earlier layout (hub-output-<n>, outside /tmp, so never erased) go.
hub_kubectl get pv -l hub.tds.io/pool=output \
  -o jsonpath='{range .items[?(@.status.phase=="Available")]}{.metadata.name}{"\n"}{end}' |
  while read -r stale; do
    case $stale in hub-output-*) hub_kubectl delete pv "$stale" --wait=false >/dev/null ;; esac
  done
# Pods need the default ServiceAccount, which the controller-manager creates shortly after start.
for _ in $(seq 1 60); do
  hub_kubectl get serviceaccount default -n default >/dev/null 2>&1 && break
  sleep 1
done
# Kueue, when asked for (HUB_KUEUE=1): its CRDs, its manager as a local process, its webhooks.
if [ "$HUB_KUEUE" != 0 ]; then "$hub_here/kueue.sh" start; fi
log "hub ready: KUBECONFIG=$HUB_KUBECONFIG"
hub_kubectl get nodes \
  -o custom-columns="$hub_node_columns,READY:.status.conditions[?(@.type==\"Ready\")].status" >&2
