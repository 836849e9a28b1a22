// Package checkpoint registers the `checkpoint` cache: a crash-safe,
// never-expiring key/value store on a local directory or an S3 prefix, meant
// for processor state such as the tumbling_window checkpoint.
package checkpoint

import (
	"context"
	"errors"
	"time"

	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/s3conf"
	"github.com/miaradia/rides-connect/plugins/checkpoint/store"
)

const (
	fieldURL            = "url"
	fieldS3             = "s3"
	fieldRequestTimeout = "timeout"
)

func spec() *service.ConfigSpec {
	return service.NewConfigSpec().
		Beta().
		Categories("Services").
		Summary("A crash-safe cache for processor state (e.g. tumbling_window), on a local directory or an S3 prefix. Keys never expire.").
		Description(`
Each key is one object under `+"`url`"+`. A `+"`set`"+` replaces the whole value atomically:

- **local** (a plain path or `+"`file://`"+`): the value is written to a temp file in the same
  directory, fsynced, renamed over the old one, and the directory is fsynced. A crash (SIGKILL,
  power loss) leaves the old or the new value, never a torn one. Unlike the core `+"`file`"+`
  cache, which truncates in place without fsync.
- **S3** (`+"`s3://bucket/prefix`"+` or `+"`s3a://bucket/prefix`"+`): one PUT per set, atomic per object;
  `+"`add`"+` uses `+"`If-None-Match: *`"+`. Credentials come from the AWS default chain.
- **memory** (`+"`memory://name`"+`): process-wide, not durable; for config unit tests.

Keys never expire and TTLs are ignored: unlike the core `+"`memory`"+` cache (5 min default TTL)
or `+"`lru`"+` (evicts at 1000 keys), state is never lost silently. Keys are escaped to flat object
names (`+"`a/b`"+` becomes `+"`a%2Fb`"+`).

### Delivery and back-pressure
A `+"`set`"+` returns only once the value is durable (fsync or S3 200); errors are returned to the
caller, which decides whether to retry (tumbling_window retries and holds its batch, so a slow or
unavailable store back-pressures the pipeline instead of losing state). Cost: one fsync pair locally
(about a millisecond on SSD) or one PUT round trip per set.`).
		Field(service.NewStringField(fieldURL).
			Description("Where the values live: a directory path, `file:///abs/dir`, `s3://bucket/prefix`, `s3a://bucket/prefix` (as in Spark's `checkpointLocation`), or `memory://name` for tests.").
			Examples("./data/checkpoints/rides", "s3a://miaradia-ckpt/rides/", "memory://unit-test")).
		Field(s3conf.Spec("only when `url` is `s3://` or `s3a://`")).
		Field(service.NewDurationField(fieldRequestTimeout).
			Description("Upper bound for one get/set/add/delete call.").
			Default("30s").Example("5s").Advanced()).
		LintRule(lintrule.Lazy("checkpoint", `root = [
  if this.url.or("").trim() == "" { "url: must be a directory, file://, s3://bucket/prefix or memory://name" },
  `+s3conf.LocationCheck(fieldURL)+`,
  `+s3conf.LintCheck+`,
].filter(m -> m != null)`, s3conf.Enums...)).
		Example("Local state", "Window state on local disk, fsync + rename on every checkpoint.", `
cache_resources:
  - label: window_state
    checkpoint:
      url: ./data/checkpoints/rides
`).
		Example("State on S3", "As the seed's `checkpointLocation`, on an S3-compatible store.", `
cache_resources:
  - label: window_state
    checkpoint:
      url: s3a://miaradia-ckpt/rides/
      s3:
        endpoint: http://127.0.0.1:9000
        force_path_style: true
`)
}

func init() {
	service.MustRegisterCache("checkpoint", spec(), func(conf *service.ParsedConfig, res *service.Resources) (service.Cache, error) {
		return fromParsed(conf, res.Logger())
	})
}

// cache adapts store.KV to service.Cache.
type cache struct {
	kv      *store.KV
	timeout time.Duration
}

func fromParsed(conf *service.ParsedConfig, log *service.Logger) (*cache, error) {
	url, err := conf.FieldString(fieldURL)
	if err != nil {
		return nil, err
	}
	var opts objstore.Options
	if opts.S3, err = s3conf.FromParsed(conf); err != nil {
		return nil, err
	}
	opts.S3.Logger = s3conf.SDKLogger(log)
	timeout, err := conf.FieldDuration(fieldRequestTimeout)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	kv, err := store.Open(ctx, url, opts)
	if err != nil {
		return nil, errors.New("checkpoint.url: " + err.Error())
	}
	return &cache{kv: kv, timeout: timeout}, nil
}

func (c *cache) ctx(parent context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(parent, c.timeout)
}

func (c *cache) Get(ctx context.Context, key string) ([]byte, error) {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	b, err := c.kv.Get(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, service.ErrKeyNotFound
	}
	return b, err
}

// Set ignores ttl: checkpoint keys never expire.
func (c *cache) Set(ctx context.Context, key string, value []byte, _ *time.Duration) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return c.kv.Set(ctx, key, value)
}

func (c *cache) Add(ctx context.Context, key string, value []byte, _ *time.Duration) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	err := c.kv.Add(ctx, key, value)
	if errors.Is(err, store.ErrExists) {
		return service.ErrKeyAlreadyExists
	}
	return err
}

func (c *cache) Delete(ctx context.Context, key string) error {
	ctx, cancel := c.ctx(ctx)
	defer cancel()
	return c.kv.Delete(ctx, key)
}

// Close has nothing to release; it is idempotent.
func (c *cache) Close(context.Context) error { return nil }
