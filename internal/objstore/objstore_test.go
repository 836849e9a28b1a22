package objstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

func stores(t *testing.T) map[string]objstore.Store {
	t.Helper()
	ctx := context.Background()
	local, err := objstore.Open(ctx, t.TempDir(), objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fake := s3fake.Start(t, "bkt")
	s3, err := objstore.Open(ctx, "s3a://bkt/tables/t1", objstore.Options{S3: objstore.S3Options{
		Endpoint: fake.Endpoint, ForcePathStyle: true, Region: "us-east-1",
		AccessKeyID: "k", SecretAccessKey: "s",
	}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string]objstore.Store{
		"local":  local,
		"memory": objstore.Memory(fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())),
		"s3":     s3,
	}
}

func TestStoreContract(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			if _, err := st.Get(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Get missing: %v, want ErrNotFound", err)
			}
			if _, err := st.Stat(ctx, "missing"); !errors.Is(err, objstore.ErrNotFound) {
				t.Fatalf("Stat missing: %v, want ErrNotFound", err)
			}
			if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("first")); err != nil {
				t.Fatal(err)
			}
			if err := st.PutIfAbsent(ctx, "_delta_log/00000000000000000000.json", []byte("second")); !errors.Is(err, objstore.ErrExists) {
				t.Fatalf("second PutIfAbsent: %v, want ErrExists", err)
			}
			got, err := st.Get(ctx, "_delta_log/00000000000000000000.json")
			if err != nil || string(got) != "first" {
				t.Fatalf("content after lost race = %q, %v; want first", got, err)
			}
			if err := st.Put(ctx, "_delta_log/_last_checkpoint", []byte("a")); err != nil {
				t.Fatal(err)
			}
			if err := st.Put(ctx, "_delta_log/_last_checkpoint", []byte("bb")); err != nil {
				t.Fatal(err)
			}
			info, err := st.Stat(ctx, "_delta_log/_last_checkpoint")
			if err != nil || info.Size != 2 {
				t.Fatalf("Stat after overwrite = %+v, %v; want size 2", info, err)
			}
			for i := 1; i <= 3; i++ {
				k := fmt.Sprintf("_delta_log/%020d.json", i)
				if err := st.PutIfAbsent(ctx, k, []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			if err := st.Put(ctx, "city=PARIS/part-0.parquet", []byte("p")); err != nil {
				t.Fatal(err)
			}
			list, err := st.List(ctx, "_delta_log/0", "_delta_log/00000000000000000001.json")
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, o := range list {
				keys = append(keys, o.Key)
			}
			want := []string{"_delta_log/00000000000000000002.json", "_delta_log/00000000000000000003.json"}
			if fmt.Sprint(keys) != fmt.Sprint(want) {
				t.Fatalf("List = %v, want %v", keys, want)
			}
			all, err := st.List(ctx, "", "")
			if err != nil || len(all) != 6 {
				t.Fatalf("List all = %d objects, %v; want 6", len(all), err)
			}
			if err := st.Delete(ctx, "city=PARIS/part-0.parquet"); err != nil {
				t.Fatal(err)
			}
			if err := st.Delete(ctx, "city=PARIS/part-0.parquet"); err != nil {
				t.Fatalf("deleting a missing key: %v", err)
			}
			if err := st.Put(ctx, "../escape", []byte("x")); err == nil {
				t.Fatal("key with .. accepted")
			}
		})
	}
}

// TestPutIfAbsentRace: 16 writers race for one key; exactly one wins and the
// stored bytes are the winner's.
func TestPutIfAbsentRace(t *testing.T) {
	ctx := context.Background()
	for name, st := range stores(t) {
		t.Run(name, func(t *testing.T) {
			const n = 16
			var wins atomic.Int32
			winner := make(chan string, n)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := 0; i < n; i++ {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					body := fmt.Sprintf("writer-%d", i)
					err := st.PutIfAbsent(ctx, "race/key.json", []byte(body))
					switch {
					case err == nil:
						wins.Add(1)
						winner <- body
					case !errors.Is(err, objstore.ErrExists):
						t.Errorf("writer %d: %v", i, err)
					}
				}(i)
			}
			close(start)
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%d winners, want exactly 1", wins.Load())
			}
			got, _ := st.Get(ctx, "race/key.json")
			if w := <-winner; string(got) != w {
				t.Fatalf("stored %q, winner wrote %q", got, w)
			}
		})
	}
}

func TestLocalLeavesNoTempFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := objstore.Open(ctx, "file://"+dir, objstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_ = st.PutIfAbsent(ctx, "a/b.json", []byte("1"))
	_ = st.PutIfAbsent(ctx, "a/b.json", []byte("2"))
	_ = st.Put(ctx, "a/c.json", []byte("3"))
	ents, _ := os.ReadDir(filepath.Join(dir, "a"))
	if len(ents) != 2 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Fatalf("dir holds %v, want only b.json and c.json", names)
	}
}

func TestParseURL(t *testing.T) {
	abs, _ := filepath.Abs("data/x")
	cases := []struct {
		in   string
		want objstore.Location
		err  bool
	}{
		{in: "data/x", want: objstore.Location{Scheme: "file", Path: abs}},
		{in: "file:///tmp/t", want: objstore.Location{Scheme: "file", Path: "/tmp/t"}},
		{in: "s3://b/p/q/", want: objstore.Location{Scheme: "s3", Bucket: "b", Prefix: "p/q"}},
		{in: "s3a://b", want: objstore.Location{Scheme: "s3", Bucket: "b"}},
		{in: "memory://t", want: objstore.Location{Scheme: "memory", Path: "t"}},
		{in: "s3://", err: true},
		{in: "gs://b/p", err: true},
		{in: "file://host/tmp", err: true},
		{in: "", err: true},
		{in: "s3:/lake/t", err: true},
		{in: "s3a:lake/t", err: true},
		{in: "./s3:/t", want: objstore.Location{Scheme: "file", Path: filepath.Join(filepath.Dir(abs), "..", "s3:", "t")}},
	}
	for _, c := range cases {
		got, err := objstore.ParseURL(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseURL(%q) err = %v, want error %v", c.in, err, c.err)
			continue
		}
		if !c.err && got != c.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
}

func TestS3OptionsValidated(t *testing.T) {
	ctx := context.Background()
	for _, o := range []objstore.S3Options{
		{SSE: "rot13"},
		{KMSKeyID: "k"},
		{AccessKeyID: "only-id"},
	} {
		if _, err := objstore.Open(ctx, "s3://b/p", objstore.Options{S3: o}); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
}
