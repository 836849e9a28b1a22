#!/usr/bin/env bash
# run.sh — the fault harness (docs/faults.md): start a throwaway Apache Kafka
# broker (tests/realkafka/broker.sh), run tests/faults against it, stop the
# broker on every exit path. The scale comes from FAULT_* variables (CI size by
# default; `make test-faults-full` sets the full size). Extra args go to go test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"

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
go test ./tests/faults/ -count=1 -v -timeout "${FAULT_TIMEOUT:-30m}" "$@"
