#!/usr/bin/env bash
# Everything `make e2e-kind` needs on this machine, from nothing but Debian's packages and Go
# modules: Docker (installed and started if need be), the binaries (bins.sh) and the images
# (images.sh), each step timed; cached per version, so a second run only checks. Prints the node
# image's name on stdout. The hub's own binaries (kube-apiserver, kubectl, ...) come first.
set -euo pipefail
log_tag='kind-build'
. "$(dirname "$0")/lib.sh"
start=$SECONDS
"$kind_here/host.sh"
step "hub binaries (hack/hub/build.sh)" "$repo_root/hack/hub/build.sh" kubernetes helm >&2
"$kind_here/bins.sh" >&2
node=$("$kind_here/images.sh" all)
total=$((SECONDS - start))
printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" kind-build-total "$total" >>"$KIND_TIMINGS"
# The cold build's time beside this one's: the timings live in the cache, so their first total is
# the build that found the cache empty.
read -r cold_date cold_total < <(awk '$2 == "kind-build-total" { print $1, $3; exit }' "$KIND_TIMINGS")
log "everything built or cached in ${total}s; the cold build of this cache (${cold_date%%T*}) took" \
  "${cold_total}s (timings: $KIND_TIMINGS)"
echo "$node"
