#!/usr/bin/env bash
# run.sh — issue 11's process-level measurements of rides-connect on config/rides.yaml (unchanged,
# env only) against a real Apache Kafka broker (tests/realkafka/broker.sh, on this machine).
# Not part of `make test`: `make bench-rss`, `make bench-latency`. Results: docs/benchmarks.md.
#
#   run.sh rss [perf flags]       10 M DefaultBacklog rides prefilled, drained; peak RSS + heap top
#   run.sh latency [perf flags]   50 000 rides/s live for 60 s; closed window → Delta latency
#   PERF_WORK=/dir run.sh ...     keep the table, logs, heap profiles there (default: temp, removed)
#   RIDES_CONNECT_BIN=path        use that binary instead of building bin/rides-connect
#   PERF_LOG_LEVEL=DEBUG          the job's log level (default WARN)
# Flags (see tests/perf/main.go): rss -n N -reps R -variants name=bin:config,... -cpuprofile S
#   -malformed F (share of malformed records) -rides-only (the drain ends once every ride is in: for
#   variants without a table, e.g. tests/perf/split_local.py's); latency -rate R -duration D -factor F -warmup W.
set -euo pipefail
mode="${1:?usage: run.sh rss|latency [flags]}"
shift
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$repo"

work="${PERF_WORK:-}"
own_work=0
if [[ -z "$work" ]]; then
	work="$(mktemp -d /tmp/rides-perf.XXXXXX)"
	own_work=1
fi
mkdir -p "$work"
broker_tmp="$(mktemp -d /tmp/rides-perf-broker.XXXXXX)"
broker_dir=""
cleanup() {
	local rc=$?
	if [[ -n "$broker_dir" ]]; then
		TMPDIR="$broker_tmp" tests/realkafka/broker.sh stop "$broker_dir" || true
	fi
	rm -rf "$broker_tmp"
	if [[ $own_work == 1 ]]; then rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bin="${RIDES_CONNECT_BIN:-}"
if [[ -z "$bin" ]]; then
	bin="$repo/bin/rides-connect"
	go build -o "$bin" ./cmd/rides-connect
fi
go build -o "$repo/bin/perf" ./tests/perf

# 10 M records are ~1.5 GB of log: the broker gets more heap than the test default.
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
# Our own TMPDIR: broker.sh's "current broker" file then cannot point at another tier's broker.
env_lines="$(TMPDIR="$broker_tmp" tests/realkafka/broker.sh start)"
while IFS='=' read -r key value; do
	case "$key" in
	KAFKA_PLAINTEXT) plaintext="$value" ;;
	KAFKA_BROKER_DIR) broker_dir="$value" ;;
	esac
done <<<"$env_lines"
echo "perf: nproc $(nproc); $(grep -m1 'model name' /proc/cpuinfo); load $(cut -d' ' -f1-3 /proc/loadavg)"
# Only the PLAINTEXT address goes to the job (config/rides.yaml would read KAFKA_TRUSTSTORE etc.).
env -u KAFKA_TRUSTSTORE -u KAFKA_USER -u KAFKA_PASS -u KAFKA_TLS -u KAFKA_SASL_MECHANISM \
	"$repo/bin/perf" "$mode" -brokers "${plaintext:?broker.sh printed no KAFKA_PLAINTEXT}" -bin "$bin" \
	-work "$work" -config "$repo/config/rides.yaml" "$@"
