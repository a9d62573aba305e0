#!/usr/bin/env bash
# hack/kind/cpu-weight.sh raise|restore CLUSTER: the CPU weight of the kind cluster's node
# containers, against everything else on the machine.
#
# Docker puts every container under one top-level cgroup (cgroup v1: /docker; v2: /docker or
# /system.slice), which the kernel's scheduler weighs as one ordinary process against the rest of
# the machine; and with autogroups (kernel.sched_autogroup_enabled) every session there, such as
# each of a hub's processes, counts as one too. A whole kind cluster (its API server, etcd,
# kubelets, the operator) then gets a small share of the CPU whenever the hub tiers run beside it,
# and the kind tier's bounds (a read refused within 1 s of a revocation) measure the queue for the
# CPU instead of the operator. `raise` gives that cgroup KIND_CPU_WEIGHT (default 8) times the
# default weight and remembers the old one in the kind build's directory; `restore` puts it back if
# it still holds the raised value. Where the cgroup cannot be written (no root, a read-only
# cgroupfs), it says so and changes nothing.
set -euo pipefail
log_tag='kind-cpu'
. "$(dirname "$0")/lib.sh"

action=${1:?raise or restore}
cluster=${2:?the kind cluster}
factor=${KIND_CPU_WEIGHT:-8}
saved=$repo_root/.kind-build/cpu-weight.$cluster

# The weight file of the top-level cgroup holding a node container, and the default weight.
weight_file() {
  local pid path
  pid=$(docker inspect -f '{{.State.Pid}}' "$cluster-control-plane")
  if [ -f /sys/fs/cgroup/cpu/cpu.shares ]; then
    path=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ {print $3}' "/proc/$pid/cgroup")
    path=${path#/}
    [ -z "$path" ] || echo "/sys/fs/cgroup/cpu/${path%%/*}/cpu.shares 1024"
  else
    path=$(awk -F: '$1 == "0" {print $3}' "/proc/$pid/cgroup")
    path=${path#/}
    [ -z "$path" ] || echo "/sys/fs/cgroup/${path%%/*}/cpu.weight 100"
  fi
}

case $action in
raise)
  file='' default=0
  read -r file default < <(weight_file) || true
  raised=$((default * factor))
  if [ -z "$file" ] || [ ! -w "$file" ]; then
    log "the kind cluster's cgroup weight cannot be changed here ($file): left as it is"
    exit 0
  fi
  old=$(cat "$file")
  if [ "$old" -ge "$raised" ]; then
    log "the kind cluster's CPU weight is $old already ($file)"
    exit 0
  fi
  mkdir -p "${saved%/*}"
  echo "$file $old $raised" >"$saved"
  echo "$raised" >"$file"
  log "the kind cluster's CPU weight raised from $old to $raised ($file)"
  ;;
restore)
  [ -f "$saved" ] || exit 0
  read -r file old raised <"$saved"
  rm -f "$saved"
  if [ "$(cat "$file" 2>/dev/null)" = "$raised" ]; then
    echo "$old" >"$file"
    log "the kind cluster's CPU weight back to $old ($file)"
  fi
  ;;
*)
  echo "usage: $0 raise|restore CLUSTER" >&2
  exit 2
  ;;
esac
