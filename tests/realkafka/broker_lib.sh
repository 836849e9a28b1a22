# broker_lib.sh — sourced by the tiers that run against a throwaway broker (realkafka, faults,
# bronze, blackbox, sparkparity): broker_start [KEY...] starts one with broker.sh, exports every
# KAFKA_* line it prints (PLAINTEXT and SASL_SSL addresses, credentials, truststore,
# KAFKA_BROKER_DIR), or only the KEYs given, and records it;
# broker_stop stops that broker by its recorded PID (safe to call twice, from an EXIT trap).
# broker.sh keeps "the current broker" in a private TMPDIR, so that a bare `broker.sh stop` or
# `restart` elsewhere on the machine cannot find this one, nor this one another's.

broker_sh="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/broker.sh"
broker_dir=""
broker_tmp=""

broker_start() {
	local env_lines key value
	broker_tmp="$(mktemp -d "${TMPDIR:-/tmp}/rides-broker.XXXXXX")"
	env_lines="$(TMPDIR="$broker_tmp" "$broker_sh" start)"
	while IFS='=' read -r key value; do
		[[ "$key" =~ ^KAFKA_[A-Z_]+$ ]] || continue
		if [[ $# -gt 0 && " $* " != *" $key "* ]]; then continue; fi
		export "$key=$value"
	done <<<"$env_lines"
	broker_dir="${KAFKA_BROKER_DIR:?broker.sh start printed no KAFKA_BROKER_DIR}"
}

broker_stop() {
	if [[ -n "$broker_dir" ]]; then
		TMPDIR="$broker_tmp" "$broker_sh" stop "$broker_dir" || true
		broker_dir=""
	fi
	if [[ -n "$broker_tmp" ]]; then
		rm -rf "$broker_tmp"
		broker_tmp=""
	fi
}
