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
gw_pid=""
cleanup() {
	local rc=$?
	broker_stop
	if [[ -n "$gw_pid" ]]; then kill "$gw_pid" 2>/dev/null || true; wait "$gw_pid" 2>/dev/null || true; fi
	if [[ $rc -eq 0 ]]; then rm -rf "$work"; else echo "blackbox: logs kept in $work"; fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

broker_start

# versitygw (installed by tests/interop/setup.sh), an S3 API server on a free loopback port, for the
# run whose table and window state are on S3.
export BLACKBOX_S3_ACCESS_KEY=blackboxkey BLACKBOX_S3_SECRET_KEY=blackboxsecret123
gw_port="$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/s3/data/lake" "$work/s3/meta"
"$root/.cache/bin/versitygw" --port "127.0.0.1:$gw_port" --access "$BLACKBOX_S3_ACCESS_KEY" \
	--secret "$BLACKBOX_S3_SECRET_KEY" posix --sidecar "$work/s3/meta" "$work/s3/data" >"$work/versitygw.log" 2>&1 &
gw_pid=$!
for _ in $(seq 1 100); do # wait for the listener, not for time
	if (exec 3<>"/dev/tcp/127.0.0.1/$gw_port") 2>/dev/null; then break; fi
	if ! kill -0 "$gw_pid" 2>/dev/null; then cat "$work/versitygw.log"; exit 1; fi
	sleep 0.1
done

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
# The shipped job with its table and window state on S3 (versitygw): two replicas, a backlog.
run silver-s3 silver --seed "$((seed + 3))" --rides 100000 --partitions 6 --disorder-min 10 --replicas 2 --kills 4 \
	--s3-endpoint "http://127.0.0.1:$gw_port"
# The bronze table: every ride once, as parsed.
run bronze bronze --seed "$((seed + 2))" --rides 120000 --partitions 5 --kills 4

echo "blackbox: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
