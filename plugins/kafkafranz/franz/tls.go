package franz

import (
	"bytes"
	"crypto/sha1" //nolint:gosec // the JKS format's own digest
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	keystore "github.com/pavlo-v-chernykh/keystore-go/v4"
	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// TLSConfig is the plain form of the `tls` block.
type TLSConfig struct {
	Enabled            bool
	SkipCertVerify     bool
	RootCAs            string // PEM text
	RootCAsFile        string // PEM file
	TruststoreFile     string // JKS, PKCS#12 or PEM file with trusted CAs
	TruststorePassword string
	TruststoreType     string // jks | pkcs12 | pem; "" = from the file extension
	ClientCerts        []ClientCert
}

// ClientCert is one client certificate, given inline (PEM) or as files.
type ClientCert struct {
	Cert, Key         string // PEM text
	CertFile, KeyFile string
	Password          string // for an encrypted PKCS#8 key
}

// Build returns the *tls.Config, or nil when TLS is disabled. Verification is
// on unless SkipCertVerify; trusted CAs from every source are pooled, and the
// system pool is used when none is given. Errors name the field at fault and
// never include a password.
func (c TLSConfig) Build() (*tls.Config, error) {
	if !c.Enabled {
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.SkipCertVerify} //nolint:gosec // opt-in, documented
	var pool *x509.CertPool
	addPEM := func(field string, data []byte) error {
		if pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(data) {
			return fmt.Errorf("tls.%s: no PEM certificate found", field)
		}
		return nil
	}
	if c.RootCAs != "" {
		if err := addPEM("root_cas", []byte(c.RootCAs)); err != nil {
			return nil, err
		}
	}
	if c.RootCAsFile != "" {
		data, err := os.ReadFile(c.RootCAsFile)
		if err != nil {
			return nil, fmt.Errorf("tls.root_cas_file: %w", err)
		}
		if err := addPEM("root_cas_file", data); err != nil {
			return nil, err
		}
	}
	if c.TruststoreFile != "" {
		certs, err := LoadTruststore(c.TruststoreFile, c.TruststoreType, c.TruststorePassword)
		if err != nil {
			return nil, err
		}
		if pool == nil {
			pool = x509.NewCertPool()
		}
		for _, cert := range certs {
			pool.AddCert(cert)
		}
	}
	conf.RootCAs = pool
	for i, cc := range c.ClientCerts {
		cert, err := cc.load()
		if err != nil {
			return nil, fmt.Errorf("tls.client_certs[%d]: %w", i, err)
		}
		conf.Certificates = append(conf.Certificates, cert)
	}
	return conf, nil
}

// TruststoreType returns the store type: the configured one, else inferred
// from the file extension (.jks, .p12/.pfx, .pem/.crt).
func TruststoreType(path, configured string) (string, error) {
	if configured != "" {
		switch t := strings.ToLower(configured); t {
		case "jks", "pkcs12", "pem":
			return t, nil
		default:
			return "", fmt.Errorf("tls.truststore_type: %q is not one of jks, pkcs12, pem", configured)
		}
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jks", ".keystore", ".truststore":
		return "jks", nil
	case ".p12", ".pfx", ".pkcs12":
		return "pkcs12", nil
	case ".pem", ".crt", ".cer":
		return "pem", nil
	}
	return "", fmt.Errorf("tls.truststore_file: cannot infer the type of %q from its extension; set tls.truststore_type to jks, pkcs12 or pem", path)
}

// LoadTruststore reads the trusted certificates of a JKS, PKCS#12 or PEM file.
func LoadTruststore(path, typ, password string) ([]*x509.Certificate, error) {
	typ, err := TruststoreType(path, typ)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tls.truststore_file: %w", err)
	}
	var certs []*x509.Certificate
	switch typ {
	case "jks":
		certs, err = jksCerts(data, password)
	case "pkcs12":
		certs, err = pkcs12.DecodeTrustStore(data, password)
		if err != nil {
			err = fmt.Errorf("not a PKCS#12 truststore or wrong tls.truststore_password: %w", err)
		}
	case "pem":
		certs, err = pemCerts(data)
	}
	if err != nil {
		return nil, fmt.Errorf("tls.truststore_file %q (%s): %w", path, typ, err)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("tls.truststore_file %q (%s): no certificate found", path, typ)
	}
	return certs, nil
}

func jksCerts(data []byte, password string) ([]*x509.Certificate, error) {
	ks := keystore.New()
	if password == "" {
		// Java loads a truststore without a password by skipping the
		// integrity check (the seed sets no ssl.truststore.password);
		// keystore-go always checks, so re-seal the digest for "".
		data = resealJKS(data)
	}
	if err := ks.Load(bytes.NewReader(data), []byte(password)); err != nil {
		return nil, fmt.Errorf("not a JKS keystore or wrong tls.truststore_password: %w", err)
	}
	var out []*x509.Certificate
	for _, alias := range ks.Aliases() {
		var raw []keystore.Certificate
		switch {
		case ks.IsTrustedCertificateEntry(alias):
			e, err := ks.GetTrustedCertificateEntry(alias)
			if err != nil {
				return nil, fmt.Errorf("alias %q: %w", alias, err)
			}
			raw = append(raw, e.Certificate)
		case ks.IsPrivateKeyEntry(alias):
			// A keystore used as truststore: trust the chain of the entry.
			chain, err := ks.GetPrivateKeyEntryCertificateChain(alias)
			if err != nil {
				return nil, fmt.Errorf("alias %q: %w", alias, err)
			}
			raw = append(raw, chain...)
		}
		for _, c := range raw {
			cert, err := x509.ParseCertificate(c.Content)
			if err != nil {
				return nil, fmt.Errorf("alias %q: %w", alias, err)
			}
			out = append(out, cert)
		}
	}
	return out, nil
}

// resealJKS replaces the trailing SHA-1 integrity digest of a JKS file by
// the one for an empty password: SHA-1("" as UTF-16 || "Mighty Aphrodite" ||
// body). Certificates in a truststore are not encrypted, so this only
// reproduces Java's "no password, no integrity check" behaviour.
func resealJKS(data []byte) []byte {
	if len(data) < sha1.Size {
		return data
	}
	body := data[:len(data)-sha1.Size]
	h := sha1.New()
	h.Write([]byte("Mighty Aphrodite"))
	h.Write(body)
	return append(append([]byte(nil), body...), h.Sum(nil)...)
}

func pemCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, cert)
	}
}

func (cc ClientCert) load() (tls.Certificate, error) {
	certPEM, keyPEM := []byte(cc.Cert), []byte(cc.Key)
	var err error
	if cc.CertFile != "" {
		if certPEM, err = os.ReadFile(cc.CertFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("cert_file: %w", err)
		}
	}
	if cc.KeyFile != "" {
		if keyPEM, err = os.ReadFile(cc.KeyFile); err != nil {
			return tls.Certificate{}, fmt.Errorf("key_file: %w", err)
		}
	}
	if len(certPEM) == 0 || len(keyPEM) == 0 {
		return tls.Certificate{}, errors.New("needs cert or cert_file and key or key_file")
	}
	if cc.Password != "" {
		if keyPEM, err = decryptKeyPEM(keyPEM, cc.Password); err != nil {
			return tls.Certificate{}, err
		}
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("cert/key pair: %w", err)
	}
	return cert, nil
}

// decryptKeyPEM supports legacy PEM encryption (Proc-Type headers); modern
// encrypted PKCS#8 keys should be decrypted beforehand.
func decryptKeyPEM(keyPEM []byte, password string) ([]byte, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("key: no PEM block")
	}
	//nolint:staticcheck // legacy RFC 1423 encryption is what older tooling writes
	if !x509.IsEncryptedPEMBlock(block) {
		return keyPEM, nil
	}
	//nolint:staticcheck
	der, err := x509.DecryptPEMBlock(block, []byte(password))
	if err != nil {
		return nil, errors.New("key: cannot decrypt with the given password")
	}
	return pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der}), nil
}
