package realkafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/miaradia/rides-connect/internal/harness"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	// The components under test, and Benthos' core ones (the "none" tracer...).
	_ "github.com/miaradia/rides-connect/plugins/kafkafranz"
	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
)

// brokerEnv is what tests/realkafka/broker.sh start prints.
type brokerEnv struct {
	plaintext     string // PLAINTEXT listener, host:port
	saslSSL       string // SASL_SSL (SCRAM-SHA-512) listener, host:port
	user, pass    string // SCRAM user created at storage format time
	truststore    string // JKS truststore holding the test CA
	trustPassword string
	caPEM         string // the same CA as PEM, for independent franz-go clients
	serverLog     string // broker log; authentication failures are logged at INFO
}

// needBroker returns the broker's env or skips the test when no broker runs.
func needBroker(t *testing.T) brokerEnv {
	t.Helper()
	if os.Getenv("KAFKA_SASL_SSL") == "" {
		t.Skip("KAFKA_SASL_SSL is unset: no real Kafka broker; run tests/realkafka/run.sh to start one and run this tier")
	}
	e := brokerEnv{
		plaintext:     os.Getenv("KAFKA_PLAINTEXT"),
		saslSSL:       os.Getenv("KAFKA_SASL_SSL"),
		user:          os.Getenv("KAFKA_USER"),
		pass:          os.Getenv("KAFKA_PASS"),
		truststore:    os.Getenv("KAFKA_TRUSTSTORE"),
		trustPassword: os.Getenv("KAFKA_TRUSTSTORE_PASSWORD"),
		caPEM:         os.Getenv("KAFKA_CA_PEM"),
		serverLog:     os.Getenv("KAFKA_SERVER_LOG"),
	}
	for name, v := range map[string]string{
		"KAFKA_PLAINTEXT": e.plaintext, "KAFKA_USER": e.user, "KAFKA_PASS": e.pass,
		"KAFKA_TRUSTSTORE": e.truststore, "KAFKA_TRUSTSTORE_PASSWORD": e.trustPassword,
	} {
		if v == "" {
			t.Fatalf("KAFKA_SASL_SSL is set but %s is not: export every line broker.sh start prints", name)
		}
	}
	return e
}

// securityYAML is the tls+sasl block the seed job uses: JKS truststore with a
// password, SCRAM-SHA-512, credentials read from the environment.
func (e brokerEnv) securityYAML(indent string) string {
	lines := []string{
		"tls:",
		"  enabled: true",
		"  truststore_file: " + e.truststore,
		"  truststore_password: " + e.trustPassword,
		"  truststore_type: jks",
		"sasl:",
		"  - mechanism: SCRAM-SHA-512",
		"    username: ${KAFKA_USER}",
		"    password: ${KAFKA_PASS}",
	}
	return indent + strings.Join(lines, "\n"+indent)
}

// adminClient is an independent franz-go client on the SASL_SSL listener,
// built without our plugin (CA as PEM, SCRAM from franz-go).
func (e brokerEnv) adminClient(t *testing.T) *kadm.Client {
	t.Helper()
	pem, err := os.ReadFile(e.caPEM)
	if err != nil {
		t.Fatalf("reading KAFKA_CA_PEM: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("KAFKA_CA_PEM %s holds no certificate", e.caPEM)
	}
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(e.saslSSL),
		// Admin checks poll metadata right after changes: do not serve it from a cache.
		kgo.MetadataMinAge(50*time.Millisecond),
		kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: e.user, Pass: e.pass}.AsSha512Mechanism()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}

// createTopic makes a fresh topic with the given partition count and waits
// until the broker serves it.
func createTopic(t *testing.T, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := harness.CreateServedTopic(ctx, adm, topic, partitions); err != nil {
		t.Fatal(err)
	}
}

// waitTopicServed polls metadata until the topic is listed and every
// partition has a leader (creation returns before metadata propagates).
func waitTopicServed(t *testing.T, ctx context.Context, adm *kadm.Client, topic string) kadm.TopicDetail {
	t.Helper()
	td, err := harness.WaitTopicServed(ctx, adm, topic)
	if err != nil {
		t.Fatal(err)
	}
	return td
}

// uniqueName keeps names apart when the tier runs twice against one broker.
func uniqueName(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano())
}
