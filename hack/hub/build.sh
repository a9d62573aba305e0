#!/usr/bin/env bash
# Builds the local hub's binaries from pinned Go modules and caches them per version.
# A component whose binary is already cached is not rebuilt. Usage: build.sh [component...]
# shellcheck disable=SC2329 # the build_<component> functions are called by name, in the background
set -euo pipefail
log_tag='hub-build'
. "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# Runs a long command, printing a heartbeat so a cold build never looks hung; records peak memory.
with_progress() {
  local what=$1; shift
  local start=$SECONDS stats
  stats=$(mktemp)
  /usr/bin/time -f '%M' -o "$stats" "$@" &
  local pid=$!
  local next=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then log "$what: still building ($((SECONDS - start))s)"; next=$((SECONDS + 60)); fi
  done
  if ! wait "$pid"; then log "$what: FAILED after $((SECONDS - start))s"; rm -f "$stats"; return 1; fi
  log "$what: built in $((SECONDS - start))s, peak memory $(( $(tail -n1 "$stats") / 1024 )) MiB"
  rm -f "$stats"
}

# A fresh module that only exists to build one upstream module's commands.
# go get lists every module it downloads: keep that quiet and show it only on failure.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then printf '%s\n' "$out" >&2; return 1; fi
}

wrapper_module() {
  local dir=$1
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$dir" && go mod init "tds.local/hubbuild" >/dev/null 2>&1)
}

build_kubernetes() {
  local out=$K8S_BIN
  local cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
  if all_present "$out" "${cmds[@]}"; then return; fi
  local work=$HUB_CACHE_DIR/work/kubernetes-$K8S_VERSION
  log "kubernetes $K8S_VERSION: preparing wrapper module"
  wrapper_module "$work"
  local gomod minor=${K8S_VERSION#v1.}
  gomod=$(cd "$work" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  # Every staging module k8s.io/<x> is published as v0.<minor>.<patch>: replace each with its tag.
  local staging
  staging=$(sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod")
  [ -n "$staging" ] || { log "no staging modules found in $gomod"; return 1; }
  local m args=()
  for m in $staging; do args+=("-replace=$m=$m@v0.$minor"); done
  (cd "$work" && go mod edit "${args[@]}")
  local c
  for c in "${cmds[@]}"; do
    (cd "$work" && quiet go get -tool "k8s.io/kubernetes/cmd/$c@$K8S_VERSION")
  done
  local major=1 kminor=${minor%%.*} date ldflags=""
  date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$kminor"
    ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$date"
  done
  # One go build for the four commands: their shared packages compile once, and one command links
  # while the others still compile.
  local packages=()
  for c in "${cmds[@]}"; do packages+=("k8s.io/kubernetes/cmd/$c"); done
  mkdir -p "$out.tmp"
  with_progress "kubernetes $K8S_VERSION (${cmds[*]})" \
    env -C "$work" go build -trimpath -ldflags "-s -w$ldflags" -o "$out.tmp/" "${packages[@]}"
  publish "$out"
}

# One command of a Go module, got as a tool of a wrapper module and built into the cache.
build_tool() {
  local out=$1 name=$2 version=$3 package=$4 ldflags=${5:-} tags=${6:-}
  if all_present "$out" "$name"; then return; fi
  local work=$HUB_CACHE_DIR/work/$name-$version
  wrapper_module "$work"
  (cd "$work" && quiet go get -tool "$package@$version")
  mkdir -p "$out.tmp"
  with_progress "$name $version" \
    env -C "$work" go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$out.tmp/$name" "$package"
  publish "$out"
}

build_etcd() {
  build_tool "$ETCD_BIN" etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3
}

build_kwok() {
  local out=$KWOK_BIN
  if all_present "$out" kwok kwokctl; then return; fi
  local work=$HUB_CACHE_DIR/work/kwok-$KWOK_VERSION c packages=()
  wrapper_module "$work"
  for c in kwok kwokctl; do
    (cd "$work" && quiet go get -tool "sigs.k8s.io/kwok/cmd/$c@$KWOK_VERSION")
    packages+=("sigs.k8s.io/kwok/cmd/$c")
  done
  mkdir -p "$out.tmp"
  with_progress "kwok $KWOK_VERSION (kwok kwokctl)" \
    env -C "$work" go build -trimpath -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION" \
    -o "$out.tmp/" "${packages[@]}"
  publish "$out"
}

build_helm() {
  build_tool "$HELM_BIN" helm "$HELM_VERSION" helm.sh/helm/v3/cmd/helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
}

# Kueue's manager, and beside it the CRDs and webhook manifests shipped in the same module.
build_kueue() {
  local out=$KUEUE_BIN
  if all_present "$out" kueue && [ -d "$out/crd" ] && [ -f "$out/webhooks.yaml" ]; then return; fi
  local work=$HUB_CACHE_DIR/work/kueue-$KUEUE_VERSION source
  wrapper_module "$work"
  log "kueue $KUEUE_VERSION: downloading the module"
  (cd "$work" && quiet go get -tool "sigs.k8s.io/kueue/cmd/kueue@$KUEUE_VERSION")
  source=$(cd "$work" && go list -m -f '{{.Dir}}' sigs.k8s.io/kueue)
  mkdir -p "$out.tmp/crd"
  cp "$source"/config/components/crd/bases/*.yaml "$out.tmp/crd/"
  cp "$source/config/components/webhook/manifests.yaml" "$out.tmp/webhooks.yaml"
  chmod -R u+w "$out.tmp"
  with_progress "kueue $KUEUE_VERSION" \
    env -C "$work" go build -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kueue/pkg/version.GitVersion=$KUEUE_VERSION" \
    -o "$out.tmp/kueue" sigs.k8s.io/kueue/cmd/kueue
  publish "$out"
}

# promtool checks and unit-tests the chart's alerting rules (make rules-test); not part of the hub.
# Its module version v0.MMNN.P is Prometheus MM.NN.P, the version promtool reports. remove_all_sd
# leaves out the service-discovery plugins (cloud SDKs) that checking and testing rules never use:
# it compiles in a third of the time.
build_promtool() {
  local release=${PROMTOOL_VERSION#v0.}
  local minor=${release%%.*}
  release=$((minor / 100)).$((minor % 100)).${release#*.}
  build_tool "$PROMTOOL_BIN" promtool "$PROMTOOL_VERSION" \
    github.com/prometheus/prometheus/cmd/promtool \
    "-X github.com/prometheus/common/version.Version=$release" remove_all_sd
}

all_present() {
  local dir=$1; shift
  local b
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# Binaries appear in the cache only once all of a component's commands are built.
publish() {
  rm -rf "$1"; mv "$1.tmp" "$1"
}

components=("$@")
if [ ${#components[@]} -eq 0 ]; then
  components=(etcd kwok helm kubernetes)
  [ "$HUB_KUEUE" = 0 ] || components+=(kueue)
fi
# Two lanes side by side: Kubernetes and Kueue, the longest compiles, in one; the rest in the other.
# Each lane's module downloads and links leave cores idle that the other lane's compiles take; two
# lanes, not one per component, because a 2-core machine only thrashes with more (the Go build and
# module caches are safe to share).
lane() { # COMPONENT...: build them one after the other (in a background job: errexit holds)
  local component
  for component in "$@"; do "build_$component"; done
}
long=() short=()
for component in "${components[@]}"; do
  case $component in
    kubernetes | kueue) long+=("$component") ;;
    *) short+=("$component") ;;
  esac
done
lane "${long[@]}" &
long_lane=$!
lane "${short[@]}" &
short_lane=$!
failed=0
wait "$long_lane" || failed=1
wait "$short_lane" || failed=1
exit "$failed"
