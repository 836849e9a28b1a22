package franz

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/miaradia/rides-connect/plugins/kafkafranz/internal/testpki"
)

// handshake dials a TLS server presenting pki's server certificate with conf.
func handshake(t *testing.T, pki testpki.PKI, conf *tls.Config) error {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", pki.ServerTLS())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conf = conf.Clone()
	conf.ServerName = "127.0.0.1"
	c, err := tls.Dial("tcp", ln.Addr().String(), conf)
	if err == nil {
		c.Close()
	}
	return err
}

func TestTruststoreFormatsVerifyTheBroker(t *testing.T) {
	pki := testpki.New(t)
	dir := t.TempDir()
	for name, conf := range map[string]TLSConfig{
		"jks":      {Enabled: true, TruststoreFile: pki.WriteJKS(t, dir, "changeit"), TruststorePassword: "changeit"},
		"pkcs12":   {Enabled: true, TruststoreFile: pki.WriteP12(t, dir, "changeit"), TruststorePassword: "changeit"},
		"pem file": {Enabled: true, TruststoreFile: pki.WritePEM(t, dir)},
		"root_cas": {Enabled: true, RootCAs: string(pki.CAPEM)},
	} {
		built, err := conf.Build()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if err := handshake(t, pki, built); err != nil {
			t.Errorf("%s: handshake with the trusted CA failed: %v", name, err)
		}
	}

	// Verification is on by default: another CA's truststore is rejected.
	other := testpki.New(t)
	built, err := TLSConfig{Enabled: true, TruststoreFile: other.WriteJKS(t, t.TempDir(), "changeit"), TruststorePassword: "changeit"}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := handshake(t, pki, built); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("a broker signed by an untrusted CA was accepted: %v", err)
	}
}

func TestTruststoreErrorsNameFieldNotPassword(t *testing.T) {
	pki := testpki.New(t)
	dir := t.TempDir()
	jks := pki.WriteJKS(t, dir, "right-pass")
	p12 := pki.WriteP12(t, dir, "right-pass")
	for _, path := range []string{jks, p12} {
		_, err := TLSConfig{Enabled: true, TruststoreFile: path, TruststorePassword: "wrong-secret"}.Build()
		if err == nil {
			t.Fatalf("%s: a wrong password was accepted", path)
		}
		if !strings.Contains(err.Error(), "truststore_password") || strings.Contains(err.Error(), "wrong-secret") {
			t.Errorf("%s: error must name the field and not echo the password: %v", path, err)
		}
	}
	if _, err := TruststoreType("/opt/certs/store.bin", ""); err == nil || !strings.Contains(err.Error(), "truststore_type") {
		t.Errorf("unknown extension: %v", err)
	}
	for path, want := range map[string]string{"/opt/certs/truststore.jks": "jks", "a.P12": "pkcs12", "a.pfx": "pkcs12", "ca.pem": "pem"} {
		if got, _ := TruststoreType(path, ""); got != want {
			t.Errorf("%s: type %q, want %q", path, got, want)
		}
	}
	if got, _ := TruststoreType("store.bin", "JKS"); got != "jks" {
		t.Errorf("explicit type: %q", got)
	}
}

func TestSASLBuild(t *testing.T) {
	mechs, err := BuildSASL([]SASLConfig{
		{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"},
		{Mechanism: "none"},
		{Mechanism: "PLAIN", Username: "u", Password: "p"},
		{Mechanism: "OAUTHBEARER", Token: "t"},
		{Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range mechs {
		names = append(names, m.Name())
	}
	if got := strings.Join(names, ","); got != "SCRAM-SHA-512,PLAIN,OAUTHBEARER,SCRAM-SHA-256" {
		t.Fatalf("mechanisms %s", got)
	}
	for _, bad := range []SASLConfig{{Mechanism: "GSSAPI"}, {Mechanism: "PLAIN"}, {Mechanism: "OAUTHBEARER"}} {
		if _, err := BuildSASL([]SASLConfig{bad}); err == nil || !strings.Contains(err.Error(), "sasl[0]") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
}

// The seed gives no truststore password: like Java, the JKS is read without
// its integrity check; a wrong non-empty password is still refused.
func TestJKSWithoutPassword(t *testing.T) {
	pki := testpki.New(t)
	jks := pki.WriteJKS(t, t.TempDir(), "changeit")
	built, err := TLSConfig{Enabled: true, TruststoreFile: jks}.Build()
	if err != nil {
		t.Fatalf("JKS without password: %v", err)
	}
	if err := handshake(t, pki, built); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if _, err := (TLSConfig{Enabled: true, TruststoreFile: jks, TruststorePassword: "nope"}).Build(); err == nil {
		t.Fatal("a wrong password was accepted")
	}
}
