#!/usr/bin/env bash
# Checks the chart's alerting rules and runs their unit tests with promtool (make rules-test).
# promtool is built once from its Go module, at the version in hack/hub/versions.env, and cached.
set -euo pipefail
log_tag='rules-test'
. "$(dirname "$0")/hub/lib.sh"
cd "$repo_root"
[ -x "$PROMTOOL_BIN/promtool" ] || hack/hub/build.sh promtool
promtool() { "$PROMTOOL_BIN/promtool" "$@"; }

log "promtool check rules"
promtool check rules charts/tds-operator/rules/*.yaml
log "promtool test rules"
promtool test rules tests/alerts/*.test.yaml
