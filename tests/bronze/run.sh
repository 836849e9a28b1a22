#!/usr/bin/env bash
# run.sh — the bronze tier: config/bronze.yaml end to end on a real Apache Kafka broker
# (tests/realkafka/broker.sh, SASL_SSL + SCRAM-SHA-512), SIGKILLed mid-stream and restarted as two
# replicas; the table is then read by our reader, delta-rs and DuckDB (the readers of
# tests/interop/setup.sh). Starts the broker, stops it on every exit path. ~2.5 min warm.
# Extra arguments go to `go test`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

bash "$root/tests/interop/setup.sh"

# shellcheck source=../realkafka/broker_lib.sh
source "$root/tests/realkafka/broker_lib.sh"
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	broker_stop
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

broker_start

cd "$root"
t0=$SECONDS
BRONZE_PYTHON="$root/.cache/venv/bin/python" go test ./tests/bronze/... -count=1 -v -timeout 10m "$@"
echo "bronze: go test took $((SECONDS - t0)) s"
