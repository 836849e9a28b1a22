package s3conf

import (
	"log/slog"
	"strings"
	"testing"

	"github.com/aws/smithy-go/logging"
	"github.com/redpanda-data/benthos/v4/public/service"
)

func parse(t *testing.T, yaml string) (*service.ParsedConfig, error) {
	t.Helper()
	spec := service.NewConfigSpec().Field(Spec("for s3:// paths")).LintRule(LintRule)
	return spec.ParseYAML(yaml, nil)
}

func TestFromParsed(t *testing.T) {
	conf, err := parse(t, `
s3:
  endpoint: http://127.0.0.1:7070
  region: eu-west-3
  force_path_style: true
  sse: aws:kms
  kms_key_id: alias/lake
  max_attempts: 5
`)
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromParsed(conf)
	if err != nil {
		t.Fatal(err)
	}
	if o.Endpoint != "http://127.0.0.1:7070" || o.Region != "eu-west-3" || !o.ForcePathStyle ||
		o.SSE != "aws:kms" || o.KMSKeyID != "alias/lake" || o.MaxAttempts != 5 || o.AccessKeyID != "" {
		t.Fatalf("options %+v", o)
	}
}

func TestDefaultsAreAWS(t *testing.T) {
	conf, err := parse(t, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	o, err := FromParsed(conf)
	if err != nil || o.Endpoint != "" || o.ForcePathStyle || o.SSE != "" {
		t.Fatalf("defaults %+v, %v", o, err)
	}
}

func TestKMSKeyNeedsKMS(t *testing.T) {
	conf, err := parse(t, "s3:\n  kms_key_id: alias/lake\n")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := FromParsed(conf); err == nil || !strings.Contains(err.Error(), "s3.kms_key_id") {
		t.Fatalf("got %v", err)
	}
}

// The SDK's lines reach the component's logger at their level: warnings as
// warnings, the rest (request traces, checksum notes) at debug only.
func TestSDKLoggerLevels(t *testing.T) {
	var buf strings.Builder
	l := service.NewLoggerFromSlog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	log := SDKLogger(l)
	log.Logf(logging.Warn, "retrying %s", "PutObject")
	log.Logf(logging.Debug, "Response has no supported checksum.")
	out := buf.String()
	if !strings.Contains(out, `level=WARN msg="aws sdk: retrying PutObject"`) {
		t.Errorf("warning not logged as a warning:\n%s", out)
	}
	if !strings.Contains(out, `level=DEBUG msg="aws sdk: Response has no supported checksum."`) {
		t.Errorf("debug line not logged at debug:\n%s", out)
	}
	SDKLogger(nil).Logf(logging.Warn, "dropped") // no logger: no output, no panic
}

// Lint takes sse in any case (Benthos lints enums case-insensitively); the
// value sent to S3 must be the option itself, which S3 requires.
func TestSSEInAnyCaseIsTheOption(t *testing.T) {
	for value, want := range map[string]string{"aes256": "AES256", "AWS:KMS": "aws:kms"} {
		conf, err := parse(t, "s3:\n  sse: "+value+"\n  kms_key_id: \"\"\n")
		if err != nil {
			t.Fatal(err)
		}
		if o, err := FromParsed(conf); err != nil || o.SSE != want {
			t.Errorf("sse %s: got %q, %v; want %q", value, o.SSE, err, want)
		}
	}
	// The lint rule reads sse the same way: aws:kms in capitals with a key is fine.
	env := service.NewEmptyEnvironment()
	spec := service.NewConfigSpec().Field(Spec("for s3:// paths")).LintRule(LintRule)
	if err := env.RegisterProcessor("s3_user", spec, func(*service.ParsedConfig, *service.Resources) (service.Processor, error) {
		return nil, nil
	}); err != nil {
		t.Fatal(err)
	}
	lints, err := env.FullConfigSchema("", "").NewStreamConfigLinter().
		LintYAML([]byte("pipeline:\n  processors:\n    - s3_user:\n        s3: { sse: AWS:KMS, kms_key_id: alias/lake }\n"))
	if err != nil || len(lints) != 0 {
		t.Fatalf("lint of sse AWS:KMS with a key: %v %v", lints, err)
	}
}

func TestAnEndpointThatIsNotAURLIsRefused(t *testing.T) {
	for _, e := range []string{"127.0.0.1:7070", "minio:9000", "s3.amazonaws.com", "ftp://x"} {
		conf, err := parse(t, "s3:\n  endpoint: "+e+"\n")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := FromParsed(conf); err == nil || !strings.Contains(err.Error(), "s3.endpoint") {
			t.Errorf("endpoint %s: got %v, want s3.endpoint refused", e, err)
		}
	}
	for _, e := range []string{"", "http://127.0.0.1:7070", "https://s3.eu-west-3.amazonaws.com"} {
		conf, _ := parse(t, "s3:\n  endpoint: \""+e+"\"\n")
		if _, err := FromParsed(conf); err != nil {
			t.Errorf("endpoint %q refused: %v", e, err)
		}
	}
}
