package delta

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miaradia/rides-connect/internal/objstore"
	"github.com/miaradia/rides-connect/internal/objstore/s3fake"
)

// faultTransport wraps the SDK's HTTP transport to observe and break
// requests to the fake S3 server.
type faultTransport struct {
	next http.RoundTripper
	// before may answer instead of the server (e.g. a 503).
	before func(r *http.Request) *http.Response
	// after may replace the server's answer (e.g. lose it).
	after func(r *http.Request, resp *http.Response) (*http.Response, error)
}

func (f *faultTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if f.before != nil {
		if resp := f.before(r); resp != nil {
			return resp, nil
		}
	}
	next := f.next
	if next == nil {
		next = http.DefaultTransport
	}
	resp, err := next.RoundTrip(r)
	if err == nil && f.after != nil {
		return f.after(r, resp)
	}
	return resp, err
}

func isCommitPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/_delta_log/") && strings.HasSuffix(r.URL.Path, ".json")
}

// s3Target is the S3 server a test talks to: gofakes3 in-process by
// default, or an external server (e.g. versitygw started by tests/s3/run.sh)
// named by DELTA_S3_ENDPOINT, DELTA_S3_BUCKET, DELTA_S3_ACCESS_KEY and
// DELTA_S3_SECRET_KEY. Each test gets its own prefix.
type s3Target struct {
	Endpoint, Bucket, Prefix, AccessKey, SecretKey string
}

func startS3(t *testing.T) *s3Target {
	t.Helper()
	prefix := fmt.Sprintf("t/%s-%d", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano())
	if ep := os.Getenv("DELTA_S3_ENDPOINT"); ep != "" {
		return &s3Target{Endpoint: ep, Bucket: os.Getenv("DELTA_S3_BUCKET"), Prefix: prefix,
			AccessKey: os.Getenv("DELTA_S3_ACCESS_KEY"), SecretKey: os.Getenv("DELTA_S3_SECRET_KEY")}
	}
	fake := s3fake.Start(t, "lake")
	return &s3Target{Endpoint: fake.Endpoint, Bucket: "lake", Prefix: prefix, AccessKey: "k", SecretKey: "s"}
}

func s3Store(t *testing.T, tgt *s3Target, ft *faultTransport, attempts int) objstore.Store {
	t.Helper()
	opts := objstore.S3Options{Endpoint: tgt.Endpoint, Region: "us-east-1", ForcePathStyle: true,
		AccessKeyID: tgt.AccessKey, SecretAccessKey: tgt.SecretKey, MaxAttempts: attempts}
	if ft != nil {
		opts.HTTPClient = &http.Client{Transport: ft}
	}
	st, err := objstore.Open(context.Background(), "s3://"+tgt.Bucket+"/"+tgt.Prefix, objstore.Options{S3: opts})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// noSleep keeps retries instant: tests never wait for time to pass.
var noSleep = CommitPolicy{MaxAttempts: 200, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}

func TestS3RacingWriters(t *testing.T) {
	ctx := context.Background()
	fake := startS3(t)
	var mu sync.Mutex
	landed := map[string]int{} // commit key -> successful PUTs
	ft := &faultTransport{after: func(r *http.Request, resp *http.Response) (*http.Response, error) {
		if isCommitPut(r) && resp.StatusCode == http.StatusOK {
			mu.Lock()
			landed[r.URL.Path]++
			mu.Unlock()
		}
		return resp, nil
	}}
	const writers, commits = 4, 8
	s := ridesSchema()
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, writers)
	for wi := 0; wi < writers; wi++ {
		wg.Add(1)
		go func(wi int) {
			defer wg.Done()
			<-start
			st := s3Store(t, fake, ft, 0)
			tbl, err := CreateOrOpen(ctx, st, TableConfig{Schema: s}, clock.Now) // all race for version 0
			if err != nil {
				errs <- err
				return
			}
			w := NewWriter(tbl, WriterOptions{Now: clock.Now, Policy: noSleep})
			for c := 0; c < commits; c++ {
				rec := ridesRecord(t, s, fmt.Sprintf("W%d", wi), c, int64(wi*100+c), "", 0)
				if _, err := w.Append(ctx, []Record{rec}); err != nil {
					errs <- err
					return
				}
			}
		}(wi)
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := s3Store(t, fake, nil, 0)
	snap, err := LoadSnapshot(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Version != writers*commits {
		t.Fatalf("table version %d, want %d (one per append plus creation)", snap.Version, writers*commits)
	}
	for key, n := range landed {
		if n != 1 {
			t.Fatalf("%s was written %d times: a log entry was overwritten", key, n)
		}
	}
	if len(landed) != writers*commits+1 {
		t.Fatalf("%d commit files landed, want %d", len(landed), writers*commits+1)
	}
	rows, err := snap.ReadRows(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		seen[r["cnt"].(int64)] = true
	}
	if len(rows) != writers*commits || len(seen) != writers*commits {
		t.Fatalf("%d rows (%d distinct), want %d: rows lost or duplicated", len(rows), len(seen), writers*commits)
	}
}

func TestS3Injected5xxIsRetried(t *testing.T) {
	ctx := context.Background()
	fake := startS3(t)
	var failures atomic.Int32
	failures.Store(3)
	ft := &faultTransport{before: func(r *http.Request) *http.Response {
		if isCommitPut(r) && !strings.HasSuffix(r.URL.Path, "00000000000000000000.json") && failures.Add(-1) >= 0 {
			return &http.Response{StatusCode: 503, Status: "503 Slow Down", Body: io.NopCloser(strings.NewReader(
				`<Error><Code>SlowDown</Code><Message>injected</Message></Error>`)), Header: http.Header{}, Request: r}
		}
		return nil
	}}
	st := s3Store(t, fake, ft, 1) // no SDK retries: our commit loop must cope
	clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
	s := ridesSchema()
	tbl, err := CreateOrOpen(ctx, st, TableConfig{Schema: s}, clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	var retries atomic.Int32
	w := NewWriter(tbl, WriterOptions{Now: clock.Now, Policy: noSleep, Events: CommitEvents{Retry: func(string) { retries.Add(1) }}})
	res, err := w.Append(ctx, []Record{ridesRecord(t, s, "PARIS", 5, 1, "app", 1)})
	if err != nil {
		t.Fatal(err)
	}
	if res.Version != 1 || retries.Load() != 3 {
		t.Fatalf("version %d after %d retries; want version 1 after 3", res.Version, retries.Load())
	}
	rows, _ := ReadAllRows(ctx, st)
	if len(rows) != 1 {
		t.Fatalf("%d rows, want 1", len(rows))
	}
}

func TestS3LostResponseIsRecognisedAsOurs(t *testing.T) {
	ctx := context.Background()
	var lose atomic.Bool
	lose.Store(true)
	ft := &faultTransport{after: func(r *http.Request, resp *http.Response) (*http.Response, error) {
		if isCommitPut(r) && strings.HasSuffix(r.URL.Path, "00000000000000000001.json") && lose.CompareAndSwap(true, false) {
			resp.Body.Close()
			return nil, errors.New("injected: connection reset after the PUT landed")
		}
		return resp, nil
	}}
	for _, attempts := range []int{1, 3} { // 3: the SDK's own retry sees 412 for our own PUT
		t.Run(fmt.Sprintf("sdk_attempts_%d", attempts), func(t *testing.T) {
			lose.Store(true)
			fake := startS3(t)
			st := s3Store(t, fake, ft, attempts)
			clock := &fixedClock{time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)}
			s := ridesSchema()
			tbl, err := CreateOrOpen(ctx, st, TableConfig{Schema: s}, clock.Now)
			if err != nil {
				t.Fatal(err)
			}
			w := NewWriter(tbl, WriterOptions{Now: clock.Now, Policy: noSleep})
			res, err := w.Append(ctx, []Record{ridesRecord(t, s, "PARIS", 5, 1, "app", 1)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Version != 1 || lose.Load() {
				t.Fatalf("version %d (fault fired: %v)", res.Version, !lose.Load())
			}
			res, err = w.Append(ctx, []Record{ridesRecord(t, s, "LYON", 10, 2, "app", 2)})
			if err != nil || res.Version != 2 {
				t.Fatalf("next append: %+v, %v", res, err)
			}
			snap, _ := LoadSnapshot(ctx, st)
			if snap.Version != 2 || len(snap.Files) != 2 {
				t.Fatalf("table at %d with %d files, want 2 and 2 (no duplicate commit)", snap.Version, len(snap.Files))
			}
		})
	}
}
