package objstore

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/aws/smithy-go/logging"
)

// Options configures the backends; only the S3 part exists today.
type Options struct {
	S3 S3Options
}

// S3Options configures the S3 backend. Empty fields fall back to the AWS
// default chain (env, shared config, IMDS/IRSA).
type S3Options struct {
	Endpoint        string // e.g. http://127.0.0.1:7070 for MinIO/versitygw
	Region          string // default: from the chain, else us-east-1
	ForcePathStyle  bool   // bucket in the path instead of the host name
	AccessKeyID     string // static keys (optional, both or neither)
	SecretAccessKey string
	SessionToken    string
	SSE             string // "" | "AES256" (SSE-S3) | "aws:kms" (SSE-KMS)
	KMSKeyID        string // with SSE aws:kms; empty = the bucket's AWS-managed key
	// HTTPClient replaces the SDK's HTTP client (tests inject faults here).
	HTTPClient *http.Client
	// MaxAttempts caps SDK attempts per request (0 = SDK default, 3).
	MaxAttempts int
	// Logger receives the AWS SDK's own log lines (retries, clock skew...);
	// nil drops them. Never the SDK default, which prints to stderr outside
	// the job's log format.
	Logger logging.Logger
}

// Location is a parsed store URL.
type Location struct {
	Scheme string // "file", "s3" (s3a normalised to s3) or "memory"
	Path   string // local directory (absolute), or memory store name
	Bucket string // s3 only
	Prefix string // s3 only, no leading or trailing '/'
}

// urlScheme is what a URL scheme looks like (RFC 3986).
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// ParseURL accepts a plain path, file://, s3://bucket/prefix,
// s3a://bucket/prefix and memory://name.
func ParseURL(raw string) (Location, error) {
	if raw == "" {
		return Location{}, fmt.Errorf("objstore: empty path; want a directory, file://, s3://bucket/prefix or memory://name")
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		// "s3:/lake/t" or "s3a:lake/t" (a slash short) would be a local
		// directory "s3:" or "s3a:lake" in the working directory: the table
		// written to the pod's disk instead of the bucket.
		if s, _, colon := strings.Cut(raw, ":"); colon && urlScheme.MatchString(s) {
			return Location{}, fmt.Errorf("objstore: %q is neither scheme://… nor a plain path; want s3://bucket/prefix, file:///abs/dir or a directory (./%s for one whose name has a colon)", raw, raw)
		}
		abs, err := filepath.Abs(raw)
		if err != nil {
			return Location{}, fmt.Errorf("objstore: path %q: %w", raw, err)
		}
		return Location{Scheme: "file", Path: abs}, nil
	}
	switch strings.ToLower(scheme) {
	case "file":
		u, err := url.Parse(raw)
		if err != nil {
			return Location{}, fmt.Errorf("objstore: url %q: %w", raw, err)
		}
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("objstore: url %q: file:// URLs must not name a host (use file:///abs/dir)", raw)
		}
		if u.Path == "" {
			return Location{}, fmt.Errorf("objstore: url %q has no directory", raw)
		}
		return Location{Scheme: "file", Path: filepath.Clean(filepath.FromSlash(u.Path))}, nil
	case "s3", "s3a", "s3n":
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return Location{}, fmt.Errorf("objstore: url %q has no bucket; want s3://bucket/prefix", raw)
		}
		return Location{Scheme: "s3", Bucket: bucket, Prefix: strings.Trim(prefix, "/")}, nil
	case "memory", "mem":
		if rest == "" {
			return Location{}, fmt.Errorf("objstore: url %q has no name; want memory://name", raw)
		}
		return Location{Scheme: "memory", Path: rest}, nil
	default:
		return Location{}, fmt.Errorf("objstore: url %q: unsupported scheme %q (want file, s3, s3a or memory)", raw, scheme)
	}
}

// Open returns the store for url.
func Open(ctx context.Context, rawURL string, opts Options) (Store, error) {
	loc, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	switch loc.Scheme {
	case "file":
		return NewLocal(loc.Path)
	case "memory":
		return Memory(loc.Path), nil
	default:
		return NewS3(ctx, loc.Bucket, loc.Prefix, opts.S3)
	}
}

// cleanKey refuses keys that could escape the root.
func cleanKey(key string) error {
	if key == "" || strings.HasPrefix(key, "/") || strings.Contains(key, "\\") {
		return fmt.Errorf("objstore: invalid key %q", key)
	}
	for _, seg := range strings.Split(key, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("objstore: invalid key %q", key)
		}
	}
	return nil
}
