#!/usr/bin/env bash
# broker.sh start|stop|env — a throwaway single-node Apache Kafka 4.x (KRaft,
# combined broker+controller) on 127.0.0.1 for the real-broker test tier.
#
#   start  fetch the server jars from Maven Central (cached), generate a CA, a
#          broker JKS keystore and a client JKS truststore, format storage with
#          SCRAM-SHA-512 users, start the broker, wait until it serves, and print
#          KEY=value env lines on stdout (progress goes to stderr).
#   env    print the env lines of the running broker again.
#   restart  stop that broker (TERM) and start it again on the same data dir and ports.
#   stop   kill that broker (by its recorded PID only) and remove its temp dir.
#
# Needs only Java 17+, Maven and openssl (keytool ships with Java).
# Listeners: PLAINTEXT (admin, inter-broker), SASL_SSL with SCRAM-SHA-512, CONTROLLER.
#
# Environment knobs:
#   KAFKA_VERSION        Apache Kafka release on Maven Central (default below)
#   KAFKA_BROKER_DIR     temp dir of a started broker (for env/stop; default: the
#                        one recorded in $TMPDIR/rides-connect-realkafka.current)
#   KAFKA_HEAP_OPTS      JVM heap (default -Xms256m -Xmx512m: the machine is shared)
#   KAFKA_START_TIMEOUT  seconds to wait for the broker to serve (default 120)
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
SCALA_VERSION="2.13"
LOG4J_VERSION="2.25.3"  # the log4j2 binding the Kafka 4.x distribution ships
SLF4J_VERSION="2.0.17"  # slf4j 2 API, needed by log4j-slf4j2-impl
CACHE_ROOT="${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/rides-connect"
LIB_DIR="$CACHE_ROOT/kafka-$KAFKA_VERSION/libs"
CURRENT_FILE="${TMPDIR:-/tmp}/rides-connect-realkafka.current"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"

log() { printf 'broker.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }
now_ms() { date +%s%3N; }

need() {
	command -v "$1" >/dev/null 2>&1 || die "'$1' not found on PATH ($2)"
}

# fetch_jars resolves kafka_2.13 and its runtime dependencies with Maven into
# the cache once; later runs reuse it (marker file written last).
FETCH_MS=0
fetch_jars() {
	if [[ -f "$LIB_DIR/.complete" ]]; then
		log "jars: cached in $LIB_DIR"
		return
	fi
	need mvn "install Maven to fetch the Kafka jars from Maven Central"
	local t0 pomdir
	t0=$(now_ms)
	pomdir=$(mktemp -d)
	cat >"$pomdir/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.rides-connect</groupId>
  <artifactId>kafka-server-jars</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_VERSION</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-api</artifactId><version>$SLF4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j2-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
EOF
	log "jars: fetching org.apache.kafka:kafka_$SCALA_VERSION:$KAFKA_VERSION from Maven Central"
	rm -rf "$LIB_DIR.tmp"
	mkdir -p "$LIB_DIR.tmp"
	if ! mvn -B -q -Dstyle.color=never -f "$pomdir/pom.xml" \
		org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
		-DincludeScope=runtime -DoutputDirectory="$LIB_DIR.tmp" >"$pomdir/mvn.log" 2>&1; then
		cat "$pomdir/mvn.log" >&2
		rm -rf "$pomdir" "$LIB_DIR.tmp"
		rmdir "$(dirname "$LIB_DIR")" 2>/dev/null || true
		die "mvn could not fetch kafka_$SCALA_VERSION:$KAFKA_VERSION (is Maven Central reachable?)"
	fi
	rm -rf "$pomdir"
	# slf4j 1.x may come in transitively next to the pinned 2.x: keep only one.
	find "$LIB_DIR.tmp" -name 'slf4j-api-1.*.jar' -delete
	touch "$LIB_DIR.tmp/.complete"
	rm -rf "$LIB_DIR"
	mkdir -p "$(dirname "$LIB_DIR")"
	mv "$LIB_DIR.tmp" "$LIB_DIR"
	FETCH_MS=$(($(now_ms) - t0))
	log "jars: fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $FETCH_MS ms"
}

# free_port prints a TCP port on 127.0.0.1 that nothing answers on, from a
# range below the kernel's ephemeral ports. A race with another process is
# possible; start() retries with new ports if the broker cannot bind.
free_port() {
	local p
	for _ in $(seq 1 200); do
		p=$((20000 + RANDOM % 12000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	die "no free port found on 127.0.0.1"
}

# gen_tls writes ca.pem, a broker keystore (JKS, CN/SAN 127.0.0.1 + localhost)
# and a client truststore (JKS) holding the CA into $1.
gen_tls() {
	local d="$1" pass="$2"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -sha256 \
		-subj "/CN=rides-connect test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null
	openssl req -newkey rsa:2048 -nodes -sha256 -subj "/CN=127.0.0.1" \
		-keyout "$d/broker.key" -out "$d/broker.csr" 2>/dev/null
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >"$d/broker.ext"
	openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -sha256 -extfile "$d/broker.ext" -out "$d/broker.pem" 2>/dev/null
	openssl pkcs12 -export -name broker -in "$d/broker.pem" -inkey "$d/broker.key" \
		-certfile "$d/ca.pem" -passout "pass:$pass" -out "$d/broker.p12"
	keytool -importkeystore -noprompt \
		-srckeystore "$d/broker.p12" -srcstoretype PKCS12 -srcstorepass "$pass" \
		-destkeystore "$d/broker.keystore.jks" -deststoretype JKS -deststorepass "$pass" \
		-destkeypass "$pass" >/dev/null 2>&1
	keytool -importcert -noprompt -alias rides-ca -file "$d/ca.pem" \
		-keystore "$d/truststore.jks" -storetype JKS -storepass "$pass" >/dev/null 2>&1
	rm -f "$d/ca.key" "$d/broker.key" "$d/broker.csr" "$d/broker.p12" "$d/broker.ext" "$d/ca.srl"
}

write_config() {
	local d="$1" pp="$2" sp="$3" cp="$4" pass="$5"
	cat >"$d/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cp
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:$pp,SASL_SSL://127.0.0.1:$sp,CONTROLLER://127.0.0.1:$cp
advertised.listeners=PLAINTEXT://127.0.0.1:$pp,SASL_SSL://127.0.0.1:$sp
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=JKS
ssl.keystore.location=$d/broker.keystore.jks
ssl.keystore.password=$pass
ssl.key.password=$pass
ssl.client.auth=none
log.dirs=$d/data
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
EOF
	# Authentication failures are logged by the network Selector at INFO; keep
	# them (tests count them) while the rest of the broker logs at WARN.
	cat >"$d/log4j2.properties" <<EOF
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $d/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d{ISO8601}] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.file.ref = file
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = info
logger.selector.name = org.apache.kafka.common.network.Selector
logger.selector.level = info
logger.authenticator.name = org.apache.kafka.common.security.authenticator
logger.authenticator.level = info
EOF
}

java_cmd() {
	local d="$1"
	shift
	# exec: when run in the background the recorded PID is java's own.
	# shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of JVM flags
	exec java ${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m} -XX:+UseG1GC \
		-Djava.awt.headless=true \
		-Dlog4j2.configurationFile="$d/log4j2.properties" \
		-cp "$LIB_DIR/*" "$@"
}

# broker_ready is true once the broker logged its start and its PLAINTEXT
# listener accepts connections.
broker_ready() {
	local d="$1" pp="$2"
	grep -q 'Kafka Server started' "$d/server.log" 2>/dev/null &&
		(exec 3<>"/dev/tcp/127.0.0.1/$pp") 2>/dev/null
}

start_once() {
	local d="$1" pass="$2" userpass="$3"
	local pp sp cp cluster pid t0 deadline
	pp=$(free_port)
	sp=$(free_port)
	cp=$(free_port)
	[[ "$pp" != "$sp" && "$sp" != "$cp" && "$pp" != "$cp" ]] || return 1
	rm -rf "$d/data" "$d/server.log"
	write_config "$d" "$pp" "$sp" "$cp" "$pass"
	# A KRaft cluster id is 16 random bytes in unpadded base64url.
	cluster=$(openssl rand -base64 16 | tr '+/' '-_' | tr -d '=\n')  # may start with "-": passed as --cluster-id=…
	(java_cmd "$d" kafka.tools.StorageTool format --ignore-formatted \
		--cluster-id="$cluster" --config "$d/server.properties" \
		--add-scram "SCRAM-SHA-512=[name=rides,password=$userpass]") >"$d/format.log" 2>&1 ||
		{ cat "$d/format.log" >&2; die "storage format failed"; }
	t0=$(now_ms)
	java_cmd "$d" kafka.Kafka "$d/server.properties" >"$d/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/broker.pid"
	deadline=$(($(date +%s) + START_TIMEOUT))
	while ! broker_ready "$d" "$pp"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			log "broker exited during start-up; last log lines:"
			tail -n 20 "$d/stdout.log" "$d/server.log" >&2 2>/dev/null || true
			rm -f "$d/broker.pid"
			return 1
		fi
		if (($(date +%s) >= deadline)); then
			tail -n 20 "$d/stdout.log" "$d/server.log" >&2 2>/dev/null || true
			die "broker did not serve within ${START_TIMEOUT}s"
		fi
		sleep 0.2 # polling interval of the readiness check, not a fixed wait
	done
	log "broker: pid $pid serving in $(($(now_ms) - t0)) ms (PLAINTEXT :$pp, SASL_SSL :$sp, CONTROLLER :$cp)"
	cat >"$d/env" <<EOF
KAFKA_PLAINTEXT=127.0.0.1:$pp
KAFKA_SASL_SSL=127.0.0.1:$sp
KAFKA_USER=rides
KAFKA_PASS=$userpass
KAFKA_TRUSTSTORE=$d/truststore.jks
KAFKA_TRUSTSTORE_PASSWORD=$pass
KAFKA_CA_PEM=$d/ca.pem
KAFKA_SERVER_LOG=$d/server.log
KAFKA_BROKER_DIR=$d
KAFKA_JAR_FETCH_MS=$FETCH_MS
KAFKA_BROKER_START_MS=$(($(now_ms) - t0))
EOF
}

cmd_start() {
	need java "install a Java 17+ runtime"
	need keytool "it ships with the Java runtime"
	need openssl "install openssl"
	fetch_jars
	local d pass userpass attempt
	d=$(mktemp -d "${TMPDIR:-/tmp}/rides-realkafka.XXXXXX")
	chmod 700 "$d"
	# Whatever makes start fail (or an interrupt) leaves no broker and no dir.
	START_DIR="$d"
	trap 'abort_start' EXIT
	trap 'exit 130' INT TERM
	pass=$(openssl rand -hex 16)
	userpass=$(openssl rand -hex 16)
	gen_tls "$d" "$pass"
	for attempt in 1 2 3; do
		if start_once "$d" "$pass" "$userpass"; then
			echo "$d" >"$CURRENT_FILE"
			trap - EXIT INT TERM
			cat "$d/env"
			return
		fi
		log "start attempt $attempt failed (port taken?); retrying with new ports"
	done
	die "broker did not start"
}

# kill_wait stops one PID (TERM, then KILL after 30 s) and waits for it.
kill_wait() {
	local pid="$1"
	kill -0 "$pid" 2>/dev/null || return 0
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 1 150); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.2 # polling for the exit, bounded by the loop
	done
	log "pid $pid did not stop on TERM; killing it"
	kill -9 "$pid" 2>/dev/null || true
}

# abort_start runs on any exit of a start that did not succeed.
abort_start() {
	local rc=$?
	if [[ -n "${START_DIR:-}" && -d "$START_DIR" ]]; then
		if [[ -f "$START_DIR/broker.pid" ]]; then
			kill_wait "$(cat "$START_DIR/broker.pid")"
		fi
		rm -rf "$START_DIR"
	fi
	exit "$rc"
}

broker_dir() {
	local d="${1:-${KAFKA_BROKER_DIR:-}}"
	if [[ -z "$d" && -f "$CURRENT_FILE" ]]; then
		d=$(cat "$CURRENT_FILE")
	fi
	echo "$d"
}

cmd_env() {
	local d
	d=$(broker_dir "${1:-}")
	[[ -n "$d" && -f "$d/env" ]] || die "no running broker (start one with: $0 start)"
	cat "$d/env"
}

cmd_stop() {
	local d pid
	d=$(broker_dir "${1:-}")
	if [[ -z "$d" || ! -d "$d" ]]; then
		log "no broker to stop"
		return
	fi
	# Only ever delete a dir this script made.
	case "$(basename "$d")" in rides-realkafka.*) ;; *) die "refusing to remove $d" ;; esac
	if [[ -f "$d/broker.pid" ]]; then
		pid=$(cat "$d/broker.pid")
		kill_wait "$pid"
		log "broker pid $pid stopped"
	fi
	rm -rf "$d"
	if [[ -f "$CURRENT_FILE" && "$(cat "$CURRENT_FILE")" == "$d" ]]; then
		rm -f "$CURRENT_FILE"
	fi
}

# cmd_restart stops the broker (TERM) and starts it again on the same data
# dir and ports: a broker restart as a rolling upgrade does it.
cmd_restart() {
	local d pid pp t0 deadline
	d=$(broker_dir "${1:-}")
	[[ -n "$d" && -f "$d/env" && -f "$d/broker.pid" ]] || die "no running broker to restart"
	pid=$(cat "$d/broker.pid")
	kill_wait "$pid"
	pp=$(sed -n 's/^KAFKA_PLAINTEXT=127.0.0.1://p' "$d/env")
	t0=$(now_ms)
	: >"$d/server.log"
	java_cmd "$d" kafka.Kafka "$d/server.properties" >>"$d/stdout.log" 2>&1 &
	pid=$!
	echo "$pid" >"$d/broker.pid"
	deadline=$(($(date +%s) + START_TIMEOUT))
	while ! broker_ready "$d" "$pp"; do
		kill -0 "$pid" 2>/dev/null || { tail -n 20 "$d/stdout.log" >&2; die "broker exited during restart"; }
		(($(date +%s) < deadline)) || die "broker did not serve within ${START_TIMEOUT}s after restart"
		sleep 0.2 # polling interval of the readiness check, not a fixed wait
	done
	log "broker: restarted as pid $pid, serving in $(($(now_ms) - t0)) ms"
}

case "${1:-}" in
start) cmd_start ;;
restart) cmd_restart "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
env) cmd_env "${2:-}" ;;
*)
	echo "usage: $0 start|stop [dir]|restart [dir]|env [dir]" >&2
	exit 2
	;;
esac
