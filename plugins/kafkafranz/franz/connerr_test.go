package franz

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/internal/testpki"
)

// The errors the client really returns are classified by type, not by a
// substring: "unknown authority" must not read as an authentication problem.
func TestClassifyConnect(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want ConnectErrorKind
	}{
		{"x509 unknown authority", fmt.Errorf("unable to dial: %w", x509.UnknownAuthorityError{}), ConnectTLSUntrusted},
		{"x509 wrong host", fmt.Errorf("unable to dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "kafka-1"}), ConnectTLSUntrusted},
		{"kafka SASL_AUTHENTICATION_FAILED", fmt.Errorf("%w: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512", kerr.SaslAuthenticationFailed), ConnectSASLAuth},
		{"scram server error", errors.New("server sent authentication error \"invalid-proof\""), ConnectSASLAuth},
		{"unsupported mechanism", kerr.UnsupportedSaslMechanism, ConnectSASLMechanism},
		{"closed", io.EOF, ConnectClosed},
		{"refused", errors.New("unable to dial: dial tcp 127.0.0.1:1: connect: connection refused"), ConnectOther},
		// Only the text of a TLS error: no type to go by, and it contains "auth".
		{"text with authority", errors.New("x509: certificate signed by unknown authority"), ConnectOther},
	} {
		if got := classifyConnect(tc.err); got != tc.want {
			t.Errorf("%s: classified %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A broker whose certificate is signed by a CA that is not in the truststore:
// the error says the certificate is not trusted and names the truststore; it
// does not send the operator to the SASL credentials.
func TestConnectUntrustedBrokerCertificateHint(t *testing.T) {
	pki, other := testpki.New(t), testpki.New(t)
	addr := cluster(t, kfake.SeedTopics(1, "t"), kfake.TLS(pki.ServerTLS()),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "rides", "s3cret-pass"))
	trust := other.WriteJKS(t, t.TempDir(), "changeit")
	c := NewConsumer(ConsumerConfig{
		Client: ClientConfig{
			SeedBrokers: []string{addr},
			TLS:         TLSConfig{Enabled: true, TruststoreFile: trust, TruststorePassword: "changeit"},
			SASL:        []SASLConfig{{Mechanism: "SCRAM-SHA-512", Username: "rides", Password: "s3cret-pass"}},
		},
		Topics: TopicSpec{Topics: []string{"t"}}, Group: "g",
	}, &testLog{}, &testMetrics{})
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Connect(ctx)
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect against an untrusted certificate: %v, want a *ConnectError", err)
	}
	msg := err.Error()
	t.Logf("as reported: %s", msg)
	if ce.Kind != ConnectTLSUntrusted {
		t.Errorf("kind %q, want %q", ce.Kind, ConnectTLSUntrusted)
	}
	for _, want := range []string{"broker certificate is not trusted", "no CA in tls.truststore_file " + trust} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "credentials") {
		t.Errorf("a certificate problem is reported as a credentials problem: %s", msg)
	}
	if strings.Contains(msg, "s3cret-pass") || strings.Contains(msg, "changeit") {
		t.Errorf("a password appears in the error: %s", msg)
	}
}

// A wrong password on kfake (which closes the connection) still points at
// the credentials, naming mechanism and user, never the password.
func TestConnectWrongPasswordHint(t *testing.T) {
	pki := testpki.New(t)
	addr := cluster(t, kfake.SeedTopics(1, "t"), kfake.TLS(pki.ServerTLS()),
		kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "rides", "s3cret-pass"))
	c := NewConsumer(ConsumerConfig{
		Client: ClientConfig{
			SeedBrokers: []string{addr},
			TLS:         TLSConfig{Enabled: true, RootCAs: string(pki.CAPEM)},
			SASL:        []SASLConfig{{Mechanism: "SCRAM-SHA-512", Username: "rides", Password: "wrong-Pa55"}},
		},
		Topics: TopicSpec{Topics: []string{"t"}}, Group: "g",
	}, &testLog{}, &testMetrics{})
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := c.Connect(ctx)
	var ce *ConnectError
	if !errors.As(err, &ce) {
		t.Fatalf("Connect with a wrong password: %v, want a *ConnectError", err)
	}
	msg := err.Error()
	if ce.Kind != ConnectClosed && ce.Kind != ConnectSASLAuth {
		t.Errorf("kind %q for a rejected password: %s", ce.Kind, msg)
	}
	if !strings.Contains(msg, `SCRAM-SHA-512 user "rides" credentials`) || strings.Contains(msg, "wrong-Pa55") {
		t.Errorf("want the mechanism and user named, not the password: %s", msg)
	}
	if strings.Contains(msg, "certificate") {
		t.Errorf("a credentials problem is reported as a certificate problem: %s", msg)
	}
}

// A certificate for another host name gets its own hint (the address, not
// the truststore, is what to fix).
func TestConnectHostnameHint(t *testing.T) {
	conf := ClientConfig{SeedBrokers: []string{"10.0.0.7:9093"}, TLS: TLSConfig{Enabled: true}}
	err := conf.ConnectError(fmt.Errorf("unable to dial: %w", x509.HostnameError{Certificate: &x509.Certificate{}, Host: "10.0.0.7"}))
	if msg := err.Error(); !strings.Contains(msg, `does not name host "10.0.0.7"`) {
		t.Fatalf("hint does not name the host: %s", msg)
	}
}
