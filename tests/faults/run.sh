#!/usr/bin/env bash
# run.sh — the fault harness (docs/faults.md): start a throwaway Apache Kafka
# broker (tests/realkafka/broker.sh), run tests/faults against it, stop the
# broker on every exit path. The scale comes from FAULT_* variables (CI size by
# default; `make test-faults-full` sets the full size). Extra args go to go test.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
broker="$root/tests/realkafka/broker.sh"

broker_dir=""
# A private TMPDIR: broker.sh records "the current broker" in $TMPDIR, and a
# bare `broker.sh stop|restart` elsewhere on the machine must not find ours.
priv_tmp="$(mktemp -d "${TMPDIR:-/tmp}/rides-faults.XXXXXX")"
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	[[ -n "$broker_dir" ]] && TMPDIR="$priv_tmp" "$broker" stop "$broker_dir" || true
	rm -rf "$priv_tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

env_lines="$(TMPDIR="$priv_tmp" "$broker" start)"
while IFS='=' read -r key value; do
	[[ "$key" =~ ^KAFKA_[A-Z_]+$ ]] || continue
	export "$key=$value"
done <<<"$env_lines"
broker_dir="${KAFKA_BROKER_DIR:?broker.sh start printed no KAFKA_BROKER_DIR}"

cd "$root"
go test ./tests/faults/ -count=1 -v -timeout "${FAULT_TIMEOUT:-30m}" "$@"
