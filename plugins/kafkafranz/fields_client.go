package kafkafranz

import (
	"fmt"
	"strings"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/plugins/kafkafranz/franz"
)

// Field names shared by the input and the output (Redpanda Connect names).
const (
	fieldSeedBrokers    = "seed_brokers"
	fieldClientID       = "client_id"
	fieldTLS            = "tls"
	fieldSASL           = "sasl"
	fieldMetadataMaxAge = "metadata_max_age"
	fieldRequestTimeout = "request_timeout_overhead"
	fieldConnIdle       = "conn_idle_timeout"
)

// truststoreTypes are the options of tls.truststore_type ("": from the
// file's extension).
var truststoreTypes = []string{"", "jks", "pkcs12", "pem"}

// clientEnums are the enum fields of clientFields, which the components'
// lint rules check (lintrule.Enum).
var clientEnums = []lintrule.Enum{
	{Path: fieldTLS + ".truststore_type", Options: truststoreTypes},
	{Path: fieldSASL + "[].mechanism", Options: franz.Mechanisms},
}

func clientFields() []*service.ConfigField {
	return []*service.ConfigField{
		service.NewStringListField(fieldSeedBrokers).
			Description("Addresses of Kafka brokers to bootstrap from. Entries containing commas are split, so `${KAFKA_BOOTSTRAP}` may hold a comma-separated list.").
			Example([]string{"localhost:9092"}).
			Example([]string{"${KAFKA_BOOTSTRAP}"}).
			Example([]string{"broker-1:9093,broker-2:9093"}),
		service.NewStringField(fieldClientID).
			Description("Client ID sent to the brokers (shows up in broker logs and quotas).").
			Default("rides-connect").Example("rides-agg").Advanced(),
		tlsField(),
		saslField(),
		service.NewDurationField(fieldMetadataMaxAge).
			Description("Maximum age of cached metadata before a refresh; also how soon new topics matching `regexp_topics_include` are found.").
			Default("1m").Example("30s").Advanced(),
		service.NewDurationField(fieldRequestTimeout).
			Description("Time added to the deadline of every request to the brokers (roughly Java `request.timeout.ms`; requests that carry their own timeout, such as fetches and produces, get it on top).").
			Default("10s").Example("30s").Advanced(),
		service.NewDurationField(fieldConnIdle).
			Description("Roughly how long a connection to a broker may stay idle before it is closed.").
			Default("20s").Example("1m").Advanced(),
	}
}

func tlsField() *service.ConfigField {
	return service.NewObjectField(fieldTLS,
		service.NewBoolField("enabled").Description("Connect over TLS.").Default(false).Example(true),
		service.NewBoolField("skip_cert_verify").
			Description("Do not verify the brokers' certificates. Insecure; for tests only.").
			Default(false).Example(false).Advanced(),
		service.NewStringField("root_cas").
			Description("Trusted CA certificates as PEM text. Added to `root_cas_file` and `truststore_file`; when none of the three is set the system pool is used.").
			Default("").Example("-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----"),
		service.NewStringField("root_cas_file").
			Description("Path of a PEM file of trusted CA certificates.").
			Default("").Example("/opt/certs/ca.pem"),
		service.NewStringField("truststore_file").
			Description("Path of a truststore of trusted CA certificates: a Java KeyStore (JKS), PKCS#12 or PEM file, as Spark/Java clients use with `ssl.truststore.location`.").
			Default("").Example("/opt/certs/truststore.jks"),
		service.NewStringField("truststore_password").
			Description("Password of `truststore_file` (`ssl.truststore.password`). For JKS an empty password skips the integrity check.").
			Default("").Example("${TRUSTSTORE_PASSWORD}").Secret(),
		enumfield.New("truststore_type", truststoreTypes...).
			Description("Format of `truststore_file`; empty infers it from the extension (.jks, .p12/.pfx, .pem/.crt).").
			Default("").Example("jks").Advanced(),
		service.NewObjectListField("client_certs",
			service.NewStringField("cert").Description("Client certificate chain as PEM text.").Default("").Example(""),
			service.NewStringField("key").Description("Private key as PEM text.").Default("").Example("").Secret(),
			service.NewStringField("cert_file").Description("Path of the PEM client certificate.").Default("").Example("/opt/certs/client.pem"),
			service.NewStringField("key_file").Description("Path of the PEM private key.").Default("").Example("/opt/certs/client.key"),
			service.NewStringField("password").Description("Password of a (legacy PEM-encrypted) private key.").Default("").Example("").Secret(),
		).Description("Client certificates for mutual TLS.").Default([]any{}).Advanced(),
	).Description("TLS settings. Certificate verification is on unless `skip_cert_verify` is set.").Advanced()
}

func saslField() *service.ConfigField {
	return service.NewObjectListField(fieldSASL,
		enumfield.New("mechanism", franz.Mechanisms...).
			Description("SASL mechanism.").Example("SCRAM-SHA-512"),
		service.NewStringField("username").Description("User name (PLAIN, SCRAM).").Default("").Example("${KAFKA_USER}"),
		service.NewStringField("password").Description("Password (PLAIN, SCRAM). Never logged.").Default("").Example("${KAFKA_PASS}").Secret(),
		service.NewStringField("token").Description("Bearer token (OAUTHBEARER).").Default("").Example("${KAFKA_TOKEN}").Secret(),
		service.NewStringMapField("extensions").Description("Key/value pairs sent with an OAUTHBEARER authentication.").Default(map[string]any{}).Advanced(),
	).Description("SASL authentication mechanisms, tried in order.").
		Example([]any{map[string]any{"mechanism": "SCRAM-SHA-512", "username": "${KAFKA_USER}", "password": "${KAFKA_PASS}"}}).
		Optional().Advanced()
}

// clientConfigFromParsed reads the shared connection fields.
func clientConfigFromParsed(conf *service.ParsedConfig) (franz.ClientConfig, error) {
	f := &fields{conf: conf}
	out := franz.ClientConfig{
		SeedBrokers:            franz.ExpandList(f.strs(fieldSeedBrokers)),
		ClientID:               f.str(fieldClientID),
		MetadataMaxAge:         f.duration(fieldMetadataMaxAge),
		RequestTimeoutOverhead: f.duration(fieldRequestTimeout),
		ConnIdleTimeout:        f.duration(fieldConnIdle),
		TLS: franz.TLSConfig{
			Enabled:            f.boolean(fieldTLS, "enabled"),
			SkipCertVerify:     f.boolean(fieldTLS, "skip_cert_verify"),
			RootCAs:            f.str(fieldTLS, "root_cas"),
			RootCAsFile:        f.str(fieldTLS, "root_cas_file"),
			TruststoreFile:     f.str(fieldTLS, "truststore_file"),
			TruststorePassword: f.str(fieldTLS, "truststore_password"),
			TruststoreType:     f.str(fieldTLS, "truststore_type"),
		},
	}
	for _, cc := range f.objects(fieldTLS, "client_certs") {
		g := &fields{conf: cc}
		out.TLS.ClientCerts = append(out.TLS.ClientCerts, franz.ClientCert{
			Cert: g.str("cert"), Key: g.str("key"), CertFile: g.str("cert_file"), KeyFile: g.str("key_file"), Password: g.str("password"),
		})
		if g.err != nil && f.err == nil {
			f.err = g.err
		}
	}
	for _, sc := range f.objects(fieldSASL) {
		g := &fields{conf: sc}
		out.SASL = append(out.SASL, franz.SASLConfig{
			Mechanism: g.str("mechanism"), Username: g.str("username"), Password: g.str("password"),
			Token: g.str("token"), Extensions: g.strMap("extensions"),
		})
		if g.err != nil && f.err == nil {
			f.err = g.err
		}
	}
	if f.err != nil {
		return out, f.err
	}
	if len(out.SeedBrokers) == 0 {
		return out, fmt.Errorf("%s: at least one broker address is required", fieldSeedBrokers)
	}
	for _, b := range out.SeedBrokers {
		if strings.Contains(b, "://") {
			return out, fmt.Errorf("%s: %q: want host:port, not a URL (a listener such as PLAINTEXT://host:9092 is dialled as a host name and never resolves)", fieldSeedBrokers, b)
		}
	}
	if _, err := franz.BuildSASL(out.SASL); err != nil {
		return out, err
	}
	if out.TLS.TruststoreFile != "" {
		if _, err := franz.TruststoreType(out.TLS.TruststoreFile, out.TLS.TruststoreType); err != nil {
			return out, err
		}
	}
	return out, nil
}

// lintCheck is one cross-field rule: a Bloblang condition on the component
// config and the message reported when it holds.
// lintCheck is one check of a lint rule: msg when cond holds. A check with
// no cond is a call of another rule (lintrule.Call) in msg, whose messages it
// adds.
type lintCheck struct{ cond, msg string }

// clientRuleName is the rule of clientLintChecks, the checks of
// clientFields that every component with them shares: registered once, so
// their Bloblang is parsed once per process, not once in each component's
// rule (clientRule runs it there).
const clientRuleName = "kafka_client"

var (
	_          = lintrule.Lazy(clientRuleName, lintRule(clientLintChecks...))
	clientRule = lintCheck{"", lintrule.Call(clientRuleName)}
)

// clientLintChecks are the rules of clientFields (clientRule).
var clientLintChecks = []lintCheck{
	{`this.seed_brokers.or([]).any(b -> b.string().contains("://"))`,
		"seed_brokers: want host:port addresses, not URLs (PLAINTEXT://host:9092 never resolves)"},
	{`this.tls.enabled.or(false) == false && (this.tls.truststore_file.or("") != "" || this.tls.root_cas_file.or("") != "" || this.tls.root_cas.or("") != "")`,
		"tls: a truststore or root CAs are set but tls.enabled is false; set tls.enabled: true"},
	{`this.tls.truststore_password.or("") != "" && this.tls.truststore_file.or("") == ""`,
		"tls.truststore_password is set without tls.truststore_file"},
	{`this.sasl.or([]).any(s -> ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(s.mechanism.or("")) && s.username.or("") == "")`,
		"sasl: mechanisms PLAIN and SCRAM-* need a username"},
	{`this.sasl.or([]).any(s -> s.mechanism.or("") == "OAUTHBEARER" && s.token.or("") == "")`,
		"sasl: mechanism OAUTHBEARER needs a token"},
	{`this.sasl.or([]).any(s -> s.mechanism.or("") == "AWS_MSK_IAM")`,
		"sasl.mechanism: " + franz.ErrAWSMSKIAM},
	// The client passes on a positive age only: 0s or less silently meant
	// franz-go's 5m.
	{`this.metadata_max_age.or("1m").parse_duration().catch(null).or(1) <= 0`,
		"metadata_max_age: must be positive"},
	{`this.request_timeout_overhead.or("10s").parse_duration() < 100000000 || this.request_timeout_overhead.or("10s").parse_duration() > 900000000000`,
		"request_timeout_overhead: must be between 100ms and 15m"},
	{`this.conn_idle_timeout.or("20s").parse_duration() < 100000000 || this.conn_idle_timeout.or("20s").parse_duration() > 900000000000`,
		"conn_idle_timeout: must be between 100ms and 15m"},
}

// lintRule joins checks into one ConfigSpec lint rule: every check whose
// condition holds becomes a lint error.
func lintRule(checks ...lintCheck) string {
	var b strings.Builder
	b.WriteString("root = [\n")
	for _, c := range checks {
		if c.cond == "" {
			fmt.Fprintf(&b, "  %s,\n", c.msg)
			continue
		}
		fmt.Fprintf(&b, "  if %s { %q } else { null },\n", c.cond, c.msg)
	}
	b.WriteString("].filter(m -> m != null)\n")
	return b.String()
}
