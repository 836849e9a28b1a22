// Package s3conf is the one `s3` config block of every rides-connect component
// that stores objects (the delta_lake output, the checkpoint cache): the same
// fields, docs and checks, parsed into objstore.S3Options.
package s3conf

import (
	"fmt"
	"net/url"

	"github.com/aws/smithy-go/logging"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/enumfield"
	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/internal/objstore"
)

// Field is the name of the block.
const Field = "s3"

const (
	fEndpoint     = "endpoint"
	fRegion       = "region"
	fPathStyle    = "force_path_style"
	fAccessKey    = "access_key_id"
	fSecretKey    = "secret_access_key"
	fSessionToken = "session_token"
	fSSE          = "sse"
	fKMSKeyID     = "kms_key_id"
	fMaxAttempts  = "max_attempts"
)

// Spec is the `s3` object field; usedFor says when it applies.
func Spec(usedFor string) *service.ConfigField {
	return service.NewObjectField(Field,
		service.NewStringField(fEndpoint).Description("Endpoint override for S3-compatible stores (MinIO, versitygw, …); empty = AWS.").Default("").Example("http://127.0.0.1:7070"),
		service.NewStringField(fRegion).Description("Region; empty = from the AWS default chain, else us-east-1.").Default("").Example("eu-west-3"),
		service.NewBoolField(fPathStyle).Description("Path-style addressing: the bucket in the path instead of the host name (most S3-compatible stores need it).").Default(false).Example(true),
		service.NewStringField(fAccessKey).Description("Static access key; empty = the AWS default credential chain (environment, profile, IRSA, instance role).").Default("").Example("${AWS_ACCESS_KEY_ID}").Advanced(),
		service.NewStringField(fSecretKey).Description("Static secret key.").Default("").Secret().Example("${AWS_SECRET_ACCESS_KEY}").Advanced(),
		service.NewStringField(fSessionToken).Description("Session token for temporary static credentials.").Default("").Secret().Advanced(),
		enumfield.New(fSSE, sseModes...).Description("Server-side encryption of written objects: SSE-S3 (`AES256`) or SSE-KMS (`aws:kms`, seed §8).").Default("").Example("aws:kms"),
		service.NewStringField(fKMSKeyID).Description("KMS key id or ARN for `sse: aws:kms`; empty = the bucket's AWS-managed key.").Default("").Example("arn:aws:kms:eu-west-3:111122223333:key/abcd"),
		service.NewIntField(fMaxAttempts).Description("Attempts per S3 request; 0 = the SDK default (3).").Default(0).Advanced(),
	).Description("S3 settings, used " + usedFor + ".").Advanced()
}

// sseModes are the options of sse: FromParsed reads them as lint matches
// them, case-insensitively (S3 refuses `aes256` on every write).
var sseModes = []string{"", "AES256", "aws:kms"}

// Enums are the block's enum fields for the lint rule of a component that
// has the block (lintrule.Lazy).
var Enums = lintrule.EnumsAt(Field+".", lintrule.Enum{Path: fSSE, Options: sseModes})

// LintCheck is the block's cross-field rule as an element of a lint rule's
// list of messages (null when it holds), for a component whose rule checks
// more: a spec has one lint rule, a second LintRule replaces the first. Its
// message is FromParsed's.
const LintCheck = `if this.s3.kms_key_id.or("") != "" && this.s3.sse.or("").lowercase() != "aws:kms" { "s3.kms_key_id needs s3.sse: aws:kms" }`

// LintRule checks the block's cross-field rules at lint time.
const LintRule = `root = [ ` + LintCheck + ` ].filter(m -> m != null)`

// FromParsed reads the block of conf.
func FromParsed(conf *service.ParsedConfig) (objstore.S3Options, error) {
	var o objstore.S3Options
	ns := conf.Namespace(Field)
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{fEndpoint, &o.Endpoint}, {fRegion, &o.Region}, {fAccessKey, &o.AccessKeyID},
		{fSecretKey, &o.SecretAccessKey}, {fSessionToken, &o.SessionToken},
		{fKMSKeyID, &o.KMSKeyID},
	} {
		v, err := ns.FieldString(f.name)
		if err != nil {
			return o, err
		}
		*f.dst = v
	}
	var err error
	if o.SSE, err = enumfield.Read(conf, sseModes, Field, fSSE); err != nil {
		return o, err
	}
	if o.ForcePathStyle, err = ns.FieldBool(fPathStyle); err != nil {
		return o, err
	}
	if o.MaxAttempts, err = ns.FieldInt(fMaxAttempts); err != nil {
		return o, err
	}
	if o.KMSKeyID != "" && o.SSE != "aws:kms" {
		return o, fmt.Errorf("s3.kms_key_id needs s3.sse: aws:kms")
	}
	// The SDK refuses an endpoint without scheme on every request (a retry
	// loop, "not a valid URI"), never at start.
	if u, err := url.Parse(o.Endpoint); o.Endpoint != "" && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return o, fmt.Errorf("s3.endpoint: %q is not a URL such as http://127.0.0.1:7070 or https://s3.eu-west-3.amazonaws.com", o.Endpoint)
	}
	if o.MaxAttempts < 0 {
		return o, fmt.Errorf("s3.max_attempts must be >= 0, got %d", o.MaxAttempts)
	}
	return o, nil
}

// SDKLogger routes the AWS SDK's log lines to the component's logger: SDK
// warnings as warnings, everything else (request/response traces when
// enabled) at debug.
func SDKLogger(l *service.Logger) logging.Logger {
	if l == nil {
		return logging.Nop{}
	}
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c == logging.Warn {
			l.Warnf("aws sdk: "+format, v...)
			return
		}
		l.Debugf("aws sdk: "+format, v...)
	})
}
