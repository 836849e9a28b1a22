package kafkafranz

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"
	"github.com/twmb/franz-go/pkg/kfake"
	"gopkg.in/yaml.v3"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/internal/testpki"
)

// secureCluster is kfake with TLS and SCRAM-SHA-512 (user rides), the seed's
// SASL_SSL setup, plus a JKS truststore of its CA.
func secureCluster(t *testing.T) (addr, jks string) {
	pki := testpki.New(t)
	_, addr = newCluster(t,
		kfake.SeedTopics(2, "rides"),
		kfake.TLS(pki.ServerTLS()),
		kfake.EnableSASL(),
		kfake.Superuser("SCRAM-SHA-512", "rides", "s3cret-pass"),
	)
	return addr, pki.WriteJKS(t, t.TempDir(), "changeit")
}

func secureBlock(jks, password string) string {
	return fmt.Sprintf(`
  tls:
    enabled: true
    truststore_file: %s
    truststore_password: changeit
  sasl:
    - mechanism: SCRAM-SHA-512
      username: rides
      password: %s
`, jks, password)
}

// Our output and input work over TLS (JKS truststore) + SCRAM-SHA-512.
func TestSASLSSLWithJKSTruststore(t *testing.T) {
	addr, jks := secureCluster(t)
	const n = 40

	send, stopOutput := runOutput(t, "warn", fmt.Sprintf("kafka_franz:\n  seed_brokers: [ %q ]\n  topic: rides\n", addr)+secureBlock(jks, "s3cret-pass"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	batch := make(service.MessageBatch, n)
	for i := range batch {
		batch[i] = service.NewMessage(fmt.Appendf(nil, "ride-%d", i))
	}
	if err := send(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if err := stopOutput(ctx); err != nil {
		t.Fatal(err)
	}

	col := newCollector()
	stop := runInput(t, groupInput(addr, "secure", "")+strings.ReplaceAll(secureBlock(jks, "s3cret-pass"), "\n  ", "\n  "),
		func(_ context.Context, b service.MessageBatch) error { col.add(b); return nil })
	col.waitDistinct(t, n)
	stop()
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case s.lines <- string(p):
	default:
	}
	return s.buf.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// A wrong password: the error names the mechanism and user, never the
// password, and Benthos retries the connection with back-off (no spin).
func TestWrongPasswordErrorAndBackoff(t *testing.T) {
	addr, jks := secureCluster(t)
	sink := &syncBuffer{lines: make(chan string, 1000)}
	sb := service.NewStreamBuilder()
	sb.SetLogger(slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := sb.AddInputYAML(groupInput(addr, "secure", "") + secureBlock(jks, "wrong-Pa55word")); err != nil {
		t.Fatal(err)
	}
	if err := sb.AddBatchConsumerFunc(func(context.Context, service.MessageBatch) error { return nil }); err != nil {
		t.Fatal(err)
	}
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = stream.Run(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = stream.Stop(ctx)
	})

	// Wait for three failed connection attempts and time them.
	var stamps []time.Time
	deadline := time.After(60 * time.Second)
	for len(stamps) < 3 {
		select {
		case line := <-sink.lines:
			if strings.Contains(line, "Failed to connect") {
				stamps = append(stamps, time.Now())
			}
		case <-deadline:
			t.Fatalf("saw %d connection failures; log:\n%s", len(stamps), sink.String())
		}
	}
	logs := sink.String()
	if strings.Contains(logs, "wrong-Pa55word") {
		t.Fatalf("the password leaked into the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "SCRAM-SHA-512") || !strings.Contains(logs, `user \"rides\"`) {
		t.Fatalf("the error does not name the mechanism and user:\n%s", logs)
	}
	// Benthos' connection back-off: without it attempts come back to back
	// (a few ms apart, each a failed dial+handshake).
	if gap := stamps[2].Sub(stamps[0]); gap < 500*time.Millisecond {
		t.Fatalf("3 attempts within %v: the input spins instead of backing off", gap)
	}
}

// `echo` (the config marshaller with scrubbing) never prints secrets.
func TestSecretsScrubbedFromEcho(t *testing.T) {
	env := service.GlobalEnvironment()
	yamlConf := `
input:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topics: [ rides ]
    consumer_group: g
    tls:
      enabled: true
      truststore_file: /opt/certs/truststore.jks
      truststore_password: literal-trust-pass
    sasl:
      - mechanism: SCRAM-SHA-512
        username: rides
        password: literal-sasl-pass
      - mechanism: OAUTHBEARER
        token: literal-token
output:
  kafka_franz:
    seed_brokers: [ localhost:9092 ]
    topic: out
    sasl:
      - mechanism: PLAIN
        username: rides
        password: ${KAFKA_PASS}
`
	sb := env.NewStreamBuilder()
	if err := sb.SetYAML(yamlConf); err != nil {
		t.Fatal(err)
	}
	var conf any
	if err := yamlUnmarshal(yamlConf, &conf); err != nil {
		t.Fatal(err)
	}
	out, err := env.FullConfigSchema("", "").NewStreamConfigMarshaller().SetScrubSecrets(true).AnyToYAML(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"literal-trust-pass", "literal-sasl-pass", "literal-token"} {
		if strings.Contains(out, secret) {
			t.Errorf("echo shows %s:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "${KAFKA_PASS}") {
		t.Errorf("env var references should stay visible:\n%s", out)
	}
}

func yamlUnmarshal(s string, v any) error { return yaml.Unmarshal([]byte(s), v) }
