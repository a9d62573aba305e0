#!/usr/bin/env bash
# Static checks of the Helm chart (make chart-lint): helm lint, its CRDs are crds/, and checkov
# finds no failed check in what it renders (each deliberate exception is a checkov skip annotation
# with its reason, in the template that needs it) nor in the Dockerfile.
# CHECKOV: a checkov binary to use; by default a pinned one in its own cached virtualenv.
set -euo pipefail
log_tag='chart-lint'
. "$(dirname "$0")/hub/lib.sh"
cd "$repo_root"
chart=charts/tds-operator
CHECKOV_VERSION=${CHECKOV_VERSION:-3.3.30}

[ -x "$HELM_BIN/helm" ] || hack/hub/build.sh helm
helm() { "$HELM_BIN/helm" "$@"; }

if [ -z "${CHECKOV:-}" ]; then
  # checkov pins old versions of common packages: it gets a virtualenv of its own.
  tools=$TOOLS_CACHE_DIR/checkov-$CHECKOV_VERSION
  if [ ! -x "$tools/bin/checkov" ]; then
    log "installing checkov $CHECKOV_VERSION into $tools"
    "${PYTHON:-python3.11}" -m venv "$tools"
    "$tools/bin/pip" install --quiet "checkov==$CHECKOV_VERSION"
  fi
  CHECKOV=$tools/bin/checkov
fi

log "the chart's CRDs are crds/"
diff -r crds "$chart/crds"

# Every optional part of the chart is rendered by at least one of these.
variants=(
  "default|"
  "development-url|--set replicaCount=0 --set webhook.url=https://127.0.0.1:9443"
  "cert-manager|--set webhook.certificate.provider=cert-manager --set metrics.serviceMonitor.enabled=true"
  "observability|--set metrics.prometheusRule.enabled=true --set metrics.prometheusRule.runbookBaseURL=https://docs.example.org/tds --set metrics.dashboard.enabled=true --set networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.name=monitoring"
  "pinned-digest|--set image.digest=sha256:0000000000000000000000000000000000000000000000000000000000000000 --set image.pullPolicy=Always"
)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for variant in "${variants[@]}"; do
  name=${variant%%|*}
  # shellcheck disable=SC2206
  args=(${variant#*|})
  log "helm lint --strict ($name)"
  helm lint --strict --quiet "$chart" "${args[@]}" --namespace tds-system
  mkdir -p "$out/$name"
  helm template tds-operator "$chart" --namespace tds-system --kube-version "$K8S_VERSION" \
    "${args[@]}" >"$out/$name/rendered.yaml"
  log "checkov ($name)"
  "$CHECKOV" --quiet --compact --skip-download --framework kubernetes -d "$out/$name"
done
log "checkov (Dockerfile)"
"$CHECKOV" --quiet --compact --skip-download --framework dockerfile -f Dockerfile
log "chart is clean"
