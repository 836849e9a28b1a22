#!/usr/bin/env bash
# run.sh — the real Apache Kafka broker tier: start a throwaway KRaft broker
# (tests/realkafka/broker.sh), run the Go tests of tests/realkafka against it,
# and stop the broker on every exit path.
#
# Needs Java 17+, Maven, openssl and Go. The first run fetches the Kafka jars
# from Maven Central (~45 MB, cached under ${XDG_CACHE_HOME:-$HOME/.cache}/rides-connect).
# Extra arguments go to `go test` (e.g. -run TestWrongPassword).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
now_ms() { date +%s%3N; }

# shellcheck source=broker_lib.sh
source "$here/broker_lib.sh"
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	broker_stop
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(now_ms)
broker_start
t1=$(now_ms)
echo "run.sh: broker ready in $((t1 - t0)) ms: jar download ${KAFKA_JAR_FETCH_MS} ms (0 = cached), broker start ${KAFKA_BROKER_START_MS} ms, the rest TLS material + storage format"

cd "$root"
status=0
go test ./tests/realkafka/... -count=1 -v -timeout 15m "$@" || status=$?
t2=$(now_ms)
echo "run.sh: go test took $((t2 - t1)) ms; whole tier $((t2 - t0)) ms"
if ((status != 0)); then
	echo "run.sh: broker log tail ($KAFKA_SERVER_LOG):"
	tail -n 30 "$KAFKA_SERVER_LOG" || true
fi
exit "$status"
