package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

var memRuns atomic.Int64

func stores(t *testing.T) map[string]*KV {
	ctx := context.Background()
	out := map[string]*KV{}
	local, err := Open(ctx, t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out["local"] = local
	// Memory stores are process-wide by name: a fresh name per call keeps
	// -count=N runs from seeing the keys an earlier run left.
	out["memory"], _ = Open(ctx, fmt.Sprintf("memory://%s-%d", t.Name(), memRuns.Add(1)), objstore.Options{})
	srv := s3fake.Start(t, "ckpt")
	s3, err := Open(ctx, "s3a://ckpt/rides/state", objstore.Options{S3: objstore.S3Options{
		Endpoint: srv.Endpoint, Region: "us-east-1", ForcePathStyle: true, AccessKeyID: "k", SecretAccessKey: "s"}})
	if err != nil {
		t.Fatal(err)
	}
	out["s3"] = s3
	return out
}

func TestGetSetAddDelete(t *testing.T) {
	ctx := context.Background()
	for name, kv := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := kv.Get(ctx, "rides_agg"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("missing key: %v", err)
			}
			if err := kv.Set(ctx, "rides_agg", []byte("v1")); err != nil {
				t.Fatal(err)
			}
			if err := kv.Set(ctx, "rides_agg", []byte("v2")); err != nil {
				t.Fatal(err)
			}
			if b, err := kv.Get(ctx, "rides_agg"); err != nil || string(b) != "v2" {
				t.Fatalf("get after replace: %q %v", b, err)
			}
			if err := kv.Add(ctx, "rides_agg", []byte("v3")); !errors.Is(err, ErrExists) {
				t.Fatalf("add over existing: %v", err)
			}
			if err := kv.Add(ctx, "other/../key", []byte("a")); err != nil {
				t.Fatal(err)
			}
			if b, _ := kv.Get(ctx, "other/../key"); string(b) != "a" {
				t.Fatalf("odd key round trip: %q", b)
			}
			if err := kv.Delete(ctx, "rides_agg"); err != nil {
				t.Fatal(err)
			}
			if err := kv.Delete(ctx, "rides_agg"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			if _, err := kv.Get(ctx, "rides_agg"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("after delete: %v", err)
			}
		})
	}
}

func TestObjectKeysAreFlatAndDistinct(t *testing.T) {
	seen := map[string]string{}
	for _, k := range []string{"a", "a/b", "a%2Fb", "..", ".", "", ".tmp-x", "a.b", "a b", "é"} {
		o := ObjectKey(k)
		if prev, dup := seen[o]; dup {
			t.Errorf("keys %q and %q map to the same object %q", prev, k, o)
		}
		seen[o] = k
		if bytes.ContainsAny([]byte(o), "/.\\") || o == "" {
			t.Errorf("key %q maps to unsafe object name %q", k, o)
		}
	}
}

// Readers racing a writer see a complete old or new value, never a mix or a
// truncated file: the local store replaces by rename.
func TestLocalReplaceIsAtomicUnderConcurrentReads(t *testing.T) {
	ctx := context.Background()
	kv, err := Open(ctx, t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	val := func(i int) []byte { return bytes.Repeat([]byte{byte('a' + i%26)}, 64<<10) }
	if err := kv.Set(ctx, "k", val(0)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 3; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := kv.Get(ctx, "k")
				if err != nil {
					errs <- err
					return
				}
				if len(b) != 64<<10 || !bytes.Equal(b, bytes.Repeat(b[:1], len(b))) {
					errs <- fmt.Errorf("torn read: %d bytes", len(b))
					return
				}
			}
		}()
	}
	for i := 1; i < 60; i++ {
		if err := kv.Set(ctx, "k", val(i)); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A crash in the middle of a write leaves at most a temp file beside the value
// (the rename has not happened): the value read back is the previous one and
// the next write succeeds. We construct that state by hand.
func TestLocalCrashMidWriteKeepsPreviousValue(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	kv, err := Open(ctx, dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Set(ctx, "rides_agg", []byte(`{"seq":1}`)); err != nil {
		t.Fatal(err)
	}
	torn := filepath.Join(dir, ".tmp-rides_agg-123")
	if err := os.WriteFile(torn, []byte(`{"seq":2,"wind`), 0o644); err != nil {
		t.Fatal(err)
	}
	kv2, _ := Open(ctx, dir, objstore.Options{}) // the restarted process
	if b, err := kv2.Get(ctx, "rides_agg"); err != nil || string(b) != `{"seq":1}` {
		t.Fatalf("after crash mid-write: %q %v", b, err)
	}
	if err := kv2.Set(ctx, "rides_agg", []byte(`{"seq":2}`)); err != nil {
		t.Fatal(err)
	}
	if b, _ := kv2.Get(ctx, "rides_agg"); string(b) != `{"seq":2}` {
		t.Fatalf("next write: %q", b)
	}
}
