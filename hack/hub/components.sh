# The hub's components as kwokctl runs them (binary runtime): a pid file and a log each under
# $KWOK_WORKDIR/clusters/$HUB_NAME. Sourced by up.sh; tests/unit/test_hub_components.py runs it.
# shellcheck shell=bash

hub_cluster_dir() { printf '%s\n' "$KWOK_WORKDIR/clusters/$HUB_NAME"; }

# The components kwokctl started that no longer run (e.g. one that lost a race for its port).
hub_dead_components() {
  local pid_file pid
  for pid_file in "$(hub_cluster_dir)"/pids/*.pid; do
    [ -e "$pid_file" ] || continue
    pid=$(cat "$pid_file" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then
      basename "$pid_file" .pid
    fi
  done
}

# Say which components died, with the end of each one's log; false if none did.
hub_report_dead_components() {
  local dead component log_file
  dead=$(hub_dead_components)
  [ -n "$dead" ] || return 1
  for component in $dead; do
    log_file=$(hub_cluster_dir)/logs/$component.log
    log "$component is not running; its log ($log_file) ends with:"
    if [ -f "$log_file" ]; then tail -n 15 "$log_file" >&2; else echo "  (no log)" >&2; fi
  done
}
