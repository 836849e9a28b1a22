#!/usr/bin/env bash
# run.sh — the black-box tier (tests/blackbox/README.md): the binary as a user runs it, on data
# generated apart from the Go harness, produced with librdkafka, SIGKILLed at random, tables read
# by delta-rs. Starts a real broker (tests/realkafka/broker.sh), stops it on every exit path.
# BLACKBOX_SEED repeats a run (each run draws new data otherwise; the seed is logged).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
py="$root/.cache/venv/bin/python"

bash "$root/tests/interop/setup.sh"
# librdkafka's Python client: a second Kafka client, apart from franz-go.
stamp="$root/.cache/venv/.blackbox-$(sha256sum "$here/requirements.txt" | cut -c1-16)"
if [[ ! -f "$stamp" ]]; then
	"$root/.cache/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
	touch "$stamp"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/rides-blackbox.XXXXXX")"
# shellcheck source=../realkafka/broker_lib.sh
source "$root/tests/realkafka/broker_lib.sh"
# shellcheck disable=SC2317 # invoked by the EXIT trap
cleanup() {
	local rc=$?
	broker_stop
	if [[ $rc -eq 0 ]]; then rm -rf "$work"; else echo "blackbox: logs kept in $work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

broker_start

cd "$root"
go build -o "$work/rides-connect" ./cmd/rides-connect
seed="${BLACKBOX_SEED:-$((RANDOM * 32768 + RANDOM))}"
echo "blackbox: seed $seed (BLACKBOX_SEED=$seed repeats these runs)"

passed=0 failed=0
run() { # run NAME ARGS...
	local name="$1"; shift
	if "$py" "$here/blackbox.py" "$@" --bin "$work/rides-connect" --work "$work/$name"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
	fi
}
# The shipped two-stage job: three replicas while the rides come, SIGKILLs, one kept away past
# its session timeout now and then.
run silver-replicas silver --seed "$seed" --rides 200000 --partitions 7 --disorder-min 15 --replicas 3 --live --kills 6
# A user's edit of it (1-minute windows, 2-minute watermark, by city and user: many keys), a
# backlog from earliest.
run silver-edited silver --seed "$((seed + 1))" --edited --rides 120000 --partitions 5 --disorder-min 3 --kills 4
# The bronze table: every ride once, as parsed.
run bronze bronze --seed "$((seed + 2))" --rides 120000 --partitions 5 --kills 4

echo "blackbox: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
