#!/usr/bin/env bash
# Checks the chart's alerting rules, runs their unit tests and parses the Grafana dashboard's
# queries, all with promtool (make rules-test).
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

# The dashboard's queries, with Grafana's variables filled in, parsed by Prometheus's own parser
# (as recording rules: JSON is YAML).
queries=$(mktemp --suffix=.json)
trap 'rm -f "$queries"' EXIT
"${PYTHON:-python3}" - charts/tds-operator/dashboards/tds-operator.json >"$queries" <<'PY'
import json, sys
board = json.load(open(sys.argv[1]))
fill = {"$__rate_interval": "5m", "$__range": "1h", "$contract": ".*", "$cluster": ".*", "$job": "tds-operator"}
rules = []
for panel in board["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"]
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        rules.append({"record": f"dashboard:panel{panel['id']}:{target['refId']}", "expr": expr})
json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, sys.stdout)
PY
log "promtool check rules (the dashboard's queries)"
promtool check rules "$queries"
