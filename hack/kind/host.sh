#!/usr/bin/env bash
# What building and running the kind cluster needs of this machine: Docker Engine, debootstrap,
# a C compiler and libseccomp (runc), all from Debian's packages, installed when absent; and a
# running Docker daemon, started in the background when none answers (there may be no systemd).
set -euo pipefail
log_tag='kind-host'
. "$(dirname "$0")/lib.sh"

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
[ -f /usr/include/seccomp.h ] || missing+=(libseccomp-dev)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if [ ${#missing[@]} -gt 0 ]; then
  log "installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Some sandboxes' capability bounding set lacks capabilities the kernel knows, and Docker 20.10
# asks for all of them for a --privileged container (every kind node): dockerd then runs
# containers through runc-bounded, which leaves out what no container here could hold.
bounded=false
last=$(cat /proc/sys/kernel/cap_last_cap)
mask=$((16#$(sed -n 's/^CapBnd:[[:space:]]*//p' /proc/self/status)))
if [ "$mask" -ne $(((1 << (last + 1)) - 1)) ]; then bounded=true; fi

if docker info >/dev/null 2>&1 && $bounded &&
  [ "$(docker info --format '{{.DefaultRuntime}}')" != runc-bounded ]; then
  log "dockerd runs, but not with runc-bounded, which this host's capability bounding set needs:"
  log "stop it (it is restarted here with the runtime), or run it with"
  log "  --add-runtime runc-bounded=$kind_here/runc-bounded.py --default-runtime runc-bounded"
  exit 1
fi
if ! docker info >/dev/null 2>&1; then
  mkdir -p "$KIND_CACHE"
  args=()
  if $bounded; then
    cp "$kind_here/runc-bounded.py" "$KIND_CACHE/runc-bounded"
    args=(--add-runtime "runc-bounded=$KIND_CACHE/runc-bounded" --default-runtime runc-bounded)
    log "this host's capability bounding set is not full: Docker's containers run through runc-bounded"
  fi
  log "Docker is not running: starting dockerd in the background (its log: $KIND_CACHE/dockerd.log)"
  # It outlives this run: it keeps none of the descriptors this script inherited, such as a lock
  # its caller holds (`flock LOCK make e2e-kind` would otherwise hold LOCK as long as dockerd runs).
  (
    for fd in /proc/self/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ]; then eval "exec $fd>&-"; fi
    done
    exec nohup dockerd "${args[@]}" >"$KIND_CACHE/dockerd.log" 2>&1 </dev/null
  ) &
  for _ in $(seq 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not start; see $KIND_CACHE/dockerd.log"; exit 1; }
  log "dockerd is running (pid $(pgrep -xo dockerd))"
fi
