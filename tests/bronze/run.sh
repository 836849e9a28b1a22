#!/usr/bin/env bash
# run.sh — the bronze tier: config/bronze.yaml end to end on a real Apache Kafka broker
# (tests/realkafka/broker.sh, SASL_SSL + SCRAM-SHA-512), SIGKILLed mid-stream and restarted as two
# replicas; the table is then read by our reader, delta-rs and DuckDB (the readers of
# tests/interop/setup.sh). Starts the broker, stops it on every exit path. ~2.5 min warm.
# Extra arguments go to `go test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
broker="$root/tests/realkafka/broker.sh"

bash "$root/tests/interop/setup.sh"

broker_dir=""
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	if [[ -n "$broker_dir" ]]; then
		"$broker" stop "$broker_dir" || true
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

env_lines="$("$broker" start)"
while IFS='=' read -r key value; do
	[[ "$key" =~ ^KAFKA_[A-Z_]+$ ]] || continue
	export "$key=$value"
done <<<"$env_lines"
broker_dir="${KAFKA_BROKER_DIR:?broker.sh start printed no KAFKA_BROKER_DIR}"

cd "$root"
t0=$SECONDS
BRONZE_PYTHON="$root/.cache/venv/bin/python" go test ./tests/bronze/... -count=1 -v -timeout 10m "$@"
echo "bronze: go test took $((SECONDS - t0)) s"
