# lib.sh — shared by run.sh and bench.sh (sourced, not run).
#   sp_setup         the interop tier's Spark setup (tests/interop/setup.sh --spark: venv, PySpark,
#                    delta-spark, Delta jars) + confluent-kafka + the spark-sql-kafka jars (Ivy)
#   sp_binary        bin/rides-connect (built when missing; RIDES_CONNECT_BIN overrides)
#   sp_broker_start  a throwaway Kafka 4.1.1 broker (tests/realkafka/broker.sh); exports KAFKA_*
#   sp_broker_stop   stops that broker by its recorded PID (safe to call twice)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/.cache/venv"
now_ms() { date +%s%3N; }

sp_setup() {
	local t0 stamp sum
	bash "$repo/tests/interop/setup.sh" --spark
	stamp="$venv/.sparkparity-requirements"
	sum="$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
		echo "setup: sparkparity requirements already installed"
	else
		t0=$SECONDS
		"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
		echo "$sum" >"$stamp"
		echo "setup: confluent-kafka done in $((SECONDS - t0)) s"
	fi
	# The Kafka source's jars, resolved by Ivy next to the Delta ones (.cache/ivy2).
	stamp="$repo/.cache/ivy2/.sparkparity-kafka-jars"
	sum="$("$venv/bin/python" -c 'import pyspark; print(pyspark.__version__)')"
	if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
		echo "setup: spark-sql-kafka-0-10 $sum already resolved"
	else
		t0=$SECONDS
		(cd "$here" && "$venv/bin/python" -c 'import seed_job; seed_job.make_session(driver_memory="512m").stop()')
		echo "$sum" >"$stamp"
		echo "setup: spark-sql-kafka-0-10 $sum resolved in $((SECONDS - t0)) s"
	fi
}

sp_binary() {
	if [[ -n "${RIDES_CONNECT_BIN:-}" ]]; then
		return
	fi
	export RIDES_CONNECT_BIN="$repo/bin/rides-connect"
	if [[ ! -x "$RIDES_CONNECT_BIN" ]]; then
		local t0=$SECONDS
		(cd "$repo" && go build -o bin/rides-connect ./cmd/rides-connect)
		echo "setup: go build ./cmd/rides-connect done in $((SECONDS - t0)) s"
	fi
}

# shellcheck source=../realkafka/broker_lib.sh
source "$repo/tests/realkafka/broker_lib.sh"
# Only the PLAINTEXT listener is used. KAFKA_TRUSTSTORE, KAFKA_USER, … are not exported:
# config/rides.yaml reads those names and would try SASL_SSL.
sp_broker_start() { broker_start KAFKA_PLAINTEXT KAFKA_BROKER_DIR KAFKA_SERVER_LOG; }
sp_broker_stop() { broker_stop; }

# sp_work_dir DIR PREFIX sets $work to DIR, or to a new temp dir (removed on exit), and makes
# every exit stop the broker this script started.
sp_work_dir() {
	work="$1"
	own_work=0
	if [[ -z "$work" ]]; then
		work="$(mktemp -d "/tmp/$2.XXXXXX")"
		own_work=1
	fi
	mkdir -p "$work"
	trap sp_cleanup EXIT
	trap 'exit 130' INT TERM
}

# shellcheck disable=SC2317 # invoked by the EXIT trap
sp_cleanup() {
	local rc=$?
	sp_broker_stop
	if [[ ${own_work:-0} == 1 ]]; then rm -rf "$work"; fi
	exit "$rc"
}
