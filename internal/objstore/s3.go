package objstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
)

// conflictRetries bounds retries of a conditional PUT answered 409
// ConditionalRequestConflict (another conditional write to the key in flight).
const conflictRetries = 8

// checksumRetries bounds re-reads of an object whose body failed the SDK's
// response-checksum check. Stores that keep the checksum apart from the
// data (versitygw with sidecar metadata) serve the new checksum with the old
// bytes for a moment while an overwrite is published; on AWS a mismatch is
// a corrupted transfer. Either way another read is the cure, and a mismatch
// that persists is still an error.
const checksumRetries = 4

// S3 is a Store rooted at s3://bucket/prefix.
type S3 struct {
	cl     *s3.Client
	bucket string
	prefix string // "" or "a/b/" (with trailing slash)
	sse    types.ServerSideEncryption
	kmsKey string
}

// NewS3 builds an S3 store. It does not contact S3.
func NewS3(ctx context.Context, bucket, prefix string, o S3Options) (*S3, error) {
	sse, err := parseSSE(o.SSE)
	if err != nil {
		return nil, err
	}
	if o.KMSKeyID != "" && sse != types.ServerSideEncryptionAwsKms {
		return nil, fmt.Errorf("objstore: s3 kms_key_id is set but sse is %q; set sse: aws:kms", o.SSE)
	}
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, fmt.Errorf("objstore: s3 access_key_id and secret_access_key must be set together")
	}
	// The SDK logs to stderr by default; its lines go to the job's logger
	// (or nowhere) instead.
	var logger logging.Logger = logging.Nop{}
	if o.Logger != nil {
		logger = o.Logger
	}
	loadOpts := []func(*config.LoadOptions) error{config.WithLogger(logger)}
	if o.Region != "" {
		loadOpts = append(loadOpts, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		loadOpts = append(loadOpts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, o.SessionToken)))
	}
	if o.MaxAttempts > 0 {
		loadOpts = append(loadOpts, config.WithRetryMaxAttempts(o.MaxAttempts))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOpts...)
	if err != nil {
		return nil, fmt.Errorf("objstore: s3 config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cl := s3.NewFromConfig(cfg, func(so *s3.Options) {
		if o.Endpoint != "" {
			so.BaseEndpoint = aws.String(o.Endpoint)
		}
		so.UsePathStyle = o.ForcePathStyle
		// S3-compatible stores (MinIO, versitygw, moto...) send no response
		// checksums: the SDK would log "Response has no supported checksum"
		// for every GET. Validation itself stays on where a checksum is sent.
		so.DisableLogOutputChecksumValidationSkipped = true
		if o.HTTPClient != nil {
			// Set on the client, not the shared config: a CA bundle from
			// the environment cannot be applied to a caller's client.
			so.HTTPClient = o.HTTPClient
		}
	})
	if prefix != "" {
		prefix = strings.Trim(prefix, "/") + "/"
	}
	return &S3{cl: cl, bucket: bucket, prefix: prefix, sse: sse, kmsKey: o.KMSKeyID}, nil
}

func parseSSE(s string) (types.ServerSideEncryption, error) {
	switch strings.ToLower(s) {
	case "":
		return "", nil
	case "aes256", "sse-s3", "s3":
		return types.ServerSideEncryptionAes256, nil
	case "aws:kms", "sse-kms", "kms":
		return types.ServerSideEncryptionAwsKms, nil
	default:
		return "", fmt.Errorf("objstore: s3 sse %q not supported; want \"\", AES256 or aws:kms", s)
	}
}

func (s *S3) URL() string {
	return "s3://" + s.bucket + "/" + strings.TrimSuffix(s.prefix, "/")
}

func (s *S3) key(k string) (string, error) {
	if err := cleanKey(k); err != nil {
		return "", err
	}
	return s.prefix + k, nil
}

func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	k, err := s.key(key)
	if err != nil {
		return nil, err
	}
	backoff := 10 * time.Millisecond
	for attempt := 0; ; attempt++ {
		b, err := s.get(ctx, k)
		switch {
		case err == nil:
			return b, nil
		case isNotFound(err):
			return nil, ErrNotFound
		case isChecksumMismatch(err) && attempt < checksumRetries:
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff *= 2
			continue
		}
		return nil, fmt.Errorf("objstore: get %s: %w", s.URL()+"/"+key, err)
	}
}

func (s *S3) get(ctx context.Context, k string) ([]byte, error) {
	out, err := s.cl.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body) // the SDK checks the response checksum at EOF
}

// isChecksumMismatch recognises the SDK's response-checksum failure (its
// error type is unexported, so by its message).
func isChecksumMismatch(err error) bool {
	return strings.Contains(err.Error(), "checksum did not match")
}

func (s *S3) put(ctx context.Context, key string, data []byte, ifAbsent bool) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	in := &s3.PutObjectInput{
		Bucket:        &s.bucket,
		Key:           &k,
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
	}
	if s.sse != "" {
		in.ServerSideEncryption = s.sse
		if s.kmsKey != "" {
			in.SSEKMSKeyId = &s.kmsKey
		}
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	backoff := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		in.Body = bytes.NewReader(data)
		_, err = s.cl.PutObject(ctx, in)
		if err == nil {
			return nil
		}
		switch status, code := httpStatus(err); {
		case ifAbsent && (status == http.StatusPreconditionFailed || code == "PreconditionFailed"):
			return ErrExists
		case ifAbsent && (status == http.StatusConflict || code == "ConditionalRequestConflict") && attempt < conflictRetries:
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff *= 2
			continue
		}
		return fmt.Errorf("objstore: put %s: %w", s.URL()+"/"+key, err)
	}
}

func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, data, false)
}

// PutIfAbsent uses If-None-Match: * (412 → ErrExists). Note: if the SDK
// retries a PUT whose first attempt landed, the retry sees 412; callers that
// must know whether the object is theirs read it back (Delta does).
func (s *S3) PutIfAbsent(ctx context.Context, key string, data []byte) error {
	return s.put(ctx, key, data, true)
}

func (s *S3) List(ctx context.Context, prefix, startAfter string) ([]ObjectInfo, error) {
	in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: aws.String(s.prefix + prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(s.prefix + startAfter)
	}
	var out []ObjectInfo
	p := s3.NewListObjectsV2Paginator(s.cl, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("objstore: list %s/%s: %w", s.URL(), prefix, err)
		}
		for _, o := range page.Contents {
			k := strings.TrimPrefix(aws.ToString(o.Key), s.prefix)
			if k <= startAfter {
				continue
			}
			out = append(out, ObjectInfo{Key: k, Size: aws.ToInt64(o.Size), ModTime: aws.ToTime(o.LastModified)})
		}
	}
	return out, nil
}

func (s *S3) Stat(ctx context.Context, key string) (ObjectInfo, error) {
	k, err := s.key(key)
	if err != nil {
		return ObjectInfo{}, err
	}
	out, err := s.cl.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil {
		if isNotFound(err) {
			return ObjectInfo{}, ErrNotFound
		}
		return ObjectInfo{}, fmt.Errorf("objstore: stat %s: %w", s.URL()+"/"+key, err)
	}
	return ObjectInfo{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

func (s *S3) Delete(ctx context.Context, key string) error {
	k, err := s.key(key)
	if err != nil {
		return err
	}
	_, err = s.cl.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &s.bucket, Key: &k})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("objstore: delete %s: %w", s.URL()+"/"+key, err)
	}
	return nil
}

func httpStatus(err error) (int, string) {
	status, code := 0, ""
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	return status, code
}

func isNotFound(err error) bool {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	if errors.As(err, &nsk) || errors.As(err, &nf) {
		return true
	}
	status, code := httpStatus(err)
	return status == http.StatusNotFound || code == "NoSuchKey" || code == "NotFound"
}
