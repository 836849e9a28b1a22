#!/usr/bin/env bash
# run.sh — the Spark parity tier: the seed's Spark 4 job (seed_job.py) and rides-connect on
# config/rides.yaml drain the same topics of a real Kafka broker into two Delta tables, which
# delta-rs reads and compares (test_parity.py). Not part of `make test`.
#
# Installs on first run (each step skipped once done): the interop venv with PySpark + delta-spark
# and the Delta jars (tests/interop/setup.sh --spark), confluent-kafka, the spark-sql-kafka jars;
# the Kafka broker jars (tests/realkafka/broker.sh); bin/rides-connect if missing.
# Extra arguments go to pytest (e.g. run.sh -k six -x). Exits non-zero on any failure,
# including pytest's exit 5 (no tests collected).
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	sp_broker_stop
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
sp_setup
sp_binary
t1=$(now_ms)
echo "sparkparity: setup took $((t1 - t0)) ms"
sp_broker_start
t2=$(now_ms)
echo "sparkparity: broker ready in $((t2 - t1)) ms (KAFKA_PLAINTEXT=$KAFKA_PLAINTEXT)"

set +e
(cd "$here" && "$venv/bin/python" -m pytest "$@")
rc=$?
set -e
t3=$(now_ms)
echo "sparkparity: pytest took $((t3 - t2)) ms (exit $rc); whole tier $((t3 - t0)) ms"
if [[ $rc == 5 ]]; then
	echo "sparkparity: pytest collected no tests: counted as a failure" >&2
	rc=1
fi
if [[ $rc != 0 && -n "${KAFKA_SERVER_LOG:-}" ]]; then
	echo "sparkparity: broker log tail ($KAFKA_SERVER_LOG):"
	tail -n 20 "$KAFKA_SERVER_LOG" || true
fi
exit "$rc"
