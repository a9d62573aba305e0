# Shared by the scripts that build and run the kind cluster of `make e2e-kind`; sources the hub's
# lib (its Kubernetes version, caches and binaries) and hack/kind/versions.env.
# shellcheck shell=bash disable=SC2034 # the variables are for the scripts that source this file
log_tag=${log_tag:-kind}
. "$(dirname "${BASH_SOURCE[0]}")/../hub/lib.sh"
kind_here=$repo_root/hack/kind
. "$kind_here/versions.env"
# Everything built for kind is cached beside the hub's binaries, per version.
KIND_CACHE=$HUB_CACHE_DIR/kind
# Every timed step appends "date step seconds" here: the cold and warm build times.
KIND_TIMINGS=$KIND_CACHE/timings.log
# Images are tagged under this name; the node image is tds-kind/node:<Kubernetes version>.
KIND_IMAGE_PREFIX=tds-kind
export PATH=$KIND_CACHE/kind-$KIND_VERSION:$PATH

# Runs a long command, printing a heartbeat every minute so it never looks hung, then its duration.
step() {
  local what=$1; shift
  local start=$SECONDS pid next
  log "$what: started"
  "$@" &
  pid=$!
  next=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 1
    if ((SECONDS >= next)); then log "$what: still running ($((SECONDS - start))s)"; next=$((SECONDS + 60)); fi
  done
  if ! wait "$pid"; then log "$what: FAILED after $((SECONDS - start))s"; return 1; fi
  log "$what: done in $((SECONDS - start))s"
  mkdir -p "$KIND_CACHE"
  printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${what// /_}" "$((SECONDS - start))" >>"$KIND_TIMINGS"
}

# Runs a command quietly; its output is shown only if it fails.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then printf '%s\n' "$out" >&2; return 1; fi
}

# The Debian mirror images are bootstrapped from: DEBIAN_MIRROR, or the first archive (not the
# security archive) this machine's apt sources name (APT_ETC, default /etc/apt), one-line or
# deb822.
debian_mirror() {
  local found etc=${APT_ETC:-/etc/apt}
  if [ -n "${DEBIAN_MIRROR:-}" ]; then echo "$DEBIAN_MIRROR"; return; fi
  found=$({
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; break } }' \
      "$etc/sources.list" "$etc"/sources.list.d/*.list 2>/dev/null || true
    sed -n 's/^URIs:[[:space:]]*//p' "$etc"/sources.list.d/*.sources 2>/dev/null | tr ' ' '\n' || true
  } | grep -v -- '-security' | head -n 1)
  [ -n "$found" ] && echo "$found"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Waits until FILE exists, at most two hours (a cold kind build is well under one); fails after.
wait_for_file() {
  local deadline=$((SECONDS + 7200))
  until [ -e "$1" ]; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 2
  done
}

# A short digest of files and strings: tags of images built from this repository's files change
# when their inputs do, and only then: a directory's files are named relative to it, so every clone
# of the repository (CI's are fresh) gives the same digest and reuses what another built.
inputs_digest() {
  local item
  for item in "$@"; do
    if [ -d "$item" ]; then
      (cd "$item" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    elif [ -e "$item" ]; then
      sha256sum <"$item"
    else
      printf '%s\n' "$item"
    fi
  done | sha256sum | cut -c1-12
}

# Where bins.sh puts the binaries it builds against the hub's Kubernetes libraries (see
# align_with_kubernetes there), which images.sh packs: per their own version and the hub's.
KIND_COREDNS_DIR=$KIND_CACHE/coredns-$KUBEADM_COREDNS_VERSION-k8s$K8S_VERSION-$(inputs_digest "$kind_here/coredns")
KIND_ROUTER_DIR=$KIND_CACHE/kube-router-$KUBE_ROUTER_VERSION-k8s$K8S_VERSION
KIND_RBAC_PROXY_DIR=$KIND_CACHE/kube-rbac-proxy-$KUBE_RBAC_PROXY_VERSION-k8s$K8S_VERSION
KIND_LOCAL_PATH_DIR=$KIND_CACHE/local-path-provisioner-$LOCAL_PATH_PROVISIONER_VERSION-k8s$K8S_VERSION
