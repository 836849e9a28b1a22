package realkafka

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pavlo-v-chernykh/keystore-go/v4"
	"github.com/redpanda-data/benthos/v4/public/service"
)

// TestUntrustedBrokerCertificate points our input at the real broker with a
// JKS truststore that holds some other CA: certificate verification (on by
// default) must refuse the broker, so the SCRAM exchange never starts and the
// password never reaches an unverified peer; the pipeline reports a
// certificate error and keeps retrying.
func TestUntrustedBrokerCertificate(t *testing.T) {
	be := needBroker(t)
	if be.serverLog == "" {
		t.Fatal("KAFKA_SERVER_LOG is unset: the broker's log is where SASL attempts are counted")
	}
	adm := be.adminClient(t)
	topic := uniqueName("untrusted")
	createTopic(t, adm, topic, 1)

	other := be
	other.truststore, other.trustPassword = otherCATruststore(t)

	sb, rec, logs := observedBuilder(t)
	sb.SetEnvVarLookupFunc(envLookup(be.user, be.pass))
	if err := sb.AddInputYAML(`
kafka_franz:
  seed_brokers: [ ` + be.saslSSL + ` ]
  topics: [ ` + topic + ` ]
  consumer_group: ` + uniqueName("realkafka-untrusted") + `
` + other.securityYAML("  ")); err != nil {
		t.Fatal(err)
	}
	var delivered atomic.Int64
	if err := sb.AddConsumerFunc(func(context.Context, *service.Message) error {
		delivered.Add(1)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	saslBefore := len(authFailures(t, be.serverLog))
	stream, err := sb.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	runErr := make(chan error, 1)
	go func() { runErr <- stream.Run(ctx) }()

	// Two failed connects: the refusal is not a one-off and it is retried.
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for rec.get("input_connection_failed") < 2 {
		select {
		case err := <-runErr:
			t.Fatalf("the pipeline stopped instead of retrying: %v", err)
		case <-ctx.Done():
			t.Fatalf("input_connection_failed = %d after a minute against an untrusted broker certificate\nlogs:\n%s",
				rec.get("input_connection_failed"), tail(logs.String(), 20))
		case <-poll.C:
		}
	}
	if err := stream.StopWithin(10 * time.Second); err != nil {
		t.Errorf("stopping the stream: %v", err)
	}

	var certErr string
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Failed to connect") &&
			(strings.Contains(line, "certificate") || strings.Contains(line, "x509")) {
			certErr = line
			break
		}
	}
	if certErr == "" {
		t.Errorf("no connection error names the certificate problem; logs:\n%s", tail(logs.String(), 20))
	} else {
		t.Logf("as logged: %s", certErr)
		// The operator must be sent to the truststore, not to the password.
		if strings.Contains(certErr, "credentials") {
			t.Errorf("a certificate verification failure is reported as a credentials problem: %s", certErr)
		}
	}
	if n := len(authFailures(t, be.serverLog)) - saslBefore; n != 0 {
		t.Errorf("the broker saw %d SASL attempts over a connection whose certificate was not trusted", n)
	}
	if n := delivered.Load(); n != 0 {
		t.Errorf("%d messages delivered from an untrusted broker", n)
	}
	if strings.Contains(logs.String(), be.pass) || strings.Contains(logs.String(), other.trustPassword) {
		t.Error("a password appears in the logs")
	}
}

// otherCATruststore writes a JKS truststore holding a fresh self-signed CA
// that did not sign the broker's certificate.
func otherCATruststore(t *testing.T) (path, password string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "some other CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ks := keystore.New()
	if err := ks.SetTrustedCertificateEntry("other-ca", keystore.TrustedCertificateEntry{
		CreationTime: time.Now(),
		Certificate:  keystore.Certificate{Type: "X509", Content: der},
	}); err != nil {
		t.Fatal(err)
	}
	password = "other-" + uniqueName("pw")
	var buf bytes.Buffer
	if err := ks.Store(&buf, []byte(password)); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "other-truststore.jks")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, password
}
