#!/usr/bin/env bash
# The chart's configuration, on this machine (docs/operations/install.md):
#   hack/chart-run.sh --print [HELM FLAGS]  the settings (TDS_*) and arguments the chart gives the
#                                           operator, rendered by `helm template` (no cluster)
#   hack/chart-run.sh [HELM FLAGS]          install or upgrade the release on KUBECONFIG with no
#       operator pod and the API server calling the webhooks at https://127.0.0.1:PORT, then run
#       the operator here with the chart's settings, as the chart's ServiceAccount, serving the
#       chart's certificate: whatever it does, the chart's RBAC allows. The API server must reach
#       127.0.0.1 on this machine (the local hub's does). Ctrl-C stops it; the release stays.
# HELM FLAGS are the install's (-f values.yaml, --set key=value). RELEASE (tds-operator),
# NAMESPACE (tds-system) and PORT (a free port) may be set in the environment.
set -euo pipefail
log_tag='chart-run'
. "$(dirname "$0")/hub/lib.sh"
cd "$repo_root"
[ -x "$HELM_BIN/helm" ] || hack/hub/build.sh helm
chart=charts/tds-operator
release=${RELEASE:-tds-operator}
namespace=${NAMESPACE:-tds-system}
python=${PYTHON:-$repo_root/.venv/bin/python}
export KUBECONFIG=${KUBECONFIG:-$HUB_KUBECONFIG}

# The operator container of the Deployment among the YAML documents on stdin: what the chart sets
# for it. A pod's own settings (its address, ports, certificate directory and name) are left out:
# a process on this machine sets its own; and its role: it is one process of both roles.
read_deployment() {
  "$python" -c '
import json, sys, yaml
from tds_operator.config import POD_LOCAL_SETTINGS as LOCAL
docs = [d for d in yaml.safe_load_all(sys.stdin) if d]
docs = [i for d in docs for i in (d.get("items") or [d])]
(deployment,) = [d for d in docs if d.get("kind") == "Deployment"]
pod = deployment["spec"]["template"]["spec"]
(container,) = [c for c in pod["containers"] if c["name"] == "operator"]
env = {e["name"]: e.get("value", "") for e in container.get("env") or [] if e["name"] not in LOCAL}
secret = next(v["secret"]["secretName"] for v in pod["volumes"] if v["name"] == "webhook-tls")
json.dump({"env": env, "args": container.get("args") or [],
           "account": pod["serviceAccountName"], "secret": secret}, sys.stdout)
'
}

if [ "${1:-}" = "--print" ]; then
  shift
  "$HELM_BIN/helm" template "$release" "$chart" -n "$namespace" "$@" | read_deployment |
    "$python" -c '
import json, shlex, sys
found = json.load(sys.stdin)
for name, value in sorted(found["env"].items()):
    print(f"{name}={shlex.quote(value)}")
print("# arguments:", shlex.join(found["args"]) or "(none)")
print("# ServiceAccount:", found["account"])'
  exit 0
fi

port=${PORT:-$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
log "installing release $release in $namespace: no operator pod, webhooks at https://127.0.0.1:$port"
"$HELM_BIN/helm" upgrade --install "$release" "$chart" -n "$namespace" --create-namespace \
  --set replicaCount=0 --set "webhook.url=https://127.0.0.1:$port" "$@" >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$K8S_BIN/kubectl" -n "$namespace" get deployment -l "app.kubernetes.io/instance=$release" \
  -o yaml | read_deployment >"$work/deployment.json"
"$python" - "$work" "$namespace" "$port" "$K8S_BIN/kubectl" <<'PY'
"""Write the ServiceAccount's kubeconfig and the chart's certificate, then run the operator."""
import base64, json, os, subprocess, sys
from pathlib import Path

import yaml

import socket

work, namespace, port, kubectl = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]


def free_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return str(probe.getsockname()[1])


found = json.loads((work / "deployment.json").read_text())


def run(*args: str) -> str:
    return subprocess.run([kubectl, *args], check=True, capture_output=True, text=True).stdout


admin = yaml.safe_load(run("config", "view", "--raw", "--minify"))
token = run("create", "token", found["account"], "-n", namespace, "--duration=12h").strip()
config = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "cluster", "cluster": admin["clusters"][0]["cluster"]}],
    "users": [{"name": found["account"], "user": {"token": token}}],
    "contexts": [{"name": "operator", "context": {"cluster": "cluster", "user": found["account"]}}],
    "current-context": "operator",
}
(work / "kubeconfig").write_text(yaml.safe_dump(config))
(work / "kubeconfig").chmod(0o600)
secret = json.loads(run("get", "secret", found["secret"], "-n", namespace, "-o", "json"))
certs = work / "webhook"
certs.mkdir()
for key in ("tls.crt", "tls.key"):
    (certs / key).write_bytes(base64.b64decode(secret["data"][key]))
(certs / "tls.key").chmod(0o600)

env = {k: v for k, v in os.environ.items() if not k.startswith("TDS_")}
env.update(found["env"])
env.update(
    KUBECONFIG=str(work / "kubeconfig"),
    TDS_WEBHOOK_ADDRESS="127.0.0.1",
    TDS_WEBHOOK_PORT=port,
    TDS_WEBHOOK_CERT_DIR=str(certs),
    TDS_METRICS_PORT=os.environ.get("TDS_METRICS_PORT") or free_port(),
    TDS_LIVENESS_ENDPOINT=f"http://127.0.0.1:{free_port()}/healthz",
)
print(f"[chart-run] the operator runs as ServiceAccount {namespace}/{found['account']} with:")
for name in sorted({*found["env"], "TDS_WEBHOOK_PORT", "TDS_METRICS_PORT", "TDS_LIVENESS_ENDPOINT"}):
    print(f"  {name}={env[name]}")
sys.stdout.flush()
# Not exec: the kubeconfig and certificate are removed when the operator ends.
command = [sys.executable, "-m", "tds_operator", *found["args"]]
try:
    sys.exit(subprocess.call(command, env=env))
except KeyboardInterrupt:
    sys.exit(130)
PY
