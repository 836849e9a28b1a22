#!/usr/bin/env bash
# Observability tier: promtool checks of deploy/prometheus.
#   - promtool check config  deploy/prometheus/prometheus.yml (and the rule file it loads)
#   - promtool check rules   deploy/prometheus/alerts.yml
#   - promtool test rules    deploy/prometheus/alerts_test.yml (unit tests of every alert)
#   - docker-compose.yml (with Prometheus and Grafana) validated with docker-compose when installed
#   - every Grafana dashboard query through the PromQL parser (as recording rules)
#   - TestPipelineMetrics through the built binary, scraped by a real Prometheus
#     (RIDES_OBS_BINARY=1 RIDES_OBS_PROMETHEUS=1)
# Installs promtool if it is missing: Debian's `prometheus` package ships it
# (apt-get, ~100 MB, about 30 s). The Go side (dashboard/alert metric names
# exposed by a real run) is `go test ./tests/observability/`.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v promtool >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  echo "check.sh: promtool not found, installing Debian package prometheus" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

promtool --version 2>&1 | head -1
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/alerts.yml
promtool test rules deploy/prometheus/alerts_test.yml

# The Prometheus + Grafana override of the compose stack, offline (Debian's
# docker-compose, installed by tests/deploy/check.sh); skipped without it.
if command -v docker-compose >/dev/null 2>&1; then
  docker-compose -f docker-compose.yml config -q
  echo "docker-compose.yml: valid"
else
  echo "check.sh: docker-compose not installed, compose override not validated (tests/deploy/check.sh installs it)"
fi

# The dashboard's queries through the PromQL parser: each becomes a recording
# rule (Grafana variables replaced by values) that promtool check rules parses.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 - deploy/grafana/dashboards/rides-connect.json > "$tmp/dashboard_rules.yml" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print("groups:\n  - name: dashboard\n    rules:")
n = 0
for p in d["panels"]:
    for t in p.get("targets", []):
        e = t["expr"].replace("$__rate_interval", "1m").replace("$instance", ".*")
        n += 1
        print("      - record: dashboard:query%d" % n)
        print("        expr: %s" % json.dumps(e))
if n == 0:
    sys.exit("no queries in the dashboard")
PY
promtool check rules "$tmp/dashboard_rules.yml" | sed 's|'"$tmp"'/||'
# The rides-connect binary running config/rides.yaml on an embedded broker,
# scraped by a real Prometheus (same Debian package): every dashboard query
# returns data, every alert rule evaluates without error, only the expected
# alert is pending. (Plain `go test` runs the same job in process.)
RIDES_OBS_BINARY=1 RIDES_OBS_PROMETHEUS=1 go test -count=1 -run 'TestPipelineMetrics|TestBinaryDefaultExporter' ./tests/observability/
echo "check.sh: observability checks passed"
