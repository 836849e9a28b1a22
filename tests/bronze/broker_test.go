package bronze

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
)

// brokerEnv is what tests/realkafka/broker.sh start prints.
type brokerEnv struct {
	plaintext, saslSSL        string // listeners, host:port
	user, pass                string // SCRAM-SHA-512 user
	truststore, trustPassword string // JKS truststore with the test CA
}

// needBroker returns the broker's env or skips the test when no broker runs.
func needBroker(t *testing.T) brokerEnv {
	t.Helper()
	if os.Getenv("KAFKA_SASL_SSL") == "" {
		t.Skip("KAFKA_SASL_SSL is unset: no real Kafka broker; tests/bronze/run.sh starts one and runs this test")
	}
	e := brokerEnv{
		plaintext: os.Getenv("KAFKA_PLAINTEXT"), saslSSL: os.Getenv("KAFKA_SASL_SSL"),
		user: os.Getenv("KAFKA_USER"), pass: os.Getenv("KAFKA_PASS"),
		truststore: os.Getenv("KAFKA_TRUSTSTORE"), trustPassword: os.Getenv("KAFKA_TRUSTSTORE_PASSWORD"),
	}
	for name, v := range map[string]string{"KAFKA_PLAINTEXT": e.plaintext, "KAFKA_USER": e.user, "KAFKA_PASS": e.pass,
		"KAFKA_TRUSTSTORE": e.truststore, "KAFKA_TRUSTSTORE_PASSWORD": e.trustPassword} {
		if v == "" {
			t.Fatalf("KAFKA_SASL_SSL is set but %s is not: export every line broker.sh start prints", name)
		}
	}
	return e
}

// createTopic makes a topic and waits until every partition has a leader.
func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := harness.CreateServedTopic(ctx, adm, topic, partitions); err != nil {
		t.Fatal(err)
	}
}
