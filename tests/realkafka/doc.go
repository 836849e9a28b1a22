// Package realkafka is the real-broker test tier: our kafka_franz input and
// output against a single-node Apache Kafka 4.x (KRaft) over SASL_SSL with
// SCRAM-SHA-512 and a JKS truststore, as the seed job connects in production.
//
// The tests need a running broker and skip without one. Run the whole tier,
// broker included, with tests/realkafka/run.sh (it fetches the Kafka jars from
// Maven Central once, starts the broker, runs `go test` and stops the broker).
// Against a broker you started yourself:
//
//	set -a; eval "$(tests/realkafka/broker.sh start)"; set +a
//	go test ./tests/realkafka/... -count=1 -v
//	tests/realkafka/broker.sh stop
package realkafka
