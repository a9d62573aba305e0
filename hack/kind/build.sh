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
log "everything built or cached in $((SECONDS - start))s (timings: $KIND_TIMINGS)"
printf '%s %s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" kind-build-total "$((SECONDS - start))" >>"$KIND_TIMINGS"
echo "$node"
