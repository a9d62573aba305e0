#!/usr/bin/env bash
# Builds, from their Go modules, every binary the kind cluster needs that the hub does not already
# build, each cached per version under $KIND_CACHE (a cached one is not rebuilt). One at a time:
# each go build takes both cores. Usage: bins.sh [component...] (default: all)
# KIND_BINS_DOWNLOAD_ONLY=1 only downloads the modules (no compiling: it can overlap a build).
# shellcheck disable=SC2329 # the build_<component> functions are called by name
set -euo pipefail
log_tag='kind-bins'
. "$(dirname "$0")/lib.sh"
export GOTOOLCHAIN=local GOFLAGS=-buildvcs=false

all_present() {
  local dir=$1; shift
  local b
  for b in "$@"; do [ -x "$dir/$b" ] || return 1; done
}

# A fresh module that only exists to build one upstream module's commands.
wrapper_module() {
  local dir=$1
  rm -rf "$dir"; mkdir -p "$dir"
  (cd "$dir" && go mod init "tds.local/kindbuild" >/dev/null 2>&1)
}

# go_build OUT_DIR VERSION "PACKAGE..." [LDFLAGS] [TAGS] [CGO]: the packages' commands, got as
# tools of a wrapper module at VERSION, built into OUT_DIR, published only once all are built.
go_build() {
  local out=$1 version=$2 packages=$3 ldflags=${4:-} tags=${5:-} cgo=${6:-0}
  local -a pkgs names
  read -ra pkgs <<<"$packages"
  local p
  for p in "${pkgs[@]}"; do names+=("$(command_name "$p")"); done
  if all_present "$out" "${names[@]}"; then return; fi
  local work
  work=$HUB_CACHE_DIR/work/kind-$(basename "$out")
  wrapper_module "$work"
  [ -z "${ALIGN_K8S:-}" ] || align_with_kubernetes "$work"
  for p in "${pkgs[@]}"; do (cd "$work" && quiet go get -tool "$p@$version"); done
  if [ -n "${KIND_BINS_DOWNLOAD_ONLY:-}" ]; then (cd "$work" && quiet go mod download); return; fi
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  if [ ${#pkgs[@]} -eq 1 ]; then
    env -C "$work" CGO_ENABLED="$cgo" go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" \
      -o "$out.tmp/${names[0]}" "${pkgs[0]}"
  else
    env -C "$work" CGO_ENABLED="$cgo" go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" \
      -o "$out.tmp/" "${pkgs[@]}"
  fi
  rm -rf "$out"; mv "$out.tmp" "$out"
}

# The command a package builds: its last path element, or the module's name for a root or cmd/.
command_name() {
  local p=$1
  case $p in
    */cmd) p=${p%/cmd} ;;
    go.etcd.io/etcd/server/v3) echo etcd; return ;;
  esac
  p=${p%/v[0-9]}
  echo "${p##*/}"
}

k8s_ldflags() {
  local minor=${K8S_VERSION#v1.} pkg flags=""
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor%%.*}"
    flags+=" -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

# The replaces that pin every staging module of the hub's Kubernetes version (k8s.io/<x>, published
# as v0.<minor>.<patch>) to its tag, as the hub's build does.
kubernetes_replaces() {
  local gomod minor=${K8S_VERSION#v1.} m
  gomod=$(cd "$1" && go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => \./staging/.*#\1#p' "$gomod" |
    while read -r m; do echo "-replace=$m=$m@v0.$minor"; done
}

# A wrapper module that requires the hub's Kubernetes version with its staging modules pinned: what
# it builds then uses the Kubernetes libraries (client-go, apiserver, api, ...) and their
# dependencies at the versions the hub's own binaries were built with (where the component does
# not need newer ones), so the Go build cache already holds them compiled. The components built so
# (kube-rbac-proxy, kube-router, local-path-provisioner, CoreDNS) are mostly those libraries: a
# fresh machine compiles each only once. As a distribution builds every program against one
# version of each library.
align_with_kubernetes() {
  local work=$1
  local -a replaces
  mapfile -t replaces < <(kubernetes_replaces "$work")
  (cd "$work" && go mod edit "${replaces[@]}" && quiet go get "k8s.io/kubernetes@$K8S_VERSION")
}

# kubelet, kubeadm and kube-proxy of the hub's Kubernetes version, in an aligned module, so they
# share the Go build cache with the hub's build.
build_kubernetes() {
  local out=$KIND_CACHE/kubernetes-node-$K8S_VERSION cmds=(kubelet kubeadm kube-proxy)
  if all_present "$out" "${cmds[@]}"; then return; fi
  local work=$HUB_CACHE_DIR/work/kind-kubernetes-node-$K8S_VERSION c packages=()
  wrapper_module "$work"
  align_with_kubernetes "$work"
  for c in "${cmds[@]}"; do
    (cd "$work" && quiet go get -tool "k8s.io/kubernetes/cmd/$c@$K8S_VERSION")
    packages+=("k8s.io/kubernetes/cmd/$c")
  done
  if [ -n "${KIND_BINS_DOWNLOAD_ONLY:-}" ]; then (cd "$work" && quiet go mod download); return; fi
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  env -C "$work" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w$(k8s_ldflags)" -o "$out.tmp/" "${packages[@]}"
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kind() {
  go_build "$KIND_CACHE/kind-$KIND_VERSION" "$KIND_VERSION" sigs.k8s.io/kind
}

build_containerd() {
  local m=github.com/containerd/containerd/v2
  go_build "$KIND_CACHE/containerd-$CONTAINERD_VERSION" "$CONTAINERD_VERSION" \
    "$m/cmd/containerd $m/cmd/containerd-shim-runc-v2 $m/cmd/ctr" \
    "-X $m/version.Version=$CONTAINERD_VERSION -X $m/version.Package=$m" \
    "no_btrfs no_devmapper no_zfs no_aufs"
}

# runc needs cgo and libseccomp (Debian's libseccomp-dev, installed by host.sh).
build_runc() {
  go_build "$KIND_CACHE/runc-$RUNC_VERSION" "$RUNC_VERSION" github.com/opencontainers/runc \
    "-X main.version=${RUNC_VERSION#v}" seccomp 1
}

build_crictl() {
  go_build "$KIND_CACHE/crictl-$CRICTL_VERSION" "$CRICTL_VERSION" sigs.k8s.io/cri-tools/cmd/crictl \
    "-X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION"
}

build_cni() {
  local m=github.com/containernetworking/plugins/plugins
  go_build "$KIND_CACHE/cni-plugins-$CNI_PLUGINS_VERSION" "$CNI_PLUGINS_VERSION" \
    "$m/main/ptp $m/ipam/host-local $m/main/loopback $m/meta/portmap"
}

build_etcd() {
  go_build "$KIND_CACHE/etcd-$KUBEADM_ETCD_VERSION" "$KUBEADM_ETCD_VERSION" go.etcd.io/etcd/server/v3
}

# CoreDNS with the plugins of hack/kind/coredns/main.go (a main of this repository's own, built in
# the wrapper module in place of CoreDNS's, which imports every plugin).
build_coredns() {
  local out=$KIND_COREDNS_DIR
  if all_present "$out" coredns; then return; fi
  local work=$HUB_CACHE_DIR/work/kind-coredns p imports=()
  wrapper_module "$work"
  align_with_kubernetes "$work"
  cp "$kind_here/coredns/main.go" "$work/"
  while read -r p; do
    imports+=("$p@$KUBEADM_COREDNS_VERSION")
  done < <(sed -n 's#^[[:space:]]*\(_ \)\?"\(github.com/coredns/coredns/[^"]*\)"$#\2#p' "$work/main.go")
  (cd "$work" && quiet go get "${imports[@]}")
  if [ -n "${KIND_BINS_DOWNLOAD_ONLY:-}" ]; then (cd "$work" && quiet go mod download); return; fi
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  env -C "$work" CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$out.tmp/coredns" .
  rm -rf "$out"; mv "$out.tmp" "$out"
}

build_kube_router() {
  local m=github.com/cloudnativelabs/kube-router/v2
  ALIGN_K8S=1 go_build "$KIND_ROUTER_DIR" "$KUBE_ROUTER_VERSION" "$m/cmd/kube-router" \
    "-X $m/pkg/version.Version=$KUBE_ROUTER_VERSION"
}

build_rbac_proxy() {
  ALIGN_K8S=1 go_build "$KIND_RBAC_PROXY_DIR" "$KUBE_RBAC_PROXY_VERSION" \
    github.com/brancz/kube-rbac-proxy/cmd/kube-rbac-proxy
}

build_local_path() {
  ALIGN_K8S=1 go_build "$KIND_LOCAL_PATH_DIR" "$LOCAL_PATH_PROVISIONER_VERSION" \
    github.com/rancher/local-path-provisioner
}

# The pod sandbox's process: this repository's own few lines of C (hack/kind/pause.c), static.
build_pause() {
  [ -z "${KIND_BINS_DOWNLOAD_ONLY:-}" ] || return 0
  local out
  out=$KIND_CACHE/pause-$(inputs_digest "$kind_here/pause.c")
  if all_present "$out" pause; then return; fi
  rm -rf "$out.tmp"; mkdir -p "$out.tmp"
  gcc -Os -static -o "$out.tmp/pause" "$kind_here/pause.c"
  strip "$out.tmp/pause"
  rm -rf "$out"; mv "$out.tmp" "$out"
  ln -sfn "$out" "$KIND_CACHE/pause-current"
}

components=("$@")
[ ${#components[@]} -gt 0 ] || components=(kind pause runc containerd crictl cni kubernetes etcd \
  coredns kube_router rbac_proxy local_path)
for component in "${components[@]}"; do
  step "build $component" "build_$component"
done
