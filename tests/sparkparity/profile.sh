#!/usr/bin/env bash
# profile.sh [profile|trace] — rides-connect alone on the benchmark workload (a broker, 2 M rides
# in 6 partitions):
#   profile (default)  config/rides.yaml with debug endpoints, a 20 s CPU profile, `go tool pprof -top`
#   trace              /metrics every 0.5 s while config/rides.yaml (or TRACE_VARIANTS) drains
#                      the topic (drain_trace.py): the drain rate over time
#   PROFILE_WORK=/dir profile.sh   keep cpu.pprof / logs there (default: a temp dir, removed)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

sp_work_dir "${PROFILE_WORK:-}" sparkparity-profile

sp_setup
sp_binary
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
sp_broker_start
case "${1:-profile}" in
profile)
	"$venv/bin/python" "$here/profile_ours.py" --work "$work"
	go tool pprof -top -cum -nodecount=30 "$RIDES_CONNECT_BIN" "$work/cpu.pprof"
	;;
trace) "$venv/bin/python" "$here/drain_trace.py" "$work" ;;
*) echo "usage: $0 [profile|trace]" >&2; exit 2 ;;
esac
