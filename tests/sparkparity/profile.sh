#!/usr/bin/env bash
# profile.sh — where rides-connect's CPU goes on the benchmark workload: a broker, 2 M rides in
# 6 partitions, config/rides.yaml with debug endpoints, a 20 s CPU profile, `go tool pprof -top`.
#   PROFILE_WORK=/dir profile.sh   keep cpu.pprof there (default: a temp dir, removed)
set -euo pipefail
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

work="${PROFILE_WORK:-}"
own_work=0
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	sp_broker_stop
	if [[ $own_work == 1 ]]; then rm -rf "$work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z "$work" ]]; then
	work="$(mktemp -d /tmp/sparkparity-profile.XXXXXX)"
	own_work=1
fi
mkdir -p "$work"
sp_setup
sp_binary
export KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms512m -Xmx1g}"
sp_broker_start
"$venv/bin/python" "$here/profile_ours.py" --work "$work"
go tool pprof -top -cum -nodecount=30 "$RIDES_CONNECT_BIN" "$work/cpu.pprof"
