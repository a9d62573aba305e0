#!/usr/bin/env bash
# Stops the local GPU hub, makes sure none of its processes survive, and removes its state.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

hub_pids() { pgrep -f -- "$KWOK_WORKDIR/" 2>/dev/null || true; }
# The TCP ports the hub's processes listen on, to prove afterwards that they were freed.
hub_ports() {
  local pid
  for pid in $(hub_pids); do
    ss -Hltnp 2>/dev/null | grep -F "pid=$pid," | awk '{print $4}' | sed 's/.*://'
  done | sort -u
}
mapfile -t ports < <(hub_ports)

# Kueue (if it was started) first: it runs beside the hub, not from its state directory.
"$hub_here/kueue.sh" stop
if [ -x "$KWOK_BIN/kwokctl" ] && [ -d "$KWOK_WORKDIR/clusters/$HUB_NAME" ]; then
  log "stopping hub '$HUB_NAME'"
  kwokctl delete cluster --name "$HUB_NAME" --kubeconfig "$HUB_KUBECONFIG" >/dev/null 2>&1 || true
fi
# Anything still running from the hub's state directory is a leftover: stop it.
mapfile -t pids < <(hub_pids)
if [ ${#pids[@]} -gt 0 ]; then
  log "stopping leftover hub processes: ${pids[*]}"
  kill "${pids[@]}" 2>/dev/null || true
  for _ in $(seq 1 20); do [ -z "$(hub_pids)" ] && break; sleep 0.5; done
  mapfile -t pids < <(hub_pids)
  [ ${#pids[@]} -eq 0 ] || kill -9 "${pids[@]}" 2>/dev/null || true
fi
rm -rf "$KWOK_WORKDIR" "$HUB_KUBECONFIG" "$HUB_DIR/kwokctl.yaml" "$HUB_DIR/front-proxy"
# What tests wrote to the output volumes' host paths (only the default place is removed).
case $HUB_OUTPUT_ROOT in /tmp/tds-hub-outputs-*) rm -rf "$HUB_OUTPUT_ROOT" ;; esac

mapfile -t pids < <(hub_pids)
if [ ${#pids[@]} -gt 0 ]; then log "ERROR: hub processes still running: ${pids[*]}"; exit 1; fi
for port in "${ports[@]}"; do
  if ss -Hltn "sport = :$port" | grep -q .; then log "ERROR: port $port is still in use"; exit 1; fi
done
log "hub '$HUB_NAME' is down; no hub process left, ports freed: ${ports[*]}"
