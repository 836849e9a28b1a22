package checkpoint

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/redpanda-data/benthos/v4/public/components/pure"
	"github.com/redpanda-data/benthos/v4/public/service"

	"github.com/miaradia/rides-connect/internal/lintrule"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

func newCache(t *testing.T, yaml string) *cache {
	t.Helper()
	conf, err := spec().ParseYAML(yaml, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := fromParsed(conf, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCacheContractLocal(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	c := newCache(t, "url: "+dir)
	if _, err := c.Get(ctx, "rides_agg"); !errors.Is(err, service.ErrKeyNotFound) {
		t.Fatalf("missing key: %v", err)
	}
	if err := c.Set(ctx, "rides_agg", []byte("state"), nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(ctx, "rides_agg", []byte("x"), nil); !errors.Is(err, service.ErrKeyAlreadyExists) {
		t.Fatalf("add existing: %v", err)
	}
	// The value is a plain file under url, readable by a restarted process.
	if b, err := os.ReadFile(filepath.Join(dir, "rides_agg")); err != nil || string(b) != "state" {
		t.Fatalf("file on disk: %q %v", b, err)
	}
	c2 := newCache(t, "url: file://"+dir)
	if b, err := c2.Get(ctx, "rides_agg"); err != nil || string(b) != "state" {
		t.Fatalf("reopened: %q %v", b, err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestCacheOnFakeS3(t *testing.T) {
	srv := s3fake.Start(t, "ckpt")
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	c := newCache(t, `
url: s3a://ckpt/rides/
s3:
  endpoint: `+srv.Endpoint+`
  region: us-east-1
  force_path_style: true
`)
	ctx := context.Background()
	if err := c.Set(ctx, "rides_agg", []byte("v1"), nil); err != nil {
		t.Fatal(err)
	}
	if b, err := c.Get(ctx, "rides_agg"); err != nil || string(b) != "v1" {
		t.Fatalf("get: %q %v", b, err)
	}
	if err := c.Add(ctx, "rides_agg", []byte("v2"), nil); !errors.Is(err, service.ErrKeyAlreadyExists) {
		t.Fatalf("add existing on S3: %v", err)
	}
}

func TestBadURLIsRefusedNamingTheField(t *testing.T) {
	conf, err := spec().ParseYAML("url: ftp://host/x", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fromParsed(conf, nil); err == nil || !strings.Contains(err.Error(), "checkpoint.url") {
		t.Fatalf("got %v", err)
	}
	// Lint names it too: Benthos builds a cache resource only when it is
	// first used, so the start alone says it late.
	lints, err := lintrule.Lint("cache_resources:\n  - label: c\n    checkpoint: { url: \"gs://b/x\" }\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(lints) != 1 || !strings.Contains(lints[0], `url: objstore: url "gs://b/x": unsupported scheme "gs"`) {
		t.Fatalf("lints %v, want url named", lints)
	}
	if lints, _ := lintrule.Lint("cache_resources:\n  - label: c\n    checkpoint: { url: \"s3a://b/x\" }\n"); len(lints) != 0 {
		t.Fatalf("lints of a good url: %v", lints)
	}
}

// The registered plugin works as a cache resource in a stream, and a value
// set by one stream is read by the next one on the same url (a restart).
func TestRegisteredCacheSurvivesStreamRestart(t *testing.T) {
	dir := t.TempDir()
	run := func(mapping string) string {
		b := service.NewStreamBuilder()
		if err := b.AddCacheYAML("label: st\ncheckpoint:\n  url: " + dir); err != nil {
			t.Fatal(err)
		}
		if err := b.AddProcessorYAML(mapping); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := b.AddConsumerFunc(func(_ context.Context, m *service.Message) error {
			bs, _ := m.AsBytes()
			got = string(bs)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		send, err := b.AddProducerFunc()
		if err != nil {
			t.Fatal(err)
		}
		st, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.Run(context.Background()) }()
		if err := send(context.Background(), service.NewMessage([]byte("hello"))); err != nil {
			t.Fatal(err)
		}
		if err := st.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		<-done
		return got
	}
	run("cache:\n  resource: st\n  operator: set\n  key: k\n  value: '${! content() }'")
	if got := run("cache:\n  resource: st\n  operator: get\n  key: k"); got != "hello" {
		t.Fatalf("after restart got %q", got)
	}
}
