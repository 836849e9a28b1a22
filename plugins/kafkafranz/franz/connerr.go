package franz

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ConnectErrorKind says what a failed first contact most likely was, so the
// message sends the operator to the right setting.
type ConnectErrorKind string

const (
	// ConnectTLSUntrusted: the broker's certificate did not verify against
	// the configured CAs (unknown authority, wrong host name, expired).
	ConnectTLSUntrusted ConnectErrorKind = "tls_untrusted"
	// ConnectTLSHandshake: TLS failed for another reason (the port does not
	// speak TLS, no common version or cipher).
	ConnectTLSHandshake ConnectErrorKind = "tls_handshake"
	// ConnectSASLAuth: the broker rejected the SASL credentials.
	ConnectSASLAuth ConnectErrorKind = "sasl_auth"
	// ConnectSASLMechanism: the listener does not accept the mechanism.
	ConnectSASLMechanism ConnectErrorKind = "sasl_mechanism"
	// ConnectClosed: the broker closed the connection without saying why
	// (often SASL expected but missing, or TLS expected but not used).
	ConnectClosed ConnectErrorKind = "closed"
	// ConnectOther: anything else (refused, timeout, DNS).
	ConnectOther ConnectErrorKind = "other"
)

// ConnectError is a failed first contact with the brokers. Its message names
// the brokers, the SASL mechanism and user (never the password), whether TLS
// was on, and a hint chosen by Kind.
type ConnectError struct {
	Kind ConnectErrorKind
	msg  string
	err  error
}

func (e *ConnectError) Error() string { return e.msg }

// Unwrap gives the underlying client error to errors.Is/As; its text is only
// ever shown through Error, which is redacted.
func (e *ConnectError) Unwrap() error { return e.err }

// ConnectError explains err from a failed first contact with the brokers.
func (c ClientConfig) ConnectError(err error) error {
	kind := classifyConnect(err)
	var b strings.Builder
	fmt.Fprintf(&b, "kafka: cannot reach seed_brokers %v", c.SeedBrokers)
	sasl := DescribeAll(c.SASL)
	if sasl != "" {
		fmt.Fprintf(&b, " with SASL %s", sasl)
	}
	if c.TLS.Enabled {
		b.WriteString(" over TLS")
	}
	if hint := c.hint(kind, err, sasl); hint != "" {
		fmt.Fprintf(&b, " (%s)", hint)
	}
	fmt.Fprintf(&b, ": %s", redact(err.Error(), c.SASL))
	return &ConnectError{Kind: kind, msg: b.String(), err: err}
}

// classifyConnect looks at error types first (crypto/tls, crypto/x509,
// franz-go's kerr codes), the SASL error text second.
func classifyConnect(err error) ConnectErrorKind {
	var (
		verify    *tls.CertificateVerificationError
		authority x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		header    tls.RecordHeaderError
		alert     tls.AlertError
		firstEOF  *kgo.ErrFirstReadEOF
	)
	switch {
	case errors.As(err, &verify), errors.As(err, &authority), errors.As(err, &hostname), errors.As(err, &invalid):
		return ConnectTLSUntrusted
	case errors.As(err, &header), errors.As(err, &alert):
		return ConnectTLSHandshake
	case errors.Is(err, kerr.SaslAuthenticationFailed):
		return ConnectSASLAuth
	case errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return ConnectSASLMechanism
	}
	// Client-side SASL failures (franz-go's sasl/scram and sasl/oauth) are
	// plain errors: match their exact wording, not any "auth" substring
	// ("unknown authority" is TLS, handled above).
	msg := err.Error()
	switch {
	case strings.Contains(msg, "server sent authentication error"), // scram: e= from the server
		strings.Contains(msg, "server signature mismatch"), // scram: the server does not know our password
		strings.Contains(msg, "OAUTHBEARER authentication failed"):
		return ConnectSASLAuth
	case errors.As(err, &firstEOF), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return ConnectClosed
	}
	return ConnectOther
}

func (c ClientConfig) hint(kind ConnectErrorKind, err error, sasl string) string {
	switch kind {
	case ConnectTLSUntrusted:
		var (
			hostname x509.HostnameError
			invalid  x509.CertificateInvalidError
		)
		switch {
		case errors.As(err, &hostname):
			return fmt.Sprintf("TLS: the broker certificate is not trusted for this address: it does not name host %q; use a seed_brokers address the certificate names", hostname.Host)
		case errors.As(err, &invalid):
			return "TLS: the broker certificate is not trusted: it is invalid (expired, not yet valid or not for server use)"
		}
		return "TLS: the broker certificate is not trusted: no CA in " + c.TLS.trustSources() +
			" signed it; add the CA that signed the broker certificate there"
	case ConnectTLSHandshake:
		return "TLS handshake failed: check that this listener speaks TLS (tls.enabled) and its TLS version"
	case ConnectSASLAuth:
		if sasl == "" {
			return "authentication failed"
		}
		return "authentication failed: the broker rejected the " + sasl + " credentials"
	case ConnectSASLMechanism:
		return "the listener does not accept SASL " + sasl + ": check sasl[].mechanism against the broker's sasl.enabled.mechanisms"
	case ConnectClosed:
		if sasl != "" {
			return "the broker closed the connection: check the " + sasl + " credentials and that the listener expects this mechanism"
		}
		return "the broker closed the connection: check whether the listener expects TLS or SASL"
	}
	return ""
}

// trustSources names where the trusted CAs come from, for the TLS hint.
func (c TLSConfig) trustSources() string {
	var parts []string
	if c.TruststoreFile != "" {
		parts = append(parts, fmt.Sprintf("tls.truststore_file %s", c.TruststoreFile))
	}
	if c.RootCAsFile != "" {
		parts = append(parts, fmt.Sprintf("tls.root_cas_file %s", c.RootCAsFile))
	}
	if c.RootCAs != "" {
		parts = append(parts, "tls.root_cas")
	}
	if len(parts) == 0 {
		return "the system trust store (no tls.truststore_file, root_cas_file or root_cas set)"
	}
	return strings.Join(parts, " or ")
}
